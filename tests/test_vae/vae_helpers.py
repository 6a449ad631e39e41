"""Hand-built pieces for the VAE tests: a linear-Gaussian VAE and an exact rotation SGM."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from flowjax.distributions import AbstractDistribution
from jax.scipy import stats as jstats


class LinearEncoder(eqx.Module):
    """q(z | x) = N(A vec(x) + c, diag s²)."""

    a: jax.Array
    c: jax.Array
    s: jax.Array

    def __call__(self, x):
        return self.a @ x.reshape(-1) + self.c, self.s


class LinearDecoder(eqx.Module):
    """Mean W z + b, reshaped to the image."""

    w: jax.Array
    b: jax.Array
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __call__(self, z):
        return (self.w @ z + self.b).reshape(self.image_shape)


def inv_softplus(y):
    return math.log(math.expm1(y))


def linear_gaussian_vae(w, b, sigma, encoder, image_shape):
    """The real `sgm_eqx.vae.VAE` class with linear networks, prior N(0, I), pixel scale sigma."""
    from sgm_eqx.vae import VAE

    vae = VAE(
        encoder,
        LinearDecoder(w, b, image_shape),
        image_shape=image_shape,
        latent_size=w.shape[1],
        min_scale=0.0,
    )
    return eqx.tree_at(lambda m: m.raw_pixel_scale, vae, jnp.full(image_shape, inv_softplus(sigma)))


def exact_posterior(w, b, sigma):
    """(A, c, s) of p(z | x) for z ~ N(0, I), x ~ N(Wz + b, σ² I): the posterior covariance
    is diagonal only for W with orthogonal columns, which the tests use."""
    prec = jnp.eye(w.shape[1]) + w.T @ w / sigma**2
    cov = jnp.linalg.inv(prec)
    a = cov @ w.T / sigma**2
    return a, -a @ b, jnp.sqrt(jnp.diag(cov))


def log_marginal(x, w, b, sigma):
    """Closed-form log p(x) = log N(x; b, W Wᵀ + σ² I)."""
    d = b.shape[0]
    cov = w @ w.T + sigma**2 * jnp.eye(d)
    return jnp.asarray(jstats.multivariate_normal.logpdf(x.reshape(-1), b, cov))


# -- an SGM whose inference net is exact for rotated blob images ---------------------------


def blob_image(size, angle=0.0):
    """A bright Gaussian blob at radius 0.45 (normalised frame) in direction `angle` and a
    dim one at the centre, rendered analytically (no interpolation)."""
    centres = (jnp.arange(size) * 2 + 1) / size - 1
    x = centres[None, :]
    y = -centres[:, None]
    bx, by = 0.45 * math.cos(angle), 0.45 * math.sin(angle)
    img = jnp.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * 0.12**2))
    img = img + 0.5 * jnp.exp(-(x**2 + y**2) / (2 * 0.2**2))
    return img[..., None]


class CentroidRotationNet(eqx.Module):
    """Point estimate η = (0, 0, θ, 0, 0), θ the direction of the intensity centroid.

    Exact for rotations of `blob_image` (the prototype's bright blob sits on the +x axis):
    the centroid turns with the content."""

    size: int = eqx.field(static=True)

    def __call__(self, x, *, key=None):
        centres = (jnp.arange(self.size) * 2 + 1) / self.size - 1
        img = x[..., 0]
        m = jnp.sum(img)
        cx = jnp.sum(img * centres[None, :]) / m
        cy = jnp.sum(img * -centres[:, None]) / m
        theta = jnp.arctan2(cy, cx)
        zero = jnp.zeros_like(theta)
        return jnp.stack([zero, zero, theta, zero, zero])


class RotationInvariantPrior(AbstractDistribution):
    """p(η | x̂): rotation uniform on (-π, π), the other parameters N(0, 0.05²); ignores x̂.

    The η-distribution of data whose only symmetry is rotation."""

    shape: tuple[int, ...] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def _log_prob(self, x, condition=None):
        rot = jnp.where(jnp.abs(x[2]) < math.pi, -math.log(2 * math.pi), -jnp.inf)
        others = jnp.sum(jstats.norm.logpdf(x[jnp.array([0, 1, 3, 4])], 0.0, 0.05))
        return rot + others

    def _sample(self, key, condition=None):
        k1, k2 = jr.split(key)
        rot = jr.uniform(k1, (), minval=-math.pi, maxval=math.pi)
        others = 0.05 * jr.normal(k2, (4,))
        return jnp.stack([others[0], others[1], rot, others[2], others[3]])


def rotation_sgm(size):
    from sgm_eqx import SGM
    from sgm_eqx.groups import Affine2D

    return SGM(
        Affine2D.identity(order=1),
        CentroidRotationNet(size),
        RotationInvariantPrior((5,), (size, size, 1)),
    )
