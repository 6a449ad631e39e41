"""`sgm-eqx sample`: prototypes, inferred η, samples of p(η | x̂) and resampled examples."""

import argparse
import pathlib

import jax.random as jr
import numpy as np

from ..data import load_data
from ._args import add_data_argument
from ._pipeline import load_trained, sample_outputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx sample`."""
    parser.add_argument("--checkpoint", required=True, help="directory written by `train`")
    add_data_argument(parser)
    parser.add_argument("--n", type=int, default=100, help="η samples per input")
    parser.add_argument("--out", required=True, help="output .npz file")
    parser.add_argument("--split", default="test", help="train, val, test or all")
    parser.add_argument("--limit", type=int, default=1000, help="use at most this many inputs")
    parser.add_argument("--resampled", type=int, default=8, help="resampled variants per input")
    parser.add_argument(
        "--resample-inputs", type=int, default=16, help="resample the first this many inputs"
    )


def run(args: argparse.Namespace) -> int:
    """Sample the model on the data and write the arrays to `--out`.

    The `.npz` holds `eta_inferred (N, d)`, `prototypes (N, H, W, C)`, `eta_samples (N, n, d)`,
    `resampled (k, m, H, W, C)` (first k inputs), `images`, and `labels`/`latents` if known.
    """
    model, _, stage = load_trained(args.checkpoint)
    k_data, k_sample = jr.split(jr.key(args.seed))
    data = load_data(args.data, k_data).subset(args.split)
    data = data.take(np.arange(min(args.limit, len(data))))
    if stage != "flow":
        print("warning: only a stage-1 checkpoint found; p(η | x̂) is untrained")
    out = sample_outputs(
        model,
        data.images,
        k_sample,
        n_samples=args.n,
        n_resample_inputs=args.resample_inputs,
        n_resampled=args.resampled,
    )
    out["images"] = np.asarray(data.images)
    if data.labels is not None:
        out["labels"] = np.asarray(data.labels)
    if data.latents is not None:
        out["latents"] = np.asarray(data.latents)
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)  # pyright: ignore[reportArgumentType]
    print(f"wrote {path}: " + ", ".join(f"{k} {v.shape}" for k, v in out.items()))
    return 0
