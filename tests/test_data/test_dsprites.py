"""Procedural dSprites: latent distributions (App. C.3.1), renderer geometry, determinism."""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats


@pytest.fixture(scope="module")
def latents():
    from sgm_eqx.data import sample_dsprites_latents

    return np.asarray(sample_dsprites_latents(jr.key(0), 30_000))


def _of(latents, shape):
    return latents[np.round(latents[:, 0]) == shape]


def _truncnorm_mean(mean, std, low, high):
    return scipy.stats.truncnorm.mean((low - mean) / std, (high - mean) / std, mean, std)


def test_shapes_are_equally_likely(latents):
    counts = np.bincount(latents[:, 0].astype(int), minlength=3) / len(latents)
    # Binomial std with n = 30k is 0.0027; 0.015 is > 5 sigma.
    np.testing.assert_allclose(counts, 1 / 3, atol=0.015)


# (shape, column, (low, high), mean): supports and means of App. C.3.1; truncated normals'
# means come from scipy.stats.truncnorm (the second parameter is the standard deviation, as
# in the authors' loader and the paper's Fig. 12).
_CASES = [
    (0, 1, (0.55, 1.0), _truncnorm_mean(0.75, 0.2, 0.55, 1.0)),
    (0, 2, (0.0, 2 * math.pi), math.pi),
    (0, 3, (0.5, 0.95), 0.725),
    (0, 4, (0.5, 0.95), 0.725),
    (1, 1, (0.5, 0.85), _truncnorm_mean(0.65, 0.15, 0.5, 0.85)),
    (1, 2, (0.0, math.pi / 2), math.pi / 4),
    (1, 3, (0.1, 0.9), 0.5),
    (1, 4, (0.35, 0.65), 0.5),
    (2, 1, (0.9, 1.0), 0.95),
    (2, 3, (0.1, 0.5), 0.3),
    (2, 4, (0.1, 0.9), 0.5),
]


@pytest.mark.parametrize("shape,column,support,mean", _CASES)
def test_latent_marginals_match_appendix_c31(latents, shape, column, support, mean):
    values = _of(latents, shape)[:, column]
    assert values.min() >= support[0] - 1e-6
    assert values.max() <= support[1] + 1e-6
    # ~10k samples; the standard error of the mean is < range / sqrt(12 * 10k) < 0.01 range.
    assert abs(values.mean() - mean) < 0.03 * (support[1] - support[0])


def test_truncated_normal_matches_scipy_distribution(latents):
    # Square scale ~ TruncNorm(0.75, σ = 0.2, 0.55, 1.0): a KS test against scipy's law.
    std = 0.2
    law = scipy.stats.truncnorm((0.55 - 0.75) / std, (1.0 - 0.75) / std, 0.75, std)
    stat = scipy.stats.kstest(_of(latents, 0)[:, 1], law.cdf).statistic
    assert stat < 0.02  # critical value at n = 10k, α = 1e-3 is 0.0195


def test_hearts_have_no_rotation_and_bimodal_height(latents):
    hearts = _of(latents, 2)
    assert np.all(hearts[:, 2] == 0.0)
    y = hearts[:, 4]
    assert not np.any((y > 0.3) & (y < 0.7))
    top = np.mean(y >= 0.7)
    assert abs(top - 0.5) < 0.03


def test_sampling_is_deterministic_given_key():
    from sgm_eqx.data import make_dsprites

    a = make_dsprites(jr.key(3), 12, size=16)
    b = make_dsprites(jr.key(3), 12, size=16)
    c = make_dsprites(jr.key(4), 12, size=16)
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
    np.testing.assert_array_equal(np.asarray(a.latents), np.asarray(b.latents))
    assert not np.array_equal(np.asarray(a.latents), np.asarray(c.latents))
    assert a.images.shape == (12, 16, 16, 1)
    assert float(a.images.min()) >= 0.0 and float(a.images.max()) <= 1.0
    assert a.latents is not None
    np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(a.latents[:, 0]).astype(int))


def _render(lat, size=32, supersample=8):
    from sgm_eqx.data import render_dsprites

    return np.asarray(
        render_dsprites(jnp.asarray(lat, jnp.float32), size=size, supersample=supersample)
    )[..., 0]


def _centroid(img):
    h, w = img.shape
    x = (2 * np.arange(w) + 1) / w - 1
    y = 1 - (2 * np.arange(h) + 1) / h
    m = img.sum()
    return (img.sum(0) * x).sum() / m, (img.sum(1) * y).sum() / m


def test_square_at_scale_one_covers_a_quarter_of_the_side():
    from sgm_eqx.data import SPRITE_RADIUS

    img = _render([[0, 1.0, 0.0, 0.5, 0.5]], size=32)[0]
    # Axis-aligned square of side 2 * SPRITE_RADIUS = 0.5 normalised = 8 pixels, centred.
    assert img.sum() == pytest.approx((2 * SPRITE_RADIUS * 32 / 2) ** 2, rel=1e-3)
    np.testing.assert_array_equal(img[12:20, 12:20], 1.0)
    assert img[:12].sum() == 0.0 and img[20:].sum() == 0.0


def test_position_latents_move_the_sprite_right_and_up():
    from sgm_eqx.data import POSITION_EXTENT

    for x, y in [(0.0, 0.0), (1.0, 0.25), (0.3, 1.0)]:
        img = _render([[1, 0.8, 0.3, x, y]])[0]
        cx, cy = _centroid(img)
        # The ellipse is centrally symmetric, so its centroid is its centre (up to AA error).
        assert cx == pytest.approx(POSITION_EXTENT * (2 * x - 1), abs=0.01)
        assert cy == pytest.approx(POSITION_EXTENT * (2 * y - 1), abs=0.01)


@pytest.mark.parametrize("theta", [0.3, 1.0, -2.2])
def test_square_at_orientation_equals_the_rotated_square(theta):
    from sgm_eqx.groups import Affine2D

    size = 32
    upright = _render([[0, 1.0, 0.0, 0.5, 0.5]], size=size)[0]
    rotated = _render([[0, 1.0, theta, 0.5, 0.5]], size=size)[0]
    eta = jnp.asarray([0.0, 0.0, theta, 0.0, 0.0], jnp.float32)
    warped = np.asarray(Affine2D.from_params(eta, order=1).apply(jnp.asarray(upright)[..., None]))
    diff = np.abs(warped[..., 0] - rotated)
    # Bilinear resampling of a box-filtered (8x8 supersampled) edge differs from re-rendering
    # only on boundary pixels, by a fraction of a pixel's coverage: measured mean 0.001, max
    # 0.05. The wrong sign of θ gives mean >= 0.014 and max >= 0.67, so these bounds separate.
    assert diff.mean() < 0.004
    assert diff.max() < 0.2
    assert rotated.sum() == pytest.approx(upright.sum(), rel=0.01)


@pytest.mark.parametrize("shape,symmetric_angle", [(0, math.pi / 2), (1, math.pi)])
def test_rotational_symmetry_of_square_and_ellipse(shape, symmetric_angle):
    a, b = _render([[shape, 0.9, 0.2, 0.4, 0.6], [shape, 0.9, 0.2 + symmetric_angle, 0.4, 0.6]])
    np.testing.assert_allclose(a, b, atol=0.03)  # only sub-pixel boundary points may flip


def test_heart_has_no_rotational_symmetry_and_lobes_up():
    up, down = _render([[2, 1.0, 0.0, 0.5, 0.5], [2, 1.0, math.pi, 0.5, 0.5]])
    assert np.abs(up - down).mean() > 0.02
    # The tip is at the bottom, so the mass lies above the centre.
    assert _centroid(up)[1] > 0.0 > _centroid(down)[1]


def test_pose_round_trip():
    from sgm_eqx.data import dsprites_pose, pose_to_latents

    lat = jnp.asarray([1.0, 0.7, 0.4, 0.2, 0.9])
    back = pose_to_latents(dsprites_pose(lat), lat[0])
    np.testing.assert_allclose(np.asarray(back), np.asarray(lat), atol=1e-5)


def test_affine_element_maps_pose_to_pose():
    # A = M2 M1^{-1} applied to sprite 1 gives sprite 2 (the convention the metrics rely on).
    from sgm_eqx.data import dsprites_pose
    from sgm_eqx.groups import Affine2D

    l1 = jnp.asarray([2.0, 0.95, 0.0, 0.3, 0.3])
    l2 = jnp.asarray([2.0, 0.9, 0.5, 0.45, 0.7])
    a = dsprites_pose(l2) @ jnp.linalg.inv(dsprites_pose(l1))
    img1, img2 = _render(jnp.stack([l1, l2]))
    warped = np.asarray(Affine2D(matrix=a, order=1).apply(jnp.asarray(img1)[..., None]))[..., 0]
    assert np.abs(warped - img2).mean() < 0.015


def test_bad_arguments_raise_clear_errors():
    from sgm_eqx.data import render_dsprites, sample_dsprites_latents

    with pytest.raises(ValueError, match="n >= 0"):
        sample_dsprites_latents(jr.key(0), -1)
    with pytest.raises(ValueError, match="size"):
        render_dsprites(jnp.zeros((1, 5)), size=2)
    assert render_dsprites(jnp.zeros((0, 5)), size=8).shape == (0, 8, 8, 1)


def test_render_is_jittable_and_vectorised():
    from sgm_eqx.data import render_dsprites

    lat = jnp.asarray([[0, 1.0, 0.0, 0.5, 0.5], [2, 1.0, 0.0, 0.2, 0.8]], jnp.float32)
    batch = render_dsprites(lat, size=16, batch_size=1)
    singles = jnp.concatenate([render_dsprites(lat[i : i + 1], size=16) for i in range(2)])
    np.testing.assert_array_equal(np.asarray(batch), np.asarray(singles))
