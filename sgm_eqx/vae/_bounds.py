"""Bounds of log p(x): the importance-weighted lower bound (IWLB) and the ELBO; recon MSE."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._models import AbstractVAE


def _check_count(name: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | jnp.integer) or int(value) < 1:
        raise ValueError(f"`{name}({arg}=...)`: expected an int >= 1; got {value!r}.")
    return int(value)


def log_weights(
    model: AbstractVAE,
    x: Float[Array, "H W C"],
    *,
    key: PRNGKeyArray,
    n_samples: int,
    chunk_size: int | None = None,
) -> Float[Array, " n_samples"]:
    """`n_samples` importance log-weights of log p(x), computed `chunk_size` at a time.

    The keys are `jr.split(key, n_samples)` whatever the chunking, so the result does not
    depend on `chunk_size`; chunks run sequentially (`jax.lax.map`) and each chunk is
    vmapped, so memory grows with `chunk_size`, not with `n_samples`.
    """
    k = _check_count("log_weights", "n_samples", n_samples)
    chunk = 64 if chunk_size is None else _check_count("log_weights", "chunk_size", chunk_size)
    chunk = min(k, chunk)
    n_chunks = math.ceil(k / chunk)
    keys = jr.split(key, k)
    pad = n_chunks * chunk - k
    if pad:
        keys = jnp.concatenate([keys, jnp.repeat(keys[:1], pad, axis=0)])
    keys = keys.reshape(n_chunks, chunk)

    def one_chunk(ks):
        return jax.vmap(lambda kk: model.log_weight(x, key=kk))(ks)

    return jax.lax.map(one_chunk, keys).reshape(-1)[:k]


def iwlb(
    model: AbstractVAE,
    x: Float[Array, "H W C"],
    *,
    key: PRNGKeyArray,
    n_samples: int = 300,
    chunk_size: int | None = None,
) -> Float[Array, ""]:
    r"""The importance-weighted lower bound of log p(x) for ONE image (nats).

    $\mathrm{IWLB}_K = \log \frac{1}{K}\sum_{k=1}^K w_k$, with the model's log-weights
    ([`sgm_eqx.vae.AbstractVAE.log_weight`][]), computed with `logsumexp` (stable for
    log-weights of any magnitude). Its expectation is below log p(x), does not decrease
    with K and tends to log p(x) as K grows (Burda et al., 2016; Domke & Sheldon, 2018).
    The paper uses K = 300.

    **Arguments:**

    - `model`: any [`sgm_eqx.vae.AbstractVAE`][].
    - `x`: one image `(H, W, C)`; batch with `jax.vmap`.
    - `key`: PRNG key of the K samples.
    - `n_samples`: K >= 1.
    - `chunk_size`: samples evaluated at once (default `min(K, 64)`); bounds memory.
    """
    lw = log_weights(model, x, key=key, n_samples=n_samples, chunk_size=chunk_size)
    return jax.nn.logsumexp(lw) - math.log(lw.shape[0])


def elbo(
    model: AbstractVAE,
    x: Float[Array, "H W C"],
    *,
    key: PRNGKeyArray,
    n_samples: int = 1,
    chunk_size: int | None = None,
) -> Float[Array, ""]:
    """A Monte-Carlo ELBO of log p(x) for ONE image: the mean of `n_samples` log-weights.

    Its expectation is IWLB_1's; by Jensen's inequality IWLB_K >= ELBO for the same
    samples. (For the VAE, [`sgm_eqx.vae.VAE.elbo_terms`][] has the KL in closed form.)
    """
    lw = log_weights(model, x, key=key, n_samples=n_samples, chunk_size=chunk_size)
    return jnp.mean(lw)


def reconstruction_mse(model: AbstractVAE, x: Float[Array, "H W C"]) -> Float[Array, ""]:
    """Mean squared error between x and `model.reconstruct(x)`, over pixels and channels."""
    return jnp.mean((model.reconstruct(x) - x) ** 2)
