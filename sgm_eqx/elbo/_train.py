"""Training and evaluation loops of the joint-ELBO model."""

import math
import os
import pathlib
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray
from tqdm.auto import tqdm

from ..train import apply_update
from ._config import ELBOConfig, make_livae
from ._loss import beta_schedule, elbo, make_elbo_optimizer
from ._model import LIVAE


class ELBOTrainState(eqx.Module):
    """Model, optimiser state, step counter and key of a training run."""

    model: LIVAE
    opt_state: optax.OptState
    step: Int[Array, ""]
    key: PRNGKeyArray


def _batch_loss(model, images, key, beta):
    keys = jr.split(key, images.shape[0])
    values, aux = jax.vmap(lambda x, k: elbo(model, x, k, beta=beta))(images, keys)
    return -jnp.mean(values), jax.tree_util.tree_map(jnp.mean, aux)


def trainable_spec(model: LIVAE):
    """Filter spec of the trained leaves: every inexact array except the group template's."""
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
    frozen = jax.tree_util.tree_map(lambda _: False, model.template)
    return eqx.tree_at(lambda m: m.template, spec, frozen)


def make_elbo_step(config: ELBOConfig) -> Callable:
    """A jitted step `(state, images) -> (state, metrics)` maximising the β-ELBO.

    The loss is the negated batch mean of [`sgm_eqx.elbo.elbo`][] with β from
    [`sgm_eqx.elbo.beta_schedule`][] at the current step; the update is
    [`sgm_eqx.elbo.make_elbo_optimizer`][] through [`sgm_eqx.train.apply_update`][] (a
    non-finite update is skipped). `metrics` holds the batch means of the ELBO terms (β = 1),
    `"beta"` and `"loss"`.
    """
    optimizer = make_elbo_optimizer(config)
    betas = beta_schedule(config)

    @eqx.filter_jit
    def step(state: ELBOTrainState, images: Float[Array, "B H W C"]):
        key, sub = jr.split(state.key)
        beta = betas(state.step)
        params, static = eqx.partition(state.model, trainable_spec(state.model))

        def loss_fn(p):
            return _batch_loss(eqx.combine(p, static), images, sub, beta)

        params, opt_state, update = apply_update(loss_fn, optimizer, params, state.opt_state)
        model = eqx.combine(params, static)
        aux = {**update.aux, "beta": beta, "loss": update.loss}
        return ELBOTrainState(model, opt_state, state.step + 1, key), aux

    return step


def init_elbo_state(key: PRNGKeyArray, model: LIVAE, config: ELBOConfig) -> ELBOTrainState:
    """A fresh training state for `model` (the optimiser's state at step 0)."""
    optimizer = make_elbo_optimizer(config)
    opt_state = optimizer.init(eqx.filter(model, trainable_spec(model)))
    return ELBOTrainState(model, opt_state, jnp.asarray(0, jnp.int32), key)


def fit_elbo(
    key: PRNGKeyArray,
    model: LIVAE,
    images: Float[Array, "N H W C"],
    config: ELBOConfig,
    *,
    progress: bool = True,
    log_every: int = 50,
) -> tuple[LIVAE, dict[str, list[float]]]:
    """Train `model` on `images` for `config.steps` steps of `config.batch_size`.

    Mini-batches are drawn by reshuffling the data every epoch (with `key`). A non-finite
    update is skipped; a non-finite loss at a logged step raises `FloatingPointError` with
    the step number.

    **Returns:** the trained model and a history `{"step": [...], "elbo": [...], ...}` of
    batch means every `log_every` steps.
    """
    n = images.shape[0]
    if images.ndim != 4 or images.shape[1:] != model.image_shape:
        raise ValueError(
            f"`fit_elbo(images=...)`: expected shape (N, *{model.image_shape}); got {images.shape}."
        )
    if n < config.batch_size:
        raise ValueError(
            f"`fit_elbo(images=...)`: {n} images are fewer than one batch "
            f"(batch_size={config.batch_size})."
        )
    k_state, k_data = jr.split(key)
    state = init_elbo_state(k_state, model, config)
    step_fn = make_elbo_step(config)
    per_epoch = n // config.batch_size
    history: dict[str, list[float]] = {}
    order = np.zeros(0, np.int64)
    bar = tqdm(range(config.steps), disable=not progress, desc="elbo", dynamic_ncols=True)
    for i in bar:
        if i % per_epoch == 0:
            k_data, sub = jr.split(k_data)
            order = np.asarray(jr.permutation(sub, n))
        j = i % per_epoch
        batch = images[order[j * config.batch_size : (j + 1) * config.batch_size]]
        state, aux = step_fn(state, batch)
        if i % log_every == 0 or i == config.steps - 1:
            values = {k: float(v) for k, v in aux.items()}
            if not math.isfinite(values["loss"]):
                raise FloatingPointError(f"`fit_elbo`: the loss is not finite at step {i}.")
            history.setdefault("step", []).append(float(i))
            for k, v in values.items():
                history.setdefault(k, []).append(v)
            bar.set_postfix(elbo=f"{values['elbo']:.1f}", beta=f"{values['beta']:.2f}")
    return state.model, history


def evaluate_elbo(
    model: LIVAE,
    images: Float[Array, "N H W C"],
    key: PRNGKeyArray,
    *,
    batch_size: int = 100,
    n_samples: int = 1,
) -> dict[str, float]:
    """Mean single-sample ELBO terms (β = 1) over `images`, `n_samples` estimates each.

    **Returns:** `{"elbo", "loglik", "kl_z", "kl_eta"}` averaged over images and samples
    (nats per image).
    """

    @eqx.filter_jit
    def chunk(m, xs, k):
        keys = jr.split(k, (xs.shape[0], n_samples))
        _, aux = jax.vmap(jax.vmap(lambda x, kk: elbo(m, x, kk), in_axes=(None, 0)))(xs, keys)
        return jax.tree_util.tree_map(lambda a: jnp.sum(a), aux)

    totals: dict[str, float] = {}
    for start in range(0, images.shape[0], batch_size):
        key, sub = jr.split(key)
        aux = chunk(model, images[start : start + batch_size], sub)
        for k, v in aux.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    count = images.shape[0] * n_samples
    return {k: v / count for k, v in totals.items()}


def save_livae(directory: str | os.PathLike, model: LIVAE, config: ELBOConfig) -> pathlib.Path:
    """Write `config.json` and `model.eqx` (`eqx.tree_serialise_leaves`) into `directory`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(config.to_json())
    path = directory / "model.eqx"
    tmp = path.with_suffix(".eqx.tmp")
    eqx.tree_serialise_leaves(tmp, model)
    os.replace(tmp, path)
    return path


def load_livae(directory: str | os.PathLike) -> tuple[LIVAE, ELBOConfig]:
    """Load a model saved by [`sgm_eqx.elbo.save_livae`][].

    The template model is built by [`sgm_eqx.elbo.make_livae`][] from the saved config
    (its weights are overwritten by the file's).
    """
    directory = pathlib.Path(directory)
    if not (directory / "config.json").is_file() or not (directory / "model.eqx").is_file():
        raise FileNotFoundError(
            f"`load_livae(directory={str(directory)!r})`: expected `config.json` and "
            "`model.eqx` there (written by `save_livae` / `sgm-eqx elbo`)."
        )
    config = ELBOConfig.from_json((directory / "config.json").read_text())
    template = make_livae(jr.key(0), config)  # values are replaced by the file's
    return eqx.tree_deserialise_leaves(directory / "model.eqx", template), config
