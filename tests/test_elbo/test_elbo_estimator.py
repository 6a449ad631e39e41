"""The single-sample ELBO estimate (eq. 17) is unbiased: brute-force quadrature agrees."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from elbo_helpers import perturbed, smooth_image, tiny_config
from jax.scipy import stats as jstats


def _brute_force(model, x, *, n_u=12, n_z=32, n_eta=801):
    """E over the encoder's offset u, z ~ q_u(z|x), x̂ ~ p(x̂|z), η ~ q(η|x) by quadrature.

    - u: the encoder's systematic-sampling offset, U(0, 1), periodic: equispaced rule;
    - z (1-D): Gauss-Hermite under q_u(z | x);
    - x̂: exact, since T_η is linear: E log N(x; T(m + s ε), σ²) =
      log N(x; T m, σ²) - Σ_i (T² s²)_i / (2σ²), with T built column by column;
    - η (1-D): trapezoid rule on a fine grid covering q(η | x) (to ±9 base scales).
    """
    h, w, c = x.shape
    p = h * w * c
    sigma = model.obs_scale()
    s2 = model.decoder.scale().reshape(-1) ** 2
    flat = x.reshape(-1)
    # η grid, pushed through the (monotone) flow from the base's ±9σ range
    base_loc, base_scale = model.eta_posterior.base_dist.loc_and_scale(flat)
    ends = base_loc[None, :] + jnp.array([-9.0, 9.0])[:, None] * base_scale[None, :]
    lo, hi = (model.eta_posterior.bijection.transform(e, flat)[0] for e in ends)
    grid = jnp.linspace(lo, hi, n_eta)[:, None]
    dq = jnp.full(n_eta, (hi - lo) / (n_eta - 1)).at[jnp.array([0, -1])].multiply(0.5)
    log_q = jax.vmap(lambda e: model.eta_posterior.log_prob(e, condition=flat))(grid)
    wq = dq * jnp.exp(log_q)
    basis = jnp.eye(p).reshape(p, h, w, c)
    t = jax.vmap(lambda e: jax.vmap(lambda b: model.transform(b, e).reshape(-1))(basis).T)(grid)
    var_term = (t**2 @ s2).sum(-1) / (2 * sigma**2)  # (n_eta,)
    nodes, weights = np.polynomial.hermite.hermgauss(n_z)
    nodes, weights = jnp.asarray(nodes * math.sqrt(2)), jnp.asarray(weights / math.sqrt(math.pi))
    prior_loc, prior_scale = model.prior()

    def given_z(z):
        tm = t @ model.decoder(z).reshape(-1)  # (n_eta, p)
        ll = jstats.norm.logpdf(flat[None, :], tm, sigma).sum(-1) - var_term
        log_p = jax.vmap(lambda e: model.eta_prior.log_prob(e, condition=z))(grid)
        inner = jnp.sum(wq * (ll + log_p - log_q))
        return inner, jstats.norm.logpdf(z, prior_loc, prior_scale).sum(), jnp.sum(wq * var_term)

    def given_u(u):
        k = model.n_transforms
        etas = (-math.pi + 2 * math.pi * (jnp.arange(k, dtype=jnp.float32) + u) / k)[:, None]
        loc, scale = model.encode_at(x, etas)
        zs = loc[None, :] + scale[None, :] * nodes[:, None]
        inner, log_pz, var = jax.vmap(given_z)(zs)
        log_qz = jax.vmap(lambda z: jstats.norm.logpdf(z, loc, scale).sum())(zs)
        return jnp.sum(weights * (inner + log_pz - log_qz)), jnp.sum(weights * var)

    values, var = jax.vmap(given_u)((jnp.arange(n_u, dtype=jnp.float32) + 0.5) / n_u)
    return values.mean(), var.mean(), jnp.sum(wq)


def test_single_sample_elbo_is_unbiased():
    from sgm_eqx.elbo import elbo, make_livae

    config = tiny_config(image_shape=(8, 8, 1), latent_dim=1, enc_channels=(4,))
    model = perturbed(make_livae(jr.key(10), config), jr.key(11), scale=0.4)
    # a noticeable prototype noise s and observation noise σ, so that the x̂ expectation
    # matters (the check below makes sure it does)
    model = eqx.tree_at(
        lambda m: (m.raw_obs_scale, m.decoder.raw_scale),
        model,
        (jnp.asarray(math.log(math.expm1(0.5)), jnp.float32), jnp.full((8, 8, 1), -0.3)),
    )
    x = smooth_image(jr.key(12), size=8)

    brute, var_term, mass = eqx.filter_jit(_brute_force)(model, x)
    assert abs(float(mass) - 1.0) < 1e-3  # the η grid holds all of q(η | x)

    n = 4000
    values = eqx.filter_jit(lambda m, k: jax.vmap(lambda kk: elbo(m, x, kk)[1]["elbo"])(k))(
        model, jr.split(jr.key(13), n)
    )
    values = np.asarray(values, np.float64)
    mean, se = values.mean(), values.std(ddof=1) / math.sqrt(n)
    assert abs(mean - float(brute)) < 4 * se, (mean, float(brute), se)
    # not vacuous: an estimator that forgot the prototype noise x̂ ~ p(x̂ | z) would be off
    # by `var_term`, at least twice the tolerance above
    assert float(var_term) > 8 * se, (float(var_term), se)
