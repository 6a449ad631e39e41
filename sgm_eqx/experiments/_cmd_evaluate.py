"""`sgm-eqx evaluate`: the metrics of `sgm_eqx.experiments` as JSON."""

import argparse
import json

import jax.random as jr

from ..data import load_data
from ._args import add_data_argument
from ._pipeline import evaluate, load_trained, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx evaluate`."""
    parser.add_argument("--checkpoint", required=True, help="directory written by `train`")
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output metrics JSON file")
    parser.add_argument("--split", default="test", help="train, val, test or all")
    parser.add_argument("--limit", type=int, default=600, help="evaluate at most this many")
    parser.add_argument("--n-samples", type=int, default=50, help="η samples per example")
    parser.add_argument("--chain-length", type=int, default=6, help="prototype-chain length")


def run(args: argparse.Namespace) -> int:
    """Compute the metrics and write them to `--out`; print the summary."""
    model, config, _ = load_trained(args.checkpoint)
    k_data, k_eval = jr.split(jr.key(args.seed))
    data = load_data(args.data, k_data)
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
    print(f"wrote {path}")
    return 0
