"""Hypothesis strategies and the registry of group actions for the law tests.

`ACTIONS` maps a test id to an `ActionCase`; `tests/test_groups/test_laws.py` runs every
group law over every entry. To register a new action, add one `ActionCase` to `ACTIONS`
(parameter strategy, factory, exact representation, exact action on probes and, for image
actions, an image strategy with its tolerance).

Strategies draw float32 NumPy arrays; the tests convert them with `jnp.asarray`.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis.extra.numpy import arrays

from sgm_eqx.groups import Affine2D, HSVColor, MatrixLieGroup, Product, SpecialConformal


def bounded(shape: tuple[int, ...], bound: float | np.ndarray) -> st.SearchStrategy[np.ndarray]:
    """Float32 arrays of `shape` with entries in `[-bound, bound]` (bound per entry allowed)."""
    unit = arrays(np.float32, shape, elements=st.floats(-1.0, 1.0, width=32))
    return unit.map(lambda a: (a * np.asarray(bound, np.float32)).astype(np.float32))


# Parameter ranges used in training (|t| <= 1, |θ| <= π, |log s| <= 1) plus a moderate shear.
AFFINE_BOUND = np.array([1.0, 1.0, np.pi, 1.0, 1.0, 0.5], np.float32)
# Small transformations for image-level compatibility: the content of `smooth_images`
# (envelope σ = 0.25) stays inside the frame under two of them up to ~1e-2 of its peak (the
# first moves a point at radius r to at most ~1.1 r + 0.15, and the envelope is below 1e-2
# beyond r = 0.75), and down-scaling by at most e^-0.2 loses no detail of its band-limited
# pattern (the rotation angle is unrestricted: rotations lose nothing).
AFFINE_SMALL_BOUND = np.array([0.1, 0.1, np.pi, 0.1, 0.1, 0.1], np.float32)
# |η_s|, |η_v| <= 0.25: two such factors scale s, v by at most e^0.5, which keeps the
# colours of `unclipped_rgb_images` (s, v <= 0.6) below 1, i.e. no clip is ever active.
HSV_BOUND = np.array([1.0, 0.25, 0.25], np.float32)


def affine_params(n_params: int = 5, *, small: bool = False) -> st.SearchStrategy[np.ndarray]:
    """`(t_x, t_y, θ, log s_x, log s_y[, shear])` within the training ranges (or small ones)."""
    bound = AFFINE_SMALL_BOUND if small else AFFINE_BOUND
    return bounded((n_params,), bound[:n_params])


def hsv_params() -> st.SearchStrategy[np.ndarray]:
    """`(η_h, η_s, η_v)` with any hue shift and factors that never clip our test colours."""
    return bounded((3,), HSV_BOUND)


def ray_scalars() -> st.SearchStrategy[float]:
    """Scalars `s, t` for the one-parameter homomorphism law."""
    return st.floats(-1.0, 1.0, width=32)


def points(n: int = 5, dim: int = 2) -> st.SearchStrategy[np.ndarray]:
    """`n` points (or vectors) of dimension `dim` in `[-1.5, 1.5]`."""
    return bounded((n, dim), 1.5)


def _centres(size: int) -> np.ndarray:
    return (2.0 * np.arange(size) + 1.0) / size - 1.0


def _envelope(size: int) -> np.ndarray:
    x = _centres(size)[None, :]
    y = -_centres(size)[:, None]
    return np.exp(-(x**2 + y**2) / (2 * 0.25**2))


def blob(size: int = 16) -> np.ndarray:
    """The Gaussian envelope of `smooth_images` alone, `(size, size, 1)` float32."""
    return _envelope(size)[..., None].astype(np.float32)


def _patterns(coefs: np.ndarray, size: int) -> np.ndarray:
    """`0.5 + 0.5 cos(2π k·p + φ)` per channel, `(size, size, channels)`, values in [0, 1]."""
    x = _centres(size)[None, :]
    y = -_centres(size)[:, None]
    out = []
    for kx, ky, phase in coefs * np.array([0.6, 0.6, np.pi]):
        out.append(0.5 + 0.5 * np.cos(2 * np.pi * (kx * x + ky * y) + phase))
    return np.stack(out, axis=-1)


def smooth_images(size: int = 16, channels: int = 1) -> st.SearchStrategy[np.ndarray]:
    """Smooth, band-limited images concentrated in the middle of the frame, values in [0, 1].

    A Gaussian envelope (σ = 0.25 normalised units, 2 pixels at size 16; below 1e-2 of the
    peak beyond radius 0.75) times
    `0.5 + 0.5 cos(2π k·p + φ)` with `|k| <= 0.6` cycles per normalised unit (a period of at
    least 13 pixels at size 16). Such images change little between one and two cubic
    resamplings, so image-level compatibility can be tested with a small tolerance.
    """
    return bounded((channels, 3), 1.0).map(
        lambda c: (_envelope(size)[..., None] * _patterns(c, size)).astype(np.float32)
    )


def unclipped_rgb_images(size: int = 8) -> st.SearchStrategy[np.ndarray]:
    """RGB images with channels in [0.3, 0.6], so saturation <= 0.5 and value <= 0.6."""
    unit = arrays(np.float32, (size, size, 3), elements=st.floats(0.0, 1.0, width=32))
    return unit.map(lambda a: (0.3 + 0.3 * a).astype(np.float32))


def smooth_rgb_images(size: int = 16) -> st.SearchStrategy[np.ndarray]:
    """Smooth RGB images (see `smooth_images`) whose colours have saturation <= 0.5.

    Each channel is `envelope * (0.3 + 0.25 * pattern)`: in every pixel min >= 0.3/0.55 max
    (saturation <= 0.45) and value <= 0.55, so two HSV factors from `hsv_params` (at most
    e^0.5 ~ 1.65) keep s, v <= 0.91: no clip is active, even after a cubic resampling of these
    smooth images (which overshoots by far less than the 0.09 margin).
    """
    return bounded((3, 3), 1.0).map(
        lambda c: (_envelope(size)[..., None] * (0.3 + 0.25 * _patterns(c, size))).astype(
            np.float32
        )
    )


def _so3() -> list[list[list[float]]]:
    return [
        [[0, 0, 0], [0, 0, -1], [0, 1, 0]],
        [[0, 0, 1], [0, 0, 0], [-1, 0, 0]],
        [[0, -1, 0], [1, 0, 0], [0, 0, 0]],
    ]


def _sl2() -> list[list[list[float]]]:
    return [[[1, 0], [0, -1]], [[0, 1], [0, 0]], [[0, 0], [1, 0]]]


def _hsv_canonical(g: HSVColor) -> jnp.ndarray:
    hue = 2 * jnp.pi * g.params[0]
    return jnp.stack([jnp.cos(hue), jnp.sin(hue), g.params[1], g.params[2]])


@dataclasses.dataclass(frozen=True)
class ActionCase:
    """Everything the law tests need to know about one action.

    - `params`: strategy for a parameter vector `eta` (training ranges).
    - `identity`: `() -> element`, the `identity` classmethod with the action's configuration.
    - `make`: `eta -> element` (`from_params` with the action's configuration).
    - `canonical`: element -> array that is equal (up to float rounding) iff the elements are.
    - `probes`: strategy for inputs on which the action is exact (points, vectors, colours).
    - `act_exact`: `(element, probe) -> array`, the exact action on a probe.
    - `images`, `image_params`, `image_atol`: for image actions, a strategy of smooth images,
      a strategy of (smaller) parameters, and the maximum absolute difference allowed between
      `g.compose(h).apply(x)` and `g.apply(h.apply(x))`; `None` for non-image actions.
    - `rtol`: relative tolerance for exact comparisons (float32 products of a few matrices
      with entries up to e^3 ~ 20: 1e-4 of the largest entry is ~100 float32 ulps).
    """

    params: st.SearchStrategy[np.ndarray]
    identity: Callable[[], Any]
    make: Callable[[Any], Any]
    canonical: Callable[[Any], Any]
    probes: st.SearchStrategy[Any]
    act_exact: Callable[[Any, Any], Any]
    images: st.SearchStrategy[np.ndarray] | None = None
    image_params: st.SearchStrategy[np.ndarray] | None = None
    image_atol: float = 0.0
    rtol: float = 1e-4


ACTIONS: dict[str, ActionCase] = {
    # Order-3 resampling of `smooth_images`: resampling twice instead of once changes pixels by
    # at most ~0.006 (measured over 2000 draws, half of them at the corners of the parameter
    # box); 0.02 still catches a wrong composition order, which moves the content by about a
    # pixel (`test_image_tolerance_detects_a_wrong_composition_order`).
    "affine5": ActionCase(
        params=affine_params(5),
        identity=lambda: Affine2D.identity(order=3),
        make=lambda eta: Affine2D.from_params(eta, order=3),
        canonical=lambda g: g.matrix,
        probes=points(),
        act_exact=lambda g, p: g.transform_points(p),
        images=smooth_images(16, 1),
        image_params=affine_params(5, small=True),
        image_atol=0.02,
    ),
    "affine6": ActionCase(
        params=affine_params(6),
        identity=lambda: Affine2D.identity(n_params=6, order=3),
        make=lambda eta: Affine2D.from_params(eta, order=3),
        canonical=lambda g: g.matrix,
        probes=points(),
        act_exact=lambda g, p: g.transform_points(p),
        images=smooth_images(16, 2),
        image_params=affine_params(6, small=True),
        image_atol=0.02,
    ),
    # HSV acts pixelwise with no resampling: exact (float32 rounding) while no clip is active.
    "hsv": ActionCase(
        params=hsv_params(),
        identity=HSVColor.identity,
        make=HSVColor.from_params,
        canonical=_hsv_canonical,
        probes=unclipped_rgb_images(),
        act_exact=lambda g, x: g.apply(x),
        images=unclipped_rgb_images(),
        image_params=hsv_params(),
        image_atol=1e-5,
    ),
    # Affine and HSV commute on images up to interpolation: resampling colours is not the same
    # as resampling in HSV, a difference of the order of the interpolation error of the smooth
    # test images (cubic: measured <= 0.01); 0.02 as for the affine cases.
    "affine_x_hsv": ActionCase(
        params=bounded((8,), np.concatenate([AFFINE_BOUND[:5], HSV_BOUND])),
        identity=lambda: Product.identity(
            first=Affine2D.identity(order=3), second=HSVColor.identity()
        ),
        make=lambda eta: Product.from_params(
            eta, first=Affine2D.identity(order=3), second=HSVColor.identity()
        ),
        canonical=lambda g: jnp.concatenate([g.first.matrix.ravel(), _hsv_canonical(g.second)]),
        probes=st.tuples(points(), unclipped_rgb_images()),
        act_exact=lambda g, probe: (
            g.first.transform_points(probe[0]),
            g.second.apply(probe[1]),
        ),
        images=smooth_rgb_images(16),
        image_params=bounded((8,), np.concatenate([AFFINE_SMALL_BOUND[:5], HSV_BOUND])),
        image_atol=0.02,
    ),
    # |b| <= 0.2 √2 and |p| <= 1: the denominator 1 - 2 b·p + |b|²|p|² >= (1 - |b||p|)² >= 0.5,
    # so every map (and every composition of two) stays far from the singular point b/|b|²
    # and float32 round-off stays ~1e-6 relative. Images: |b| <= 0.1 √2 moves the content of
    # `smooth_images` (inside radius 0.75) by at most ~0.08, so it stays in the frame and one
    # against two cubic resamplings differ as for the affine cases.
    "sct": ActionCase(
        params=bounded((2,), 0.2),
        identity=lambda: SpecialConformal.identity(order=3),
        make=lambda eta: SpecialConformal.from_params(eta, order=3),
        canonical=lambda g: g.b,
        probes=bounded((5, 2), 1.0),
        act_exact=lambda g, p: g.transform_points(p),
        images=smooth_images(16, 1),
        image_params=bounded((2,), 0.1),
        image_atol=0.02,
    ),
    "so3": ActionCase(
        params=bounded((3,), 1.0),
        identity=lambda: MatrixLieGroup.identity(generators=_so3()),
        make=lambda eta: MatrixLieGroup.from_params(eta, generators=_so3()),
        canonical=lambda g: g.matrix,
        probes=points(5, 3),
        act_exact=lambda g, p: jax.vmap(g.apply)(p),
        rtol=1e-4,
    ),
    "sl2": ActionCase(
        params=bounded((3,), 1.0),
        identity=lambda: MatrixLieGroup.identity(generators=_sl2()),
        make=lambda eta: MatrixLieGroup.from_params(eta, generators=_sl2()),
        canonical=lambda g: g.matrix,
        probes=points(5, 2),
        act_exact=lambda g, p: jax.vmap(g.apply)(p),
    ),
}
