"""The IWLB and ELBO estimators, against closed forms and their defining inequalities."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from vae_helpers import (
    LinearEncoder,
    exact_posterior,
    linear_gaussian_vae,
    log_marginal,
)

SHAPE = (3, 3, 1)  # D = 9 pixels


@pytest.fixture
def lg():
    """A linear-Gaussian VAE (latent 2, orthogonal W) and an x with a known log p(x)."""
    w = jnp.zeros((9, 2)).at[0, 0].set(1.5).at[1, 0].set(0.5).at[4, 1].set(-1.2)
    b = jnp.linspace(-0.2, 0.3, 9)
    sigma = 0.4
    x = (w @ jnp.array([0.7, -0.3]) + b + 0.1 * jnp.sin(jnp.arange(9.0))).reshape(SHAPE)
    return w, b, sigma, x


def _iwlb(model, x, keys, k, chunk=None):
    from sgm_eqx.vae import iwlb

    fn = jax.vmap(lambda kk: iwlb(model, x, key=kk, n_samples=k, chunk_size=chunk))
    return eqx.filter_jit(fn)(keys)


def test_exact_posterior_makes_every_log_weight_log_p_x(lg):
    from sgm_eqx.vae import log_weights

    w, b, sigma, x = lg
    a, c, s = exact_posterior(w, b, sigma)
    vae = linear_gaussian_vae(w, b, sigma, LinearEncoder(a, c, s), SHAPE)
    lw = eqx.filter_jit(lambda m: log_weights(m, x, key=jr.key(0), n_samples=16))(vae)
    np.testing.assert_allclose(lw, log_marginal(x, w, b, sigma), atol=2e-4)


def test_iwlb_converges_to_closed_form_log_p_x(lg):
    w, b, sigma, x = lg
    a, c, s = exact_posterior(w, b, sigma)
    # a poor proposal: shifted mean, 1.6x the posterior scale
    vae = linear_gaussian_vae(w, b, sigma, LinearEncoder(a, c + 0.3, 1.6 * s), SHAPE)
    truth = float(log_marginal(x, w, b, sigma))
    keys = jr.split(jr.key(1), 64)
    gaps = {k: truth - float(jnp.mean(_iwlb(vae, x, keys, k, chunk=128))) for k in (1, 16, 1024)}
    # bound in expectation, gap shrinking with K, and closed at K = 1024: the IWLB gap is
    # ~Var(w)/(2K E[w]²) here, < 0.01 nats at K = 1024 (a 0.03 margin is 3 of its std errors)
    assert gaps[1] > 0.2
    assert gaps[1] > gaps[16] > gaps[1024] - 0.01
    assert abs(gaps[1024]) < 0.03


def test_iwlb_at_least_elbo_and_non_decreasing_in_k_on_average(lg):
    from sgm_eqx.vae import elbo

    w, b, sigma, x = lg
    a, c, s = exact_posterior(w, b, sigma)
    vae = linear_gaussian_vae(w, b, sigma, LinearEncoder(a, c - 0.2, 1.4 * s), SHAPE)
    keys = jr.split(jr.key(2), 200)
    means, ses = {}, {}
    for k in (1, 4, 32):
        v = np.asarray(_iwlb(vae, x, keys, k))
        means[k], ses[k] = v.mean(), v.std() / math.sqrt(len(v))
    el = jax.jit(jax.vmap(lambda kk: elbo(vae, x, key=kk, n_samples=32)))(keys)
    el = np.asarray(el).mean()
    # E[IWLB_1] = ELBO (within 3 standard errors); E[IWLB_K] grows with K
    assert abs(means[1] - el) < 3 * ses[1]
    assert means[4] > means[1] - 3 * ses[1]
    assert means[32] > means[4] - 3 * ses[4]
    assert means[32] - means[1] > 3 * ses[1]


def test_chunking_does_not_change_the_result(lg):
    from sgm_eqx.vae import iwlb

    w, b, sigma, x = lg
    a, c, s = exact_posterior(w, b, sigma)
    vae = linear_gaussian_vae(w, b, sigma, LinearEncoder(a, c + 0.3, 2.0 * s), SHAPE)

    def run(chunk):
        return float(
            eqx.filter_jit(lambda m: iwlb(m, x, key=jr.key(3), n_samples=10, chunk_size=chunk))(vae)
        )

    vals = [run(c) for c in (1, 3, 10)]
    np.testing.assert_allclose(vals, vals[0], rtol=1e-5)


def test_logsumexp_is_stable_for_large_log_weights(lg):
    from sgm_eqx.vae import iwlb

    w, b, _, x = lg
    a, c, s = exact_posterior(w, b, 1e-3)
    # tiny pixel scale: log-weights of order +-1e5, exp() would overflow / underflow
    vae = linear_gaussian_vae(w, b, 1e-3, LinearEncoder(a, c, 3 * s), SHAPE)
    v = eqx.filter_jit(lambda m: iwlb(m, x, key=jr.key(0), n_samples=50))(vae)
    assert jnp.isfinite(v)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sample_counts_are_rejected(lg, bad, plain_user):
    from sgm_eqx.vae import iwlb

    w, b, sigma, x = lg
    a, c, s = exact_posterior(w, b, sigma)
    vae = linear_gaussian_vae(w, b, sigma, LinearEncoder(a, c, s), SHAPE)
    with pytest.raises(ValueError, match=r"n_samples=\.\.\.\).*int >= 1"):
        iwlb(vae, x, key=jr.key(0), n_samples=bad)
    with pytest.raises(ValueError, match=r"chunk_size"):
        iwlb(vae, x, key=jr.key(0), n_samples=4, chunk_size=0)
