"""Batching a per-example loss."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


def batch_loss(
    loss_fn: Callable[..., tuple[Array, dict[str, Array]]],
    model,
    xs: Float[Array, "B H W C"],
    key: PRNGKeyArray,
    **kwargs: Any,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """Mean of a per-example loss over a batch, with `jax.vmap` (one key per example).

    `loss_fn(model, x, key, **kwargs) -> (scalar, aux)` is one of the losses of
    `sgm_eqx.losses` (e.g. [`sgm_eqx.losses.inference_loss`][]); `kwargs` are its keyword
    arguments (static Python values or arrays closed over). No Python loop over the batch:
    the whole batch is one traced program.

    **Returns:** `(mean loss, aux averaged over the batch)`.
    """
    if xs.ndim != 4:
        raise ValueError(
            f"`batch_loss(xs=...)`: expected a batch of images (B, H, W, C); got shape {xs.shape}"
        )
    keys = jr.split(key, xs.shape[0])
    losses, aux = jax.vmap(lambda x, k: loss_fn(model, x, k, **kwargs))(xs, keys)
    return jnp.mean(losses), jax.tree_util.tree_map(jnp.mean, aux)
