"""`sgm-eqx figures`: the PNGs of Figs. 8, 10, 11 (and 17 for dSprites)."""

import argparse

import jax.random as jr

from ..data import load_data
from ._args import add_data_argument
from ._pipeline import load_trained, make_figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx figures`."""
    parser.add_argument("--checkpoint", required=True, help="directory written by `train`")
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output directory for the PNGs")
    parser.add_argument("--split", default="test", help="train, val, test or all")
    parser.add_argument("--n-show", type=int, default=10, help="examples in Fig. 8")
    parser.add_argument("--n-samples", type=int, default=500, help="η samples for Fig. 10")
    parser.add_argument("--chain-length", type=int, default=6, help="prototype-chain length")
    parser.add_argument("--resampled", type=int, default=4, help="resampled rows in Fig. 8")


def run(args: argparse.Namespace) -> int:
    """Write the figures and print their paths."""
    model, config, _ = load_trained(args.checkpoint)
    k_data, k_fig = jr.split(jr.key(args.seed))
    data = load_data(args.data, k_data)
    paths = make_figures(
        model,
        config,
        data,
        k_fig,
        args.out,
        split=args.split,
        n_show=args.n_show,
        n_samples=args.n_samples,
        chain_length=args.chain_length,
        n_resampled=args.resampled,
    )
    for p in paths:
        print(f"wrote {p}")
    return 0
