"""Training loop for latent symmetry detection (optax, plain Python loop)."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..train import train_step
from ._config import DetectConfig
from ._losses import batch_symmetry_loss
from ._model import LatentSymmetryModel, make_symmetry_model


def make_detect_optimizer(
    model: LatentSymmetryModel, config: DetectConfig
) -> optax.GradientTransformation:
    """Adam with cosine decay (to 5%) over `config.steps`; `alpha_raw` at `config.alpha_lr`.

    The generator coefficients get their own (larger) learning rate: they are few, live on
    the unit sphere, and are driven by a small α-matching loss.
    """
    net_lr = optax.cosine_decay_schedule(config.lr, config.steps, alpha=0.05)
    alpha_lr = optax.cosine_decay_schedule(config.alpha_lr, config.steps, alpha=0.05)
    labels = jax.tree.map(lambda _: "net", eqx.filter(model, eqx.is_inexact_array))
    labels = eqx.tree_at(lambda m: m.alpha_raw, labels, "alpha")
    return optax.multi_transform({"net": optax.adam(net_lr), "alpha": optax.adam(alpha_lr)}, labels)


def detect_loss(config: DetectConfig) -> eqx.Partial:
    """[`sgm_eqx.detect.batch_symmetry_loss`][] with the config's weights, Taylor order and blur.

    Pass it to [`sgm_eqx.train.train_step`][] with a batch `(x0, xt)`.
    """
    return eqx.Partial(
        batch_symmetry_loss,
        weights=config.weights(),
        taylor_order=config.taylor_order,
        blur_sigma=float(config.blur),
    )


def fit_symmetry(
    key: PRNGKeyArray,
    model: LatentSymmetryModel,
    x0: Float[Array, "N H W C"],
    xt: Float[Array, "N H W C"],
    config: DetectConfig,
    *,
    log_every: int = 0,
    callback: Callable[[int, dict], None] | None = None,
) -> tuple[LatentSymmetryModel, dict[str, np.ndarray]]:
    """Train `model` on pairs `(x0, xt)` as `config` says (its training and loss fields).

    A plain Python loop around [`sgm_eqx.train.train_step`][] (the package's one update
    rule, a module-level jitted step) with [`sgm_eqx.detect.detect_loss`][] and
    [`sgm_eqx.detect.make_detect_optimizer`][]. Each step draws a random batch of
    `config.batch_size` (with replacement across steps). Only inexact array leaves are
    trained (the latent basis gets zero gradients: it is used through `stop_gradient`); a
    non-finite update is skipped. `callback(step, record)` is called every `log_every`
    steps (and at the last) with the latest loss terms.

    **Returns:** the trained model and a history dict of per-step `loss` and mean loss terms.
    """
    if x0.shape != xt.shape:
        raise ValueError(f"`fit_symmetry`: x0 and xt shapes differ: {x0.shape} vs {xt.shape}")
    optimizer = make_detect_optimizer(model, config)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    loss = detect_loss(config)
    n = x0.shape[0]
    batch_size = min(config.batch_size, n)
    history: dict[str, list[float]] = {}
    for i in range(config.steps):
        key, k_batch = jr.split(key)
        idx = jr.randint(k_batch, (batch_size,), 0, n)
        model, opt_state, update = train_step(loss, optimizer, model, opt_state, x0[idx], xt[idx])
        record = {"loss": update.loss} | {k: jnp.mean(v) for k, v in update.aux.items() if k != "t"}
        for k, v in record.items():
            history.setdefault(k, []).append(float(v))
        if callback is not None and log_every and (i % log_every == 0 or i == config.steps - 1):
            callback(i, {k: v[-1] for k, v in history.items()})
    return model, {k: np.asarray(v) for k, v in history.items()}


def build_symmetry_model(
    key: PRNGKeyArray, config: DetectConfig, n_channels: int
) -> LatentSymmetryModel:
    """The detector `config` describes, for images of `(size, size, n_channels)`.

    [`sgm_eqx.detect.make_symmetry_model`][] with the config's model fields.
    """
    return make_symmetry_model(
        key,
        image_shape=(config.size, config.size, n_channels),
        latent_size=config.latent_size,
        channels=config.channels,
        widths=config.widths,
        t_widths=config.t_widths,
        basis=config.basis,  # pyright: ignore[reportArgumentType]
    )


# Module level, so that repeated calls reuse one compilation per model structure and shape.
_magnitudes = eqx.filter_jit(jax.vmap(lambda m, a, b: m.magnitude(a, b), in_axes=(None, 0, 0)))


def predict_magnitudes(
    model: LatentSymmetryModel,
    x0: Float[Array, "N H W C"],
    xt: Float[Array, "N H W C"],
    *,
    batch_size: int = 1024,
) -> Float[Array, " N"]:
    """The t-network's magnitudes for many pairs (in chunks of `batch_size`)."""
    chunks = [
        _magnitudes(model, x0[i : i + batch_size], xt[i : i + batch_size])
        for i in range(0, x0.shape[0], batch_size)
    ]
    return jnp.concatenate(chunks)
