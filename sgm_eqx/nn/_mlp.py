"""Building blocks: the paper's MLP block and image encoders (MLP and small CNN)."""

import abc
import functools
import math

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import image_shape_arg, layer_sizes
from ..image import gaussian_blur


def _check_dropout(name: str, dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`{name}(dropout=...)`: expected a rate in [0, 1); got {dropout}.")


#: App. C's widths, the single source of the defaults of the factories and of
#: `sgm_eqx.train.ModelConfig`: the inference MLP q_ω, the flow's shared feature extractor,
#: and the MLP of the flow's conditional base distribution.
PAPER_INFERENCE_HIDDEN: tuple[int, ...] = (2048, 1024, 512, 256)
PAPER_FEATURE_HIDDEN: tuple[int, ...] = (1024, 512, 512)
PAPER_BASE_HIDDEN: tuple[int, ...] = (256, 256)

_GELU_C = math.sqrt(2.0 / math.pi)

_GELU_A = 0.044715


def _gelu_and_derivative(h: Array) -> tuple[Array, Array]:
    """tanh-approximate gelu (as `jax.nn.gelu`) and its derivative, from one `tanh`."""
    t = jnp.tanh(_GELU_C * (h + _GELU_A * h * h * h))
    a = 0.5 * h * (1.0 + t)
    da = 0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_A * h * h)
    return a, da


def _gelu_layer_norm_fwd(h, weight, bias, eps):
    a = jax.nn.gelu(h)
    mean = jnp.mean(a)
    # one pass over the activations for both moments (post-gelu values are O(1), so the
    # cancellation in E[a²] - E[a]² costs nothing noticeable in float32).
    var = jnp.maximum(jnp.mean(a * a) - mean * mean, 0.0)
    rstd = jax.lax.rsqrt(var + eps)
    return (a - mean) * rstd * weight + bias, (h, mean, rstd, weight)


def _gelu_layer_norm_bwd(eps, res, dy):
    del eps
    h, mean, rstd, weight = res
    a, da = _gelu_and_derivative(h)  # recomputed: cheaper than storing two more arrays
    x_hat = (a - mean) * rstd
    g = dy * weight
    da_in = rstd * (g - jnp.mean(g) - x_hat * jnp.mean(g * x_hat))
    return da_in * da, dy * x_hat, dy


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def gelu_layer_norm(
    h: Float[Array, " n"], weight: Float[Array, " n"], bias: Float[Array, " n"], eps: float
) -> Float[Array, " n"]:
    """`LayerNorm(gelu(h))` for ONE vector, with a hand-written backward pass.

    Same values as `eqx.nn.LayerNorm(n)(jax.nn.gelu(h))` (tanh-approximate gelu; biased
    variance; `eps` inside the square root) up to float32 rounding. Hand-written because
    these element-wise passes over the activations are a fifth of a training step of the
    paper's MLP on CPU: the forward computes both moments in one pass, and the backward
    saves only `h` and two scalars per row and recomputes gelu and its derivative in the
    same pass that forms the LayerNorm gradient, instead of the several passes that
    autodiff of the composition makes. Batch with `jax.vmap` (the gradients of `weight` and
    `bias` are then summed over the batch by JAX).
    """
    return _gelu_layer_norm_fwd(h, weight, bias, eps)[0]


gelu_layer_norm.defvjp(_gelu_layer_norm_fwd, _gelu_layer_norm_bwd)


def dense(linear: eqx.nn.Linear, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
    """`linear(x)` written as `x @ weight.T + bias` (same values).

    Under `jax.vmap` (and nested vmaps: a batch of examples, each with several augmented
    inputs) this puts the batch axes *first* in the matmul's output, so the element-wise
    passes that follow (gelu, LayerNorm) reduce over the contiguous last axis. Equinox's
    `weight @ x` puts the feature axis first instead; on CPU with the paper's MLP under two
    vmaps that made the network's forward + backward about 25% slower
    (`benchmarks/train_step.py --breakdown`, see the performance page).
    """
    y = x @ linear.weight.T
    return y if linear.bias is None else y + linear.bias


def _dropout(x: Array, rate: float, key: PRNGKeyArray) -> Array:
    """Inverted dropout: zero each entry with probability `rate`, rescale the rest."""
    keep = jr.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


class MLP(eqx.Module):
    """A stack of the paper's MLP blocks `Dense -> gelu -> LayerNorm -> Dropout` (App. C).

    There is no output layer: the output is the last block's activation, of size
    `hidden[-1]` (`in_size` when `hidden` is empty). Add an `eqx.nn.Linear` for a head.

    Dropout is *inverted dropout* with the static rate `dropout`; it is active only when a
    `key` is passed to `__call__` (training) and the rate is positive. `gelu` is the tanh
    approximation (`jax.nn.gelu`'s default, as in flax). Acts on ONE vector; batch with
    `jax.vmap`.
    """

    linears: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    in_size: int = eqx.field(static=True)
    hidden: tuple[int, ...] = eqx.field(static=True)
    dropout: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        hidden: tuple[int, ...],
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the blocks.

        **Arguments:**

        - `in_size`: length of the input vector.
        - `hidden`: width of each block, e.g. the paper's inference net `(2048, 1024, 512, 256)`.
        - `dropout`: dropout rate in `[0, 1)` after every block (static).
        - `key`: PRNG key for the initial weights (equinox's default `Linear` init).
        """
        hidden = tuple(int(h) for h in hidden)
        layer_sizes("MLP", "hidden", hidden)
        _check_dropout("MLP", dropout)
        if int(in_size) < 1:
            raise ValueError(f"`MLP(in_size=...)`: expected a positive size; got {in_size}.")
        sizes = (int(in_size), *hidden)
        keys = jr.split(key, max(len(hidden), 1))
        self.linears = tuple(
            eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=False)
        )
        self.norms = tuple(eqx.nn.LayerNorm(h) for h in hidden)
        self.in_size = int(in_size)
        self.hidden = hidden
        self.dropout = float(dropout)

    @property
    def out_size(self) -> int:
        """Length of the output vector."""
        return self.hidden[-1] if self.hidden else self.in_size

    def __call__(
        self, x: Float[Array, " in_size"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Apply the blocks to one vector.

        **Arguments:**

        - `x`: input of shape `(in_size,)`.
        - `key`: if given (and `dropout > 0`), dropout is applied after every block.

        **Returns:** the activation of shape `(out_size,)`.
        """
        n = len(self.linears)
        keys = list(jr.split(key, n)) if key is not None and self.dropout > 0.0 else [None] * n
        for linear, norm, k in zip(self.linears, self.norms, keys, strict=True):
            x = gelu_layer_norm(dense(linear, x), norm.weight, norm.bias, norm.eps)
            if k is not None:
                x = _dropout(x, self.dropout, k)
        return x


class ReluMLP(eqx.Module):
    """`Linear -> relu` blocks of the given (tapering) widths, then a linear head.

    With `norm=True` each hidden block is `Linear -> LayerNorm -> relu`. The relu networks
    of the companion systems: the joint-ELBO model's dense parts and flow conditioners
    (`sgm_eqx.elbo`), and the symmetry detector's encoder, decoder and t-network
    (`sgm_eqx.detect`). The SGM's own networks use [`sgm_eqx.nn.MLP`][] (App. C's
    `Dense -> gelu -> LayerNorm` blocks, no head). Acts on ONE vector; batch with `jax.vmap`.
    """

    linears: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.LayerNorm, ...] | None
    head: eqx.nn.Linear

    def __init__(
        self,
        in_size: int,
        hidden: tuple[int, ...],
        out_size: int,
        *,
        norm: bool = False,
        zero_head: bool = False,
        key: PRNGKeyArray,
    ):
        """Build the MLP.

        **Arguments:**

        - `in_size`, `out_size`: input and output lengths.
        - `hidden`: hidden widths (e.g. the joint-ELBO paper's `(64, 32)`), may be empty.
        - `norm`: LayerNorm before each relu.
        - `zero_head`: zero-initialise the head (its output is then the constant 0 at init).
        - `key`: PRNG key.
        """
        hidden = layer_sizes("ReluMLP", "hidden", hidden)
        sizes = (int(in_size), *hidden)
        keys = jr.split(key, len(hidden) + 1)
        self.linears = tuple(
            eqx.nn.Linear(a, b, key=k)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys[:-1], strict=True)
        )
        self.norms = tuple(eqx.nn.LayerNorm(h) for h in hidden) if norm else None
        head = eqx.nn.Linear(sizes[-1], int(out_size), key=keys[-1])
        if zero_head:
            head = eqx.tree_at(lambda m: (m.weight, m.bias), head, replace_fn=jnp.zeros_like)
        self.head = head

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        """Apply the MLP to one vector."""
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if self.norms is not None:
                x = self.norms[i](x)
            x = jax.nn.relu(x)
        return self.head(x)


class AbstractImageEncoder(eqx.Module):
    """Maps ONE image `Float[Array, "H W C"]` to a feature vector `Float[Array, " out_size"]`.

    Implementations: [`sgm_eqx.nn.MLPEncoder`][] (flatten + [`sgm_eqx.nn.MLP`][]) and
    [`sgm_eqx.nn.ConvEncoder`][] (small CNN + MLP). `__call__(x, *, key=None)`: a key turns
    on dropout (training); without one the encoder is deterministic.
    """

    image_shape: eqx.AbstractVar[tuple[int, int, int]]

    @property
    @abc.abstractmethod
    def out_size(self) -> int:
        """Length of the feature vector."""

    @abc.abstractmethod
    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Encode one image of shape `image_shape` into a vector of length `out_size`."""


class MLPEncoder(AbstractImageEncoder):
    """Flatten the image (row-major over `H W C`, with einops) and apply an [`sgm_eqx.nn.MLP`][].

    With `hidden=(2048, 1024, 512, 256)` on 28x28x1 images this is the paper's inference
    network body: `784 -> 2048 -> 1024 -> 512 -> 256`.
    """

    mlp: MLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        hidden: tuple[int, ...],
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the encoder.

        **Arguments:**

        - `image_shape`: `(H, W, C)` of the input images.
        - `hidden`: MLP block widths.
        - `dropout`: dropout rate after every block (active only with a key at call time).
        - `key`: PRNG key for the weights.
        """
        h, w, c = image_shape_arg("MLPEncoder", image_shape)
        self.mlp = MLP(h * w * c, hidden, dropout=dropout, key=key)
        self.image_shape = (h, w, c)

    @property
    def out_size(self) -> int:
        """Length of the feature vector (`hidden[-1]`)."""
        return self.mlp.out_size

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Encode one `(H, W, C)` image; `key` turns dropout on."""
        if x.shape != self.image_shape:
            raise ValueError(
                f"`MLPEncoder.__call__(x=...)`: expected an image of shape {self.image_shape}; "
                f"got {x.shape}."
            )
        return self.mlp(einops.rearrange(x, "h w c -> (h w c)"), key=key)


def _conv_out(size: int, stride: int) -> int:
    # kernel 3, padding 1.
    return (size + 2 - 3) // stride + 1


class ConvEncoder(AbstractImageEncoder):
    """A small CNN: `n` blocks `Conv(3x3) -> gelu -> LayerNorm`, flatten, then an MLP.

    The first `n_strided` convolutions have stride 2 (each halves H and W, rounding up),
    the rest stride 1; all use 3x3 kernels with padding 1. LayerNorm normalises over the
    whole `(C, H, W)` feature map with a per-channel affine (`eqx.nn.GroupNorm` with one
    group). Equinox convolutions are channel-first: the input `H W C` image is transposed
    once with einops. The flattened feature map goes through an [`sgm_eqx.nn.MLP`][]
    (`hidden`, may be empty), with dropout (if a key is given) after every MLP block.
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    norms: tuple[eqx.nn.GroupNorm, ...]
    mlp: MLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channels: tuple[int, ...] = (32, 64),
        hidden: tuple[int, ...] = (256,),
        *,
        n_strided: int = 2,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """Build the encoder.

        **Arguments:**

        - `image_shape`: `(H, W, C)` of the input images.
        - `channels`: output channels of each convolution.
        - `hidden`: widths of the MLP blocks after flattening.
        - `n_strided`: how many of the first convolutions have stride 2.
        - `dropout`: dropout rate in the MLP blocks.
        - `key`: PRNG key for the weights.
        """
        image_shape = image_shape_arg("ConvEncoder", image_shape)
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("`ConvEncoder(channels=...)`: expected at least one layer; got ().")
        layer_sizes("ConvEncoder", "channels", channels)
        if not 0 <= n_strided <= len(channels):
            raise ValueError(
                f"`ConvEncoder(n_strided=...)`: expected 0..{len(channels)}; got {n_strided}."
            )
        h, w, c = image_shape
        conv_key, mlp_key = jr.split(key)
        keys = jr.split(conv_key, len(channels))
        convs = []
        for i, (c_in, c_out, k) in enumerate(zip((c, *channels[:-1]), channels, keys, strict=True)):
            stride = 2 if i < n_strided else 1
            convs.append(eqx.nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, key=k))
            h, w = _conv_out(h, stride), _conv_out(w, stride)
        self.convs = tuple(convs)
        self.norms = tuple(eqx.nn.GroupNorm(1, ch) for ch in channels)
        self.mlp = MLP(channels[-1] * h * w, hidden, dropout=dropout, key=mlp_key)
        self.image_shape = image_shape

    @property
    def out_size(self) -> int:
        """Length of the feature vector."""
        return self.mlp.out_size

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Encode one `(H, W, C)` image; `key` turns dropout on."""
        if x.shape != self.image_shape:
            raise ValueError(
                f"`ConvEncoder.__call__(x=...)`: expected an image of shape "
                f"{self.image_shape}; got {x.shape}."
            )
        y = einops.rearrange(x, "h w c -> c h w")
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = norm(jax.nn.gelu(conv(y)))
        return self.mlp(einops.rearrange(y, "c h w -> (c h w)"), key=key)


class BlurredEncoder(AbstractImageEncoder):
    """Blur the image with a Gaussian of `sigma` pixels, then apply `encoder`.

    Used on the flow's condition, the prototype `x̂ = T⁻¹_{f(x)}(x)`: a prototype is one
    resampling of `x` by (close to) `x`'s own pose, so the interpolation blur and aliasing it
    carries grow with that pose and tell a flow conditioned on the raw pixels where in the
    orbit `x` was (docs: results, "Interpolation leaks the pose into the prototype"). A
    blur of about a pixel removes that high-frequency trace and keeps the shape.

    **Jitter (training only).** A fixed blur cannot remove a difference in resolution: the
    prototype of a small input is an upscaled, softer image than that of a large one, and
    stays softer under any common blur. With `jitter = j > 0` and a `key` (training), the
    blur's σ is drawn from `U[σ(1 - j), σ(1 + j)]` per call, so the condition's softness
    varies at random, independently of the target, by more than the pose makes it vary: a
    flow can then no longer tell a soft prototype from a sharp one blurred more, and its
    density cannot depend on the input's size through it. Without a key σ is `sigma`.

    `sigma` and `jitter` are fixed modelling choices (static); the blur has no parameters.
    """

    encoder: AbstractImageEncoder
    sigma: float = eqx.field(static=True)
    jitter: float = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(self, encoder: AbstractImageEncoder, sigma: float, jitter: float = 0.0):
        """Wrap `encoder`: `sigma > 0` in pixels (the filter spans ±3σ, zeros outside).

        `0 <= jitter <= 1` is the fraction by which training varies σ.
        """
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"`BlurredEncoder(sigma=...)`: expected a number > 0; got {sigma!r}.")
        if not (isinstance(jitter, int | float) and 0 <= jitter <= 1):
            raise ValueError(
                f"`BlurredEncoder(jitter=...)`: expected a number in [0, 1]; got {jitter!r}."
            )
        self.encoder = encoder
        self.sigma = float(sigma)
        self.jitter = float(jitter)
        self.image_shape = encoder.image_shape

    @property
    def out_size(self) -> int:
        """`encoder.out_size`."""
        return self.encoder.out_size

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out_size"]:
        """Encode the blurred image; a `key` turns on the jitter and the encoder's dropout."""
        if key is None or self.jitter == 0.0:
            return self.encoder(gaussian_blur(x, self.sigma), key=key)
        blur_key, key = jr.split(key)
        sigma = self.sigma * (1.0 + self.jitter * jr.uniform(blur_key, (), minval=-1.0))
        size = 2 * math.ceil(3.0 * self.sigma * (1.0 + self.jitter)) + 1
        return self.encoder(gaussian_blur(x, sigma, size=size), key=key)
