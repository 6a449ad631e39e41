"""Group laws and action compatibility of `SpecialConformal` (hypothesis properties)."""

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra.numpy import arrays


def _bounded(shape, bound):
    unit = arrays(np.float32, shape, elements=st.floats(-1.0, 1.0, width=32))
    return unit.map(lambda a: (a * np.float32(bound)).astype(np.float32))


# |b| <= 0.2 * sqrt(2) and |p| <= 1: the denominator 1 - 2 b·p + |b|²|p|² = |e - |p| b|² style
# bound gives den >= (1 - |b||p|)^2 >= 0.5, so every map (and every composition of two) stays
# far from the singular point b/|b|^2; float32 round-off is then ~1e-6 relative.
PARAMS = _bounded((2,), 0.2)
POINTS = _bounded((7, 2), 1.0)
SCALARS = st.floats(-1.0, 1.0, width=32)


def _sct():
    from sgm_eqx.groups import SpecialConformal

    return SpecialConformal


@functools.cache
def _jitted():
    sct = _sct()

    @jax.jit
    def laws(b1, b2, b3, p, s, t):
        g, h, k = sct.from_params(b1), sct.from_params(b2), sct.from_params(b3)
        e = sct.identity()
        return dict(
            identity_b=(e.compose(g).b, g.compose(e).b, g.b),
            identity_points=(e.transform_points(p), p),
            inverse_b=(g.compose(g.inverse()).b, g.inverse().compose(g).b, e.b),
            inverse_points=(g.inverse().transform_points(g.transform_points(p)), p),
            assoc=(g.compose(h).compose(k).b, g.compose(h.compose(k)).b),
            homomorphism=(
                sct.from_params(s * b1).compose(sct.from_params(t * b1)).b,
                sct.from_params((s + t) * b1).b,
            ),
            compat_points=(
                g.compose(h).transform_points(p),
                g.transform_points(h.transform_points(p)),
            ),
        )

    return laws


@given(b1=PARAMS, b2=PARAMS, b3=PARAMS, p=POINTS, s=SCALARS, t=SCALARS)
def test_group_laws_hold_exactly_on_parameters_and_points(b1, b2, b3, p, s, t):
    out = _jitted()(
        jnp.asarray(b1),
        jnp.asarray(b2),
        jnp.asarray(b3),
        jnp.asarray(p),
        jnp.float32(s),
        jnp.float32(t),
    )
    for name, values in out.items():
        ref = np.asarray(values[-1])
        for v in values[:-1]:
            # float32 round-off on O(1) quantities (points stay within |p| <= 2 here)
            np.testing.assert_allclose(np.asarray(v), ref, atol=2e-5, err_msg=name)


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


@functools.cache
def _image_law():
    sct = _sct()

    @jax.jit
    def law(b1, b2, image):
        g = sct.from_params(b1, order=3)
        h = sct.from_params(b2, order=3)
        return g.compose(h).apply(image), g.apply(h.apply(image)), g.inverse().apply(g.apply(image))

    return law


@given(b1=_bounded((2,), 0.1), b2=_bounded((2,), 0.1), idx=st.integers(0, 3))
def test_image_action_is_compatible_with_composition(smooth_images, b1, b2, idx):
    img = smooth_images[idx]
    once, twice, roundtrip = _image_law()(jnp.asarray(b1), jnp.asarray(b2), img)
    # One cubic B-spline resampling of these blobs (σ ≈ 2.2 px, max 1) is accurate to ~1e-3;
    # two resamplings against one differ by a few of those; content stays inside the frame
    # for |b| <= 0.14 (blob centres within radius 0.4), so boundaries play no role.
    np.testing.assert_allclose(np.asarray(once), np.asarray(twice), atol=1e-2)
    np.testing.assert_allclose(np.asarray(roundtrip), np.asarray(img), atol=1e-2)


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
