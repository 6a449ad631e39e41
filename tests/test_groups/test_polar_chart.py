"""The polar chart of `Affine2D` (`chart="polar"`): what it is, and why it exists."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sgm_eqx.groups import Affine2D

_floats = st.floats(-1.0, 1.0, allow_nan=False, width=32)


def _rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


@settings(deadline=None, max_examples=25)
@given(t=st.tuples(_floats, _floats), theta=st.floats(-3.0, 3.0, width=32), a=_floats, s=_floats)
def test_polar_element_is_a_rotation_after_a_stretch_and_the_translation_column(t, theta, a, s):
    eta = jnp.array([t[0], t[1], theta, s + a, s - a], dtype=jnp.float32)
    m = np.asarray(Affine2D.identity(chart="polar").with_params(eta).matrix)
    linear = _rotation(theta) @ np.diag(np.exp([s + a, s - a]))
    np.testing.assert_allclose(m[:2, :2], linear, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m[:2, 2], t, atol=1e-6)
    np.testing.assert_allclose(m[2], [0.0, 0.0, 1.0])


def test_the_stretch_acts_alike_at_every_angle_in_the_polar_chart_only():
    """The singular values of the linear part are `e^{s ± a}` for every θ in the polar chart;
    in exponential coordinates the stretch fades as θ grows and vanishes at θ = π."""
    a = 0.2

    def singular_values(chart, theta):
        eta = jnp.array([0.0, 0.0, theta, a, -a])
        m = Affine2D.from_params(eta, chart=chart).matrix[:2, :2]
        return np.linalg.svd(np.asarray(m), compute_uv=False)

    for theta in (0.0, 1.0, 2.0, 3.0, np.pi):
        np.testing.assert_allclose(singular_values("polar", theta), np.exp([a, -a]), rtol=1e-5)
    exp_ratio = [np.log(np.divide(*singular_values("exp", th))) / 2 for th in (0.0, 2.0, np.pi)]
    assert exp_ratio[0] == pytest.approx(a, rel=1e-4)
    assert exp_ratio[1] < 0.5 * a and exp_ratio[2] < 1e-3


def test_polar_agrees_with_exp_to_first_order_and_keeps_its_chart():
    eta = 1e-3 * jnp.array([1.0, -2.0, 0.5, 0.7, -0.3])
    polar = Affine2D.from_params(eta, chart="polar")
    exp = Affine2D.from_params(eta)
    np.testing.assert_allclose(polar.matrix, exp.matrix, atol=1e-5)  # O(|η|²) apart
    g = Affine2D.identity(order=1, chart="polar")
    h = g.with_params(jnp.array([0.1, 0.2, 2.5, 0.3, -0.1]))
    for element in (h, h.inverse(), h.compose(h), jax.vmap(g.with_params)(jnp.zeros((2, 5)))):
        assert element.chart == "polar" and element.order == 1
    np.testing.assert_allclose(h.compose(h.inverse()).matrix, np.eye(3), atol=1e-5)
    # six parameters: the stretch is exp of the symmetric [[log s_x, shear], [shear, log s_y]]
    six = Affine2D.from_params(jnp.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3]), chart="polar")
    linear = np.asarray(six.matrix[:2, :2])
    np.testing.assert_allclose(linear, linear.T, atol=1e-6)
    np.testing.assert_allclose(np.linalg.eigvalsh(linear), np.exp([-0.3, 0.3]), rtol=1e-5)


def test_unknown_chart_is_named(plain_user):
    with pytest.raises(ValueError, match=r"Affine2D\(chart=...\).*'exp', 'polar'"):
        Affine2D.identity(chart="log")
    with pytest.raises(ValueError, match=r"from_params\(chart=...\)"):
        Affine2D.from_params(jnp.zeros(5), chart="log")
