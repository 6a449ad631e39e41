"""Distributions p(η_rnd) of random augmentation parameters."""

import abc

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractAugmentation(eqx.Module):
    """A distribution `p(η_rnd)` over transformation parameters.

    It makes random elements `x_rnd = T_{η_rnd}(x)` of the orbit of `x` (Alg. 1, line 3).

    Any callable `(key) -> eta` works wherever the losses take an augmentation; this base
    class is the Module form, so the distribution's arrays travel through `jit` as leaves.
    """

    @abc.abstractmethod
    def __call__(self, key: PRNGKeyArray) -> Float[Array, " n_params"]:
        """Draw one parameter vector `η_rnd` of shape `(n_params,)`."""


class UniformAugmentation(AbstractAugmentation):
    """`η_rnd ~ U(low, high)` independently per parameter (the paper's choice, App. C.1).

    **Arguments:**

    - `low`, `high`: arrays of shape `(n_params,)` with `low <= high` elementwise.

    Use [`sgm_eqx.losses.UniformAugmentation.symmetric`][] for `U(-bounds, bounds)`.
    """

    low: Float[Array, " n_params"]
    high: Float[Array, " n_params"]

    def __check_init__(self):
        if self.low.ndim != 1 or self.low.shape != self.high.shape:
            raise ValueError(
                "`UniformAugmentation(low=..., high=...)`: expected two arrays of the same "
                f"shape (n_params,); got {self.low.shape} and {self.high.shape}"
            )

    @classmethod
    def symmetric(cls, bounds) -> "UniformAugmentation":
        """`U(-bounds, bounds)`; `bounds`: a sequence or array of `n_params` floats >= 0."""
        b = jnp.asarray(bounds, dtype=jnp.float32)
        if b.ndim != 1:
            raise ValueError(
                f"`UniformAugmentation.symmetric(bounds=...)`: expected a 1-d sequence; got shape "
                f"{b.shape}"
            )
        return cls(low=-b, high=b)

    def __call__(self, key: PRNGKeyArray) -> Float[Array, " n_params"]:
        """Draw one `η_rnd` of shape `(n_params,)`."""
        u = jr.uniform(key, self.low.shape, dtype=self.low.dtype)
        return self.low + u * (self.high - self.low)


class IsotropicScaleAugmentation(AbstractAugmentation):
    """`p(η_rnd)` with one log-scale for both axes: scaling without stretch.

    Wraps an augmentation of [`sgm_eqx.groups.Affine2D`][] parameters (log-scales at indices
    3 and 4, as in every affine action, also `"affine+color"`) and copies the drawn `η[3]`
    into `η[4]`. Not in the paper. For data whose scaling is isotropic (dSprites): stage 1
    then never sees stretched inputs, on which q's angle for near-round shapes is not
    equivariant (docs: results, "Stretching: what f_ω does not follow"; dSprites hearts
    4.4° and 10.5° in two seeds with stretch, 2.0° in both without).

    **Arguments:**

    - `base`: the augmentation whose draws are made isotropic, e.g.
      [`sgm_eqx.losses.UniformAugmentation`][]; it must draw at least 5 parameters.
    """

    base: AbstractAugmentation

    def __call__(self, key: PRNGKeyArray) -> Float[Array, " n_params"]:
        """Draw one `η_rnd` of shape `(n_params,)` with `η_rnd[4] == η_rnd[3]`."""
        eta = self.base(key)
        if eta.shape[0] < 5:
            raise ValueError(
                "`IsotropicScaleAugmentation`: expected an affine action's parameters (the "
                f"log-scales at indices 3 and 4); the base draws {eta.shape[0]} parameters."
            )
        return eta.at[4].set(eta[3])
