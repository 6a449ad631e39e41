"""The normalised image frame shared by every image action.

An image `"H W C"` spans the square `[-1, 1]^2`: `x` grows to the right (along columns), `y`
grows upward (row 0 is at the top, `y = +1`). The image's outer pixel *edges* lie at `±1`, so
the centre of column `j` is at `x = -1 + (2j + 1) / W` and the centre of row `i` is at
`y = 1 - (2i + 1) / H` (PyTorch's `align_corners=False` convention, with `y` flipped to point
up). For a non-square image both axes are still scaled to `[-1, 1]`, so one normalised unit is
`W / 2` pixels along `x` and `H / 2` pixels along `y`.
"""

import jax.numpy as jnp
from jaxtyping import Array, Float


def pixel_centres(height: int, width: int) -> tuple[Float[Array, " W"], Float[Array, " H"]]:
    """Normalised coordinates of the pixel centres: `x` of each column, `y` of each row."""
    x = (2.0 * jnp.arange(width, dtype=jnp.float32) + 1.0) / width - 1.0
    y = 1.0 - (2.0 * jnp.arange(height, dtype=jnp.float32) + 1.0) / height
    return x, y


def to_pixel(
    x: Float[Array, "*batch"], y: Float[Array, "*batch"], height: int, width: int
) -> Float[Array, " 2 *batch"]:
    """Convert normalised `(x, y)` to scipy pixel coordinates `(row, column)`, stacked first."""
    col = (x + 1.0) * (0.5 * width) - 0.5
    row = (1.0 - y) * (0.5 * height) - 0.5
    return jnp.stack([row, col])
