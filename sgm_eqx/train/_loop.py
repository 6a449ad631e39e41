"""The training loops of Algorithm 1: stage 1 (q_ω) then stage 2 (p_ψ)."""

import dataclasses
import math
import os
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray
from tqdm.auto import tqdm

from .._sgm import SGM
from ._checkpoint import (
    best_val_loss,
    has_checkpoint,
    load_checkpoint,
    save_best,
    save_checkpoint,
)
from ._config import TrainConfig
from ._model import build_model
from ._optim import Stage
from ._step import (
    TrainState,
    check_mesh,
    check_n_params,
    init_state,
    replicate,
    stage_config_of,
    stage_step,
    validation_metrics,
)

_STAGE_LABEL = {"inference": "stage 1 (inference net q_ω)", "flow": "stage 2 (flow p_ψ)"}


class NonFiniteLossError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the offending update was not applied.

    Attributes: `stage`, `step` (the step that failed, 0-based), `loss` (its value) and
    `state` (the last good [`sgm_eqx.train.TrainState`][], before that step).
    """

    def __init__(
        self,
        stage: str,
        step: int,
        loss: float,
        grad_norm: float,
        saved: str | None,
        state: "TrainState | None" = None,
    ):
        self.stage, self.step, self.loss, self.state = stage, step, loss, state
        where = (
            f" The last good state (before this step) is saved at {saved}."
            if saved
            else " No checkpoint directory was given; the last good state is `error.state`."
        )
        super().__init__(
            f"{_STAGE_LABEL.get(stage, stage)}: non-finite loss at step {step} "
            f"(loss={loss}, grad_norm={grad_norm}); the update was skipped and training "
            f"stopped.{where} Lower the learning rate, raise the clipping or check the data."
        )


@dataclasses.dataclass
class History:
    """Losses logged by [`sgm_eqx.train.fit_stage`][]: `(step, value)` pairs.

    `train` holds the mean training loss over each `log_every` window; `val` the validation
    loss every `val_every` steps (and at the end).
    """

    train: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    val: list[tuple[int, float]] = dataclasses.field(default_factory=list)


def _check_data(name: str, data, image_shape) -> None:
    if data.ndim != 4 or tuple(data.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"`{name}`: expected images of shape (N, {', '.join(map(str, image_shape))}); got "
            f"{tuple(data.shape)}"
        )
    if not jnp.issubdtype(data.dtype, jnp.floating):
        raise TypeError(f"`{name}`: expected a floating array; got {data.dtype}")


def _scalars(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k != "finite"}


def fit_stage(
    stage: Stage,
    state: TrainState,
    train_data: Float[Array, "N H W C"],
    config: TrainConfig,
    *,
    val_data: Float[Array, "M H W C"] | None = None,
    until: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    mesh: Mesh | None = None,
    progress: bool = True,
    log_every: int = 50,
    history: History | None = None,
    callback: Callable[[dict], None] | None = None,
    keep_checkpoints: int = 2,
) -> tuple[TrainState, History]:
    """Run one stage of Algorithm 1 from `state` up to step `until` (default: `steps`).

    A plain Python loop around the jitted step [`sgm_eqx.train.stage_step`][], with a
    tqdm bar, validation every `config.val_every` steps (and at the end) on `val_data`, and a
    checkpoint every `config.checkpoint_every` steps (and at the end) in `checkpoint_dir`
    (the newest `keep_checkpoints` are kept, plus the best by validation loss; see
    [`sgm_eqx.train.save_checkpoint`][]).
    The data order and all randomness of step `t` are functions of `(state.key, t)` only, so
    stopping at any step, saving and resuming gives the same result as an uninterrupted run.

    **Records.** `callback(record)` receives a dict for every event of the run (the
    command line writes them to `metrics.jsonl`; [`sgm_eqx.train.MetricsLog`][] does the
    same for library users):

    - `{"kind": "start", "stage", "step", "steps"}` when the loop starts (`step` > 0 on a
      resume);
    - `{"kind": "train", "stage", "step", "loss", <each loss term>, "grad_norm", "lr",
      "wall_time", "examples_per_s", "time"}` every `log_every` steps (and at the last step):
      at multiples of `log_every`, means over the steps since the previous record (after a
      resume: since the resumed step; `lr`: of the last step), `wall_time`
      in seconds since this call started, `examples_per_s` the training throughput over
      the window (compilation excluded), `time` a Unix timestamp;
    - `{"kind": "val", "stage", "step", "val_loss", "val_<term>"..., "time"}` after each
      validation.

    A non-finite loss or gradient raises [`sgm_eqx.train.NonFiniteLossError`][] naming the
    stage, the step and the value; the failing update is not applied and the last good state
    is written to `checkpoint_dir` (when given) before raising.

    With a `mesh` ([`sgm_eqx.train.make_mesh`][]), the batch is sharded over the devices and
    the parameters are replicated.

    **Returns:** `(state, history)`.
    """
    stage_cfg = stage_config_of(stage, config)
    image_shape = config.model.image_shape
    _check_data("fit_stage(train_data=...)", train_data, image_shape)
    if val_data is not None:
        _check_data("fit_stage(val_data=...)", val_data, image_shape)
    check_n_params(state.model, stage_cfg, stage)
    if train_data.shape[0] < stage_cfg.batch_size:
        name = "InferenceStageConfig" if stage == "inference" else "FlowStageConfig"
        raise ValueError(
            f"`{name}(batch_size=...)`: batch_size={stage_cfg.batch_size} is larger than the "
            f"training set ({train_data.shape[0]} examples)"
        )
    if log_every < 1:
        raise ValueError(f"`fit_stage(log_every=...)`: expected at least 1; got {log_every}")
    total = stage_cfg.steps if until is None else min(int(until), stage_cfg.steps)
    history = History() if history is None else history
    check_mesh(stage_cfg, mesh)
    data = replicate(jnp.asarray(train_data), mesh)
    state = replicate(state, mesh)
    val_key = jr.fold_in(state.key, 2**31 - 1)
    start = int(state.step)
    emit = callback if callback is not None else (lambda record: None)
    best = None if checkpoint_dir is None else best_val_loss(checkpoint_dir, stage)
    bar = tqdm(total=total, initial=start, desc=_STAGE_LABEL[stage], disable=not progress)
    t0 = time.perf_counter()
    emit({"kind": "start", "stage": stage, "step": start, "steps": total, "time": time.time()})
    window: list[dict[str, float]] = []
    # Throughput counts the time of the steps only (not validation or checkpoints), and not
    # the first step of this call, which compiles.
    timed_steps, step_seconds = 0, 0.0

    def validate(s: TrainState) -> None:
        nonlocal best
        if val_data is None:
            return
        terms = validation_metrics(s.model, val_data, val_key, stage_cfg, config.val_batches)
        v = terms["loss"]
        history.val.append((int(s.step), v))
        bar.set_postfix(val=f"{v:.4g}", refresh=False)
        record = {"kind": "val", "stage": stage, "step": int(s.step)}
        record.update({f"val_{k}" if k != "loss" else "val_loss": x for k, x in terms.items()})
        record["time"] = time.time()
        emit(record)
        if checkpoint_dir is not None and math.isfinite(v) and (best is None or v < best):
            best = v
            save_best(checkpoint_dir, stage, s, v)

    for t in range(start, total):
        t_step = time.perf_counter()
        state, metrics = stage_step(data, state, stage, stage_cfg, mesh)
        metrics = jax.device_get(metrics)
        if t > start:
            timed_steps += 1
            step_seconds += time.perf_counter() - t_step
        loss = float(metrics["loss"])
        if not bool(metrics["finite"]):
            saved = None
            if checkpoint_dir is not None:
                saved = str(
                    save_checkpoint(checkpoint_dir, stage, state, config, keep=keep_checkpoints)
                )
            bar.close()
            raise NonFiniteLossError(stage, t, loss, float(metrics["grad_norm"]), saved, state)
        window.append(_scalars(metrics))
        done = t + 1
        if done % log_every == 0 or done == total:  # aligned to steps: same on a resume
            mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            mean["lr"] = window[-1]["lr"]
            history.train.append((done, mean["loss"]))
            bar.set_postfix(loss=f"{mean['loss']:.4g}", refresh=False)
            rate = timed_steps * stage_cfg.batch_size / step_seconds if timed_steps else None
            emit(
                {"kind": "train", "stage": stage, "step": done, **mean,
                 "wall_time": time.perf_counter() - t0, "examples_per_s": rate,
                 "time": time.time()}
            )  # fmt: skip
            window, timed_steps, step_seconds = [], 0, 0.0
        if config.val_every and done % config.val_every == 0 and done != total:
            validate(state)
        if (
            checkpoint_dir is not None
            and config.checkpoint_every
            and done % config.checkpoint_every == 0
        ):
            save_checkpoint(checkpoint_dir, stage, state, config, keep=keep_checkpoints)
        bar.update(1)
    if total > start:
        validate(state)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, stage, state, config, keep=keep_checkpoints)
    bar.close()
    return state, history


def train(
    key: PRNGKeyArray,
    train_data: Float[Array, "N H W C"],
    config: TrainConfig,
    *,
    val_data: Float[Array, "M H W C"] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    mesh: Mesh | None = None,
    progress: bool = True,
    model: SGM | None = None,
    callback: Callable[[dict], None] | None = None,
    log_every: int = 50,
    keep_checkpoints: int = 2,
    report: Callable[[str], None] | None = None,
) -> tuple[SGM, dict[str, History]]:
    """Algorithm 1: build the SGM, train q_ω (stage 1), then p_ψ (stage 2).

    **Arguments:**

    - `key`: PRNG key of the run (model initialisation, data order, augmentations).
    - `train_data`: training images `(N, H, W, C)`, floats (e.g. in [0, 1]).
    - `config`: a [`sgm_eqx.train.TrainConfig`][] (see [`sgm_eqx.train.get_preset`][]).
    - `val_data`: held-out images for the validation losses, or `None`.
    - `checkpoint_dir`: where to save checkpoints. If it already holds checkpoints of this
      run, training resumes from them (stage 2 if present, else stage 1) and reproduces the
      uninterrupted run exactly.
    - `mesh`: data parallelism over the devices of a mesh ([`sgm_eqx.train.make_mesh`][]).
    - `progress`: show tqdm progress bars.
    - `model`: start from this model instead of `build_model(key, config.model)`.
    - `callback`, `log_every`, `keep_checkpoints`: as for [`sgm_eqx.train.fit_stage`][].
    - `report`: told about unusable checkpoints skipped on resume (see
      [`sgm_eqx.train.load_checkpoint`][]).

    **Returns:** `(model, {"inference": History, "flow": History})`.
    """
    k_model, k_inf, k_flow = jr.split(key, 3)
    histories = {"inference": History(), "flow": History()}

    def fit(stage: Stage, state: TrainState) -> tuple[TrainState, History]:
        return fit_stage(
            stage,
            state,
            train_data,
            config,
            val_data=val_data,
            checkpoint_dir=checkpoint_dir,
            mesh=mesh,
            progress=progress,
            callback=callback,
            log_every=log_every,
            keep_checkpoints=keep_checkpoints,
        )

    ckpt = pathlib.Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None and has_checkpoint(ckpt, "flow"):
        state, _ = load_checkpoint(ckpt, "flow", config, report=report)
    else:
        if ckpt is not None and has_checkpoint(ckpt, "inference"):
            state, _ = load_checkpoint(ckpt, "inference", config, report=report)
        else:
            if model is None:
                model = build_model(k_model, config.model)
            state = init_state(k_inf, model, "inference", config.inference)
        state, histories["inference"] = fit("inference", state)
        state = init_state(k_flow, state.model, "flow", config.flow)
    state, histories["flow"] = fit("flow", state)
    return state.model, histories
