"""`load_data`: one parser for every data spec string used by the command line."""

import os
import pathlib

import numpy as np
from jaxtyping import PRNGKeyArray

from ._dataset import Dataset, as_dataset
from ._dsprites import make_dsprites
from ._mnist import add_rotation, colorize_mnist, load_mnist
from ._poses import make_pose_dataset

_HELP = (
    "expected one of `dsprites[:size=64,n=20000,supersample=4]`, "
    "`poses[:suite=rotations,size=32,n=6000]`, `mnist:DIR[:rotation=DEG]`, "
    "`mnist-color:DIR`, `npz:PATH` or a path to an `.npz` file"
)


def _options(text: str, spec: str, allowed: dict[str, type]) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise ValueError(
                f"`load_data(spec={spec!r})`: unknown option {item!r}; allowed options are "
                f"{sorted(allowed)} as `name=value`."
            )
        try:
            out[name] = allowed[name](value)
        except ValueError:
            raise ValueError(
                f"`load_data(spec={spec!r})`: option {name}={value!r} is not a valid "
                f"{allowed[name].__name__}."
            ) from None
    return out


def _split_path_options(rest: str) -> tuple[str, str]:
    """`DIR[:opts]` -> (DIR, opts); options are the last `:`-part if it contains `=`."""
    head, sep, tail = rest.rpartition(":")
    if sep and "=" in tail:
        return head, tail
    return rest, ""


def load_npz(path: str | os.PathLike) -> Dataset:
    """Load a `.npz` file of images as a [`sgm_eqx.data.Dataset`][].

    The file holds `images` (`(N, H, W, C)` or `(N, H, W)`; floats in `[0, 1]` or
    uint8) and optional `labels` `(N,)` and `latents` `(N, L)`; see
    [`sgm_eqx.data.as_dataset`][] for the splits.
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"`load_npz(path={str(path)!r})`: no such file.")
    with np.load(p) as f:
        if "images" not in f:
            raise ValueError(
                f"`load_npz(path={str(path)!r})`: expected an array named `images`; found "
                f"{sorted(f.files)}."
            )
        labels = f["labels"] if "labels" in f else None
        latents = f["latents"] if "latents" in f else None
        return as_dataset(f["images"], labels, latents=latents, name=f"npz({path})")


def load_data(spec: "str | Dataset | np.ndarray", key: PRNGKeyArray) -> Dataset:
    """Build a [`sgm_eqx.data.Dataset`][] from a spec string (or pass arrays through).

    **Specs:**

    - `dsprites[:size=64,n=20000,supersample=4]`: procedural dSprites
      ([`sgm_eqx.data.make_dsprites`][]), deterministic given `key`.
    - `poses[:suite=rotations,size=32,n=6000]`: a procedural pose suite with known per-class
      transformations ([`sgm_eqx.data.make_pose_dataset`][]; suites `rotations`,
      `positions`).
    - `mnist:DIR[:rotation=DEG]`: MNIST from local files ([`sgm_eqx.data.load_mnist`][]),
      optionally with the "added rotation" protocol (one fixed angle in `[-DEG, DEG]` per
      example, drawn with `key`).
    - `mnist-color:DIR[:max_hue=0.3]`: colour MNIST ([`sgm_eqx.data.colorize_mnist`][]; hue in
      turns).
    - `npz:PATH` or any path ending in `.npz`: [`sgm_eqx.data.load_npz`][].
    - a `Dataset` is returned unchanged; an `(N, H, W, C)` array goes through
      [`sgm_eqx.data.as_dataset`][].

    **Arguments:**

    - `spec`: the spec.
    - `key`: typed PRNG key for random generation / protocols (unused by fixed data).

    **Returns:** a `Dataset`.
    """
    if isinstance(spec, Dataset):
        return spec
    if not isinstance(spec, str):
        return as_dataset(spec)
    kind, _, rest = spec.partition(":")
    if kind == "dsprites":
        opts = _options(rest, spec, {"size": int, "n": int, "supersample": int})
        n = opts.pop("n", 20_000)
        return make_dsprites(key, n, **opts)
    if kind == "poses":
        opts = _options(rest, spec, {"suite": str, "size": int, "n": int, "supersample": int})
        n = opts.pop("n", 6000)
        return make_pose_dataset(key, n, **opts)
    if kind in ("mnist", "mnist-color"):
        directory, opt_text = _split_path_options(rest)
        if not directory:
            raise ValueError(f"`load_data(spec={spec!r})`: missing the directory; {_HELP}.")
        if kind == "mnist":
            opts = _options(opt_text, spec, {"rotation": float})
            data = load_mnist(directory)
            if opts.get("rotation", 0.0) > 0:
                images = add_rotation(key, data.images, opts["rotation"])
                data = Dataset(
                    images=images,
                    labels=data.labels,
                    latents=None,
                    split=data.split,
                    name=f"{data.name}+rotation({opts['rotation']})",
                )
            return data
        opts = _options(opt_text, spec, {"max_hue": float})
        data = load_mnist(directory)
        images = colorize_mnist(key, data.images, **opts)
        return Dataset(
            images=images,
            labels=data.labels,
            latents=None,
            split=data.split,
            name=f"{data.name}+color",
        )
    if kind == "npz":
        return load_npz(rest)
    if spec.endswith(".npz"):
        return load_npz(spec)
    raise ValueError(f"`load_data(spec={spec!r})`: {_HELP}.")
