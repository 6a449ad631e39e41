"""Figures of the paper's Sec. 4.1 and App. D, drawn from plain arrays (matplotlib, PNG).

Every function takes arrays (no model), writes one PNG to `path` and returns the path, so the
figures are testable without training. Images are `(H, W, C)` floats in `[0, 1]`; one channel
is drawn in grey, three as RGB.
"""

import os
import pathlib

import numpy as np
from jaxtyping import Array, Float, Shaped

_AnyArray = Array | np.ndarray

#: Default names of the five affine parameters (`sgm_eqx.groups.Affine2D` order).
AFFINE_PARAM_NAMES: tuple[str, ...] = ("t_x", "t_y", "θ", "log s_x", "log s_y")


def _figure(**kwargs):
    """A `matplotlib.figure.Figure` not managed by pyplot (no global backend state)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _show(ax, image) -> None:
    img = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _check(name: str, arr, ndim: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != ndim:
        raise ValueError(f"`{name}`: expected {ndim} dimensions; got shape {a.shape}.")
    return a


def plot_prototypes(
    examples: Float[_AnyArray, "n H W C"],
    prototypes: Float[_AnyArray, "n H W C"],
    resampled: Float[_AnyArray, "n k H W C"],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> pathlib.Path:
    """Fig. 8: test examples (top row), their prototypes (second row), resampled variants.

    **Arguments:**

    - `examples`, `prototypes`: `(n, H, W, C)`; column `j` is example `j`.
    - `resampled`: `(n, k, H, W, C)`: `k` rows of resampled versions of each example.
    - `path`: output PNG.
    """
    x = _check("plot_prototypes(examples=...)", examples, 4)
    p = _check("plot_prototypes(prototypes=...)", prototypes, 4)
    r = _check("plot_prototypes(resampled=...)", resampled, 5)
    n, k = x.shape[0], r.shape[1]
    fig = _figure(figsize=(0.9 * n, 0.9 * (2 + k) + 0.3))
    axes = fig.subplots(2 + k, n, squeeze=False)
    for j in range(n):
        _show(axes[0, j], x[j])
        _show(axes[1, j], p[j])
        for i in range(k):
            _show(axes[2 + i, j], r[j, i])
    axes[0, 0].set_ylabel("x", rotation=0, ha="right")
    axes[1, 0].set_ylabel("x̂", rotation=0, ha="right")
    if k:
        axes[2, 0].set_ylabel("resampled", rotation=0, ha="right")
    for i in (1, 2):
        if i + 1 < axes.shape[0]:
            for ax in axes[i]:
                for side in ("top",):
                    ax.spines[side].set_color("tab:red" if i == 2 else "black")
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return _save(fig, path)


def plot_marginals(
    examples: Float[_AnyArray, "n H W C"],
    prototypes: Float[_AnyArray, "n H W C"],
    eta_samples: Float[_AnyArray, "n s d"],
    path: str | os.PathLike,
    *,
    param_names: tuple[str, ...] | None = None,
    ranges: Float[_AnyArray, " d"] | None = None,
    bins: int = 40,
) -> pathlib.Path:
    """Fig. 10: per example, the image, its prototype and histograms of `p(η_i | x̂)`.

    **Arguments:**

    - `examples`, `prototypes`: `(n, H, W, C)`.
    - `eta_samples`: `(n, s, d)` samples of `p_ψ(η | x̂)` for each example.
    - `param_names`: `d` column titles (default: the affine names when `d = 5`).
    - `ranges`: `d` half-widths `η_max`; each histogram spans `[-η_max_i, η_max_i]`
      (default: the samples' range).
    """
    x = _check("plot_marginals(examples=...)", examples, 4)
    p = _check("plot_marginals(prototypes=...)", prototypes, 4)
    e = _check("plot_marginals(eta_samples=...)", eta_samples, 3)
    n, _, d = e.shape
    names = param_names or (AFFINE_PARAM_NAMES if d == 5 else tuple(f"η{i}" for i in range(d)))
    if len(names) != d:
        raise ValueError(f"`plot_marginals(param_names=...)`: expected {d} names; got {names}.")
    fig = _figure(figsize=(1.0 * 2 + 1.6 * d, 1.0 * n + 0.4))
    axes = fig.subplots(n, 2 + d, squeeze=False)
    for j in range(n):
        _show(axes[j, 0], x[j])
        _show(axes[j, 1], p[j])
        for i in range(d):
            ax = axes[j, 2 + i]
            if ranges is not None:
                lim = float(np.asarray(ranges)[i])
                lo, hi = -lim, lim
            else:
                lo, hi = float(e[:, :, i].min()), float(e[:, :, i].max())
                lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)
            ax.hist(e[j, :, i], bins=bins, range=(lo, hi), color="tab:blue", alpha=0.8)
            ax.set_xlim(lo, hi)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if j != n - 1:
                ax.set_xticklabels([])
            if j == 0:
                ax.set_title(names[i], fontsize=9)
    axes[0, 0].set_title("x", fontsize=9)
    axes[0, 1].set_title("x̂", fontsize=9)
    fig.subplots_adjust(wspace=0.15, hspace=0.15)
    return _save(fig, path)


def plot_prototype_chains(
    chains: Float[_AnyArray, "n k H W C"],
    ratios: Float[_AnyArray, " m"],
    path: str | os.PathLike,
) -> pathlib.Path:
    """Fig. 11: prototype chains `x̂_0 = x, x̂_1, ...` (left) and mean |η| per iteration (right).

    **Arguments:**

    - `chains`: `(n, k, H, W, C)`, row `j` is the chain `x, x̂_1, ..., x̂_{k-1}` of example `j`.
    - `ratios`: `(m,)` mean |η_i| / mean |η_0| for `η_i = f_ω(x̂_i)` (from
      [`sgm_eqx.experiments.chain_ratio`][]; usually `m = k - 1`, possibly over more
      examples than are drawn).
    """
    c = _check("plot_prototype_chains(chains=...)", chains, 5)
    r = np.asarray(ratios, np.float64)
    n, k = c.shape[:2]
    fig = _figure(figsize=(0.9 * k + 3.5, 0.9 * n + 0.6))
    grid = fig.add_gridspec(n, k + 4)
    for j in range(n):
        for i in range(k):
            ax = fig.add_subplot(grid[j, i])
            _show(ax, c[j, i])
            if j == 0:
                ax.set_title(f"x̂{i}" if i else "x", fontsize=8)
    ax = fig.add_subplot(grid[:, k + 1 :])
    ax.plot(np.arange(len(r)), r, "o-")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean |η| / iteration 0")
    ax.set_ylim(0, max(1.05, float(r.max()) * 1.05))
    ax.axhline(0.05, color="grey", ls=":", lw=1)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_position_distributions(
    data_images: Float[_AnyArray, "n H W C"],
    data_positions: Float[_AnyArray, "n 2"],
    data_groups: Shaped[_AnyArray, " n"],
    resampled_images: Float[_AnyArray, "m H W C"],
    resampled_positions: Float[_AnyArray, "m 2"],
    resampled_groups: Shaped[_AnyArray, " m"],
    path: str | os.PathLike,
    *,
    group_names: tuple[str, ...] = ("square", "ellipse", "heart"),
    n_show: int = 9,
    bins: int = 20,
) -> pathlib.Path:
    """Fig. 17: data vs resampled sprites and their position densities, one row per group.

    Columns: data sprites, their `(x, y)` position density, resampled sprites and the
    resampled position density (`x, y` in `[0, 1]`, `y` up).

    **Arguments:**

    - `data_images`, `resampled_images`: sprites `(n, H, W, C)`; the first `n_show` of each
      group are tiled.
    - `data_positions`, `resampled_positions`: `(n, 2)` latent `(x, y)` (true or estimated by
      [`sgm_eqx.experiments.moment_latents`][]).
    - `data_groups`, `resampled_groups`: group index (shape) of each row (ints or floats).
    """
    di = _check("plot_position_distributions(data_images=...)", data_images, 4)
    ri = _check("plot_position_distributions(resampled_images=...)", resampled_images, 4)
    dp, rp = np.asarray(data_positions), np.asarray(resampled_positions)
    dg, rg = np.round(np.asarray(data_groups)), np.round(np.asarray(resampled_groups))
    side = int(np.ceil(np.sqrt(n_show)))
    n_groups = len(group_names)
    fig = _figure(figsize=(10, 2.5 * n_groups))
    axes = fig.subplots(n_groups, 4, squeeze=False)

    def tile(images):
        h, w, c = di.shape[1:]
        out = np.zeros((side * (h + 1), side * (w + 1), c), np.float32) + 0.3
        for t, img in enumerate(images[: side * side]):
            r, q = divmod(t, side)
            out[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = img
        return out

    for g, name in enumerate(group_names):
        for col, (images, pos, groups, label) in enumerate(
            [(di, dp, dg, "data"), (ri, rp, rg, "resampled")]
        ):
            sel = groups == g
            _show(axes[g, 2 * col], tile(images[sel]))
            ax = axes[g, 2 * col + 1]
            if sel.any():
                ax.hist2d(
                    pos[sel, 0], pos[sel, 1], bins=bins, range=[[0, 1], [0, 1]], cmap="viridis"
                )
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            if g == 0:
                axes[g, 2 * col].set_title(f"{label} sprites", fontsize=9)
                ax.set_title(f"{label} positions (x, y)", fontsize=9)
        axes[g, 0].set_ylabel(name)
    return _save(fig, path)
