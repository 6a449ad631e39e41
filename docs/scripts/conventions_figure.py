"""Render `docs/images/conventions.png`: a test image under a few group actions.

Usage: `python docs/scripts/conventions_figure.py [--out docs/images/conventions.png]`

The test image is an asymmetric, letter-like "F" drawn procedurally (no data files): a red
vertical bar, a green top arm (longer) and a blue middle arm, on black. Every panel shows
`g.apply(image)` for one element `g`, with the normalised frame's axes (x right, y up) drawn
through the origin, so the directions of the conventions can be checked by eye.
"""

import argparse
import pathlib

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sgm_eqx.groups import Affine2D, HSVColor

SIZE = 64


def letter_f(size: int = SIZE) -> np.ndarray:
    """A smooth-edged, colour-coded "F" in the normalised frame, `(size, size, 3)` in [0, 1]."""
    c = (2.0 * np.arange(size) + 1.0) / size - 1.0
    x, y = np.meshgrid(c, -c)  # x right, y up (row 0 is y = +1)

    def box(x0, x1, y0, y1):
        soft = 2.0 / size  # one pixel of smooth edge
        fx = np.clip((x - x0) / soft + 0.5, 0, 1) * np.clip((x1 - x) / soft + 0.5, 0, 1)
        fy = np.clip((y - y0) / soft + 0.5, 0, 1) * np.clip((y1 - y) / soft + 0.5, 0, 1)
        return fx * fy

    image = np.zeros((size, size, 3))
    image[..., 0] = box(-0.35, -0.15, -0.5, 0.5)  # red stem
    image[..., 1] = box(-0.15, 0.4, 0.3, 0.5)  # green top arm (long)
    image[..., 2] = box(-0.15, 0.2, -0.05, 0.12)  # blue middle arm (short)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def panels(image: jnp.ndarray) -> list[tuple[str, np.ndarray]]:
    def affine(*eta):
        return Affine2D.from_params(jnp.asarray(eta, dtype=jnp.float32), order=3)

    rot = affine(0.0, 0.0, np.pi / 6, 0.0, 0.0)
    shift = affine(0.4, 0.0, 0.0, 0.0, 0.0)
    out = [
        ("identity", image),
        ("t_x = +0.4 (right)", shift.apply(image)),
        ("t_y = +0.4 (up)", affine(0.0, 0.4, 0.0, 0.0, 0.0).apply(image)),
        ("θ = +π/6 (counter-clockwise)", rot.apply(image)),
        ("log s_x = log 1.5", affine(0.0, 0.0, 0.0, np.log(1.5), 0.0).apply(image)),
        ("shear = +0.3", affine(0.0, 0.0, 0.0, 0.0, 0.0, 0.3).apply(image)),
        ("rot.compose(shift):\nshift first, then rotate", rot.compose(shift).apply(image)),
        ("shift.compose(rot):\nrotate first, then shift", shift.compose(rot).apply(image)),
        (
            "HSV hue +1/3 turn\n(red → green → blue)",
            HSVColor.from_params(jnp.asarray([1 / 3, 0.0, 0.0])).apply(image),
        ),
        (
            "HSV log v = log 0.5",
            HSVColor.from_params(jnp.asarray([0.0, 0.0, np.log(0.5)])).apply(image),
        ),
    ]
    return [(title, np.clip(np.asarray(img), 0.0, 1.0)) for title, img in out]


def main(argv: list[str] | None = None) -> pathlib.Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(pathlib.Path(__file__).parents[1] / "images" / "conventions.png")
    )
    args = parser.parse_args(argv)
    image = jnp.asarray(letter_f())
    items = panels(image)
    cols = 5
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.3 * rows))
    for ax, (title, img) in zip(axes.ravel(), items, strict=False):
        # extent puts the normalised frame on the axes: x in [-1, 1] right, y in [-1, 1] up.
        ax.imshow(img, extent=(-1, 1, -1, 1), interpolation="nearest")
        ax.axhline(0.0, color="w", lw=0.5, alpha=0.5)
        ax.axvline(0.0, color="w", lw=0.5, alpha=0.5)
        ax.annotate(
            "", xy=(0.9, -0.9), xytext=(0.5, -0.9), arrowprops=dict(arrowstyle="->", color="w")
        )
        ax.annotate(
            "", xy=(0.5, -0.5), xytext=(0.5, -0.9), arrowprops=dict(arrowstyle="->", color="w")
        )
        ax.text(0.92, -0.86, "x", color="w", fontsize=8)
        ax.text(0.44, -0.45, "y", color="w", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(items) :]:
        ax.axis("off")
    fig.suptitle(
        "sgm_eqx conventions: g.apply(x) moves the content at p to A·p (frame [-1, 1]², y up)",
        fontsize=11,
    )
    fig.tight_layout()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
