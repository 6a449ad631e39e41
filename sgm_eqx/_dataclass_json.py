"""JSON for the flat, frozen configuration dataclasses (`DetectConfig`, `ELBOConfig`)."""

import dataclasses
import json
from typing import Any, TypeVar

_C = TypeVar("_C")


def to_json(config) -> str:
    """`config`'s fields as an indented JSON object (tuples become lists)."""
    return json.dumps(dataclasses.asdict(config), indent=2)


def from_json(cls: type[_C], text: str) -> _C:
    """An instance of the dataclass `cls` from `to_json`'s output.

    Lists become tuples; unknown keys raise a `ValueError` that lists the fields, and the
    dataclass's own checks run as usual.
    """
    raw = json.loads(text)
    name = cls.__name__
    if not isinstance(raw, dict):
        raise ValueError(f"`{name}.from_json`: expected a JSON object; got {type(raw).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}  # pyright: ignore[reportArgumentType]
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(
            f"`{name}.from_json`: unknown {name} fields {unknown}; fields: {sorted(names)}."
        )
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return cls(**kwargs)
