"""`sgm-eqx report`: which symmetries the data has, and how much of each.

Loads a trained SGM (`--checkpoint`, a `sgm-eqx train` output directory) and a dataset
(`--data`), and writes `report.json`, `report.md` and `report.png` into `--out` (default:
`CHECKPOINT/report`): per group (class labels when the data has them, else the whole set)
and per transformation, whether it is present, its 90% interval in natural units and
whether it is multimodal ([`sgm_eqx.experiments.symmetry_report`][]). The Markdown table is
also printed.
"""

import argparse
import json
import pathlib

import jax.random as jr

from ..data import load_data
from ._args import add_data_argument
from ._io import load_trained, write_json
from ._report import plot_report, report_markdown, report_samples, symmetry_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx report`."""
    parser.add_argument("--checkpoint", required=True, help="a `sgm-eqx train` output directory")
    add_data_argument(parser)
    parser.add_argument("--out", help="output directory (default: CHECKPOINT/report)")
    parser.add_argument(
        "--split", default="test", choices=("train", "val", "test"), help="images to describe"
    )
    parser.add_argument("--n-examples", type=int, default=200, help="images per group")
    parser.add_argument("--n-samples", type=int, default=50, help="samples of p(η | x̂) per image")


def run(args: argparse.Namespace) -> int:
    """Write the report; returns 0 on success."""
    model, config, stage = load_trained(args.checkpoint)
    if stage != "flow":
        raise ValueError(
            f"`--checkpoint {args.checkpoint}`: only stage 1 is trained there; the report needs "
            "p(η | x̂) from stage 2 (run `sgm-eqx train --stage 2 --out DIR`)."
        )
    k_data, _ = jr.split(jr.key(args.seed))
    data = load_data(args.data, k_data)
    if tuple(data.image_shape) != tuple(config.model.image_shape):
        raise ValueError(
            f"`--data {args.data}`: images of shape {data.image_shape}, but the model in "
            f"`--checkpoint {args.checkpoint}` was trained on {config.model.image_shape}."
        )
    out = pathlib.Path(args.out) if args.out else pathlib.Path(args.checkpoint) / "report"
    samples = report_samples(
        model,
        data,
        jr.key(args.seed + 1),
        split=args.split,
        n_examples=args.n_examples,
        n_samples=args.n_samples,
    )
    report = symmetry_report(model, data, jr.key(0), split=args.split, samples=samples)
    report["data"] = args.data
    report["checkpoint"] = str(args.checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "report.json")
    md = report_markdown(report)
    (out / "report.md").write_text(md)
    plot_report(samples, report).savefig(out / "report.png", dpi=110)
    print(md)
    print(json.dumps({"wrote": [str(out / n) for n in ("report.json", "report.md", "report.png")]}))
    return 0
