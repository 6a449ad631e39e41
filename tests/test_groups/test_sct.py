"""What is particular to `SpecialConformal`: its formula, its singular point, how content moves.

Its group laws and image compatibility are tested with every other action's, from the
registry `strategies.ACTIONS` (`test_laws.py`).
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest


def _sct():
    from sgm_eqx.groups import SpecialConformal

    return SpecialConformal


def test_formula_matches_inversion_translation_inversion():
    sct = _sct()
    b = jnp.array([0.3, -0.2])
    p = jnp.array([[0.5, 0.25], [-0.7, 0.1], [0.2, -0.9]])

    def inversion(q):
        return q / jnp.sum(q * q, axis=-1, keepdims=True)

    expected = inversion(inversion(p) - b[None, :])
    np.testing.assert_allclose(sct.from_params(b).transform_points(p), expected, rtol=1e-5)


def test_singular_point_is_sent_far_away_not_nan():
    sct = _sct()
    b = jnp.array([0.5, 0.0])
    out = sct.from_params(b).transform_points(b / jnp.sum(b * b))
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) > 1e3)


@pytest.fixture(scope="module")
def smooth_images():
    from sgm_eqx.detect import synthetic_images

    return synthetic_images(jr.key(3), 4, size=24)


def test_image_action_moves_content_as_points(smooth_images):
    # The centroid of a small blob follows the point map.
    sct = _sct()
    n = 48
    c = (2 * jnp.arange(n, dtype=jnp.float32) + 1.0) / n - 1.0
    x, y = c[None, :], -c[:, None]
    img = jnp.exp(-((x - 0.3) ** 2 + (y - 0.2) ** 2) / (2 * 0.06**2))[..., None]
    g = sct.from_params(jnp.array([0.2, -0.1]), order=3)
    out = g.apply(img)[..., 0]
    centroid = jnp.stack([jnp.sum(out * x), jnp.sum(out * y)]) / jnp.sum(out)
    expected = g.transform_points(jnp.array([0.3, 0.2]))
    # the blob is small (σ = 0.06) but the map is non-linear: its centroid moves by O(σ²)
    np.testing.assert_allclose(centroid, expected, atol=1e-2)


def test_batched_elements_work_under_vmap(smooth_images):
    sct = _sct()
    bs = jnp.array([[0.0, 0.0], [0.1, 0.0], [0.0, -0.1]])
    out = jax.vmap(lambda b, im: sct.from_params(b).apply(im))(bs, smooth_images[:3])
    assert out.shape == smooth_images[:3].shape
    np.testing.assert_allclose(out[0], smooth_images[0], atol=1e-6)


def test_bad_configuration_raises_clear_errors():
    sct = _sct()
    with pytest.raises(ValueError, match="expected shape \\(2,\\)"):
        sct.from_params(jnp.zeros(3))
    with pytest.raises(ValueError, match="order"):
        sct.identity(order=2)
    with pytest.raises(ValueError, match="mode"):
        sct.identity(mode="bogus")
