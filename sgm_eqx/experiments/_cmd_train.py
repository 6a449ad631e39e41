"""`sgm-eqx train`: Algorithm 1 (stage 1, stage 2 or both) with checkpoints and resume.

Every check (data, config against data, batch size, devices, a changed config on resume)
runs before anything compiles and before `--out` is created. A run writes into `--out`:
the checkpoints ([`sgm_eqx.train.save_checkpoint`][]), `config.json`, `run.json` (the
manifest: command, data, seed, resolved config, versions), `metrics.jsonl` (every record of
[`sgm_eqx.train.fit_stage`][]) and, at the end, `loss_curves.png`.
"""

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import math
import pathlib
import platform
import sys
import time

import numpy as np

from ..data import SPLITS
from ..train import (
    PRESET_NAMES,
    TrainConfig,
    get_preset,
    has_checkpoint,
    read_index,
)
from ._args import (
    CommandError,
    add_data_argument,
    apply_overrides,
    blame,
    check_config_for_data,
    check_data_spec,
    check_output_dir,
    command_line,
    config_diff,
    load_cli_data,
    positive_int,
    read_config_file,
)

DEFAULT_PRESET = "default"

#: Config fields that `--allow-config-change` may not change on resume: they change the
#: shapes of the saved model or optimiser state.
UNSAFE_PREFIXES: tuple[str, ...] = ("model.", "inference.scale_lr")


def _devices(text: str) -> int | str:
    if text == "all":
        return text
    return positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `sgm-eqx train`."""
    parser.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help=f"named configuration (default {DEFAULT_PRESET}; not with --config)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="start from this config.json (e.g. one a run wrote, or --print-config's output)",
    )
    add_data_argument(parser, required=False)
    parser.add_argument("--out", help="checkpoint directory (resumed if present)")
    parser.add_argument(
        "--stage",
        choices=("1", "2", "both"),
        default="both",
        help="1: inference net q_ω only; 2: flow p_ψ only (needs a stage-1 checkpoint in --out);"
        " both",
    )
    parser.add_argument(
        "--steps", type=positive_int, metavar="N", help="steps of EACH stage (default: preset's)"
    )
    parser.add_argument("--inference-steps", type=positive_int, metavar="N", help="stage-1 steps")
    parser.add_argument("--flow-steps", type=positive_int, metavar="N", help="stage-2 steps")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help="batch size of both stages (default: preset's)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set inference.lr=1e-3 --set model.eta_bound="
        "'(0.75,0.75,3.14,0.75,0.75)' (repeatable)",
    )
    parser.add_argument(
        "--devices",
        type=_devices,
        default=1,
        metavar="N|all",
        help="data-parallel training over N local devices (or all); the batch is split "
        "evenly, so --batch-size must be a multiple of N",
    )
    parser.add_argument(
        "--no-validation", action="store_true", help="skip the validation losses (faster)"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars: print one log line every --log-every steps instead",
    )
    parser.add_argument(
        "--log-every", type=positive_int, default=50, help="steps per record in metrics.jsonl"
    )
    parser.add_argument(
        "--keep-checkpoints",
        type=positive_int,
        default=2,
        help="keep this many newest checkpoints per stage (plus the best by validation)",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume although the config differs from --out's config.json (only fields that "
        "keep the saved state's shapes: not model.*); the run is then no longer a replay",
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to --out/tensorboard (needs tensorboardX: "
        "pip install sgm_eqx[tensorboard])",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config as JSON and exit (with --data: image shape of the data)",
    )


def _base_config(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    if args.config is not None and args.preset is not None:
        raise CommandError(
            f"--preset {args.preset} and --config {args.config}: give one of them; use --set "
            "to change single fields."
        )
    if args.config is not None:
        return read_config_file(args.config), f"--config {args.config}"
    name = args.preset or DEFAULT_PRESET
    return get_preset(name), f"--preset {name}"


def build_config(
    args: argparse.Namespace, image_shape: tuple[int, int, int] | None, base: TrainConfig
) -> TrainConfig:
    """`base` with the command-line overrides; the image shape follows the data."""
    config = base
    if image_shape is not None:
        config = dataclasses.replace(
            config, model=dataclasses.replace(config.model, image_shape=tuple(image_shape))
        )
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
    with blame("--set"):
        return apply_overrides(config, args.set)


def _check_resume(out: pathlib.Path, config: TrainConfig, allow: bool) -> list[str]:
    """Refuse a resume whose config differs (unless allowed and safe); returns the changes."""
    saved_path = out / "config.json"
    if not saved_path.is_file() or not any(has_checkpoint(out, s) for s in ("inference", "flow")):
        return []
    try:
        saved = TrainConfig.from_json(saved_path.read_text())
    except (ValueError, KeyError, TypeError) as err:
        raise CommandError(
            f"--out {out}: its config.json cannot be read ({err}); use a new --out."
        ) from None
    diff = config_diff(saved, config)
    if not diff:
        return []
    changes = [f"{name}: {old!r} -> {new!r}" for name, old, new in diff]
    unsafe = [name for name, _, _ in diff if name.startswith(UNSAFE_PREFIXES)]
    if not allow or unsafe:
        hint = (
            f"these fields change the saved model's shapes and can never change on resume: "
            f"{', '.join(unsafe)}; use a new --out"
            if allow
            else "use a new --out to start afresh, repeat the original settings (e.g. "
            f"--config {saved_path}), or pass --allow-config-change"
            + (f" (not possible for {', '.join(unsafe)})" if unsafe else "")
        )
        raise CommandError(
            f"--out {out} holds a run with a different config; changed: {'; '.join(changes)}. "
            f"{hint}."
        )
    return changes


def _resolve_devices(args: argparse.Namespace, config: TrainConfig):
    """The mesh for `--devices` (None for one device), checked against the batch sizes."""
    if args.devices == 1:
        return None
    import jax

    from ..train import make_mesh

    available = jax.local_devices()
    n = len(available) if args.devices == "all" else args.devices
    if n > len(available):
        raise CommandError(
            f"--devices {args.devices}: only {len(available)} local device(s) are visible "
            f"({', '.join(str(d) for d in available[:4])}); on a CPU, set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N to simulate N devices."
        )
    for stage in ("inference", "flow"):
        bs = getattr(config, stage).batch_size
        if bs % n:
            raise CommandError(
                f"--batch-size {bs} ({stage} stage) is not a multiple of the {n} devices of "
                f"--devices {args.devices}; use --batch-size {max(n, bs - bs % n)}."
            )
    return None if n == 1 else make_mesh(available[:n])


def _versions() -> dict[str, str]:
    out = {}
    for name in ("sgm_eqx", "jax", "jaxlib", "equinox", "flowjax", "optax", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def _steps_done(out: pathlib.Path) -> dict[str, int]:
    index = read_index(out)
    return {s: int(index[s][-1]["step"]) for s in ("inference", "flow") if index.get(s)}


def _write_manifest(out, args, config, data, counts, changes, mesh) -> None:
    import jax

    path = out / "run.json"
    previous = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            previous = [*old.pop("previous", []), {k: old.get(k) for k in ("command", "started")}]
        except json.JSONDecodeError:
            previous = []
    manifest = {
        "command": command_line(args),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data": args.data,
        "data_name": data.name,
        "image_shape": list(data.image_shape),
        "examples": counts,
        "seed": args.seed,
        "stage": args.stage,
        "preset": None if args.config else (args.preset or DEFAULT_PRESET),
        "config_file": args.config,
        "config": dataclasses.asdict(config),
        "resumed_from": _steps_done(out) or None,
        "config_changes_on_resume": changes,
        "devices": [str(d) for d in (mesh.devices.flat if mesh is not None else jax.devices()[:1])],
        "versions": _versions(),
        "host": platform.node(),
        "previous": previous,
    }
    tmp = path.with_name("run.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    tmp.replace(path)


def _log_line(record: dict) -> str | None:
    label = {"inference": "stage 1", "flow": "stage 2"}.get(record["stage"], record["stage"])
    skip = {"kind", "stage", "step", "time", "wall_time", "examples_per_s", "loss", "lr"}
    if record["kind"] == "train":
        terms = " ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in skip)
        rate = record.get("examples_per_s")
        rate_text = f" | {rate:.0f} ex/s" if rate else ""
        return (
            f"{label} step {record['step']}: loss {record['loss']:.4g} ({terms}) "
            f"lr {record['lr']:.3g}{rate_text} | {record['wall_time']:.0f} s"
        )
    if record["kind"] == "val":
        return f"{label} step {record['step']}: val_loss {record['val_loss']:.4g}"
    if record["kind"] == "start" and record["step"] > 0:
        return f"{label}: resuming at step {record['step']} of {record['steps']}"
    return None


def run(args: argparse.Namespace) -> int:
    """Validate everything, then train and write the run's files to `--out`."""
    base, where = _base_config(args)
    if args.print_config and args.data is None:
        print(build_config(args, None, base).to_json())
        return 0
    for flag in ("data", "out") if not args.print_config else ("data",):
        if getattr(args, flag) is None:
            raise CommandError(f"--{flag} is required (see `sgm-eqx train --help`).")
    check_data_spec(args.data)
    out = None if args.out is None else check_output_dir("--out", args.out)
    if args.stage == "2" and out is not None and not has_checkpoint(out, "inference"):
        raise CommandError(
            f"--stage 2 needs a stage-1 checkpoint in --out {out}; run --stage 1 first."
        )

    import jax.random as jr

    k_data, k_train = jr.split(jr.key(args.seed))
    data = load_cli_data(args.data, k_data)
    config = build_config(args, data.image_shape, base)
    codes = np.asarray(data.split)
    counts = {s: int((codes == c).sum()) for s, c in SPLITS.items()}
    if counts["train"] == 0:
        raise CommandError(f"--data {args.data}: the data has no training examples ({counts}).")
    check_config_for_data(config, data.image_shape, counts["train"], where)
    mesh = _resolve_devices(args, config)
    if args.tensorboard and importlib.util.find_spec("tensorboardX") is None:
        raise CommandError(
            "--tensorboard needs the optional package tensorboardX: pip install "
            "sgm_eqx[tensorboard] (or pip install tensorboardX)."
        )
    if args.print_config:
        print(config.to_json())
        return 0
    assert out is not None
    changes = _check_resume(out, config, args.allow_config_change)

    from ..train import MetricsLog, plot_loss_curves, read_metrics

    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, args, config, data, counts, changes, mesh)
    log = MetricsLog(out / "metrics.jsonl")
    board = None
    if args.tensorboard:
        from ..train import TensorBoardLog

        board = TensorBoardLog(out / "tensorboard")

    def callback(record: dict) -> None:
        log(record)
        if board is not None:
            board(record)
        if args.no_progress:
            line = _log_line(record)
            if line:
                print(line, flush=True)

    def report(message: str) -> None:
        print(f"sgm-eqx: warning: {message}", file=sys.stderr, flush=True)

    train_x = data.subset("train").images
    val = data.subset("val")
    val_x = val.images if len(val) and not args.no_validation else None
    n_dev = 1 if mesh is None else mesh.devices.size
    print(
        f"data: {data.name}, {len(train_x)} train / {0 if val_x is None else len(val_x)} val "
        f"images of shape {data.image_shape}; {where}; stage {args.stage}; "
        f"{n_dev} device(s); writing to {out}",
        flush=True,
    )
    if changes:
        report("resuming with a changed config: " + "; ".join(changes))
    start = time.perf_counter()
    common = dict(
        val_data=val_x,
        checkpoint_dir=out,
        mesh=mesh,
        progress=not args.no_progress,
        callback=callback,
        log_every=args.log_every,
        keep_checkpoints=args.keep_checkpoints,
    )
    try:
        _train(args.stage, k_train, train_x, config, out, common, report)
    finally:
        if board is not None:
            board.close()
    plot = plot_loss_curves(read_metrics(out / "metrics.jsonl"), out / "loss_curves.png")
    print(
        f"done in {time.perf_counter() - start:.1f} s; checkpoints, metrics.jsonl, run.json "
        f"and {plot.name} in {out}"
    )
    _warn_if_orbits_uncovered(out, train_x, config)
    return 0


def _train(stage, k_train, train_x, config, out, common, report) -> None:
    import jax.random as jr

    from ..train import build_model, fit_stage, init_state, load_checkpoint, train

    if stage == "both":
        train(k_train, train_x, config, report=report, **common)
        return
    # Same key derivation as `sgm_eqx.train.train`, so stage-wise runs match `both`.
    k_model, k_inf, k_flow = jr.split(k_train, 3)
    if stage == "1":
        if has_checkpoint(out, "inference"):
            state, _ = load_checkpoint(out, "inference", config, report=report)
        else:
            state = init_state(k_inf, build_model(k_model, config.model), "inference",
                               config.inference)  # fmt: skip
        fit_stage("inference", state, train_x, config, **common)
        return
    if has_checkpoint(out, "flow"):
        state, _ = load_checkpoint(out, "flow", config, report=report)
    else:
        state, _ = load_checkpoint(out, "inference", config, report=report)
        state = init_state(k_flow, state.model, "flow", config.flow)
    fit_stage("flow", state, train_x, config, **common)


def prototype_shrink_warning(images, prototypes, config: TrainConfig) -> str | None:
    """A warning when stage 1 shrinks the prototypes towards dots, else `None`.

    For affine actions on non-negative images: the prototypes keep less than a quarter of
    their inputs' intensity (median; half the input's size in each direction). The
    invertibility loss in eq. 7's order favours small prototypes, since the SSL loss leaves
    each orbit's prototype pose free (docs: results, "How large a prototype is").
    """
    import numpy as np

    from ._metrics import prototype_intensity

    x = np.asarray(images)
    if "affine" not in config.model.action or x.min(initial=0.0) < 0 or not x.any():
        return None
    kept = prototype_intensity(x, np.asarray(prototypes))
    if kept >= 0.25:
        return None
    return (
        f"warning: the prototypes keep {100 * kept:.0f}% of their inputs' intensity (median over "
        f"{len(x)} training images): stage 1 shrank them towards dots, which hides the shapes "
        "from p_ψ and from you. The invertibility loss (eq. 7) favours small prototypes; try "
        "--set inference.invertibility_weight=0 --set inference.eta_huber_weight=0.001"
    )


def _warn_if_orbits_uncovered(out, train_x, config: TrainConfig) -> None:
    """Print the stage-1 warnings: prototypes shrunk to dots, η piled up at the bounds."""
    from ._batched import infer_all
    from ._io import load_trained
    from ._pipeline import orbit_coverage

    if not has_checkpoint(out, "inference"):
        return
    model, _, _ = load_trained(out)
    eta, protos = infer_all(model, train_x[:512])
    message = prototype_shrink_warning(train_x[:512], protos, config)
    if message is not None:
        print(message)
    bounds = config.inference.augment_bounds
    frac = orbit_coverage(eta, bounds)
    # an angle read out on the circle (`inference_angle_readout`) with a full-turn bound
    # lies anywhere in (-π, π]: being near ±π there is not an uncovered orbit
    full_turn = (
        config.model.inference_angle_readout
        and config.model.action != "color"
        and bounds[2] >= math.pi - 1e-6
    )
    for i, f in enumerate(frac):
        if f > 0.05 and not (full_turn and i == 2):
            print(
                f"warning: {100 * f:.0f}% of the inferred η[{i}] on training images lie beyond 90% "
                f"of the augmentation bound {bounds[i]:.3g}: the data's orbits may be wider than "
                f"p(η_rnd) covers; widen it, e.g. --set inference.augment_bounds=... "
                f"(and flow.augment_bounds)"
            )
