"""`sgm-eqx figures`: the PNGs of Figs. 8, 10, 11 (and 17 for dSprites)."""

import argparse

from ._args import (
    add_checkpoint_argument,
    add_data_argument,
    add_split_argument,
    blame,
    check_checkpoint_dir,
    check_data_matches,
    check_data_spec,
    check_output_dir,
    check_split,
    load_cli_data,
    non_negative_int,
    positive_int,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx figures`."""
    add_checkpoint_argument(parser)
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output directory for the PNGs")
    add_split_argument(parser)
    parser.add_argument("--n-show", type=positive_int, default=10, help="examples in Fig. 8")
    parser.add_argument("--n-samples", type=positive_int, default=500, help="η samples for Fig. 10")
    parser.add_argument(
        "--chain-length", type=positive_int, default=6, help="prototype-chain length"
    )
    parser.add_argument(
        "--resampled", type=non_negative_int, default=4, help="resampled rows in Fig. 8"
    )


def run(args: argparse.Namespace) -> int:
    """Write the figures and print their paths."""
    config = check_checkpoint_dir("--checkpoint", args.checkpoint, args.which)
    check_data_spec(args.data)
    check_output_dir("--out", args.out)

    import jax.random as jr

    from ._io import load_trained
    from ._pipeline import make_figures

    k_data, k_fig = jr.split(jr.key(args.seed))
    data = load_cli_data(args.data, k_data)
    check_data_matches(config, data, args)
    check_split(data, args.split)
    with blame("--checkpoint", args.checkpoint):
        model, config, _ = load_trained(args.checkpoint, which=args.which)
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
