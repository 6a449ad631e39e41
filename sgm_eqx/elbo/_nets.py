"""Networks of the joint-ELBO model (workshop paper, App. A): CNN encoder and decoder, flows.

All networks use relu; the CNN encoder and decoder use LayerNorm (as the appendix says).
Every module acts on ONE example; batch with `jax.vmap`.
"""

import math

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from flowjax.bijections import RationalQuadraticSpline
from flowjax.distributions import Transformed
from flowjax.flows import coupling_flow
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import image_shape_arg, layer_sizes
from ..nn import AbstractConditionalNormal, ReluMLP

_INV_SOFTPLUS_ONE = math.log(math.e - 1.0)


class GaussianConvEncoder(eqx.Module):
    r"""The non-invariant encoder $\hat q_\phi(z \mid x) = \mathcal{N}(\mu(x), \sigma(x)^2)$.

    `Conv(3x3) -> LayerNorm -> relu` per channel count (paper: `(64, 128, 256)`), the first
    `n_strided` with stride 2, then flatten and `Dense -> LayerNorm -> relu` blocks (paper:
    `(64, 32)`) and a linear head giving μ and σ = softplus(·) + `min_scale`. LayerNorm of a
    feature map normalises over the whole `(C, H, W)` map with a per-channel affine
    (`eqx.nn.GroupNorm` with one group, as [`sgm_eqx.nn.ConvEncoder`][]). The head is zero
    at init except σ's bias, so every image starts at μ = 0, σ ≈ 1.
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    norms: tuple[eqx.nn.GroupNorm, ...]
    mlp: ReluMLP
    latent_dim: int = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...] = (64, 128, 256),
        hidden: tuple[int, ...] = (64, 32),
        *,
        n_strided: int = 1,
        min_scale: float = 1e-2,
        key: PRNGKeyArray,
    ):
        """Build the encoder.

        **Arguments:**

        - `image_shape`: `(H, W, C)` of the inputs.
        - `latent_dim`: dimension of z.
        - `channels`: channels of each convolution (at least one).
        - `hidden`: widths of the dense blocks after flattening.
        - `n_strided`: how many of the first convolutions have stride 2 (paper's code: 1).
        - `min_scale`: lower bound of σ (added to a softplus).
        - `key`: PRNG key.
        """
        h, w, c = image_shape_arg("GaussianConvEncoder", image_shape)
        channels = layer_sizes("GaussianConvEncoder", "channels", channels)
        if not channels:
            raise ValueError("`GaussianConvEncoder(channels=...)`: expected at least one layer.")
        if not 0 <= n_strided <= len(channels):
            raise ValueError(
                f"`GaussianConvEncoder(n_strided=...)`: expected 0..{len(channels)}; "
                f"got {n_strided}."
            )
        if int(latent_dim) < 1:
            raise ValueError(
                f"`GaussianConvEncoder(latent_dim=...)`: expected >= 1; got {latent_dim}."
            )
        conv_key, mlp_key = jr.split(key)
        keys = jr.split(conv_key, len(channels))
        convs = []
        for i, (c_in, c_out, k) in enumerate(zip((c, *channels[:-1]), channels, keys, strict=True)):
            stride = 2 if i < n_strided else 1
            convs.append(eqx.nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, key=k))
            h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
        self.convs = tuple(convs)
        self.norms = tuple(eqx.nn.GroupNorm(1, ch) for ch in channels)
        mlp = ReluMLP(channels[-1] * h * w, hidden, 2 * int(latent_dim), norm=True, key=mlp_key)
        bias = jnp.zeros(2 * int(latent_dim)).at[int(latent_dim) :].set(_INV_SOFTPLUS_ONE)
        self.mlp = eqx.tree_at(
            lambda m: (m.head.weight, m.head.bias), mlp, (jnp.zeros_like(mlp.head.weight), bias)
        )
        self.latent_dim = int(latent_dim)
        self.image_shape = image_shape_arg("GaussianConvEncoder", image_shape)
        self.min_scale = float(min_scale)

    def __call__(
        self, x: Float[Array, "H W C"]
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(μ, σ)` of q̂(z | x) for one image `x` of shape `image_shape`."""
        y = einops.rearrange(x, "h w c -> c h w")
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = jax.nn.relu(norm(conv(y)))
        out = self.mlp(einops.rearrange(y, "c h w -> (c h w)"))
        loc, raw = out[: self.latent_dim], out[self.latent_dim :]
        return loc, jax.nn.softplus(raw) + self.min_scale


class ConvDecoder(eqx.Module):
    r"""The prototype decoder $p_\theta(\hat x \mid z) = \mathcal{N}(\mu(z), \mathrm{diag}\,s^2)$.

    `Dense -> LayerNorm -> relu` blocks (paper's code: `(32, 64)`), a linear map to a
    `(channels[0], H / 2^k, W / 2^k)` feature map, then one `ConvTranspose(3x3) -> LayerNorm
    -> relu` per entry of `channels` (paper: `(256, 128, 64)`), the first `k = n_upsample`
    with stride 2 (each doubles H and W), and a final `Conv(3x3)` to the image channels: μ(z).
    The scale `s` is homoskedastic: one learnt value per pixel, `softplus(·) + min_scale`,
    independent of z (initialised at `init_scale`).
    """

    mlp: ReluMLP
    deconvs: tuple[eqx.nn.ConvTranspose2d, ...]
    norms: tuple[eqx.nn.GroupNorm, ...]
    out: eqx.nn.Conv2d
    raw_scale: Float[Array, "H W C"]
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    n_upsample: int = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...] = (256, 128, 64),
        hidden: tuple[int, ...] = (32, 64),
        *,
        n_upsample: int = 1,
        init_scale: float = 0.1,
        min_scale: float = 1e-2,
        key: PRNGKeyArray,
    ):
        """Build the decoder.

        **Arguments:**

        - `image_shape`: `(H, W, C)`; `H` and `W` must be divisible by `2**n_upsample`.
        - `latent_dim`: dimension of z.
        - `channels`: channels of each transposed convolution (at least one).
        - `hidden`: dense widths before the reshape.
        - `n_upsample`: how many of the first transposed convolutions have stride 2.
        - `init_scale`: initial per-pixel scale `s` (must exceed `min_scale`).
        - `min_scale`: lower bound of `s`.
        - `key`: PRNG key.
        """
        h, w, c = image_shape_arg("ConvDecoder", image_shape)
        channels = layer_sizes("ConvDecoder", "channels", channels)
        if not channels:
            raise ValueError("`ConvDecoder(channels=...)`: expected at least one layer.")
        if not 0 <= n_upsample <= len(channels):
            raise ValueError(
                f"`ConvDecoder(n_upsample=...)`: expected 0..{len(channels)}; got {n_upsample}."
            )
        f = 2**n_upsample
        if h % f or w % f:
            raise ValueError(
                f"`ConvDecoder(image_shape=...)`: H and W must be divisible by 2**n_upsample = "
                f"{f}; got {image_shape}."
            )
        if not init_scale > min_scale:
            raise ValueError(
                f"`ConvDecoder(init_scale=...)`: expected > min_scale = {min_scale}; "
                f"got {init_scale}."
            )
        mlp_key, conv_key, out_key = jr.split(key, 3)
        self.mlp = ReluMLP(
            int(latent_dim), hidden, channels[0] * (h // f) * (w // f), norm=True, key=mlp_key
        )
        keys = jr.split(conv_key, len(channels))
        # layer i takes channels[i - 1] channels in (the first takes channels[0]).
        self.deconvs = tuple(
            eqx.nn.ConvTranspose2d(
                a,
                b,
                3,
                stride=2 if i < n_upsample else 1,
                padding=1,
                output_padding=1 if i < n_upsample else 0,
                key=k,
            )
            for i, (a, b, k) in enumerate(
                zip((channels[0], *channels[:-1]), channels, keys, strict=True)
            )
        )
        self.norms = tuple(eqx.nn.GroupNorm(1, ch) for ch in channels)
        self.out = eqx.nn.Conv2d(channels[-1], c, 3, padding=1, key=out_key)
        raw = math.log(math.expm1(init_scale - min_scale))
        self.raw_scale = jnp.full((h, w, c), raw, jnp.float32)
        self.image_shape = (h, w, c)
        self.n_upsample = int(n_upsample)
        self.min_scale = float(min_scale)

    def scale(self) -> Float[Array, "H W C"]:
        """The homoskedastic per-pixel scale `s` of p(x̂ | z)."""
        return jax.nn.softplus(self.raw_scale) + self.min_scale

    def __call__(self, z: Float[Array, " latent"]) -> Float[Array, "H W C"]:
        """The mean prototype μ(z) for one latent vector, shape `image_shape`."""
        h, w, _ = self.image_shape
        f = 2**self.n_upsample
        y = einops.rearrange(self.mlp(z), "(c h w) -> c h w", h=h // f, w=w // f)
        for deconv, norm in zip(self.deconvs, self.norms, strict=True):
            y = jax.nn.relu(norm(deconv(y)))
        return einops.rearrange(self.out(y), "c h w -> h w c")


class ConditionalDiagNormal(AbstractConditionalNormal):
    r"""$\mathcal{N}(\mu(c), \mathrm{diag}\,\sigma(c)^2)$ with μ and σ from a relu MLP of `c`.

    The base of the workshop paper's flows (`N(μ_ψ(z), σ_ψ(z))`, MLP `(64, 32)`). A flowjax
    distribution with `shape = (dim,)` and `cond_shape = (cond_dim,)`; σ = softplus(·) with
    the head zero-initialised and σ's bias at softplus⁻¹(`init_scale`), so at init every
    condition gives μ = 0, σ = `init_scale`. (Unlike [`sgm_eqx.nn.ConditionalNormal`][],
    which uses the SGM paper's gelu + LayerNorm blocks, this follows the workshop appendix:
    relu, no normalisation.)
    """

    mlp: ReluMLP
    shape: tuple[int] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        hidden: tuple[int, ...] = (64, 32),
        *,
        init_scale: float = 1.0,
        key: PRNGKeyArray,
    ):
        """Build the MLP.

        **Arguments:**

        - `dim`: dimension of the distribution.
        - `cond_dim`: length of the condition vector.
        - `hidden`: MLP widths.
        - `init_scale`: σ at init (> 0).
        - `key`: PRNG key.
        """
        if int(dim) < 1 or int(cond_dim) < 1:
            raise ValueError(
                f"`ConditionalDiagNormal(dim=..., cond_dim=...)`: expected positive sizes; "
                f"got dim={dim}, cond_dim={cond_dim}."
            )
        if not init_scale > 0:
            raise ValueError(
                f"`ConditionalDiagNormal(init_scale=...)`: expected > 0; got {init_scale}."
            )
        mlp = ReluMLP(int(cond_dim), hidden, 2 * int(dim), zero_head=True, key=key)
        bias = jnp.zeros(2 * int(dim)).at[int(dim) :].set(math.log(math.expm1(init_scale)))
        self.mlp = eqx.tree_at(lambda m: m.head.bias, mlp, bias)
        self.shape = (int(dim),)
        self.cond_shape = (int(cond_dim),)

    def loc_and_scale(
        self, condition: Float[Array, " cond_dim"]
    ) -> tuple[Float[Array, " dim"], Float[Array, " dim"]]:
        """`(μ(c), σ(c))` for one condition vector."""
        out = self.mlp(condition)
        return out[: self.shape[0]], jax.nn.softplus(out[self.shape[0] :])


def make_spline_flow(
    key: PRNGKeyArray,
    *,
    dim: int,
    cond_dim: int,
    flow_layers: int = 2,
    bins: int = 4,
    interval: float = 3.0,
    nn_width: int = 64,
    nn_depth: int = 2,
    base_hidden: tuple[int, ...] = (64, 32),
    base_init_scale: float = 1.0,
) -> Transformed:
    """A conditional neural spline flow whose base Normal is predicted from the condition.

    `flowjax.flows.coupling_flow` with a [`sgm_eqx.elbo.ConditionalDiagNormal`][] base and
    rational-quadratic spline transformers (`bins` bins on `[-interval, interval]`, identity
    outside), relu conditioners of `nn_depth` hidden layers of `nn_width` (flowjax's
    conditioner has one width for all hidden layers; the paper's are `(64, 32)`). The last
    layer of every conditioner is zeroed, so each spline is the identity at init and the
    flow starts as its base. For `dim = 1` each coupling layer transforms the single
    coordinate with parameters that depend on the condition only.

    **Returns:** a flowjax `Transformed` with `shape = (dim,)`, `cond_shape = (cond_dim,)`.
    """
    if int(flow_layers) < 1:
        raise ValueError(f"`make_spline_flow(flow_layers=...)`: expected >= 1; got {flow_layers}.")
    if int(bins) < 2:
        raise ValueError(f"`make_spline_flow(bins=...)`: expected >= 2; got {bins}.")
    if not interval > 0:
        raise ValueError(f"`make_spline_flow(interval=...)`: expected > 0; got {interval}.")
    base_key, flow_key = jr.split(key)
    base = ConditionalDiagNormal(
        int(dim), int(cond_dim), base_hidden, init_scale=base_init_scale, key=base_key
    )
    flow = coupling_flow(
        flow_key,
        base_dist=base,
        transformer=RationalQuadraticSpline(knots=int(bins) - 1, interval=float(interval)),
        cond_dim=int(cond_dim),
        flow_layers=int(flow_layers),
        nn_width=int(nn_width),
        nn_depth=int(nn_depth),
        nn_activation=jax.nn.relu,
    )

    def last_layers(f):
        layers = jax.tree_util.tree_leaves(f.bijection, is_leaf=lambda n: isinstance(n, eqx.nn.MLP))
        mlps = [m for m in layers if isinstance(m, eqx.nn.MLP)]
        return tuple(x for m in mlps for x in (m.layers[-1].weight, m.layers[-1].bias))

    return eqx.tree_at(last_layers, flow, replace_fn=jnp.zeros_like)
