"""`sgm-eqx elbo`: train the joint-ELBO invariant model (2022 workshop paper) and measure it."""

import argparse
import dataclasses
import json
import math
import pathlib
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..data import load_data, parse_data_spec
from ..elbo import (
    ELBO_PRESET_NAMES,
    angle_range,
    eta_posterior_samples,
    evaluate_elbo,
    fit_elbo,
    get_elbo_preset,
    make_livae,
    plot_angle_ranges,
    plot_history,
    plot_reconstructions,
    plot_rotation_sweep,
    rotation_sweep,
    save_livae,
    summarise_sweep,
)
from ._args import add_data_argument, parse_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx elbo`."""
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output directory (model, metrics, PNGs)")
    parser.add_argument("--preset", default="cpu", choices=ELBO_PRESET_NAMES)
    parser.add_argument("--steps", type=int, help="training steps (overrides the preset)")
    parser.add_argument("--batch-size", type=int, help="batch size (overrides the preset)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any ELBOConfig field, e.g. --set latent_dim=10 (repeatable)",
    )
    parser.add_argument(
        "--eval-digits", type=int, default=50, help="test digits in the rotation sweep"
    )
    parser.add_argument(
        "--sweep-degrees",
        type=float,
        default=45.0,
        help="the sweep rotates each test digit by 9 angles in [-D, D] (default 45)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _config(args: argparse.Namespace, image_shape):
    config = get_elbo_preset(args.preset)
    changes: dict = {"image_shape": tuple(int(s) for s in image_shape)}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    names = {f.name: f for f in dataclasses.fields(config)}
    for item in args.set:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ValueError(
                f"`--set {item}`: expected FIELD=VALUE with FIELD one of {sorted(names)}."
            )
        value = parse_value(text)
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(getattr(config, name), float) and isinstance(value, int):
            value = float(value)
        changes[name] = value
    if "steps" in changes and "warmup_steps" not in changes:
        # keep the preset's warm-up fraction when only the length changes
        frac = config.warmup_steps / config.steps
        changes["warmup_steps"] = min(round(frac * changes["steps"]), changes["steps"] - 1)
    return dataclasses.replace(config, **changes)


def run(args: argparse.Namespace) -> int:
    """Train, then write `model.eqx`, `config.json`, `metrics.json` and the figures."""
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"sgm-eqx elbo: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.eval_digits < 1:
        raise ValueError(f"`--eval-digits`: expected >= 1; got {args.eval_digits}.")
    if not (math.isfinite(args.sweep_degrees) and 0 < args.sweep_degrees <= 180):
        raise ValueError(f"`--sweep-degrees`: expected in (0, 180]; got {args.sweep_degrees}.")
    out = pathlib.Path(args.out)
    key = jr.key(args.seed)
    k_data, k_model, k_fit, k_eval = jr.split(key, 4)
    data = load_data(args.data, k_data)
    if data.images.shape[-1] != 1:
        raise ValueError(
            f"`--data {args.data}`: expected grey images (C = 1); got {data.images.shape}."
        )
    train, test = data.subset("train"), data.subset("test")
    config = _config(args, data.image_shape)
    model = make_livae(k_model, config)
    t0, c0 = time.time(), time.process_time()
    model, history = fit_elbo(k_fit, model, train.images, config, progress=not args.no_progress)
    train_seconds, train_cpu_seconds = time.time() - t0, time.process_time() - c0
    save_livae(out, model, config)

    k_elbo, k_sweep, k_eta, k_fig = jr.split(k_eval, 4)
    test_elbo = evaluate_elbo(model, test.images, k_elbo)
    n = min(args.eval_digits, test.images.shape[0])
    degrees = jnp.linspace(-args.sweep_degrees, args.sweep_degrees, 9)
    sweep = rotation_sweep(model, test.images[:n], degrees, k_sweep)
    eta_samples = eta_posterior_samples(model, test.images, k_eta, n=16)
    metrics = {
        "data": args.data,
        "data_rotation_deg": float(parse_data_spec(args.data).options.get("rotation", 0.0)),
        "preset": args.preset,
        "steps": config.steps,
        "batch_size": config.batch_size,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "test_elbo": test_elbo["elbo"],
        "test_loglik": test_elbo["loglik"],
        "test_kl_z": test_elbo["kl_z"],
        "test_kl_eta": test_elbo["kl_eta"],
        "n_test": int(test.images.shape[0]),
        "obs_scale": float(model.obs_scale()),
        **summarise_sweep(sweep, np.asarray(degrees)),
        "predicted_angle_range_deg_95": angle_range(eta_samples, 0.95),
        "predicted_angle_point_range_deg_95": angle_range(
            np.degrees(np.asarray(eqx.filter_jit(jax.vmap(model.eta_point))(test.images)[:, 0])),
            0.95,
        ),
        "sweep_degrees": float(args.sweep_degrees),
        "final_train_elbo": history["elbo"][-1],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez_compressed(
        out / "eta_samples.npz", samples=eta_samples, rotation=metrics["data_rotation_deg"]
    )

    shown = test.images[:12]
    keys = jr.split(k_fig, shown.shape[0])
    protos, recons = eqx.filter_jit(
        jax.vmap(lambda x, k: (model.prototype(x, key=k), model.reconstruct(x, key=k)))
    )(shown, keys)
    figures = {
        "fig5_reconstructions.png": plot_reconstructions(
            np.asarray(shown), np.asarray(recons), np.asarray(protos), title=args.data
        ),
        "prototype_sweep.png": plot_rotation_sweep(
            sweep["inputs"][:4], sweep["prototypes"][:4], np.asarray(degrees)
        ),
        "fig6_angles.png": plot_angle_ranges({metrics["data_rotation_deg"]: eta_samples}),
        "history.png": plot_history(history),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    print(json.dumps(metrics, indent=2))
    return 0
