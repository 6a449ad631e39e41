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


def _turn(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-π, π]."""
    return np.angle(np.exp(1j * a))


def test_turning_vectors_turn_with_the_content():
    """rot90 turns the content by +90° in the y-up frame: every vector (x, y) becomes (-y, x)."""
    from sgm_eqx.groups import Affine2D
    from sgm_eqx.nn import N_TURNING, turning_vectors

    x = _blob(jr.key(0))
    z = np.asarray(turning_vectors(x))
    assert z.shape == (N_TURNING, 2)
    assert np.linalg.norm(z, axis=1).min() > 1e-2  # every vector is seen by this blob
    quarter = np.stack([-z[:, 1], z[:, 0]], axis=1)
    np.testing.assert_allclose(turning_vectors(jnp.rot90(x, axes=(0, 1))), quarter, atol=1e-5)
    # the same sense as the action's rotation (a quarter turn is exact up to rounding)
    turned = Affine2D.from_params(jnp.array([0.0, 0.0, np.pi / 2, 0.0, 0.0]), order=1).apply(x)
    np.testing.assert_allclose(turning_vectors(turned), quarter, atol=1e-3)


def test_turning_vectors_vanish_for_a_centrally_symmetric_shape_and_follow_the_axis():
    from sgm_eqx.nn import image_moments, turning_vectors
    from sgm_eqx.nn._pose_features import MOMENT_ORDERS

    # a rectangle: 180° symmetric, so no full turn can be read from it
    rect = jnp.zeros((SIZE, SIZE, 1)).at[5:11, 3:13].set(1.0)
    np.testing.assert_allclose(turning_vectors(rect), 0.0, atol=1e-4)
    # an asymmetric blob: z_2 lies along one of its order-2 axes (arg z_2 = -arg μ_20 / 2 mod π)
    x = _blob(jr.key(1))
    f = np.asarray(image_moments(x))
    j = MOMENT_ORDERS.index((2, 0))
    mu_20 = f[4 + 4 * j] + 1j * f[5 + 4 * j]
    z_2 = np.asarray(turning_vectors(x))[1]
    axis = -np.angle(mu_20) / 2
    assert abs(_turn(2 * (np.arctan2(z_2[1], z_2[0]) - axis))) < 1e-4


def test_angle_readout_turns_with_the_image_at_init_and_is_not_bounded():
    from sgm_eqx.nn import make_inference_net

    net = make_inference_net(
        jr.key(5),
        image_shape=(SIZE, SIZE, 1),
        n_params=5,
        hidden=(8,),
        angles=(2,),
        eta_bound=(0.5, 0.5, 0.1, 0.5, 0.5),  # a bound on the angle is ignored
    )
    x = _blob(jr.key(6))
    eta, eta_rot = np.asarray(net(x)), np.asarray(net(jnp.rot90(x, axes=(0, 1))))
    np.testing.assert_array_equal(eta[[0, 1, 3, 4]], 0.0)  # the other parameters start at 0
    assert abs(eta[2]) > 0.1 or abs(eta_rot[2]) > 0.1  # the angle is the image's own
    np.testing.assert_allclose(_turn(eta_rot[2] - eta[2] - np.pi / 2), 0.0, atol=1e-4)
    # the angle is neither bounded nor wrapped (the others are bounded)
    u = jnp.array([0.0, 0.0, 3.0 * np.pi / 2, 10.0, 0.0])
    np.testing.assert_allclose(net.bound(u)[2:4], [3.0 * np.pi / 2, 0.5], rtol=1e-5)
    grads = jax.grad(lambda n: n(x)[2])(net)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_angle_readout_names_bad_indices(plain_user):
    from sgm_eqx.nn import make_inference_net

    with pytest.raises(ValueError, match=r"InferenceNet\(angles=...\).*\[0, 5\)"):
        make_inference_net(jr.key(0), image_shape=(SIZE, SIZE, 1), n_params=5, angles=(5,))
