"""The averaged encoder q_φ(z | x) of eq. 19 is invariant to rotations of x."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from elbo_helpers import smooth_image


def _rotate(x, degrees):
    from sgm_eqx.groups import Affine2D

    eta = jnp.zeros(5).at[2].set(jnp.deg2rad(degrees))
    return Affine2D.from_params(eta, order=3).apply(x)


@eqx.filter_jit
def _encode_many(model, x, keys):
    return jax.vmap(lambda k: model.encode(x, key=k)[0])(keys)


def test_encoder_is_exactly_invariant_to_quarter_turns(tiny_model):
    # K = 4 systematic samples on the full circle: a quarter turn of x permutes the four
    # transformations (bilinear interpolation commutes with quarter turns of the pixel grid),
    # so the average is unchanged up to float rounding, for every draw of the offset.
    x = smooth_image(jr.key(3))
    keys = jr.split(jr.key(4), 3)
    for turns in (1, 2, 3):
        rotated = jnp.rot90(x, k=turns, axes=(0, 1))
        np.testing.assert_allclose(
            _encode_many(tiny_model, rotated, keys), _encode_many(tiny_model, x, keys), atol=2e-5
        )
    # ... while the raw encoder q̂ is far from invariant (the test is not vacuous).
    raw_x = tiny_model.encoder(x)[0]
    raw_rot = tiny_model.encoder(jnp.rot90(x, axes=(0, 1)))[0]
    assert float(jnp.max(jnp.abs(raw_rot - raw_x))) > 1e-2


def test_encoder_is_invariant_to_any_rotation_within_mc_and_interpolation_error(tiny_model):
    # K = 10 (the paper's count) and a rotation g = 37°, not a multiple of 36°. Over the
    # random offset the averaged encoder's distribution is invariant, so the means over
    # offsets of enc(T_g x) and enc(x) agree up to
    # - Monte-Carlo error: 3 standard errors of the difference of the two means, and
    # - interpolation error: enc(T_g x) sees T_η(T_g x) (two resamplings) where the same
    #   average over the shifted set sees T_(η+g)(x) (one); measured as the largest
    #   difference of those two averages over the draws.
    model = dataclasses.replace(tiny_model, n_transforms=10)
    x = smooth_image(jr.key(5))
    g = 37.0
    rotated = _rotate(x, g)
    n = 64
    keys_a, keys_b = jr.split(jr.key(6), n), jr.split(jr.key(7), n)
    a = np.asarray(_encode_many(model, rotated, keys_a))
    b = np.asarray(_encode_many(model, x, keys_b))
    shifted = np.asarray(_encode_shifted(model, x, keys_a, jnp.deg2rad(g)))
    interp = np.abs(a - shifted).max(axis=0)
    se = np.sqrt(a.var(axis=0, ddof=1) / n + b.var(axis=0, ddof=1) / n)
    bound = 3 * se + interp
    gap = np.abs(a.mean(axis=0) - b.mean(axis=0))
    assert np.all(gap <= bound), (gap, se, interp)
    # not vacuous: the raw encoder moves far more than the tolerance
    raw_gap = np.abs(np.asarray(model.encoder(rotated)[0] - model.encoder(x)[0]))
    assert raw_gap.max() > 10 * bound.max(), (raw_gap, bound)


@eqx.filter_jit
def _encode_shifted(model, x, keys, shift):
    return jax.vmap(lambda k: model.encode_at(x, model.invariance_samples(k) + shift)[0])(keys)


def test_invariance_samples_are_a_rotated_regular_polygon(tiny_model):
    etas = np.asarray(tiny_model.invariance_samples(jr.key(8)))[:, 0]
    assert etas.shape == (tiny_model.n_transforms,)
    assert np.all(np.abs(etas) <= np.pi)
    np.testing.assert_allclose(np.diff(etas), 2 * np.pi / tiny_model.n_transforms, atol=1e-5)
