"""Gaussian blur and RGB <-> HSV."""

import jax
import jax.numpy as jnp
import matplotlib.colors
import numpy as np
import pytest
import scipy.ndimage
from jax.test_util import check_grads

from sgm_eqx.image import gaussian_blur, hsv_to_rgb, rgb_to_hsv

BLUR_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 1, (7, 9, 2)).astype(np.float32)


def test_gaussian_blur_matches_scipy_gaussian_filter(image):
    # A size-5 filter is scipy's gaussian_filter truncated at radius 2 (truncate = 2 / σ);
    # float32 sums of 25 taps: 1e-5.
    for mode in BLUR_MODES:
        expected = np.stack(
            [
                scipy.ndimage.gaussian_filter(
                    image[..., c].astype(np.float64), 1.3, mode=mode, truncate=2 / 1.3
                )
                for c in range(2)
            ],
            axis=-1,
        )
        actual = gaussian_blur(jnp.asarray(image), 1.3, size=5, mode=mode)
        np.testing.assert_allclose(np.asarray(actual), expected, atol=1e-5, err_msg=mode)


def test_gaussian_blur_with_zero_sigma_is_the_identity_even_when_traced(image):
    x = jnp.asarray(image)
    np.testing.assert_array_equal(np.asarray(gaussian_blur(x, 0.0)), image)
    traced = jax.jit(lambda s: gaussian_blur(x, s, size=5))(jnp.float32(0.0))
    np.testing.assert_allclose(np.asarray(traced), image, atol=1e-7)
    grad = jax.grad(lambda s: jnp.sum(gaussian_blur(x, s, size=5) ** 2))(jnp.float32(0.0))
    assert np.isfinite(grad)


def test_gaussian_blur_preserves_mass_away_from_edges_and_smooths():
    delta = jnp.zeros((11, 11, 1), jnp.float32).at[5, 5, 0].set(1.0)
    out = np.asarray(gaussian_blur(delta, 1.0, size=5))
    np.testing.assert_allclose(out.sum(), 1.0, atol=1e-6)  # normalised taps
    assert out[5, 5, 0] < 0.2 and out[5, 6, 0] == pytest.approx(out[6, 5, 0])


def test_gaussian_blur_gradients_match_finite_differences(image):
    # Smooth in sigma (> 0) and linear in the image; eps 1e-3 in float32, tolerance 1e-2.
    def fn(x, s):
        return gaussian_blur(jnp.asarray(x), jnp.asarray(s), size=5)

    check_grads(
        jax.jit(fn),
        (jnp.asarray(image), jnp.float32(1.2)),
        order=1,
        modes=("rev",),
        eps=1e-3,
        atol=1e-2,
        rtol=1e-2,
    )


def test_rgb_to_hsv_matches_matplotlib_and_round_trips():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0, 1, (6, 6, 3)).astype(np.float32)
    rgb[0, :3] = [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 0.2, 0.2]]  # grey, black, red
    rgb[1, :2] = [[0.3, 0.7, 0.7], [0.6, 0.6, 0.1]]  # ties between the largest channels
    hsv = np.asarray(jax.jit(rgb_to_hsv)(jnp.asarray(rgb)))
    np.testing.assert_allclose(hsv, matplotlib.colors.rgb_to_hsv(rgb), atol=1e-6)
    back = np.asarray(jax.jit(hsv_to_rgb)(jnp.asarray(hsv)))
    np.testing.assert_allclose(back, rgb, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(hsv_to_rgb(jnp.asarray(hsv))), matplotlib.colors.hsv_to_rgb(hsv), atol=1e-6
    )


def test_hsv_gradients_are_finite_at_grey_and_black_pixels():
    rgb = jnp.asarray([[[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]], dtype=jnp.float32)
    grad = jax.grad(lambda x: jnp.sum(rgb_to_hsv(x) ** 2))(rgb)
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: gaussian_blur(jnp.zeros((4, 4)), 1.0), ValueError, r"image=.*\(H, W, C\)"),
        (lambda: gaussian_blur(jnp.zeros((4, 4, 1), jnp.int32), 1.0), TypeError, r"image=.*float"),
        (lambda: gaussian_blur(jnp.zeros((4, 4, 1)), -1.0), ValueError, r"sigma=.*>= 0"),
        (lambda: gaussian_blur(jnp.zeros((4, 4, 1)), jnp.float32(1.0)), ValueError, r"size="),
        (lambda: gaussian_blur(jnp.zeros((4, 4, 1)), 1.0, size=4), ValueError, r"size=.*odd"),
        (lambda: gaussian_blur(jnp.zeros((4, 4, 1)), 1.0, mode="x"), ValueError, r"mode="),
        (lambda: rgb_to_hsv(jnp.zeros((4, 4, 1))), ValueError, r"image=.*size 3"),
        (lambda: hsv_to_rgb(jnp.zeros((4, 4, 3), jnp.int32)), TypeError, r"image=.*floating"),
    ],
)
def test_bad_input_raises_a_clear_error_naming_the_argument(plain_user, call, error, match):
    with pytest.raises(error, match=match):
        call()
