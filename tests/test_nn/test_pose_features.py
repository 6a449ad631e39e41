"""Image-moment pose features: what they see of position, size and orientation."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

SIZE = 16


def _blob(key) -> jax.Array:
    """An asymmetric random object in the middle of a `SIZE`² frame (a clear border)."""
    img = jnp.zeros((SIZE, SIZE, 1))
    return img.at[5:11, 5:11, 0].set(jr.uniform(key, (6, 6)) ** 2)


def _moments(f: np.ndarray) -> np.ndarray:
    from sgm_eqx.nn._pose_features import MOMENT_ORDERS

    return np.array([f[4 + 4 * j] + 1j * f[5 + 4 * j] for j in range(len(MOMENT_ORDERS))])


def test_moments_turn_with_the_image_by_their_rotation_order():
    """rot90 (exact on the pixel grid) multiplies μ_pq by exp(±i (p - q) π/2), |μ| unchanged."""
    from sgm_eqx.nn import N_MOMENT_FEATURES, image_moments
    from sgm_eqx.nn._pose_features import MOMENT_ORDERS

    x = _blob(jr.key(0))
    f, g = np.asarray(image_moments(x)), np.asarray(image_moments(jnp.rot90(x, axes=(0, 1))))
    assert f.shape == (N_MOMENT_FEATURES,)
    mu, nu = _moments(f), _moments(g)
    assert np.abs(mu).min() > 1e-3  # every order is seen by this asymmetric object
    order = np.array([p - q for p, q in MOMENT_ORDERS])
    turned = [mu * np.exp(1j * order * s * np.pi / 2) for s in (1, -1)]
    err = min(np.abs(t - nu).max() for t in turned)
    assert err < 1e-5, err  # float32 sums over 256 pixels
    # size and mass are rotation invariant; the centroid turns about the frame's centre
    np.testing.assert_allclose(g[2:4], f[2:4], atol=1e-5)
    np.testing.assert_allclose(np.hypot(*g[:2]), np.hypot(*f[:2]), atol=1e-5)


def test_moments_ignore_shifts_and_scale_of_intensity_but_see_position():
    from sgm_eqx.nn import image_moments

    x = _blob(jr.key(1))
    f = np.asarray(image_moments(x))
    shifted = np.asarray(image_moments(jnp.roll(x, (3, -2), axis=(0, 1))))
    np.testing.assert_allclose(shifted[3:], f[3:], atol=1e-5)  # size and shape: invariant
    step = 2 / (SIZE - 1)
    np.testing.assert_allclose(shifted[:2] - f[:2], [-2 * step, 3 * step], atol=1e-5)
    np.testing.assert_allclose(np.asarray(image_moments(3 * x + 0.5))[4:], f[4:], atol=1e-5)


def test_empty_image_gives_finite_features_and_gradients():
    from sgm_eqx.nn import image_moments

    zero = jnp.zeros((SIZE, SIZE, 2))
    assert np.isfinite(np.asarray(image_moments(zero))).all()
    grad = jax.grad(lambda x: jnp.sum(image_moments(x)))(zero)
    assert np.isfinite(np.asarray(grad)).all()


@pytest.mark.parametrize("backbone", ["mlp", "cnn"])
def test_inference_net_with_pose_features_starts_at_the_identity(backbone):
    from sgm_eqx.nn import PoseFeatureEncoder, make_inference_net

    net = make_inference_net(
        jr.key(2),
        image_shape=(SIZE, SIZE, 1),
        n_params=5,
        hidden=(8,),
        backbone=backbone,
        conv_channels=(2, 2),
        pose_features=True,
        dropout=0.1,
    )
    assert isinstance(net.encoder, PoseFeatureEncoder)
    x = _blob(jr.key(3))
    assert net.encoder.out_size == net.encoder(x).shape[0] == 8 + 256
    np.testing.assert_array_equal(np.asarray(net(x)), np.zeros(5))
    assert np.isfinite(np.asarray(net(x, key=jr.key(4)))).all()


def test_pose_feature_encoder_names_a_wrong_image_shape(plain_user):
    from sgm_eqx.nn import make_inference_net

    net = make_inference_net(
        jr.key(0), image_shape=(SIZE, SIZE, 1), n_params=2, hidden=(4,), pose_features=True
    )
    with pytest.raises(ValueError, match=r"PoseFeatureEncoder.*expected an image of shape"):
        net.encoder(jnp.zeros((SIZE, SIZE + 1, 1)))
