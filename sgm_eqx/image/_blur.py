"""Separable Gaussian blur with a (possibly traced) standard deviation.

Written as two small matrix products, `B_H X B_W^T`, rather than with `jax.lax.conv`: the
boundary rule is folded into the matrices exactly (the same folding as scipy's modes), the
standard deviation may be a traced scalar (the training blur schedule of App. B decays it
inside a jitted step), and at the image sizes used here (28 to 64 pixels a side) the matrices
are tiny. Under `jax.vmap` over a batch of images with one shared `sigma`, the products are
ordinary matrix multiplications.
"""

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._fold import FoldRule, fold_index

BLUR_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")


#: The index-folding rule of each blur mode (scipy.ndimage's filter modes).
_RULES: dict[str, FoldRule] = {
    "constant": "zero",
    "nearest": "nearest",
    "reflect": "reflect",
    "mirror": "mirror",
    "wrap": "periodic",
}


@functools.lru_cache(maxsize=64)
def _selection(n: int, size: int, mode: str) -> np.ndarray:
    """`S[k, i, j] = 1` where tap `k` of output `i` reads input `j` (`(size, n, n)`)."""
    radius = size // 2
    sel = np.zeros((size, n, n), np.float32)
    for k in range(size):
        for i in range(n):
            j = fold_index(i + k - radius, n, _RULES[mode])
            if j is not None:
                sel[k, i, j] += 1.0
    return sel


def gaussian_kernel(sigma: Float[ArrayLike, ""], size: int) -> Float[Array, " size"]:
    """Normalised 1-D Gaussian filter taps at offsets `-(size // 2) .. size // 2`.

    **Arguments:**

    - `sigma`: standard deviation in pixels, `>= 0` (may be traced). `sigma = 0` gives the
      identity filter `(0, .., 0, 1, 0, .., 0)`; the gradient w.r.t. `sigma` stays finite.
    - `size`: odd number of taps.

    **Returns:**

    `exp(-k^2 / (2 sigma^2))`, normalised to sum 1 over the `size` taps (truncated Gaussian).
    """
    sigma = jnp.asarray(sigma, dtype=jnp.float32)
    offsets = jnp.arange(size, dtype=jnp.float32) - size // 2
    positive = sigma > 0
    # Double `where`: the division never sees sigma = 0, so no NaN reaches the gradient.
    safe = jnp.where(positive, sigma, jnp.ones_like(sigma))
    taps = jnp.exp(-0.5 * (offsets / safe) ** 2)
    delta = (offsets == 0).astype(jnp.float32)
    taps = jnp.where(positive, taps, delta)
    return taps / jnp.sum(taps)


def gaussian_blur(
    image: Float[Array, "H W C"],
    sigma: float | Float[ArrayLike, ""],
    *,
    size: int | None = None,
    mode: str = "constant",
) -> Float[Array, "H W C"]:
    """Blur every channel of an image with a separable, truncated Gaussian filter.

    **Arguments:**

    - `image`: floating image of shape `(H, W, C)`.
    - `sigma`: standard deviation in pixels, `>= 0`; a Python float or a (traced) scalar
      array. `sigma = 0` returns the image unchanged (exactly, and differentiably).
    - `size`: number of taps per axis (odd). The training schedule of App. B uses `size=5`.
      Default: `2 * ceil(3 * sigma) + 1` when `sigma` is a Python number; required when
      `sigma` is an array (the filter length must be static under `jax.jit`).
    - `mode`: how the image is extended beyond its edges: `"constant"` (zeros, like a
      `"SAME"` convolution; the default), `"nearest"`, `"reflect"`, `"mirror"` or `"wrap"`
      (scipy's meanings, see [`sgm_eqx.image.map_coordinates`][]).

    **Returns:**

    The blurred image, same shape and dtype. Differentiable w.r.t. `image` and `sigma`.
    Operates on one image; batch with `jax.vmap`.
    """
    if not isinstance(image, jnp.ndarray | np.ndarray):
        raise TypeError(f"`gaussian_blur(image=...)`: expected an array; got {type(image)}")
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"`gaussian_blur(image=...)`: expected a floating image; got {image.dtype}")
    if image.ndim != 3:
        raise ValueError(
            f"`gaussian_blur(image=...)`: expected shape (H, W, C); got shape {image.shape}"
        )
    if mode not in BLUR_MODES:
        raise ValueError(f"`gaussian_blur(mode=...)`: expected one of {BLUR_MODES}; got {mode!r}")
    if isinstance(sigma, int | float):
        if not np.isfinite(sigma) or sigma < 0:
            raise ValueError(
                f"`gaussian_blur(sigma=...)`: expected a finite sigma >= 0; got {sigma}"
            )
        if size is None:
            size = 2 * int(np.ceil(3.0 * sigma)) + 1
    elif size is None:
        raise ValueError(
            "`gaussian_blur(size=...)`: required when `sigma` is an array (the filter length "
            "must be static)"
        )
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"`gaussian_blur(size=...)`: expected a positive odd int; got {size!r}")
    if size == 1:
        return image
    taps = gaussian_kernel(sigma, size).astype(image.dtype)
    height, width, _ = image.shape
    rows = jnp.tensordot(taps, jnp.asarray(_selection(height, size, mode), image.dtype), 1)
    cols = jnp.tensordot(taps, jnp.asarray(_selection(width, size, mode), image.dtype), 1)
    out = jnp.einsum("ij,jkc->ikc", rows, image)
    return jnp.einsum("ikc,lk->ilc", out, cols)
