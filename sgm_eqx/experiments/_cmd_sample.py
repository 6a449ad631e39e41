"""`sgm-eqx sample`: prototypes, inferred η, samples of p(η | x̂) and resampled examples."""

import argparse

import numpy as np

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
    non_negative_int,
    positive_int,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx sample`."""
    add_checkpoint_argument(parser)
    add_data_argument(parser)
    parser.add_argument("--n", type=positive_int, default=100, help="η samples per input")
    parser.add_argument("--out", required=True, help="output .npz file")
    add_split_argument(parser)
    parser.add_argument(
        "--limit", type=positive_int, default=1000, help="use at most this many inputs"
    )
    parser.add_argument(
        "--resampled", type=non_negative_int, default=8, help="resampled variants per input"
    )
    parser.add_argument(
        "--resample-inputs",
        type=non_negative_int,
        default=16,
        help="resample the first this many inputs",
    )


def run(args: argparse.Namespace) -> int:
    """Sample the model on the data and write the arrays to `--out`.

    The `.npz` holds `eta_inferred (N, d)`, `prototypes (N, H, W, C)`, `eta_samples (N, n, d)`,
    `resampled (k, m, H, W, C)` (first k inputs), `images`, and `labels`/`latents` if known.
    """
    config = check_checkpoint_dir("--checkpoint", args.checkpoint, args.which)
    check_data_spec(args.data)
    path = check_output_file("--out", args.out, ".npz")

    import jax.random as jr

    from ._io import load_trained
    from ._pipeline import sample_outputs

    k_data, k_sample = jr.split(jr.key(args.seed))
    full = load_cli_data(args.data, k_data)
    check_data_matches(config, full, args)
    data = check_split(full, args.split)
    data = data.take(np.arange(min(args.limit, len(data))))
    print(f"data: {full.name}; using {len(data)} of its {args.split} examples")
    with blame("--checkpoint", args.checkpoint):
        model, _, stage = load_trained(args.checkpoint, which=args.which)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)  # pyright: ignore[reportArgumentType]
    print(f"wrote {path}: " + ", ".join(f"{k} {v.shape}" for k, v in out.items()))
    return 0
