"""One-parameter transformations of images and their magnitude distributions."""

from typing import Final

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..groups import Affine2D, SpecialConformal

# Velocity fields V of the point flows, as 3x3 homogeneous generators (content at p moves with
# dp/dt = A [p; 1]). The image generator is G = -V·∇ (see `_basis`).
_AFFINE_GENERATORS: dict[str, np.ndarray] = {
    "rotation": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
    "scale": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "translate-x": np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
    "translate-y": np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]),
    "shear": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
}
TRANSFORMS: tuple[str, ...] = (*_AFFINE_GENERATORS, "sct")
# Zeros outside the image, interpolated towards them across the border (scipy's "grid-constant"):
# unlike "constant", a sample a rounding error outside the edge still reads the edge pixel, so
# t = 0 is exactly the identity.
_MODE: Final = "grid-constant"


def _affine_alpha(a: np.ndarray) -> np.ndarray:
    """Quadratic-basis coefficients of `G = -V·∇` for `V(p) = A[:2] [x, y, 1]`."""
    alpha = np.zeros(12)
    # Γ_x = -(a00 x + a01 y + a02); Γ_y = -(a10 x + a11 y + a12)
    alpha[[1, 2, 0]] = -a[0, :3]
    alpha[[7, 8, 6]] = -a[1, :3]
    return alpha


class OneParameterTransform(eqx.Module):
    """A one-parameter group `t -> φ_t` of transformations of the plane, acting on images.

    `kind` is one of `rotation` (t = angle in radians, counter-clockwise), `scale` (t = log of
    the isotropic scale factor), `translate-x` / `translate-y` (t = shift in normalised units,
    1 = half the image width/height), `shear` (`x' = x + t y`), `sct` (special conformal
    transformation with `b = (t, 0)`, see [`sgm_eqx.groups.SpecialConformal`][]), or a `+`-joined
    composition of affine kinds such as `rotation+scale`, which is the one-parameter group of the
    summed generators (`exp(t (A_1 + A_2))`; for commuting kinds this equals applying each with
    the same `t`).

    Points use the normalised frame of `sgm_eqx.detect` (x right, y up, image spans `[-1, 1]^2`).
    An image is transformed so that content at `p` moves to `φ_t(p)`: `out(p) = in(φ_{-t}(p))`,
    resampled once by [`sgm_eqx.groups.Affine2D`][] (matrix `exp(t A)`) or
    [`sgm_eqx.groups.SpecialConformal`][] with interpolation `order` (0, 1 or 3; default 1,
    bilinear, as torchvision's `affine` used in the paper) and zeros outside (mode
    `"grid-constant"`, so `t = 0` is exactly the identity).
    """

    kind: str = eqx.field(static=True)
    order: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        parts = self.kind.split("+")
        for part in parts:
            if part not in TRANSFORMS:
                raise ValueError(
                    f"`OneParameterTransform(kind=...)`: unknown transform {part!r}; expected one "
                    f"of {TRANSFORMS} or a '+'-joined composition of affine ones"
                )
        if len(parts) > 1 and "sct" in parts:
            raise ValueError(
                "`OneParameterTransform(kind=...)`: compositions are supported for affine kinds "
                f"only; got {self.kind!r}"
            )
        if self.order not in (0, 1, 3):
            raise ValueError(
                f"`OneParameterTransform(order=...)`: expected 0, 1 or 3; got {self.order}"
            )

    @property
    def _is_sct(self) -> bool:
        return self.kind == "sct"

    def _affine_generator(self) -> np.ndarray:
        return sum((_AFFINE_GENERATORS[p] for p in self.kind.split("+")), start=np.zeros((3, 3)))

    def alpha_true(self) -> Float[Array, "12"]:
        """Quadratic-basis coefficients of the image generator `G = -V·∇` (not normalised)."""
        if self._is_sct:
            # V = (x² - y², 2xy) for b = (1, 0)
            alpha = np.zeros(12)
            alpha[3], alpha[5], alpha[10] = -1.0, 1.0, -2.0
        else:
            alpha = _affine_alpha(self._affine_generator())
        return jnp.asarray(alpha, dtype=jnp.float32)

    def transform_points(
        self, t: Float[Array, ""], points: Float[Array, "*batch 2"]
    ) -> Float[Array, "*batch 2"]:
        """`φ_t(p)` for points `(..., 2)` in the normalised frame."""
        if self._is_sct:
            return SpecialConformal.from_params(jnp.stack([t, jnp.zeros_like(t)])).transform_points(
                points
            )
        m = jsl.expm(t * jnp.asarray(self._affine_generator(), dtype=points.dtype))
        shift = jnp.reshape(m[:2, 2], (1,) * (points.ndim - 1) + (2,))  # explicit broadcast
        return points @ m[:2, :2].T + shift

    def apply(self, image: Float[Array, "H W C"], t: Float[Array, ""]) -> Float[Array, "H W C"]:
        """Transform one image "H W C" by `φ_t`."""
        if self._is_sct:
            b = jnp.stack([t, jnp.zeros_like(t)])
            return SpecialConformal.from_params(b, order=self.order, mode=_MODE).apply(image)
        m = jsl.expm(t * jnp.asarray(self._affine_generator(), dtype=image.dtype))
        return Affine2D(matrix=m, order=self.order, mode=_MODE).apply(image)


class Magnitude(eqx.Module):
    """A distribution of magnitudes `t`: an equal-weight mixture of Gaussians or a uniform.

    Build it with [`parse_magnitude`][sgm_eqx.detect.parse_magnitude] or directly:
    `Magnitude("uniform", (lo, hi), 0.0)`, `Magnitude("normal", (mu,), sigma)`,
    `Magnitude("modes", (m1, m2, ...), sigma)`.
    """

    kind: str = eqx.field(static=True)
    locs: tuple[float, ...] = eqx.field(static=True)
    sigma: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if self.kind == "uniform":
            if len(self.locs) != 2 or not self.locs[0] < self.locs[1]:
                raise ValueError(
                    f"`Magnitude('uniform', locs=...)`: expected (lo, hi) with lo < hi; got "
                    f"{self.locs}"
                )
        elif self.kind in ("normal", "modes"):
            if len(self.locs) < 1 or not self.sigma >= 0.0:
                raise ValueError(
                    f"`Magnitude({self.kind!r})`: expected >= 1 mode and sigma >= 0; got "
                    f"locs={self.locs}, sigma={self.sigma}"
                )
        else:
            raise ValueError(
                f"`Magnitude(kind=...)`: expected 'uniform', 'normal' or 'modes'; got {self.kind!r}"
            )

    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, " n"]:
        """Draw `n` magnitudes."""
        if self.kind == "uniform":
            lo, hi = self.locs
            return jr.uniform(key, (n,), minval=lo, maxval=hi)
        k_mode, k_noise = jr.split(key)
        locs = jnp.asarray(self.locs, dtype=jnp.float32)
        which = jr.randint(k_mode, (n,), 0, len(self.locs))
        return locs[which] + self.sigma * jr.normal(k_noise, (n,))


def parse_magnitude(spec: str) -> Magnitude:
    """Parse a magnitude SPEC.

    `uniform:LO,HI`, `normal:MU,SIGMA`, `bimodal:MU,SIGMA` (modes at `±MU`) or
    `modes:M1,M2,...;SIGMA` (equal-weight Gaussian modes).
    """
    name, _, rest = spec.partition(":")
    try:
        if name == "uniform":
            lo, hi = (float(v) for v in rest.split(","))
            return Magnitude("uniform", (lo, hi))
        if name == "normal":
            mu, sigma = (float(v) for v in rest.split(","))
            return Magnitude("normal", (mu,), sigma)
        if name == "bimodal":
            mu, sigma = (float(v) for v in rest.split(","))
            return Magnitude("modes", (-mu, mu), sigma)
        if name == "modes":
            modes, _, sigma = rest.partition(";")
            return Magnitude("modes", tuple(float(v) for v in modes.split(",")), float(sigma))
    except ValueError as err:
        raise ValueError(f"magnitude SPEC {spec!r}: could not parse numbers ({err})") from None
    raise ValueError(
        f"magnitude SPEC {spec!r}: expected uniform:LO,HI, normal:MU,SIGMA, bimodal:MU,SIGMA or "
        "modes:M1,M2,...;SIGMA"
    )


def make_pairs(
    key: PRNGKeyArray,
    images: Float[Array, "N H W C"],
    transform: OneParameterTransform,
    magnitude: Magnitude,
) -> tuple[Float[Array, "N H W C"], Float[Array, "N H W C"], Float[Array, " N"]]:
    """Pair every image with a transformed copy: returns `(x0, x_t, t)`, `x_t = φ_t(x0)`."""
    t = magnitude.sample(key, images.shape[0])
    xt = _apply_batch(transform, images, t)
    return images, xt, t


@eqx.filter_jit
def _apply_batch(
    transform: OneParameterTransform, images: Float[Array, "N H W C"], t: Float[Array, " N"]
) -> Float[Array, "N H W C"]:
    # Module-level so that the compiled program is cached across calls (keyed on the static
    # `kind`/`order` of the transform and the shapes).
    return jax.vmap(transform.apply)(images, t)
