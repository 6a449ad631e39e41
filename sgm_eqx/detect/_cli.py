"""`sgm-eqx detect`: learn a one-parameter symmetry (generator + magnitudes) from image pairs."""

import argparse
import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._cli_args import CommandError, blame, check_output_dir, positive_int, set_fields
from .._stats import wasserstein1
from ._basis import basis_indices
from ._config import DetectConfig
from ._data import load_images, read_images
from ._eval import (
    alpha_table,
    fit_magnitude_scale,
    generator_abs_cos,
    plot_flow_field,
    plot_magnitude_histogram,
)
from ._train import build_symmetry_model, fit_symmetry, predict_magnitudes
from ._transforms import TRANSFORMS, OneParameterTransform, make_pairs, parse_magnitude


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `detect` command's arguments to `parser`."""
    parser.add_argument(
        "--data", default="synthetic", help="mnist:DIR | npz:PATH | synthetic[:SIZE]"
    )
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="start from this config.json (e.g. one a run wrote); default: DetectConfig()",
    )
    parser.add_argument(
        "--transform",
        help=f"shorthand for --set transform=...: one of {', '.join(TRANSFORMS)}, or an affine "
        "composition like rotation+scale",
    )
    parser.add_argument(
        "--magnitude",
        help="shorthand for --set magnitude=...: uniform:LO,HI | normal:MU,SIGMA | "
        "bimodal:MU,SIGMA | modes:M1,M2,...;SIGMA",
    )
    parser.add_argument("--steps", type=positive_int, help="shorthand for --set steps=N")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a DetectConfig field, e.g. --set taylor_order=2 --set widths=256,128 "
        "(repeatable; fields: " + ", ".join(f.name for f in dataclasses.fields(DetectConfig)) + ")",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )


def build_config(args: argparse.Namespace) -> DetectConfig:
    """The run's config: `--config` (or the defaults), the shorthands, then `--set`."""
    config = DetectConfig()
    if args.config is not None:
        with blame("--config", args.config):
            config = DetectConfig.from_json(pathlib.Path(args.config).read_text())
    for flag, field in (("--transform", "transform"), ("--magnitude", "magnitude"),
                        ("--steps", "steps")):  # fmt: skip
        value = getattr(args, field)
        if value is not None:
            with blame(flag, value):
                config = dataclasses.replace(config, **{field: value})
    with blame("--set"):
        return set_fields(config, args.set, "DetectConfig")


def run(args: argparse.Namespace) -> int:
    """Train a detector as configured by `args`, write metrics.json and figures to `args.out`."""
    config = build_config(args)
    if args.print_config:
        print(config.to_json())
        return 0
    out: pathlib.Path = check_output_dir("--out", str(args.out))
    with blame("--data", args.data):
        read_images(args.data)  # checks the SPEC and the files before any JAX work
    transform = OneParameterTransform(config.transform)
    magnitude = parse_magnitude(config.magnitude)
    alpha_true_full = np.asarray(transform.alpha_true())
    alpha_true = alpha_true_full[list(basis_indices(config.basis))]  # pyright: ignore[reportArgumentType]
    if np.linalg.norm(alpha_true) == 0:
        raise CommandError(
            f"--set transform={config.transform}: has no component in the {config.basis} "
            "basis; use --set basis=quadratic."
        )
    alpha_true = alpha_true / np.linalg.norm(alpha_true)
    k_data, k_pairs, k_model, k_train = jr.split(jr.key(args.seed), 4)

    start = time.perf_counter()
    with blame("--data", args.data):
        images = load_images(args.data, key=k_data, n=config.n_images)
    if images.shape[0] < 2 * config.batch_size:
        raise CommandError(
            f"--set batch_size={config.batch_size}: --data {args.data} gives "
            f"{images.shape[0]} images, of which 80% train; use --set batch_size="
            f"{max(1, images.shape[0] // 4)} or more images."
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.to_json())
    # Transform at the native resolution, then resize both images of a pair together.
    x0, xt, t_true = make_pairs(k_pairs, images, transform, magnitude)
    if x0.shape[1:3] != (config.size, config.size):
        shape = (x0.shape[0], config.size, config.size, x0.shape[3])
        x0 = jax.image.resize(x0, shape, "linear")
        xt = jax.image.resize(xt, shape, "linear")
    n_test = max(1, x0.shape[0] // 5)
    train, test = slice(n_test, None), slice(0, n_test)

    model = build_symmetry_model(k_model, config, n_channels=x0.shape[3])

    def log(i: int, record: dict) -> None:
        terms = " ".join(f"{k}={v:.4g}" for k, v in record.items())
        print(f"step {i:6d} {terms}", flush=True)

    model, history = fit_symmetry(
        k_train,
        model,
        x0[train],
        xt[train],
        config,
        log_every=max(1, config.steps // 20),
        callback=log,
    )
    train_seconds = time.perf_counter() - start

    alpha = np.asarray(model.alpha())
    abs_cos = float(generator_abs_cos(jnp.asarray(alpha), jnp.asarray(alpha_true)))
    t_pred = predict_magnitudes(model, x0[test], xt[test])
    scale = fit_magnitude_scale(t_pred, t_true[test])
    t_fit = np.asarray(scale * t_pred)
    t_w1 = wasserstein1(t_fit, np.asarray(t_true[test]))
    t_true_np = np.asarray(t_true[test])
    metrics = {
        "transform": config.transform,
        "magnitude": config.magnitude,
        "data": args.data,
        "steps": config.steps,
        "generator_abs_cos": abs_cos,
        "alpha": alpha.tolist(),
        "alpha_true": alpha_true.tolist(),
        "alpha_terms": alpha_table(alpha, config.basis),  # pyright: ignore[reportArgumentType]
        "t_w1": t_w1,
        "t_scale": float(scale),
        "t_corr": float(np.corrcoef(t_fit, t_true_np)[0, 1]),
        "t_true_std": float(np.std(t_true_np)),
        "final_losses": {k: float(v[-1]) for k, v in history.items()},
        "train_seconds": train_seconds,
        "n_pairs_train": int(x0.shape[0] - n_test),
        "n_pairs_test": int(n_test),
        "device": jax.devices()[0].device_kind,
        "config": dataclasses.asdict(config),
        "seed": args.seed,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    title = f"{config.transform}, {config.magnitude}"
    plot_flow_field(alpha, out / "flow_field.png", alpha_true=alpha_true, title=title)
    plot_magnitude_histogram(
        t_fit, t_true_np, out / "t_histogram.png", title=f"{title}: W1={t_w1:.3f}"
    )
    print(
        f"generator |cos| = {abs_cos:.4f}, t W1 = {t_w1:.4f} (scale {float(scale):.3f}); "
        f"{train_seconds:.0f} s; wrote {out}/metrics.json",
        flush=True,
    )
    return 0
