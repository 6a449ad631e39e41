"""The normalised image frame shared by every image action.

An image `"H W C"` spans the square `[-1, 1]^2`: `x` grows to the right (along columns), `y`
grows upward (row 0 is at the top, `y = +1`). The image's outer pixel *edges* lie at `±1`, so
the centre of column `j` is at `x = -1 + (2j + 1) / W` and the centre of row `i` is at
`y = 1 - (2i + 1) / H` (PyTorch's `align_corners=False` convention, with `y` flipped to point
up). For a non-square image both axes are still scaled to `[-1, 1]`, so one normalised unit is
`W / 2` pixels along `x` and `H / 2` pixels along `y`.

This module sits below every layer (it imports nothing from the library): the image
actions, the renderers of the procedural datasets, the moment-based pose estimators and
the figures all take their pixel positions from it.
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def pixel_centres(
    height: int, width: int
) -> tuple[Float[np.ndarray, " W"], Float[np.ndarray, " H"]]:
    """Normalised coordinates of the pixel centres: `x` of each column, `y` of each row.

    numpy float64 (exact for any size; constants when used inside traced code).
    """
    x = (2.0 * np.arange(width) + 1.0) / width - 1.0
    y = 1.0 - (2.0 * np.arange(height) + 1.0) / height
    return x, y


def complex_grid(height: int, width: int) -> np.ndarray:
    """The pixel centres as complex numbers `x + i y`, shape `(H, W)` (for image moments)."""
    x, y = pixel_centres(height, width)
    return x[None, :] + 1j * y[:, None]


def to_pixel(
    x: Float[Array, "*batch"], y: Float[Array, "*batch"], height: int, width: int
) -> Float[Array, " 2 *batch"]:
    """Convert normalised `(x, y)` to scipy pixel coordinates `(row, column)`, stacked first."""
    col = (x + 1.0) * (0.5 * width) - 0.5
    row = (1.0 - y) * (0.5 * height) - 0.5
    return jnp.stack([row, col])
