"""`sgm-eqx vae`: train a VAE, AugVAE or InvVAE on (rotated) MNIST; IWLB and MSE on test.

The data-efficiency experiment of Sec. 4.2 / Fig. 9 for one (model, rotation, training
fraction, seed). Writes `metrics.json` and `samples.png` to `--out`; AugVAE and InvVAE use
a trained SGM from `--sgm`, or train one first (into `OUT/sgm`) with `--sgm-preset`.
"""

import argparse
import dataclasses
import json
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..data import load_data
from ..train import PRESET_NAMES, get_preset, train
from ..vae import AugVAE, VAETrainConfig, evaluate_vae, fit_vae, make_inv_vae, make_vae
from ._args import add_data_argument
from ._io import load_trained


def _ints(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints; got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints; got {text!r}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx vae`."""
    parser.add_argument("--model", required=True, choices=("vae", "augvae", "invvae"))
    add_data_argument(parser)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="use the first F of the training split, 0 < F <= 1 (Fig. 9: 1 and 0.5)",
    )
    parser.add_argument("--sgm", help="trained SGM checkpoint directory (`sgm-eqx train --out`)")
    parser.add_argument(
        "--sgm-preset",
        default="cpu-small",
        choices=PRESET_NAMES,
        help="preset of the SGM trained when --sgm is not given (its image shape follows the "
        "data); mnist-affine is the paper's (hours on a GPU)",
    )
    parser.add_argument("--sgm-steps", type=int, help="steps of each SGM stage (overrides)")
    parser.add_argument("--steps", type=int, default=10_000, help="VAE training steps")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--latent-size", type=int, default=20)
    parser.add_argument(
        "--conv-channels", type=_ints, default=(64, 128), help="encoder filters, e.g. 64,128"
    )
    parser.add_argument("--hidden", type=_ints, default=(256,), help="MLP widths, e.g. 256")
    parser.add_argument("--iwlb-samples", type=int, default=300, help="K of the IWLB")
    parser.add_argument("--iwlb-chunk", type=int, default=50, help="IWLB samples per chunk")
    parser.add_argument("--test-limit", type=int, help="evaluate the first N test images only")
    parser.add_argument(
        "--val-every",
        type=int,
        help="validate every N steps and keep the checkpoint with the best validation IWLB "
        "(App. C.4 selects by the validation bound); default: steps / 8; 0: keep the last",
    )
    parser.add_argument("--val-samples", type=int, default=20, help="K of the validation IWLB")
    parser.add_argument(
        "--val-limit", type=int, default=500, help="validate on the first N validation images"
    )
    parser.add_argument(
        "--eta-scale",
        type=float,
        help="InvVAE: scale of the η proposal around f_ω(x) (default: q_ω's learned scale)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _check_args(args: argparse.Namespace) -> str | None:
    if not 0.0 < args.train_fraction <= 1.0:
        return f"--train-fraction: expected 0 < F <= 1; got {args.train_fraction}"
    positive = ("steps", "batch_size", "latent_size", "iwlb_samples", "iwlb_chunk")
    for flag in (*positive, "val_samples", "val_limit"):
        if getattr(args, flag) < 1:
            return f"--{flag.replace('_', '-')}: expected >= 1; got {getattr(args, flag)}"
    if args.val_every is not None and args.val_every < 0:
        return f"--val-every: expected >= 0; got {args.val_every}"
    if args.test_limit is not None and args.test_limit < 1:
        return f"--test-limit: expected >= 1; got {args.test_limit}"
    if args.eta_scale is not None and not (math.isfinite(args.eta_scale) and args.eta_scale > 0):
        return f"--eta-scale: expected > 0; got {args.eta_scale}"
    if args.model == "vae" and args.sgm is not None:
        return "--sgm: only AugVAE and InvVAE use an SGM (--model augvae or invvae)"
    if args.sgm is not None and not pathlib.Path(args.sgm).is_dir():
        return f"--sgm {args.sgm}: no such directory"
    return None


def _load_sgm(args, image_shape, train_x, key, out: pathlib.Path):
    """The SGM of `--sgm`, checked against the data, or a freshly trained one."""
    if args.sgm is not None:
        sgm, config, stage = load_trained(args.sgm)
        if stage != "flow":
            raise ValueError(
                f"--sgm {args.sgm}: holds only stage 1 (inference.eqx); AugVAE and InvVAE need "
                "the flow p_ψ(η | x̂) too (run `sgm-eqx train --stage 2`)."
            )
        if tuple(sgm.image_shape) != tuple(image_shape):
            raise ValueError(
                f"--sgm {args.sgm}: the SGM was trained on images of shape "
                f"{tuple(sgm.image_shape)}; --data has {tuple(image_shape)}."
            )
        if config.model.action not in ("affine", "affine+color"):
            raise ValueError(
                f"--sgm {args.sgm}: its action is {config.model.action!r}; the rotations of "
                "--data need an affine action."
            )
        return sgm, {"sgm": str(args.sgm), "sgm_preset": None}
    config = get_preset(args.sgm_preset)
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, image_shape=tuple(image_shape))
    )
    if args.sgm_steps is not None:
        config = dataclasses.replace(
            config,
            inference=dataclasses.replace(config.inference, steps=args.sgm_steps),
            flow=dataclasses.replace(config.flow, steps=args.sgm_steps),
        )
    bs = min(config.inference.batch_size, len(train_x))
    config = dataclasses.replace(
        config,
        inference=dataclasses.replace(config.inference, batch_size=bs),
        flow=dataclasses.replace(config.flow, batch_size=min(config.flow.batch_size, bs)),
        val_every=0,
        checkpoint_every=0,
    )
    print(f"training an SGM ({args.sgm_preset}) on {len(train_x)} images -> {out / 'sgm'}")
    sgm, _ = train(key, train_x, config, checkpoint_dir=out / "sgm", progress=not args.no_progress)
    return sgm, {"sgm": str(out / "sgm"), "sgm_preset": args.sgm_preset}


def _figure(path: pathlib.Path, model, test_x, key, title: str) -> None:
    from matplotlib.figure import Figure

    n = min(10, len(test_x))
    originals = np.asarray(test_x[:n])
    recons = np.asarray(jax.jit(jax.vmap(model.reconstruct))(test_x[:n]))
    samples = np.asarray(jax.jit(jax.vmap(lambda k: model.sample(key=k)))(jr.split(key, 2 * n)))
    rows = [("test x", originals), ("reconstruction", recons)]
    rows += [("samples", samples[:n]), ("", samples[n:])]
    fig = Figure(figsize=(n * 0.9, len(rows) * 1.0 + 0.4))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            img = np.clip(images[c], 0.0, 1.0)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def run(args: argparse.Namespace) -> int:
    """Train, evaluate, write `metrics.json` and `samples.png` to `--out`."""
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}")
        return 2
    start = time.perf_counter()
    key = jr.key(args.seed)
    k_data, k_sgm, k_vae, k_fit, k_eval, k_fig = jr.split(key, 6)
    try:
        data = load_data(args.data, k_data)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: --data {args.data}: {e}")
        return 2
    train_all = data.subset("train").images
    n_train = max(1, math.floor(args.train_fraction * len(train_all)))
    train_x = train_all[:n_train]
    test_x = data.subset("test").images
    val_x = data.subset("val").images[: args.val_limit]
    val_every = max(1, args.steps // 8) if args.val_every is None else args.val_every
    if args.test_limit is not None:
        test_x = test_x[: args.test_limit]
    if len(test_x) == 0:
        print(f"error: --data {args.data}: the test split is empty")
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"data: {data.name}; {n_train} train / {len(test_x)} test images of shape "
        f"{data.image_shape}; model {args.model}"
    )
    try:
        vae = make_vae(
            k_vae,
            image_shape=data.image_shape,
            latent_size=args.latent_size,
            channels=args.conv_channels,
            hidden=args.hidden,
        )
        extra: dict = {}
        if args.model == "vae":
            model = vae
        else:
            sgm, extra = _load_sgm(args, data.image_shape, train_x, k_sgm, out)
            if args.model == "augvae":
                model = AugVAE(vae, sgm)
            else:
                model = make_inv_vae(vae, sgm, eta_scale=args.eta_scale)
                extra["eta_scale"] = [float(v) for v in np.asarray(model.eta_scale)]
        config = VAETrainConfig(
            steps=args.steps, batch_size=min(args.batch_size, n_train), lr=args.lr
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}")
        return 2
    t_fit = time.perf_counter()
    fit = fit_vae(
        k_fit,
        model,
        train_x,
        config,
        val_images=val_x if val_every and len(val_x) else None,
        val_every=val_every,
        val_samples=args.val_samples,
        progress=not args.no_progress,
    )
    model, history = fit.model, fit.history
    t_eval = time.perf_counter()
    bounds, mses = evaluate_vae(
        model,
        test_x,
        key=k_eval,
        n_samples=args.iwlb_samples,
        chunk_size=args.iwlb_chunk,
        progress=not args.no_progress,
    )
    t_done = time.perf_counter()
    n_test = len(test_x)
    metrics = {
        "model": args.model,
        "data": args.data,
        "seed": args.seed,
        "train_fraction": args.train_fraction,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "iwlb_nats": float(np.mean(bounds)),
        "iwlb_sem": float(np.std(bounds) / math.sqrt(n_test)),
        "iwlb_samples": args.iwlb_samples,
        "mse": float(np.mean(mses)),
        "mse_sem": float(np.std(mses) / math.sqrt(n_test)),
        "final_train_loss": history[-1][1] if history else None,
        "selected_step": fit.best_step,
        "validation": [
            {"step": step, "iwlb_nats": bound, "iwlb_samples": args.val_samples}
            for step, bound in fit.validation
        ],
        "vae": {
            "latent_size": args.latent_size,
            "conv_channels": list(args.conv_channels),
            "hidden": list(args.hidden),
            **dataclasses.asdict(config),
        },
        **extra,
        "seconds": t_done - start,
        "seconds_fit": t_eval - t_fit,
        "seconds_eval": t_done - t_eval,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _figure(
        out / "samples.png",
        model,
        jnp.asarray(test_x),
        k_fig,
        f"{args.model} on {args.data}: IWLB {metrics['iwlb_nats']:.1f} nats, MSE "
        f"{metrics['mse']:.4f}",
    )
    print(
        f"iwlb {metrics['iwlb_nats']:.2f} ± {metrics['iwlb_sem']:.2f} nats, mse "
        f"{metrics['mse']:.5f}; {metrics['seconds']:.1f} s; wrote {out / 'metrics.json'}"
    )
    return 0
