"""Optimiser, learning-rate schedule, blur schedule and the trainable part of the model."""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import paramax
from jaxtyping import Array, Float, Int

from ._config import InferenceStageConfig, StageConfig

Stage = Literal["inference", "flow"]


def make_schedule(config: StageConfig) -> optax.Schedule:
    """Linear warm-up from `lr * init_mult` to `lr`, then cosine decay to `lr * final_mult`.

    The decay ends at step `steps` (`optax.warmup_cosine_decay_schedule`; App. C).
    """
    warmup = round(config.warmup_frac * config.steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=config.lr * config.init_mult,
        peak_value=config.lr,
        warmup_steps=warmup,
        decay_steps=max(config.steps, warmup + 1),
        end_value=config.lr * config.final_mult,
    )


def _scale_labels(params):
    """Optax labels: `"scale"` for the scale of q_ω, `"default"` for every other leaf.

    The scale is the leaf at attribute `raw_scale` (of an [`sgm_eqx.nn.InferenceNet`][],
    inside an SGM or bare), found by its path in the pytree rather than by the types around
    it.
    """

    def label(path, _leaf):
        is_scale = (
            len(path) > 0
            and isinstance(path[-1], jax.tree_util.GetAttrKey)
            and path[-1].name == "raw_scale"
        )
        return "scale" if is_scale else "default"

    return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(config: StageConfig) -> optax.GradientTransformation:
    """`clip_by_global_norm(clip_norm)`, then AdamW on the schedule (App. C).

    AdamW with weight decay `weight_decay` on [`sgm_eqx.train.make_schedule`][].

    With `config.scale_lr` set (stage 1 only), the homoscedastic scale parameter of q_ω
    (`InferenceNet.raw_scale`) gets its own Adam without weight decay
    (`optax.multi_transform`), as in the authors' code: its rate warms up from
    `scale_lr / 3` to `scale_lr` and decays to `scale_lr / 9` on the stage's warm-up and
    cosine lengths. Clipping stays global.
    """
    schedule = make_schedule(config)
    scale_lr = config.own_scale_lr()
    if scale_lr is None:
        inner = optax.adamw(schedule, weight_decay=config.weight_decay)
    else:
        warmup = round(config.warmup_frac * config.steps)
        scale_schedule = optax.warmup_cosine_decay_schedule(
            init_value=scale_lr / 3,
            peak_value=scale_lr,
            warmup_steps=warmup,
            decay_steps=max(config.steps, warmup + 1),
            end_value=scale_lr / 9,
        )
        inner = optax.multi_transform(
            {
                "default": optax.adamw(schedule, weight_decay=config.weight_decay),
                "scale": optax.adam(scale_schedule),
            },
            _scale_labels,
        )
    return optax.chain(optax.clip_by_global_norm(config.clip_norm), inner)


def blur_sigma(config: InferenceStageConfig, step: Int[Array, ""]) -> Float[Array, ""]:
    """σ of the stage-1 Gaussian blur at `step` (0 when the config has no blur).

    `blur_sigma_init` decayed linearly to 0 over the first `blur_frac * steps` steps, 0
    afterwards (App. B "blurring schedule", App. C); see
    [`sgm_eqx.train.InferenceStageConfig.input_blur`][].
    """
    sigma = config.input_blur(step)
    return jnp.zeros((), jnp.float32) if sigma is None else sigma


def _is_non_trainable(leaf) -> bool:
    return isinstance(leaf, paramax.NonTrainable)


def trainable_filter(model, stage: Stage):
    """Filter spec (a pytree of bools like `model`) selecting the trainable leaves of a stage.

    These are the inexact arrays of `model.inference_net` (stage `"inference"`) or of `model.flow`
    (stage `"flow"`; `paramax.NonTrainable` parts excluded). Everything else is frozen.
    """
    if stage not in ("inference", "flow"):
        raise ValueError(
            f"`trainable_filter(stage=...)`: expected 'inference' or 'flow'; got {stage!r}"
        )
    spec = jax.tree_util.tree_map(lambda _: False, model)
    if stage == "inference":
        sub = jax.tree_util.tree_map(eqx.is_inexact_array, model.inference_net)
        return eqx.tree_at(lambda m: m.inference_net, spec, replace=sub)
    sub = jax.tree_util.tree_map(
        lambda leaf: False if _is_non_trainable(leaf) else eqx.is_inexact_array(leaf),
        model.flow,
        is_leaf=_is_non_trainable,
    )
    return eqx.tree_at(lambda m: m.flow, spec, replace=sub)
