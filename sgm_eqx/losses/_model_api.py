"""The few places where the losses touch the model's parts.

Kept in one module so the loss maths reads the same whatever the network internals are.
For speed the losses run the inference network's body ONCE per input
(`loc_and_scale`, see [`sgm_eqx.nn.AbstractInferenceNet`][]) and draw the
reparameterisation noise of `q_ω(η | x)` separately per augmentation sample.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..nn import AbstractInferenceNet, AbstractTransformationDensity


def q_loc_scale(
    net: AbstractInferenceNet,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray | None,
) -> tuple[Float[Array, " n_params"], Float[Array, " n_params"]]:
    """Location and scale of `q_ω(u | x)` in the network's unbounded coordinates `u`.

    `key` turns dropout on. (A plain function given to [`sgm_eqx.SGM`][] is wrapped in an
    [`sgm_eqx.nn.PointEstimate`][]: its scale is 0.)
    """
    return net.loc_and_scale(x, key=key)


def q_eta(
    net: AbstractInferenceNet,
    loc: Float[Array, " n_params"],
    scale: Float[Array, " n_params"],
    key: PRNGKeyArray | None,
) -> Float[Array, " n_params"]:
    """A reparameterised sample `η ~ q_ω(η | x)` from `(loc, scale)`.

    The point estimate (bounded `loc`) if `key=None`.
    """
    u = loc if key is None else loc + scale * jr.normal(key, loc.shape, loc.dtype)
    return net.bound(u)


def flow_log_prob(
    flow: AbstractTransformationDensity,
    eta: Float[Array, " n_params"],
    x_hat: Float[Array, "H W C"],
    key: PRNGKeyArray | None,
) -> Float[Array, ""]:
    """`log p_ψ(η | x̂)`; with a `key`, in training mode (the density's dropout)."""
    if key is not None:
        return flow.log_prob_with_dropout(eta, x_hat, key=key)
    return flow.log_prob(eta, condition=x_hat)


def stop_gradient_tree(tree):
    """`jax.lax.stop_gradient` on every inexact-array leaf of a pytree (others pass through)."""
    return jax.tree_util.tree_map(
        lambda a: (
            jax.lax.stop_gradient(a)
            if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.inexact)
            else a
        ),
        tree,
    )
