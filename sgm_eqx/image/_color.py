"""Differentiable RGB <-> HSV conversion.

Conventions (identical to `matplotlib.colors.rgb_to_hsv` / `hsv_to_rgb`): every channel of
both spaces lies in `[0, 1]`; hue is measured in *turns* (`0` = red, `1/3` = green,
`2/3` = blue) and lies in `[0, 1)`. Grey pixels (`max == min`) get hue `0` and black pixels
get saturation `0`.

Hand-written (not taken from a library) because neither jax nor any dependency ships a
differentiable HSV conversion; the divisions are guarded with the "double `where`" trick, so
gradients are finite everywhere, including at grey and black pixels.
"""

import jax.numpy as jnp
from jaxtyping import Array, Float


def _check_rgb_like(image: Array, name: str) -> None:
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"`{name}(image=...)`: expected a floating image; got dtype {image.dtype}")
    if image.ndim < 1 or image.shape[-1] != 3:
        raise ValueError(
            f"`{name}(image=...)`: expected a trailing channel axis of size 3; "
            f"got shape {image.shape}"
        )


def rgb_to_hsv(image: Float[Array, "H W 3"]) -> Float[Array, "H W 3"]:
    """Convert an RGB image to HSV.

    **Arguments:**

    - `image`: floating array of shape `(H, W, 3)` with RGB values in `[0, 1]`.

    **Returns:**

    Array of the same shape and dtype holding `(hue, saturation, value)`, hue in turns in
    `[0, 1)`, saturation and value in `[0, 1]`. Matches `matplotlib.colors.rgb_to_hsv`.
    Differentiable; gradients are finite at grey (`max == min`) and black pixels, where the
    hue (resp. saturation) is defined as `0` and is locally constant.
    """
    _check_rgb_like(image, "rgb_to_hsv")
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    # The sector is chosen by comparing the channels with each other, and `vmax` is the
    # selected channel itself, not a separately reduced maximum: under `jax.jit`, XLA may
    # recompute a fused input in two places with different rounding (FMA contraction), and
    # an equality test `b == max(r, g, b)` can then fail for every channel, picking a wrong
    # sector. With comparisons a near-tie can only pick a neighbouring sector, whose formula
    # agrees at the tie (the hue is continuous).
    is_r = (r >= g) & (r >= b)
    is_g = ~is_r & (g >= b)
    vmax = jnp.where(is_r, r, jnp.where(is_g, g, b))
    vmin = jnp.minimum(jnp.minimum(r, g), b)
    delta = vmax - vmin

    # Double-where: the division only ever sees a safe denominator, so no inf/NaN reaches
    # the backward pass through the unselected branch.
    has_chroma = delta > 0
    safe_delta = jnp.where(has_chroma, delta, jnp.ones_like(delta))
    is_lit = vmax > 0
    safe_vmax = jnp.where(is_lit, vmax, jnp.ones_like(vmax))

    saturation = jnp.where(is_lit & has_chroma, delta / safe_vmax, jnp.zeros_like(delta))

    hue_r = (g - b) / safe_delta
    hue_g = 2.0 + (b - r) / safe_delta
    hue_b = 4.0 + (r - g) / safe_delta
    hue = jnp.where(is_r, hue_r, jnp.where(is_g, hue_g, hue_b))
    hue = jnp.where(has_chroma, hue, jnp.zeros_like(hue))
    hue = jnp.mod(hue / 6.0, 1.0)
    return jnp.stack([hue, saturation, vmax], axis=-1)


def hsv_to_rgb(image: Float[Array, "H W 3"]) -> Float[Array, "H W 3"]:
    """Convert an HSV image to RGB.

    **Arguments:**

    - `image`: floating array of shape `(H, W, 3)` holding `(hue, saturation, value)`; hue in
      turns (any real value is accepted and taken modulo 1), saturation and value in `[0, 1]`.

    **Returns:**

    RGB array of the same shape and dtype. Matches `matplotlib.colors.hsv_to_rgb`.

    Uses the closed form `channel_n = v - v s clip(min(k, 4 - k), 0, 1)` with
    `k = (n + 6 hue) mod 6` and `n = 5, 3, 1` for red, green, blue: it equals the usual
    six-sector formula and is continuous (piecewise linear) in hue, so it differentiates
    without branches.
    """
    _check_rgb_like(image, "hsv_to_rgb")
    hue, sat, val = image[..., 0], image[..., 1], image[..., 2]
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = jnp.mod(n + 6.0 * hue, 6.0)
        ramp = jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)
        channels.append(val - val * sat * ramp)
    return jnp.stack(channels, axis=-1)
