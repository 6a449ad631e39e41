from typing import Any

import equinox as eqx
import jax
import jax.extend
import jax.numpy as jnp
import jax.random as jr
import pytest
from jax.scipy import stats as jstats

IMAGE = (8, 8, 1)
# One width everywhere: eager initialisation compiles one kernel per weight shape.
SMALL: dict[str, Any] = dict(flow_layers=2, feature_hidden=(16, 16), base_hidden=(16,), nn_width=16)
# Perturbation of the zero-initialised heads: large enough for visibly non-Gaussian,
# x̂-dependent densities, small enough that no spline bin is narrower than the grids below.
PERTURB = 0.1


@eqx.filter_jit
def _log_prob(flow, eta, x_hat):
    """log p(η | x̂) for η of shape (*batch, d), one x̂: vmap over η (flowjax's own
    broadcasting needs rank promotion, which the test configuration forbids)."""
    flat = eta.reshape(-1, eta.shape[-1])
    out = jax.vmap(lambda e: flow.log_prob(e, condition=x_hat))(flat)
    return out.reshape(eta.shape[:-1])


def _sample(flow, key, n, x_hat):
    return jax.vmap(lambda k: flow.sample(k, condition=x_hat))(jr.split(key, n))


@pytest.fixture(scope="module")
def x_hat():
    return jr.uniform(jr.key(1), IMAGE)


@pytest.fixture(scope="module")
def flows(perturb):
    """Generic (perturbed) flows for d = 1, 2, with and without bounding."""
    from sgm_eqx.nn import make_transformation_flow

    out = {}
    for i, (d, bound) in enumerate([(1, None), (1, (3.0,)), (2, None), (2, (3.0, 4.0))]):
        flow = make_transformation_flow(
            jr.key(10 + i), image_shape=IMAGE, n_params=d, eta_bound=bound, **SMALL
        )
        out[d, bound] = perturb(flow, jr.key(20 + i), PERTURB)
    return out


def _grid_1d(bound):
    if bound is None:
        # N(μ, σ) tails beyond ±15 hold < 1e-9 of the mass for |μ|, σ = O(1) (the splines
        # are the identity outside [-3, 3]); trapezoid on 20001 points.
        g = jnp.linspace(-15.0, 15.0, 20001)
        w = jnp.full_like(g, g[1] - g[0]).at[jnp.array([0, -1])].multiply(0.5)
    else:
        # midpoint rule on the open support (-η_max, η_max).
        n = 20000
        h = 2 * bound[0] / n
        g = -bound[0] + h * (jnp.arange(n, dtype=float) + 0.5)
        w = jnp.full_like(g, h)
    return g, w


@pytest.mark.parametrize("bound", [None, (3.0,)], ids=["unbounded", "bounded"])
def test_density_integrates_to_one_1d(flows, x_hat, bound):
    g, w = _grid_1d(bound)
    p = jnp.exp(_log_prob(flows[1, bound], g[:, None], x_hat))
    # spacing h ~ 1.5e-3 (3e-4 bounded): quadrature error O(h² ∫|p''|) plus, bounded, the
    # density in the last half cell at each edge (p ≲ 1 there: ≲ 1e-4); both << 2e-3.
    assert abs(float(jnp.sum(p * w)) - 1.0) < 2e-3
    assert jnp.all(jnp.isfinite(p))


@pytest.mark.parametrize("bound", [None, (3.0, 4.0)], ids=["unbounded", "bounded"])
def test_density_integrates_to_one_2d(flows, x_hat, bound):
    n = 801
    if bound is None:
        # truncation beyond ±12 negligible (see 1-D); trapezoid weights per axis.
        gx = gy = jnp.linspace(-12.0, 12.0, n)
        wx = wy = jnp.full((n,), gx[1] - gx[0]).at[jnp.array([0, -1])].multiply(0.5)
    else:
        hx, hy = 2 * bound[0] / n, 2 * bound[1] / n
        gx = -bound[0] + hx * (jnp.arange(n, dtype=float) + 0.5)
        gy = -bound[1] + hy * (jnp.arange(n, dtype=float) + 0.5)
        wx, wy = jnp.full((n,), hx), jnp.full((n,), hy)
    grid = jnp.stack(jnp.meshgrid(gx, gy, indexing="ij"), axis=-1)
    p = jnp.exp(_log_prob(flows[2, bound], grid, x_hat))
    # h = 0.03 (0.0075 / 0.01 bounded): 2-D quadrature error O(h²) times the density's
    # curvature, and the bounded density is still O(1) near the box edges -> allow 5e-3.
    assert abs(float(wx @ p @ wy) - 1.0) < 5e-3


def test_samples_match_density_moments(flows, x_hat):
    flow = flows[1, None]
    g, w = _grid_1d(None)
    p = jnp.exp(_log_prob(flow, g[:, None], x_hat)) * w
    mean = jnp.sum(p * g)
    var = jnp.sum(p * (g - mean) ** 2)
    m4 = jnp.sum(p * (g - mean) ** 4)
    n = 20000
    samples = eqx.filter_jit(_sample)(flow, jr.key(2), n, x_hat)[:, 0]
    # 5 Monte-Carlo standard errors: sd(mean) = sqrt(var / n), sd(var) ≈ sqrt((m4 - var²) / n).
    assert abs(float(samples.mean() - mean)) < 5 * float(jnp.sqrt(var / n))
    assert abs(float(samples.var() - var)) < 5 * float(jnp.sqrt((m4 - var**2) / n))
    assert float(var) > 0.1  # the density is not degenerate


@pytest.mark.parametrize("key", [(1, None), (2, (3.0, 4.0))], ids=["1d-unbounded", "2d-bounded"])
def test_sample_and_log_prob_agrees_with_log_prob(flows, x_hat, key):
    flow = flows[key]
    eta, lp = eqx.filter_jit(
        lambda f, k, x: jax.vmap(lambda kk: f.sample_and_log_prob(kk, condition=x))(
            jr.split(k, 256)
        )
    )(flow, jr.key(3), x_hat)
    # float32 round-off through two spline layers and tanh.
    assert jnp.allclose(lp, _log_prob(flow, eta, x_hat), atol=1e-3, rtol=1e-4)
    if key[1] is not None:
        assert jnp.all(jnp.abs(eta) <= jnp.array([key[1]]))
        assert float(_log_prob(flow, jnp.array([3.5, 0.0]), x_hat)) == -jnp.inf


@pytest.mark.parametrize("d", [1, 5])
def test_flow_is_standard_normal_at_init(d, x_hat):
    from sgm_eqx.nn import make_transformation_flow

    flow = make_transformation_flow(jr.key(d), image_shape=IMAGE, n_params=d, **SMALL)
    eta = 2.0 * jr.normal(jr.key(5), (4, d))  # inside and outside the spline interval
    expected = jstats.norm.logpdf(eta).sum(-1)
    # zero conditioner heads: identity splines and a N(0, I) base, up to float32 round-off
    assert jnp.allclose(_log_prob(flow, eta, x_hat), expected, atol=1e-5)
    shape = eqx.filter_eval_shape(lambda f: _sample(f, jr.key(0), 7, x_hat), flow)
    assert shape.shape == (7, d)


def _dot_generals(jaxpr):
    """All dot_general equations in a (closed) jaxpr, including nested sub-jaxprs."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            out.append(eqn)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            out.extend(_dot_generals(sub))
    return out


@pytest.mark.parametrize("method", ["log_prob", "sample"])
def test_features_computed_once_per_call(flows, x_hat, method):
    flow = flows[2, None]
    first = flow.feature_extractor.mlp.linears[0].weight  # (16, 64): image -> features

    def fn(f):
        if method == "log_prob":
            return jax.vmap(lambda e: f.log_prob(e, condition=x_hat))(jnp.zeros((5, 2)))
        return _sample(f, jr.key(0), 5, x_hat)

    eqns = _dot_generals(eqx.filter_make_jaxpr(fn)(flow)[0].jaxpr)
    # `dense` multiplies by the transposed weight: match either orientation.
    shapes = (first.shape, first.shape[::-1])
    image_matmuls = [e for e in eqns if any(v.aval.shape in shapes for v in e.invars)]
    # ONE matmul of the first feature layer, on a single unbatched image (5 η's / samples).
    assert len(image_matmuls) == 1
    assert image_matmuls[0].outvars[0].aval.shape == (first.shape[0],)


def test_log_prob_with_dropout(flows, x_hat):
    from sgm_eqx.nn import MLPEncoder

    flow = flows[2, None]
    # the same flow with dropout 0.5 in its (perturbed) feature extractor: a fresh encoder
    # with dropout, given the perturbed weights.
    enc = flow.feature_extractor
    dropout_enc = eqx.tree_at(
        lambda e: (e.mlp.linears, e.mlp.norms),
        MLPEncoder(IMAGE, enc.mlp.hidden, dropout=0.5, key=jr.key(0)),
        (enc.mlp.linears, enc.mlp.norms),
    )
    assert dropout_enc.mlp.dropout == 0.5
    flow = eqx.tree_at(lambda f: f.feature_extractor, flow, dropout_enc)
    eta = jnp.array([0.3, -0.2])

    @eqx.filter_jit
    def run(f):
        def with_dropout(f, k):
            return f.log_prob_with_dropout(eta, x_hat, key=k)

        grad = eqx.filter_grad(with_dropout)(f, jr.key(8))
        return (
            with_dropout(f, jr.key(8)),
            with_dropout(f, jr.key(9)),
            f.log_prob(eta, condition=x_hat),
            f.log_prob_given_features(eta, f.features(x_hat)),
            grad.feature_extractor.mlp.linears[0].weight,
        )

    a, b, plain, given, grad = run(flow)
    assert not jnp.allclose(a, b) and not jnp.allclose(a, plain)  # dropout is active
    assert jnp.allclose(given, plain, atol=1e-6)  # no key: deterministic features
    assert float(jnp.abs(grad).sum()) > 0  # gradient reaches the extractor via dropout route


def test_flow_rejects_wrong_shapes(flows, x_hat):
    flow = flows[2, None]
    with pytest.raises(ValueError, match="Expected trailing dimensions"):
        eqx.filter_eval_shape(lambda f: f.log_prob(jnp.zeros(3), condition=x_hat), flow)
    with pytest.raises(ValueError, match=r"expected shape \(8, 8, 1\)"):
        flow.features(jnp.zeros((8, 8, 2)))


def test_image_conditioned_wraps_flowjax_flows(getkey, x_hat):
    from flowjax.distributions import Normal
    from flowjax.flows import coupling_flow

    from sgm_eqx.nn import ImageConditioned

    inner = coupling_flow(
        getkey(), base_dist=Normal(jnp.zeros(2)), cond_dim=64, flow_layers=1, nn_width=16
    )
    dist = ImageConditioned(inner, IMAGE)
    eta = jnp.array([0.1, 0.2])
    assert dist.cond_shape == IMAGE and dist.shape == (2,)
    wrapped, direct = eqx.filter_jit(
        lambda d, i: (d.log_prob(eta, condition=x_hat), i.log_prob(eta, condition=x_hat.ravel()))
    )(dist, inner)
    assert jnp.array_equal(wrapped, direct)
    with pytest.raises(ValueError, match="cond_shape"):
        ImageConditioned(inner, (8, 8, 2))


def test_spline_conditioners_are_batch_first_mlps(flows):
    """The coupling conditioners are flowjax's `eqx.nn.MLP` with equal values, and under
    `vmap` their matmuls put the batch axis first (the layout of `sgm_eqx.nn.dense`)."""
    from sgm_eqx.nn._flow import _BatchFirstMLP

    stacked = [
        leaf
        for leaf in jax.tree_util.tree_leaves(
            flows[2, None], is_leaf=lambda x: isinstance(x, eqx.nn.MLP)
        )
        if isinstance(leaf, eqx.nn.MLP)
    ]
    assert len(stacked) == 1 and isinstance(stacked[0], _BatchFirstMLP)
    # The layers are scanned: take the first layer's parameters.
    conditioner = jax.tree_util.tree_map(lambda a: a[0] if eqx.is_array(a) else a, stacked[0])
    xs = jr.normal(jr.key(3), (7, conditioner.in_size))
    ours = jax.vmap(conditioner)(xs)
    reference = jax.vmap(lambda x: eqx.nn.MLP.__call__(conditioner, x))(xs)
    assert ours.shape == (7, conditioner.out_size)
    # Same products summed in another order: float32 round-off only.
    assert jnp.allclose(ours, reference, atol=1e-5, rtol=1e-5)

    eqns = _dot_generals(jax.make_jaxpr(jax.vmap(conditioner))(xs).jaxpr)
    assert [e.outvars[0].aval.shape for e in eqns] == [
        (7, conditioner.width_size),
        (7, conditioner.out_size),
    ]


def test_chart_is_the_last_layer_of_the_density_and_the_sampler(x_hat):
    """With a `TranslationColumn` chart, samples are η = chart(u) for the chartless flow's u,
    and log p(η) = log p_u(u) - log|det ∂η/∂u| (change of variables), in log_prob and in
    sample_and_log_prob alike."""
    from sgm_eqx.groups import TranslationColumn
    from sgm_eqx.nn import TransformationFlow, make_transformation_flow

    plain = make_transformation_flow(jr.key(7), image_shape=IMAGE, n_params=5, **SMALL)
    chart = TranslationColumn(5)
    charted = TransformationFlow(plain.feature_extractor, plain.unbounded, chart=chart)
    keys = jr.split(jr.key(8), 64)
    u = jax.vmap(lambda k: plain.sample(k, condition=x_hat))(keys)
    eta, lp = jax.vmap(lambda k: charted.sample_and_log_prob(k, condition=x_hat))(keys)
    chart_eta, chart_log_det = jax.vmap(chart.transform_and_log_det)(u)
    assert jnp.allclose(eta, chart_eta, atol=1e-6)
    expected = _log_prob(plain, u, x_hat) - chart_log_det
    assert jnp.allclose(lp, expected, atol=1e-4)
    assert jnp.allclose(_log_prob(charted, eta, x_hat), expected, atol=1e-4)
    assert float(jnp.max(jnp.abs(eta[:, :2] - u[:, :2]))) > 1e-2  # the chart is not a no-op


def test_chart_must_be_parameter_free(x_hat):
    from flowjax.bijections import Affine

    from sgm_eqx.nn import TransformationFlow, make_transformation_flow

    plain = make_transformation_flow(jr.key(7), image_shape=IMAGE, n_params=5, **SMALL)
    with pytest.raises(ValueError, match=r"TransformationFlow\(chart=...\)"):
        TransformationFlow(plain.feature_extractor, plain.unbounded, chart=Affine(jnp.zeros(5)))


def test_circular_angle_density_is_periodic_and_integrates_to_one_on_the_circle(x_hat, perturb):
    """With `angles=(0,)` a 1-D flow is a density on the circle: 2π-periodic, integrating to
    one over [-π, π) (the wrapped density of the flow's u), and its samples lie in [-π, π)
    with `sample_and_log_prob` equal to `log_prob`."""
    from sgm_eqx.nn import TransformationFlow, make_transformation_flow

    plain = perturb(
        make_transformation_flow(jr.key(11), image_shape=IMAGE, n_params=1, **SMALL),
        jr.key(12),
        PERTURB,
    )
    # the flow models the angle in half-turns: a base N(0.3, 0.7²) puts visible mass beyond
    # ±1 (±π), so the wrap matters, and < 1e-4 beyond ±3 (the lifts k = ±2).
    plain = eqx.tree_at(lambda f: f.unbounded.base_dist.out.bias, plain, jnp.array([0.3, -0.5]))
    circ = TransformationFlow(plain.feature_extractor, plain.unbounded, angles=(0,))
    n = 20000
    h = 2 * jnp.pi / n
    g = -jnp.pi + h * (jnp.arange(n, dtype=float) + 0.5)
    lp = _log_prob(circ, g[:, None], x_hat)
    # midpoint rule of a smooth periodic density: spectrally accurate.
    assert abs(float(jnp.sum(jnp.exp(lp)) * h) - 1.0) < 2e-3
    # the unwrapped flow (in half-turns) holds visibly less than all of it on [-1, 1)
    plain_mass = float(jnp.sum(jnp.exp(_log_prob(plain, g[:, None] / jnp.pi, x_hat))) * h)
    assert plain_mass / jnp.pi < 0.95
    shifted = _log_prob(circ, g[:, None] + 2 * jnp.pi, x_hat)
    assert jnp.allclose(shifted, lp, atol=1e-4)
    eta, lp_s = jax.vmap(lambda k: circ.sample_and_log_prob(k, condition=x_hat))(
        jr.split(jr.key(13), 256)
    )
    assert bool(jnp.all((eta >= -jnp.pi) & (eta < jnp.pi)))
    assert jnp.allclose(lp_s, _log_prob(circ, eta, x_hat), atol=1e-5)


def test_flow_rejects_bad_angles(flows):
    from sgm_eqx.nn import TransformationFlow

    flow = flows[2, None]
    with pytest.raises(ValueError, match=r"TransformationFlow\(angles=...\)"):
        TransformationFlow(flow.feature_extractor, flow.unbounded, angles=(2,))
