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
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._mlp import MLP, AbstractImageEncoder

#: `(p, q)` of the complex moments used; `p - q` is the rotation order each one sees:
#: 1 (chirality of arrows and hearts), 2 (ellipses), 3 (triangles), 4 (squares).
MOMENT_ORDERS: tuple[tuple[int, int], ...] = ((2, 1), (3, 2), (2, 0), (3, 1), (3, 0), (4, 0))

#: Number of real features returned by [`sgm_eqx.nn.image_moments`][].
N_MOMENT_FEATURES = 4 + 4 * len(MOMENT_ORDERS)

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

    **Returns:** `N_MOMENT_FEATURES` floats; finite for any finite input (an empty image
    gives zeros for the moments).
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
    for p, q in MOMENT_ORDERS:
        # d^p conj(d)^q = |d|^(2q) d^(p-q)
        re, im = powers[p - q]
        radial = weight * r2**q
        mu_re, mu_im = jnp.sum(radial * re) / safe_mass, jnp.sum(radial * im) / safe_mass
        norm = jnp.sqrt(mu_re * mu_re + mu_im * mu_im + _PHASE_FLOOR**2)
        feats += [mu_re, mu_im, mu_re / norm, mu_im / norm]
    return jnp.stack(feats).astype(x.dtype)


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
