"""B-spline interpolation of 2-D images at arbitrary coordinates (scipy semantics).

See the docstring of `map_coordinates` for the conventions and `docs/conventions.md`
("Performance of the warp") for the design choices and their measurements.
"""

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float

from ._fold import FoldRule, fold_index

MODES = ("constant", "nearest", "reflect", "wrap", "mirror", "grid-constant", "grid-wrap")
ORDERS = (0, 1, 3)
METHODS = ("auto", "gather", "dense")
# scipy pads the input by this many samples for the spline pre-filter in 'nearest' and
# 'grid-constant' modes (`scipy.ndimage._interpolation._prepad_for_spline_filter`).
_SCIPY_NPAD = 12

Mode = Literal["constant", "nearest", "reflect", "wrap", "mirror", "grid-constant", "grid-wrap"]
Method = Literal["auto", "gather", "dense"]


# --------------------------------------------------------------------------------------
# Trace-time (numpy) construction of the per-axis plan
# --------------------------------------------------------------------------------------


#: Boundary rule of scipy's spline pre-filter for each mode (`ni_splines.c`).
_PREFILTER_RULES: dict[str, FoldRule] = {
    "constant": "mirror",
    "mirror": "mirror",
    "wrap": "mirror",
    "grid-constant": "mirror",
    "reflect": "reflect",
    "nearest": "reflect",
    "grid-wrap": "periodic",
}
#: Boundary rule used to fetch taps outside the (padded) array, for each mode.
_TAP_RULES: dict[str, FoldRule] = {
    "constant": "mirror",
    "mirror": "mirror",
    "wrap": "mirror",  # sic: scipy fetches 'wrap' taps by mirroring
    "grid-constant": "zero",
    "reflect": "reflect",
    "nearest": "reflect",
    "grid-wrap": "periodic",
}


def _bspline3_collocation_inverse(n: int, rule: FoldRule) -> np.ndarray:
    """Inverse of the cubic B-spline collocation matrix under a boundary extension rule.

    Row `k` of the collocation matrix expresses `f[k] = (c[k-1] + 4 c[k] + c[k+1]) / 6`,
    where out-of-range `c` indices are folded back with `rule`. Its inverse maps samples to
    spline coefficients; this is exactly what scipy's recursive pre-filter computes (with
    exact initial conditions) for the same boundary rule.
    """
    a = np.zeros((n, n))
    for k in range(n):
        for d, w in ((-1, 1.0 / 6.0), (0, 4.0 / 6.0), (1, 1.0 / 6.0)):
            j = fold_index(k + d, n, rule)
            if j is not None:
                a[k, j] += w
    return np.linalg.inv(a)


class _AxisPlan:
    """Static (numpy) description of how one axis of length `n` is interpolated.

    `matrix` (`n_ext x n`) maps the samples along the axis to the spline coefficients on
    the extended index range `lo, lo + 1, ..., lo + n_ext - 1`; the coordinate is mapped
    into `[x_min, x_max]` (per the boundary mode), which keeps every tap inside that range.
    """

    def __init__(self, n: int, mode: str, order: int):
        self.n = n
        # 1. Where the pre-filter works (scipy pre-pads for 'nearest' and 'grid-constant').
        npad = _SCIPY_NPAD if (order > 1 and mode in ("nearest", "grid-constant")) else 0
        n_pad = n + 2 * npad
        pad = np.zeros((n_pad, n))
        for k in range(n_pad):
            if mode == "nearest":
                pad[k, min(max(k - npad, 0), n - 1)] = 1.0
            elif 0 <= k - npad < n:
                pad[k, k - npad] = 1.0  # 'grid-constant' pads with (image - cval) = 0
        # 2. Boundary rule of scipy's pre-filter (`ni_splines.c`, initial conditions).
        prefilter_rule = _PREFILTER_RULES[mode]
        # 3. Boundary rule used to fetch taps outside the (padded) array.
        tap_rule = _TAP_RULES[mode]
        if order > 1:
            coef = _bspline3_collocation_inverse(n_pad, prefilter_rule) @ pad
        else:
            coef = pad
        # 4. Domain of the mapped coordinate, in original pixel units.
        if mode == "reflect":
            x_min, x_max = -1.0, float(n)
        elif mode == "grid-wrap":
            x_min, x_max = 0.0, float(n)
        elif mode in ("nearest", "grid-constant"):
            x_min, x_max = float(-npad), float(n - 1 + npad)
            if mode == "grid-constant":  # one more sample of decay on each side
                x_min, x_max = x_min - 1.0, x_max + 1.0
        elif mode == "mirror":
            x_min, x_max = 0.0, float(n)
        else:
            x_min, x_max = 0.0, float(n - 1)
        self.x_min, self.x_max = x_min, x_max
        # 5. Extended index range reached by the taps.
        if order == 3:
            lo, hi = int(np.floor(x_min)) - 1, int(np.floor(x_max)) + 2
        elif order == 1:
            lo, hi = int(np.floor(x_min)), int(np.floor(x_max)) + 1
        else:
            lo, hi = int(np.floor(x_min + 0.5)), int(np.floor(x_max + 0.5))
        self.lo = lo
        rows = []
        for k in range(lo, hi + 1):
            j = fold_index(k + npad, n_pad, tap_rule)
            rows.append(np.zeros(n) if j is None else coef[j])
        self.matrix = np.stack(rows).astype(np.float32)
        # For orders 0/1 the matrix only selects rows: keep the indices for a cheap take.
        self.select = None
        if order <= 1:
            nz = self.matrix != 0
            if np.all(nz.sum(axis=1) <= 1):
                idx = np.where(nz.any(axis=1), nz.argmax(axis=1), -1)
                self.select = idx

    @property
    def n_ext(self) -> int:
        return self.matrix.shape[0]


@functools.lru_cache(maxsize=256)
def _axis_plan(n: int, mode: str, order: int) -> _AxisPlan:
    return _AxisPlan(n, mode, order)


# --------------------------------------------------------------------------------------
# Traced pieces
# --------------------------------------------------------------------------------------


def _map_coordinate(
    x: Array, plan: _AxisPlan, mode: str, edge_tolerance: float = 0.0
) -> tuple[Array, Array | None]:
    """Map coordinates into the plan's domain; also return the in-bounds mask for 'constant'.

    With `edge_tolerance > 0`, 'constant' also accepts points up to that far outside
    `[0, n - 1]`; the final clip then moves them onto the edge.
    """
    n = plan.n
    valid = None
    tol = edge_tolerance
    if n == 1 and mode not in ("grid-constant",):
        return jnp.zeros_like(x), ((x >= -tol) & (x <= tol)) if mode == "constant" else None
    if mode == "constant":
        valid = (x >= -tol) & (x <= n - 1 + tol)
    elif mode == "mirror":
        # Exactly scipy's mapping (`map_coordinate` in `ni_interpolation.c`), which leaves
        # points in (n - 1, n) in place; it differs from the symmetric fold only in which
        # sample order 0 picks at exact ties.
        period = 2.0 * n - 2.0
        below = jnp.mod(-x, period)
        below = jnp.where(below >= n - 1, period - below, below)
        above = jnp.mod(x, period)
        above = jnp.where(above >= n, period - above, above)
        x = jnp.where(x < 0, below, jnp.where(x > n - 1, above, x))
    elif mode == "reflect":
        period = 2.0 * n
        y = jnp.mod(x + 0.5, period) - 0.5
        x = jnp.where(y > n - 0.5, period - 1.0 - y, y)
    elif mode == "wrap":
        # scipy's legacy 'wrap': period n - 1, the first and last samples overlap.
        period = float(n - 1)
        x = jnp.where(
            x < 0, period - jnp.mod(-x, period), jnp.where(x > period, jnp.mod(x, period), x)
        )
    elif mode == "grid-wrap":
        x = jnp.mod(x, float(n))
    return jnp.clip(x, plan.x_min, plan.x_max), valid


def _kernel(d: Array, order: int) -> Array:
    """B-spline kernel of the given order evaluated at offsets `d` (dense formulation)."""
    if order == 0:
        return ((d >= -0.5) & (d < 0.5)).astype(d.dtype)
    if order == 1:
        return jnp.maximum(1.0 - jnp.abs(d), 0.0)
    a = jnp.abs(d)
    return (jnp.maximum(2.0 - a, 0.0) ** 3 - 4.0 * jnp.maximum(1.0 - a, 0.0) ** 3) / 6.0


def _tap_weights(t: Array, order: int) -> list[Array]:
    """Weights of the `order + 1` taps at offsets `-(order // 2), ...` for fractions `t`.

    Closed forms of the B-spline kernel (`t = x - floor(x)` in `[0, 1)`): linear
    `(1 - t, t)`; cubic `((1-t)^3, 3t^3 - 6t^2 + 4, -3t^3 + 3t^2 + 3t + 1, t^3) / 6`.
    Cheaper than evaluating the piecewise kernel at every tap.
    """
    if order == 1:
        return [1.0 - t, t]
    s = 1.0 - t
    t2 = t * t
    t3 = t2 * t
    return [
        s * s * s / 6.0,
        (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
        (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
        t3 / 6.0,
    ]


def _tap_weight_derivatives(t: Array, order: int) -> list[Array]:
    """`d/dt` of each of [`_tap_weights`][]'s weights."""
    if order == 1:
        return [-jnp.ones_like(t), jnp.ones_like(t)]
    s = 1.0 - t
    t2 = t * t
    return [-0.5 * s * s, 1.5 * t2 - 2.0 * t, -1.5 * t2 + t + 0.5, 0.5 * t2]


def _tap_values(flat: Array, index: Array, w_ext: int, order: int) -> list[list[Array]]:
    """The `(order + 1)^2` tap values `(N, C)` of each point: one scalar gather per tap."""
    taps = range(order + 1)
    return [[flat[index + (a * w_ext + b)] for b in taps] for a in taps]


def _combine(values: list[list[Array]], w_r: list[Array], w_c: list[Array]) -> Array:
    """`Σ_a w_r[a] Σ_b w_c[b] values[a][b]` (weights per point, values `(N, C)`)."""
    out = None
    for a, row_values in enumerate(values):
        row = None
        for b, value in enumerate(row_values):
            term = w_c[b][:, None] * value
            row = term if row is None else row + term
        assert row is not None
        term = w_r[a][:, None] * row
        out = term if out is None else out + term
    assert out is not None
    return out


def _first_tap_and_fractions(
    ur: Array, uc: Array, w_ext: int, order: int
) -> tuple[Array, Array, Array]:
    """Flat index of each point's first tap and its row / column fractions `t_r`, `t_c`."""
    base_r, base_c = jnp.floor(ur), jnp.floor(uc)
    first = order // 2
    index = (base_r.astype(jnp.int32) - first) * w_ext + (base_c.astype(jnp.int32) - first)
    return index, ur - base_r, uc - base_c


def _materialise(x: Array) -> Array:
    """The identity, as an operation XLA keeps: a `reduce_precision` to `x`'s own format.

    It ends the fused loop of gathers and weights that produces `x`, so that `x` is written
    once. Without it, XLA's CPU backend may fuse the (cheap) tap-weighting arithmetic into
    a consumer it cannot fuse gathers into, such as an XNNPACK reduction of a loss, and then
    write every tap's gathered values to memory instead: `(order + 1)^2` arrays the size of
    the output. Measured at 28x28x1 order 3 (value + coordinate gradient of `sum(w * out)`,
    batch 512): 2.4x faster. Exact for every floating dtype.
    """
    info = jnp.finfo(x.dtype)
    return jax.lax.reduce_precision(x, exponent_bits=info.nexp, mantissa_bits=info.nmant)


def _weighted_taps(
    flat: Array,
    index: Array,
    t_r: Array,
    t_c: Array,
    w_ext: int,
    order: int,
    *,
    d_r: bool = False,
    d_c: bool = False,
) -> Array:
    """One fused loop: the taps of each point weighted by `w_r(t_r) w_c(t_c)`.

    With `d_r` (`d_c`) the row (column) weights are replaced by their derivatives: the
    derivative of the value w.r.t. the row (column) coordinate.
    """
    values = _tap_values(flat, index, w_ext, order)
    w_r = _tap_weight_derivatives(t_r, order) if d_r else _tap_weights(t_r, order)
    w_c = _tap_weight_derivatives(t_c, order) if d_c else _tap_weights(t_c, order)
    out = _combine(values, w_r, w_c)
    if not (d_r or d_c):
        # The weights sum to 1 (partition of unity), so this changes the value by float
        # rounding only. A division is an operation XLA does not duplicate into several
        # consumers: the value is then written once, with its gathers fused into its own
        # loop, instead of every tap's gathered values being written for the consumers to
        # share (measured: the composed warps of a stage-1 step, value + gradient of an MSE,
        # 2.0x faster; without it the shared gathers made them 1.3x slower).
        out = out / (sum(w_r[1:], start=w_r[0]) * sum(w_c[1:], start=w_c[0]))[:, None]
    return _materialise(out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _tap_sum(flat: Array, ur: Array, uc: Array, w_ext: int, order: int) -> Array:
    """`Σ_ab w_r[a](ur) w_c[b](uc) flat[(⌊ur⌋ - o + a) * w_ext + ⌊uc⌋ - o + b]`, `o = order // 2`.

    `flat` is the `(H_ext * W_ext, C)` coefficient array, `ur`/`uc` `(N,)` coordinates in
    its (extended) index space; returns `(N, C)`. Each tap is one scalar-index gather (see
    [`_gather_taps`][]).

    The custom JVP forms the derivatives w.r.t. the coordinates directly from the taps, with
    the derivatives of the closed-form weights; the derivative w.r.t. `flat` is the tap sum
    itself (linear), whose transpose is the usual scatter-add.
    """
    index, t_r, t_c = _first_tap_and_fractions(ur, uc, w_ext, order)
    return _weighted_taps(flat, index, t_r, t_c, w_ext, order)


def _tap_sum_jvp(w_ext, order, primals, tangents):
    """The value and `∂/∂ur`, `∂/∂uc`, each its own fused loop over its own gathers.

    XLA's CPU backend compiles gathers shared by several outputs badly: it writes each
    tap's values to memory and reads them back per output. For order 3 each output
    therefore gathers from its own copy of the coefficients: the column derivative is the
    row derivative of the transposed coefficients, the row derivative reads a copy shifted
    down by one zero row (gathers from distinct arrays cannot be merged). At 28x28x1,
    batch 512, value + coordinate gradient into a matmul: 1.3x faster than shared gathers
    (and 2.4x with [`_materialise`][] under a reduction). For order 1 (4 taps) sharing
    was faster, so it keeps one copy.
    """
    flat, ur, uc = primals
    d_flat, d_ur, d_uc = tangents
    index, t_r, t_c = _first_tap_and_fractions(ur, uc, w_ext, order)
    out = _weighted_taps(flat, index, t_r, t_c, w_ext, order)
    tangent = None
    if not isinstance(d_ur, SymbolicZero):
        source, shifted = flat, index
        if order == 3:
            source = jnp.concatenate([jnp.zeros((w_ext, flat.shape[1]), flat.dtype), flat])
            shifted = index + w_ext
        g_r = _weighted_taps(source, shifted, t_r, t_c, w_ext, order, d_r=True)
        tangent = g_r * d_ur[:, None]
    if not isinstance(d_uc, SymbolicZero):
        if order == 3:
            h_ext = flat.shape[0] // w_ext
            source = flat.reshape(h_ext, w_ext, -1).swapaxes(0, 1).reshape(flat.shape)
            index_t, _, _ = _first_tap_and_fractions(uc, ur, h_ext, order)
            g_c = _weighted_taps(source, index_t, t_c, t_r, h_ext, order, d_r=True)
        else:
            g_c = _weighted_taps(flat, index, t_r, t_c, w_ext, order, d_c=True)
        term = g_c * d_uc[:, None]
        tangent = term if tangent is None else tangent + term
    if not isinstance(d_flat, SymbolicZero):
        # Linear in `d_flat`, with the same taps and weights (its transpose is the usual
        # scatter-add).
        values = _tap_values(d_flat, index, w_ext, order)
        term = _combine(values, _tap_weights(t_r, order), _tap_weights(t_c, order))
        tangent = term if tangent is None else tangent + term
    if tangent is None:  # pragma: no cover - JAX does not call the rule with all-zero tangents
        tangent = jnp.zeros_like(out)
    return out, tangent


_tap_sum.defjvp(_tap_sum_jvp, symbolic_zeros=True)


def _gather_taps(
    coef: Array, xr: Array, xc: Array, plan_r: _AxisPlan, plan_c: _AxisPlan, order: int
) -> Array:
    """Sum of `(order + 1)^2` taps per point, each tap one scalar-index gather.

    `coef` (`H_ext W_ext C`) is flattened to `(H_ext * W_ext, C)`; every point computes one
    flat base index and each tap adds a constant offset `a * W_ext + b`. Measured on CPU
    (see `benchmarks/bench_warp.py` and `docs/conventions.md`): XLA fuses such gathers with
    the weight arithmetic into one loop, while window gathers (`dynamic_slice` of a
    `(T, T, C)` patch, advanced indexing with an `(N, T, T)` index array) or im2col row
    gathers are 5-50x slower, and dense separable weights (`W_r @ coef` then a row-wise
    product with `W_c`) cost `N * H_ext * W_ext` multiply-adds. Derivatives w.r.t. the
    coordinates reuse the gathered values ([`_tap_sum`][]'s custom JVP).
    """
    w_ext = coef.shape[1]
    flat = coef.reshape(-1, coef.shape[-1])
    if order == 0:
        ir = jnp.floor(xr + 0.5).astype(jnp.int32) - plan_r.lo
        ic = jnp.floor(xc + 0.5).astype(jnp.int32) - plan_c.lo
        return flat[ir * w_ext + ic]
    return _tap_sum(flat, xr - plan_r.lo, xc - plan_c.lo, w_ext, order)


def _dense_weights(x: Array, plan: _AxisPlan, order: int) -> Array:
    """Weights of every point on every extended sample, shape `(N, n_ext)`."""
    grid = jnp.arange(plan.lo, plan.lo + plan.n_ext, dtype=x.dtype)
    return _kernel(x[:, None] - grid[None, :], order)


def _index_runs(idx: np.ndarray) -> list[tuple[int, int, int]]:
    """Split static indices into runs `(start, length, step)`, step +1, -1 or 0 (zeros)."""
    runs: list[tuple[int, int, int]] = []
    for i in idx.tolist():
        if runs:
            start, length, step = runs[-1]
            if step == 0 and i < 0:
                runs[-1] = (start, length + 1, 0)
                continue
            if step != 0 and i >= 0:
                last = start + step * (length - 1)
                if length == 1 and abs(i - last) == 1:
                    runs[-1] = (start, 2, i - last)
                    continue
                if i - last == step:
                    runs[-1] = (start, length + 1, step)
                    continue
        runs.append((i, 1, 0) if i < 0 else (i, 1, 1))
    return runs


def _select_static(coef: Array, idx: np.ndarray, axis: int) -> Array:
    """`take(coef, idx, axis)` for static indices, with zeros where `idx < 0`.

    Built from static slices, reversals and zero blocks joined by one concatenate, which
    XLA fuses into the consumers; a `take` with a constant index array lowers to a gather,
    which was measured at ~8% of a stage-1 training step on CPU.
    """
    pieces = []
    for start, length, step in _index_runs(idx):
        if step == 0:
            shape = list(coef.shape)
            shape[axis] = length
            pieces.append(jnp.zeros(shape, coef.dtype))
        elif step == 1:
            pieces.append(jax.lax.slice_in_dim(coef, start, start + length, axis=axis))
        else:
            piece = jax.lax.slice_in_dim(coef, start - length + 1, start + 1, axis=axis)
            pieces.append(jnp.flip(piece, axis=axis))
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=axis)


def _extend(image: Array, plan_r: _AxisPlan, plan_c: _AxisPlan) -> Array:
    """Spline coefficients of `image` (`H W C`) on the extended grid, `(H_ext, W_ext, C)`."""
    coef = image
    for axis, plan in ((0, plan_r), (1, plan_c)):
        if plan.select is not None:
            idx = plan.select
            if np.array_equal(idx, np.arange(plan.n)):
                continue  # nothing to extend
            coef = _select_static(coef, idx, axis)
        else:
            m = jnp.asarray(plan.matrix, dtype=coef.dtype)
            coef = jnp.tensordot(m, coef, axes=[[1], [axis]])
            if axis == 1:
                coef = jnp.moveaxis(coef, 0, 1)
    return coef


def _check_args(
    fn: str, image: Array, coords: Array, order: int, mode: str, method: str, image_ndim: int
) -> None:
    if not isinstance(image, jnp.ndarray | np.ndarray):
        raise TypeError(f"`{fn}(image=...)`: expected an array; got {type(image).__name__}")
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"`{fn}(image=...)`: expected a floating dtype; got {image.dtype}")
    if image.ndim != image_ndim:
        raise ValueError(
            f"`{fn}(image=...)`: expected {image_ndim} dimensions; got shape {image.shape}"
        )
    if 0 in image.shape[:2]:
        raise ValueError(f"`{fn}(image=...)`: expected a non-empty image; got {image.shape}")
    if not jnp.issubdtype(coords.dtype, jnp.floating):
        raise TypeError(f"`{fn}(coords=...)`: expected a floating dtype; got {coords.dtype}")
    if coords.ndim < 1 or coords.shape[0] != 2:
        raise ValueError(
            f"`{fn}(coords=...)`: expected shape (2, *batch) (row, column); got {coords.shape}"
        )
    if order not in ORDERS:
        raise ValueError(f"`{fn}(order=...)`: expected one of {ORDERS}; got {order!r}")
    if mode not in MODES:
        raise ValueError(f"`{fn}(mode=...)`: expected one of {MODES}; got {mode!r}")
    if method not in METHODS:
        raise ValueError(f"`{fn}(method=...)`: expected one of {METHODS}; got {method!r}")


def _resample(
    image: Array,
    coords: Array,
    order: int,
    mode: str,
    cval: ArrayLike,
    method: str,
    edge_tolerance: float = 0.0,
) -> Array:
    """Core: `image` is `(H, W, C)`, `coords` `(2, *batch)`; returns `(*batch, C)`."""
    height, width, _ = image.shape
    batch_shape = coords.shape[1:]
    coords = coords.reshape(2, -1).astype(image.dtype)
    cval = jnp.asarray(cval, dtype=image.dtype)
    plan_r = _axis_plan(height, mode, order)
    plan_c = _axis_plan(width, mode, order)
    if mode == "grid-constant":
        image = image - cval
    coef = _extend(image, plan_r, plan_c)
    xr, valid_r = _map_coordinate(coords[0], plan_r, mode, edge_tolerance)
    xc, valid_c = _map_coordinate(coords[1], plan_c, mode, edge_tolerance)

    if method == "dense":
        wr = _dense_weights(xr, plan_r, order)  # (N, H_ext)
        wc = _dense_weights(xc, plan_c, order)  # (N, W_ext)
        rows = jnp.tensordot(wr, coef, axes=[[1], [0]])  # (N, W_ext, C): one matmul
        # Elementwise product + sum, not an einsum: XLA would lower that to N tiny batched
        # dot products, which are very slow on CPU.
        out = jnp.sum(rows * wc[:, :, None], axis=1)
    else:  # "gather" and "auto"
        out = _gather_taps(coef, xr, xc, plan_r, plan_c, order)

    if mode == "grid-constant":
        out = out + cval
    elif mode == "constant":
        assert valid_r is not None and valid_c is not None
        out = jnp.where((valid_r & valid_c)[:, None], out, cval)
    return out.reshape(*batch_shape, image.shape[-1])


def map_coordinates(
    image: Float[Array, "H W"],
    coords: Float[Array, " 2 *batch"],
    *,
    order: int = 1,
    mode: Mode = "constant",
    cval: float | Float[ArrayLike, ""] = 0.0,
    method: Method = "auto",
) -> Float[Array, "*batch"]:
    """Interpolate a 2-D array at arbitrary coordinates, like `scipy.ndimage.map_coordinates`.

    **Conventions.** `coords[0]` is the row index and `coords[1]` the column index, in pixel
    units, with pixel centres at integers (`(0, 0)` is the centre of the top-left pixel).
    Semantics are those of `scipy.ndimage.map_coordinates` with its default
    `prefilter=True` (scipy >= 1.6 boundary behaviour):

    - `order=0`: nearest sample (`floor(x + 0.5)`); `order=1`: bilinear; `order=3`: cubic
      B-spline *interpolation* (the spline pre-filter is applied, so integer coordinates
      return the samples exactly).
    - `mode` (how the image is extended beyond its edges):
        - `"constant"`: points outside `[0, H-1] x [0, W-1]` (per axis) return `cval`; no
          interpolation across the edge. Inside, the cubic spline uses mirror-extended
          coefficients (scipy's choice).
        - `"nearest"`: edge samples are repeated (`a a | a b c d | d d`).
        - `"reflect"`: half-sample symmetric (`b a | a b c d | d c`).
        - `"mirror"`: whole-sample symmetric (`c b | a b c d | c b`).
        - `"wrap"`: scipy's `'wrap'`: periodic with period `n - 1`, the first and last
          samples overlap (`... b c d | a b c d | a b ...` with `d` and `a` at the same
          position). Use `"grid-wrap"` for the ordinary period-`n` tiling.
        - `"grid-wrap"`: periodic with period `n` (`a b c d | a b c d | a b c d`).
        - `"grid-constant"`: like `"constant"` but the image is padded with `cval` and
          interpolation continues across the edge (continuous in the coordinates).

    **Arguments:**

    - `image`: floating array of shape `(H, W)`.
    - `coords`: floating array of shape `(2, *batch)`.
    - `order`: spline order, one of `0`, `1`, `3`.
    - `mode`: boundary mode (see above).
    - `cval`: fill value for `"constant"` and `"grid-constant"` (may be a traced scalar).
    - `method`: `"gather"` (fetch the `(order + 1)^2` taps of each point with scalar
      gathers; fastest on CPU in forward and backward w.r.t. the coordinates), `"dense"`
      (dense separable weights `W_r`, `W_c` and one matmul per point set: no gather and no
      scatter-add in the gradient w.r.t. the image, but `N * H_ext * W_ext`
      multiply-adds) or `"auto"` (currently always `"gather"`; see `docs/conventions.md`).

    **Returns:**

    Array of shape `batch` and the dtype of `image`. Differentiable w.r.t. `image` and
    `coords` (for `order=0` the coordinate gradient is zero; for `order=1` it jumps at
    integer coordinates). The pre-filter is a constant matrix per axis built with numpy at
    trace time and applied as `M_r @ image @ M_c^T`. Operates on one image; use `jax.vmap`
    for batches.
    """
    image = jnp.asarray(image) if isinstance(image, np.ndarray) else image
    _check_args("map_coordinates", image, coords, order, mode, method, 2)
    return _resample(image[:, :, None], coords, order, mode, cval, method)[..., 0]


def resample(
    image: Float[Array, "H W C"],
    coords: Float[Array, " 2 *batch"],
    *,
    order: int = 1,
    mode: Mode = "constant",
    cval: float | Float[ArrayLike, ""] = 0.0,
    method: Method = "auto",
    edge_tolerance: float = 0.0,
) -> Float[Array, "*batch C"]:
    """Interpolate every channel of an `(H, W, C)` image at the same coordinates.

    Equivalent to stacking `map_coordinates(image[..., c], coords, ...)` over channels on
    the last axis, but the interpolation indices and weights are computed once and shared
    by all channels. Same conventions and arguments as
    [`sgm_eqx.image.map_coordinates`][].

    **Arguments:**

    - `image`: floating array of shape `(H, W, C)`.
    - `coords`: floating array of shape `(2, *batch)`; `coords[0]` rows, `coords[1]`
      columns, pixel units.
    - `order`, `mode`, `cval`, `method`: as in `map_coordinates`.
    - `edge_tolerance`: for `mode="constant"` only, points up to this many pixels outside
      `[0, n - 1]` are sampled at the edge instead of returning `cval`. The default `0.0` is
      scipy's rule. [`sgm_eqx.groups.Affine2D`][] uses `1e-3`, so that float rounding in a
      composed identity cannot turn its outermost pixels into `cval`. Costs nothing: it
      only moves the bounds of the existing in-bounds test.

    **Returns:**

    Array of shape `(*batch, C)` and the dtype of `image`.
    """
    image = jnp.asarray(image) if isinstance(image, np.ndarray) else image
    _check_args("resample", image, coords, order, mode, method, 3)
    if not edge_tolerance >= 0:
        raise ValueError(f"`resample(edge_tolerance=...)`: expected >= 0; got {edge_tolerance}")
    return _resample(image, coords, order, mode, cval, method, float(edge_tolerance))
