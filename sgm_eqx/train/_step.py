"""The jitted training step of either stage, the data order, and validation."""

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree, UInt32

from ..image import gaussian_blur
from ..losses import batch_loss
from ._config import StageConfig
from ._optim import Stage, make_optimizer, make_schedule, trainable_filter
from ._update import apply_update


class TrainState(eqx.Module):
    """Everything a stage needs to continue exactly where it stopped.

    **Fields:**

    - `model`: the whole SGM (only one part of it is trained in a stage).
    - `opt_state`: optax state of the trainable part only.
    - `step`: number of steps done in this stage (int32 scalar).
    - `key_data`: the stage's base PRNG key as raw `uint32` data (`jr.key_data`); the data
      order and the randomness of step `t` are pure functions of `(key, t)`.
    """

    model: Any
    opt_state: PyTree
    step: Int[Array, ""]
    key_data: UInt32[Array, "..."]

    @property
    def key(self) -> PRNGKeyArray:
        """The stage's base key (typed)."""
        return jr.wrap_key_data(self.key_data)


def stage_config_of(stage: Stage, config) -> StageConfig:
    """The stage's config from a [`sgm_eqx.train.TrainConfig`][]."""
    return config.inference if stage == "inference" else config.flow


def init_state(key: PRNGKeyArray, model, stage: Stage, config: StageConfig) -> TrainState:
    """A fresh [`sgm_eqx.train.TrainState`][] at step 0 for `stage`.

    The optimiser state covers the trainable part only (see
    [`sgm_eqx.train.trainable_filter`][]).
    """
    diff, _ = eqx.partition(model, trainable_filter(model, stage))
    opt_state = make_optimizer(config).init(diff)
    return TrainState(
        model=model,
        opt_state=opt_state,
        step=jnp.zeros((), jnp.int32),
        key_data=jr.key_data(key),
    )


def batch_indices(
    key: PRNGKeyArray, step: Int[Array, ""], n_data: int, batch_size: int
) -> Int[Array, " batch_size"]:
    """Indices of the batch of `step`.

    Epoch `e = step // (n_data // batch_size)` visits a
    permutation of the data drawn from `fold_in(key, e)`, in consecutive slices (the last
    incomplete batch of each epoch is dropped). A pure function of `(key, step)`.
    """
    per_epoch = n_data // batch_size
    if per_epoch < 1:
        raise ValueError(
            f"batch_size={batch_size} is larger than the training set ({n_data} examples)"
        )
    epoch = step // per_epoch
    perm = jr.permutation(jr.fold_in(key, epoch), n_data)
    return jax.lax.dynamic_slice_in_dim(perm, (step % per_epoch) * batch_size, batch_size)


def _blur_batch(xs, sigma):
    return jax.vmap(lambda x: gaussian_blur(x, sigma, size=5))(xs)


def check_n_params(model, config: StageConfig, stage: Stage) -> None:
    """Raise a clear error when `augment_bounds` does not match the action's `n_params`."""
    n = model.template.n_params
    if len(config.augment_bounds) != n:
        name = "InferenceStageConfig" if stage == "inference" else "FlowStageConfig"
        raise ValueError(
            f"`{name}(augment_bounds=...)`: expected {n} bounds (the action's n_params); "
            f"got {len(config.augment_bounds)}"
        )


@functools.lru_cache(maxsize=16)
def make_train_step(
    stage: Stage, config: StageConfig, *, mesh: Mesh | None = None
) -> Callable[[Float[Array, "N H W C"], TrainState], tuple[TrainState, dict[str, Array]]]:
    """Build the jitted step `(data, state) -> (state, metrics)` of a stage.

    One call: take the batch of `state.step` from `data` (see
    [`sgm_eqx.train.batch_indices`][]), blur it (stage 1, while σ > 0), evaluate the batched
    loss ([`sgm_eqx.losses.inference_loss`][] or [`sgm_eqx.losses.mle_loss`][]) and its
    gradient w.r.t. the trainable part only, clip, apply AdamW. If the loss or the gradient
    norm is not finite the update is skipped (state unchanged, step not advanced) and
    `metrics["finite"]` is `False`, so the caller can stop with the last good state.

    `state` is donated (`eqx.filter_jit(donate="all-except-first")`); `data` is not.
    With a `mesh`, the batch is sharded over its `"batch"` axis (parameters replicated);
    `batch_size` must be a multiple of the number of devices in the mesh.

    `metrics`: `loss`, the loss's aux entries, `grad_norm`, `lr`, `finite` (and
    `blur_sigma` in stage 1).

    Steps are cached per `(stage, config, mesh)` (configs are frozen dataclasses), so
    repeated loops reuse one compiled program.
    """
    loss_fn = config.loss()
    optimizer = make_optimizer(config)
    batch_sharding = None
    if mesh is not None:
        n_dev = mesh.shape["batch"]
        if config.batch_size % n_dev:
            raise ValueError(
                f"batch_size={config.batch_size} is not a multiple of the {n_dev} devices "
                "of the mesh"
            )
        batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
    schedule = make_schedule(config)

    @eqx.filter_jit(donate="all-except-first")
    def step(data, state: TrainState):
        key = state.key
        k_data, k_loss = jr.split(jr.fold_in(key, state.step))
        idx = batch_indices(k_data, state.step, data.shape[0], config.batch_size)
        xs = data[idx]
        if batch_sharding is not None:
            xs = jax.lax.with_sharding_constraint(xs, batch_sharding)
        metrics = {}
        sigma = config.input_blur(state.step)
        if sigma is not None:
            xs = jax.lax.cond(sigma > 0, _blur_batch, lambda a, s: a, xs, sigma)
            metrics["blur_sigma"] = sigma
        spec = trainable_filter(state.model, stage)
        diff, static = eqx.partition(state.model, spec)

        def objective(d):
            return batch_loss(loss_fn, eqx.combine(d, static), xs, k_loss)

        new_diff, opt_state, update = apply_update(objective, optimizer, diff, state.opt_state)
        loss, aux, finite = update.loss, update.aux, update.finite
        new_state = TrainState(
            model=eqx.combine(new_diff, static),
            opt_state=opt_state,
            step=state.step + finite.astype(jnp.int32),
            key_data=state.key_data,
        )
        metrics.update(aux)
        with jax.numpy_dtype_promotion("standard"):
            lr = schedule(state.step)
        metrics.update(loss=loss, grad_norm=update.grad_norm, lr=lr, finite=finite)
        return new_state, metrics

    return step


@functools.lru_cache(maxsize=16)
def make_eval_fn(stage: Stage, config: StageConfig, *, aux: bool = False) -> Callable:
    """Jitted `(model, xs, key) -> loss` of a stage on one batch.

    With `aux=True` it returns `(loss, aux)`, the loss terms as in training. Stage 2 runs
    its networks deterministically (`train=False`: no dropout in the flow).
    """
    loss_fn = config.loss(train=False)

    @eqx.filter_jit
    def evaluate(model, xs, key):
        out = batch_loss(loss_fn, model, xs, key)
        return out if aux else out[0]

    return evaluate


def validation_loss(
    evaluate: Callable,
    model,
    data: Float[Array, "N H W C"],
    key: PRNGKeyArray,
    batch_size: int,
    max_batches: int,
) -> float:
    """Mean of `evaluate` over up to `max_batches` consecutive full batches of `data`.

    All of `data` forms one batch if it is smaller than `batch_size`; each batch has a fixed
    key.
    """
    n = data.shape[0]
    bs = min(batch_size, n)
    n_batches = max(1, min(max_batches, n // bs))
    total = 0.0
    for i in range(n_batches):
        total += float(evaluate(model, data[i * bs : (i + 1) * bs], jr.fold_in(key, i)))
    return total / n_batches


def validation_metrics(
    evaluate: Callable,
    model,
    data: Float[Array, "N H W C"],
    key: PRNGKeyArray,
    batch_size: int,
    max_batches: int,
) -> dict[str, float]:
    """`validation_loss` (the mean over batches) for an `evaluate` made with `aux=True`.

    **Returns:** `{"loss": ..., <each loss term>: ...}`, means over the batches.
    """
    n = data.shape[0]
    bs = min(batch_size, n)
    n_batches = max(1, min(max_batches, n // bs))
    totals: dict[str, float] = {}
    for i in range(n_batches):
        loss, aux = evaluate(model, data[i * bs : (i + 1) * bs], jr.fold_in(key, i))
        for k, v in {"loss": loss, **aux}.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    return {k: v / n_batches for k, v in totals.items()}


def replicate(tree, mesh: Mesh | None):
    """Put every array leaf of `tree` on all devices of `mesh` (replicated); no-op without one."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec())
    arrays, rest = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.device_put(arrays, sharding), rest)


def make_mesh(devices=None) -> Mesh:
    """A 1-d `jax.sharding.Mesh` with axis `"batch"` over `devices`.

    Default: all local devices, `jax.local_devices()`. For several hosts, call
    `jax.distributed.initialize()`
    first and pass `jax.devices()`.
    """
    devices = jax.local_devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("batch",))
