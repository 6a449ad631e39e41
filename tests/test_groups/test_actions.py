"""Semantics, gradients and input validation of the concrete group actions."""

import functools

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads
from strategies import blob

from sgm_eqx.groups import Affine2D, HSVColor, MatrixLieGroup, Product, expm_affine

# Generators of `Affine2D.from_params`, in parameter order (documented in its docstring).
GENERATORS = np.zeros((6, 3, 3), np.float32)
GENERATORS[0, 0, 2] = 1.0  # translation x
GENERATORS[1, 1, 2] = 1.0  # translation y
GENERATORS[2, :2, :2] = [[0, -1], [1, 0]]  # rotation, counter-clockwise with y up
GENERATORS[3, 0, 0] = 1.0  # log scale x
GENERATORS[4, 1, 1] = 1.0  # log scale y
GENERATORS[5, :2, :2] = [[0, 1], [1, 0]]  # symmetric shear


def _centre_of_mass(image):
    """Centre of mass `(x, y)` of a one-channel image in the normalised frame (y up)."""
    h, w = image.shape[:2]
    xs = (2 * np.arange(w) + 1) / w - 1
    ys = 1 - (2 * np.arange(h) + 1) / h
    m = np.asarray(image[..., 0], np.float64)
    return np.array([np.sum(m * xs[None, :]), np.sum(m * ys[:, None])]) / np.sum(m)


@functools.cache
def _warp(order):
    return jax.jit(lambda eta, x: Affine2D.from_params(eta, order=order).apply(x))


@pytest.mark.parametrize(
    "eta, expected",
    [
        ([0.3, 0.0, 0.0, 0.0, 0.0], [0.6, 0.0]),  # +t_x moves content right
        ([0.0, 0.3, 0.0, 0.0, 0.0], [0.3, 0.3]),  # +t_y moves content up (row index down)
        ([0.0, 0.0, np.pi / 2, 0.0, 0.0], [0.0, 0.3]),  # +θ turns (0.3, 0) to (0, 0.3): CCW
        ([0.0, 0.0, 0.0, np.log(1.5), 0.0], [0.45, 0.0]),  # log s_x scales x about the centre
    ],
)
def test_apply_moves_content_at_p_to_matrix_times_p(eta, expected):
    # A small blob centred at (0.3, 0) of a 32x32 image; its centre of mass moves to A p.
    # Tolerance 0.02 normalised units (0.3 pixel): interpolation and the blob's truncation.
    size = 32
    xs = (2 * np.arange(size) + 1) / size - 1
    blob_ = np.exp(-((xs[None, :] - 0.3) ** 2 + xs[:, None] ** 2) / (2 * 0.08**2))
    image = jnp.asarray(blob_[..., None], dtype=jnp.float32)
    eta = jnp.asarray(eta, dtype=jnp.float32)
    moved = _warp(3)(eta, image)
    matrix = np.asarray(Affine2D.from_params(eta).matrix)
    np.testing.assert_allclose(matrix[:2, :2] @ [0.3, 0.0] + matrix[:2, 2], expected, atol=1e-6)
    np.testing.assert_allclose(_centre_of_mass(moved), expected, atol=0.02)


def test_from_params_is_the_exponential_of_the_documented_generators():
    rng = np.random.default_rng(0)
    for n in (5, 6):
        for _ in range(5):
            eta = rng.uniform(-1, 1, n).astype(np.float32) * [1, 1, 3, 1, 1, 0.5][:n]
            expected = jsl.expm(jnp.einsum("k,kij->ij", jnp.asarray(eta), GENERATORS[:n]))
            actual = Affine2D.from_params(jnp.asarray(eta)).matrix
            np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5)


def test_expm_affine_matches_scipy_for_large_generators():
    # Up to ‖B‖ = 128 the scaling-and-squaring keeps float32 accuracy. Reference: scipy in
    # float64 (jax's float32 expm is itself off by ~4e-3 here). Tolerance 1e-4 on entries up
    # to ~8: seven squarings each add a few float32 ulps of relative error.
    rng = np.random.default_rng(1)
    gen = np.zeros((3, 3), np.float32)
    gen[:2, :] = rng.normal(size=(2, 3)) * 3
    gen[:2, :2] *= [[1, 30], [30, 1]]  # a fast rotation with mild scaling
    assert np.abs(gen[:2, :2]).sum(axis=1).max() > 64  # needs the squarings
    np.testing.assert_allclose(
        np.asarray(expm_affine(jnp.asarray(gen))),
        scipy.linalg.expm(gen.astype(np.float64)),
        rtol=1e-4,
        atol=1e-4,
    )


def test_apply_of_a_long_composition_resamples_once():
    # g_1 ∘ ... ∘ g_8 ∘ g_8^{-1} ∘ ... ∘ g_1^{-1} is the identity: applying the composed
    # element samples every pixel centre exactly (order 3 interpolates), while applying the
    # 16 elements one after the other blurs the image visibly.
    rng = np.random.default_rng(2)
    image = jnp.asarray(rng.uniform(0, 1, (12, 12, 1)), dtype=jnp.float32)
    elements = [
        Affine2D.from_params(jnp.asarray(rng.uniform(-0.2, 0.2, 5), dtype=jnp.float32))
        for _ in range(8)
    ]
    chain = [*elements, *[g.inverse() for g in reversed(elements)]]

    @jax.jit
    def once_and_sequentially(chain, image):
        composed = functools.reduce(lambda a, b: a.compose(b), chain)
        sequential = image
        for g in reversed(chain):
            sequential = g.apply(sequential)
        return composed.apply(image), sequential

    once, sequential = once_and_sequentially(chain, image)
    np.testing.assert_allclose(np.asarray(once), np.asarray(image), atol=1e-4)
    assert np.max(np.abs(np.asarray(sequential) - np.asarray(image))) > 0.05


def test_affine_apply_gradients_match_finite_differences():
    # W.r.t. eta: an image that vanishes on its two outer pixel rings, so the 'constant'
    # boundary (a jump in the coordinates) contributes ~nothing, and a generic element; the
    # warp is then smooth in eta. W.r.t. x the warp is linear (finite differences are exact up
    # to rounding) -- checked separately, since a perturbed image no longer vanishes at the
    # edge. eps 1e-3: central differences err by ~eps^2 times the third derivative, plus rounding
    # ~1e-7 |f| / eps ~ 1e-4; tolerance 1e-2.
    rng = np.random.default_rng(3)
    ring = np.zeros((8, 8, 1), np.float32)
    ring[2:-2, 2:-2] = 1.0
    image = jnp.asarray(blob(8) * ring * rng.uniform(0.5, 1.0, (8, 8, 2)), dtype=jnp.float32)
    eta = jnp.asarray([0.05, -0.04, 0.3, 0.05, -0.03], dtype=jnp.float32)

    def warp(eta, x):
        return Affine2D.from_params(jnp.asarray(eta), order=3).apply(jnp.asarray(x))

    # A batch of two elements (one pytree, built under vmap) inside jit: checks vmap, jit and
    # grad together.
    etas = jnp.stack([eta, -0.5 * eta])
    wrt_eta = jax.jit(lambda es: jax.vmap(lambda e: warp(e, image))(jnp.asarray(es)))
    wrt_x = jax.jit(lambda x: warp(eta, x))
    check_grads(wrt_eta, (etas,), order=1, modes=("rev",), eps=1e-3, atol=1e-2, rtol=1e-2)
    check_grads(wrt_x, (image,), order=1, modes=("rev",), eps=1e-2, atol=1e-3, rtol=1e-3)


def test_hsv_apply_gradients_match_finite_differences():
    # Distinct channels in [0.3, 0.6] (no sector boundary within eps, no black or grey pixel)
    # and small factors (no clip is active): the map is smooth there.
    rng = np.random.default_rng(4)
    base = np.sort(rng.uniform(0.3, 0.6, (4, 4, 3)), axis=-1)
    image = jnp.asarray(base + np.array([0.0, 0.02, 0.04]), dtype=jnp.float32)
    eta = jnp.asarray([0.3, -0.1, 0.1], dtype=jnp.float32)

    @jax.jit
    def colour(eta, x):
        return HSVColor.from_params(jnp.asarray(eta)).apply(jnp.asarray(x))

    check_grads(colour, (eta, image), order=1, modes=("rev",), eps=1e-3, atol=1e-2, rtol=1e-2)


def test_hsv_clip_passes_gradient_through():
    # App. C.5: saturated pixels still pass gradient to the value parameter.
    image = jnp.full((2, 2, 3), 0.9, dtype=jnp.float32).at[..., 0].set(0.5)

    def total_value(eta):
        return jnp.sum(HSVColor.from_params(eta).apply(image))

    grad = jax.jit(jax.grad(total_value))(jnp.asarray([0.0, 0.0, 1.0], dtype=jnp.float32))
    assert grad[2] > 0  # v * e^1 > 1 is clipped, yet d/dη_v is positive


def test_product_params_split_and_apply_order():
    first = Affine2D.identity(order=1)
    second = HSVColor.identity()
    eta = jnp.asarray([0.1, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0], dtype=jnp.float32)
    g = Product.from_params(eta, first=first, second=second)
    assert g.n_params == 8
    assert isinstance(g.second, HSVColor)
    np.testing.assert_allclose(np.asarray(g.second.params), [0.25, 0.0, 0.0])
    x = jnp.asarray(np.random.default_rng(5).uniform(0.3, 0.6, (6, 6, 3)), dtype=jnp.float32)
    np.testing.assert_allclose(
        np.asarray(g.apply(x)), np.asarray(g.first.apply(g.second.apply(x))), atol=1e-6
    )


# --------------------------------------------------------------------------------------
# Bad input: our own messages, as a user without the jaxtyping import hook sees them.
# --------------------------------------------------------------------------------------

F32 = jnp.float32


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: Affine2D.from_params(jnp.zeros(4, F32)), ValueError, r"eta=.*5 or 6.*got 4"),
        (lambda: Affine2D.from_params(jnp.zeros(5, jnp.int32)), TypeError, r"eta=.*floating"),
        (lambda: Affine2D.identity().with_params(jnp.zeros(6, F32)), ValueError, r"eta=.*\(5,\)"),
        (lambda: Affine2D.identity().apply(jnp.zeros((4, 4), F32)), ValueError, r"x=.*\(H, W, C\)"),
        (
            lambda: Affine2D.identity().apply(jnp.zeros((4, 4, 1), jnp.int32)),
            TypeError,
            r"x=.*floating",
        ),
        (lambda: Affine2D.identity(order=2), ValueError, r"order=.*\(0, 1, 3\)"),
        (lambda: Affine2D.identity(mode="edge"), ValueError, r"mode=.*'edge'"),
        (lambda: Affine2D(matrix=jnp.eye(2)), ValueError, r"matrix=.*\(3, 3\)"),
        (lambda: HSVColor.from_params(jnp.zeros(2, F32)), ValueError, r"eta=.*3 parameters"),
        (lambda: HSVColor.identity().apply(jnp.zeros((4, 4, 1), F32)), ValueError, r"x=.*RGB"),
        (
            lambda: HSVColor.identity().apply(jnp.zeros((4, 4, 3), jnp.int32)),
            TypeError,
            r"x=.*floating",
        ),
        (
            lambda: MatrixLieGroup.from_params(jnp.zeros(2, F32), generators=np.zeros((3, 2, 2))),
            ValueError,
            r"eta=.*3 parameters",
        ),
        (
            lambda: MatrixLieGroup.identity(generators=np.zeros((3, 2, 3))),
            ValueError,
            r"generators=.*\(k, n, n\)",
        ),
        (
            lambda: Product(Affine2D.identity(), HSVColor.identity()).with_params(jnp.zeros(5)),
            ValueError,
            r"eta=.*\(8,\)",
        ),
        (
            # a wrong type on purpose: the runtime check is what this case tests
            lambda: Product(Affine2D.identity(), "hsv"),  # pyright: ignore[reportArgumentType]
            TypeError,
            r"second=.*group action",
        ),
    ],
)
def test_bad_input_raises_a_clear_error_naming_the_argument(plain_user, call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "make",
    [
        lambda eta: Affine2D.from_params(eta[:5]).matrix,
        lambda eta: HSVColor.from_params(eta[:3]).params,
        lambda eta: (
            MatrixLieGroup.from_params(eta[:1], generators=[[[0.0, -1.0], [1.0, 0.0]]]).matrix
        ),
    ],
    ids=["affine", "hsv", "matrix_lie"],
)
def test_non_finite_eta_raises_at_run_time_even_under_jit(make):
    eta = jnp.asarray([np.nan, 0.1, 0.2, 0.0, 0.0], dtype=jnp.float32)
    with pytest.raises(RuntimeError, match=r"eta=.*not finite"):  # jax.errors.JaxRuntimeError
        jax.block_until_ready(jax.jit(make)(eta))


@pytest.mark.parametrize("theta", [0.0, 1.0, -2.5, 3.1, -3.1])
def test_params_with_translation_sets_the_translation_column(theta):
    """The element's translation column is eta[:2], its linear part that of eta, also near θ = ±π
    (where t = V(θ)^{-1} τ flips sign but the element does not)."""
    from sgm_eqx.groups import params_with_translation

    eta = jnp.array([0.3, -0.2, theta, 0.1, -0.2])
    g = Affine2D.from_params(params_with_translation(eta))
    ref = Affine2D.from_params(eta)
    np.testing.assert_allclose(g.matrix[:2, 2], eta[:2], atol=1e-5)
    np.testing.assert_allclose(g.matrix[:2, :2], ref.matrix[:2, :2], atol=1e-6)
    grad = jax.grad(lambda e: params_with_translation(e).sum())(eta)
    assert np.isfinite(np.asarray(grad)).all()


@pytest.mark.parametrize("theta", [0.0, 1.0, -2.5, 3.1])
@pytest.mark.parametrize("n_params", [5, 6, 8], ids=["affine", "affine-shear", "affine+color"])
def test_translation_column_chart_is_a_bijection_with_the_jacobian_log_det(theta, n_params):
    """`TranslationColumn` maps (c, rest) to η whose element has translation column c; the
    inverse undoes it, and both log-dets equal the log|det| of the autodiff Jacobian."""
    from sgm_eqx.groups import TranslationColumn

    n_affine = 6 if n_params == 6 else 5
    chart = TranslationColumn(n_params, n_affine=n_affine)
    x = jnp.asarray([0.3, -0.2, theta, 0.1, -0.2, 0.15, 0.05, -0.1][:n_params])
    eta, log_det = chart.transform_and_log_det(x)
    g = Affine2D.from_params(eta[:n_affine])
    np.testing.assert_allclose(g.matrix[:2, 2], x[:2], atol=1e-5)
    np.testing.assert_allclose(eta[2:], x[2:], atol=0)
    back, inv_log_det = chart.inverse_and_log_det(eta)
    np.testing.assert_allclose(back, x, atol=1e-5)
    jac = jax.jacfwd(chart.transform)(x)
    np.testing.assert_allclose(log_det, jnp.linalg.slogdet(jac)[1], atol=1e-5)
    np.testing.assert_allclose(inv_log_det, -log_det, atol=1e-5)


@pytest.mark.parametrize("n_params", [5, 6, 8], ids=["affine", "affine-shear", "affine+color"])
def test_size_aspect_chart_is_a_bijection_with_the_jacobian_log_det(n_params):
    """`SizeAspect` maps (σ, α) to the log-scales (σ + α, σ - α) of an element whose area
    factor is e^{2σ} and whose x/y stretch ratio is e^{2α}; the inverse undoes it, the other
    entries pass through, and both log-dets equal the log|det| of the autodiff Jacobian."""
    from sgm_eqx.groups import SizeAspect

    chart = SizeAspect(n_params)
    x = jnp.asarray([0.3, -0.2, 0.0, 0.25, -0.1, 0.15, 0.05, -0.1][:n_params])
    eta, log_det = chart.transform_and_log_det(x)
    linear = Affine2D.from_params(eta[:5]).matrix[:2, :2]
    np.testing.assert_allclose(jnp.linalg.det(linear), np.exp(2 * 0.25), rtol=1e-5)
    np.testing.assert_allclose(linear[0, 0] / linear[1, 1], np.exp(2 * -0.1), rtol=1e-5)
    np.testing.assert_allclose(np.delete(eta, [3, 4]), np.delete(x, [3, 4]), atol=0)
    back, inv_log_det = chart.inverse_and_log_det(eta)
    np.testing.assert_allclose(back, x, atol=1e-6)
    jac = jax.jacfwd(chart.transform)(x)
    np.testing.assert_allclose(log_det, jnp.linalg.slogdet(jac)[1], atol=1e-6)
    np.testing.assert_allclose(inv_log_det, -log_det, atol=1e-6)
    with pytest.raises(ValueError, match=r"SizeAspect\(n_params=4\)"):
        SizeAspect(4)


def test_translation_column_chart_rejects_bad_sizes():
    from sgm_eqx.groups import TranslationColumn

    with pytest.raises(ValueError, match=r"TranslationColumn\(n_params=4, n_affine=5\)"):
        TranslationColumn(4)
