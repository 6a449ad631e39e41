"""Shared pieces of the SGM losses: augmentation views and one-resampling warps."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..groups import AbstractGroupAction

Augmentation = Callable[[PRNGKeyArray], Float[Array, " n_params"]]


def check_n_samples(name: str, n_samples: int) -> None:
    """Python-level check of the static `n_samples` argument."""
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"`{name}(n_samples=...)`: expected a positive int; got {n_samples!r}")


def check_image(name: str, x: Array) -> None:
    """Python-level check that `x` is ONE image `(H, W, C)`."""
    if x.ndim != 3:
        raise ValueError(
            f"`{name}(x=...)`: expected ONE image of shape (H, W, C) (batch with "
            f"`batch_loss`); got shape {x.shape}"
        )


def mse(a: Array, b: Array) -> Float[Array, ""]:
    """Mean squared difference over every pixel and channel."""
    return jnp.mean(jnp.square(a - b))


def augment(
    template: AbstractGroupAction,
    augmentation: Augmentation,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    n: int,
) -> tuple[Float[Array, "n n_params"], Float[Array, "n H W C"]]:
    """Draw `n` parameter vectors `η_rnd ~ p(η_rnd)` and return them with `T_{η_rnd}(x)`."""
    eta_rnd = jax.vmap(augmentation)(jr.split(key, n))
    x_rnd = jax.vmap(lambda e: template.with_params(e).apply(x))(eta_rnd)
    return eta_rnd, x_rnd


def composed_loop(
    template: AbstractGroupAction,
    eta_outer: Float[Array, " n_params"],
    eta_inner: Float[Array, " n_params"],
    eta_first: Float[Array, " n_params"],
    eta_last: Float[Array, " n_params"] | None = None,
) -> AbstractGroupAction:
    """The element `T_{η_last}^{-1} ∘ T_{η_outer} ∘ T_{η_inner}^{-1} ∘ T_{η_first}`.

    `eta_last=None` leaves out the outermost inverse. With `η_first = η_rnd` and
    `η_inner = f(x_rnd)`, the inner pair `T_{f(x_rnd)}^{-1} ∘ T_{η_rnd}` maps `x` to the
    prototype of `x_rnd`; a perfect inference network makes the whole loop the identity (or a
    symmetry of `x`). Inverses are the elements' closed forms.
    """
    g = (
        template.with_params(eta_outer)
        .compose(template.with_params(eta_inner).inverse())
        .compose(template.with_params(eta_first))
    )
    if eta_last is not None:
        g = template.with_params(eta_last).inverse().compose(g)
    return g


def prototype_of_augmented(
    template: AbstractGroupAction,
    eta_inner: Float[Array, " n_params"],
    eta_first: Float[Array, " n_params"],
    x: Float[Array, "H W C"],
) -> Float[Array, "H W C"]:
    """`(T_{η_inner}^{-1} ∘ T_{η_first})(x)`: the prototype of `x_rnd = T_{η_first}(x)`.

    ONE resampling of `x`, exactly as a test-time prototype `T_{f(x)}^{-1}(x)` is one
    resampling of its input.
    """
    g = template.with_params(eta_inner).inverse().compose(template.with_params(eta_first))
    return g.apply(x)


def guard_non_finite(eta: Float[Array, "*batch n_params"]) -> tuple[Array, Float[Array, ""]]:
    """Replace non-finite predicted parameters by 0 and return `(safe_eta, poison)`.

    `poison` is 0 when every entry of `eta` is finite and NaN otherwise; the losses add it to
    their value. A diverged network (NaN weights, NaN inputs) then gives a NaN *loss*, which
    the trainer reports with stage and step ([`sgm_eqx.train.NonFiniteLossError`][]), instead
    of tripping the group action's own run-time check on η deep inside the step.
    """
    ok = jnp.all(jnp.isfinite(eta))
    safe = jnp.where(ok, eta, jnp.zeros_like(eta))
    return safe, jnp.where(ok, jnp.zeros((), eta.dtype), jnp.full((), jnp.nan, eta.dtype))
