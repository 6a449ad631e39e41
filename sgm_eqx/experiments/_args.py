"""Argument helpers shared by the `sgm-eqx` commands."""

import argparse
import ast
import dataclasses

from ..train import TrainConfig


def add_data_argument(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """`--data SPEC` and `--seed` (see [`sgm_eqx.data.load_data`][])."""
    parser.add_argument(
        "--data",
        required=required,
        metavar="SPEC",
        help="dataset spec: dsprites[:size=32,n=4000], mnist:DIR[:rotation=DEG], "
        "mnist-color:DIR, npz:PATH (or a .npz path)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the run's PRNG key (data, model, sampling)"
    )


def parse_value(text: str):
    """A Python literal (`3`, `1e-3`, `(0.5, 0.5)`, `True`) or, failing that, the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply `section.field=value` overrides through `dataclasses.replace`.

    Sections are `model`, `inference` and `flow`; a bare `field=value` sets a top-level
    field such as `val_every=0`.
    """
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"`--set {item}`: expected `section.field=value`.")
        section, dot, field = name.strip().partition(".")
        parsed = parse_value(value)
        if isinstance(parsed, list):
            parsed = tuple(parsed)
        if not dot:
            field, section = section, ""
        if section and section not in ("model", "inference", "flow"):
            raise ValueError(
                f"`--set {item}`: unknown section {section!r}; expected model, inference or flow."
            )
        target = getattr(config, section) if section else config
        names = {f.name for f in dataclasses.fields(target)}  # pyright: ignore[reportArgumentType]
        if field not in names:
            raise ValueError(
                f"`--set {item}`: {section or 'TrainConfig'} has no field {field!r}; "
                f"fields: {sorted(names)}."
            )
        if isinstance(getattr(target, field), float) and isinstance(parsed, int):
            parsed = float(parsed)
        new = dataclasses.replace(target, **{field: parsed})  # pyright: ignore[reportArgumentType]
        config = dataclasses.replace(config, **{section: new}) if section else new
    return config
