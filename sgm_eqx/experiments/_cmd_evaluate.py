"""`sgm-eqx evaluate`: the metrics of `sgm_eqx.experiments` as JSON."""

import argparse
import json

from ._args import (
    add_checkpoint_argument,
    add_data_argument,
    add_split_argument,
    blame,
    check_checkpoint_dir,
    check_data_matches,
    check_data_spec,
    check_output_file,
    check_split,
    load_cli_data,
    positive_int,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx evaluate`."""
    add_checkpoint_argument(parser)
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output metrics JSON file")
    add_split_argument(parser)
    parser.add_argument(
        "--limit", type=positive_int, default=600, help="evaluate at most this many"
    )
    parser.add_argument("--n-samples", type=positive_int, default=50, help="η samples per example")
    parser.add_argument(
        "--chain-length", type=positive_int, default=6, help="prototype-chain length"
    )


def run(args: argparse.Namespace) -> int:
    """Compute the metrics and write them to `--out`; print the summary."""
    config = check_checkpoint_dir("--checkpoint", args.checkpoint, args.which)
    check_data_spec(args.data)
    check_output_file("--out", args.out, ".json")

    import jax.random as jr

    from ._io import load_trained, write_json
    from ._pipeline import evaluate

    k_data, k_eval = jr.split(jr.key(args.seed))
    data = load_cli_data(args.data, k_data)
    check_data_matches(config, data, args)
    check_split(data, args.split)
    with blame("--checkpoint", args.checkpoint):
        model, config, _ = load_trained(args.checkpoint, which=args.which)
    metrics = evaluate(
        model,
        config,
        data,
        k_eval,
        split=args.split,
        limit=args.limit,
        n_samples=args.n_samples,
        chain_length=args.chain_length,
    )
    path = write_json(metrics, args.out)
    print(json.dumps(metrics["summary"], indent=2))
    print(f"wrote {path} ({metrics['n_examples']} {args.split} examples of {data.name})")
    return 0
