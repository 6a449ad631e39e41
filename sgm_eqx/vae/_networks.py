"""The VAE's LeNet-style encoder and its mirror-image decoder (paper App. C.4)."""

import math

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import image_shape_arg, layer_sizes
from ..nn import MLP, dense

_INV_SOFTPLUS_ONE = math.log(math.e - 1.0)


def _halve(size: int) -> int:
    # 3x3 kernel, padding 1, stride 2: ceil(size / 2).
    return (size + 2 - 3) // 2 + 1


def spatial_sizes(height: int, width: int, n_layers: int) -> list[tuple[int, int]]:
    """Feature-map sizes after each conv: the first two convs halve (rounding up)."""
    sizes = [(height, width)]
    for i in range(n_layers):
        h, w = sizes[-1]
        sizes.append((_halve(h), _halve(w)) if i < 2 else (h, w))
    return sizes


def _channel_norm(norm: eqx.nn.LayerNorm, y: Float[Array, "c h w"]) -> Float[Array, "c h w"]:
    """LayerNorm over the channels of every pixel (flax's `LayerNorm` on an `H W C` map).

    Same values as vmapping `norm` over the pixels (biased variance, `eps` inside the
    root), written with reductions over the channel axis: 3x faster on CPU.
    """
    mean = jnp.mean(y, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(y - mean), axis=0, keepdims=True)
    out = (y - mean) * jax.lax.rsqrt(var + norm.eps)
    if norm.weight is not None:
        out = out * norm.weight[:, None, None]
    if norm.bias is not None:
        out = out + norm.bias[:, None, None]
    return out


class ConvVAEEncoder(eqx.Module):
    """q(z | x) = N(μ(x), diag σ(x)²) from a LeNet-style CNN (App. C.4).

    `Conv(3x3) -> gelu -> LayerNorm` blocks (the first two with stride 2, the others
    stride 1; padding 1), then a dimensionality-reduction `Conv(3x3)` with 3 filters,
    flatten, an [`sgm_eqx.nn.MLP`][] (`Dense -> gelu -> LayerNorm`; paper: one hidden layer
    of 256) and two linear heads. LayerNorm normalises the channels of each pixel (as
    flax's `LayerNorm` on a channels-last map, the authors' code). σ = softplus(·); both
    heads start at zero weight, so at init μ = 0 and σ = 1 for every x.

    Acts on ONE `(H, W, C)` image; batch with `jax.vmap`.
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    reduce: eqx.nn.Conv2d
    mlp: MLP
    loc_head: eqx.nn.Linear
    scale_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_size: int,
        *,
        channels: tuple[int, ...] = (64, 128),
        hidden: tuple[int, ...] = (256,),
        key: PRNGKeyArray,
    ):
        """Build the encoder.

        **Arguments:**

        - `image_shape`: `(H, W, C)` of the inputs.
        - `latent_size`: dimension of z.
        - `channels`: filters of the conv blocks (paper sweep: `(64, 128)` or
          `(64, 128, 256)`).
        - `hidden`: widths of the MLP blocks after flattening (paper: `(256,)`).
        - `key`: PRNG key for the weights.
        """
        h, w, c = image_shape_arg("ConvVAEEncoder", image_shape)
        channels = layer_sizes("ConvVAEEncoder", "channels", channels, allow_empty=False)
        hidden = layer_sizes("ConvVAEEncoder", "hidden", hidden, allow_empty=False)
        if int(latent_size) < 1:
            raise ValueError(
                f"`ConvVAEEncoder(latent_size=...)`: expected >= 1; got {latent_size}."
            )
        keys = jr.split(key, len(channels) + 4)
        self.convs = tuple(
            eqx.nn.Conv2d(a, b, 3, stride=2 if i < 2 else 1, padding=1, key=k)
            for i, (a, b, k) in enumerate(zip((c, *channels[:-1]), channels, keys, strict=False))
        )
        self.norms = tuple(eqx.nn.LayerNorm(ch) for ch in channels)
        self.reduce = eqx.nn.Conv2d(channels[-1], 3, 3, padding=1, key=keys[-4])
        fh, fw = spatial_sizes(h, w, len(channels))[-1]
        self.mlp = MLP(3 * fh * fw, hidden, key=keys[-3])
        zero = jnp.zeros_like
        loc = eqx.nn.Linear(hidden[-1], int(latent_size), key=keys[-2])
        self.loc_head = eqx.tree_at(lambda m: (m.weight, m.bias), loc, replace_fn=zero)
        scale = eqx.nn.Linear(hidden[-1], int(latent_size), key=keys[-1])
        scale = eqx.tree_at(lambda m: m.weight, scale, replace_fn=zero)
        self.scale_head = eqx.tree_at(
            lambda m: m.bias, scale, replace_fn=lambda b: jnp.full_like(b, _INV_SOFTPLUS_ONE)
        )
        self.image_shape = (h, w, c)
        self.latent_size = int(latent_size)

    def __call__(
        self, x: Float[Array, "H W C"]
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(μ(x), σ(x))`, each of shape `(latent_size,)`, for one `(H, W, C)` image."""
        y = einops.rearrange(x, "h w c -> c h w")
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = _channel_norm(norm, jax.nn.gelu(conv(y)))
        feat = self.mlp(einops.rearrange(self.reduce(y), "c h w -> (c h w)"))
        return dense(self.loc_head, feat), jax.nn.softplus(dense(self.scale_head, feat))


class ConvVAEDecoder(eqx.Module):
    """The per-pixel mean of p(x | z): the encoder mirrored (App. C.4).

    An [`sgm_eqx.nn.MLP`][] (the encoder's widths reversed), a `Dense` layer to a 3-channel
    feature map of the encoder's smallest size (replacing the reduction conv and flatten),
    transposed-conv blocks `ConvTranspose(3x3) -> gelu -> LayerNorm` with the encoder's
    filters reversed (the last two upsampling by 2, each undoing one of the encoder's
    halvings, cropped so odd sizes round-trip), and a final `Conv(3x3)` to `C` channels:
    the mean μ(z). The homoscedastic per-pixel scale lives in [`sgm_eqx.vae.VAE`][].

    **Deviation (speed, same function class):** each stride-2 `ConvTranspose(3x3)`
    (padding 1) is written as a *sub-pixel convolution* (Shi et al., 2016): a stride-1
    `Conv(2x2)` on the low-resolution map (inputs m and m + 1 per axis) to 4x the filters,
    then depth-to-space. Output pixel 2m of such a transposed conv reads input m only and
    pixel 2m + 1 reads inputs m and m + 1, so every stride-2 3x3 transposed conv is one of
    these sub-pixel convs (which are a slight superset), at 16 instead of 36 multiply-adds
    per output filter and input channel and without the input-dilated convolution that
    XLA's CPU backend runs slowly.

    Acts on ONE latent vector; batch with `jax.vmap`.
    """

    mlp: MLP
    expand: eqx.nn.Linear
    convs: tuple[eqx.nn.Conv2d, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    out: eqx.nn.Conv2d
    upsample: tuple[bool, ...] = eqx.field(static=True)
    out_sizes: tuple[tuple[int, int], ...] = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    start_size: tuple[int, int] = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_size: int,
        *,
        channels: tuple[int, ...] = (64, 128),
        hidden: tuple[int, ...] = (256,),
        key: PRNGKeyArray,
    ):
        """Build the decoder.

        **Arguments:** as [`sgm_eqx.vae.ConvVAEEncoder`][], given in the *encoder's* order
        (`channels=(64, 128)` builds transposed convs with 128 then 64 filters).
        """
        h, w, c = image_shape_arg("ConvVAEDecoder", image_shape)
        channels = layer_sizes("ConvVAEDecoder", "channels", channels, allow_empty=False)
        hidden = layer_sizes("ConvVAEDecoder", "hidden", hidden, allow_empty=False)
        if int(latent_size) < 1:
            raise ValueError(
                f"`ConvVAEDecoder(latent_size=...)`: expected >= 1; got {latent_size}."
            )
        n = len(channels)
        sizes = spatial_sizes(h, w, n)  # encoder sizes, input first
        keys = jr.split(key, n + 3)
        self.mlp = MLP(int(latent_size), tuple(reversed(hidden)), key=keys[-3])
        fh, fw = sizes[-1]
        self.expand = eqx.nn.Linear(hidden[0], 3 * fh * fw, key=keys[-2])
        rev = tuple(reversed(channels))
        convs, upsample, out_sizes = [], [], []
        for j, (a, b, k) in enumerate(zip((3, *rev[:-1]), rev, keys, strict=False)):
            i = n - 1 - j  # the encoder layer this one mirrors
            up = i < 2  # undo one of the encoder's stride-2 halvings
            if up:  # 2x2 taps on the low-resolution grid (window {m, m + 1}), 4 phases
                conv = eqx.nn.Conv2d(a, 4 * b, 2, padding=((0, 1), (0, 1)), key=k)
            else:
                conv = eqx.nn.Conv2d(a, b, 3, padding=1, key=k)
            convs.append(conv)
            upsample.append(up)
            out_sizes.append(sizes[i])
        self.upsample = tuple(upsample)
        self.out_sizes = tuple(out_sizes)
        self.convs = tuple(convs)
        self.norms = tuple(eqx.nn.LayerNorm(ch) for ch in rev)
        self.out = eqx.nn.Conv2d(rev[-1], c, 3, padding=1, key=keys[-1])
        self.image_shape = (h, w, c)
        self.latent_size = int(latent_size)
        self.start_size = (fh, fw)

    def __call__(self, z: Float[Array, " latent"]) -> Float[Array, "H W C"]:
        """The mean image μ(z), shape `image_shape`, for one latent `(latent_size,)`."""
        fh, fw = self.start_size
        y = dense(self.expand, self.mlp(z))
        y = einops.rearrange(y, "(c h w) -> c h w", c=3, h=fh, w=fw)
        for conv, norm, up, (oh, ow) in zip(
            self.convs, self.norms, self.upsample, self.out_sizes, strict=True
        ):
            y = conv(y)
            if up:  # sub-pixel convolution: 4 phases -> twice the size, cropped to the target
                y = einops.rearrange(y, "(c p q) h w -> c (h p) (w q)", p=2, q=2)[:, :oh, :ow]
            y = _channel_norm(norm, jax.nn.gelu(y))
        return einops.rearrange(self.out(y), "c h w -> h w c")
