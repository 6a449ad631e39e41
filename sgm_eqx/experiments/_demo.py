"""`sgm-eqx demo`: the whole pipeline on procedural dSprites, on a CPU, in minutes.

Generates 32x32 dSprites (no download), trains both stages of Algorithm 1 with the
`cpu-small` preset adapted to dSprites as in App. C.3 (η bounded by
`η_max = (0.75, 0.75, π, 0.75, 0.75)`, no invertibility loss, no symmetric SSL loss, flow
augmentation `0.75 η_max`), then writes `metrics.json` ([`sgm_eqx.experiments.evaluate`][]),
the Fig. 8/10/11/17 PNGs, the symmetry report (`report.md`, `report.json`, `report.png`)
and `summary.json` (timings, peak memory) into `--out`, and prints a
short summary. Checkpoints go to `--out/checkpoint` and an interrupted demo resumes from them.
"""

import argparse
import dataclasses
import json
import pathlib
import resource
import sys
import time

import jax
import jax.random as jr

from ..data import make_dsprites
from ..train import TrainConfig, get_preset, train
from ._args import positive_int
from ._io import write_json
from ._pipeline import evaluate, make_figures
from ._report import plot_report, report_markdown, report_samples, symmetry_report


def demo_config(
    *, size: int = 32, inference_steps: int = 3000, flow_steps: int = 1500, batch_size: int = 64
) -> TrainConfig:
    """The `demo` preset ([`sgm_eqx.train.get_preset`][]) at the given size, steps and batch."""
    cfg = get_preset("demo", image_shape=(size, size, 1))
    every = max(1, inference_steps // 4)
    return dataclasses.replace(
        cfg,
        inference=dataclasses.replace(cfg.inference, steps=inference_steps, batch_size=batch_size),
        flow=dataclasses.replace(cfg.flow, steps=flow_steps, batch_size=batch_size),
        val_every=every,
        checkpoint_every=every,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx demo`."""
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--n", type=positive_int, default=6000, help="number of sprites generated")
    parser.add_argument("--size", type=positive_int, default=32, help="image side (32 or 64)")
    parser.add_argument("--steps", type=positive_int, default=3000, help="stage-1 steps")
    parser.add_argument("--flow-steps", type=positive_int, default=1500, help="stage-2 steps")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny run for testing the pipeline (400 sprites, 16x16, 20+10 steps)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _peak_memory_gib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux, B on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 on success."""
    t0 = time.perf_counter()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n, size, steps = args.n, args.size, args.steps
    flow_steps = args.flow_steps
    batch = args.batch_size
    eval_kw: dict = dict(limit=600, n_samples=50)
    fig_kw: dict = dict(n_samples=500)
    if args.quick:
        n, size, steps, flow_steps, batch = 400, 16, 20, 10, 16
        eval_kw = dict(limit=60, n_samples=8, n_orbits=2, orbit_size=4, chain_length=3)
        fig_kw = dict(n_samples=50, n_show=6, n_resampled=2, chain_length=3)
    config = demo_config(size=size, inference_steps=steps, flow_steps=flow_steps, batch_size=batch)
    if args.quick:
        config = dataclasses.replace(
            config,
            model=dataclasses.replace(
                config.model,
                inference_hidden=(32,),
                feature_hidden=(32,),
                base_hidden=(16,),
                flow_layers=2,
                flow_nn_width=16,
            ),
            val_batches=1,
        )
    k_data, k_train, k_eval, k_fig, k_rep = jr.split(jr.key(args.seed), 5)
    data = make_dsprites(k_data, n, size=size)
    print(
        f"dSprites: {n} sprites of {size}x{size} (train/val/test 80/10/10%); "
        f"stage 1: {steps} steps, stage 2: {flow_steps} steps, batch {batch}; "
        f"device: {jax.devices()[0].platform}"
    )
    t_data = time.perf_counter()
    model, hist = train(
        k_train,
        data.subset("train").images,
        config,
        val_data=data.subset("val").images,
        checkpoint_dir=out / "checkpoint",
        progress=not args.no_progress,
    )
    t_train = time.perf_counter()
    metrics = evaluate(model, config, data, k_eval, **eval_kw)
    write_json(metrics, out / "metrics.json")
    t_eval = time.perf_counter()
    paths = make_figures(model, config, data, k_fig, out, **fig_kw)
    n_rep = (4, 4) if args.quick else (100, 40)
    samples = report_samples(model, data, k_rep, n_examples=n_rep[0], n_samples=n_rep[1])
    report = symmetry_report(model, data, k_rep, samples=samples)
    report["data"] = data.name
    write_json(report, out / "report.json")
    (out / "report.md").write_text(report_markdown(report))
    plot_report(samples, report).savefig(out / "report.png", dpi=110)
    paths = [*paths, out / "report.png", out / "report.md"]
    t_fig = time.perf_counter()
    summary = {
        "command": "sgm-eqx demo " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "",
        "device": f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})",
        "n_sprites": n,
        "size": size,
        "inference_steps": steps,
        "flow_steps": flow_steps,
        "seconds": {
            "data": round(t_data - t0, 1),
            "train": round(t_train - t_data, 1),
            "evaluate": round(t_eval - t_train, 1),
            "figures": round(t_fig - t_eval, 1),
            "total": round(t_fig - t0, 1),
        },
        "peak_memory_gib": round(_peak_memory_gib(), 2),
        "final_losses": {
            stage: {
                "train": h.train[-1][1] if h.train else None,
                "val": h.val[-1][1] if h.val else None,
            }
            for stage, h in hist.items()
        },
        "metrics": metrics["summary"],
    }
    write_json(summary, out / "summary.json")
    print(json.dumps(summary, indent=2))
    print("Symmetry report (classes: 0 square, 1 ellipse, 2 heart):")
    print(report_markdown(report))
    for p in paths:
        print(f"wrote {p}")
    print(f"wrote {out / 'metrics.json'}")
    return 0
