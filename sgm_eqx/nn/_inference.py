"""The transformation inference network q_ω(η | x) (paper Sec. 2.1, App. B, App. C)."""

import abc
import math
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import image_shape_arg
from ._mlp import (
    PAPER_INFERENCE_HIDDEN,
    AbstractImageEncoder,
    ConvEncoder,
    MLPEncoder,
    dense,
)
from ._pose_features import N_TURNING, PoseFeatureEncoder, _angle, turning_vectors

#: Default initial scale of q_ω(η | x) in the unbounded coordinates u.
DEFAULT_INIT_SCALE = 1e-2


def _check_eta_bound(name: str, eta_bound, n_params: int) -> tuple[float, ...] | None:
    """Normalise `eta_bound` to a tuple of `n_params` positive floats (or None)."""
    if eta_bound is None:
        return None
    if isinstance(eta_bound, int | float):
        bound = (float(eta_bound),) * n_params
    else:
        bound = tuple(float(b) for b in np.ravel(np.asarray(eta_bound, dtype=np.float64)))
    if len(bound) != n_params:
        raise ValueError(
            f"`{name}(eta_bound=...)`: expected a scalar or {n_params} bounds (one per "
            f"parameter); got {len(bound)}."
        )
    if not all(math.isfinite(b) and b > 0 for b in bound):
        raise ValueError(f"`{name}(eta_bound=...)`: expected positive finite bounds; got {bound}.")
    return bound


class AbstractInferenceNet(eqx.Module):
    """Interface of a transformation inference network q_ω(η | x) (f_ω in the paper).

    The contract used by the losses and by [`sgm_eqx.SGM`][] is `__call__` alone:

        net(x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None)
            -> Float[Array, " n_params"]

    - with a `key`: one reparameterised sample η ~ q_ω(η | x) (differentiable w.r.t. ω;
      dropout, if any, active);
    - without a key: the deterministic point estimate (the bounded mean, no dropout).

    Any `eqx.Module` with that call signature can be used where an inference net is
    expected; subclass this to also expose the parameters of q via `loc_and_scale`.
    One example at a time; batch with `jax.vmap`.
    """

    n_params: eqx.AbstractVar[int]
    image_shape: eqx.AbstractVar[tuple[int, int, int]]

    @abc.abstractmethod
    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n_params"]:
        """η for one image: a sample of q_ω(η | x) with a key, the point estimate without."""

    @abc.abstractmethod
    def loc_and_scale(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " n_params"], Float[Array, " n_params"]]:
        """The Normal parameters `(loc, scale)` of q_ω in the *unbounded* coordinates u.

        For an unbounded net η = u; a bounded net maps u to η (see its docstring).
        `key` turns dropout on (training).
        """

    @abc.abstractmethod
    def bound(self, u: Float[Array, " n_params"]) -> Float[Array, " n_params"]:
        """Map unbounded coordinates u to η (the identity for an unbounded net).

        `net(x, key=k)` is `bound(loc + scale * ε)` and `net(x)` is `bound(loc)`, with
        `(loc, scale) = loc_and_scale(x)`: losses may run `loc_and_scale` once and draw
        several samples through `bound`.
        """

    def scale(self, x: Float[Array, "H W C"]) -> Float[Array, " n_params"]:
        """The scale of q_ω(u | x), deterministic.

        Under `jit` the loc computation is dropped when only the scale is used.
        """
        return self.loc_and_scale(x)[1]


class InferenceNet(AbstractInferenceNet):
    r"""q_ω(η | x): an image encoder, a linear head for the mean, a homoscedastic scale.

    $u \sim \mathcal{N}(\mathrm{loc}_\omega(x), \mathrm{diag}(\sigma^2))$ with
    $\sigma = \mathrm{softplus}(\rho)$ a learned vector (one entry per η dimension, the same
    for every x: App. B "Learning q instead of f"), and

    - `eta_bound is None`: η = u;
    - `eta_bound = η_max`, `squash=True`: η = η_max ⊙ tanh(u) (the `tanh` and `scale`
      bijectors of App. C.2/C.3), so |η_i| < η_max_i;
    - `eta_bound = η_max`, `squash=False`: η = η_max ⊙ u, unbounded but with u in units of
      η_max (the authors' code scales q's output by the augmentation bounds this way, so a
      rotation output has the gain π and not 1).

    **Initialisation (identity transformation):** the head's weight and bias are zero, so
    `loc(x) = 0` and the point estimate η is exactly 0 for every x (T_0 = identity);
    the initial σ is `init_scale` (default `1e-2`) in u. (With `angles`, those parameters
    start at the image's own orientation instead; see below.)

    **Reading out a rotation without a tear (not in the paper).** Two charts make a
    canonicalising q impossible to learn for rotations over the whole circle, and both
    are options here:

    - *The angle.* A real-valued angle output that follows the input's rotation must jump
      somewhere on the orbit; the pixel loss of such a jump saturates, so training keeps
      jumps of 120° or 180° (prototypes split by half a turn). With `angles` (indices of
      parameters in radians, e.g. `(2,)` for [`sgm_eqx.groups.Affine2D`][]), parameter `i`
      is `arg v`, `v = Σ_k (1 + a_k + i b_k) z_k(x)`, where `z_k` are the image's
      [`sgm_eqx.nn.turning_vectors`][] and `(a_k, b_k)` further outputs of the head (zero at
      init). A rotation of the input by `α` turns every `z_k` by `α`, so at init the angle
      turns with the image over the whole circle, and training only has to learn the
      offset of each class's canonical pose and which moment to trust. Angle parameters are
      not bounded by `eta_bound` (see `bound`).
    - *The translation.* In exponential coordinates the translation column of
      `exp(Σ η_i G_i)` is `V(θ) t`, not `t`, and `t = V(θ)^{-1} τ` swings by `θ / 2` and
      flips sign where `θ` wraps, so a network predicting `t` does well only for small
      rotations. `readout` maps the head's coordinates to η; with
      [`sgm_eqx.groups.params_with_translation`][] the head predicts the translation
      column itself (for an object at `c`, simply `c`).

    Measured on the recovery suite (docs: results, "Rotation over the whole circle"): the
    two together removed the 180° split of the bimodal arrow and canonicalised the
    uniformly rotated heart; neither alone did.

    **Call:** `net(x, *, key=None)` - see [`sgm_eqx.nn.AbstractInferenceNet`][]. With a key,
    the key is split into a dropout key and a noise key; η = bound(loc + σ ⊙ ε),
    ε ~ N(0, I) (reparameterised). Without a key: η = bound(loc), no dropout.
    One example at a time; batch with `jax.vmap`.
    """

    encoder: AbstractImageEncoder
    head: eqx.nn.Linear
    raw_scale: Float[Array, " n_params"]
    n_params: int = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    eta_bound: tuple[float, ...] | None = eqx.field(static=True)
    squash: bool = eqx.field(static=True)
    angles: tuple[int, ...] = eqx.field(static=True)
    readout: Callable[[Array], Array] | None

    def __init__(
        self,
        encoder: AbstractImageEncoder,
        n_params: int,
        *,
        eta_bound: float | tuple[float, ...] | Float[Array, " n_params"] | None = None,
        squash: bool = True,
        init_scale: float = DEFAULT_INIT_SCALE,
        angles: tuple[int, ...] = (),
        readout: Callable[[Array], Array] | None = None,
        key: PRNGKeyArray,
    ):
        """Wrap an encoder with a zero-initialised head and a homoscedastic scale.

        **Arguments:**

        - `encoder`: any [`sgm_eqx.nn.AbstractImageEncoder`][] (its `image_shape` is the
          net's input shape).
        - `n_params`: number of transformation parameters (the action's `n_params`).
        - `eta_bound`: `None`, or η_max (a positive scalar or one per parameter).
        - `squash`: with `eta_bound`, η = η_max tanh(u) (`True`) or η = η_max u (`False`).
        - `init_scale`: the initial σ of q in u (positive).
        - `angles`: indices of parameters that are angles in radians (e.g. `(2,)`, the
          rotation of [`sgm_eqx.groups.Affine2D`][]), read out so that they turn with the
          image (class docstring) and never bounded.
        - `readout`: `None`, or a function from the head's coordinates (after `angles`)
          to η, applied to `loc` (e.g. [`sgm_eqx.groups.params_with_translation`][]).
        - `key`: PRNG key for the head (its weight and bias are then zeroed; the key keeps
          the construction pattern uniform).
        """
        if int(n_params) < 1:
            raise ValueError(f"`InferenceNet(n_params=...)`: expected >= 1; got {n_params}.")
        if not (math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"`InferenceNet(init_scale=...)`: expected > 0; got {init_scale}.")
        n_params = int(n_params)
        angles = tuple(int(i) for i in angles)
        if len(set(angles)) != len(angles) or not all(0 <= i < n_params for i in angles):
            raise ValueError(
                f"`InferenceNet(angles=...)`: expected distinct parameter indices in "
                f"[0, {n_params}); got {angles}."
            )
        n_extra = 2 * N_TURNING * len(angles)
        head = eqx.nn.Linear(encoder.out_size, n_params + n_extra, key=key)
        self.head = eqx.tree_at(lambda m: (m.weight, m.bias), head, replace_fn=jnp.zeros_like)
        # inverse softplus, computed stably: log(expm1(s)).
        self.raw_scale = jnp.full((n_params,), math.log(math.expm1(init_scale)), dtype=float)
        self.encoder = encoder
        self.n_params = n_params
        self.image_shape = encoder.image_shape
        self.eta_bound = _check_eta_bound("InferenceNet", eta_bound, n_params)
        self.squash = bool(squash)
        self.angles = angles
        self.readout = readout

    def bound(self, u: Float[Array, " n_params"]) -> Float[Array, " n_params"]:
        """η = u (no `eta_bound`), η = η_max ⊙ tanh(u) (`squash`) or η = η_max ⊙ u.

        Angle parameters (`angles`) are left as they are (`η_i = u_i`): neither bounded nor
        wrapped. Wrapping to `(-π, π]` was measured worse: a class whose canonical angle
        sits near ±π then gives the flow two modes at `-π` and `π` (the size-varying arrow
        of the recovery suite got a spurious rotation W1 of 1.07 instead of 0.003).
        """
        if self.eta_bound is None:
            return u
        eta = jnp.asarray(self.eta_bound, dtype=u.dtype) * (jnp.tanh(u) if self.squash else u)
        if self.angles:
            idx = jnp.asarray(self.angles)
            eta = eta.at[idx].set(u[idx])
        return eta

    def loc_and_scale(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " n_params"], Float[Array, " n_params"]]:
        """`(loc(x), σ)` of q_ω(u | x) in the unbounded coordinates; `key` turns dropout on."""
        out = dense(self.head, self.encoder(x, key=key))
        loc = out[: self.n_params]
        if self.angles:
            # v = Σ_k (1 + a_k + i b_k) z_k(x): the head starts at zero, so at init
            # v = Σ_k z_k and the angle turns with the image (class docstring).
            z = turning_vectors(x)[None]  # (1, N_TURNING, 2)
            ab = out[self.n_params :].reshape(len(self.angles), N_TURNING, 2)
            re, im = 1.0 + ab[..., 0], ab[..., 1]
            vx = jnp.sum(re * z[..., 0] - im * z[..., 1], axis=-1)
            vy = jnp.sum(re * z[..., 1] + im * z[..., 0], axis=-1)
            loc = loc.at[jnp.asarray(self.angles)].set(jax.vmap(_angle)(vx, vy))
        if self.readout is not None:
            loc = self.readout(loc)
        return loc, jax.nn.softplus(self.raw_scale)

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n_params"]:
        """η for one `(H, W, C)` image.

        **Arguments:**

        - `x`: the image, shape `image_shape`.
        - `key`: `None` for the deterministic point estimate bound(loc(x)); a key for a
          reparameterised sample bound(loc(x) + σ ε) with dropout active.

        **Returns:** η of shape `(n_params,)`.
        """
        if key is None:
            loc, _ = self.loc_and_scale(x)
            return self.bound(loc)
        dropout_key, noise_key = jr.split(key)
        loc, scale = self.loc_and_scale(x, key=dropout_key)
        return self.bound(loc + scale * jr.normal(noise_key, loc.shape, loc.dtype))


class PointEstimate(AbstractInferenceNet):
    """Any function `f(x, *, key=None) -> η` as an inference net: q_ω with zero scale.

    The paper's f_ω is a point estimate; this adapts one (a plain function, or an
    `eqx.Module` whose arrays then train) to [`sgm_eqx.nn.AbstractInferenceNet`][]:
    `loc_and_scale(x) = (f(x), 0)` and `bound` is the identity. [`sgm_eqx.SGM`][] wraps any
    inference net that is not an `AbstractInferenceNet` in one.
    """

    fn: Callable[..., Float[Array, " n_params"]]
    n_params: int = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        fn: Callable[..., Float[Array, " n_params"]],
        *,
        n_params: int,
        image_shape: tuple[int, int, int],
    ):
        """Wrap `fn`, which maps ONE `image_shape` image to `n_params` numbers."""
        self.fn = fn
        self.n_params = int(n_params)
        self.image_shape = image_shape_arg("PointEstimate", image_shape)

    def __call__(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n_params"]:
        """`f(x, key=key)`, checked to have shape `(n_params,)`."""
        eta = self.fn(x, key=key)
        if eta.shape != (self.n_params,):
            raise ValueError(
                f"`PointEstimate`: the wrapped inference net returned shape {eta.shape} for "
                f"an image of shape {x.shape}; expected ({self.n_params},) (the template's "
                "n_params)."
            )
        return eta

    def loc_and_scale(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " n_params"], Float[Array, " n_params"]]:
        """`(f(x), 0)`."""
        eta = self(x, key=key)
        return eta, jnp.zeros_like(eta)

    def bound(self, u: Float[Array, " n_params"]) -> Float[Array, " n_params"]:
        """The identity."""
        return u


def make_inference_net(
    key: PRNGKeyArray,
    *,
    image_shape: tuple[int, int, int],
    n_params: int,
    hidden: tuple[int, ...] = PAPER_INFERENCE_HIDDEN,
    backbone: Literal["mlp", "cnn"] = "mlp",
    conv_channels: tuple[int, ...] = (32, 64),
    eta_bound: float | tuple[float, ...] | Float[Array, " n_params"] | None = None,
    squash: bool = True,
    dropout: float = 0.0,
    init_scale: float = DEFAULT_INIT_SCALE,
    pose_features: bool = False,
    angles: tuple[int, ...] = (),
    readout: Callable[[Array], Array] | None = None,
) -> InferenceNet:
    """Build the paper's inference network q_ω(η | x) (App. C "Inference network").

    **Arguments:**

    - `key`: PRNG key.
    - `image_shape`: `(H, W, C)` of the inputs.
    - `n_params`: number of transformation parameters.
    - `hidden`: MLP block widths; paper: `(2048, 1024, 512, 256)`. For `backbone="cnn"`,
      the widths of the MLP after the convolutions.
    - `backbone`: `"mlp"` ([`sgm_eqx.nn.MLPEncoder`][], the paper's) or `"cnn"`
      ([`sgm_eqx.nn.ConvEncoder`][] with `conv_channels`, first two convs stride 2).
    - `conv_channels`: channels of the CNN backbone (ignored for `"mlp"`).
    - `eta_bound`: `None` or η_max (scalar or per parameter): η = η_max tanh(u).
    - `squash`: `False` makes it η = η_max u (scaled, not bounded).
    - `dropout`: dropout rate in the MLP blocks (active only when called with a key).
    - `init_scale`: initial homoscedastic scale of q in u (default `1e-2`).
    - `pose_features`: wrap the backbone in a [`sgm_eqx.nn.PoseFeatureEncoder`][] (a
      branch over the image's centroid moments; not in the paper).
    - `angles`: parameters read out as angles (see [`sgm_eqx.nn.InferenceNet`][]).

    **Returns:** an [`sgm_eqx.nn.InferenceNet`][] with η = 0 for every x at init.
    """
    enc_key, head_key = jr.split(key)
    image_shape = image_shape_arg("make_inference_net", image_shape)
    if backbone == "mlp":
        encoder = MLPEncoder(image_shape, hidden, dropout=dropout, key=enc_key)
    elif backbone == "cnn":
        encoder = ConvEncoder(
            image_shape,
            conv_channels,
            hidden,
            n_strided=min(2, len(conv_channels)),
            dropout=dropout,
            key=enc_key,
        )
    else:
        raise ValueError(
            f"`make_inference_net(backbone=...)`: expected 'mlp' or 'cnn'; got {backbone!r}."
        )
    if pose_features:
        encoder = PoseFeatureEncoder(encoder, dropout=dropout, key=jr.fold_in(enc_key, 1))
    return InferenceNet(
        encoder,
        n_params,
        eta_bound=eta_bound,
        squash=squash,
        init_scale=init_scale,
        angles=angles,
        readout=readout,
        key=head_key,
    )
