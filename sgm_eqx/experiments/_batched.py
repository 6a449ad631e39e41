"""A trained SGM over a whole dataset: fixed-size jitted batches (the last one padded).

So a dataset of any size compiles each function once.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._sgm import SGM
from ..groups import Affine2D


def _batched(fn, arrays: tuple, batch_size: int):
    """Apply a jitted per-batch `fn` to leading-axis chunks of equal size (last one padded)."""
    n = arrays[0].shape[0]
    outs = []
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in arrays]
        m = chunk[0].shape[0]
        if m < batch_size:
            chunk = [
                jnp.concatenate([c, jnp.repeat(c[-1:], batch_size - m, axis=0)]) for c in chunk
            ]
        out = fn(*chunk)
        outs.append(jax.tree_util.tree_map(lambda o, m=m: np.asarray(o[:m]), out))
    return jax.tree_util.tree_map(lambda *o: np.concatenate(o), *outs)


# Module-level jitted batch functions: `eqx.filter_jit` caches on the function object, so
# defining them once lets every call (evaluate, figures, sample) reuse the compilations.
# Python ints (`n`) are static under `filter_jit`.


@eqx.filter_jit
def _infer_batch(model: SGM, x):
    eta = jax.vmap(model.inference_net)(x)
    protos = jax.vmap(model.prototype)(x)
    return eta, protos


@eqx.filter_jit
def _sample_batch(model: SGM, protos, keys, n: int):
    return jax.vmap(lambda p, k: model.sample_eta(p, k, n))(protos, keys)


@eqx.filter_jit
def _resample_batch(model: SGM, x, keys, n: int):
    return jax.vmap(lambda xi, k: model.resample(xi, k, n))(x, keys)


@eqx.filter_jit
def _chain_batch(model: SGM, x, n: int):
    return jax.vmap(lambda xi: model.iterate_prototypes(xi, n))(x)


@eqx.filter_jit
def _log_prob_batch(model: SGM, eta, protos):
    return jax.vmap(model.log_prob)(eta, protos)


def infer_all(model: SGM, images, *, batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """`η = f_ω(x)` `(N, d)` and prototypes `x̂` `(N, H, W, C)` for every image."""
    images = jnp.asarray(images)
    return _batched(lambda x: _infer_batch(model, x), (images,), batch_size)


def sample_all(
    model: SGM, prototypes, key: PRNGKeyArray, n: int, *, batch_size: int = 32
) -> np.ndarray:
    """`n` samples of `p_ψ(η | x̂)` per prototype: `(N, n, d)`."""
    prototypes = jnp.asarray(prototypes)
    keys = jr.split(key, prototypes.shape[0])
    return _batched(lambda p, k: _sample_batch(model, p, k, int(n)), (prototypes, keys), batch_size)


def resample_all(
    model: SGM, images, key: PRNGKeyArray, n: int, *, batch_size: int = 32
) -> np.ndarray:
    """`n` resampled variants `T_η(x̂)` per image: `(N, n, H, W, C)`."""
    images = jnp.asarray(images)
    keys = jr.split(key, images.shape[0])
    return _batched(lambda x, k: _resample_batch(model, x, k, int(n)), (images, keys), batch_size)


def log_prob_all(model: SGM, eta, prototypes, *, batch_size: int = 128) -> np.ndarray:
    """`log p_ψ(η_i | x̂_i)` `(N,)` for pairs of `η` `(N, d)` and prototypes `(N, H, W, C)`."""
    arrays = (jnp.asarray(eta), jnp.asarray(prototypes))
    return _batched(lambda e, p: _log_prob_batch(model, e, p), arrays, batch_size)


def chains_all(model: SGM, images, n: int, *, batch_size: int = 64):
    """Prototype chains: `(x̂_1..x̂_n)` `(N, n, H, W, C)` and `η_0..η_{n-1}` `(N, n, d)`."""
    images = jnp.asarray(images)
    return _batched(lambda x: _chain_batch(model, x, int(n)), (images,), batch_size)


@eqx.filter_jit
def _affine_matrices(template: Affine2D, etas):
    return jax.vmap(lambda e: template.with_params(e).matrix)(etas)


def matrices(model: SGM, etas) -> np.ndarray:
    """`Affine2D` matrices `T(η)` for `η` of any leading shape `(..., d)`."""
    if not isinstance(model.template, Affine2D):
        raise TypeError(
            "dSprites ground-truth metrics need an affine model (`--preset` with action "
            f"'affine'); this model's action is {type(model.template).__name__}."
        )
    etas = jnp.asarray(etas, jnp.float32)
    flat = etas.reshape(-1, etas.shape[-1])
    mats = _affine_matrices(model.template, flat)
    return np.asarray(mats).reshape(*etas.shape[:-1], 3, 3)
