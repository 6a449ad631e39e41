r"""Ground-truth recovery: does a trained SGM reproduce each class's pose distribution?

Everything here is measured on *images*, never on η, so it does not depend on how η is
parameterised (η lives in exponential coordinates, where a rotation about a point other
than the origin has translation components, so one raw η component is no pose).

**Pose estimator** ([`sgm_eqx.experiments.moment_poses`][]). From the image moments of a
single-object image it estimates `(θ, t_x, t_y, log-size, aspect)` relative to the class's
canonical shape (rendered once at the identity pose as a reference):

- `log-size = ½ log(area / area₀)`;
- `θ` from the angle of the `k`-th complex central moment `Σ w (z - c)^k` (divided by `k`,
  with `k` the order of the shape's rotational symmetry; `k = 1` uses `Σ w |z - c|² (z - c)`),
  minus the reference angle; defined modulo `2π/k`;
- `aspect = ¼ log((C'_xx / C'_yy) / (C_xx / C_yy)₀)` from the central second moments in the
  frame rotated by `-θ`;
- `(t_x, t_y)`: the centroid minus the reference centroid offset carried by the estimated
  rotation, size and aspect.

It is applied identically to data images and to resampled variants, so its own bias is
shared; `estimator_floor` reports its error against the true latents.

**Units** (the W1 of each pose coordinate is divided by these): rotation in units of 90°
(circular W1 on the class's symmetry period), translation in half-frames (one normalised
unit), log-size and aspect in units of 0.5.
"""

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._frame import complex_grid
from ..data import POSE_RADIUS, PoseClass, render_shape
from ._metrics import circular_std, circular_wasserstein1, prototype_intensity, wasserstein1

_AnyArray = Array | np.ndarray

#: Pose coordinates estimated by [`sgm_eqx.experiments.moment_poses`][], in this order.
POSE_NAMES: tuple[str, ...] = ("theta", "tx", "ty", "log_size", "aspect")
#: The unit each pose coordinate's W1 is expressed in.
POSE_UNITS: dict[str, float] = {
    "theta": math.pi / 2,
    "tx": 1.0,
    "ty": 1.0,
    "log_size": 0.5,
    "aspect": 0.5,
}


#: Orders `n` of the axes `arg(μ_n0) / n` that refine the orientation of a shape with no
#: rotational symmetry (see `moment_poses`).
_REFINING_ORDERS = (2, 3, 4)
#: A reference moment `|μ_n0| / s^n` at least this strong refines the orientation.
_REFINING_STRENGTH = 0.15


def _raw_moments(images: np.ndarray, k: int):
    """Area, centroid, orientation moments and central second moments of `(n, H, W)` images.

    The orientation moments are the complex central moments `μ_pq = E[(z - c)^p
    conj(z - c)^q] / s^(p + q)` (`s² = E|z - c|²`) that `moment_poses` reads: `(k, 0)` for
    a shape with `k`-fold symmetry; `(2, 1)` and those of `_REFINING_ORDERS` for `k = 1`.
    """
    _, h, w = images.shape
    z = complex_grid(h, w)
    mass = images.sum(axis=(1, 2)) + 1e-12
    c = (images * z).sum(axis=(1, 2)) / mass
    dz = z[None] - c[:, None, None]
    radius = np.sqrt((images * np.abs(dz) ** 2).sum(axis=(1, 2)) / mass) + 1e-12
    dz_n = dz / radius[:, None, None]

    def moment(p, q):
        return (images * dz_n**p * np.conj(dz_n) ** q).sum(axis=(1, 2)) / mass

    orders = [(2, 1), *((n, 0) for n in _REFINING_ORDERS)] if k == 1 else [(k, 0)]
    moments = {pq: moment(*pq) for pq in orders}
    cxx = (images * dz.real**2).sum(axis=(1, 2)) / mass
    cyy = (images * dz.imag**2).sum(axis=(1, 2)) / mass
    cxy = (images * dz.real * dz.imag).sum(axis=(1, 2)) / mass
    area = mass * (2.0 / w) * (2.0 / h)
    return area, c, moments, np.stack([cxx, cxy, cyy], -1)


def _reference(shape: str, k: int, size: int) -> tuple[float, complex, dict, np.ndarray]:
    lat = jnp.zeros((1, 6), jnp.float32)
    img = np.asarray(render_shape(shape, lat, size=size, supersample=4))[:, :, :, 0]
    area, c, moments, cov = _raw_moments(img.astype(np.float64), k)
    return float(area[0]), complex(c[0]), {pq: complex(m[0]) for pq, m in moments.items()}, cov[0]


def _orientation(moments: dict, ref: dict, k: int) -> np.ndarray:
    """`θ` (mod `2π/k`) of every image, relative to the reference shape (`moment_poses`)."""
    if k > 1:
        return np.angle(moments[k, 0] * np.conj(ref[k, 0])) / k
    # coarse full turn: the order-1 moment μ_21 and the order-1 product μ_30 conj(μ_20),
    # each relative to the reference, weighted by how strong they are in the reference.
    turns = [
        moments[2, 1] * np.conj(ref[2, 1]),
        moments[3, 0] * np.conj(moments[2, 0]) * np.conj(ref[3, 0] * np.conj(ref[2, 0])),
    ]
    coarse = np.angle(
        sum(
            t / (np.abs(t) + 1e-30) * np.abs(r)
            for t, r in zip(turns, (ref[2, 1], ref[3, 0] * np.conj(ref[2, 0])), strict=True)
        )
    )
    # refine with the precise axis of the reference's strongest order n: the candidate
    # (arg μ_n0 - arg ref_n0) / n + 2πj / n nearest to the coarse angle.
    n = max(_REFINING_ORDERS, key=lambda m: abs(ref[m, 0]))
    if abs(ref[n, 0]) < _REFINING_STRENGTH:
        return np.asarray(coarse)
    base = np.angle(moments[n, 0] * np.conj(ref[n, 0])) / n
    step = 2 * np.pi / n
    return base + step * np.round((coarse - base) / step)


def moment_poses(
    images: Float[_AnyArray, "n H W 1"], pose_class: PoseClass
) -> Float[np.ndarray, "n 5"]:
    """Estimate `(θ, t_x, t_y, log-size, aspect)` of images of one class (module docstring).

    **Arguments:**

    - `images`: single-object images of the class, `(n, H, W, 1)`.
    - `pose_class`: the class (its canonical shape and symmetry order).

    **Returns:** `(n, 5)` float64; `θ` in `(-π/k, π/k]`.
    """
    img = np.asarray(images, np.float64)[..., 0]
    k = pose_class.symmetry_order
    area0, c0, ref, cov0 = _reference(pose_class.shape, k, 4 * img.shape[1])
    area, c, moments, cov = _raw_moments(img, k)
    period = 2 * math.pi / k
    theta = np.mod(_orientation(moments, ref, k) + period / 2, period) - period / 2
    log_size = 0.5 * np.log(area / area0)
    ct, st = np.cos(theta), np.sin(theta)
    # second moments in the frame rotated by -θ: C' = R(-θ) C R(θ)
    cxx, cxy, cyy = cov[:, 0], cov[:, 1], cov[:, 2]
    rxx = ct**2 * cxx + 2 * ct * st * cxy + st**2 * cyy
    ryy = st**2 * cxx - 2 * ct * st * cxy + ct**2 * cyy
    aspect = 0.25 * (np.log(rxx / ryy) - np.log(cov0[0] / cov0[2]))
    sx, sy = np.exp(log_size + aspect), np.exp(log_size - aspect)
    off = np.stack([sx * c0.real, sy * c0.imag], -1)
    rotated = np.stack([ct * off[:, 0] - st * off[:, 1], st * off[:, 0] + ct * off[:, 1]], -1)
    t = np.stack([c.real, c.imag], -1) - rotated
    return np.stack([theta, t[:, 0], t[:, 1], log_size, aspect], -1)


def pose_w1(
    a: Float[_AnyArray, "n 5"], b: Float[_AnyArray, "m 5"], pose_class: PoseClass
) -> dict[str, float]:
    """W1 between two samples of estimated poses, per coordinate, in `POSE_UNITS`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    period = 2 * math.pi / pose_class.symmetry_order
    out = {}
    for j, name in enumerate(POSE_NAMES):
        if name == "theta":
            w = circular_wasserstein1(a[:, j], b[:, j], period)
        else:
            w = wasserstein1(a[:, j], b[:, j])
        out[name] = w / POSE_UNITS[name]
    return out


def poses_of_matrices(matrices: Float[_AnyArray, "n 3 3"]) -> Float[np.ndarray, "n 5"]:
    """`(θ, t_x, t_y, log-size, aspect)` of content poses given as affine matrices.

    The inverse of [`sgm_eqx.data.pose_matrix`][] for any affine map `P = [L t; 0 1]`: `θ`
    is the angle of the rotation closest to `L` (its polar factor), `L = R(θ) S`; the
    log-size is `log(sqrt|det L| / POSE_RADIUS)` and the aspect `log(S_xx / S_yy) / 2`.
    Exact: no image is read, so with the true pose `M_x` of `x`, the inferred map
    `A_x = T(f(x))` and a sampled `T(η)`, `poses_of_matrices(T(η) A_x^{-1} M_x)` is the
    exact pose of the variant `T_η(x̂)`.
    """
    m = np.asarray(matrices, np.float64)
    lin = m[:, :2, :2]
    theta = np.arctan2(lin[:, 1, 0] - lin[:, 0, 1], lin[:, 0, 0] + lin[:, 1, 1])
    c, s = np.cos(theta), np.sin(theta)
    sxx = c * lin[:, 0, 0] + s * lin[:, 1, 0]  # S = R(-θ) L
    syy = -s * lin[:, 0, 1] + c * lin[:, 1, 1]
    det = lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]
    log_size = np.log(np.sqrt(np.abs(det)) / POSE_RADIUS)
    aspect = 0.5 * np.log(np.abs(sxx / syy))
    return np.stack([theta, m[:, 0, 2], m[:, 1, 2], log_size, aspect], -1)


def _cut_or_vanished(images: np.ndarray, proto_mass: np.ndarray) -> np.ndarray:
    """`(m,)` bools: content cut by the frame (> 2% of the mass on the border ring) or gone."""
    mass = images.sum(axis=(1, 2, 3))
    ring = mass - images[:, 1:-1, 1:-1].sum(axis=(1, 2, 3))
    reps = len(images) // len(proto_mass)
    return (ring > 0.02 * np.maximum(mass, 1e-12)) | (mass < 0.1 * np.repeat(proto_mass, reps))


def split_score(theta: Float[_AnyArray, " n"], symmetry_order: int) -> dict[str, float]:
    """How much a set of prototype orientations looks split into two halves 180° apart.

    With `R_m = |mean exp(i m k θ)|` (`k` the symmetry order): one cluster gives `R_1 ≈ 1`;
    two clusters half a period apart give `R_1 ≈ 0` but `R_2 ≈ 1`. Returns `r1`, `r2` and
    `split = r2 - r1` (near 1 for a split, near 0 otherwise). Only meaningful when the
    prototypes themselves are tight (`r2` high).
    """
    t = np.asarray(theta, np.float64) * symmetry_order
    r1 = float(np.abs(np.exp(1j * t).mean()))
    r2 = float(np.abs(np.exp(2j * t).mean()))
    return {"r1": r1, "r2": r2, "split": max(0.0, r2 - r1)}


def class_recovery(
    data_images: Float[_AnyArray, "n H W 1"],
    prototypes: Float[_AnyArray, "n H W 1"],
    variants: Float[_AnyArray, "n s H W 1"],
    pose_class: PoseClass,
    *,
    true_poses: Float[_AnyArray, "n 5"] | None = None,
    exact_variant_poses: Float[_AnyArray, "n s 5"] | None = None,
    population_poses: Float[_AnyArray, "m 5"] | None = None,
) -> dict:
    """Recovery metrics of one class from its held-out images, prototypes and variants.

    **Arguments:**

    - `data_images`: held-out images of the class, `(n, H, W, 1)`.
    - `prototypes`: their prototypes `x̂ = T_{f(x)}^{-1}(x)`.
    - `variants`: `s` variants `T_η(x̂)`, `η ~ p_ψ(η | x̂)`, of each, `(n, s, H, W, 1)`.
    - `pose_class`: the class's shape (symmetry order for the rotation estimate).
    - `true_poses`: the true `(θ, t_x, t_y, log-size, aspect)` of `data_images`, to report
      the estimator's own error.
    - `exact_variant_poses`: the exact poses of the variants, `(n, s, 5)`, where the action
      lets them be computed from the maps (affine:
      [`poses_of_matrices`][sgm_eqx.experiments.poses_of_matrices]); with
      `true_poses`, `w1_exact` compares them with the data's true poses, which measures the
      model free of the image estimator (whose error grows on twice-resampled small shapes).
    - `population_poses`: a large sample `(m, 5)` of the class's true pose distribution
      (drawn afresh, not the held-out images). A W1 between two finite samples is positive
      even when they come from one distribution: against the n held-out poses, a perfect
      model of a class rotated uniformly over the whole circle shows W1 θ ≈ 0.075 (90°
      units) at n = 155. With `population_poses`, `w1_population` compares the variants'
      poses (the exact ones if given, else the estimated) with the population, which
      removes the held-out sample's own noise, and `sampling_floor` (with `true_poses`) is
      the W1 of the held-out poses against the population: the part of `w1_exact` that
      is sampling noise of the data. With `exact_variant_poses` too, `w1_per_input` is the
      mean over inputs of the W1 between one input's variants and the population, and
      `per_input_floor` the same for `s` fresh draws per input (see `_per_input_w1`): a
      model that keeps each input's pose in its prototype passes the pooled W1 but not
      this one.

    **Returns:** a dict with `w1` (per pose coordinate, in `POSE_UNITS`), `orbit_variance`
    (within-class per-pixel variance of the prototypes over that of the inputs),
    `prototype_intensity` ([`sgm_eqx.experiments.prototype_intensity`][]: near 1 when the
    prototypes keep their inputs' size; a small orbit variance of dots means little),
    `prototype_rotation_std_deg`, `split` ([`sgm_eqx.experiments.split_score`][]),
    `lost_content` (fraction of variants whose content leaves the frame: more than 2% of
    their mass on the outermost ring of pixels, or less than 10% of the prototype's mass
    left; those variants are left out of `w1`)
    and, with `true_poses`, `estimator_floor`; `w1_exact`, `w1_population`,
    `sampling_floor`, `w1_per_input` and `per_input_floor` as above.
    """
    x = np.asarray(data_images, np.float64)
    p = np.asarray(prototypes, np.float64)
    v = np.asarray(variants, np.float64)
    n, s = v.shape[:2]
    lost = _cut_or_vanished(v.reshape(n * s, *v.shape[2:]), p.sum(axis=(1, 2, 3))).reshape(n, s)
    est_data = moment_poses(x, pose_class)
    # variants that lost their content have no pose: they are counted in `lost_content`
    kept = v.reshape(n * s, *v.shape[2:])[~lost.ravel()]
    est_var = moment_poses(kept, pose_class) if len(kept) else np.full((1, 5), np.nan)
    est_var = est_var[np.all(np.isfinite(est_var), axis=1)]
    est_proto = moment_poses(p, pose_class)
    in_var = x.var(axis=0).mean()
    nan = dict.fromkeys(POSE_NAMES, float("nan"))
    out = {
        "w1": pose_w1(est_data, est_var, pose_class) if len(est_var) else nan,
        "orbit_variance": float(p.var(axis=0).mean() / max(in_var, 1e-12)),
        "prototype_intensity": prototype_intensity(x, p),
        "prototype_rotation_std_deg": math.degrees(
            circular_std(est_proto[:, 0], 2 * math.pi / pose_class.symmetry_order)
        ),
        "split": split_score(est_proto[:, 0], pose_class.symmetry_order),
    }
    out["lost_content"] = float(np.mean(lost))
    exact = None if exact_variant_poses is None else np.asarray(exact_variant_poses, np.float64)
    if true_poses is not None:
        out["estimator_floor"] = pose_w1(np.asarray(true_poses), est_data, pose_class)
        if exact is not None:
            out["w1_exact"] = pose_w1(np.asarray(true_poses), exact[~lost], pose_class)
    if population_poses is not None:
        population = np.asarray(population_poses, np.float64)
        var_poses = est_var if exact is None else exact[~lost]
        out["w1_population"] = pose_w1(population, var_poses, pose_class)
        if true_poses is not None:
            out["sampling_floor"] = pose_w1(population, np.asarray(true_poses), pose_class)
        if exact is not None:
            out.update(_per_input_w1(exact, lost, population, pose_class))
    return out


def _per_input_w1(exact, lost, population, pose_class: PoseClass) -> dict:
    """Mean over inputs of the W1 between ONE input's variants and the population.

    Every element of an orbit has the same prototype, so each input's variants should
    follow the whole class distribution; a model whose prototypes keep the input's pose
    gives variants near that pose instead, which the pooled W1 cannot see (pooled over
    inputs, such variants reproduce the held-out sample). `per_input_floor` is the same
    mean for `s` fresh population draws per input: what a perfect model shows.
    """
    n, s = exact.shape[:2]
    rows, floor = [], []
    for i in range(n):
        keep = exact[i][~lost[i]]
        if len(keep):
            rows.append(pose_w1(population, keep, pose_class))
        j = (i * s) % max(len(population) - s, 1)
        floor.append(pose_w1(population, population[j : j + s], pose_class))
    mean = {k: float(np.mean([r[k] for r in rows])) if rows else float("nan") for k in POSE_NAMES}
    return {
        "w1_per_input": mean,
        "per_input_floor": {k: float(np.mean([f[k] for f in floor])) for k in POSE_NAMES},
    }


def true_poses(latents: Float[_AnyArray, "n 6"]) -> Float[np.ndarray, "n 5"]:
    """`(θ, t_x, t_y, log-size, aspect)` from pose-dataset latents (θ not reduced)."""
    return np.asarray(latents, np.float64)[:, 1:6]
