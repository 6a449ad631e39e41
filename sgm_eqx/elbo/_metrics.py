"""Measurements of a trained joint-ELBO model: prototype invariance and predicted angles."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._stats import circular_std
from ..groups import Affine2D
from ._model import LIVAE


def moment_orientation(image: Float[Array, "H W C"]) -> Float[Array, ""]:
    r"""Orientation of an image's principal axis from its second image moments (radians).

    With intensity weights (summed over channels) and coordinates in the normalised frame of
    [`sgm_eqx.groups.Affine2D`][] (`x` right, `y` up), the angle is
    $\tfrac12 \operatorname{atan2}(2\mu_{11}, \mu_{20} - \mu_{02})$, counter-clockwise from
    the `x` axis, defined modulo π: rotating the content by α adds α (mod π). It is a pose
    estimate computed from pixels alone, independent of any model's η.
    """
    if image.ndim != 3:
        raise ValueError(
            f"`moment_orientation(image=...)`: expected shape (H, W, C); got {image.shape}."
        )
    h, w, _ = image.shape
    weight = jnp.clip(image.sum(axis=-1), 0.0, None)
    xs = -1.0 + (2.0 * jnp.arange(w, dtype=weight.dtype) + 1.0) / w
    ys = 1.0 - (2.0 * jnp.arange(h, dtype=weight.dtype) + 1.0) / h
    gx, gy = jnp.meshgrid(xs, ys)
    total = weight.sum() + 1e-12
    mx, my = (weight * gx).sum() / total, (weight * gy).sum() / total
    dx, dy = gx - mx, gy - my
    mu20, mu02, mu11 = (weight * dx * dx).sum(), (weight * dy * dy).sum(), (weight * dx * dy).sum()
    return 0.5 * jnp.arctan2(2.0 * mu11, mu20 - mu02)


def rotate(image: Float[Array, "H W C"], degrees: Float[Array, ""]) -> Float[Array, "H W C"]:
    """Rotate the content counter-clockwise by `degrees` about the centre (cubic, zero fill)."""
    eta = jnp.zeros(5, jnp.float32).at[2].set(jnp.deg2rad(degrees))
    return Affine2D.from_params(eta, order=3).apply(image)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def rotation_sweep(
    model: LIVAE,
    images: Float[Array, "N H W C"],
    degrees: Float[Array, " R"],
    key: PRNGKeyArray,
) -> dict[str, np.ndarray]:
    """Prototypes and predicted angles of rotated copies of each image.

    **Arguments:**

    - `model`: a trained [`sgm_eqx.elbo.LIVAE`][].
    - `images`: `N` images.
    - `degrees`: `R` rotation angles (counter-clockwise, degrees) applied to every image.
    - `key`: PRNG key of the invariant encoder's transformations (one key per copy).

    **Returns:** numpy arrays `inputs` `(N, R, H, W, C)`, `prototypes` `(N, R, H, W, C)`,
    `eta` `(N, R)` (the point estimate of q_ν(η | x), radians; first η entry),
    `input_orientation` and `prototype_orientation` `(N, R)` (moment pose, radians mod π).
    """

    @eqx.filter_jit
    def one(m, x, k):
        copies = jax.vmap(lambda d: rotate(x, d))(degrees)
        keys = jr.split(k, degrees.shape[0])
        protos = jax.vmap(lambda c, kk: m.prototype(c, key=kk))(copies, keys)
        eta = jax.vmap(m.eta_point)(copies)[:, 0]
        return (
            copies,
            protos,
            eta,
            jax.vmap(moment_orientation)(copies),
            jax.vmap(moment_orientation)(protos),
        )

    outs = [one(model, x, k) for x, k in zip(images, jr.split(key, images.shape[0]), strict=True)]
    names = ("inputs", "prototypes", "eta", "input_orientation", "prototype_orientation")
    return {n: np.stack([np.asarray(o[i]) for o in outs]) for i, n in enumerate(names)}


def orientation_spread(orientations: Float[np.ndarray, "N R"]) -> Float[np.ndarray, " N"]:
    """Per-row circular standard deviation (degrees) of axis orientations (period 180°)."""
    return np.array([circular_std(np.degrees(row), period=180.0) for row in orientations])


def angle_slope(eta: Float[np.ndarray, "N R"], degrees: Float[np.ndarray, " R"]) -> float:
    """Least-squares slope of the predicted angle against the applied angle (deg/deg).

    Each row's predictions are unwrapped relative to the row's circular mean, then the slope
    is fitted with one intercept per row (the prototype's orientation is arbitrary). 1 means
    η follows the applied rotation one to one.
    """
    eta = np.asarray(eta, np.float64)
    mean = np.angle(np.exp(1j * eta).mean(axis=1, keepdims=True))
    d = np.degrees(_wrap(eta - mean))
    a = np.asarray(degrees, np.float64)[None, :]
    dc = d - d.mean(axis=1, keepdims=True)
    ac = a - a.mean()
    return float((dc * ac).sum() / (ac * ac).sum() / d.shape[0])


def eta_posterior_samples(
    model: LIVAE, images: Float[Array, "N H W C"], key: PRNGKeyArray, n: int = 16
) -> Float[np.ndarray, "N n"]:
    """`n` samples of q_ν(η | x) per image (first η entry, degrees)."""

    @eqx.filter_jit
    def draw(m, xs, keys):
        return jax.vmap(lambda x, k: m.sample_eta_posterior(x, key=k, n=n)[:, 0])(xs, keys)

    out = []
    for start in range(0, images.shape[0], 100):
        key, sub = jr.split(key)
        xs = images[start : start + 100]
        out.append(np.asarray(draw(model, xs, jr.split(sub, xs.shape[0]))))
    return np.degrees(np.concatenate(out))


def angle_range(samples: Float[np.ndarray, "..."], coverage: float = 0.95) -> float:
    """Width (same units as `samples`) of the central `coverage` interval of all samples."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"`angle_range(coverage=...)`: expected in (0, 1); got {coverage}.")
    s = np.ravel(np.asarray(samples, np.float64))
    lo, hi = np.quantile(s, [(1 - coverage) / 2, (1 + coverage) / 2])
    return float(hi - lo)


def summarise_sweep(sweep: dict[str, np.ndarray], degrees) -> dict[str, float]:
    """Prototype-invariance and angle metrics of a [`sgm_eqx.elbo.rotation_sweep`][].

    **Returns:** `prototype_spread_deg_median` / `_mean` (per-digit circular std of the
    prototypes' moment orientation across the rotated copies, then the median / mean over
    digits), `input_spread_deg_median` (the same for the inputs: what a non-invariant map
    would give), and `angle_slope` ([`sgm_eqx.elbo.angle_slope`][]).
    """
    proto = orientation_spread(sweep["prototype_orientation"])
    inputs = orientation_spread(sweep["input_orientation"])
    return {
        "prototype_spread_deg_median": float(np.median(proto)),
        "prototype_spread_deg_mean": float(np.mean(proto)),
        "input_spread_deg_median": float(np.median(inputs)),
        "angle_slope": angle_slope(sweep["eta"], np.asarray(degrees)),
        "n_digits": int(proto.shape[0]),
        "n_rotations": len(np.asarray(degrees)),
    }
