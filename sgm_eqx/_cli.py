"""The ``sgm-eqx`` command line.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so
``sgm-eqx --help`` is instant.
"""

import argparse
import importlib
import sys

# name -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("sgm_eqx.experiments._cmd_train", "train an SGM (Algorithm 1: stage 1, 2 or both)"),
    "sample": ("sgm_eqx.experiments._cmd_sample", "prototypes, inferred and sampled eta, variants"),
    "evaluate": ("sgm_eqx.experiments._cmd_evaluate", "metrics of a trained SGM as JSON"),
    "figures": ("sgm_eqx.experiments._cmd_figures", "figures of a trained SGM as PNGs"),
    "demo": ("sgm_eqx.experiments._demo", "end-to-end demo on built-in dSprites: train, figures"),
    "detect": ("sgm_eqx.detect._cli", "learn a one-parameter symmetry from image pairs"),
    "elbo": ("sgm_eqx.experiments._cmd_elbo", "train the joint-ELBO invariant model (2022 paper)"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgm-eqx`` console script."""
    parser = argparse.ArgumentParser(
        prog="sgm-eqx",
        description="sgm_eqx: learn which symmetries a dataset has, and how much of each.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        # Arguments are added lazily below, once we know which command runs.
    argv = sys.argv[1:] if argv is None else argv
    # Parse once to find the command, then let its module add its arguments.
    # (without -h, so that `sgm-eqx COMMAND --help` shows the command's own arguments).
    first = [a for a in argv if a not in ("-h", "--help")]
    if not first:
        parser.parse_args(argv)  # prints the top-level help or usage and exits
    known, _ = parser.parse_known_args(first)
    module = importlib.import_module(known._module)
    module.add_arguments(sub.choices[known.command])
    args = parser.parse_args(argv)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
