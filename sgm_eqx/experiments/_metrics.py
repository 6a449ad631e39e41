r"""Metrics for the SGM experiments (JSON-friendly: every function returns plain floats/dicts).

**Definitions** (also on the "Experiments and the command line" docs page).

- *1-Wasserstein distance* between two 1-D samples `a`, `b` (any sizes):
  `W1 = ∫ |F_a(t) - F_b(t)| dt` with the empirical CDFs `F`
  ([`sgm_eqx.experiments.wasserstein1`][]). For angles with period `P` (a shape with
  `k`-fold symmetry has `P = 2π/k`), the circular version
  `W1 = min_α ∫_0^P |F_a(t) - F_b(t) - α| dt`
  ([`sgm_eqx.experiments.circular_wasserstein1`][]).
  Both are reported *in units of the parameter's range*: dSprites `x`, `y` are divided by 1
  (their latent range `[0, 1]`), `scale` by 0.5 (the dSprites range `[0.5, 1]`) and
  orientation by the period `P`. So 0 is perfect and ~0.3 is what two unrelated uniform
  distributions over the range give.

- *Ground-truth recovery* ([`sgm_eqx.experiments.dsprites_recovery`][]). For a test sprite
  `x` with pose `M_x` ([`sgm_eqx.data.dsprites_pose`][]) and inferred transformation
  `A_x = T(f_ω(x))`, the prototype `x̂ = T^{-1}(x)` has, exactly, the pose
  `P = A_x^{-1} M_x`. All sprites of a shape lie in one orbit, so the *true* distribution of
  transformations relative to `x̂` is `{M_y P^{-1}}` over the data sprites `y` of that shape.
  A sample `η ~ p_ψ(η | x̂)` predicts the sprite pose `T(η) P`. We compare the two
  distributions through the pose latents `(scale, orientation, x, y)` (pooled over the test
  sprites of a shape): comparing raw `η` would be ill-posed, because the rotational symmetry
  of squares and ellipses makes several `η` produce the same image and, as
  `T(η) = exp(Σ η_i G_i)`, those `η` differ in their translation entries too. The map
  `η -> pose(T(η) P)` is a bijection modulo that symmetry, so the latent comparison is the
  η comparison with the ambiguity removed. The paper's headline, "rotation is absent for
  hearts", shows as the heart orientation W1 (the data has orientation 0) and as
  `heart_rotation_std_deg`, the mean (over heart test sprites) circular standard deviation,
  in degrees, of the orientation predicted by `p_ψ(η | x̂)` for one prototype (ideally 0),
  next to the same number for ellipses and squares.

- *Prototype invariance.* [`sgm_eqx.experiments.chain_ratio`][]: for prototype chains
  `x̂_0 = x, x̂_{k+1} = prototype(x̂_k)` with inferred `η_k = f_ω(x̂_k)`, the mean over
  examples and parameters of `|η_k,i| / η_max,i` divided by its value at iteration 0
  (Fig. 11; the paper plateaus near 5%). [`sgm_eqx.experiments.orbit_variance_ratio`][]:
  per-pixel variance of the prototypes of one orbit (the same sprite rendered at many
  poses), averaged over pixels and orbits, divided by the per-pixel variance of the data
  images; the same ratio of the inputs themselves is the reference (an encoder that does
  nothing scores that). Orbit variance is small for prototypes shrunk to dots whatever
  their pose, so read it beside [`sgm_eqx.experiments.prototype_intensity`][]: the median
  over inputs of a prototype's total intensity over its input's (1: the same size; a
  shrink by `s` in both directions gives `s²`).

- *Resampling fidelity* ([`sgm_eqx.experiments.resampling_fidelity`][]): the W1 above
  between the latents of data sprites and of resampled sprites, both *estimated from image
  moments* by [`sgm_eqx.experiments.moment_latents`][] (so the estimator's bias is shared):
  position from the intensity centroid (corrected by the shape's centroid offset), scale
  from the square root of the total intensity (area) over the shape's area at scale 1,
  orientation from the angle of the complex moment `Σ w (z - c)^k` with `k` the shape's
  symmetry order (`k = 1` uses `Σ w |z - c|^2 (z - c)`), relative to that angle for the
  canonical shape. The estimator's own error (estimates from data images vs true latents)
  is reported as `estimator_floor`.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._frame import complex_grid
from .._stats import circular_std, circular_wasserstein1, wasserstein1
from ..data import (
    LATENT_NAMES,
    POSITION_EXTENT,
    SHAPES,
    SYMMETRY_ORDER,
    dsprites_pose,
    pose_to_latents,
    render_dsprites,
)

_AnyArray = Array | np.ndarray

#: Range used to normalise the W1 of each latent (orientation uses the symmetry period).
LATENT_RANGES: dict[str, float] = {"scale": 0.5, "x": 1.0, "y": 1.0}


def latent_w1(
    latents_a: Float[_AnyArray, "n 5"], latents_b: Float[_AnyArray, "m 5"]
) -> dict[str, dict[str, float]]:
    """Per-shape, per-latent normalised W1 between two sets of dSprites latents.

    **Arguments:** two `(n, 5)` arrays of `(shape, scale, orientation, x, y)`; shapes are
    matched by the first column. Orientation uses
    [`sgm_eqx.experiments.circular_wasserstein1`][] with the shape's symmetry period and is
    divided by it; other latents are divided by `LATENT_RANGES`.

    **Returns:** `{shape_name: {latent_name: w1}}` for every shape present in both.
    """
    a, b = np.asarray(latents_a, np.float64), np.asarray(latents_b, np.float64)
    out = {}
    for s, name in enumerate(SHAPES):
        la, lb = a[np.round(a[:, 0]) == s], b[np.round(b[:, 0]) == s]
        if len(la) == 0 or len(lb) == 0:
            continue
        period = 2 * math.pi / SYMMETRY_ORDER[s]
        res = {}
        for j, latent in enumerate(LATENT_NAMES[1:], start=1):
            if latent == "orientation":
                res[latent] = circular_wasserstein1(la[:, j], lb[:, j], period) / period
            else:
                res[latent] = wasserstein1(la[:, j], lb[:, j]) / LATENT_RANGES[latent]
        out[name] = res
    return out


def _pose_latents(poses: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """[`sgm_eqx.data.pose_to_latents`][] over `(..., 3, 3)` poses; `shapes` broadcasts."""
    batch = poses.shape[:-2]
    flat = jnp.asarray(poses, jnp.float32).reshape(-1, 3, 3)
    shape = jnp.broadcast_to(jnp.asarray(shapes, jnp.float32), batch).reshape(-1)
    return np.asarray(jax.vmap(pose_to_latents)(flat, shape), np.float64).reshape(*batch, 5)


def _poses(latents: np.ndarray) -> np.ndarray:
    """[`sgm_eqx.data.dsprites_pose`][] over `(..., 5)` latents."""
    flat = jnp.asarray(latents, jnp.float32).reshape(-1, 5)
    poses = np.asarray(jax.vmap(dsprites_pose)(flat), np.float64)
    return poses.reshape(*latents.shape[:-1], 3, 3)


def predicted_latents(
    latents: Float[_AnyArray, "n 5"],
    inferred: Float[_AnyArray, "n 3 3"],
    samples: Float[_AnyArray, "n s 3 3"],
) -> Float[np.ndarray, "n s 5"]:
    """Sprite latents predicted by `p_ψ(η | x̂)`: `pose(T(η) A_x^{-1} M_x)` for every sample.

    **Arguments:**

    - `latents`: true `(shape, scale, orientation, x, y)` of the test sprites `x`.
    - `inferred`: the matrices `T(f_ω(x))` of the inferred transformations (content maps, as
      `sgm_eqx.groups.Affine2D.matrix`).
    - `samples`: matrices `T(η)` of samples `η ~ p_ψ(η | x̂)`.

    **Returns:** `(n, s, 5)` latents (orientation not reduced modulo symmetry).
    """
    lat = np.asarray(latents, np.float64)
    proto = np.linalg.solve(np.asarray(inferred, np.float64), _poses(lat))  # A^{-1} M
    pred = np.asarray(samples, np.float64) @ proto[:, None]
    return _pose_latents(pred, lat[:, None, 0])


def dsprites_recovery(
    latents: Float[_AnyArray, "n 5"],
    inferred: Float[_AnyArray, "n 3 3"],
    samples: Float[_AnyArray, "n s 3 3"],
    data_latents: Float[_AnyArray, "m 5"],
) -> dict:
    """Ground-truth recovery on dSprites (see the module docstring).

    **Arguments:** as [`sgm_eqx.experiments.predicted_latents`][], plus `data_latents`:
    latents of the data sprites defining the true distribution (e.g. the training set).

    **Returns:** `{"w1": {shape: {latent: w1}}, "heart_rotation_std_deg": float,
    "rotation_std_deg": {shape: float}}`.
    """
    pred = predicted_latents(latents, inferred, samples)
    flat = pred.reshape(-1, 5)
    out: dict = {"w1": latent_w1(data_latents, flat), "rotation_std_deg": {}}
    for s, name in enumerate(SHAPES):
        sel = np.round(pred[:, 0, 0]) == s
        if not sel.any():
            continue
        period = 2 * math.pi / SYMMETRY_ORDER[s]
        stds = [circular_std(p[:, 2], period) for p in pred[sel]]
        out["rotation_std_deg"][name] = float(np.degrees(np.mean(stds)))
    out["heart_rotation_std_deg"] = out["rotation_std_deg"].get("heart", float("nan"))
    return out


def chain_ratio(
    etas: Float[_AnyArray, "n k d"], eta_scale: Float[_AnyArray, " d"] | None = None
) -> list[float]:
    """Mean |η| along prototype chains, relative to iteration 0 (Fig. 11).

    **Arguments:**

    - `etas`: `η_k = f_ω(x̂_k)` for `n` chains of `k` iterations (`x̂_0 = x`).
    - `eta_scale`: per-parameter scale (e.g. `η_max`) dividing `|η_i|` so translations and
      angles are comparable; default 1.

    **Returns:** `k` ratios `m_k / m_0`, `m_k = mean_{examples, i} |η_k,i| / scale_i`.
    """
    e = np.abs(np.asarray(etas, np.float64))
    if e.ndim != 3:
        raise ValueError(f"`chain_ratio(etas=...)`: expected (n, k, d); got {e.shape}.")
    if eta_scale is not None:
        e = e / np.asarray(eta_scale, np.float64)
    m = e.mean(axis=(0, 2))
    if m[0] == 0:
        raise ValueError("`chain_ratio(etas=...)`: the iteration-0 magnitude is 0.")
    return [float(v) for v in m / m[0]]


def orbit_variance_ratio(
    orbit_images: Float[_AnyArray, "o m H W C"], data_images: Float[_AnyArray, "n H W C"]
) -> float:
    """Within-orbit per-pixel variance (mean over pixels and orbits) / per-pixel data variance.

    Apply it to the prototypes of each orbit (invariance of `f_ω`; 0 is perfect) and to the
    orbit images themselves (the no-invariance reference).
    """
    o = np.asarray(orbit_images, np.float64)
    d = np.asarray(data_images, np.float64)
    within = o.var(axis=1).mean()
    total = d.var(axis=0).mean()
    if total == 0:
        raise ValueError("`orbit_variance_ratio(data_images=...)`: the data has no variance.")
    return float(within / total)


def prototype_intensity(
    data_images: Float[_AnyArray, "n H W C"], prototypes: Float[_AnyArray, "n H W C"]
) -> float:
    """Median over inputs of `sum(x̂) / sum(x)`: how much of its input a prototype keeps.

    For non-negative images (intensity on a zero background). 1 means the prototype has its
    input's size; an affine map that scales both axes by `s` multiplies it by `s²`, and
    content pushed out of the frame lowers it too. Inputs with no intensity are skipped.
    Read it beside the orbit variance, which is small for prototypes shrunk to dots however
    they are posed.
    """
    x = np.asarray(data_images, np.float64)
    p = np.asarray(prototypes, np.float64)
    if x.shape != p.shape or x.ndim != 4:
        raise ValueError(
            "`prototype_intensity(data_images=..., prototypes=...)`: expected two (n, H, W, C) "
            f"arrays of one shape; got {x.shape} and {p.shape}."
        )
    if x.min(initial=0.0) < 0:  # (prototypes may ring slightly below 0 at order 3)
        raise ValueError(
            "`prototype_intensity(data_images=...)`: expected non-negative images (intensity "
            "on a zero background); got negative values. Rescale the data to [0, 1] first."
        )
    mass = x.sum(axis=(1, 2, 3))
    keep = mass > 0
    if not keep.any():
        raise ValueError("`prototype_intensity(data_images=...)`: every image is blank.")
    return float(np.median(p.sum(axis=(1, 2, 3))[keep] / mass[keep]))


@functools.lru_cache(maxsize=len(SHAPES))
def _reference(shape: int) -> tuple[float, np.ndarray, float]:
    """Area at scale 1, centroid offset (normalised units at scale 1) and reference angle.

    Rendered once per shape (a pure function of `shape`, cached).
    """
    lat = jnp.asarray([[shape, 1.0, 0.0, 0.5, 0.5]], jnp.float32)
    img = np.asarray(render_dsprites(lat, size=128, supersample=4))[0, ..., 0]
    area, centre, angle = _moments(img[None], np.asarray([shape]))
    return float(area[0]), centre[0], float(angle[0])


def _moments(images: np.ndarray, shapes: np.ndarray):
    _, h, w = images.shape
    z = complex_grid(h, w)
    mass = images.sum(axis=(1, 2)) + 1e-12
    c = (images * z).sum(axis=(1, 2)) / mass
    dz = z[None] - c[:, None, None]
    k = np.asarray([SYMMETRY_ORDER[int(s)] for s in shapes])
    power = np.where(k[:, None, None] == 1, dz * np.abs(dz) ** 2, dz ** k[:, None, None])
    angle = np.angle((images * power).sum(axis=(1, 2))) / k
    area = mass * (2.0 / w) * (2.0 / h)
    return area, np.stack([c.real, c.imag], -1), angle


def moment_latents(
    images: Float[_AnyArray, "n H W 1"], shapes: Int[_AnyArray, " n"]
) -> Float[np.ndarray, "n 5"]:
    """Estimate `(shape, scale, orientation, x, y)` of sprite images from image moments.

    See the module docstring. Orientation is only defined modulo the shape's symmetry period.
    """
    img = np.asarray(images, np.float64)[..., 0]
    sh = np.asarray(shapes).astype(int)
    area, centre, angle = _moments(img, sh)
    out = np.zeros((len(img), 5))
    for s in np.unique(sh):
        sel = sh == s
        area1, offset1, angle1 = _reference(int(s))
        scale = np.sqrt(area[sel] / area1)
        theta = angle[sel] - angle1
        c, si = np.cos(theta), np.sin(theta)
        off = scale[:, None] * np.stack(
            [c * offset1[0] - si * offset1[1], si * offset1[0] + c * offset1[1]], -1
        )
        pos = centre[sel] - off
        out[sel] = np.stack(
            [np.full(sel.sum(), s), scale, theta, *((pos.T / POSITION_EXTENT + 1) / 2)], -1
        )
    return out


def resampling_fidelity(
    data_images: Float[_AnyArray, "n H W 1"],
    data_shapes: Int[_AnyArray, " n"],
    resampled_images: Float[_AnyArray, "m H W 1"],
    resampled_shapes: Int[_AnyArray, " m"],
    data_latents: Float[_AnyArray, "n 5"] | None = None,
) -> dict:
    """W1 between moment-estimated latents of data and resampled sprites (Fig. 17).

    **Returns:** `{"w1": {shape: {latent: w1}}}`, plus `"estimator_floor"` (W1 between the true
    latents and the moment estimates on the data images) when `data_latents` is given.
    """
    est_data = moment_latents(data_images, data_shapes)
    est_res = moment_latents(resampled_images, resampled_shapes)
    out: dict = {"w1": latent_w1(est_data, est_res)}
    if data_latents is not None:
        out["estimator_floor"] = latent_w1(np.asarray(data_latents), est_data)
    return out
