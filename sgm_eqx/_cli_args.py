"""Command-line helpers that need nothing from the library: user errors, flag types, paths.

Shared by every command (`sgm_eqx.experiments`, `sgm_eqx.detect`); the helpers that read
data specs and configurations live in `sgm_eqx.experiments._args`.
"""

import argparse
import ast
import contextlib
import os
import pathlib
import re


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
