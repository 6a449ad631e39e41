"""`map_coordinates` / `resample`: parity with scipy, gradients, bad input."""

import functools
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from jax.test_util import check_grads

from sgm_eqx.image import map_coordinates, resample

ORDERS = (0, 1, 3)
SCIPY_MODES = ("constant", "nearest", "reflect", "wrap", "mirror", "grid-constant", "grid-wrap")
METHODS = ("gather", "dense")


@functools.cache
def _interp(order, mode, method):
    fn = functools.partial(map_coordinates, order=order, mode=mode, cval=0.25, method=method)
    return jax.jit(fn)


@functools.cache
def _parity_case(order, method):
    """Our results for every mode at once (one compilation per order and method)."""
    rng = np.random.default_rng(order)
    shape = (7, 10)  # small, non-square, odd and even sizes
    image = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    coords = _coords(shape, rng)
    if order == 0:
        # Order 0 is discontinuous at half-integers; float32 vs float64 rounding of the mapped
        # coordinate may pick the other neighbour there. Keep the exact half-integers of the
        # grid (both libraries see them exactly) but move random points off the ties.
        frac = np.abs(coords - np.round(coords * 2) / 2)
        coords = np.where((frac < 1e-3) & (frac > 0), coords + 2e-3, coords)

    @jax.jit
    def all_modes(image, coords):
        return {
            mode: map_coordinates(image, coords, order=order, mode=mode, cval=0.25, method=method)
            for mode in SCIPY_MODES
        }

    return image, coords, all_modes(jnp.asarray(image), jnp.asarray(coords))


def _coords(shape, rng, n=400):
    """Points inside and well outside the grid (up to 1.5 periods out), plus all the integers
    and half-integers of a band around the grid (exact ties of order 0, edges of 'constant')."""
    h, w = shape
    random = np.stack([rng.uniform(-1.5 * h, 2.5 * h, n), rng.uniform(-1.5 * w, 2.5 * w, n)])
    near = np.stack([rng.uniform(-2.0, h + 1.0, n), rng.uniform(-2.0, w + 1.0, n)])
    r, c = np.meshgrid(np.arange(-2.0, h + 1.5, 0.5), np.arange(-2.0, w + 1.5, 0.5))
    grid = np.stack([r.ravel(), c.ravel()])
    return np.concatenate([random, near, grid], axis=1).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", SCIPY_MODES)
@pytest.mark.parametrize("order", ORDERS)
def test_map_coordinates_matches_scipy(order, mode, method):
    # Tolerance 1e-4 on values in [0, 1] (the bound); float32 pre-filter matrices and
    # sums of 16 taps give errors of a few 1e-6 in practice.
    image, coords, ours = _parity_case(order, method)
    expected = scipy.ndimage.map_coordinates(
        image.astype(np.float64), coords.astype(np.float64), order=order, mode=mode, cval=0.25
    )
    np.testing.assert_allclose(np.asarray(ours[mode]), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("order", ORDERS)
def test_map_coordinates_handles_length_one_axes_like_scipy(order):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (1, 5)).astype(np.float32)
    coords = _coords((1, 5), rng, n=50)
    for mode in ("constant", "nearest", "reflect", "mirror", "grid-wrap"):
        expected = scipy.ndimage.map_coordinates(image, coords, order=order, mode=mode, cval=0.25)
        actual = _interp(order, mode, "gather")(jnp.asarray(image), jnp.asarray(coords))
        np.testing.assert_allclose(np.asarray(actual), expected, atol=1e-4, err_msg=mode)


def test_resample_equals_map_coordinates_per_channel():
    rng = np.random.default_rng(2)
    image = jnp.asarray(rng.uniform(0, 1, (6, 5, 3)), dtype=jnp.float32)
    coords = jnp.asarray(_coords((6, 5), rng, n=30))
    out = resample(image, coords, order=3, mode="reflect")
    for c in range(3):
        ref = map_coordinates(image[..., c], coords, order=3, mode="reflect")
        np.testing.assert_allclose(np.asarray(out[..., c]), np.asarray(ref), atol=1e-6)


def test_integer_coordinates_return_the_samples_exactly_for_cubic():
    # The spline pre-filter makes order 3 interpolating: f(i, j) = image[i, j].
    rng = np.random.default_rng(3)
    image = jnp.asarray(rng.uniform(0, 1, (6, 7)), dtype=jnp.float32)
    r, c = jnp.meshgrid(jnp.arange(6.0), jnp.arange(7.0), indexing="ij")
    out = map_coordinates(image, jnp.stack([r, c]), order=3, mode="mirror")
    np.testing.assert_allclose(np.asarray(out), np.asarray(image), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("order", (1, 3))
def test_map_coordinates_gradients_match_finite_differences(order, method):
    # Away from integer coordinates (kinks of order 1) and the 'constant' edge, the map is
    # smooth in both the image and the coordinates. check_grads compares forward and reverse
    # mode against central differences (eps 1e-2 in float32: errors ~ eps^2 f''' ~ 1e-3).
    rng = np.random.default_rng(4)
    image = jnp.asarray(rng.uniform(0, 1, (5, 6)), dtype=jnp.float32)
    base = rng.uniform(0.5, 4.0, (2, 7)).astype(np.float32)
    base = np.floor(base) + np.clip(base - np.floor(base), 0.2, 0.8)
    coords = jnp.asarray(base)

    def fn(img, crd):  # check_grads perturbs with NumPy arrays
        img, crd = jnp.asarray(img), jnp.asarray(crd)
        return map_coordinates(img, crd, order=order, mode="reflect", method=method)

    check_grads(
        jax.jit(fn), (image, coords), order=1, modes=("fwd", "rev"), eps=1e-2, atol=2e-2, rtol=2e-2
    )


@pytest.mark.parametrize("order", (1, 3))
@pytest.mark.parametrize("mode", ("constant", "nearest", "grid-wrap"))
def test_coordinate_gradient_of_gather_equals_autodiff_of_the_dense_kernel(order, mode):
    # The gather method's custom JVP forms d/d row and d/d column from closed-form weight
    # derivatives, for order 3 from shifted and transposed copies of the coefficients. The
    # dense method is plain autodiff of the piecewise kernel: the two must agree to float
    # rounding. A non-square, multi-channel image catches a swapped axis.
    rng = np.random.default_rng(11)
    image = jnp.asarray(rng.uniform(0, 1, (5, 8, 2)), dtype=jnp.float32)
    base = rng.uniform(0.0, 4.0, (2, 9)).astype(np.float32)
    coords = jnp.asarray(np.floor(base) + np.clip(base - np.floor(base), 0.1, 0.9))
    weights = jnp.asarray(rng.normal(size=(9, 2)), dtype=jnp.float32)

    def grad(method):
        def loss(c):
            out = resample(image, c, order=order, mode=mode, method=method)
            return jnp.sum(out * weights)

        return np.asarray(jax.jit(jax.grad(loss))(coords))

    np.testing.assert_allclose(grad("gather"), grad("dense"), atol=2e-5, rtol=1e-4)


def test_map_coordinates_works_under_vmap_and_jit():
    rng = np.random.default_rng(5)
    images = jnp.asarray(rng.uniform(0, 1, (3, 5, 5)), dtype=jnp.float32)
    coords = jnp.asarray(rng.uniform(-1, 6, (3, 2, 4)), dtype=jnp.float32)
    batched = jax.jit(jax.vmap(lambda i, c: map_coordinates(i, c, order=3)))(images, coords)
    looped = jnp.stack(
        [map_coordinates(i, c, order=3) for i, c in zip(images, coords, strict=True)]
    )
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(image=np.zeros((4, 4), np.int32)), TypeError, r"image=.*floating"),
        (dict(image=np.zeros((4, 4, 1), np.float32)), ValueError, r"image=.*2 dimensions"),
        (dict(coords=np.zeros((3, 5), np.float32)), ValueError, r"coords=.*\(2, \*batch\)"),
        (dict(coords=np.zeros((2, 5), np.int32)), TypeError, r"coords=.*floating"),
        (dict(order=2), ValueError, r"order=.*\(0, 1, 3\)"),
        (dict(mode="edge"), ValueError, r"mode=.*'edge'"),
    ],
)
def test_map_coordinates_rejects_bad_input_naming_the_argument(plain_user, kwargs, error, match):
    args: dict[str, Any] = dict(
        image=np.zeros((4, 4), np.float32), coords=np.zeros((2, 5), np.float32)
    )
    args.update(kwargs)
    image, coords = jnp.asarray(args.pop("image")), jnp.asarray(args.pop("coords"))
    with pytest.raises(error, match=match):
        map_coordinates(image, coords, **args)


def test_edge_tolerance_reads_the_edge_just_outside_constant_grid():
    # scipy's rule (default): a point 1e-4 pixel outside [0, n - 1] is cval; with
    # edge_tolerance=1e-3 it reads the edge sample (the clip moves it onto the edge).
    image = jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4, 1) + 1.0
    coords = jnp.asarray([[-1e-4, 2.0001, 1.0, 1.0], [0.0, 3.0, -1e-4, 3.0001]], jnp.float32)
    strict = resample(image, coords, order=3, mode="constant", cval=0.0)
    tolerant = resample(image, coords, order=3, mode="constant", cval=0.0, edge_tolerance=1e-3)
    np.testing.assert_array_equal(np.asarray(strict[:, 0]), [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(np.asarray(tolerant[:, 0]), [1.0, 12.0, 5.0, 8.0], atol=1e-4)


@pytest.mark.parametrize(
    "idx",
    [[0, 1, 2, 3, 2], [-1, 0, 1, 2, -1, -1], [1, 0, 0, 1, 2, 3, 3, 2, 1], [5, -1, 3, 4, 2, 2]],
)
@pytest.mark.parametrize("axis", [0, 1])
def test_static_selection_equals_take_with_zero_fill(idx, axis):
    from sgm_eqx.image._interpolate import _select_static

    idx = np.asarray(idx)
    coef = np.random.default_rng(7).normal(size=(6, 6, 2)).astype(np.float32)
    taken = np.take(coef, np.maximum(idx, 0), axis=axis)
    shape = [1, 1, 1]
    shape[axis] = idx.size
    expected = np.where((idx >= 0).reshape(shape), taken, 0.0)
    got = _select_static(jnp.asarray(coef), idx, axis)
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("order", (1, 3))
@pytest.mark.parametrize("mode", ("constant", "reflect", "mirror", "grid-wrap"))
def test_gather_method_uses_one_gather_per_tap_and_no_other(order, mode):
    # The boundary extension is static slicing (no gathers) and each of the (order + 1)^2
    # taps is one scalar gather. The gradient w.r.t. the coordinates (the custom JVP of the
    # tap sum) gathers the taps once for each of its three outputs (value, d/d row,
    # d/d column) and never scatters: the image is data.
    image = jnp.ones((6, 7, 1), jnp.float32)
    coords = jnp.full((2, 5), 2.3, jnp.float32)

    def count(fn, *args):
        jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
        names = []

        def walk(jx):
            for e in jx.eqns:
                names.append(e.primitive.name)
                for sub in jax.extend.core.jaxprs_in_params(e.params):
                    walk(sub)

        walk(jaxpr)
        return names.count("gather"), names.count("scatter-add")

    def value(c):
        return resample(image, c, order=order, mode=mode)

    taps = (order + 1) ** 2
    assert count(value, coords) == (taps, 0)
    assert count(jax.grad(lambda c: jnp.sum(value(c))), coords) == (3 * taps, 0)
