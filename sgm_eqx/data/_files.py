"""A user's own data: `.npz` files and folders of images, checked before anything runs.

Everything here works on NumPy arrays and raises a `ValueError` / `FileNotFoundError` that
names the file and says how to fix it *before* any array reaches JAX, so a bad file never
surfaces as a shape error deep inside a jitted training step.
"""

import os
import pathlib
import zipfile
from collections.abc import Mapping

import jax
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from ._dataset import SPLITS, Dataset

#: File suffixes read by [`sgm_eqx.data.load_image_folder`][] (through Pillow).
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
)

#: Keys of the original dSprites archive (`dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`).
_DSPRITES_KEYS = ("imgs", "latents_values")


def check_images(arr: np.ndarray, source: str) -> np.ndarray:
    """Validate raw images and return them as float32 `(N, H, W, C)` in `[0, 1]`.

    Accepts `(N, H, W)` or `(N, H, W, C)` arrays of `bool`, 8-bit integers (divided by 255),
    other integers with values in `[0, 255]` (likewise), or finite floats in `[0, 1]`.
    Channels-first arrays `(N, C, H, W)` with `C` in 1, 3, 4 are refused with the
    `np.moveaxis` call that fixes them. `source` names the data in the messages.
    """
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"{source}: expected images of shape (N, H, W) or (N, H, W, C); got shape {arr.shape}."
        )
    n, h, _, c = arr.shape
    if h in (1, 3, 4) and c not in (1, 3, 4) and arr.shape[2] > 4:
        raise ValueError(
            f"{source}: shape {arr.shape} looks channels-first (N, C, H, W); sgm_eqx expects "
            "channels last (N, H, W, C). Fix: images = np.moveaxis(images, 1, -1)."
        )
    if arr.dtype == np.bool_ or arr.size == 0:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{source}: integer images must be 8-bit values in [0, 255]; got range "
                f"[{lo}, {hi}]. Rescale them, e.g. to floats in [0, 1]."
            )
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{source}: expected float or integer images; got dtype {arr.dtype}.")
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.nonzero(~finite.reshape(n, -1).all(axis=1))[0]
        raise ValueError(
            f"{source}: {int((~finite).sum())} non-finite pixels (NaN or inf) in "
            f"{len(bad)} images, first at index {int(bad[0])}. Remove or repair those images."
        )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        hint = (
            " They look like 8-bit values: divide by 255."
            if lo >= 0.0 and hi <= 255.0
            else " Rescale them to [0, 1]."
        )
        raise ValueError(
            f"{source}: float images must lie in [0, 1]; got range [{lo:.4g}, {hi:.4g}].{hint}"
        )
    return arr


def _check_rows(name: str, value: np.ndarray, n: int, source: str, ndim: int) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim != ndim or value.shape[0] != n:
        want = "(N,)" if ndim == 1 else "(N, L)"
        raise ValueError(
            f"{source}: `{name}` must have shape {want} with N = {n} (one row per image); got "
            f"{value.shape}."
        )
    return value


def _split_array(split: np.ndarray, n: int, source: str) -> np.ndarray:
    split = _check_rows("split", split, n, source, 1)
    if split.dtype.kind in "US":
        names = np.char.lower(split.astype(str))
        unknown = sorted(set(names.tolist()) - set(SPLITS))
        if unknown:
            raise ValueError(
                f"{source}: `split` holds {unknown}; expected the names {list(SPLITS)} or the "
                "codes 0 (train), 1 (val), 2 (test)."
            )
        return np.asarray([SPLITS[s] for s in names], np.int32)
    if not np.issubdtype(split.dtype, np.integer) or not np.isin(split, (0, 1, 2)).all():
        raise ValueError(
            f"{source}: `split` must hold the codes 0 (train), 1 (val), 2 (test) or their "
            f"names; got values {sorted(set(np.unique(split).tolist()))[:6]}."
        )
    return split.astype(np.int32)


def _rng(key: PRNGKeyArray, salt: int) -> np.random.Generator:
    """A NumPy generator seeded by the bits of `key` and `salt`.

    Shuffles and subsets of loaded files use NumPy rather than `jax.random`, so loading and
    checking a user's data compiles nothing: a bad file fails in milliseconds.
    """
    return np.random.default_rng([*np.asarray(jr.key_data(key)).ravel().tolist(), salt])


def shuffled_split(
    n: int, key: PRNGKeyArray | None, *, val_fraction: float, test_fraction: float
) -> np.ndarray:
    """Split codes for `n` examples: the last val, then test fractions, shuffled with `key`.

    With `key=None` the blocks stay contiguous (the last examples are val, then test), as
    for data whose order is already random.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{name}`: expected a fraction in [0, 1); got {value}.")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val={val_fraction} + test={test_fraction} leaves no training data; keep their "
            "sum below 1."
        )
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    codes = np.zeros(n, np.int32)
    codes[n - n_test - n_val : n - n_test] = SPLITS["val"]
    codes[n - n_test :] = SPLITS["test"]
    if key is None:
        return codes
    return codes[_rng(key, 0).permutation(n)]


def _subset_index(n_total: int, n: int | None, key: PRNGKeyArray | None, source: str):
    if n is None or n >= n_total:
        return None
    if n < 1:
        raise ValueError(f"{source}: `n={n}`: expected a positive number of examples.")
    if key is None:
        return np.arange(n)
    return np.sort(_rng(key, 1).permutation(n_total)[:n])


def _open_npz(path: pathlib.Path, source: str):
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such file {str(path)!r}.")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(
            f"{source}: {str(path)!r} is not a readable .npz archive ({err}); write it with "
            "np.savez(path, images=...)."
        ) from None


def _read_npz(path: pathlib.Path, *, n: int | None, key: PRNGKeyArray | None) -> dict:
    """Raw checked arrays of one `.npz` file (images float32 `(N, H, W, C)`)."""
    source = f"npz file {str(path)!r}"
    with _open_npz(path, source) as f:
        files = set(f.files)
        try:
            if "images" not in files and all(k in files for k in _DSPRITES_KEYS):
                return _read_dsprites_archive(f, source, n=n, key=key)
            if "images" not in files:
                raise ValueError(
                    f"{source}: expected an array named `images` (or the original dSprites "
                    f"`imgs` and `latents_values`); found {sorted(files)}."
                )
            raw = f["images"]
            if raw.ndim == 0 or raw.shape[0] == 0:
                raise ValueError(f"{source}: `images` holds no images (shape {raw.shape}).")
            index = _subset_index(raw.shape[0], n, key, source)
            take = (lambda a: a) if index is None else (lambda a: np.asarray(a)[index])
            out = {"images": check_images(take(raw), source)}
            m = out["images"].shape[0]
            if "labels" in files:
                labels = _check_rows("labels", take(f["labels"]), m, source, 1)
                if not np.issubdtype(labels.dtype, np.integer):
                    raise ValueError(
                        f"{source}: `labels` must be integers; got dtype {labels.dtype}."
                    )
                out["labels"] = labels
            if "latents" in files:
                out["latents"] = _check_rows("latents", take(f["latents"]), m, source, 2)
            if "split" in files:
                out["split"] = _split_array(take(f["split"]), m, source)
            return out
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise ValueError(f"{source}: the archive is damaged ({err}).") from None


def _read_dsprites_archive(f, source: str, *, n: int | None, key) -> dict:
    """The original dSprites archive: `imgs` `(737280, 64, 64)` and `latents_values` `(., 6)`.

    `latents_values` columns are (color, shape 1..3, scale, orientation, posX, posY); they
    become our `(shape 0..2, scale, orientation, x, y)` as stored (posX/posY unchanged).
    """
    imgs = f["imgs"]
    index = _subset_index(imgs.shape[0], n, key, source)
    if index is not None:
        imgs = imgs[index]
    values = np.asarray(f["latents_values"])
    if values.ndim != 2 or values.shape[1] != 6:
        raise ValueError(
            f"{source}: `latents_values` must be (N, 6) (color, shape, scale, orientation, "
            f"posX, posY); got {values.shape}."
        )
    if index is not None:
        values = values[index]
    imgs = np.asarray(imgs)
    if imgs.max(initial=0) > 1:
        raise ValueError(
            f"{source}: `imgs` of the dSprites archive should be binary (0/1); got values up to "
            f"{int(imgs.max())}."
        )
    images = check_images(imgs.astype(bool), source)  # stored as 0/1 bytes, not 0/255
    values = _check_rows("latents_values", values, images.shape[0], source, 2)
    shape = np.round(values[:, 1]).astype(np.int32) - 1
    latents = np.concatenate([shape[:, None], values[:, 2:6]], axis=1).astype(np.float32)
    return {"images": images, "labels": shape, "latents": latents, "dsprites_file": True}


def load_npz(
    path: str | os.PathLike | Mapping[str, str | os.PathLike],
    key: PRNGKeyArray | None = None,
    *,
    n: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Load images from `.npz` files as a [`sgm_eqx.data.Dataset`][], checking them first.

    **One file** holds `images` (`(N, H, W)` or `(N, H, W, C)`, channels last; uint8, or
    floats in `[0, 1]`) and optional `labels` `(N,)`, `latents` `(N, L)` and `split` `(N,)`
    (codes 0/1/2 or the names `train`/`val`/`test`). Without `split`, `val_fraction` and
    `test_fraction` of the examples, drawn at random with `key` (contiguous trailing blocks
    when `key` is `None`), form the val and test splits. The original dSprites archive
    (`imgs`, `latents_values`) is recognised: labels are the shape (0 square, 1 ellipse,
    2 heart) and latents `(shape, scale, orientation, posX, posY)` as stored in the file.

    **Several files**: a dict `{"train": path, "val": path, "test": path}` (`val`, `test`
    optional) gives each file's examples that split; a `split` array inside is ignored.

    **Arguments:**

    - `path`: the file, or the dict of files per split.
    - `key`: typed PRNG key of the default split and of the `n` subset.
    - `n`: keep a random subset of `n` examples of each file (all when `None`).
    - `val_fraction`, `test_fraction`: sizes of the default val and test splits.

    **Returns:** a `Dataset`; images keep the file's order.
    """
    if isinstance(path, Mapping):
        unknown = sorted(set(path) - set(SPLITS))
        if unknown or "train" not in path:
            raise ValueError(
                f"`load_npz(path={path!r})`: expected files for `train` and optionally `val`, "
                f"`test`; got {sorted(path)}."
            )
        parts = {s: _read_npz(pathlib.Path(p), n=n, key=key) for s, p in path.items()}
        shapes = {s: p["images"].shape[1:] for s, p in parts.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"npz files: every split must have one image shape; got {shapes}.")
        for extra in ("labels", "latents"):
            if len({extra in p for p in parts.values()}) > 1:
                raise ValueError(f"npz files: `{extra}` must be in all files or in none.")
        cat = lambda k: np.concatenate([p[k] for p in parts.values()])  # noqa: E731
        split = np.concatenate(
            [np.full(p["images"].shape[0], SPLITS[s], np.int32) for s, p in parts.items()]
        )
        first = next(iter(parts.values()))
        raw = {
            "images": cat("images"),
            "labels": cat("labels") if "labels" in first else None,
            "latents": cat("latents") if "latents" in first else None,
            "split": split,
        }
        name = "npz(" + ",".join(f"{s}={p}" for s, p in path.items()) + ")"
    else:
        raw = _read_npz(pathlib.Path(path), n=n, key=key)
        name = ("dsprites-file(" if raw.get("dsprites_file") else "npz(") + f"{path})"
    images = raw["images"]
    split = raw.get("split")
    if split is None:
        split = shuffled_split(
            images.shape[0], key, val_fraction=val_fraction, test_fraction=test_fraction
        )
    labels, latents = raw.get("labels"), raw.get("latents")
    return _dataset(images, labels, latents, split, name)


def _dataset(images, labels, latents, split, name: str) -> Dataset:
    """A `Dataset` from NumPy arrays (`jax.device_put`: no compilation)."""

    def put(a, dtype):
        return jax.device_put(np.asarray(a, dtype))

    return Dataset(
        images=put(images, np.float32),
        labels=None if labels is None else put(labels, np.int32),
        latents=None if latents is None else put(latents, np.float32),
        split=put(split, np.int32),
        name=name,
    )


def _image_files(directory: pathlib.Path) -> tuple[list[pathlib.Path], list[int] | None, list]:
    """Image files of `directory` (flat) or of its class sub-folders, in sorted order."""

    def images_in(d: pathlib.Path) -> list[pathlib.Path]:
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    top = images_in(directory)
    subdirs = sorted(d for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = [d for d in subdirs if images_in(d)]
    if top and classes:
        raise ValueError(
            f"image folder {str(directory)!r}: holds images both at the top level and in "
            f"sub-folders ({[d.name for d in classes][:5]}); use one flat folder, or one "
            "sub-folder per class."
        )
    if top:
        return top, None, []
    if not classes:
        raise ValueError(
            f"image folder {str(directory)!r}: no images found (looked for "
            f"{', '.join(IMAGE_SUFFIXES)} files there and in its sub-folders)."
        )
    files, labels = [], []
    for label, d in enumerate(classes):
        for p in images_in(d):
            files.append(p)
            labels.append(label)
    return files, labels, [d.name for d in classes]


def load_image_folder(
    directory: str | os.PathLike,
    key: PRNGKeyArray | None = None,
    *,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    n: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Read a folder of images (PNG, JPEG, ...) with Pillow as a [`sgm_eqx.data.Dataset`][].

    Either a flat folder of images (no labels) or one sub-folder per class (labels are the
    sub-folders' indices in sorted name order). Files are read in sorted order.

    **Arguments:**

    - `directory`: the folder.
    - `key`: typed PRNG key of the random val/test split (contiguous trailing blocks if `None`)
      and of the `n` subset.
    - `size`: resize every image to `size x size` (or `(H, W)`) with Pillow's antialiased
      bilinear filter. `None` keeps the files' size, which must then be the same for all.
    - `channels`: 1 (grey, `L`) or 3 (`RGB`; transparency is composited onto black). `None`:
      1 if every file is grey, else 3.
    - `n`: read a random subset of `n` files.
    - `val_fraction`, `test_fraction`: sizes of the val and test splits.

    **Returns:** a `Dataset` with float32 images in `[0, 1]`.
    """
    from PIL import Image, UnidentifiedImageError

    directory = pathlib.Path(directory)
    source = f"image folder {str(directory)!r}"
    if not directory.is_dir():
        raise FileNotFoundError(f"{source}: no such directory.")
    if channels not in (None, 1, 3):
        raise ValueError(f"{source}: `channels={channels}`: expected 1 or 3.")
    if isinstance(size, int):
        size = (size, size)
    if size is not None and not all(isinstance(s, int) and s >= 4 for s in size):
        raise ValueError(f"{source}: `size={size}`: expected a side of at least 4 pixels.")
    files, labels, _ = _image_files(directory)
    index = _subset_index(len(files), n, key, source)
    if index is not None:
        files = [files[i] for i in index]
        labels = None if labels is None else [labels[i] for i in index]
    opened = []
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{source}: cannot read {str(p)!r} as an image ({err}).") from None
    if channels is None:
        channels = 1 if all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in opened) else 3
    sizes = {im.size for im in opened}
    if size is None and len(sizes) > 1:
        raise ValueError(
            f"{source}: the images have {len(sizes)} different sizes (e.g. "
            f"{sorted(sizes)[:3]} as width x height); state one with `size=S` in the spec, "
            "e.g. png:DIR:size=32."
        )
    arrays = []
    for im in opened:
        if im.mode in ("RGBA", "LA", "P", "PA"):
            rgba = im.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            im = Image.alpha_composite(background, rgba)
        im = im.convert("L" if channels == 1 else "RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR, reducing_gap=None)
        arr = np.asarray(im, np.uint8)
        arrays.append(arr[..., None] if arr.ndim == 2 else arr)
    images = np.stack(arrays).astype(np.float32) / 255.0
    split = shuffled_split(len(images), key, val_fraction=val_fraction, test_fraction=test_fraction)
    return _dataset(images, labels, None, split, f"images({directory})")
