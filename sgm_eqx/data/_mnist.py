"""MNIST from a local directory (never downloaded) and the paper's MNIST protocols (Sec. 4)."""

import gzip
import math
import os
import pathlib

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._frame import pixel_centres, to_pixel
from ._dataset import SPLITS, Dataset

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_MISSING = (
    "`load_mnist(directory={dir!r})`: no MNIST files found. sgm_eqx never downloads data. "
    "Put the IDX files `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, "
    "`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz` (gzipped or not; the test pair "
    "alone is enough) or a `mnist.npz` with arrays `x_train`, `y_train`, `x_test`, `y_test` "
    "(Keras layout; the test pair alone is enough) into that directory."
)


def _read_idx(path: pathlib.Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): magic 0x0000 08 ndim, big-endian sizes, uint8."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"`load_mnist`: {path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise ValueError(f"`load_mnist`: {path} holds {body.size} values; its header says {dims}.")
    return body.reshape(dims)


def _find(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).exists():
            return directory / name
    return None


def _load_raw(directory: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw = {}
    npz = directory / "mnist.npz"
    if npz.exists():
        with np.load(npz) as f:
            for part in ("train", "test"):
                if f"x_{part}" in f and f"y_{part}" in f:
                    raw[part] = (f[f"x_{part}"], f[f"y_{part}"])
    for part, (img_stem, lab_stem) in _FILES.items():
        if part in raw:
            continue
        img, lab = _find(directory, img_stem), _find(directory, lab_stem)
        if img is not None and lab is not None:
            raw[part] = (_read_idx(img), _read_idx(lab))
    return raw


def load_mnist(directory: str | os.PathLike) -> Dataset:
    """Load MNIST from local files, with the paper's deterministic splits.

    Looks in `directory` for `mnist.npz` (`x_train`, `y_train`, `x_test`, `y_test`) or the
    IDX files (`train-images-idx3-ubyte[.gz]`, ... `t10k-labels-idx1-ubyte[.gz]`). Nothing is
    ever downloaded; if nothing is found, a `FileNotFoundError` says what to put where.

    **Splits** (App. C.1): of the 60k training images the first 50k are `train` and the last
    10k `val`; the 10k `t10k` images are `test`. If only the test files are present (as in a
    CI cache), the 10k test images are split into 8k `train`, 1k `val`, 1k `test`.

    **Returns:** a [`sgm_eqx.data.Dataset`][] with float32 images `(N, 28, 28, 1)` in `[0, 1]`
    and int32 digit labels.
    """
    path = pathlib.Path(directory)
    raw = _load_raw(path) if path.is_dir() else {}
    if not raw:
        raise FileNotFoundError(_MISSING.format(dir=str(directory)))
    images, labels, split = [], [], []
    for part in ("train", "test"):
        if part not in raw:
            continue
        x, y = raw[part]
        if x.ndim != 3 or y.shape != (x.shape[0],):
            raise ValueError(
                f"`load_mnist`: expected {part} images (N, 28, 28) and labels (N,); got "
                f"{x.shape} and {y.shape}."
            )
        n = x.shape[0]
        codes = np.full(n, SPLITS[part], np.int32)
        if part == "train":
            codes[n - min(10_000, n // 6) :] = SPLITS["val"]
        elif "train" not in raw:
            n_hold = n // 10
            codes[:] = SPLITS["train"]
            codes[n - 2 * n_hold : n - n_hold] = SPLITS["val"]
            codes[n - n_hold :] = SPLITS["test"]
        images.append(x)
        labels.append(y)
        split.append(codes)
    x = np.concatenate(images).astype(np.float32)[..., None] / 255.0
    return Dataset(
        images=jnp.asarray(x),
        labels=jnp.asarray(np.concatenate(labels).astype(np.int32)),
        latents=None,
        split=jnp.asarray(np.concatenate(split)),
        name=f"mnist({directory})",
    )


def _rotate_one(image: Float[Array, "H W C"], angle: Float[Array, ""]) -> Float[Array, "H W C"]:
    """Rotate content counter-clockwise by `angle` (radians) about the image centre (bilinear)."""
    h, w, _ = image.shape
    # Output pixel p (normalised, y up) takes the input value at R(-angle) p.
    xc, yc = pixel_centres(h, w)
    x, y = (jnp.asarray(v, jnp.float32) for v in np.meshgrid(xc, yc))
    c, s = jnp.cos(angle), jnp.sin(angle)
    src_r, src_c = to_pixel(c * x + s * y, -s * x + c * y, h, w)
    return jnp.stack(
        [
            jax.scipy.ndimage.map_coordinates(image[..., k], [src_r, src_c], order=1, cval=0.0)
            for k in range(image.shape[-1])
        ],
        axis=-1,
    )


def add_rotation(
    key: PRNGKeyArray, images: Float[Array, "N H W C"], max_degrees: float
) -> Float[Array, "N H W C"]:
    """Rotate every image once by an angle drawn uniformly from `[-max_degrees, max_degrees]`.

    The paper's "added rotation" protocol (Sec. 4): each example gets ONE fixed rotation, so
    this is not data augmentation. Rotation is counter-clockwise on screen for positive angles,
    about the image centre, with bilinear interpolation and zero fill (outputs stay in `[0, 1]`).
    """
    if not math.isfinite(max_degrees) or max_degrees < 0:
        raise ValueError(
            f"`add_rotation(max_degrees=...)`: expected a finite angle >= 0; got {max_degrees}."
        )
    angles = jr.uniform(key, (images.shape[0],), minval=-1.0, maxval=1.0)
    angles = angles * math.radians(max_degrees)
    return jax.jit(jax.vmap(_rotate_one))(images, angles)


def _hsv_to_rgb_turns(h, s, v):
    """HSV (hue in turns) to RGB; the standard piecewise-linear formula."""

    def f(n):
        k = jnp.mod(n + 6.0 * h, 6.0)
        return v - v * s * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)

    return jnp.stack([f(5.0), f(3.0), f(1.0)], axis=-1)


def colorize_mnist(
    key: PRNGKeyArray,
    images: Float[Array, "N H W C"],
    *,
    max_hue: float = 0.3,
    saturation_range: tuple[float, float] = (0.6, 0.9),
) -> Float[Array, "N H W 3"]:
    """The paper's colour-MNIST protocol (Sec. 4), applied once per example.

    `images` must be grey, `(N, H, W, 1)` in `[0, 1]`; the output is `(N, H, W, 3)`.

    Grey values become the red channel (`(g, 0, 0)`: hue 0, saturation 1, value g), then each
    image gets a hue shift drawn from `U(0, max_hue)` **in turns** (the default 0.3 turns is
    the paper's 0.6π rad) and its saturation multiplied by a factor from
    `U(*saturation_range)`. Returns RGB in `[0, 1]`.
    """
    if images.shape[-1] != 1:
        raise ValueError(
            f"`colorize_mnist(images=...)`: expected grey images (N, H, W, 1); got {images.shape}."
        )
    lo, hi = saturation_range
    if not (0.0 <= lo <= hi <= 1.0):
        raise ValueError(
            f"`colorize_mnist(saturation_range=...)`: expected 0 <= low <= high <= 1; got "
            f"{saturation_range}."
        )
    k_hue, k_sat = jr.split(key)
    n = images.shape[0]
    hue = jr.uniform(k_hue, (n, 1, 1), minval=0.0, maxval=max_hue)
    sat = jr.uniform(k_sat, (n, 1, 1), minval=lo, maxval=hi)
    v = images[..., 0]
    return _hsv_to_rgb_turns(jnp.broadcast_to(hue, v.shape), jnp.broadcast_to(sat, v.shape), v)
