"""Configuration, presets and the factory of the joint-ELBO model."""

import dataclasses
import math
from typing import Any

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray

from .._dataclass_json import from_json, to_json
from ..groups import Affine2D
from ._model import LIVAE
from ._nets import ConvDecoder, GaussianConvEncoder, make_spline_flow

#: Index of the rotation angle in `Affine2D`'s parameters `(t_x, t_y, θ, log s_x, log s_y)`.
ROTATION_INDEX = 2


@dataclasses.dataclass(frozen=True)
class ELBOConfig:
    """Architecture and training hyper-parameters of the joint-ELBO model (workshop App. A).

    Defaults are the paper's (preset `"paper"`); see [`sgm_eqx.elbo.get_elbo_preset`][] for
    the CPU preset. The transformation is rotation (`Affine2D`, η = angle in radians).

    **Model:** `image_shape`; `latent_dim` (20); encoder `enc_channels` `(64, 128, 256)`
    with the first `enc_strided` convolutions of stride 2 and dense `enc_hidden` `(64, 32)`;
    decoder dense `dec_hidden` then transposed convolutions `dec_channels` `(256, 128, 64)`,
    the first `dec_upsample` of stride 2; flows with `flow_layers` (2) spline layers of
    `bins` (4) bins on `[-interval, interval]`, conditioners of `flow_depth` x `flow_width`
    relu layers and bases from a `base_hidden` `(64, 32)` relu MLP; `n_transforms` (10)
    transformations in the invariant encoder, averaged over rotations in
    `[-invariance_degrees, invariance_degrees]` (180: the whole group); `interp_order` of
    the image resampling (1: bilinear, 3: cubic B-spline); initial observation scale
    `obs_scale_init` and prototype scale `xhat_scale_init`.

    **Training:** `steps`, `batch_size`; AdamW (`weight_decay`) with the learning rate
    rising linearly from `lr_init` to `lr_peak` over `warmup_steps`, then a cosine decay to
    `lr_end` at `steps`; β on the VAE KL decaying from `beta_start` to `beta_end` on a
    cosine schedule over `steps`.
    """

    image_shape: tuple[int, int, int] = (28, 28, 1)
    latent_dim: int = 20
    enc_channels: tuple[int, ...] = (64, 128, 256)
    enc_strided: int = 1
    enc_hidden: tuple[int, ...] = (64, 32)
    dec_hidden: tuple[int, ...] = (32, 64)
    dec_channels: tuple[int, ...] = (256, 128, 64)
    dec_upsample: int = 1
    flow_layers: int = 2
    bins: int = 4
    interval: float = 3.0
    flow_width: int = 64
    flow_depth: int = 2
    base_hidden: tuple[int, ...] = (64, 32)
    n_transforms: int = 10
    invariance_degrees: float = 180.0
    interp_order: int = 1
    obs_scale_init: float = 0.1
    xhat_scale_init: float = 0.05
    steps: int = 15_000
    batch_size: int = 256
    lr_init: float = 1e-4
    lr_peak: float = 1e-3
    lr_end: float = 1e-4
    warmup_steps: int = 500
    weight_decay: float = 1e-4
    beta_start: float = 10.0
    beta_end: float = 1.0

    def __post_init__(self):
        positive = ("latent_dim", "flow_layers", "n_transforms", "steps", "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"`ELBOConfig({name}=...)`: expected >= 1; got {getattr(self, name)}."
                )
        for name in ("lr_init", "lr_peak", "lr_end", "beta_start", "beta_end", "obs_scale_init"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"`ELBOConfig({name}=...)`: expected a positive finite number; got {value}."
                )
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(
                f"`ELBOConfig(warmup_steps=...)`: expected 0 <= warmup_steps < steps = "
                f"{self.steps}; got {self.warmup_steps}."
            )
        if not 0.0 <= self.invariance_degrees <= 180.0:
            raise ValueError(
                f"`ELBOConfig(invariance_degrees=...)`: expected an angle in [0, 180]; got "
                f"{self.invariance_degrees}."
            )
        if self.interp_order not in (0, 1, 3):
            raise ValueError(
                f"`ELBOConfig(interp_order=...)`: expected 0, 1 or 3; got {self.interp_order}."
            )

    def to_json(self) -> str:
        """The config as JSON (tuples become lists)."""
        return to_json(self)

    @classmethod
    def from_json(cls, text: str) -> "ELBOConfig":
        """Inverse of `to_json` (unknown keys raise)."""
        return from_json(cls, text)


_PRESETS: dict[str, ELBOConfig] = {
    "paper": ELBOConfig(),
    # Narrower CNNs that downsample twice (28 -> 14 -> 7) and a shorter run with a smaller
    # batch, for a run of about 20 minutes on 2 CPU cores; everything else as the paper.
    "cpu": ELBOConfig(
        enc_channels=(8, 16, 16),
        enc_strided=2,
        dec_channels=(32, 16, 16),
        dec_upsample=2,
        steps=2_000,
        batch_size=64,
        warmup_steps=100,
    ),
}

#: Names accepted by [`sgm_eqx.elbo.get_elbo_preset`][].
ELBO_PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def get_elbo_preset(name: str) -> ELBOConfig:
    """The named configuration: `"paper"` (workshop App. A) or `"cpu"` (smaller, shorter)."""
    if name not in _PRESETS:
        raise ValueError(
            f"`get_elbo_preset(name=...)`: expected one of {list(_PRESETS)}; got {name!r}."
        )
    return _PRESETS[name]


def make_livae(key: PRNGKeyArray, config: ELBOConfig) -> LIVAE:
    """Build a [`sgm_eqx.elbo.LIVAE`][] for rotations of images, as `config` says.

    The template is `Affine2D.identity(order=config.interp_order)` and η is its rotation
    angle (radians, counter-clockwise). At init p(z) = N(0, I), q_φ(z | x) = N(0, I),
    both flows are their bases N(0, 1) (identity splines), and p(x̂ | z) has a random mean.
    """
    k_enc, k_dec, k_prior, k_post = jr.split(key, 4)
    latent = int(config.latent_dim)
    encoder = GaussianConvEncoder(
        config.image_shape,
        latent,
        config.enc_channels,
        config.enc_hidden,
        n_strided=config.enc_strided,
        key=k_enc,
    )
    decoder = ConvDecoder(
        config.image_shape,
        latent,
        config.dec_channels,
        config.dec_hidden,
        n_upsample=config.dec_upsample,
        init_scale=config.xhat_scale_init,
        key=k_dec,
    )
    flow_kwargs: dict[str, Any] = dict(
        dim=1,
        flow_layers=config.flow_layers,
        bins=config.bins,
        interval=config.interval,
        nn_width=config.flow_width,
        nn_depth=config.flow_depth,
        base_hidden=config.base_hidden,
    )
    eta_prior = make_spline_flow(k_prior, cond_dim=latent, **flow_kwargs)
    eta_posterior = make_spline_flow(k_post, cond_dim=math.prod(config.image_shape), **flow_kwargs)
    return LIVAE(
        prior_loc=jnp.zeros(latent),
        prior_raw_scale=jnp.full(latent, math.log(math.e - 1.0), jnp.float32),
        encoder=encoder,
        decoder=decoder,
        eta_prior=eta_prior,
        eta_posterior=eta_posterior,
        raw_obs_scale=jnp.asarray(math.log(math.expm1(config.obs_scale_init)), jnp.float32),
        template=Affine2D.identity(order=config.interp_order),
        eta_index=(ROTATION_INDEX,),
        invariance_range=(math.radians(config.invariance_degrees),),
        n_transforms=int(config.n_transforms),
    )
