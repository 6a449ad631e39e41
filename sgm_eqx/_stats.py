"""One-dimensional sample statistics shared by the experiments, `detect` and `elbo`.

numpy only, so that every layer may use them; `sgm_eqx.experiments` re-exports them.
"""

import math

import numpy as np
from jaxtyping import Array, Float

_AnyArray = Array | np.ndarray


def _1d(name: str, a) -> np.ndarray:
    a = np.asarray(a, np.float64).ravel()
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"`{name}`: expected a non-empty sample of finite values.")
    return a


def wasserstein1(a: Float[_AnyArray, " n"], b: Float[_AnyArray, " m"]) -> float:
    """1-Wasserstein distance between the empirical distributions of two 1-D samples.

    `W1 = ∫ |F_a(t) - F_b(t)| dt`, computed exactly from the merged sorted samples. (Written
    out because scipy is only a development dependency; it equals
    `scipy.stats.wasserstein_distance`.)
    """
    a, b = np.sort(_1d("wasserstein1(a=...)", a)), np.sort(_1d("wasserstein1(b=...)", b))
    grid = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * np.diff(grid)))


def circular_wasserstein1(
    a: Float[_AnyArray, " n"], b: Float[_AnyArray, " m"], period: float
) -> float:
    """1-Wasserstein distance on the circle `R / period Z` (arc-length cost).

    Uses `W1 = min_α ∫_0^P |F_a(t) - F_b(t) - α| dt` (Rabin et al., 2011): the optimal `α`
    is the weighted median of `F_a - F_b`.
    """
    if not period > 0:
        raise ValueError(f"`circular_wasserstein1(period=...)`: expected > 0; got {period}.")
    a = np.sort(np.mod(_1d("circular_wasserstein1(a=...)", a), period))
    b = np.sort(np.mod(_1d("circular_wasserstein1(b=...)", b), period))
    grid = np.concatenate([[0.0], np.sort(np.concatenate([a, b])), [period]])
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    d, w = fa - fb, np.diff(grid)
    order = np.argsort(d)
    cw = np.cumsum(w[order])
    alpha = d[order][np.searchsorted(cw, 0.5 * cw[-1])]
    return float(np.sum(np.abs(d - alpha) * w))


def circular_std(angles: Float[_AnyArray, " n"], period: float = 2 * math.pi) -> float:
    """Circular standard deviation `sqrt(-2 ln R)` of angles with the given period.

    In the units of `angles`; `R` is the mean resultant length of `exp(2πi a / period)`.
    """
    z = np.exp(2j * np.pi * _1d("circular_std(angles=...)", angles) / period)
    r = min(float(np.abs(z.mean())), 1.0)
    return float(np.sqrt(max(-2.0 * np.log(max(r, 1e-300)), 0.0)) * period / (2 * np.pi))
