"""Figures of the joint-ELBO model (workshop paper Figs. 5 and 6), as matplotlib Figures."""

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure


def _show(ax, image):
    img = np.clip(np.asarray(image), 0.0, 1.0)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_reconstructions(
    inputs: np.ndarray,
    reconstructions: np.ndarray,
    prototypes: np.ndarray,
    *,
    title: str | None = None,
) -> Figure:
    """Fig. 5: test digits (top), their reconstructions (middle), their prototypes (bottom).

    **Arguments:** three arrays of `n` images `(n, H, W, C)` in `[0, 1]`; `title` optional.
    """
    n = len(inputs)
    if not len(reconstructions) == len(prototypes) == n or n == 0:
        raise ValueError(
            "`plot_reconstructions`: expected three non-empty arrays with the same number of "
            f"images; got {len(inputs)}, {len(reconstructions)}, {len(prototypes)}."
        )
    fig = Figure(figsize=(0.8 * n + 1.0, 2.8))
    axes = fig.subplots(3, n, squeeze=False)
    for row, (name, images) in enumerate(
        (("x", inputs), ("reconstruction", reconstructions), ("prototype x̂", prototypes))
    ):
        for j in range(n):
            _show(axes[row, j], images[j])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.12, right=0.99, top=0.88 if title else 0.98, bottom=0.02)
    return fig


def plot_rotation_sweep(
    inputs: np.ndarray, prototypes: np.ndarray, degrees, *, title: str | None = None
) -> Figure:
    """Rotated copies of digits (odd rows) above their prototypes (even rows).

    **Arguments:** `inputs`, `prototypes` of shape `(N, R, H, W, C)`; `degrees` the `R`
    applied angles (column titles).
    """
    n, r = inputs.shape[:2]
    fig = Figure(figsize=(0.75 * r + 1.0, 0.8 * 2 * n + 0.4))
    axes = fig.subplots(2 * n, r, squeeze=False)
    for i in range(n):
        for j in range(r):
            _show(axes[2 * i, j], inputs[i, j])
            _show(axes[2 * i + 1, j], prototypes[i, j])
        axes[2 * i, 0].set_ylabel("x", rotation=0, ha="right", va="center", fontsize=8)
        axes[2 * i + 1, 0].set_ylabel("x̂", rotation=0, ha="right", va="center", fontsize=8)
    for j, d in enumerate(np.asarray(degrees)):
        axes[0, j].set_title(f"{d:+.0f}°", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_angle_ranges(samples: Mapping[float, np.ndarray], *, bins: int = 60) -> Figure:
    """Fig. 6: samples of q_ν(η | x) over test digits, one panel per data rotation range.

    **Arguments:** `samples` maps the data's rotation half-range `D` (degrees; data rotated
    by `U(-D, D)`) to predicted angles (degrees, any shape). Each panel is centred on the
    median of its samples (the prototype's orientation, hence η's offset, is arbitrary) and
    marks `±D` as dashed lines: the predicted range should grow with `D`.
    """
    if not samples:
        raise ValueError("`plot_angle_ranges(samples=...)`: expected at least one range.")
    ranges = sorted(samples)
    fig = Figure(figsize=(2.2 * len(ranges), 2.4))
    axes = fig.subplots(1, len(ranges), squeeze=False, sharey=False)[0]
    for ax, d in zip(axes, ranges, strict=True):
        s = np.ravel(np.asarray(samples[d], np.float64))
        s = s - np.median(s)
        lim = max(200.0, float(np.quantile(np.abs(s), 0.99)))
        ax.hist(s, bins=bins, range=(-lim, lim), color="tab:blue", alpha=0.8, density=True)
        for sign in (-1, 1):
            ax.axvline(sign * d, color="k", ls="--", lw=0.8)
        lo, hi = np.quantile(s, [0.025, 0.975])
        ax.set_title(f"data U(±{d:g}°)\n95% width {hi - lo:.0f}°", fontsize=8)
        ax.set_xlabel("η − median (deg)", fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_history(history: Mapping[str, list[float]]) -> Figure:
    """Training curves: the batch ELBO and its terms against the step."""
    steps = np.asarray(history["step"])
    fig = Figure(figsize=(8, 2.4))
    axes = fig.subplots(1, 3)
    axes[0].plot(steps, history["elbo"])
    axes[0].set_title("ELBO (β = 1)", fontsize=8)
    axes[1].plot(steps, history["kl_z"], label="KL z")
    axes[1].plot(steps, history["kl_eta"], label="KL η")
    axes[1].legend(fontsize=7, loc="upper right")  # "best" is slow and warns on big data
    axes[1].set_title("KL terms", fontsize=8)
    axes[2].plot(steps, history["beta"])
    axes[2].set_title("β", fontsize=8)
    for ax in axes:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
