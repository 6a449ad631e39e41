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
