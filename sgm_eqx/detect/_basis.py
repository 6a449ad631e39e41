"""Generator bases built from Shannon–Whittaker derivative matrices.

Conventions (shared by everything in `sgm_eqx.detect`):

- An image is `Float[Array, "H W"]` (one channel) and is flattened row-major, pixel `(r, c)` at
  index `r * W + c`.
- Coordinates are normalised: pixel centres at `x = (2c + 1)/W - 1` (x to the right) and
  `y = 1 - (2r + 1)/H` (y up), so the image spans `[-1, 1]^2` with the origin at its centre.
- A generator is the first-order differential operator `G = Γ_x(x, y) ∂x + Γ_y(x, y) ∂y` acting on
  the image as a function. `exp(t G) I = I ∘ ψ_t` where `ψ_t` is the flow of the vector field
  `Γ`: content moves along `-Γ`.
- The quadratic basis (eq. 3 of the paper) has twelve terms in the order

      0 ∂x, 1 x∂x, 2 y∂x, 3 x²∂x, 4 xy∂x, 5 y²∂x,
      6 ∂y, 7 x∂y, 8 y∂y, 9 x²∂y, 10 xy∂y, 11 y²∂y,

  and the affine basis is the subset `(∂x, x∂x, y∂x, ∂y, x∂y, y∂y)` = indices
  `AFFINE_INDICES = (0, 1, 2, 6, 7, 8)`.
"""

import math
from typing import Literal, get_args

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

QUADRATIC_TERMS: tuple[str, ...] = (
    "∂x",
    "x∂x",
    "y∂x",
    "x²∂x",
    "xy∂x",
    "y²∂x",
    "∂y",
    "x∂y",
    "y∂y",
    "x²∂y",
    "xy∂y",
    "y²∂y",
)
AFFINE_INDICES: tuple[int, ...] = (0, 1, 2, 6, 7, 8)
AFFINE_TERMS: tuple[str, ...] = tuple(QUADRATIC_TERMS[i] for i in AFFINE_INDICES)

BasisName = Literal["affine", "quadratic"]
BASES: tuple[str, ...] = get_args(BasisName)


def basis_size(basis: BasisName) -> int:
    """Number of terms of a basis: 6 for `"affine"`, 12 for `"quadratic"`."""
    if basis == "affine":
        return 6
    if basis == "quadratic":
        return 12
    raise ValueError(f"`basis`: expected 'affine' or 'quadratic'; got {basis!r}")


def basis_indices(basis: BasisName) -> tuple[int, ...]:
    """Positions of a basis' terms within the 12-term quadratic basis."""
    return AFFINE_INDICES if basis == "affine" else tuple(range(basis_size(basis)))


def shannon_whittaker_derivative(n: int) -> Float[Array, "n n"]:
    """Derivative matrix of periodic Shannon–Whittaker interpolation on `n` samples.

    With `Q(r) = (1/n) [1 + 2 Σ_{p=1}^{⌊(n-1)/2⌋} cos(2π p r / n)]` (App. C, eq. 10), the matrix is
    `D[a, b] = Q'(a - b)`, so `(D f)[a]` is the derivative, in pixel units, of the band-limited
    periodic interpolant of `f` at sample `a`. It is exact for trigonometric polynomials of
    degree `⌊(n-1)/2⌋` and antisymmetric.

    **Arguments:**

    - `n`: number of samples (`n >= 2`).

    **Returns:** `Float[Array, "n n"]`.
    """
    if n < 2:
        raise ValueError(f"`shannon_whittaker_derivative(n=...)`: expected n >= 2; got {n}")
    r = np.arange(n)[:, None] - np.arange(n)[None, :]
    p = np.arange(1, (n - 1) // 2 + 1)
    # Q'(r) = -(4π / n²) Σ_p p sin(2π p r / n)
    d = -(4.0 * math.pi / n**2) * np.sum(p * np.sin(2.0 * math.pi * p * r[..., None] / n), axis=-1)
    return jnp.asarray(d, dtype=jnp.float32)


def normalised_coordinates(height: int, width: int) -> Float[Array, "2 H W"]:
    """The normalised `(x, y)` coordinates of every pixel centre, stacked as `(2, H, W)`."""
    x = (2.0 * jnp.arange(width, dtype=jnp.float32) + 1.0) / width - 1.0
    y = 1.0 - (2.0 * jnp.arange(height, dtype=jnp.float32) + 1.0) / height
    yy, xx = jnp.meshgrid(y, x, indexing="ij")
    return jnp.stack([xx, yy])


def _monomials(x: Array, y: Array) -> list[Array]:
    one = jnp.ones_like(x)
    return [one, x, y, x * x, x * y, y * y]


def coefficient_fields(
    alpha: Float[Array, " n_terms"], x: Float[Array, "*shape"], y: Float[Array, "*shape"]
) -> Float[Array, " 2 *shape"]:
    """The vector field `(Γ_x, Γ_y)` of the generator with coefficients `alpha`, at `(x, y)`.

    **Arguments:**

    - `alpha`: 6 (affine basis) or 12 (quadratic basis) coefficients in the module's order.
    - `x`, `y`: normalised coordinates of the same shape.

    **Returns:** `(2, *shape)`: `Γ_x` then `Γ_y`.
    """
    alpha = _as_quadratic(alpha)
    mono = _monomials(x, y)
    gx = sum(alpha[i] * mono[i] for i in range(6))
    gy = sum(alpha[6 + i] * mono[i] for i in range(6))
    return jnp.stack([gx, gy])


def _as_quadratic(alpha: Array) -> Array:
    """Embed 6 affine coefficients into the 12-term quadratic basis (12 pass through)."""
    if alpha.shape == (12,):
        return alpha
    if alpha.shape == (6,):
        return jnp.zeros(12, alpha.dtype).at[jnp.asarray(AFFINE_INDICES)].set(alpha)
    raise ValueError(f"`alpha`: expected shape (6,) or (12,); got {alpha.shape}")


def basis_matrices(
    height: int, width: int, basis: BasisName = "quadratic"
) -> Float[Array, "k N N"]:
    """Dense matrices `D_i` of the basis operators acting on flattened `H x W` images.

    `N = H * W`. `D_i = diag(m_i) @ D_x` (or `D_y`), where `m_i` is the term's monomial at the
    pixel centres and `D_x = (W/2) I_H ⊗ D_W`, `D_y = -(H/2) D_H ⊗ I_W` are the Shannon–Whittaker
    derivatives in normalised units (App. C, eq. 11). Memory is `k N²` floats: use it for latent
    patches (`d x d`) and small images; for large images use
    [`apply_generator`][sgm_eqx.detect.apply_generator], which applies the same operator
    separably.

    **Returns:** `Float[Array, "k N N"]` with `k = 6` or `12` in the module's term order.
    """
    dw = shannon_whittaker_derivative(width) * (width / 2.0)
    dh = shannon_whittaker_derivative(height) * (-height / 2.0)
    d_x = jnp.kron(jnp.eye(height), dw)
    d_y = jnp.kron(dh, jnp.eye(width))
    x, y = normalised_coordinates(height, width).reshape(2, -1)
    mono = _monomials(x, y)
    mats = [m[:, None] * d_x for m in mono] + [m[:, None] * d_y for m in mono]
    return jnp.stack([mats[i] for i in basis_indices(basis)])


def generator_matrix(
    alpha: Float[Array, " k"], basis: Float[Array, "k N N"]
) -> Float[Array, "N N"]:
    """`G_α = Σ_i α_i D_i` (eq. 11)."""
    if alpha.shape[0] != basis.shape[0]:
        raise ValueError(
            f"`generator_matrix`: `alpha` has {alpha.shape[0]} terms but `basis` has "
            f"{basis.shape[0]}"
        )
    return jnp.tensordot(alpha, basis, axes=1)


def apply_generator(alpha: Float[Array, " k"], image: Float[Array, "H W"]) -> Float[Array, "H W"]:
    """`G_α I` for one image, computed separably (no `N x N` matrix).

    Equal to `generator_matrix(alpha, basis_matrices(H, W, basis)) @ image.ravel()` reshaped, at
    `O(H W (H + W))` cost instead of `O(H² W²)`: the derivatives along each axis are small
    matrix products and the monomial coefficients are pointwise.

    **Arguments:**

    - `alpha`: 6 or 12 coefficients (affine or quadratic basis).
    - `image`: `(H, W)`.
    """
    height, width = image.shape
    dw = shannon_whittaker_derivative(width) * (width / 2.0)
    dh = shannon_whittaker_derivative(height) * (-height / 2.0)
    ix = image @ dw.T
    iy = dh @ image
    x, y = normalised_coordinates(height, width)
    gx, gy = coefficient_fields(alpha, x, y)
    return gx * ix + gy * iy
