"""The Symmetry-aware Generative Model (paper Sec. 2): template action, q_ω(η | x), p_ψ(η | x̂)."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.random as jr
from flowjax.distributions import AbstractDistribution
from jaxtyping import Array, Float, PRNGKeyArray

from .groups import AbstractGroupAction
from .nn import (
    AbstractInferenceNet,
    AbstractTransformationDensity,
    ImageConditioned,
    PointEstimate,
)


class SGM(eqx.Module):
    r"""A Symmetry-aware Generative Model: x = T_η(x̂), η ~ p_ψ(η | x̂) (paper eqs. 1-3).

    A pytree of three swappable pieces:

    - `template`: an [`sgm_eqx.groups.AbstractGroupAction`][] element (usually
      `Affine2D.identity(order=3)`); η becomes an element via `template.with_params(eta)`;
    - `inference_net`: q_ω(η | x) / f_ω, an [`sgm_eqx.nn.AbstractInferenceNet`][]; any
      other function `f(x: Float[Array, "H W C"], *, key=None) -> Float[Array, " n_params"]`
      is wrapped in an [`sgm_eqx.nn.PointEstimate`][] (a point estimate, zero scale);
    - `flow`: p_ψ(η | x̂), an [`sgm_eqx.nn.AbstractTransformationDensity`][] (e.g.
      [`sgm_eqx.nn.TransformationFlow`][]); any other flowjax distribution with
      `shape == (n_params,)` and `cond_shape == (H, W, C)` is wrapped in an
      [`sgm_eqx.nn.ImageConditioned`][] (no dropout).

    All methods act on ONE example (batch with `jax.vmap` / `eqx.filter_vmap`) and are
    pure; the inference net is used deterministically (no key) everywhere here.
    `__check_init__` checks, from their declared shapes, that the template, the inference
    net and the flow agree on `n_params` and on the images.
    """

    template: AbstractGroupAction
    inference_net: AbstractInferenceNet
    flow: AbstractTransformationDensity

    def __init__(
        self,
        template: AbstractGroupAction,
        inference_net: AbstractInferenceNet | Callable[..., Float[Array, " n_params"]],
        flow: AbstractDistribution,
    ):
        """Assemble the three pieces (see the class docstring).

        An `inference_net` that is not an [`sgm_eqx.nn.AbstractInferenceNet`][] (a plain
        function, or a Module with the call signature) is wrapped in an
        [`sgm_eqx.nn.PointEstimate`][] for the template's `n_params` and the flow's images;
        a `flow` that is not an [`sgm_eqx.nn.AbstractTransformationDensity`][] in an
        [`sgm_eqx.nn.ImageConditioned`][].
        """
        cond_shape = flow.cond_shape
        if cond_shape is None or len(cond_shape) != 3:
            raise ValueError(
                f"`SGM(flow=...)`: expected a distribution conditioned on (H, W, C) images; "
                f"got cond_shape={cond_shape}."
            )
        if not isinstance(inference_net, AbstractInferenceNet):
            inference_net = PointEstimate(
                inference_net, n_params=template.n_params, image_shape=cond_shape
            )
        if not isinstance(flow, AbstractTransformationDensity):
            flow = ImageConditioned(flow, cond_shape)  # pyright: ignore[reportArgumentType]
        self.template = template
        self.inference_net = inference_net
        self.flow = flow

    def __check_init__(self):
        cond_shape = tuple(self.flow.cond_shape)  # pyright: ignore[reportArgumentType]
        net = self.inference_net
        if tuple(net.image_shape) != cond_shape:
            raise ValueError(
                f"`SGM(inference_net=...)`: it takes images of shape {tuple(net.image_shape)}, "
                f"but the flow is conditioned on {cond_shape}; build both for the same images."
            )
        n_template = self.template.n_params
        if not (net.n_params == n_template and tuple(self.flow.shape) == (n_template,)):
            raise ValueError(
                "`SGM(template=..., inference_net=..., flow=...)`: n_params must agree; got "
                f"template.n_params={n_template}, inference_net.n_params={net.n_params}, "
                f"flow.shape={tuple(self.flow.shape)}."
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(H, W, C)` of the images (the flow's `cond_shape`)."""
        return self.flow.cond_shape  # pyright: ignore[reportReturnType]

    @property
    def n_params(self) -> int:
        """Number of transformation parameters η."""
        return self.template.n_params

    def infer(
        self, x: Float[Array, "H W C"]
    ) -> tuple[Float[Array, " n_params"], Float[Array, " n_params"]]:
        """What transformation maps the prototype of x to x? Returns `(η, scale)`.

        η = f_ω(x) is the inference net's point estimate; `scale` is the homoscedastic
        scale of q_ω in its unbounded coordinates u
        ([`sgm_eqx.nn.AbstractInferenceNet.loc_and_scale`][]; zeros for a
        [`sgm_eqx.nn.PointEstimate`][]).
        """
        return self.inference_net(x), self.inference_net.scale(x)

    def prototype(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """The prototype x̂ = T_{f(x)}^{-1}(x) of x (one resampling of x)."""
        g = self.template.with_params(self.inference_net(x))
        return g.inverse().apply(x)

    def log_prob(
        self, eta: Float[Array, " n_params"], x_hat: Float[Array, "H W C"]
    ) -> Float[Array, ""]:
        """How natural is the transformation η for prototype x̂? log p_ψ(η | x̂)."""
        return self.flow.log_prob(eta, condition=x_hat)

    def sample_eta(
        self, x_hat: Float[Array, "H W C"], key: PRNGKeyArray, n: int
    ) -> Float[Array, "n n_params"]:
        """`n` samples η ~ p_ψ(η | x̂), shape `(n, n_params)`.

        Vmapped over `jr.split(key, n)` with x̂ unbatched, so x̂-only work (the flow's
        feature extractor) runs once, and no rank promotion is needed.
        """
        return jax.vmap(lambda k: self.flow.sample(k, condition=x_hat))(jr.split(key, n))

    def resample(
        self, x: Float[Array, "H W C"], key: PRNGKeyArray, n: int
    ) -> Float[Array, "n H W C"]:
        """`n` new natural variants of x: T_η(x̂) with x̂ = T_{f(x)}^{-1}(x), η ~ p_ψ(η | x̂).

        Each variant is computed as ONE resampling of x by the composed element
        T_η ∘ T_{f(x)}^{-1} (Sec. 3.1: compose before applying), not by resampling the
        already-resampled prototype again. x̂ itself is resampled once to condition the
        flow. Same key -> same η's as `sample_eta(prototype(x), key, n)`.
        """
        g_inv = self.template.with_params(self.inference_net(x)).inverse()
        etas = self.sample_eta(g_inv.apply(x), key, n)

        def variant(eta):
            return self.template.with_params(eta).compose(g_inv).apply(x)

        return jax.vmap(variant)(etas)

    def iterate_prototypes(
        self, x: Float[Array, "H W C"], n: int
    ) -> tuple[Float[Array, "n H W C"], Float[Array, "n n_params"]]:
        """The prototype chain of Fig. 11: x̂_0 = x, x̂_{i+1} = prototype(x̂_i).

        **Returns:** `(prototypes, etas)` with `prototypes[i] = x̂_{i+1}` (shape
        `(n, H, W, C)`) and `etas[i] = f(x̂_i)` (shape `(n, n_params)`), so
        `prototypes[i] = T_{etas[i]}^{-1}(x̂_i)`. For a perfect inference net
        `etas[1:] ≈ 0` and the prototypes stop changing after the first step.
        """
        if int(n) < 1:
            raise ValueError(f"`SGM.iterate_prototypes(n=...)`: expected >= 1; got {n}.")

        def step(x_i, _):
            eta = self.inference_net(x_i)
            x_next = self.template.with_params(eta).inverse().apply(x_i)
            return x_next, (x_next, eta)

        _, (prototypes, etas) = jax.lax.scan(step, x, None, length=int(n))
        return prototypes, etas


def make_sgm(
    *,
    action: AbstractGroupAction,
    inference: Callable[..., Float[Array, " n_params"]],
    flow: AbstractDistribution,
) -> SGM:
    """An [`sgm_eqx.SGM`][] from its built pieces, with checks that name the argument.

    The pieces come from the factories ([`sgm_eqx.nn.make_inference_net`][],
    [`sgm_eqx.nn.make_transformation_flow`][]) or from anywhere else; one function maps a
    configuration to pieces: [`sgm_eqx.train.build_model`][] (the paper's networks at the
    sizes of a [`sgm_eqx.train.ModelConfig`][]).

    **Arguments:**

    - `action`: the template element (e.g. `Affine2D.identity(order=3)`); its `n_params`
      sets the dimension of η.
    - `inference`: an inference net (any Module with the inference-net call signature; one
      that is not an [`sgm_eqx.nn.AbstractInferenceNet`][] is wrapped in a
      [`sgm_eqx.nn.PointEstimate`][]).
    - `flow`: a flowjax conditional distribution of η given the prototype image.

    **Returns:** `SGM(action, inference, flow)`, whose own checks compare the pieces'
    declared shapes (`n_params`, the image shape).
    """
    if not isinstance(action, AbstractGroupAction):
        raise TypeError(
            f"`make_sgm(action=...)`: expected an AbstractGroupAction element; got "
            f"{type(action).__name__}."
        )
    return SGM(action, inference, flow)
