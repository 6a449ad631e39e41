"""`sgm-eqx train`: Algorithm 1 (stage 1, stage 2 or both) with checkpoints and resume."""

import argparse
import dataclasses
import pathlib
import time

import jax.random as jr

from ..data import load_data
from ..train import (
    PRESET_NAMES,
    TrainConfig,
    build_model,
    checkpoint_path,
    fit_stage,
    get_preset,
    init_state,
    load_checkpoint,
    train,
)
from ._args import add_data_argument, apply_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx train`."""
    parser.add_argument(
        "--preset",
        default="default",
        choices=PRESET_NAMES,
        help="configuration (default: the generic `default` preset for a new dataset)",
    )
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="checkpoint directory (resumed if present)")
    parser.add_argument(
        "--stage",
        choices=("1", "2", "both"),
        default="both",
        help="1: inference net q_ω only; 2: flow p_ψ only (needs a stage-1 checkpoint in --out);"
        " both (default)",
    )
    parser.add_argument("--steps", type=int, help="steps of EACH stage (overrides the preset)")
    parser.add_argument("--inference-steps", type=int, help="stage-1 steps")
    parser.add_argument("--flow-steps", type=int, help="stage-2 steps")
    parser.add_argument("--batch-size", type=int, help="batch size of both stages")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set inference.lr=1e-3 --set model.eta_bound="
        "'(0.75,0.75,3.14,0.75,0.75)' (repeatable)",
    )
    parser.add_argument(
        "--no-validation", action="store_true", help="skip the validation losses (faster)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_config(args: argparse.Namespace, image_shape: tuple[int, int, int]) -> TrainConfig:
    """The preset with the command-line overrides; the image shape follows the data."""
    config = get_preset(args.preset, image_shape=image_shape)
    inf, flow = {}, {}
    if args.steps is not None:
        inf["steps"] = flow["steps"] = args.steps
    if args.inference_steps is not None:
        inf["steps"] = args.inference_steps
    if args.flow_steps is not None:
        flow["steps"] = args.flow_steps
    if args.batch_size is not None:
        inf["batch_size"] = flow["batch_size"] = args.batch_size
    config = dataclasses.replace(
        config,
        inference=dataclasses.replace(config.inference, **inf),
        flow=dataclasses.replace(config.flow, **flow),
    )
    return apply_overrides(config, args.set)


def run(args: argparse.Namespace) -> int:
    """Train and write checkpoints (`inference.eqx`, `flow.eqx`, `config.json`) to `--out`."""
    key = jr.key(args.seed)
    k_data, k_train = jr.split(key)
    data = load_data(args.data, k_data)
    config = build_config(args, data.image_shape)
    train_x = data.subset("train").images
    val = data.subset("val")
    val_x = val.images if len(val) and not args.no_validation else None
    out = pathlib.Path(args.out)
    print(
        f"data: {data.name}, {len(train_x)} train / {0 if val_x is None else len(val_x)} val "
        f"images of shape {data.image_shape}; preset {args.preset}; stage {args.stage}"
    )
    start = time.perf_counter()
    progress = not args.no_progress
    if args.stage == "both":
        _, _hist = train(
            k_train, train_x, config, val_data=val_x, checkpoint_dir=out, progress=progress
        )
    else:
        # Same key derivation as `sgm_eqx.train.train`, so stage-wise runs match `both`.
        k_model, k_inf, k_flow = jr.split(k_train, 3)
        if args.stage == "1":
            if checkpoint_path(out, "inference").is_file():
                state, _ = load_checkpoint(out, "inference", config)
            else:
                state = init_state(
                    k_inf, build_model(k_model, config.model), "inference", config.inference
                )
            fit_stage(
                "inference",
                state,
                train_x,
                config,
                val_data=val_x,
                checkpoint_dir=out,
                progress=progress,
            )
        else:
            if checkpoint_path(out, "flow").is_file():
                state, _ = load_checkpoint(out, "flow", config)
            elif checkpoint_path(out, "inference").is_file():
                state, _ = load_checkpoint(out, "inference", config)
                state = init_state(k_flow, state.model, "flow", config.flow)
            else:
                print(f"error: --stage 2 needs a stage-1 checkpoint in {out} (run --stage 1 first)")
                return 2
            fit_stage(
                "flow",
                state,
                train_x,
                config,
                val_data=val_x,
                checkpoint_dir=out,
                progress=progress,
            )
    print(f"done in {time.perf_counter() - start:.1f} s; checkpoints in {out}")
    _warn_if_orbits_uncovered(out, train_x, config)
    return 0


def _warn_if_orbits_uncovered(out: pathlib.Path, train_x, config: TrainConfig) -> None:
    """Print a warning when the η inferred on training data pile up at the augmentation edge."""
    from ._pipeline import infer_all, load_trained, orbit_coverage

    if not checkpoint_path(out, "inference").is_file():
        return
    model, _, _ = load_trained(out)
    eta, _ = infer_all(model, train_x[:512])
    bounds = config.inference.augment_bounds
    frac = orbit_coverage(eta, bounds)
    for i, f in enumerate(frac):
        if f > 0.05:
            print(
                f"warning: {100 * f:.0f}% of the inferred η[{i}] on training images lie beyond 90% "
                f"of the augmentation bound {bounds[i]:.3g}: the data's orbits may be wider than "
                f"p(η_rnd) covers; widen it, e.g. --set inference.augment_bounds=... "
                f"(and flow.augment_bounds)"
            )
