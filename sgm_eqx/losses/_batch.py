"""Batching a per-example loss."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


def batch_loss(
    loss_fn: Callable[..., tuple[Array, dict[str, Array]]],
    model,
    xs: Float[Array, "B H W C"],
    key: PRNGKeyArray,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """Mean of a per-example loss over a batch, with `jax.vmap` (one key per example).

    `loss_fn(model, x, key) -> (scalar, aux)` is one of the losses of `sgm_eqx.losses`
    with its settings bound, e.g.
    `eqx.Partial(inference_loss, augmentation=aug, n_samples=5)`, or a stage config's
    [`loss()`][sgm_eqx.train.StageConfig.loss]. No Python loop over the batch: the whole
    batch is one traced program.

    **Returns:** `(mean loss, aux averaged over the batch)`.
    """
    if xs.ndim != 4:
        raise ValueError(
            f"`batch_loss(xs=...)`: expected a batch of images (B, H, W, C); got shape {xs.shape}"
        )
    keys = jr.split(key, xs.shape[0])
    losses, aux = jax.vmap(lambda x, k: loss_fn(model, x, k))(xs, keys)
    return jnp.mean(losses), jax.tree_util.tree_map(jnp.mean, aux)
