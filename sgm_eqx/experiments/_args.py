"""Argument helpers shared by the `sgm-eqx` commands: flags, user errors, data and config checks.

Every check here runs on plain Python and NumPy values, before any JAX compilation, so a
bad invocation fails in well under a second with one line that names the flag.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

import numpy as np

from .._cli_args import (
    _PREFIX,
    CommandError as CommandError,
    blame as blame,
    check_output_dir as check_output_dir,
    check_output_file as check_output_file,
    coerce_field as coerce_field,
    non_negative_int as non_negative_int,
    parse_value as parse_value,
    positive_int as positive_int,
    replace_fields as replace_fields,
)
from ..data import DATA_SPEC_HELP, SPLITS, Dataset, load_data, parse_data_spec
from ..train import TrainConfig


def add_data_argument(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """`--data SPEC` and `--seed` (see [`sgm_eqx.data.load_data`][])."""
    parser.add_argument(
        "--data", required=required, metavar="SPEC", help=f"dataset spec: {DATA_SPEC_HELP}"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the run's PRNG key (data generation, random split, model, sampling)",
    )


def add_split_argument(parser: argparse.ArgumentParser) -> None:
    """`--split` with the allowed values."""
    parser.add_argument(
        "--split",
        default="test",
        choices=(*SPLITS, "all"),
        help="which examples: the data's train, val or test split, or all of them",
    )


def check_data_spec(spec: str) -> None:
    """Parse `--data` and check its files exist, without reading data (no JAX)."""
    with blame("--data", spec):
        parse_data_spec(spec)


def load_cli_data(spec: str, key) -> Dataset:
    """`load_data` with errors naming `--data`."""
    with blame("--data", spec):
        return load_data(spec, key)


def check_split(data: Dataset, split: str, flag: str = "--split") -> Dataset:
    """The examples of `split`, refusing an empty one; prints which examples are used."""
    codes = np.asarray(data.split)
    n_split = int((codes == SPLITS[split]).sum()) if split != "all" else len(data)
    if n_split == 0:
        counts = {s: int((codes == c).sum()) for s, c in SPLITS.items()}
        raise CommandError(
            f"{flag} {split}: the data {data.name} has no {split} examples (splits: {counts}); "
            "choose another --split, or `all`."
        )
    return data.subset(split)


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply `section.field=value` overrides through `dataclasses.replace`.

    Sections are `model`, `inference` and `flow`; a bare `field=value` sets a top-level
    field such as `val_every=0`. All overrides of one section are applied together, so
    their order does not matter (a check that involves two fields sees both new values).
    """
    changes: dict[str, dict[str, tuple[object, str]]] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"`--set {item}`: expected `section.field=value`.")
        section, dot, field = name.strip().partition(".")
        if not dot:
            field, section = section, ""
        if section and section not in ("model", "inference", "flow"):
            raise ValueError(
                f"`--set {item}`: unknown section {section!r}; expected model, inference or flow."
            )
        target = getattr(config, section) if section else config
        if not section and field in ("model", "inference", "flow"):
            raise ValueError(
                f"`--set {item}`: {field} is a section; set its fields, e.g. {field}.FIELD=VALUE."
            )
        changes.setdefault(section, {})[field] = (
            coerce_field(target, field, value, item, section or "TrainConfig"),
            item,
        )
    # the sections first, then the top level (whose own checks see the new sections)
    for section in sorted(changes, key=lambda s: s == ""):
        target = getattr(config, section) if section else config
        new = replace_fields(target, changes[section])
        config = dataclasses.replace(config, **{section: new}) if section else new
    return config


#: Number of η parameters of each `ModelConfig.action` (checked before building a model).
ACTION_PARAMS: dict[str, int] = {"affine": 5, "color": 3, "affine+color": 8}


def check_config_for_data(config: TrainConfig, image_shape, n_train: int, where: str) -> None:
    """Refuse a config that cannot train on this data, before anything compiles.

    Checks the channels the action needs (the colour actions need RGB), the lengths of
    `eta_bound` and `augment_bounds` against the action's parameter count, and each stage's
    batch size against the number of training images. `where` names the flag that set the
    config (`--preset NAME` or `--config FILE`).
    """
    m = config.model
    h, w, c = image_shape
    if m.action in ("color", "affine+color") and c != 3:
        raise CommandError(
            f"{where}: action {m.action!r} transforms RGB colours, but the data has {c} "
            f"channel{'s' if c != 1 else ''} (images {h}x{w}x{c}); use an affine preset "
            "(e.g. --preset cpu-small) or --set model.action='affine'."
        )
    n = ACTION_PARAMS[m.action]
    if m.eta_bound is not None and len(m.eta_bound) != n:
        raise CommandError(
            f"{where}: model.eta_bound has {len(m.eta_bound)} entries; action {m.action!r} "
            f"has {n} parameters. Fix with --set model.eta_bound=(...) ({n} values)."
        )
    for stage in ("inference", "flow"):
        sc = getattr(config, stage)
        if len(sc.augment_bounds) != n:
            raise CommandError(
                f"{where}: {stage}.augment_bounds has {len(sc.augment_bounds)} entries; action "
                f"{m.action!r} has {n} parameters. Fix with --set {stage}.augment_bounds=(...)."
            )
    if min(h, w) < 4:
        raise CommandError(f"--data: images of {h}x{w} pixels are too small (at least 4x4).")
    for stage in ("inference", "flow"):
        bs = getattr(config, stage).batch_size
        if bs > n_train:
            raise CommandError(
                f"--batch-size {bs} ({stage} stage) is larger than the training split "
                f"({n_train} images); use --batch-size {max(1, min(64, n_train))} or more data."
            )


def config_diff(old: TrainConfig, new: TrainConfig) -> list[tuple[str, object, object]]:
    """The fields that differ between two configs: `(section.field, old, new)`."""
    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            for f in sorted(set(va) | set(vb)):
                if va.get(f) != vb.get(f):
                    out.append((f"{key}.{f}", va.get(f), vb.get(f)))
        elif va != vb:
            out.append((key, va, vb))
    return out


def read_config_file(path: str) -> TrainConfig:
    """A `config.json` written by a run (or by hand), for `--config FILE`."""
    p = pathlib.Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise CommandError(f"--config {path}: no such file.")
    try:
        return TrainConfig.from_json(p.read_text())
    except json.JSONDecodeError as err:
        raise CommandError(f"--config {path}: not valid JSON ({err}).") from None
    except (KeyError, TypeError, ValueError) as err:
        text = _PREFIX.sub("", " ".join(str(err).split()))
        raise CommandError(
            f"--config {path}: not a TrainConfig ({type(err).__name__}: {text}); write one "
            "with `sgm-eqx train --print-config`."
        ) from None


def command_line(args: argparse.Namespace) -> str:
    """The command as given to `sgm_eqx._cli.main` (else `sys.argv`), shell-quoted."""
    import shlex

    argv = getattr(args, "_argv", None)
    argv = sys.argv[1:] if argv is None else argv
    return "sgm-eqx " + " ".join(shlex.quote(a) for a in argv)


def add_checkpoint_argument(parser: argparse.ArgumentParser) -> None:
    """`--checkpoint DIR` and `--which latest|best`."""
    parser.add_argument("--checkpoint", required=True, help="the --out directory of `train`")
    parser.add_argument(
        "--which",
        choices=("latest", "best"),
        default="latest",
        help="the newest checkpoint, or the one with the best validation loss",
    )


def check_checkpoint_dir(flag: str, path: str, which: str = "latest") -> TrainConfig:
    """Check a trained run's directory without loading it (no JAX).

    It must exist, hold a readable `config.json` and a checkpoint whose SHA-256 matches the
    index; the error names the file otherwise.

    **Returns:** the run's config.
    """
    from ..train._checkpoint import _candidates, verify_checkpoint

    d = pathlib.Path(path)
    if not d.is_dir():
        raise CommandError(
            f"{flag} {path}: no such directory; give the --out directory of `sgm-eqx train`."
        )
    with blame(flag, path):
        stages = [s for s in ("flow", "inference") if _candidates(d, s, "latest")]
        if not stages:
            raise CommandError(
                f"{flag} {path}: no checkpoint (flow.eqx or inference.eqx) there; run "
                f"`sgm-eqx train --out {path}` first."
            )
        candidates = _candidates(d, stages[0], which)  # pyright: ignore[reportArgumentType]
        if not candidates:
            raise CommandError(
                f"{flag} {path}: no best-by-validation {stages[0]} checkpoint (the run had no "
                "validation data); use --which latest."
            )
        cfg = d / "config.json"
        if not cfg.is_file():
            raise CommandError(f"{flag} {path}: {cfg.name} is missing, so the model is unknown.")
        config = TrainConfig.from_json(cfg.read_text())
        file, digest = candidates[0]
        why = verify_checkpoint(file, digest)
        if why is not None:
            older = (
                " An older checkpoint remains: rerun the run's `sgm-eqx train` command to "
                "resume from it."
                if len(candidates) > 1
                else ""
            )
            raise CommandError(f"{flag} {path}: checkpoint {file} is unusable: {why}.{older}")
    return config


def check_data_matches(config: TrainConfig, data: Dataset, args: argparse.Namespace) -> None:
    """The data's image shape must be the one the checkpoint's model was trained on."""
    if tuple(data.image_shape) != tuple(config.model.image_shape):
        raise CommandError(
            f"--data {args.data}: images of shape {tuple(data.image_shape)}, but the model in "
            f"--checkpoint {args.checkpoint} was trained on {tuple(config.model.image_shape)}; "
            "give the data it was trained on (or resize it to that shape)."
        )
