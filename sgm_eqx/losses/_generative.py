"""Stage-2 losses: learning the generative model `p_ψ(η | x̂)` (Alg. 1, line 8, Sec. 3.1).

The inference network is frozen here: it enters through `jax.lax.stop_gradient`, so the
gradient w.r.t. its parameters is exactly zero even when the whole model is differentiated.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

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


def _log_probs(model, x, key, augmentation, n_samples, train):
    net = stop_gradient_tree(model.inference_net)
    template = model.template
    k_aug, k_noise, k_flow = jr.split(key, 3)
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
    if train:
        lp = jax.vmap(lambda e, xh, k: flow_log_prob(model.flow, e, xh, k))(
            eta_x, x_hat, jr.split(k_flow, n_samples)
        )
    else:
        lp = jax.vmap(lambda e, xh: flow_log_prob(model.flow, e, xh, None))(eta_x, x_hat)
    return lp + (poison_x + poison_v)


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
