"""Image-moment pose features: an encoder that sees position, size and orientation explicitly.

A plain MLP over pixels has to learn, separately at every position, how a rotated object
looks. On small objects (dSprites at 32x32: 5-7 pixel sprites) it never does within a CPU
budget: the measured rotation slope of the trained f_ω was -0.002 rad per rad (see
`docs/results.md`, "Why rotation is not learned"). [`sgm_eqx.nn.PoseFeatureEncoder`][]
adds a small branch fed with the image's *complex moments* about its centroid, which are
translation invariant, scale normalised and rotation *equivariant*: rotating the image by
α multiplies the moment `μ_pq` by `exp(i (p - q) α)`. Orientation is then one smooth
function of a few numbers away from the network's output, at every position and size.

The moments are fixed functions of x (no parameters), so the encoder stays a function
f_ω(x) as the paper requires; only its inductive bias changes. Not in the paper or the
authors' code (`docs/conventions.md`, "Paper fidelity").
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._mlp import MLP, AbstractImageEncoder

#: `(p, q)` of the complex moments used; `p - q` is the rotation order each one sees:
#: 1 (chirality of arrows and hearts), 2 (ellipses), 3 (triangles), 4 (squares).
MOMENT_ORDERS: tuple[tuple[int, int], ...] = ((2, 1), (3, 2), (2, 0), (3, 1), (3, 0), (4, 0))

#: Rotation orders `n` whose axis `arg(μ_n0) / n` is anchored to the full turn by the
#: order-1 moment (see [`sgm_eqx.nn.turning_vectors`][]).
ANCHORED_ORDERS: tuple[int, ...] = (2, 3, 4)

#: Number of real features returned by [`sgm_eqx.nn.image_moments`][].
N_MOMENT_FEATURES = 4 + 4 * len(MOMENT_ORDERS) + 2 * (1 + len(ANCHORED_ORDERS))

# Amplitude below which a moment's phase is treated as noise (moments are normalised by
# the object's radius, so this is in units of the object's own size).
_PHASE_FLOOR = 0.02


def image_moments(x: Float[Array, "H W C"]) -> Float[Array, " n_features"]:
    """Pose features of ONE image from its intensity moments (module docstring).

    The intensity is the channel mean shifted so that its minimum is 0. With pixel centres
    `z = u + i v` on `[-1, 1]²` (u along the width, v along the height), mass `M`, centroid
    `c` and radius `s = sqrt(E|z - c|²)`, the features are

    - `c.real, c.imag, log M / (H W), log s` (position, mass and size);
    - for every `(p, q)` in `MOMENT_ORDERS`, `μ = E[(z - c)^p conj(z - c)^q] / s^(p+q)`
      as `(Re μ, Im μ)` and as its phase `μ / sqrt(|μ|² + 0.02²)` (so that orientation is
      visible even for faint moments).

    - the turning vectors of [`sgm_eqx.nn.turning_vectors`][] (in the moments' frame,
      `v` down), as `(x, y)` pairs.

    **Returns:** `N_MOMENT_FEATURES` floats; finite, with finite gradients, for any finite
    input (an empty image gives zeros for the moments and angles).
    """
    h, w, _ = x.shape
    intensity = jnp.mean(x, axis=-1)
    weight = intensity - jnp.min(intensity)
    mass = jnp.sum(weight)
    safe_mass = jnp.maximum(mass, 1e-6)
    v, u = jnp.meshgrid(
        jnp.linspace(-1.0, 1.0, h, dtype=x.dtype),
        jnp.linspace(-1.0, 1.0, w, dtype=x.dtype),
        indexing="ij",
    )
    cu, cv = jnp.sum(weight * u) / safe_mass, jnp.sum(weight * v) / safe_mass
    du, dv = u - cu, v - cv
    radius = jnp.sqrt(jnp.sum(weight * (du * du + dv * dv)) / safe_mass + 1e-6)
    du, dv = du / radius, dv / radius
    r2 = du * du + dv * dv
    # powers (du + i dv)^k as (real, imag) pairs: real arithmetic keeps every dtype real.
    powers = [(jnp.ones_like(du), jnp.zeros_like(dv))]
    for _ in range(max(p - q for p, q in MOMENT_ORDERS)):
        re, im = powers[-1]
        powers.append((re * du - im * dv, re * dv + im * du))
    feats = [cu, cv, jnp.log(safe_mass / (h * w)), jnp.log(radius)]
    moments = {}
    for p, q in MOMENT_ORDERS:
        # d^p conj(d)^q = |d|^(2q) d^(p-q)
        re, im = powers[p - q]
        radial = weight * r2**q
        mu_re, mu_im = jnp.sum(radial * re) / safe_mass, jnp.sum(radial * im) / safe_mass
        norm = jnp.sqrt(mu_re * mu_re + mu_im * mu_im + _PHASE_FLOOR**2)
        feats += [mu_re, mu_im, mu_re / norm, mu_im / norm]
        moments[p, q] = (mu_re, mu_im)
    return jnp.stack(feats + _turning(moments)).astype(x.dtype)


def _unit(re: Float[Array, ""], im: Float[Array, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """`v / sqrt(|v|² + 0.02²)`: the direction of `v`, short when `v` is faint."""
    norm = jnp.sqrt(re * re + im * im + _PHASE_FLOOR**2)
    return re / norm, im / norm


def _turning(moments: dict) -> list[Float[Array, ""]]:
    """`(Re z_k, Im z_k)` of the turning vectors, in the moments' frame (`turning_vectors`)."""
    a_re, a_im = _unit(*moments[2, 1])
    # μ_30 conj(μ_20) / |μ_20|: an order-1 vector from the order-3 and order-2 moments.
    (r3, i3), (r2, i2) = moments[3, 0], moments[2, 0]
    n2 = jnp.sqrt(r2 * r2 + i2 * i2 + _PHASE_FLOOR**2)
    b_re, b_im = _unit((r3 * r2 + i3 * i2) / n2, (i3 * r2 - r3 * i2) / n2)
    z_1 = (0.5 * (a_re + b_re), 0.5 * (a_im + b_im))
    strength_1 = jnp.sqrt(z_1[0] ** 2 + z_1[1] ** 2 + 1e-12)  # + 1e-12: a finite gradient at 0
    phi_1 = _angle(*z_1)
    out = [*z_1]
    for n in ANCHORED_ORDERS:
        m_re, m_im = moments[n, 0]
        m_abs = jnp.sqrt(m_re * m_re + m_im * m_im + 1e-12)
        strength = strength_1 * m_abs / jnp.sqrt(m_abs * m_abs + _PHASE_FLOOR**2)
        candidates = _angle(m_re, m_im) / n + 2 * jnp.pi * jnp.arange(n, dtype=m_re.dtype) / n
        w = strength * jnp.square(jax.nn.relu(jnp.cos(candidates - phi_1)))
        out += [jnp.sum(w * jnp.cos(candidates)), jnp.sum(w * jnp.sin(candidates))]
    return out


#: Number of vectors returned by [`sgm_eqx.nn.turning_vectors`][].
N_TURNING = 1 + len(ANCHORED_ORDERS)


def turning_vectors(x: Float[Array, "H W C"]) -> Float[Array, "n_vectors 2"]:
    """Vectors of ONE image that turn WITH it: `z_1` and the anchored `z_n`, as `(x, y)`.

    Each rotates by exactly `α` when the content rotates by `α` (counter-clockwise in the
    `y`-up frame of [`sgm_eqx.groups.Affine2D`][]; the moments' own `v` axis points down,
    so they are conjugated here). An angle read out of a combination `Σ_k c_k z_k`
    therefore turns with the image by construction ([`sgm_eqx.nn.InferenceNet`][],
    `angles`). Their lengths say how much to trust them:

    - `z_1 = (u(μ_21) + u(μ_30 conj(μ_20) / |μ_20|)) / 2` with `u(v) = v / sqrt(|v|² +
      0.02²)`: the full turn of a shape with no rotational symmetry, from two order-1
      quantities, short when both are faint. The second is precise where the first is
      faint: over upright dSprites hearts at 32x32, 95% of the angles of `μ_21` lie within
      ±34° of the truth, of `μ_30 conj(μ_20)` within ±15°, and of `z_1` within ±19°;
    - for `n` in `ANCHORED_ORDERS`, `z_n = s_n Σ_j w_j exp(i c_j)` over the `n` candidate
      axes `c_j = arg(μ_n0) / n + 2πj / n`, with `w_j = max(0, cos(c_j - φ_1))²`
      (`φ_1 = arg z_1`) and `s_n` the product of both moments' normalised lengths: the
      precise axis of order `n`, anchored to the full turn by `φ_1`. Where `φ_1` lies
      between two candidates (an upright heart is wider than tall: its order-2 axes are
      both 90° from `φ_1`) they cancel and `z_n` shrinks smoothly instead of flipping.

    Why: an elongated asymmetric shape (an arrow) has a strong, precise order-2 moment and a
    faint order-1 moment; an angle read from `arg μ_20 / 2` is right only modulo 180°, and
    its prototypes split into two halves 180° apart (measured on the recovery suite).

    **Returns:** `(N_TURNING, 2)`; finite, with finite gradients, for any finite input.
    """
    f = image_moments(x)[-2 * N_TURNING :].reshape(N_TURNING, 2)
    return f * jnp.asarray([1.0, -1.0], dtype=f.dtype)[None, :]


def _angle(re: Float[Array, ""], im: Float[Array, ""]) -> Float[Array, ""]:
    """`arg(re + i im)`, 0 (with a zero gradient) where the moment vanishes."""
    zero = re * re + im * im < 1e-12
    return jnp.where(zero, 0.0, jnp.arctan2(jnp.where(zero, 0.0, im), jnp.where(zero, 1.0, re)))


class PoseFeatureEncoder(AbstractImageEncoder):
    """An image encoder plus a branch over [`sgm_eqx.nn.image_moments`][].

    `out = concat(encoder(x), MLP(image_moments(x)))`: the wrapped encoder sees the pixels
    as before; the branch (the paper's MLP blocks, widths `hidden`) sees the pose
    features. Wraps any [`sgm_eqx.nn.AbstractImageEncoder`][].
    """

    encoder: AbstractImageEncoder
    branch: MLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        encoder: AbstractImageEncoder,
        hidden: tuple[int, ...] = (256, 256),
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Wrap `encoder`; the moment branch has MLP blocks of widths `hidden`."""
        self.encoder = encoder
        self.branch = MLP(N_MOMENT_FEATURES, tuple(hidden), dropout=dropout, key=key)
        self.image_shape = encoder.image_shape

    @property
    def out_size(self) -> int:
        """`encoder.out_size` plus the branch's last width."""
        return self.encoder.out_size + self.branch.out_size

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Encode one image; a key turns on dropout in both parts."""
        if x.shape != self.image_shape:
            raise ValueError(
                f"`PoseFeatureEncoder.__call__(x=...)`: expected an image of shape "
                f"{self.image_shape}; got {x.shape}."
            )
        k_enc = k_branch = None
        if key is not None:
            k_enc, k_branch = jr.split(key)
        return jnp.concatenate(
            [self.encoder(x, key=k_enc), self.branch(image_moments(x), key=k_branch)]
        )
