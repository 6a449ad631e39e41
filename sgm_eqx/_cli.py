"""The ``sgm-eqx`` command line.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``sgm-eqx --help`` is instant.

Errors: every exception a command raises is printed as one line, ``sgm-eqx: error: ...``.
User errors (a bad flag, file or dataset: ``CommandError``, ``ValueError``, ``TypeError``,
``OSError`` and their subclasses) exit with status 2, like argparse's own usage errors;
anything else is reported as an internal error with status 1. ``--debug`` (anywhere on the
command line) re-raises instead, with the full traceback.
"""

import argparse
import importlib
import importlib.metadata
import sys

# name -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("sgm_eqx.experiments._cmd_train", "train an SGM (Algorithm 1: stage 1, 2 or both)"),
    "sample": ("sgm_eqx.experiments._cmd_sample", "prototypes, inferred and sampled eta, variants"),
    "evaluate": ("sgm_eqx.experiments._cmd_evaluate", "metrics of a trained SGM as JSON"),
    "figures": ("sgm_eqx.experiments._cmd_figures", "figures of a trained SGM as PNGs"),
    "report": (
        "sgm_eqx.experiments._cmd_report",
        "which symmetries the data has, and how much of each (JSON, Markdown, figure)",
    ),
    "demo": ("sgm_eqx.experiments._demo", "end-to-end demo on built-in dSprites: train, figures"),
    "detect": ("sgm_eqx.detect._cli", "learn a one-parameter symmetry from image pairs"),
    "vae": ("sgm_eqx.experiments._cmd_vae", "VAE / AugVAE / InvVAE on (rotated) MNIST: IWLB, MSE"),
    "elbo": ("sgm_eqx.experiments._cmd_elbo", "train the joint-ELBO invariant model (2022 paper)"),
}

#: Exit status of a user error (as argparse uses for usage errors).
EXIT_USAGE = 2


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`ArgumentDefaultsHelpFormatter` that omits empty defaults (None, False, [])."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or not action.help:
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    def v(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    libs = ", ".join(f"{n} {v(n)}" for n in ("jax", "equinox", "flowjax", "optax"))
    return f"sgm-eqx {v('sgm_eqx')} ({libs})"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, KeyError | FileNotFoundError) and not text:
        text = repr(err)
    return text or type(err).__name__


def is_user_error(err: BaseException) -> bool:
    """Whether `err` is the user's to fix (exit 2) rather than a bug (exit 1)."""
    from ._cli_args import CommandError

    if isinstance(err, CommandError):
        return True
    if isinstance(err, FloatingPointError):  # a training run that diverged: not a usage error
        return False
    return isinstance(err, ValueError | TypeError | OSError)


def _build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="sgm-eqx",
        description="sgm_eqx: learn which symmetries a dataset has, and how much of each.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        p = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        p.set_defaults(_module=module_name)
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the full traceback of an error",
        )
        # Arguments are added lazily below, once we know which command runs.
    return parser, sub


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgm-eqx`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return _run(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(
            "sgm-eqx: interrupted; `train` resumes from its last checkpoint when you run the "
            "same command again",
            file=sys.stderr,
        )
        return 130
    except Exception as err:  # one line per error; --debug for the traceback
        if debug:
            raise
        print(f"sgm-eqx: error: {_one_line(err)}", file=sys.stderr)
        if is_user_error(err):
            return EXIT_USAGE
        if not isinstance(err, FloatingPointError):
            print(
                f"sgm-eqx: this looks like a bug ({type(err).__name__}); rerun with --debug "
                "for the traceback and report it",
                file=sys.stderr,
            )
        return 1


def _run(argv: list[str]) -> int:
    parser, sub = _build_parser()
    # Parse once to find the command, then let its module add its arguments
    # (without -h, so that `sgm-eqx COMMAND --help` shows the command's own arguments).
    first = [a for a in argv if a not in ("-h", "--help")]
    if not first or not any(a in sub.choices for a in first):
        parser.parse_args(argv)  # prints the top-level help, version or usage and exits
    known, _ = parser.parse_known_args(first)
    module = importlib.import_module(known._module)
    module.add_arguments(sub.choices[known.command])
    args = parser.parse_args(argv)
    args._argv = list(argv)  # for run manifests: the command as given
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
