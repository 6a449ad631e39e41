"""Images for symmetry detection: built-in synthetic smooth images and file loaders."""

import pathlib

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..data import check_images, load_mnist


def synthetic_images(
    key: PRNGKeyArray, n: int, *, size: int = 16, n_blobs: int = 3, width: float = 0.18
) -> Float[Array, "n size size 1"]:
    """Random smooth images: sums of Gaussian blobs inside the central disc.

    Each image is a sum of `n_blobs` isotropic Gaussians (standard deviation `width` in
    normalised units, where the image spans `[-1, 1]^2`) with random centres of radius `< 0.4`
    and random amplitudes in `[0.5, 1]`, normalised to maximum 1. With the default `width` the
    images are nearly band-limited at `size >= 12` and vanish at the border, so the
    periodic Shannon–Whittaker derivatives are accurate and rotations/scalings keep the content
    inside the frame. Procedural, no download.

    **Returns:** `Float[Array, "n size size 1"]` in `[0, 1]`.
    """
    if n < 1 or size < 4 or n_blobs < 1 or not width > 0:
        raise ValueError(
            "`synthetic_images`: expected n >= 1, size >= 4, n_blobs >= 1, width > 0; got "
            f"n={n}, size={size}, n_blobs={n_blobs}, width={width}"
        )
    k_r, k_phi, k_amp = jr.split(key, 3)
    radius = 0.4 * jnp.sqrt(jr.uniform(k_r, (n, n_blobs)))
    phi = jr.uniform(k_phi, (n, n_blobs), maxval=2 * jnp.pi)
    amp = jr.uniform(k_amp, (n, n_blobs), minval=0.5, maxval=1.0)
    cx, cy = radius * jnp.cos(phi), radius * jnp.sin(phi)
    coord = (2.0 * jnp.arange(size, dtype=jnp.float32) + 1.0) / size - 1.0
    x = coord[None, None, None, :]
    y = -coord[None, None, :, None]
    d2 = (x - cx[..., None, None]) ** 2 + (y - cy[..., None, None]) ** 2
    img = jnp.sum(amp[..., None, None] * jnp.exp(-0.5 * d2 / width**2), axis=1)
    img = img / jnp.max(img, axis=(1, 2), keepdims=True)
    return img[..., None]


def read_images(spec: str) -> np.ndarray | None:
    """Read and check the images of a SPEC of [`load_images`][sgm_eqx.detect.load_images].

    Returns float32 `(N, H, W, C)` NumPy images in `[0, 1]`, or `None` for `synthetic`
    (after checking its SIZE). Runs no JAX code, so a bad SPEC fails at once.
    """
    name, _, rest = spec.partition(":")
    if name == "synthetic":
        if rest and not rest.isdigit():
            raise ValueError(
                f"data SPEC {spec!r}: expected synthetic or synthetic:SIZE with an integer SIZE"
            )
        return None
    if name == "mnist":
        return np.asarray(load_mnist(rest or ".").images)
    if name == "npz":
        path = pathlib.Path(rest)
        if not path.is_file():
            raise FileNotFoundError(f"data SPEC {spec!r}: {path} does not exist")
        with np.load(path) as f:
            if "images" not in f:
                raise ValueError(f"data SPEC {spec!r}: {path} has no array named 'images'")
            return check_images(f["images"], f"data SPEC {spec!r}")
    raise ValueError(f"data SPEC {spec!r}: expected 'mnist:DIR', 'npz:PATH' or 'synthetic[:SIZE]'")


def load_images(
    spec: str, *, key: PRNGKeyArray, n: int | None = None, size: int | None = None
) -> Float[Array, "N H W C"]:
    """Load images from a data SPEC, as float32 in `[0, 1]` with a channel axis.

    SPEC is one of

    - `mnist:DIR`: every MNIST image in `DIR` (all splits), read by
      [`sgm_eqx.data.load_mnist`][] (`mnist.npz` or the IDX files);
    - `npz:PATH`: key `images`, `(N, H, W)` or `(N, H, W, C)`; integer arrays are divided by 255;
    - `synthetic` or `synthetic:SIZE`: [`synthetic_images`][sgm_eqx.detect.synthetic_images]
      (default size 16).

    **Arguments:**

    - `key`: used for synthetic images and to pick the `n` images (a random subset).
    - `n`: number of images to keep (all, or 2048 synthetic ones, if `None`).
    - `size`: if given, images are resized (antialiased linear) to `size x size`.
    """
    images = read_images(spec)
    k_make, k_pick = jr.split(key)
    if images is None:
        _, _, rest = spec.partition(":")
        side = int(rest) if rest else (size or 16)
        return synthetic_images(k_make, n or 2048, size=side)
    if n is not None and n < images.shape[0]:
        idx = np.sort(np.asarray(jr.choice(k_pick, images.shape[0], (n,), replace=False)))
        images = images[idx]
    out = jnp.asarray(images)
    if size is not None and out.shape[1:3] != (size, size):
        out = jax.image.resize(out, (out.shape[0], size, size, out.shape[3]), "linear")
    return out
