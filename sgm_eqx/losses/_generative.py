"""Stage-2 losses: learning the generative model `p_ψ(η | x̂)` (Alg. 1, line 8, Sec. 3.1).

The inference network is frozen here: it enters through `jax.lax.stop_gradient`, so the
gradient w.r.t. its parameters is exactly zero even when the whole model is differentiated.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._sgm import SGM
from ._common import (
    Augmentation,
    augment,
    check_image,
    check_n_samples,
    guard_non_finite,
    prototype_of_augmented,
)
from ._model_api import flow_log_prob, q_eta, q_loc_scale, stop_gradient_tree


def _training_pairs(model, x, k_aug, k_noise, augmentation, n_samples):
    """`(η_x, x̂', poison)`: `n_samples` draws `η_x ~ q_ω(η | x)` and prototypes of `x_rnd`."""
    net = stop_gradient_tree(model.inference_net)
    template = model.template
    eta_rnd, x_rnd = augment(template, augmentation, x, k_aug, n_samples)
    inputs = jnp.concatenate([x[None], x_rnd])
    loc, scale = jax.vmap(lambda xi: q_loc_scale(net, xi, None))(inputs)
    # η_x ~ q_ω(η | x), fresh noise per sample (eq. 21); prototypes from q's mean.
    eta_x = jax.vmap(lambda k: q_eta(net, loc[0], scale[0], k))(jr.split(k_noise, n_samples))
    eta_v = jax.vmap(lambda lo, sc: q_eta(net, lo, sc, None))(loc[1:], scale[1:])
    eta_x, poison_x = guard_non_finite(eta_x)
    eta_v, poison_v = guard_non_finite(eta_v)
    # The prototype of x_rnd as ONE resampling of x (T_{f(x_rnd)}^{-1} ∘ T_{η_rnd}), like a
    # test-time prototype; resampling x_rnd again would add blur the flow learns to read.
    x_hat = jax.vmap(lambda e, er: prototype_of_augmented(template, e, er, x))(eta_v, eta_rnd)
    eta_x, x_hat = jax.lax.stop_gradient((eta_x, x_hat))
    return eta_x, x_hat, poison_x + poison_v


def _flow_log_probs(model, eta, x_hat, key, train):
    """`log p_ψ(η_i | x̂_i)` for each of the `n` pairs; dropout on when `train`."""
    if train:
        keys = jr.split(key, eta.shape[0])
        return jax.vmap(lambda e, xh, k: flow_log_prob(model.flow, e, xh, k))(eta, x_hat, keys)
    return jax.vmap(lambda e, xh: flow_log_prob(model.flow, e, xh, None))(eta, x_hat)


def _log_probs(model, x, key, augmentation, n_samples, train):
    k_aug, k_noise, k_flow = jr.split(key, 3)
    eta_x, x_hat, poison = _training_pairs(model, x, k_aug, k_noise, augmentation, n_samples)
    return _flow_log_probs(model, eta_x, x_hat, k_flow, train) + poison


def _mean_abs_pairwise(v: Float[Array, " n"]) -> Float[Array, ""]:
    n = v.shape[0]
    if n < 2:
        return jnp.zeros((), v.dtype)
    return jnp.sum(jnp.abs(v[:, None] - v[None, :])) / (n * (n - 1))


def mle_loss(
    model: SGM,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
    consistency_weight: float = 1.0,
    train: bool = True,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """Negative log-likelihood of `p_ψ` on prototypes of randomly transformed inputs.

    `loss = mean_i [-log p_ψ(η_x^i | x̂'_i)] + consistency_weight * consistency`, with
    `x_rnd_i = T_{η_rnd_i}(x)`, `η_rnd_i ~ augmentation`,
    `x̂'_i = (T_{f(x_rnd_i)}^{-1} ∘ T_{η_rnd_i})(x)` (the prototype of `x_rnd_i`, computed as ONE
    resampling of `x`, like a test-time prototype; `f` = mean of `q_ω`), and
    `η_x^i ~ q_ω(η | x)` with fresh noise per sample (Sec. 3.1, "Learning p_ψ with imperfect
    inference"; App. A eq. 21). `consistency` is the mean
    absolute pairwise difference of `log p_ψ(η_x | x̂'_i)` across the `n_samples` prototypes
    of the same `x` (the stage-2 regulariser of the authors' code, weight 1 in their MNIST and
    dSprites configurations; 0 when `n_samples == 1`).

    The inference network is frozen (`jax.lax.stop_gradient`): no gradient reaches `ω`.
    It runs once on `x` and once per augmented input.

    **Arguments:**

    - `model`: an SGM (`template`, `inference_net`, `flow`).
    - `x`: ONE image `(H, W, C)`.
    - `key`: PRNG key (augmentations, q noise, the flow's dropout).
    - `augmentation`: `p(η_rnd)`, a callable `(key) -> eta`.
    - `n_samples`: number of augmentations averaged over (static).
    - `consistency_weight`: weight of the consistency regulariser (0 skips it).
    - `train`: pass a key to the flow (dropout on); `False` for validation.

    **Returns:** `(loss, aux)` with the scalars `nll` and `consistency`.
    """
    name = "mle_loss"
    check_n_samples(name, n_samples)
    check_image(name, x)
    lp = _log_probs(model, x, key, augmentation, n_samples, train)
    nll = -jnp.mean(lp)
    consistency = _mean_abs_pairwise(lp)
    loss = nll + consistency_weight * consistency if consistency_weight != 0.0 else nll
    return loss, {"nll": nll, "consistency": consistency}


def consistency_loss(
    model: SGM,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
    train: bool = True,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The stage-2 consistency regulariser alone.

    The mean absolute pairwise difference of `log p_ψ(η_x | x̂'_i)` over the `n_samples`
    prototypes `x̂'_i` of the same `x` (see [`sgm_eqx.losses.mle_loss`][]).

    **Returns:** `(loss, {"consistency": loss})`.
    """
    check_n_samples("consistency_loss", n_samples)
    check_image("consistency_loss", x)
    lp = _log_probs(model, x, key, augmentation, n_samples, train)
    loss = _mean_abs_pairwise(lp)
    return loss, {"consistency": loss}


def orbit_mate_partners(
    prototypes: Float[Array, "B H W C"],
    key: PRNGKeyArray,
    *,
    bandwidth: float = 0.05,
) -> tuple[Int[Array, " B"], Float[Array, " B"]]:
    """For each prototype, a likely orbit-mate among the others of the batch.

    Input `b`'s partner `c ≠ b` is drawn with probability proportional to
    `exp(-d(b, c) / (bandwidth * median_c' d(b, c')))`, with `d` the mean squared pixel
    difference of the prototypes. The members of one orbit share a prototype up to
    resampling, so with a small `bandwidth` the partner is, in practice, drawn from the
    inputs whose prototype is the same as `b`'s (on the recovery suite's `default`
    checkpoints, 97.8-99.7% of partners have `b`'s class at `bandwidth = 0.1` with 3-4
    classes in a batch of 64, 87% at 0.3). The smaller the bandwidth, the more the nearest
    of them are preferred.

    **Returns:** `(partner, relative_distance)`, both `(B,)`: the partners' indices and
    `d(b, partner) / median_c d(b, c)` (a diagnostic: near 0 when the partners are orbit-mates).
    """
    n = prototypes.shape[0]
    if n < 2:
        raise ValueError(
            f"`orbit_mate_partners(prototypes=...)`: expected a batch of at least 2 prototypes; "
            f"got {n}"
        )
    if not bandwidth > 0:
        raise ValueError(f"`orbit_mate_partners(bandwidth=...)`: expected > 0; got {bandwidth}")
    flat = prototypes.reshape(n, -1)
    sq = jnp.sum(flat * flat, axis=1)
    dist = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T, 0.0) / flat.shape[1]
    other = ~jnp.eye(n, dtype=bool)
    median = jnp.nanmedian(jnp.where(other, dist, jnp.nan), axis=1)
    scale = bandwidth * median + jnp.finfo(dist.dtype).tiny
    logits = jnp.where(other, -dist / scale[:, None], -jnp.inf)
    partner = jr.categorical(key, logits, axis=-1)
    relative = dist[jnp.arange(n), partner] / (median + jnp.finfo(dist.dtype).tiny)
    return partner, relative


def orbit_mate_mle_loss(
    model: SGM,
    xs: Float[Array, "B H W C"],
    key: PRNGKeyArray,
    *,
    augmentation: Augmentation,
    n_samples: int = 5,
    consistency_weight: float = 1.0,
    mate_weight: float = 1.0,
    bandwidth: float = 0.05,
    train: bool = True,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """[`sgm_eqx.losses.mle_loss`][] over a batch, each `η` also scored on an orbit-mate's x̂.

    `loss = (1 - mate_weight) * nll + mate_weight * nll_mate + consistency_weight *
    consistency`, where `nll` and `consistency` are those of `mle_loss` averaged over the
    batch, and `nll_mate = mean_b mean_i [-log p_ψ(η_x^{b,i} | x̂'_{c(b),i})]` pairs input `b`'s
    draws `η_x ~ q_ω(η | x_b)` with the prototypes of its partner `c(b)`
    ([`sgm_eqx.losses.orbit_mate_partners`][], drawn on the first prototype of each input).

    Why (not in the paper): a prototype is one resampling of its input, so it keeps traces of
    where in the orbit the input was (a small sprite's prototype is an upscaled, softer image
    than a large one's), and maximum likelihood on `(f(x), x̂)` teaches the flow to read them:
    each input's variants then stay near its own pose instead of following its orbit's
    distribution. The partner's prototype is the same orbit's prototype with other traces, so
    scoring `η_b` on it asks `p_ψ` for the density of the orbit, not of the input. Where each
    orbit has one member in the data (every MNIST digit is its own orbit), the partner is a
    near neighbour and the term smooths `p_ψ` over similar prototypes, by `bandwidth`.

    **Arguments:** as [`sgm_eqx.losses.mle_loss`][], but `xs` is a batch `(B, H, W, C)` with
    `B >= 2`; `mate_weight` in [0, 1]; `bandwidth > 0`, relative to each input's median
    prototype distance in the batch.

    **Returns:** `(loss, aux)` with the scalars `nll`, `consistency`, `nll_mate` and
    `mate_distance` (mean relative distance to the partner).
    """
    name = "orbit_mate_mle_loss"
    check_n_samples(name, n_samples)
    if xs.ndim != 4 or xs.shape[0] < 2:
        raise ValueError(
            f"`{name}(xs=...)`: expected a batch of at least 2 images (B, H, W, C); "
            f"got shape {xs.shape}"
        )
    if not 0.0 <= mate_weight <= 1.0:
        raise ValueError(
            f"`{name}(mate_weight=...)`: expected a value in [0, 1]; got {mate_weight}"
        )
    n = xs.shape[0]
    # Per-example keys as `batch_loss` + `mle_loss` draw them, so that `mate_weight=0` is
    # exactly the plain loss; the partners and the mates' dropout get keys of their own.
    keys = jax.vmap(lambda k: jr.split(k, 3))(jr.split(key, n))
    k_aug, k_noise, k_flow = keys[:, 0], keys[:, 1], keys[:, 2]
    eta_x, x_hat, poison = jax.vmap(
        lambda x, ka, kn: _training_pairs(model, x, ka, kn, augmentation, n_samples)
    )(xs, k_aug, k_noise)
    k_mate, k_mate_flow = jr.split(jr.fold_in(key, n))
    partner, relative = orbit_mate_partners(x_hat[:, 0], k_mate, bandwidth=bandwidth)
    lp_fn = jax.vmap(lambda e, xh, k: _flow_log_probs(model, e, xh, k, train))
    lp_own = lp_fn(eta_x, x_hat, k_flow) + poison[:, None]
    lp_mate = lp_fn(eta_x, x_hat[partner], jr.split(k_mate_flow, n)) + poison[:, None]
    nll, nll_mate = -jnp.mean(lp_own), -jnp.mean(lp_mate)
    consistency = jnp.mean(jax.vmap(_mean_abs_pairwise)(lp_own))
    loss = (1.0 - mate_weight) * nll + mate_weight * nll_mate
    if consistency_weight != 0.0:
        loss = loss + consistency_weight * consistency
    aux = {
        "nll": nll,
        "consistency": consistency,
        "nll_mate": nll_mate,
        "mate_distance": jnp.mean(relative),
    }
    return loss, aux
