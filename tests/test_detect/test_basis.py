"""Generator bases: Shannon–Whittaker derivatives and the flows they generate."""

import math
from typing import Literal

import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
import numpy as np
import pytest


@pytest.mark.parametrize("n", [7, 8, 12])
def test_sw_derivative_is_exact_on_band_limited_periodic_signals(n):
    from sgm_eqx.detect import shannon_whittaker_derivative

    i = np.arange(n)
    p_max = (n - 1) // 2
    f = np.cos(2 * math.pi * p_max * i / n) + 0.5 * np.sin(2 * math.pi * 1 * i / n)
    df = -(2 * math.pi * p_max / n) * np.sin(2 * math.pi * p_max * i / n) + 0.5 * (
        2 * math.pi / n
    ) * np.cos(2 * math.pi * i / n)
    d = np.asarray(shannon_whittaker_derivative(n))
    np.testing.assert_allclose(d @ f, df, atol=1e-5)  # float32 matrix entries
    np.testing.assert_allclose(d, -d.T, atol=1e-7)  # antisymmetric


def test_separable_generator_equals_dense_basis_matrices(getkey):
    from sgm_eqx.detect import apply_generator, basis_matrices, generator_matrix

    h, w = 6, 5
    img = jr.normal(getkey(), (h, w))
    cases: tuple[tuple[Literal["quadratic", "affine"], int], ...] = (
        ("quadratic", 12),
        ("affine", 6),
    )
    for basis, k in cases:
        alpha = jr.normal(getkey(), (k,))
        dense = generator_matrix(alpha, basis_matrices(h, w, basis)) @ img.ravel()
        np.testing.assert_allclose(apply_generator(alpha, img), dense.reshape(h, w), atol=1e-4)


def _blob_function(centres, sigma):
    def f(p):  # p: (..., 2) normalised points -> (...,)
        c = centres.reshape((1,) * (p.ndim - 1) + centres.shape)  # explicit broadcast
        d2 = jnp.sum((p[..., None, :] - c) ** 2, axis=-1)
        return jnp.sum(jnp.exp(-0.5 * d2 / sigma**2), axis=-1)

    return f


@pytest.mark.parametrize(
    "kind, t",
    [
        ("rotation", 0.2),
        ("rotation", -0.1),
        ("scale", 0.1),
        ("translate-x", 0.1),
        ("shear", 0.15),
        ("sct", 0.1),
    ],
)
def test_matrix_exponential_of_generator_reproduces_the_flow(kind, t):
    """exp(t G) applied to a smooth image equals the exactly transformed image."""
    from sgm_eqx.detect import (
        OneParameterTransform,
        basis_matrices,
        generator_matrix,
        normalised_coordinates,
    )

    n = 16
    # Blobs of σ = 0.2 (1.6 px) inside radius 0.35: nearly band-limited at n = 16 and ~0 at
    # the border, so the periodic interpolation the derivative matrices assume is accurate.
    centres = jnp.array([[0.3, 0.1], [-0.2, 0.25], [0.0, -0.3]])
    f = _blob_function(centres, 0.2)
    grid = jnp.moveaxis(normalised_coordinates(n, n), 0, -1)
    tr = OneParameterTransform(kind)
    image = f(grid)
    exact = f(tr.transform_points(jnp.asarray(-t), grid))  # out(p) = in(φ_{-t}(p))
    g = generator_matrix(tr.alpha_true(), basis_matrices(n, n))
    flowed = (jsl.expm(t * g) @ image.ravel()).reshape(n, n)
    change = float(jnp.max(jnp.abs(exact - image)))
    err = float(jnp.max(jnp.abs(flowed - exact)))
    # The residual (aliasing of the not-quite band-limited blobs, periodic wrap) is measured at
    # ~1-3% of the peak; the transformation itself changes pixels by 10-60% of the peak.
    assert err < 0.05 and err < 0.25 * change, (err, change)


def test_true_generators_are_the_first_order_change_of_transformed_images():
    from sgm_eqx.detect import OneParameterTransform, apply_generator, synthetic_images

    img = synthetic_images(jr.key(0), 1, size=16)[0]
    t = jnp.asarray(1e-2)
    for kind in ("rotation", "scale", "translate-y", "sct", "rotation+scale"):
        tr = OneParameterTransform(kind, order=3)
        diff = (tr.apply(img, t) - tr.apply(img, -t))[..., 0] / (2 * t)
        gi = apply_generator(tr.alpha_true(), img[..., 0])
        cos = jnp.sum(diff * gi) / jnp.sqrt(jnp.sum(diff**2) * jnp.sum(gi**2))
        # Central differences with t = 1e-2 of a cubic-spline resampling: truncation O(t²) and
        # float32 round-off ~1e-5 relative; measured cos >= 0.9998 for every kind. A wrong sign
        # gives -1 and a wrong term (e.g. x∂y for y∂x) gives |cos| well below 0.9.
        assert cos > 0.999, (kind, float(cos))  # sign and direction of alpha_true


def test_composition_generator_is_the_sum():
    from sgm_eqx.detect import OneParameterTransform

    a = OneParameterTransform("rotation+scale").alpha_true()
    b = OneParameterTransform("rotation").alpha_true() + OneParameterTransform("scale").alpha_true()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="affine kinds only"):
        OneParameterTransform("sct+rotation")
    with pytest.raises(ValueError, match="unknown transform"):
        OneParameterTransform("spin")


def test_coefficient_fields_of_rotation_is_a_rotation_field():
    from sgm_eqx.detect import OneParameterTransform, coefficient_fields

    x, y = jnp.array([0.5, 0.0]), jnp.array([0.0, 0.5])
    gx, gy = coefficient_fields(OneParameterTransform("rotation").alpha_true(), x, y)
    # G = y∂x - x∂y: Γ = (y, -x)
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, -x)
    with pytest.raises(ValueError, match="expected shape \\(6,\\) or \\(12,\\)"):
        coefficient_fields(jnp.zeros(5), x, y)


@pytest.mark.parametrize("kind", ["translate-x", "translate-y"])
def test_translation_flow_is_exact_on_band_limited_periodic_images(kind):
    """Shannon–Whittaker derivatives are exact on trigonometric polynomials, so exp(t G) of a
    translation generator shifts such an image exactly (up to float32 round-off), for any t."""
    from sgm_eqx.detect import (
        OneParameterTransform,
        basis_matrices,
        generator_matrix,
        normalised_coordinates,
    )

    n, t = 12, 0.37  # period 2 in normalised units; frequencies p <= (n - 1) // 2 = 5

    def f(x, y):
        return jnp.cos(jnp.pi * 3 * x + 0.4) * jnp.sin(jnp.pi * 2 * y) + 0.5 * jnp.cos(
            jnp.pi * 5 * y - 0.1
        )

    x, y = normalised_coordinates(n, n)
    tr = OneParameterTransform(kind)
    g = generator_matrix(tr.alpha_true(), basis_matrices(n, n))
    flowed = (jsl.expm(t * g) @ f(x, y).ravel()).reshape(n, n)
    exact = f(x - t, y) if kind == "translate-x" else f(x, y - t)  # content moves by +t
    np.testing.assert_allclose(flowed, exact, atol=2e-4)  # float32 expm of a 144 x 144 matrix
