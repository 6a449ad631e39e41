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
from ._losses import LossWeights, batch_symmetry_loss
from ._model import LatentSymmetryModel


def make_train_step(
    optimizer: optax.GradientTransformation,
    *,
    weights: LossWeights | None = None,
    taylor_order: int = 2,
    blur_sigma: float = 0.0,
) -> Callable:
    """A jitted step `(model, opt_state, x0, xt) -> (model, opt_state, loss, aux)`.

    [`sgm_eqx.train.train_step`][] (the package's one update rule) on
    [`batch_symmetry_loss`][sgm_eqx.detect.batch_symmetry_loss] with these settings. Only
    inexact array leaves are trained (the latent basis gets zero gradients because it is
    used through `stop_gradient`); a non-finite update is skipped.
    """
    loss = eqx.Partial(
        batch_symmetry_loss, weights=weights, taylor_order=taylor_order, blur_sigma=blur_sigma
    )

    def step(model, opt_state, x0, xt):
        model, opt_state, update = train_step(loss, optimizer, model, opt_state, x0, xt)
        return model, opt_state, update.loss, update.aux

    return step


def fit_symmetry(
    key: PRNGKeyArray,
    model: LatentSymmetryModel,
    x0: Float[Array, "N H W C"],
    xt: Float[Array, "N H W C"],
    *,
    steps: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    alpha_learning_rate: float = 1e-2,
    weights: LossWeights | None = None,
    taylor_order: int = 2,
    blur_sigma: float = 0.0,
    log_every: int = 0,
    callback: Callable[[int, dict], None] | None = None,
) -> tuple[LatentSymmetryModel, dict[str, np.ndarray]]:
    """Train `model` on pairs `(x0, xt)` with Adam and a cosine learning-rate decay.

    Each step draws a random batch (with replacement across steps) from the pairs. The generator
    coefficients `alpha_raw` get their own (larger) learning rate `alpha_learning_rate`: they
    are few, live on the unit sphere, and are driven by a small α-matching loss.

    **Returns:** the trained model and a history dict of per-step `loss` and mean loss terms.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(
            f"`fit_symmetry`: expected steps, batch_size >= 1; got {steps}, {batch_size}"
        )
    if x0.shape != xt.shape:
        raise ValueError(f"`fit_symmetry`: x0 and xt shapes differ: {x0.shape} vs {xt.shape}")
    net_lr = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    alpha_lr = optax.cosine_decay_schedule(alpha_learning_rate, steps, alpha=0.05)
    labels = jax.tree.map(lambda _: "net", eqx.filter(model, eqx.is_inexact_array))
    labels = eqx.tree_at(lambda m: m.alpha_raw, labels, "alpha")
    optimizer = optax.multi_transform(
        {"net": optax.adam(net_lr), "alpha": optax.adam(alpha_lr)}, labels
    )
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    step = make_train_step(
        optimizer, weights=weights, taylor_order=taylor_order, blur_sigma=blur_sigma
    )
    n = x0.shape[0]
    batch_size = min(batch_size, n)
    history: dict[str, list[float]] = {}
    for i in range(steps):
        key, k_batch = jr.split(key)
        idx = jr.randint(k_batch, (batch_size,), 0, n)
        model, opt_state, loss, aux = step(model, opt_state, x0[idx], xt[idx])
        record = {"loss": loss} | {k: jnp.mean(v) for k, v in aux.items() if k != "t"}
        for k, v in record.items():
            history.setdefault(k, []).append(float(v))
        if callback is not None and log_every and (i % log_every == 0 or i == steps - 1):
            callback(i, {k: v[-1] for k, v in history.items()})
    return model, {k: np.asarray(v) for k, v in history.items()}


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
