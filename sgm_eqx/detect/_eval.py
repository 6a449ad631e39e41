"""Evaluation of a learned symmetry: generator alignment, magnitude distribution, figures."""

import pathlib

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._frame import pixel_centres
from ._basis import QUADRATIC_TERMS, BasisName, basis_indices, coefficient_fields


def generator_abs_cos(
    alpha: Float[Array, " k"], alpha_true: Float[Array, " k"]
) -> Float[Array, ""]:
    """`|cos|` of the angle between learned and true coefficients.

    Sign-invariant, since `tG = (-t)(-G)`.
    """
    if alpha.shape != alpha_true.shape:
        raise ValueError(
            f"`generator_abs_cos`: shapes differ: alpha {alpha.shape}, "
            f"alpha_true {alpha_true.shape}"
        )
    num = jnp.abs(jnp.sum(alpha * alpha_true))
    return num / jnp.sqrt(jnp.sum(alpha**2) * jnp.sum(alpha_true**2) + 1e-30)


def fit_magnitude_scale(t_pred: Float[Array, " N"], t_true: Float[Array, " N"]) -> Float[Array, ""]:
    """Least-squares `s` (through the origin) with `s t_pred ≈ t_true`.

    This fixes the ambiguity `t G = (s t)(G / s)` including its sign.
    """
    return jnp.sum(t_pred * t_true) / (jnp.sum(t_pred**2) + 1e-30)


def alpha_table(alpha: np.ndarray, basis: BasisName) -> dict[str, float]:
    """Name -> coefficient for a basis' terms (for reports)."""
    return {QUADRATIC_TERMS[i]: float(a) for i, a in zip(basis_indices(basis), alpha, strict=True)}


def plot_flow_field(
    alpha: np.ndarray,
    path: str | pathlib.Path,
    *,
    grid: int = 11,
    alpha_true: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Save a quiver plot of the generator's vector field `(Γ_x, Γ_y)` on `[-1, 1]^2`.

    The same coefficients define `G_α` on the `d x d` latent patch and on the image (both span
    `[-1, 1]^2` in normalised coordinates), so this is the latent flow of the paper's Fig. 2
    (content moves along `-Γ` for `t > 0`). With `alpha_true`, the true field is drawn beside
    it (unit norm, sign-aligned to the learned one: `tG = (-t)(-G)`).

    **Arguments:**

    - `alpha`: 6 or 12 learned coefficients (module term order).
    - `path`: output image file.
    - `grid`: arrows per side.
    - `alpha_true`: optional true coefficients of the same length.
    - `title`: optional figure title.
    """
    from matplotlib.figure import Figure

    x, y = np.meshgrid(*pixel_centres(grid, grid))  # arrows at the centres of a grid
    fields = [("learned", np.asarray(alpha))]
    if alpha_true is not None:
        at = np.asarray(alpha_true)
        sign = np.sign(np.dot(at, np.asarray(alpha))) or 1.0
        fields.append(("true", sign * at / np.linalg.norm(at)))
    fig = Figure(figsize=(4 * len(fields), 4))
    axes = fig.subplots(1, len(fields), squeeze=False)
    for ax, (name, a) in zip(axes[0], fields, strict=True):
        a32 = jnp.asarray(a, dtype=jnp.float32)
        xy = jnp.asarray(x, dtype=jnp.float32), jnp.asarray(y, dtype=jnp.float32)
        gx, gy = np.asarray(coefficient_fields(a32, *xy))
        ax.quiver(x, y, gx, gy, angles="xy")
        ax.set_aspect("equal")
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-1.1, 1.1)
        ax.set_title(f"{name} G_α: flow field Γ")
        ax.set_xlabel("x (latent patch / image, normalised)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_magnitude_histogram(
    t_learned: np.ndarray, t_true: np.ndarray, path: str | pathlib.Path, *, title: str = ""
) -> None:
    """Save overlaid histograms of the (scale-fitted) learned and the true magnitudes."""
    from matplotlib.figure import Figure

    lo = float(min(np.min(t_learned), np.min(t_true)))
    hi = float(max(np.max(t_learned), np.max(t_true)))
    bins = np.linspace(lo, hi, 50).tolist()
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.hist(np.asarray(t_true), bins=bins, alpha=0.5, density=True, label="true t")
    ax.hist(np.asarray(t_learned), bins=bins, alpha=0.5, density=True, label="learned s·t")
    ax.set_xlabel("t")
    ax.legend(loc="upper right")  # "best" is slow and warns on big data
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
