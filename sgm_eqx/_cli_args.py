"""Command-line helpers that need nothing from the library: user errors, flag types, paths.

Shared by every command (`sgm_eqx.experiments`, `sgm_eqx.detect`); the helpers that read
data specs and configurations live in `sgm_eqx.experiments._args`.
"""

import argparse
import ast
import contextlib
import dataclasses
import os
import pathlib
import re
import typing


class CommandError(Exception):
    """A user error of an `sgm-eqx` command.

    `sgm_eqx._cli.main` prints it as one line, `sgm-eqx: error: MESSAGE`, and exits with
    status 2. The message names the flag or file and says what to do.
    """


_PREFIX = re.compile(r"^`[^`]*`:\s*")


@contextlib.contextmanager
def blame(flag: str, value=None):
    """Re-raise library errors inside the block as a `CommandError` naming `flag`.

    The library's own prefix (`` `load_data(spec='x')`: ``) is replaced by the flag and its
    value, e.g. `--data x: ...`.
    """
    try:
        yield
    except CommandError:
        raise
    except (ValueError, TypeError, OSError, EOFError, KeyError) as err:
        text = " ".join(str(err).split()) or repr(err)
        where = flag if value is None else f"{flag} {value}"
        prefix = _PREFIX.match(text)
        if prefix and prefix.group(0).startswith(f"`{flag}"):
            # the library already named the flag and its values (`--set a=1`): keep them
            where = prefix.group(0).rstrip().rstrip(":").strip("`")
        raise CommandError(f"{where}: {_PREFIX.sub('', text)}") from err


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {value}")
    return value


def check_output_file(flag: str, path: str, suffix: str | None = None) -> pathlib.Path:
    """An output file path: not a directory, its parent creatable; nothing is created."""
    p = pathlib.Path(path)
    if p.is_dir():
        raise CommandError(f"{flag} {path}: is a directory; give a file name.")
    if suffix is not None and p.suffix != suffix:
        raise CommandError(f"{flag} {path}: expected a {suffix} file name.")
    _check_creatable(flag, p.parent)
    return p


def check_output_dir(flag: str, path: str) -> pathlib.Path:
    """An output directory path: not a file, creatable; nothing is created."""
    p = pathlib.Path(path)
    if p.exists() and not p.is_dir():
        raise CommandError(f"{flag} {path}: exists and is not a directory.")
    _check_creatable(flag, p)
    return p


def _check_creatable(flag: str, p: pathlib.Path) -> None:
    q = p.absolute()
    while not q.exists():
        q = q.parent
    if not q.is_dir():
        raise CommandError(f"{flag} {p}: {q} is a file, so the directory cannot be created.")
    if not os.access(q, os.W_OK):
        raise CommandError(f"{flag} {p}: {q} is not writable.")


def parse_value(text: str):
    """A Python literal (`3`, `1e-3`, `(0.5, 0.5)`, `True`) or, failing that, the string.

    `true`, `false` and `none` (any case) are the booleans and `None`: `--set
    model.inference_angle_readout=false` must not set the (truthy) string "false".
    """
    words = {"true": True, "false": False, "none": None}
    if text.strip().lower() in words:
        return words[text.strip().lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _holds_floats(cls: type, field: str) -> bool:
    """Whether the dataclass field is annotated `tuple[float, ...]` (possibly `| None`)."""
    hint = typing.get_type_hints(cls)[field]
    return hint == tuple[float, ...] or tuple[float, ...] in typing.get_args(hint)


def coerce_field(target, field: str, text: str, item: str, owner: str):
    """The value of `--set item` (`field=text`) for a field of the dataclass `target`.

    Parses `text` ([`parse_value`][sgm_eqx._cli_args.parse_value]; lists become tuples),
    makes an integer a float where the field holds floats, and refuses an unknown field or a
    non-boolean for a boolean field, with a message that names the `--set` item.
    `owner` names `target` in the messages (e.g. `model`, `DetectConfig`).
    """
    names = {f.name for f in dataclasses.fields(target)}
    if field not in names:
        raise ValueError(
            f"`--set {item}`: {owner} has no field {field!r}; fields: {sorted(names)}."
        )
    parsed = parse_value(text)
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    current = getattr(target, field)
    if isinstance(current, float) and type(parsed) is int:
        parsed = float(parsed)
    if isinstance(parsed, tuple) and _holds_floats(type(target), field):
        parsed = tuple(float(v) if type(v) is int else v for v in parsed)
    if isinstance(current, bool) and not isinstance(parsed, bool):
        name = item.partition("=")[0].strip()
        raise ValueError(f"`--set {item}`: {name} expects true or false; got {text!r}.")
    return parsed


def replace_fields(target, fields: dict[str, tuple[object, str]]):
    """`dataclasses.replace(target, **values)` for `fields = {name: (value, --set item)}`.

    All fields change together (a check that involves two fields sees both new values); an
    error the dataclass raises is re-raised naming the `--set` items it concerns.
    """
    try:
        return dataclasses.replace(target, **{f: v for f, (v, _) in fields.items()})
    except (ValueError, TypeError) as err:
        message = _PREFIX.sub("", str(err))
        named = [item for f, (_, item) in fields.items() if f"{f}=" in str(err)]
        items = " ".join(f"--set {item}" for item in named or [i for _, i in fields.values()])
        raise ValueError(f"`{items}`: {message}") from None


def set_fields(config, items: list[str], owner: str):
    """A flat dataclass `config` with the `--set FIELD=VALUE` `items` applied together."""
    fields: dict[str, tuple[object, str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"`--set {item}`: expected `FIELD=VALUE`.")
        fields[name.strip()] = (coerce_field(config, name.strip(), value, item, owner), item)
    return replace_fields(config, fields) if fields else config
