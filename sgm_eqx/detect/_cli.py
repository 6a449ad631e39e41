"""`sgm-eqx detect`: learn a one-parameter symmetry (generator + magnitudes) from image pairs."""

import argparse
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._cli_args import CommandError, blame, check_output_dir, positive_int
from .._stats import wasserstein1
from ._basis import basis_indices
from ._data import load_images, read_images
from ._eval import (
    alpha_table,
    fit_magnitude_scale,
    generator_abs_cos,
    plot_flow_field,
    plot_magnitude_histogram,
)
from ._losses import LossWeights
from ._model import make_symmetry_model
from ._train import fit_symmetry, predict_magnitudes
from ._transforms import TRANSFORMS, OneParameterTransform, make_pairs, parse_magnitude


def _transform_kind(value: str) -> str:
    parts = value.split("+")
    if not all(p in TRANSFORMS for p in parts):
        raise argparse.ArgumentTypeError(
            f"unknown transform {value!r}; expected one of {TRANSFORMS} or a '+'-joined "
            "composition of affine ones"
        )
    return value


def _magnitude(value: str) -> str:
    try:
        parse_magnitude(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def _widths(value: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in value.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 512,256; got {value!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 512,256; got {value!r}"
        )
    return widths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `detect` command's arguments to `parser`."""
    parser.add_argument(
        "--transform",
        type=_transform_kind,
        default="rotation",
        help=f"one of {', '.join(TRANSFORMS)}, or an affine composition like rotation+scale",
    )
    parser.add_argument(
        "--magnitude",
        type=_magnitude,
        default="uniform:-0.5,0.5",
        help="uniform:LO,HI | normal:MU,SIGMA | bimodal:MU,SIGMA | modes:M1,M2,...;SIGMA",
    )
    parser.add_argument(
        "--data", default="synthetic", help="mnist:DIR | npz:PATH | synthetic[:SIZE]"
    )
    parser.add_argument("--steps", type=positive_int, default=2000, help="training steps")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output directory")
    parser.add_argument("--size", type=positive_int, default=14, help="image side after resizing")
    parser.add_argument(
        "--n-images", type=positive_int, default=8000, help="number of pairs (one per image)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument(
        "--latent-size", type=positive_int, default=5, help="side d of latent patches"
    )
    parser.add_argument("--channels", type=positive_int, default=1, help="latent channels")
    parser.add_argument("--basis", choices=("affine", "quadratic"), default="quadratic")
    parser.add_argument(
        "--taylor-order", type=int, default=4, help="Taylor terms in the α-matching loss"
    )
    parser.add_argument("--blur", type=float, default=1.0, help="α-matching blur sigma (pixels)")
    parser.add_argument("--alpha-weight", type=float, default=100.0, help="λ_α")
    parser.add_argument("--latent-weight", type=float, default=1.0, help="λ_Z")
    parser.add_argument("--recon-weight", type=float, default=1.0, help="λ_R")
    parser.add_argument("--l1", type=float, default=0.0, help="λ_L (L1 on the unit-norm α)")
    parser.add_argument("--lr", type=float, default=1e-3, help="network learning rate")
    parser.add_argument("--alpha-lr", type=float, default=1e-2, help="learning rate of α")
    parser.add_argument(
        "--widths", type=_widths, default="512,256,128,64", help="encoder hidden widths"
    )
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Train a detector as configured by `args`, write metrics.json and figures to `args.out`."""
    out: pathlib.Path = check_output_dir("--out", str(args.out))
    with blame("--data", args.data):
        read_images(args.data)  # checks the SPEC and the files before any JAX work
    transform = OneParameterTransform(args.transform)
    magnitude = parse_magnitude(args.magnitude)
    widths = args.widths
    alpha_true_full = np.asarray(transform.alpha_true())
    alpha_true = alpha_true_full[list(basis_indices(args.basis))]
    if np.linalg.norm(alpha_true) == 0:
        raise CommandError(
            f"--transform {args.transform}: has no component in the --basis {args.basis} "
            "basis; use --basis quadratic."
        )
    alpha_true = alpha_true / np.linalg.norm(alpha_true)
    k_data, k_pairs, k_model, k_train = jr.split(jr.key(args.seed), 4)

    start = time.perf_counter()
    with blame("--data", args.data):
        images = load_images(args.data, key=k_data, n=args.n_images)
    if images.shape[0] < 2 * args.batch_size:
        raise CommandError(
            f"--batch-size {args.batch_size}: --data {args.data} gives {images.shape[0]} "
            f"images, of which 80% train; use --batch-size {max(1, images.shape[0] // 4)} or "
            "more images."
        )
    out.mkdir(parents=True, exist_ok=True)
    # Transform at the native resolution, then resize both images of a pair together.
    x0, xt, t_true = make_pairs(k_pairs, images, transform, magnitude)
    if x0.shape[1:3] != (args.size, args.size):
        shape = (x0.shape[0], args.size, args.size, x0.shape[3])
        x0 = jax.image.resize(x0, shape, "linear")
        xt = jax.image.resize(xt, shape, "linear")
    n_test = max(1, x0.shape[0] // 5)
    train, test = slice(n_test, None), slice(0, n_test)

    _, height, width, n_channels = x0.shape
    model = make_symmetry_model(
        k_model,
        image_shape=(height, width, n_channels),
        latent_size=args.latent_size,
        channels=args.channels,
        widths=widths,
        basis=args.basis,
    )
    weights = LossWeights(
        latent=args.latent_weight, recon=args.recon_weight, alpha=args.alpha_weight, l1=args.l1
    )

    def log(i: int, record: dict) -> None:
        terms = " ".join(f"{k}={v:.4g}" for k, v in record.items())
        print(f"step {i:6d} {terms}", flush=True)

    model, history = fit_symmetry(
        k_train,
        model,
        x0[train],
        xt[train],
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        alpha_learning_rate=args.alpha_lr,
        weights=weights,
        taylor_order=args.taylor_order,
        blur_sigma=args.blur,
        log_every=max(1, args.steps // 20),
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
        "transform": args.transform,
        "magnitude": args.magnitude,
        "data": args.data,
        "steps": args.steps,
        "generator_abs_cos": abs_cos,
        "alpha": alpha.tolist(),
        "alpha_true": alpha_true.tolist(),
        "alpha_terms": alpha_table(alpha, args.basis),
        "t_w1": t_w1,
        "t_scale": float(scale),
        "t_corr": float(np.corrcoef(t_fit, t_true_np)[0, 1]),
        "t_true_std": float(np.std(t_true_np)),
        "final_losses": {k: float(v[-1]) for k, v in history.items()},
        "train_seconds": train_seconds,
        "n_pairs_train": int(x0.shape[0] - n_test),
        "n_pairs_test": int(n_test),
        "device": jax.devices()[0].device_kind,
        "args": {k: str(v) for k, v in vars(args).items() if not k.startswith("_")},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    title = f"{args.transform}, {args.magnitude}"
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
