"""Training the VAE family (β-ELBO, AdamW, warm-up + cosine) and batched evaluation."""

import dataclasses
import math
from typing import Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray
from tqdm.auto import tqdm

from .._checks import positive_field
from ..train import batch_indices, train_step
from ._bounds import iwlb, reconstruction_mse
from ._models import AbstractVAE

_Model = TypeVar("_Model", bound=AbstractVAE)


@dataclasses.dataclass(frozen=True)
class VAETrainConfig:
    """How a VAE is trained (App. C intro and C.4; β schedule from the authors' config).

    **Fields:**

    - `steps`, `batch_size` (paper: 5k-20k steps, batch 512).
    - `lr`: peak learning rate (paper sweep: 3e-3, 6e-3, 9e-3).
    - `init_mult`, `final_mult`: learning rate at the start of the linear warm-up and at
      the end of the cosine decay, as multiples of `lr` (paper: 3e-2 and 1e-4).
    - `warmup_frac`: fraction of the steps spent warming up (paper sweep: 0.15, 0.2).
    - `clip_norm`: global gradient-norm clipping; `weight_decay`: AdamW's (1e-4).
    - `beta_init`, `beta_final`: the KL weight β decays from `beta_init` to `beta_final`
      along a cosine (the authors' `vae_mnist` config: 10 -> 1).
    """

    steps: int = 10_000
    batch_size: int = 512
    lr: float = 3e-3
    init_mult: float = 3e-2
    final_mult: float = 1e-4
    warmup_frac: float = 0.15
    clip_norm: float = 2.0
    weight_decay: float = 1e-4
    beta_init: float = 10.0
    beta_final: float = 1.0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"`VAETrainConfig({name}=...)`: expected an int >= 1; got {v!r}.")
        for name in ("lr", "init_mult", "final_mult", "clip_norm", "beta_init", "beta_final"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"`VAETrainConfig({name}=...)`: expected > 0; got {v!r}.")
        if not 0.0 <= self.warmup_frac < 1.0:
            raise ValueError(
                f"`VAETrainConfig(warmup_frac=...)`: expected [0, 1); got {self.warmup_frac!r}."
            )
        if not self.weight_decay >= 0.0:
            raise ValueError(
                f"`VAETrainConfig(weight_decay=...)`: expected >= 0; got {self.weight_decay!r}."
            )


def make_vae_optimizer(config: VAETrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then AdamW with linear warm-up and cosine decay."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=config.lr * config.init_mult,
        peak_value=config.lr,
        warmup_steps=round(config.steps * config.warmup_frac),
        decay_steps=max(config.steps, round(config.steps * config.warmup_frac) + 1),
        end_value=config.lr * config.final_mult,
    )
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


def beta_schedule(config: VAETrainConfig, step: Array) -> Float[Array, ""]:
    """β at `step`: cosine from `beta_init` to `beta_final` over `steps`."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / config.steps, 0.0, 1.0)
    cos = 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    return config.beta_final + (config.beta_init - config.beta_final) * cos


@dataclasses.dataclass(frozen=True)
class VAEFit(Generic[_Model]):
    """What [`sgm_eqx.vae.fit_vae`][] returns.

    - `model`: the trained model (of the type given); with validation, the checkpoint with
      the best validation bound.
    - `history`: `(step, mean training loss)` per logging window.
    - `validation`: `(step, mean validation IWLB in nats)` per validation (empty without
      `val_images`).
    - `best_step`: the step of `model` (`config.steps` without validation).
    """

    model: _Model
    history: list[tuple[int, float]]
    validation: list[tuple[int, float]]
    best_step: int


def fit_vae(
    key: PRNGKeyArray,
    model: _Model,
    train_images: Float[Array, "N H W C"],
    config: VAETrainConfig,
    *,
    val_images: Float[Array, "M H W C"] | None = None,
    val_every: int = 0,
    val_samples: int = 20,
    progress: bool = True,
    log_every: int = 100,
) -> VAEFit[_Model]:
    """Train `model` (only its `trainable()` part) by minimising its mean training loss.

    Each step draws a batch ([`sgm_eqx.train.batch_indices`][]: epochs of permutations)
    and one key per example for the model's randomness (z, and the SGM's resampling for
    AugVAE or η for InvVAE). A plain Python loop around [`sgm_eqx.train.train_step`][]
    (a non-finite update is skipped, and the mean loss of a logging window then raises).

    **Model selection by validation** (the paper picks its VAEs by the validation bound,
    App. C.4): with `val_images`, the mean IWLB over them (K = `val_samples`, the same keys
    at every check, so checkpoints are compared on common random numbers) is computed every
    `val_every` steps and after the last one, and the checkpoint with the highest is
    returned. The β and learning-rate schedules still span `config.steps`.

    **Returns:** a [`sgm_eqx.vae.VAEFit`][] (`model`, `history`, `validation`, `best_step`).
    """
    images = _image_batch("fit_vae", "train_images", train_images, model)
    if val_images is not None:
        val_images = _image_batch("fit_vae", "val_images", val_images, model)
    if isinstance(val_every, bool) or not isinstance(val_every, int) or val_every < 0:
        raise ValueError(f"`fit_vae(val_every=...)`: expected an int >= 0; got {val_every!r}.")
    positive_field("fit_vae", "val_samples", val_samples, integer=True)
    n = images.shape[0]
    batch = min(config.batch_size, n)
    optimizer = make_vae_optimizer(config)
    spec = model.trainable()
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(eqx.filter(model, spec))
    k_data, k_noise, k_val = jr.split(key, 3)
    loss = eqx.Partial(_batch_loss)

    def validate(m) -> float:
        assert val_images is not None
        batch_size = min(50, val_images.shape[0])
        bounds, _ = evaluate_vae(
            m, val_images, key=k_val, n_samples=val_samples, batch_size=batch_size
        )
        return float(np.mean(bounds))

    history: list[tuple[int, float]] = []
    validation: list[tuple[int, float]] = []
    best, best_step, best_bound = None, config.steps, -math.inf
    window: list[Array] = []
    bar = tqdm(range(config.steps), desc="vae", disable=not progress)
    for t in bar:
        step = jnp.asarray(t)
        idx = batch_indices(k_data, step, n, batch)
        keys = jr.split(jr.fold_in(k_noise, step), batch)
        model, opt_state, update = train_step(
            loss,
            optimizer,
            model,
            opt_state,
            images[idx],
            keys,
            beta_schedule(config, step),
            filter_spec=spec,
        )
        window.append(update.loss)
        if len(window) == log_every or t + 1 == config.steps:
            mean = float(np.mean(np.asarray(jnp.stack(window))))
            if not math.isfinite(mean):
                raise FloatingPointError(f"`fit_vae`: non-finite loss {mean} by step {t + 1}.")
            history.append((t + 1, mean))
            bar.set_postfix(loss=f"{mean:.4g}", refresh=False)
            window = []
        last = t + 1 == config.steps
        if val_images is not None and ((val_every and (t + 1) % val_every == 0) or last):
            bound = validate(model)
            validation.append((t + 1, bound))
            if bound > best_bound:  # NaN never wins
                best, best_step, best_bound = model, t + 1, bound
    # no validation, or no finite bound: the last step
    return VAEFit(model if best is None else best, history, validation, best_step)


def _image_batch(name: str, arg: str, images, model: AbstractVAE) -> Array:
    """`images` as an array of shape `(N >= 1, *model.image_shape)`, else a named error."""
    images = jnp.asarray(images)
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[1:] != tuple(model.image_shape):
        shape = ", ".join(map(str, model.image_shape))
        raise ValueError(
            f"`{name}({arg}=...)`: expected (N >= 1, {shape}); got {tuple(images.shape)}."
        )
    return images


def _batch_loss(model: AbstractVAE, xs, keys, beta):
    values = jax.vmap(lambda x, k: model.training_loss(x, key=k, beta=beta))(xs, keys)
    return jnp.mean(values), {}


@eqx.filter_jit
def _eval_batch(model, xs, keys, n_samples, chunk_size):
    bounds = jax.vmap(
        lambda x, k: iwlb(model, x, key=k, n_samples=n_samples, chunk_size=chunk_size)
    )(xs, keys)
    return bounds, jax.vmap(lambda x: reconstruction_mse(model, x))(xs)


def evaluate_vae(
    model: AbstractVAE,
    images: Float[Array, "N H W C"],
    *,
    key: PRNGKeyArray,
    n_samples: int = 300,
    batch_size: int = 50,
    chunk_size: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image IWLB (K = `n_samples`) and reconstruction MSE over a dataset.

    Runs in fixed-size jitted batches (the last one padded), so any N compiles once.

    **Returns:** `(iwlb, mse)`, NumPy arrays of shape `(N,)`.
    """
    images = _image_batch("evaluate_vae", "images", images, model)
    n = images.shape[0]
    keys = jr.split(key, n)
    bounds, mses = [], []
    starts = range(0, n, batch_size)
    for s in tqdm(starts, desc="iwlb", disable=not progress):
        xs, ks = images[s : s + batch_size], keys[s : s + batch_size]
        m = xs.shape[0]
        if m < batch_size:
            xs = jnp.concatenate([xs, jnp.repeat(xs[-1:], batch_size - m, axis=0)])
            ks = jnp.concatenate([ks, jnp.repeat(ks[-1:], batch_size - m, axis=0)])
        b, e = _eval_batch(model, xs, ks, n_samples, chunk_size)
        bounds.append(np.asarray(b[:m]))
        mses.append(np.asarray(e[:m]))
    return np.concatenate(bounds), np.concatenate(mses)
