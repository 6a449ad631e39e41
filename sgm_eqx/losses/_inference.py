"""Stage-1 losses: learning the transformation inference network `q_ω(η | x)` (Alg. 1, line 1).

All functions act on ONE example `x` of shape `(H, W, C)`; batch with
[`sgm_eqx.losses.batch_loss`][].

**Cost.** [`sgm_eqx.losses.inference_loss`][] runs the network's body once on `x` and once on
each augmented input (`1 + n_samples` passes; `n_samples` for the symmetric loss without the
invertibility and Huber terms), draws the reparameterisation noise of `q_ω` per sample from
those shared passes, composes group elements before warping (one resampling per composed
transformation) and uses closed-form inverses.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .._sgm import SGM
from ._common import (
    Augmentation,
    augment,
    check_image,
    check_n_samples,
    composed_loop,
    guard_non_finite,
    mse,
)
from ._model_api import q_eta, q_loc_scale


def inference_loss(
    model: SGM,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
    symmetric: bool = False,
    invertibility_weight: float = 0.0,
    eta_huber_weight: float = 0.0,
    huber_delta: float = 1.0,
    loop_weight: float = 0.0,
    loop_delta: float = 0.01,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The full stage-1 objective for one example, sharing every network pass between terms.

    `loss = ssl + invertibility_weight * invertibility + eta_huber_weight * eta_huber`, where

    - `ssl` (`symmetric=False`, eq. 6 / Alg. 1 line 1): the mean over `n_samples` draws
      `η_rnd ~ augmentation` of `mse(x, (T_{η_x} ∘ T_{η_rnd'}^{-1} ∘ T_{η_rnd})(x))`, with
      `x_rnd = T_{η_rnd}(x)` (the network's input), `η_x ~ q_ω(η | x)` and
      `η_rnd' ~ q_ω(η | x_rnd)` (noise drawn per sample);
    - `ssl` (`symmetric=True`, App. B eq. 24): with `m = max(n_samples, 2)` augmented views
      `x_i = T_{η_i}(x)`, the mean over the cyclic pairs `(i, i+1 mod m)` of
      `mse(x, (T_{η_{i+1}}^{-1} ∘ T_{η'_{i+1}} ∘ T_{η'_i}^{-1} ∘ T_{η_i})(x))`; each view goes
      through the network once and every pair has two independent draws of `η_rnd`.

    In both, the composed loop of maps is applied ONCE to `x` and compared with `x` (as in the
    authors' code): eq. 6 / 24 compare a resampled `x_rnd`, whose warp-and-back error is a
    floor the network cannot remove; composing removes it without changing the minimiser;
    - `invertibility` (eq. 7): `mse(x, T_{η_x}^{-1}(T_{η_x}(x)))` (two resamplings: this term
      measures exactly the information lost by a warp there and back);
    - `eta_huber`: the Huber penalty (`optax.huber_loss`, `delta=huber_delta`) of the
      predicted `η_x`, averaged over samples and parameters: an optional pull towards small
      transformations.

    **Arguments:**

    - `model`: an SGM (`template`, `inference_net`); only `inference_net` is used.
    - `x`: ONE image `(H, W, C)`.
    - `key`: PRNG key (augmentations, dropout, q noise).
    - `augmentation`: `p(η_rnd)`, a callable `(key) -> eta` such as
      [`sgm_eqx.losses.UniformAugmentation`][].
    - `n_samples`: number of augmentations averaged over (static).
    - `symmetric`: use the symmetric SSL loss (eq. 24).
    - `invertibility_weight`, `eta_huber_weight`: weights of the optional terms (0 skips them).
    - `huber_delta`: the Huber threshold.

    **Returns:** `(loss, aux)`: a scalar and a dict with the scalars `ssl`, `invertibility`,
    `eta_huber` (0 when unweighted) and `q_scale` (mean scale of `q_ω`).
    """
    name = "inference_loss"
    check_n_samples(name, n_samples)
    check_image(name, x)
    net = model.inference_net
    template = model.template
    k_aug, k_drop, k_noise_x, k_noise_v = jr.split(key, 4)
    n_views = max(n_samples, 2) if symmetric else n_samples
    needs_x = (not symmetric) or invertibility_weight != 0.0 or eta_huber_weight != 0.0

    eta_rnd, x_rnd = augment(template, augmentation, x, k_aug, n_views)
    inputs = jnp.concatenate([x[None], x_rnd]) if needs_x else x_rnd
    drop_keys = jr.split(k_drop, inputs.shape[0])
    loc, scale = jax.vmap(lambda xi, k: q_loc_scale(net, xi, k))(inputs, drop_keys)
    loc_v, scale_v = (loc[1:], scale[1:]) if needs_x else (loc, scale)
    eta_v = jax.vmap(lambda lo, sc, k: q_eta(net, lo, sc, k))(
        loc_v, scale_v, jr.split(k_noise_v, n_views)
    )
    eta_v, poison = guard_non_finite(eta_v)
    zero = jnp.zeros((), x.dtype)

    eta_x = None
    if needs_x:
        eta_x = jax.vmap(lambda k: q_eta(net, loc[0], scale[0], k))(jr.split(k_noise_x, n_samples))
        eta_x, poison_x = guard_non_finite(eta_x)
        poison = poison + poison_x
    # Every SSL term compares x with ONE resampling of x by the composed loop of maps
    # (authors' code; Sec. 3.1 "compose before applying"), so a perfect q scores 0 instead of
    # the warp-and-back floor of resampling the already-resampled x_rnd.
    if symmetric:
        # T_{η_rnd,i+1}^{-1} ∘ T_{f(x_{i+1})} ∘ T_{f(x_i)}^{-1} ∘ T_{η_rnd,i}
        nxt = jnp.roll(jnp.arange(n_views), -1)
        loops = jax.vmap(lambda er_o, eo, ei, er_i: composed_loop(template, eo, ei, er_i, er_o))(
            eta_rnd[nxt], eta_v[nxt], eta_v, eta_rnd
        )
    else:
        # T_{f(x)} ∘ T_{f(x_rnd)}^{-1} ∘ T_{η_rnd}
        assert eta_x is not None  # needs_x
        loops = jax.vmap(lambda eo, ei, er: composed_loop(template, eo, ei, er))(
            eta_x, eta_v, eta_rnd
        )
    warped = jax.vmap(lambda g: g.apply(x))(loops)
    ssl = jnp.mean(jnp.square(warped - x[None]))

    loss = ssl + poison
    invertibility = zero
    if invertibility_weight != 0.0:
        assert eta_x is not None  # needs_x
        g = template.with_params(eta_x[0])
        invertibility = mse(x, g.inverse().apply(g.apply(x)))
        loss = loss + invertibility_weight * invertibility
    loop_huber = zero
    if loop_weight != 0.0:
        # Huber distance of each loop's matrix from the identity (the authors' "η_recon"
        # term): unlike the pixel MSE it does not saturate for large rotation errors.
        eye = jnp.eye(3, dtype=x.dtype)[:2]
        diff = jnp.asarray(loops.matrix)[..., :2, :] - eye  # pyright: ignore[reportAttributeAccessIssue]
        loop_huber = jnp.mean(optax.losses.huber_loss(diff, delta=loop_delta))
        loss = loss + loop_weight * loop_huber
    eta_huber = zero
    if eta_huber_weight != 0.0:
        assert eta_x is not None  # needs_x
        eta_huber = jnp.mean(optax.losses.huber_loss(eta_x, delta=huber_delta))
        loss = loss + eta_huber_weight * eta_huber
    aux = {
        "ssl": ssl,
        "invertibility": invertibility,
        "eta_huber": eta_huber,
        "loop_huber": loop_huber,
        "q_scale": jnp.mean(scale),
    }
    return loss, aux


def ssl_loss(
    model: SGM,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The SSL loss of Alg. 1 line 1 in the composed form of eq. 6.

    Averaged over `n_samples` augmentations: `mse(x, (T_{f(x)} ∘ T_{f(x_rnd)}^{-1})(x_rnd))`,
    `x_rnd = T_{η_rnd}(x)`, `η_rnd ~ augmentation`.

    See [`sgm_eqx.losses.inference_loss`][] for the arguments and the sampling of `q_ω`.
    **Returns:** `(loss, aux)` as there.
    """
    return inference_loss(model, x, key, augmentation=augmentation, n_samples=n_samples)


def symmetric_ssl_loss(
    model: SGM,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The symmetric SSL loss of App. B, eq. 24.

    `mse(x_rnd2, (T_{f(x_rnd2)} ∘ T_{f(x_rnd1)}^{-1})(x_rnd1))`, averaged over
    `max(n_samples, 2)` cyclic pairs of augmented views.

    See [`sgm_eqx.losses.inference_loss`][] for the arguments. **Returns:** `(loss, aux)`.
    """
    return inference_loss(
        model, x, key, augmentation=augmentation, n_samples=n_samples, symmetric=True
    )


def invertibility_loss(
    model: SGM, x: Float[Array, "H W C"], key: PRNGKeyArray
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The invertibility loss of eq. 7: `mse(x, T_{η_x}^{-1}(T_{η_x}(x)))`, `η_x ~ q_ω(η | x)`.

    Zero when the network predicts the identity; large when `T_{η_x}` pushes the content
    out of the frame. **Returns:** `(loss, {"invertibility": loss})`.
    """
    check_image("invertibility_loss", x)
    net = model.inference_net
    k_drop, k_noise = jr.split(key)
    loc, scale = q_loc_scale(net, x, k_drop)
    eta, poison = guard_non_finite(q_eta(net, loc, scale, k_noise))
    g = model.template.with_params(eta)
    loss = mse(x, g.inverse().apply(g.apply(x))) + poison
    return loss, {"invertibility": loss}


def eta_huber_loss(
    model: SGM, x: Float[Array, "H W C"], key: PRNGKeyArray, *, delta: float = 1.0
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """Huber penalty (`optax.huber_loss`) of `η_x ~ q_ω(η | x)`, averaged over parameters.

    **Returns:** `(loss, {"eta_huber": loss})`.
    """
    check_image("eta_huber_loss", x)
    net = model.inference_net
    k_drop, k_noise = jr.split(key)
    loc, scale = q_loc_scale(net, x, k_drop)
    loss = jnp.mean(optax.losses.huber_loss(q_eta(net, loc, scale, k_noise), delta=delta))
    return loss, {"eta_huber": loss}
