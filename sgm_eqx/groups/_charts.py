"""Charts of a group's parameters, as flowjax bijections (for a flow over η)."""

import equinox as eqx
import jax.numpy as jnp
from flowjax.bijections import AbstractBijection
from jaxtyping import Array, ArrayLike, Float

from ._affine import translation_map


class TranslationColumn(AbstractBijection):
    r"""From `(c, θ, log s_x, log s_y[, shear], rest)` to [`sgm_eqx.groups.Affine2D`][]'s η.

    η are exponential coordinates: the element's translation column is `c = V t`, with
    `V` from `θ`, the log-scales and the shear ([`sgm_eqx.groups.translation_map`][]). A
    flow over η must therefore model `t = V^{-1} c`, which couples the translation with the
    angle (`V` turns by `θ / 2`), even for data whose position and orientation are
    independent. A flow over `c` instead, with this bijection as its last layer, does not
    see that coupling:

    - `transform`: `(c, rest) -> η = (V^{-1} c, rest)`, `log|det| = -log|det V|`;
    - `inverse`: `η -> (V t, rest)`, `log|det| = log|det V|`.

    The Jacobian is block-triangular (`t` depends on `c` and on the other parameters, which
    pass through), hence the determinant. Defined for `|θ| < 2π`, where `V` is
    invertible. The first `n_affine` entries are the affine parameters; any further ones
    (e.g. the colour part of `"affine+color"`) pass through unchanged. No parameters.
    """

    shape: tuple[int, ...]
    n_affine: int = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, n_params: int, *, n_affine: int = 5):
        """The chart for η of length `n_params`.

        **Arguments:**

        - `n_params`: the length of η.
        - `n_affine`: 5 or 6, how many of its first entries are
          [`sgm_eqx.groups.Affine2D`][] parameters (the rest pass through).
        """
        if n_affine not in (5, 6) or n_params < n_affine:
            raise ValueError(
                f"`TranslationColumn(n_params={n_params}, n_affine={n_affine})`: expected "
                "n_affine in (5, 6) and n_params >= n_affine."
            )
        self.shape = (int(n_params),)
        self.n_affine = int(n_affine)
        self.cond_shape = None

    def transform_and_log_det(
        self, x: Float[ArrayLike, " n_params"], condition=None
    ) -> tuple[Float[Array, " n_params"], Float[Array, ""]]:
        x = jnp.asarray(x)
        v = translation_map(x[: self.n_affine])
        t = jnp.linalg.solve(v, x[:2])
        return x.at[:2].set(t), -jnp.linalg.slogdet(v)[1]

    def inverse_and_log_det(
        self, y: Float[ArrayLike, " n_params"], condition=None
    ) -> tuple[Float[Array, " n_params"], Float[Array, ""]]:
        y = jnp.asarray(y)
        v = translation_map(y[: self.n_affine])
        return y.at[:2].set(v @ y[:2]), jnp.linalg.slogdet(v)[1]


class SizeAspect(AbstractBijection):
    r"""From `(t, θ, σ, α, rest)` to `(t, θ, log s_x, log s_y, rest)`: size and aspect.

    [`sgm_eqx.groups.Affine2D`][]'s parameters 3 and 4 are the log-scales of `x` and `y`
    (generator coefficients in the exponential chart). A class that varies only in size
    has `log s_x = log s_y`, and one that varies only in aspect `log s_x = -log s_y`: each a
    line across the two coordinates, which a coupling flow, transforming one coordinate
    given the other, represents only approximately and smears sideways (measured on the
    recovery suite: docs, results, "Size and aspect"). A flow over the isotropic log-size
    `σ = (log s_x + log s_y) / 2` and the aspect `α = (log s_x - log s_y) / 2` (the pose
    coordinates of [`sgm_eqx.data.make_pose_dataset`][]) sees each as one coordinate:

    - `transform`: `(σ, α) -> (σ + α, σ - α)`, `log|det| = log 2`;
    - `inverse`: `(l_x, l_y) -> ((l_x + l_y) / 2, (l_x - l_y) / 2)`, `log|det| = -log 2`.

    The other entries pass through. No parameters.
    """

    shape: tuple[int, ...]
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, n_params: int):
        """The chart for η of length `n_params` (at least the 5 affine parameters)."""
        if n_params < 5:
            raise ValueError(
                f"`SizeAspect(n_params={n_params})`: expected n_params >= 5 (the affine "
                "parameters come first)."
            )
        self.shape = (int(n_params),)
        self.cond_shape = None

    def transform_and_log_det(
        self, x: Float[ArrayLike, " n_params"], condition=None
    ) -> tuple[Float[Array, " n_params"], Float[Array, ""]]:
        x = jnp.asarray(x)
        size, aspect = x[3], x[4]
        y = x.at[3].set(size + aspect).at[4].set(size - aspect)
        return y, jnp.log(jnp.asarray(2.0, x.dtype))

    def inverse_and_log_det(
        self, y: Float[ArrayLike, " n_params"], condition=None
    ) -> tuple[Float[Array, " n_params"], Float[Array, ""]]:
        y = jnp.asarray(y)
        log_sx, log_sy = y[3], y[4]
        x = y.at[3].set(0.5 * (log_sx + log_sy)).at[4].set(0.5 * (log_sx - log_sy))
        return x, -jnp.log(jnp.asarray(2.0, y.dtype))
