"""`load_data`: one parser for every data spec string used by the command line."""

import dataclasses
import pathlib

import numpy as np
from jaxtyping import PRNGKeyArray

from ._dataset import Dataset, as_dataset
from ._dsprites import make_dsprites
from ._files import load_image_folder, load_npz
from ._mnist import add_rotation, colorize_mnist, load_mnist
from ._poses import POSE_SUITES, make_pose_dataset

#: The data specs, as shown by `sgm-eqx ... --help` and in the error messages.
DATA_SPEC_HELP = (
    "dsprites[:size=64,n=20000,supersample=4] | poses[:suite=rotations|positions,size=32,n=6000] | "
    "mnist:DIR[:rotation=DEG] | "
    "mnist-color:DIR[:max_hue=0.3] | npz:FILE[:n=N,val=0.1,test=0.1] | "
    "npz:train=FILE,val=FILE[,test=FILE] | png:DIR[:size=S,channels=1|3,n=N,val=0.1,test=0.1] "
    "(images:DIR is the same) | FILE.npz"
)
_HELP = f"expected one of {DATA_SPEC_HELP}"

_SPLIT_OPTIONS = {"n": int, "val": float, "test": float}
_KINDS: dict[str, dict[str, type]] = {
    "dsprites": {"size": int, "n": int, "supersample": int},
    "poses": {"suite": str, "size": int, "n": int, "supersample": int, "val": float, "test": float},
    "mnist": {"rotation": float},
    "mnist-color": {"max_hue": float},
    "npz": _SPLIT_OPTIONS,
    "images": {**_SPLIT_OPTIONS, "size": int, "channels": int},
}


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A parsed data spec.

    `kind`, its `path` (a dict of paths per split for several npz files; `None` for
    dSprites) and `options`.
    """

    kind: str
    path: str | dict[str, str] | None
    options: dict


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
    for name in ("n", "size", "supersample", "channels"):
        if name in out and out[name] < 1:
            raise ValueError(f"`load_data(spec={spec!r})`: option {name} must be positive.")
    return out


def _split_path_options(rest: str) -> tuple[str, str]:
    """`DIR[:opts]` -> (DIR, opts); options are the last `:`-part if it contains `=`."""
    head, sep, tail = rest.rpartition(":")
    if sep and "=" in tail:
        return head, tail
    return rest, ""


def parse_data_spec(spec: str) -> DataSpec:
    """Parse and check a data spec string without reading any data.

    Checks the kind, the options and that the named files or directories exist; raises a
    `ValueError` / `FileNotFoundError` naming the spec otherwise. See
    [`sgm_eqx.data.load_data`][] for the specs.
    """
    kind, _, rest = spec.partition(":")
    if kind == "png":
        kind = "images"
    if kind not in _KINDS:
        if spec.endswith(".npz"):
            kind, rest = "npz", spec
        else:
            raise ValueError(f"`load_data(spec={spec!r})`: {_HELP}.")
    if kind in ("dsprites", "poses"):
        opts = _options(rest, spec, _KINDS[kind])
        if kind == "poses" and opts.get("suite", "rotations") not in POSE_SUITES:
            raise ValueError(
                f"`load_data(spec={spec!r})`: unknown pose suite {opts['suite']!r}; choose from "
                f"{sorted(POSE_SUITES)}."
            )
        return DataSpec(kind, None, opts)
    target, opt_text = _split_path_options(rest)
    opts = _options(opt_text, spec, _KINDS[kind])
    if not target:
        raise ValueError(f"`load_data(spec={spec!r})`: missing the file or directory; {_HELP}.")
    if kind == "npz" and "=" in target:
        files = _options(target, spec, {"train": str, "val": str, "test": str})
        if "train" not in files:
            raise ValueError(
                f"`load_data(spec={spec!r})`: separate npz files need at least `train=FILE`."
            )
        for path in files.values():
            if not pathlib.Path(path).is_file():
                raise FileNotFoundError(f"`load_data(spec={spec!r})`: no such file {path!r}.")
        return DataSpec(kind, files, opts)
    path = pathlib.Path(target)
    if kind == "npz" and not path.is_file():
        raise FileNotFoundError(f"`load_data(spec={spec!r})`: no such file {target!r}.")
    if kind == "images" and not path.is_dir():
        raise FileNotFoundError(f"`load_data(spec={spec!r})`: no such directory {target!r}.")
    if kind in ("mnist", "mnist-color") and not path.is_dir():
        raise FileNotFoundError(
            f"`load_data(spec={spec!r})`: no such directory {target!r}; it should hold the "
            "MNIST files (sgm_eqx never downloads data)."
        )
    return DataSpec(kind, target, opts)


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
    - `npz:FILE[:n=N,val=0.1,test=0.1]` or any path ending in `.npz`:
      [`sgm_eqx.data.load_npz`][]; the file's own `split` array if it has one, else `val`
      and `test` fractions drawn at random with `key`; `n` keeps a random subset.
    - `npz:train=FILE,val=FILE[,test=FILE]`: one file per split.
    - `png:DIR[:size=S,channels=C,n=N,val=0.1,test=0.1]` (or `images:DIR`): a folder of
      images, flat or one sub-folder per class ([`sgm_eqx.data.load_image_folder`][]).
    - a `Dataset` is returned unchanged; an `(N, H, W, C)` array goes through
      [`sgm_eqx.data.as_dataset`][].

    **Arguments:**

    - `spec`: the spec.
    - `key`: typed PRNG key for random generation, protocols and random splits.

    **Returns:** a `Dataset`.
    """
    if isinstance(spec, Dataset):
        return spec
    if not isinstance(spec, str):
        return as_dataset(spec)
    parsed = parse_data_spec(spec)
    opts = dict(parsed.options)
    split_kw = {
        "val_fraction": opts.pop("val", 0.1),
        "test_fraction": opts.pop("test", 0.1),
    }
    if parsed.kind == "dsprites":
        n = opts.pop("n", 20_000)
        return make_dsprites(key, n, **opts)
    if parsed.kind == "poses":
        n = opts.pop("n", 6000)
        return make_pose_dataset(key, n, **opts, **split_kw)
    if parsed.kind == "npz":
        assert parsed.path is not None  # a file, or files per split (parse_data_spec)
        return load_npz(parsed.path, key, n=opts.get("n"), **split_kw)
    if parsed.kind == "images":
        assert isinstance(parsed.path, str)  # one folder (parse_data_spec)
        return load_image_folder(parsed.path, key, **opts, **split_kw)
    directory = str(parsed.path)
    data = load_mnist(directory)
    if parsed.kind == "mnist":
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
    images = colorize_mnist(key, data.images, **opts)
    return Dataset(
        images=images,
        labels=data.labels,
        latents=None,
        split=data.split,
        name=f"{data.name}+color",
    )
