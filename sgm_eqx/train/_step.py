"""The jitted training step of either stage, the data order, and validation."""

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
from ._update import train_step


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
    if config.augment_isotropic_scale and n < 5:
        name = "InferenceStageConfig" if stage == "inference" else "FlowStageConfig"
        raise ValueError(
            f"`{name}(augment_isotropic_scale=True)`: needs an affine action (log-scales at "
            f"indices 3 and 4); this action has {n} parameters. Set it to False."
        )


def check_mesh(config: StageConfig, mesh: Mesh | None) -> NamedSharding | None:
    """The batch's sharding over `mesh` (`None` without one); checks `batch_size`."""
    if mesh is None:
        return None
    n_dev = mesh.shape["batch"]
    if config.batch_size % n_dev:
        raise ValueError(
            f"batch_size={config.batch_size} is not a multiple of the {n_dev} devices of the mesh"
        )
    return NamedSharding(mesh, PartitionSpec("batch"))


@eqx.filter_jit(donate="all-except-first")
def stage_step(
    data: Float[Array, "N H W C"],
    state: TrainState,
    stage: Stage,
    config: StageConfig,
    mesh: Mesh | None = None,
) -> tuple[TrainState, dict[str, Array]]:
    """One training step of a stage: `(data, state) -> (state, metrics)`.

    Takes the batch of `state.step` from `data` (see [`sgm_eqx.train.batch_indices`][]),
    blurs it (stage 1, while σ > 0), and runs [`sgm_eqx.train.train_step`][] (the package's
    one update) on the batched loss of the stage
    ([`sgm_eqx.losses.inference_loss`][] or [`sgm_eqx.losses.mle_loss`][], bound by
    `config.batch_loss()`), training only the stage's part of the model
    ([`sgm_eqx.train.trainable_filter`][]). If the loss or the gradient norm is not finite
    the update is skipped (state unchanged, step not advanced) and `metrics["finite"]` is
    `False`, so the caller can stop with the last good state.

    A module-level `eqx.filter_jit` function: `stage`, `config` (a frozen dataclass) and
    `mesh` are static, so one compiled program serves every step of a stage. `state` is
    donated; `data` is not. With a `mesh`, the batch is sharded over its `"batch"` axis
    (parameters replicated); `batch_size` must be a multiple of the number of devices.

    **Returns:** `(state, metrics)`; `metrics`: `loss`, the loss's aux entries,
    `grad_norm`, `lr`, `finite` (and `blur_sigma` in stage 1).
    """
    batch_sharding = check_mesh(config, mesh)
    k_data, k_loss = jr.split(jr.fold_in(state.key, state.step))
    xs = data[batch_indices(k_data, state.step, data.shape[0], config.batch_size)]
    if batch_sharding is not None:
        xs = jax.lax.with_sharding_constraint(xs, batch_sharding)
    metrics = {}
    sigma = config.input_blur(state.step)
    if sigma is not None:
        xs = jax.lax.cond(sigma > 0, _blur_batch, lambda a, s: a, xs, sigma)
        metrics["blur_sigma"] = sigma
    model, opt_state, update = train_step(
        config.batch_loss(),
        make_optimizer(config),
        state.model,
        state.opt_state,
        xs,
        k_loss,
        filter_spec=trainable_filter(state.model, stage),
    )
    new_state = TrainState(
        model=model,
        opt_state=opt_state,
        step=state.step + update.finite.astype(jnp.int32),
        key_data=state.key_data,
    )
    with jax.numpy_dtype_promotion("standard"):
        lr = make_schedule(config)(state.step)
    metrics.update(update.aux)
    metrics.update(loss=update.loss, grad_norm=update.grad_norm, lr=lr, finite=update.finite)
    return new_state, metrics


@eqx.filter_jit
def stage_loss(
    model, xs: Float[Array, "B H W C"], key: PRNGKeyArray, config: StageConfig
) -> tuple[Float[Array, ""], dict[str, Array]]:
    """The stage's batched loss on one batch, as in training: `(loss, aux)`.

    Stage 2 runs its networks deterministically (`config.loss(train=False)`: no dropout in
    the flow). Module-level and jitted; `config` is static.
    """
    return batch_loss(config.loss(train=False), model, xs, key)


def validation_metrics(
    model,
    data: Float[Array, "N H W C"],
    key: PRNGKeyArray,
    config: StageConfig,
    max_batches: int,
) -> dict[str, float]:
    """[`sgm_eqx.train.stage_loss`][] averaged over up to `max_batches` batches of `data`.

    Consecutive full batches of `config.batch_size` (all of `data` forms one batch if it is
    smaller); batch `i` uses the key `fold_in(key, i)`.

    **Returns:** `{"loss": ..., <each loss term>: ...}`, means over the batches.
    """
    n = data.shape[0]
    bs = min(config.batch_size, n)
    n_batches = max(1, min(max_batches, n // bs))
    totals: dict[str, float] = {}
    for i in range(n_batches):
        loss, aux = stage_loss(model, data[i * bs : (i + 1) * bs], jr.fold_in(key, i), config)
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
