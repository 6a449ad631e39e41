"""VAE / AugVAE / InvVAE: shapes, SGM resampling, invariance of InvVAE's bound, bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from vae_helpers import LinearEncoder, blob_image, linear_gaussian_vae, rotation_sgm


@pytest.fixture(scope="module")
def tiny_vae():
    from sgm_eqx.vae import make_vae

    return make_vae(jr.key(0), image_shape=(12, 12, 1), latent_size=4, channels=(2, 2), hidden=(4,))


@pytest.fixture(scope="module")
def tiny_sgm():
    """A real SGM (tiny MLP inference net and spline flow) on 12x12 images; at init the
    flow is a near-standard normal, so resampling visibly moves the content."""
    from sgm_eqx.train import ModelConfig, build_model

    config = ModelConfig(
        image_shape=(12, 12, 1),
        interpolation_order=1,
        inference_hidden=(8,),
        flow_layers=1,
        feature_hidden=(8,),
        base_hidden=(8,),
        flow_nn_width=8,
    )
    return build_model(jr.key(1), config)


def test_conv_vae_round_trips_odd_sizes_and_starts_at_the_prior():
    from sgm_eqx.vae import make_vae

    vae = make_vae(
        jr.key(0), image_shape=(13, 10, 2), latent_size=3, channels=(2, 2, 2), hidden=(4,)
    )
    x = jr.uniform(jr.key(1), (13, 10, 2))

    @eqx.filter_jit
    def everything(m, x):
        return m.encode(x), m.reconstruct(x), m.sample(key=jr.key(2)), m.kl(x)

    (loc, scale), recon, sample, kl = everything(vae, x)
    np.testing.assert_allclose(loc, 0.0)
    np.testing.assert_allclose(scale, 1.0, rtol=1e-6)
    np.testing.assert_allclose(vae.prior_scale(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(vae.pixel_scale(), 1.0, rtol=1e-6)
    assert recon.shape == (13, 10, 2) and sample.shape == (13, 10, 2)
    assert float(kl) == pytest.approx(0.0, abs=1e-5)


def test_augvae_trains_on_sgm_resampled_inputs(tiny_vae, tiny_sgm):
    from sgm_eqx.vae import AugVAE

    model = AugVAE(tiny_vae, tiny_sgm)
    x = blob_image(12, 0.3)
    key = jr.key(5)
    k_aug, k_vae = jr.split(key)

    @eqx.filter_jit
    def parts(model, x):
        vae = model.vae
        return (
            model.training_input(x, key=k_aug),
            model.sgm.resample(x, k_aug, 1)[0],
            model.training_loss(x, key=key, beta=1.0),
            vae.training_loss(model.training_input(x, key=k_aug), key=k_vae, beta=1.0),
            vae.training_loss(x, key=k_vae, beta=1.0),
            model.log_weight(x, key=key),
            vae.log_weight(x, key=key),
        )

    fed, resampled, loss, loss_fed, loss_x, lw_model, lw_vae = parts(model, x)
    np.testing.assert_allclose(fed, resampled, atol=1e-6)
    assert float(jnp.mean((fed - x) ** 2)) > 1e-3  # the input really changed
    # the loss is the VAE's loss on the resampled input, not on x
    np.testing.assert_allclose(loss, loss_fed, rtol=1e-5)
    assert abs(float(loss - loss_x)) > 1e-4
    # evaluation is the VAE's on x itself
    np.testing.assert_allclose(lw_model, lw_vae, rtol=1e-6)


def test_training_updates_the_vae_and_leaves_the_sgm_frozen(tiny_vae, tiny_sgm):
    from sgm_eqx.vae import AugVAE, VAETrainConfig, fit_vae

    model = AugVAE(tiny_vae, tiny_sgm)
    xs = jnp.stack([blob_image(12, a) for a in np.linspace(-1, 1, 8)])
    cfg = VAETrainConfig(steps=3, batch_size=4, lr=1e-2, warmup_frac=0.0)
    fit = fit_vae(jr.key(0), model, xs, cfg, progress=False, log_every=1)
    trained, hist = fit.model, fit.history
    assert fit.validation == [] and fit.best_step == 3
    assert len(hist) == 3 and all(math.isfinite(v) for _, v in hist)
    same = jax.tree_util.tree_map(
        lambda a, b: bool(jnp.all(a == b)),
        eqx.filter(trained.sgm, eqx.is_array),
        eqx.filter(model.sgm, eqx.is_array),
    )
    assert all(jax.tree_util.tree_leaves(same))
    moved = jnp.abs(trained.vae.raw_pixel_scale - model.vae.raw_pixel_scale).max()
    assert float(moved) > 0


def test_validation_returns_the_checkpoint_with_the_best_bound(tiny_vae):
    from sgm_eqx.vae import VAETrainConfig, evaluate_vae, fit_vae

    xs = jnp.stack([blob_image(12, a) for a in np.linspace(-1, 1, 8)])
    # a learning rate high enough that the bound moves a lot between checks
    cfg = VAETrainConfig(steps=6, batch_size=4, lr=0.3, warmup_frac=0.0)
    key = jr.key(3)
    fit = fit_vae(key, tiny_vae, xs, cfg, val_images=xs[:3], val_every=2, val_samples=4,
                  progress=False)  # fmt: skip
    steps = [s for s, _ in fit.validation]
    bounds = np.array([b for _, b in fit.validation])
    assert steps == [2, 4, 6]
    assert np.ptp(bounds) > 1.0  # the checkpoints differ, so the choice matters
    assert fit.best_step == steps[int(np.argmax(bounds))]
    # the returned model is that checkpoint: its validation bound, recomputed with the
    # same keys, is the best one recorded
    k_val = jr.split(key, 3)[2]
    again, _ = evaluate_vae(fit.model, xs[:3], key=k_val, n_samples=4, batch_size=3)
    np.testing.assert_allclose(np.mean(again), bounds.max(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"fit_vae\(val_every=\.\.\.\)"):
        fit_vae(key, tiny_vae, xs, cfg, val_images=xs[:3], val_every=-1)
    # (runtime type checking catches the shape first when it is on; the message names it)
    with pytest.raises((ValueError, TypeError), match=r"val_images"):
        fit_vae(key, tiny_vae, xs, cfg, val_images=jnp.zeros((2, 8, 8, 1)), val_every=1)


def _sharp_vae(size, sigma):
    """A VAE whose decoder mean is the canonical blob image whatever z: log p(x̂) is a
    sharp Gaussian around the prototype, so the bound is very sensitive to x̂."""
    d = size * size
    proto = blob_image(size, 0.0).reshape(-1)
    enc = LinearEncoder(jnp.zeros((2, d)), jnp.zeros(2), jnp.ones(2))
    return linear_gaussian_vae(jnp.zeros((d, 2)), proto, sigma, enc, (size, size, 1))


def test_invvae_bound_is_invariant_to_rotations_of_the_data():
    from sgm_eqx.vae import iwlb, make_inv_vae

    size, sigma = 24, 0.1
    vae = _sharp_vae(size, sigma)
    sgm = rotation_sgm(size)
    inv = make_inv_vae(vae, sgm, eta_scale=1e-3)
    x0 = blob_image(size, 0.0)
    angles = jnp.array([0.0, 0.5, -1.2, 2.0])
    # the data: the canonical image rotated (bilinear resampling), angles in radians
    xs = jax.vmap(lambda a: _rotate(x0, a))(angles)

    @eqx.filter_jit
    def bounds(model, xs):
        return jax.vmap(lambda x: iwlb(model, x, key=jr.key(7), n_samples=8))(xs)

    b_inv = np.asarray(bounds(inv, xs))
    b_vae = np.asarray(bounds(vae, xs))
    # the interpolation error: prototypes at the TRUE angle vs the canonical image, in nats
    protos = jax.vmap(lambda x, a: inv.prototype_at(x, jnp.array([0, 0, a, 0, 0.0])))(xs, angles)
    interp = np.asarray(jnp.sum((protos - x0[None]) ** 2, axis=(1, 2, 3))) / (2 * sigma**2)
    # invariant up to the interpolation error (+0.5 nats for the centroid estimate of θ) ...
    assert np.all(np.abs(b_inv - b_inv[0]) <= interp + 0.5)
    # ... which is small next to how much the same rotations move a plain VAE's bound
    assert np.all(np.abs(b_vae[1:] - b_vae[0]) > 20 * (interp[1:] + 0.5))


def _rotate(x, angle):
    from sgm_eqx.groups import Affine2D

    return Affine2D.identity(order=1).with_params(jnp.array([0, 0, angle, 0, 0.0])).apply(x)


def test_wrong_image_shapes_name_the_argument(tiny_vae, tiny_sgm, plain_user):
    from sgm_eqx.vae import AugVAE, VAETrainConfig, fit_vae, iwlb, make_inv_vae, make_vae

    with pytest.raises(ValueError, match=r"VAE.encode\(x=\.\.\.\).*\(12, 12, 1\)"):
        tiny_vae.log_weight(jnp.zeros((12, 12)), key=jr.key(0))
    with pytest.raises(ValueError, match=r"\(12, 12, 1\)"):
        iwlb(tiny_vae, jnp.zeros((4, 12, 12, 1)), key=jr.key(0), n_samples=2)
    other = make_vae(jr.key(0), image_shape=(8, 8, 1), latent_size=2, channels=(2,), hidden=(4,))
    with pytest.raises(
        ValueError, match=r"AugVAE\(vae=\.\.\., sgm=\.\.\.\).*\(12, 12, 1\).*\(8, 8, 1\)"
    ):
        AugVAE(other, tiny_sgm)
    with pytest.raises(ValueError, match=r"InvVAE\(vae=\.\.\., sgm=\.\.\.\)"):
        make_inv_vae(other, tiny_sgm, eta_scale=0.01)
    with pytest.raises(ValueError, match=r"eta_scale"):
        make_inv_vae(tiny_vae, tiny_sgm, eta_scale=-1.0)
    with pytest.raises(ValueError, match=r"eta_scale"):
        make_inv_vae(tiny_vae, rotation_sgm(12))  # a point-estimate net has no learned scale
    with pytest.raises(ValueError, match=r"train_images"):
        fit_vae(jr.key(0), tiny_vae, jnp.zeros((4, 8, 8, 1)), VAETrainConfig(steps=1))
    with pytest.raises(ValueError, match=r"VAETrainConfig\(steps"):
        VAETrainConfig(steps=0)
