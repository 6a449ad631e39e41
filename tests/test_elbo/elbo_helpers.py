"""A tiny joint-ELBO model shared by the tests (sgm_eqx is imported lazily)."""

import dataclasses

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr

SIZE = 12


def tiny_config(**changes):
    from sgm_eqx.elbo import ELBOConfig

    base = ELBOConfig(
        image_shape=(SIZE, SIZE, 1),
        latent_dim=2,
        enc_channels=(4, 4),
        enc_strided=1,
        enc_hidden=(8,),
        dec_hidden=(8,),
        dec_channels=(4,),
        dec_upsample=1,
        flow_layers=2,
        bins=4,
        flow_width=8,
        flow_depth=1,
        base_hidden=(8,),
        n_transforms=4,
        steps=10,
        batch_size=4,
        warmup_steps=2,
    )
    return dataclasses.replace(base, **changes)


@jax.jit
def _perturb_params(params, key, scale):
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    return unravel(flat + scale * jr.normal(key, flat.shape, flat.dtype))


def perturbed(model, key, scale=0.3):
    """Add N(0, scale²) noise to every trained leaf (zero-initialised heads become generic)."""
    from sgm_eqx.elbo import trainable_spec

    params, static = eqx.partition(model, trainable_spec(model))
    return eqx.combine(_perturb_params(params, key, scale), static)


def smooth_image(key, size=SIZE):
    """A smooth, asymmetric image: three Gaussian blobs (std ~2 pixels at 12x12) inside the
    central disc, so that rotations move little mass across the border."""
    ys, xs = jnp.meshgrid(jnp.linspace(-1, 1, size), jnp.linspace(-1, 1, size), indexing="ij")
    centres = jr.uniform(key, (3, 2), minval=-0.3, maxval=0.3)
    img = sum(
        (
            (0.5 + 0.25 * i) * jnp.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) / 0.18)
            for i, c in enumerate(centres)
        ),
        start=jnp.zeros_like(xs),
    )
    return img[..., None].astype(jnp.float32)
