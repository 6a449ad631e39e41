"""Procedural dSprites: the three sprites rendered from their latents, with ground truth.

**Geometry (shared with [`sgm_eqx.groups.Affine2D`][]).** Points live in the *normalised
frame*: the image spans `[-1, 1]^2`, `x` to the right, `y` up, pixel `(r, c)` of an `H x W`
image has its centre at `((2c + 1)/W - 1, 1 - (2r + 1)/H)`.

Each sprite is a fixed *canonical shape* in its own frame `q` (inside the unit box
`[-1, 1]^2`) placed in the image by the similarity *pose*

    p = M q,   M = [[r cos θ, -r sin θ, cx],
                    [r sin θ,  r cos θ, cy],
                    [0,        0,       1 ]],

with `r = SPRITE_RADIUS * scale`, `θ = orientation` (radians, counter-clockwise as seen on
screen) and the centre `(cx, cy) = POSITION_EXTENT * (2x - 1, 2y - 1)`. So the dSprites latents
mean:

- `x, y` in `[0, 1]`: `x = 0 / 0.5 / 1` puts the sprite centre at 20% / 50% / 80% of the image
  width from the left edge; `y` grows **upwards** (`y = 1` is near the top edge).
- `scale = 1`: the canonical unit box spans `2 * SPRITE_RADIUS = 0.5` normalised units, i.e. a
  quarter of the image side (16 pixels at 64x64, 8 at 32x32); the square at scale 1 is exactly
  that box.
- `orientation`: counter-clockwise rotation about the sprite centre.

Canonical shapes: the square `max(|q_x|, |q_y|) <= 1` (4-fold rotational symmetry), the ellipse
`q_x^2 + (2 q_y)^2 <= 1` (long axis along x, 2-fold symmetry) and the heart (implicit curve
`(X^2 + Y^2 - 1)^3 <= X^2 Y^3` with `X = 1.14 q_x`, `Y = 1.1 q_y + 0.1`, lobes up, no symmetry).

An [`sgm_eqx.groups.Affine2D`][] element with matrix `A` moves content at `p` to `A p`, so it
maps a sprite with pose `M` to a sprite with pose `A M`; the transformation taking pose `M_1`
to pose `M_2` is `A = M_2 M_1^{-1}`. [`sgm_eqx.data.dsprites_pose`][] and
[`sgm_eqx.data.pose_to_latents`][] convert between latents and poses.

**Rendering.** Every pixel is the fraction of `supersample x supersample` sub-pixel points inside
the shape (box-filter anti-aliasing). The inside tests are a few element-wise operations, so
they are written directly in `jax.numpy` and run vectorised over pixels and images.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._frame import pixel_centres
from ._dataset import Dataset, split_codes

#: Shape names, in the order of the shape index.
SHAPES: tuple[str, str, str] = ("square", "ellipse", "heart")
#: Order of each shape's rotational symmetry (a rotation by 2π/k leaves it unchanged).
SYMMETRY_ORDER: tuple[int, int, int] = (4, 2, 1)
#: Half-size, in normalised units, of the canonical unit box at `scale = 1`.
SPRITE_RADIUS = 0.25
#: Latent position `x = 0 / 1` puts the centre at `-/+ POSITION_EXTENT` (normalised units).
POSITION_EXTENT = 0.6
#: Column names of `Dataset.latents` for dSprites.
LATENT_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "x", "y")


def _truncnorm(key, mean, std, low, high, n):
    z = jr.truncated_normal(key, (low - mean) / std, (high - mean) / std, (n,))
    return mean + std * z


def sample_dsprites_latents(key: PRNGKeyArray, n: int) -> Float[Array, "n 5"]:
    """Sample `n` latent vectors `(shape, scale, orientation, x, y)` (App. C.3.1).

    Shapes are equally likely. Per shape (`TruncNorm(mean, σ, low, high)`; the paper writes the
    square's second argument as `σ² = 0.2`, but its Fig. 12 and the authors' data loader use it
    as the standard deviation σ, and so do we):

    - square: scale `TruncNorm(0.75, 0.2, 0.55, 1.0)`, orientation `U(0, 2π)`,
      x `U(0.5, 0.95)`, y `U(0.5, 0.95)`;
    - ellipse: scale `TruncNorm(0.65, 0.15, 0.5, 0.85)`, orientation `U(0, π/2)`,
      x `TruncNorm(0.5, 0.25, 0.1, 0.9)`, y `TruncNorm(0.5, 0.15, 0.35, 0.65)`;
    - heart: scale `U(0.9, 1.0)`, orientation `δ(0)`, x `U(0.1, 0.5)`,
      y `0.5 U(0.1, 0.3) + 0.5 U(0.7, 0.9)` (bimodal: bottom or top).

    **Arguments:**

    - `key`: a typed PRNG key; the output is a deterministic function of it.
    - `n`: number of examples.

    **Returns:** float32 `(n, 5)`; column 0 is the shape index (0 square, 1 ellipse, 2 heart)
    stored as a float.
    """
    if n < 0:
        raise ValueError(f"`sample_dsprites_latents(n=...)`: expected n >= 0; got {n}.")
    keys = jr.split(key, 13)
    shape = jr.randint(keys[0], (n,), 0, 3)
    u = lambda k, lo, hi: jr.uniform(k, (n,), minval=lo, maxval=hi)  # noqa: E731
    sq = (
        _truncnorm(keys[1], 0.75, 0.2, 0.55, 1.0, n),
        u(keys[2], 0.0, 2 * math.pi),
        u(keys[3], 0.5, 0.95),
        u(keys[4], 0.5, 0.95),
    )
    el = (
        _truncnorm(keys[5], 0.65, 0.15, 0.5, 0.85, n),
        u(keys[6], 0.0, math.pi / 2),
        _truncnorm(keys[7], 0.5, 0.25, 0.1, 0.9, n),
        _truncnorm(keys[8], 0.5, 0.15, 0.35, 0.65, n),
    )
    top = jr.bernoulli(keys[11], 0.5, (n,))
    he = (
        u(keys[9], 0.9, 1.0),
        jnp.zeros((n,)),
        u(keys[10], 0.1, 0.5),
        u(keys[12], 0.1, 0.3) + jnp.where(top, 0.6, 0.0),
    )
    cols = [
        jnp.where(shape == 0, a, jnp.where(shape == 1, b, c))
        for a, b, c in zip(sq, el, he, strict=True)
    ]
    return jnp.stack([shape.astype(jnp.float32), *cols], axis=-1).astype(jnp.float32)


def dsprites_pose(latents: Float[Array, " 5"]) -> Float[Array, "3 3"]:
    """The pose `M` (canonical shape frame -> normalised image frame) of one sprite.

    **Arguments:** `latents`: `(shape, scale, orientation, x, y)` of one sprite.

    **Returns:** the 3x3 homogeneous similarity matrix `M` described in the module docstring.
    """
    _, scale, theta, x, y = latents
    r = SPRITE_RADIUS * scale
    c, s = jnp.cos(theta), jnp.sin(theta)
    cx = POSITION_EXTENT * (2 * x - 1)
    cy = POSITION_EXTENT * (2 * y - 1)
    zero, one = jnp.zeros_like(r), jnp.ones_like(r)
    rows = [jnp.stack([r * c, -r * s, cx]), jnp.stack([r * s, r * c, cy])]
    return jnp.stack([*rows, jnp.stack([zero, zero, one])])


def pose_to_latents(pose: Float[Array, "3 3"], shape: Float[Array, ""]) -> Float[Array, " 5"]:
    """Invert [`sgm_eqx.data.dsprites_pose`][] (for any affine `pose`, not only similarities).

    The centre is the translation column; `scale = sqrt(|det L|) / SPRITE_RADIUS` for the linear
    part `L`; the orientation is the angle of the rotation closest to `L` (its polar factor),
    `atan2(L10 - L01, L00 + L11)`, in `(-π, π]` (not reduced modulo the shape's symmetry).

    **Returns:** `(shape, scale, orientation, x, y)`.
    """
    lin = pose[:2, :2]
    scale = jnp.sqrt(jnp.abs(jnp.linalg.det(lin))) / SPRITE_RADIUS
    theta = jnp.arctan2(lin[1, 0] - lin[0, 1], lin[0, 0] + lin[1, 1])
    x = (pose[0, 2] / POSITION_EXTENT + 1) / 2
    y = (pose[1, 2] / POSITION_EXTENT + 1) / 2
    return jnp.stack([shape, scale, theta, x, y])


def _inside(shape: Int[Array, ""], qx: Array, qy: Array) -> Array:
    square = jnp.maximum(jnp.abs(qx), jnp.abs(qy)) <= 1.0
    ellipse = qx**2 + (2.0 * qy) ** 2 <= 1.0
    hx, hy = 1.14 * qx, 1.1 * qy + 0.1
    heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    return jnp.where(shape == 0, square, jnp.where(shape == 1, ellipse, heart))


def _render_one(latents: Float[Array, " 5"], size: int, supersample: int) -> Float[Array, "H W"]:
    pose = dsprites_pose(latents)
    # Sub-pixel sample points in normalised coordinates.
    n = size * supersample
    px, py = (jnp.asarray(v, jnp.float32) for v in pixel_centres(n, n))
    gx, gy = jnp.meshgrid(px, py)  # (rows, cols): x varies along columns, y along rows
    # q = M^{-1} p for a similarity: R(-θ) (p - c) / r.
    r = pose[0, 0] ** 2 + pose[1, 0] ** 2  # r^2
    dx, dy = gx - pose[0, 2], gy - pose[1, 2]
    qx = (pose[0, 0] * dx + pose[1, 0] * dy) / r
    qy = (pose[0, 1] * dx + pose[1, 1] * dy) / r
    inside = _inside(latents[0].astype(jnp.int32), qx, qy).astype(jnp.float32)
    return inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


def render_dsprites(
    latents: Float[Array, "N 5"], *, size: int = 64, supersample: int = 4, batch_size: int = 256
) -> Float[Array, "N size size 1"]:
    """Render sprites from their latents `(shape, scale, orientation, x, y)`.

    **Arguments:**

    - `latents`: `(N, 5)` latents as returned by [`sgm_eqx.data.sample_dsprites_latents`][].
    - `size`: image side in pixels (64 as in dSprites; 32 for quick CPU runs).
    - `supersample`: sub-pixel points per pixel side for anti-aliasing (1 = binary images).
    - `batch_size`: images rendered at once (bounds memory to
      `batch_size * (size * supersample)^2` floats).

    **Returns:** float32 images in `[0, 1]`, shape `(N, size, size, 1)`: white sprite on black.
    """
    if size < 4 or supersample < 1:
        raise ValueError(
            f"`render_dsprites(size=..., supersample=...)`: expected size >= 4 and supersample "
            f">= 1; got size={size}, supersample={supersample}."
        )
    latents = jnp.asarray(latents, jnp.float32)
    if latents.shape[0] == 0:
        return jnp.zeros((0, size, size, 1), jnp.float32)
    images = _render_batched(latents, size, supersample, min(batch_size, latents.shape[0]))
    return images[..., None]


@jax.jit(static_argnums=(1, 2, 3))
def _render_batched(latents, size, supersample, batch_size):
    return jax.lax.map(
        lambda lat: _render_one(lat, size, supersample), latents, batch_size=batch_size
    )


def make_dsprites(
    key: PRNGKeyArray,
    n: int,
    *,
    size: int = 64,
    supersample: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """A procedural dSprites dataset with the latent distributions of App. C.3.1.

    **Arguments:**

    - `key`: typed PRNG key; the dataset is a deterministic function of it.
    - `n`: number of examples.
    - `size`, `supersample`: see [`sgm_eqx.data.render_dsprites`][].
    - `val_fraction`, `test_fraction`: the last examples form the val and test splits
      (examples are i.i.d., so contiguous blocks are random splits).

    **Returns:** a [`sgm_eqx.data.Dataset`][] with `images (n, size, size, 1)`,
    `labels` = shape index and `latents (n, 5)` = `(shape, scale, orientation, x, y)`.
    """
    latents = sample_dsprites_latents(key, n)
    images = render_dsprites(latents, size=size, supersample=supersample)
    return Dataset(
        images=images,
        labels=latents[:, 0].astype(jnp.int32),
        latents=latents,
        split=split_codes(n, val_fraction=val_fraction, test_fraction=test_fraction),
        name=f"dsprites(n={n}, size={size})",
    )
