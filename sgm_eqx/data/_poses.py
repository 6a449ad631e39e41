"""Procedural pose datasets with known per-class transformation distributions.

Each class is one canonical shape placed in the image by a random affine *pose*, drawn from
that class's own distribution. The truth about "which symmetries, and how much of each" is
therefore known per class, which is what the recovery suite (`benchmarks/recovery.py`) and
the symmetry report are checked against.

**Pose.** In the normalised frame of [`sgm_eqx.groups.Affine2D`][] (image `[-1, 1]^2`, `y`
up), a shape's canonical points `q` (inside the unit box) are placed at

    p = t + R(θ) diag(e^{σ + α}, e^{σ - α}) r q,

with translation `t = (t_x, t_y)`, rotation `θ` (counter-clockwise), isotropic log-size `σ`,
aspect `α` (log of the x/y anisotropy over 2) and `r = POSE_RADIUS`. The latents stored in
`Dataset.latents` are `(class, θ, t_x, t_y, σ, α)`.

**Built-in suites** (`sgm_eqx.data.POSE_SUITES`):

- `"rotations"`: `heart` rotated uniformly over the whole circle; `arrow` rotated by a
  bimodal angle `±60° + U(±15°)`; `triangle` (3-fold symmetric) rotated uniformly (so
  uniformly over its 120° period); `square` with no transformation at all.
- `"positions"`: `heart` translated by `U(±0.35)` in `x` and `y`; `arrow` scaled isotropically
  by `log-size ~ U(±0.35)`; `ellipse` scaled anisotropically (`aspect ~ U(±0.2)`, size
  fixed); `triangle` with no transformation.

Every shape is one orbit per class, and no two classes of a suite share a shape, so the
classes stay distinguishable after canonicalisation (their prototypes differ).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._frame import pixel_centres
from ._dataset import Dataset, split_codes

#: Half-size, in normalised units, of a canonical shape at log-size 0.
POSE_RADIUS = 0.4
#: Column names of `Dataset.latents` for pose datasets.
POSE_LATENT_NAMES: tuple[str, ...] = ("class", "theta", "tx", "ty", "log_size", "aspect")
#: Canonical shapes and the order of their rotational symmetry.
POSE_SHAPES: dict[str, int] = {"heart": 1, "arrow": 1, "triangle": 3, "square": 4, "ellipse": 2}


def _inside(name: str, qx: Array, qy: Array) -> Array:
    if name == "heart":
        hx, hy = 1.14 * qx, 1.1 * qy + 0.1
        return (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    if name == "arrow":  # a shaft along +x with a head at its right end, off-centre fin below
        shaft = (jnp.abs(qy) <= 0.22) & (qx >= -0.9) & (qx <= 0.3)
        head = (qx >= 0.3) & (qx <= 0.95) & (jnp.abs(qy) <= 0.75 * (0.95 - qx) / 0.65)
        fin = (qx >= -0.9) & (qx <= -0.5) & (qy <= 0.0) & (qy >= -0.7)
        return shaft | head | fin
    if name == "triangle":  # equilateral, one vertex up, centroid at the origin
        k = jnp.asarray([[0.0, 1.0], [0.8660254, -0.5], [-0.8660254, -0.5]])
        return jnp.all(k[:, 0:1, None] * qx[None] + k[:, 1:2, None] * qy[None] >= -0.5, axis=0)
    if name == "square":
        return jnp.maximum(jnp.abs(qx), jnp.abs(qy)) <= 0.8
    if name == "ellipse":
        return qx**2 + (2.0 * qy) ** 2 <= 1.0
    raise ValueError(f"unknown shape {name!r}; expected one of {sorted(POSE_SHAPES)}")


@dataclasses.dataclass(frozen=True)
class PoseClass:
    """One class of a pose dataset: a shape and the distribution of its pose.

    **Fields:** `shape` (a key of `sgm_eqx.data.POSE_SHAPES`) and the distributions of
    each pose coordinate, as `(kind, a, b)`: `("fixed", v, _)`, `("uniform", low, high)` or
    `("bimodal", centre, half_width)` (`±centre + U(±half_width)`, each sign with probability
    1/2). Angles in radians, translations in normalised units, sizes as natural logs.
    """

    shape: str
    theta: tuple[str, float, float] = ("fixed", 0.0, 0.0)
    tx: tuple[str, float, float] = ("fixed", 0.0, 0.0)
    ty: tuple[str, float, float] = ("fixed", 0.0, 0.0)
    log_size: tuple[str, float, float] = ("fixed", 0.0, 0.0)
    aspect: tuple[str, float, float] = ("fixed", 0.0, 0.0)

    @property
    def symmetry_order(self) -> int:
        """Order of the shape's rotational symmetry (1 = none)."""
        return POSE_SHAPES[self.shape]

    def varies(self, name: str) -> bool:
        """Whether pose coordinate `name` is random in this class."""
        return getattr(self, name)[0] != "fixed"


#: The built-in suites of the recovery benchmark (see the module docstring).
POSE_SUITES: dict[str, tuple[PoseClass, ...]] = {
    "rotations": (
        PoseClass("heart", theta=("uniform", -math.pi, math.pi)),
        PoseClass("arrow", theta=("bimodal", math.pi / 3, math.pi / 12)),
        PoseClass("triangle", theta=("uniform", -math.pi, math.pi)),
        PoseClass("square"),
    ),
    "positions": (
        PoseClass("heart", tx=("uniform", -0.35, 0.35), ty=("uniform", -0.35, 0.35)),
        PoseClass("arrow", log_size=("uniform", -0.35, 0.35)),
        PoseClass("ellipse", aspect=("uniform", -0.2, 0.2)),
        PoseClass("triangle"),
    ),
}


def _draw(key: PRNGKeyArray, spec: tuple[str, float, float], n: int) -> Float[Array, " n"]:
    kind, a, b = spec
    if kind == "fixed":
        return jnp.full((n,), a, jnp.float32)
    if kind == "uniform":
        return jr.uniform(key, (n,), minval=a, maxval=b)
    if kind == "bimodal":
        k1, k2 = jr.split(key)
        sign = jnp.where(jr.bernoulli(k1, 0.5, (n,)), 1.0, -1.0)
        return sign * a + jr.uniform(k2, (n,), minval=-b, maxval=b)
    raise ValueError(f"unknown distribution kind {kind!r}; expected fixed, uniform or bimodal")


def pose_matrix(latents: Float[Array, " 6"]) -> Float[Array, "3 3"]:
    """The pose `M` (canonical frame -> normalised image frame) of one example's latents."""
    _, theta, tx, ty, log_size, aspect = latents
    c, s = jnp.cos(theta), jnp.sin(theta)
    sx, sy = POSE_RADIUS * jnp.exp(log_size + aspect), POSE_RADIUS * jnp.exp(log_size - aspect)
    zero, one = jnp.zeros_like(c), jnp.ones_like(c)
    return jnp.stack(
        [
            jnp.stack([c * sx, -s * sy, tx]),
            jnp.stack([s * sx, c * sy, ty]),
            jnp.stack([zero, zero, one]),
        ]
    )


def render_shape(
    shape: str, latents: Float[Array, "N 6"], *, size: int, supersample: int = 4
) -> Float[Array, "N size size 1"]:
    """Render `shape` at the poses of `latents` (box-filtered with `supersample²` points)."""
    n = size * supersample
    gx, gy = (jnp.asarray(v, jnp.float32) for v in np.meshgrid(*pixel_centres(n, n)))

    def one(lat):
        m = pose_matrix(lat)
        inv = jnp.linalg.inv(m)
        qx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
        qy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
        img = _inside(shape, qx, qy).astype(jnp.float32)
        return img.reshape(size, supersample, size, supersample).mean(axis=(1, 3))

    return jax.lax.map(one, latents, batch_size=256)[..., None]


def sample_pose_latents(
    key: PRNGKeyArray, classes: tuple[PoseClass, ...], n: int
) -> Float[Array, "n 6"]:
    """`n` latents `(class, θ, t_x, t_y, log-size, aspect)`, classes equally likely."""
    k_cls, k_pose = jr.split(key)
    labels = jr.randint(k_cls, (n,), 0, len(classes))
    cols = []
    for j, name in enumerate(POSE_LATENT_NAMES[1:]):
        per_class = [
            _draw(jr.fold_in(jr.fold_in(k_pose, c), j), getattr(cls, name), n)
            for c, cls in enumerate(classes)
        ]
        cols.append(jnp.choose(labels, per_class, mode="clip"))
    return jnp.stack([labels.astype(jnp.float32), *cols], axis=-1)


def make_pose_dataset(
    key: PRNGKeyArray,
    n: int,
    *,
    suite: str | tuple[PoseClass, ...] = "rotations",
    size: int = 32,
    supersample: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """A procedural pose dataset (see the module docstring).

    **Arguments:**

    - `key`: typed PRNG key; the dataset is a deterministic function of it.
    - `n`: number of examples.
    - `suite`: a name in `sgm_eqx.data.POSE_SUITES` or a tuple of
      [`sgm_eqx.data.PoseClass`][].
    - `size`, `supersample`: image side and anti-aliasing.
    - `val_fraction`, `test_fraction`: the last examples form the val and test splits.

    **Returns:** a [`sgm_eqx.data.Dataset`][] with `images (n, size, size, 1)` in `[0, 1]`,
    `labels` = class index and `latents (n, 6)` = `(class, θ, t_x, t_y, log-size, aspect)`.
    """
    if isinstance(suite, str):
        if suite not in POSE_SUITES:
            raise ValueError(
                f"`make_pose_dataset(suite=...)`: unknown suite {suite!r}; choose from "
                f"{sorted(POSE_SUITES)} or pass a tuple of PoseClass."
            )
        name, classes = suite, POSE_SUITES[suite]
    else:
        name, classes = "custom", tuple(suite)
    if n < 1 or size < 8:
        raise ValueError(
            f"`make_pose_dataset(n=..., size=...)`: expected n >= 1 and size >= 8; got n={n}, "
            f"size={size}."
        )
    latents = sample_pose_latents(key, classes, n)
    labels = latents[:, 0].astype(jnp.int32)
    images = jnp.zeros((n, size, size, 1), jnp.float32)
    for c, cls in enumerate(classes):
        rendered = render_shape(cls.shape, latents, size=size, supersample=supersample)
        images = jnp.where((labels == c)[:, None, None, None], rendered, images)
    return Dataset(
        images=images,
        labels=labels,
        latents=latents,
        split=split_codes(n, val_fraction=val_fraction, test_fraction=test_fraction),
        name=f"poses({name}, n={n}, size={size})",
    )


def pose_classes(suite: str) -> tuple[PoseClass, ...]:
    """The classes of a built-in suite (see `sgm_eqx.data.POSE_SUITES`)."""
    if suite not in POSE_SUITES:
        raise ValueError(f"unknown pose suite {suite!r}; choose from {sorted(POSE_SUITES)}")
    return POSE_SUITES[suite]
