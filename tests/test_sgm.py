from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import pytest
from jaxtyping import TypeCheckError

IMAGE = (8, 8, 1)
# one width everywhere (as in tests/test_nn): eager initialisation compiles per weight shape
SIZES: dict[str, Any] = dict(feature_hidden=(16, 16), base_hidden=(16,), nn_width=16, flow_layers=2)


def _sgm_of(key, action, image_shape, *, inference=None, flow=None, eta_bound=None):
    """`make_sgm` from pieces; the pieces not given are built at the small `SIZES`."""
    from sgm_eqx import _sgm
    from sgm_eqx.nn import make_inference_net, make_transformation_flow

    k_net, k_flow = jr.split(key)
    if inference is None:
        inference = make_inference_net(
            k_net,
            image_shape=image_shape,
            n_params=action.n_params,
            hidden=(16, 16),
            eta_bound=eta_bound,
        )
    if flow is None:
        flow = make_transformation_flow(
            k_flow, image_shape=image_shape, n_params=action.n_params, eta_bound=eta_bound, **SIZES
        )
    return _sgm.make_sgm(action=action, inference=inference, flow=flow)


def _offset_cls():
    """A user-defined action (brightness offset per channel): T_η(x) = x + η."""
    from sgm_eqx.groups import AbstractGroupAction

    class Offset(AbstractGroupAction["Offset"]):
        eta: jax.Array
        n_params: int = eqx.field(static=True)

        @classmethod
        def identity(cls, *, n_params=1):
            return cls(eta=jnp.zeros(n_params), n_params=n_params)

        @classmethod
        def from_params(cls, eta, **config):
            return cls(eta=eta, n_params=eta.shape[0])

        def with_params(self, eta):
            return Offset(eta=eta, n_params=self.n_params)

        def compose(self, other):
            return Offset(eta=self.eta + other.eta, n_params=self.n_params)

        def inverse(self):
            return Offset(eta=-self.eta, n_params=self.n_params)

        def describe(self, x):
            return {f"offset{i}": self.eta[i] for i in range(self.n_params)}

        def apply(self, x):
            return x + self.eta[None, None, :]

    return Offset


class MeanOffsetNet(eqx.Module):
    """A perfect, parameter-free inference net for `Offset` on one channel: f(x) = mean(x),
    so f(x + c) = f(x) + c and the prototype x - mean(x) has mean 0. Not an
    `AbstractInferenceNet`: any Module with the call signature works."""

    def __call__(self, x, *, key=None):
        return jnp.mean(x, keepdims=True).reshape(1)


@pytest.fixture(scope="module")
def offset_sgm():
    return _sgm_of(jr.key(0), _offset_cls().identity(n_params=1), IMAGE)


@pytest.fixture(scope="module")
def x():
    return jr.uniform(jr.key(1), IMAGE)


@eqx.filter_jit
def _all_methods(model, x, key):
    eta, scale = model.infer(x)
    x_hat = model.prototype(x)
    return dict(
        eta=eta,
        scale=scale,
        x_hat=x_hat,
        log_prob=model.log_prob(eta, x_hat),
        samples=model.sample_eta(x_hat, key, 3),
        variants=model.resample(x, key, 3),
        chain=model.iterate_prototypes(x, 4),
    )


def test_methods_have_documented_shapes(offset_sgm, x):
    out = _all_methods(offset_sgm, x, jr.key(2))
    assert out["eta"].shape == out["scale"].shape == (1,)
    assert out["x_hat"].shape == IMAGE and out["log_prob"].shape == ()
    assert out["samples"].shape == (3, 1) and out["variants"].shape == (3, *IMAGE)
    assert out["chain"][0].shape == (4, *IMAGE) and out["chain"][1].shape == (4, 1)
    # identity at init: η = 0 exactly, x̂ = x exactly for the additive action, and the flow
    # is N(0, 1) at init: log p(0 | x̂) = -log(2π)/2.
    assert jnp.array_equal(out["eta"], jnp.zeros(1)) and jnp.array_equal(out["x_hat"], x)
    assert jnp.allclose(out["log_prob"], -0.5 * jnp.log(2 * jnp.pi), atol=1e-6)
    assert jnp.allclose(out["scale"], 1e-2)
    assert jnp.array_equal(out["chain"][0], jnp.broadcast_to(x, (4, *IMAGE)))


def test_resample_with_identity_inference_is_t_eta_of_x(offset_sgm, x):
    out = _all_methods(offset_sgm, x, jr.key(3))
    # same key -> same η's; with f(x) = 0 each variant is T_η(x) = x + η
    expected = x[None] + out["samples"][:, None, None, :]
    assert jnp.allclose(out["variants"], expected, atol=1e-6)
    assert not jnp.allclose(out["samples"][0], out["samples"][1])


def test_perfect_inference_gives_a_fixed_point_chain(offset_sgm, x):
    from sgm_eqx import _sgm

    model = _sgm.SGM(offset_sgm.template, MeanOffsetNet(), offset_sgm.flow)
    out = _all_methods(model, x, jr.key(4))
    protos, etas = out["chain"]
    assert jnp.allclose(etas[0], jnp.mean(x), atol=1e-6)
    # float32 mean of 64 values in [0, 1): round-off ~1e-7.
    assert jnp.allclose(etas[1:], 0.0, atol=1e-6)
    assert jnp.allclose(protos, (x - jnp.mean(x))[None], atol=1e-6)
    assert jnp.array_equal(out["scale"], jnp.zeros(1))  # point-estimate net: zero scale
    # resample composes T_η ∘ T_f(x)^{-1} and applies it to x once: x - mean(x) + η
    assert jnp.allclose(
        out["variants"], (x - jnp.mean(x))[None] + out["samples"][:, None, None, :], atol=1e-6
    )


def test_affine_template_with_cnn_inference_net(x):
    from sgm_eqx.groups import Affine2D
    from sgm_eqx.nn import make_inference_net

    cnn = make_inference_net(
        jr.key(5),
        image_shape=IMAGE,
        n_params=5,
        hidden=(16,),
        backbone="cnn",
        conv_channels=(4, 4),
    )
    model = _sgm_of(
        jr.key(6),
        Affine2D.identity(order=3),
        IMAGE,
        inference=cnn,
        eta_bound=(0.25, 0.25, jnp.pi, 0.25, 0.25),
    )
    out = _all_methods(model, x, jr.key(7))
    assert out["eta"].shape == (5,) and out["variants"].shape == (3, *IMAGE)
    # η = 0 at init: the order-3 identity resampling reproduces x up to the B-spline
    # prefilter's float32 round-off.
    assert jnp.allclose(out["x_hat"], x, atol=1e-4)
    assert jnp.all(jnp.abs(out["samples"]) <= jnp.array([[0.25, 0.25, jnp.pi, 0.25, 0.25]]))
    assert jnp.all(jnp.isfinite(out["variants"]))


def test_product_action_with_a_flowjax_coupling_flow():
    from flowjax.distributions import Normal
    from flowjax.flows import coupling_flow

    from sgm_eqx.groups import Affine2D, HSVColor, Product
    from sgm_eqx.nn import ImageConditioned

    image = (8, 8, 3)
    action = Product(Affine2D.identity(order=1), HSVColor.identity())
    flow = ImageConditioned(
        coupling_flow(
            jr.key(8),
            base_dist=Normal(jnp.zeros(8)),
            cond_dim=8 * 8 * 3,
            flow_layers=1,
            nn_width=16,
        ),
        image,
    )
    model = _sgm_of(jr.key(9), action, image, flow=flow)
    x_rgb = jr.uniform(jr.key(10), image)
    out = _all_methods(model, x_rgb, jr.key(11))
    assert out["eta"].shape == (8,) and out["samples"].shape == (3, 8)
    assert out["variants"].shape == (3, *image)
    assert jnp.isfinite(out["log_prob"]) and jnp.all(jnp.isfinite(out["variants"]))


def test_check_init_names_all_three_n_params(offset_sgm):
    from flowjax.distributions import Normal

    from sgm_eqx import _sgm

    Offset = _offset_cls()
    with pytest.raises(ValueError, match=r"template.n_params=2.*inference_net.n_params=1.*\(1,\)"):
        _sgm.SGM(Offset.identity(n_params=2), offset_sgm.inference_net, offset_sgm.flow)
    with pytest.raises(ValueError, match="cond_shape"):
        _sgm.SGM(offset_sgm.template, offset_sgm.inference_net, Normal(jnp.zeros(1)))


def test_check_init_reports_an_inference_net_that_rejects_the_image_shape(offset_sgm):
    from sgm_eqx import _sgm
    from sgm_eqx.nn import make_inference_net

    net = make_inference_net(jr.key(12), image_shape=(8, 8, 2), n_params=1, hidden=(16, 16))
    with pytest.raises(ValueError, match=r"inference_net.*\(8, 8, 1\)"):
        _sgm.SGM(offset_sgm.template, net, offset_sgm.flow)


def test_make_sgm_rejects_mismatched_flow_and_non_actions(offset_sgm):
    from sgm_eqx import _sgm
    from sgm_eqx.nn import make_inference_net

    net = make_inference_net(jr.key(0), image_shape=(4, 4, 1), n_params=1, hidden=(16, 16))
    with pytest.raises(ValueError, match=r"\(4, 4, 1\).*flow is conditioned on \(8, 8, 1\)"):
        _sgm.make_sgm(action=offset_sgm.template, inference=net, flow=offset_sgm.flow)
    # plain users get our TypeError; under the test hook the annotation check fires first
    with pytest.raises((TypeError, TypeCheckError), match="action"):
        _sgm.make_sgm(
            action="affine",  # pyright: ignore[reportArgumentType]  (invalid on purpose)
            inference=net,
            flow=offset_sgm.flow,
        )


def test_sgm_is_a_pytree_gradients_reach_both_networks(offset_sgm, x):
    @eqx.filter_jit
    @eqx.filter_grad
    def grad(model):
        x_hat = model.prototype(x + 0.1)
        return -model.log_prob(model.inference_net(x, key=jr.key(0)), x_hat)

    g = grad(offset_sgm)
    assert float(jnp.abs(g.inference_net.head.weight).sum()) > 0
    assert float(jnp.abs(g.flow.unbounded.base_dist.out.weight).sum()) > 0


def test_a_plain_flowjax_density_on_images_is_wrapped_and_trains_without_dropout():
    """A flowjax distribution conditioned on `(H, W, C)` images becomes an
    `ImageConditioned` inside the SGM, and the stage-2 loss's training-mode log-density
    is its ordinary `log_prob` (it has no dropout)."""
    from flowjax.distributions import AbstractDistribution
    from jax.scipy import stats as jstats

    from sgm_eqx import SGM
    from sgm_eqx.groups import Affine2D
    from sgm_eqx.losses._model_api import flow_log_prob
    from sgm_eqx.nn import AbstractTransformationDensity, ImageConditioned

    image = (6, 6, 1)

    class MeanShifted(AbstractDistribution):
        """η ~ N(mean(x̂), 1) per coordinate: a flowjax density conditioned on images."""

        shape: tuple[int, ...] = (5,)
        cond_shape: tuple[int, ...] | None = image

        def _log_prob(self, x, condition=None):
            assert condition is not None  # flowjax checks cond_shape before calling
            return jnp.sum(jstats.norm.logpdf(x - jnp.mean(condition)))

        def _sample(self, key, condition=None):
            assert condition is not None
            return jnp.mean(condition) + jr.normal(key, self.shape)

    model = SGM(Affine2D.identity(order=1), lambda x, key=None: jnp.zeros(5), MeanShifted())
    assert isinstance(model.flow, ImageConditioned)
    assert isinstance(model.flow, AbstractTransformationDensity)
    x_hat = jr.uniform(jr.key(0), image)
    eta = jnp.arange(5.0) / 10
    expected = jnp.sum(jstats.norm.logpdf(eta - jnp.mean(x_hat)))
    assert jnp.allclose(model.flow.log_prob(eta, condition=x_hat), expected)
    assert jnp.allclose(flow_log_prob(model.flow, eta, x_hat, jr.key(1)), expected)
