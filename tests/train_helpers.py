"""Tiny stand-ins shared by the loss and training tests (synthetic data only)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from flowjax.distributions import AbstractDistribution
from jaxtyping import Array, Float

from sgm_eqx.groups import AbstractGroupAction, Affine2D
from sgm_eqx.nn import AbstractInferenceNet

SIZE = 16


class Rotation2D(AbstractGroupAction["Rotation2D"]):
    """Rotation about the image centre by `theta` radians (counter-clockwise, y up), one
    bilinear resampling through `Affine2D`. One parameter; rotations commute."""

    theta: Float[Array, ""]
    n_params: int = eqx.field(static=True, default=1)

    @classmethod
    def identity(cls) -> "Rotation2D":
        return cls(theta=jnp.zeros(()))

    @classmethod
    def from_params(cls, eta) -> "Rotation2D":
        return cls(theta=jnp.asarray(eta)[0])

    def with_params(self, eta) -> "Rotation2D":
        return type(self).from_params(eta)

    def compose(self, other: "Rotation2D") -> "Rotation2D":
        return type(self)(theta=self.theta + other.theta)

    def inverse(self) -> "Rotation2D":
        return type(self)(theta=-self.theta)

    def describe(self, x):
        return {"rotation_deg": jnp.degrees(self.theta)}

    def apply(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        eta = jnp.zeros(5, x.dtype).at[2].set(self.theta.astype(x.dtype))
        return Affine2D.from_params(eta, order=1).apply(x)


def prototype(size: int = SIZE) -> Float[Array, "H W 1"]:
    """An elongated smooth blob with a bump (orientation well defined by its moments)."""
    c = -1.0 + (2.0 * jnp.arange(size, dtype=jnp.float32) + 1.0) / size
    xx, yy = jnp.meshgrid(c, -c)
    blob = jnp.exp(-0.5 * ((xx / 0.38) ** 2 + (yy / 0.14) ** 2))
    bump = 0.6 * jnp.exp(-0.5 * (((xx - 0.25) / 0.1) ** 2 + ((yy - 0.12) / 0.1) ** 2))
    return (blob + bump)[..., None].astype(jnp.float32)


def orientation(x: Float[Array, "H W C"]) -> Float[Array, ""]:
    """Angle of the principal axis of the image's second moments (normalised frame, y up)."""
    size = x.shape[0]
    c = -1.0 + (2.0 * jnp.arange(size, dtype=jnp.float32) + 1.0) / size
    xx, yy = jnp.meshgrid(c, -c)
    w = jnp.sum(x, axis=-1)
    w = w / jnp.sum(w)
    mx, my = jnp.sum(w * xx), jnp.sum(w * yy)
    cxx = jnp.sum(w * (xx - mx) ** 2)
    cyy = jnp.sum(w * (yy - my) ** 2)
    cxy = jnp.sum(w * (xx - mx) * (yy - my))
    return 0.5 * jnp.arctan2(2.0 * cxy, cxx - cyy)


class OracleNet(AbstractInferenceNet):
    """Returns the true rotation angle of an image of the prototype's orbit (from moments),
    with zero scale: q is a delta at the true η."""

    phi0: Float[Array, ""]
    n_params: int = eqx.field(static=True, default=1)
    image_shape: tuple[int, int, int] = eqx.field(static=True, default=(SIZE, SIZE, 1))

    def loc_and_scale(self, x, *, key=None):
        return (orientation(x) - self.phi0)[None], jnp.zeros((1,), x.dtype)

    def bound(self, u):
        return u

    def __call__(self, x, *, key=None):
        return self.loc_and_scale(x)[0]


class ConstantNet(AbstractInferenceNet):
    """Predicts the same `eta` with zero scale for every image (eta = 0: the identity)."""

    eta: Float[Array, " n_params"]
    n_params: int = eqx.field(static=True, default=1)
    image_shape: tuple[int, int, int] = eqx.field(static=True, default=(SIZE, SIZE, 1))

    def loc_and_scale(self, x, *, key=None):
        return self.eta, jnp.zeros_like(self.eta)

    def bound(self, u):
        return u

    def __call__(self, x, *, key=None):
        return self.eta


def orbit(key, n: int, spread: float = 0.6, size: int = SIZE):
    """`n` images `R_θ(prototype)` with `θ ~ U(-spread, spread)`; returns (images, θ)."""
    theta = jr.uniform(key, (n,), minval=-spread, maxval=spread)
    proto = prototype(size)
    xs = jax.jit(jax.vmap(lambda t: Rotation2D(theta=t).apply(proto)))(theta)
    return xs, theta


class LinearGaussianFlow(AbstractDistribution):
    """A cheap stand-in for p_ψ(η | x̂): N(η; W vec(x̂) + b, I). Compiles in a blink."""

    weight: Float[Array, "n_params d"]
    bias: Float[Array, " n_params"]
    shape: tuple[int, ...] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, key, n_params: int = 1, image_shape=(SIZE, SIZE, 1)):
        d = image_shape[0] * image_shape[1] * image_shape[2]
        self.weight = 0.01 * jr.normal(key, (n_params, d))
        self.bias = jnp.zeros(n_params)
        self.shape = (n_params,)
        self.cond_shape = tuple(image_shape)

    def _mean(self, condition):
        return self.weight @ jnp.ravel(condition) + self.bias

    def _log_prob(self, x, condition=None):
        z = x - self._mean(condition)
        return -0.5 * jnp.sum(z**2) - 0.5 * z.shape[0] * jnp.log(2 * jnp.pi)

    def _sample(self, key, condition=None):
        return self._mean(condition) + jr.normal(key, self.shape)


def tiny_model_config(**changes):
    """A `ModelConfig` small enough for a few training steps on 8x8 images in a test."""
    import dataclasses

    from sgm_eqx.train import ModelConfig

    base = ModelConfig(
        image_shape=(8, 8, 1),
        action="affine",
        interpolation_order=1,
        inference_hidden=(16,),
        feature_hidden=(16,),
        base_hidden=(8,),
        flow_layers=1,
        flow_nn_width=8,
    )
    return dataclasses.replace(base, **changes)
