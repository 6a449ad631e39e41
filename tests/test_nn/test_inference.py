import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import pytest

IMAGE = (8, 8, 1)
N_PARAMS = 3
BOUND = (0.5, 1.0, 2.0)


@pytest.fixture(scope="module")
def nets():
    from sgm_eqx.nn import make_inference_net

    keys = jr.split(jr.key(0), 3)
    return {
        "mlp": make_inference_net(keys[0], image_shape=IMAGE, n_params=N_PARAMS, hidden=(32, 16)),
        "mlp_bounded": make_inference_net(
            keys[1],
            image_shape=IMAGE,
            n_params=N_PARAMS,
            hidden=(32, 16),
            eta_bound=BOUND,
            dropout=0.2,
        ),
        "cnn": make_inference_net(
            keys[2],
            image_shape=IMAGE,
            n_params=N_PARAMS,
            hidden=(16,),
            backbone="cnn",
            conv_channels=(4, 8),
        ),
    }


@eqx.filter_jit
def _call(net, xs, keys):
    """Batched calls: point estimates and keyed samples."""
    det = jax.vmap(lambda x: net(x))(xs)
    sto = jax.vmap(lambda x, k: net(x, key=k))(xs, keys)
    return det, sto


@pytest.mark.parametrize("name", ["mlp", "mlp_bounded", "cnn"])
def test_inference_net_is_identity_at_init(nets, name):
    net = nets[name]
    xs = jr.normal(jr.key(1), (4, *IMAGE))
    det, sto = _call(net, xs, jr.split(jr.key(2), 4))
    # zero head => loc = 0 exactly, so the point estimate is exactly η = 0 (T_0 = identity)
    assert jnp.array_equal(det, jnp.zeros((4, N_PARAMS)))
    # samples are N(0, 0.01²) in u (init_scale = 1e-2): |η| < 6 σ * max bound slope.
    assert jnp.all(jnp.abs(sto) < 6 * 1e-2 * max(BOUND))
    assert jnp.allclose(net.scale(xs[0]), 1e-2)


def test_point_estimate_is_deterministic_and_samples_are_stochastic(nets, perturb):
    net = perturb(nets["mlp_bounded"], jr.key(3), 0.1)
    xs = jnp.broadcast_to(jr.normal(jr.key(4), IMAGE), (2, *IMAGE))
    det, sto = _call(net, xs, jr.split(jr.key(5), 2))
    _, sto2 = _call(net, xs, jr.split(jr.key(5), 2))
    assert jnp.array_equal(det[0], det[1])  # no key: same input, same output
    assert not jnp.allclose(sto[0], sto[1])  # different keys: different samples
    assert jnp.array_equal(sto, sto2)  # same key: reproducible


def test_sample_is_bounded_reparameterised_normal(nets, perturb):
    """With a key, η = η_max tanh(loc + σ ε): check against the formula with the same ε."""
    from sgm_eqx.nn import InferenceNet

    net = perturb(nets["mlp"], jr.key(6), 0.1)
    bounded = InferenceNet(net.encoder, N_PARAMS, eta_bound=BOUND, key=jr.key(0))
    bounded = eqx.tree_at(lambda n: (n.head, n.raw_scale), bounded, (net.head, net.raw_scale))
    x = jr.normal(jr.key(7), IMAGE)
    key = jr.key(8)
    _, noise_key = jr.split(key)
    loc, scale = net.loc_and_scale(x)
    u = loc + scale * jr.normal(noise_key, (N_PARAMS,))
    # float32 round-off of a handful of O(1) ops.
    assert jnp.allclose(net(x, key=key), u, atol=1e-5)
    assert jnp.allclose(bounded(x, key=key), jnp.asarray(BOUND) * jnp.tanh(u), atol=1e-5)


def test_bounding_keeps_eta_within_eta_max(nets, perturb):
    # large weights push u far out; tanh keeps |η| <= η_max (== only where float32 tanh
    # saturates to exactly 1, |u| > ~9).
    net = perturb(nets["mlp_bounded"], jr.key(9), 3.0)
    xs = 10 * jr.normal(jr.key(10), (16, *IMAGE))
    det, sto = _call(net, xs, jr.split(jr.key(11), 16))
    bound = jnp.asarray(BOUND)[None]
    assert jnp.all(jnp.abs(det) <= bound) and jnp.all(jnp.abs(sto) <= bound)
    assert jnp.max(jnp.abs(det) / bound) > 0.9  # the test exercises the saturated regime


def test_gradient_flows_to_all_of_omega(nets, perturb):
    net = perturb(nets["mlp"], jr.key(12), 0.1)
    xs = jr.normal(jr.key(13), (4, *IMAGE))
    keys = jr.split(jr.key(14), 4)

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(n):
        return jnp.sum(jax.vmap(lambda x, k: n(x, key=k) ** 2)(xs, keys))

    g = grad(net)
    norms = [jnp.linalg.norm(x) for x in jax.tree.leaves(g)]
    assert len(norms) == len(jax.tree.leaves(eqx.filter(net, eqx.is_inexact_array)))
    assert all(float(n) > 0 for n in norms)


def test_gradient_matches_finite_differences(nets, perturb):
    from jax.test_util import check_grads

    net = perturb(nets["mlp_bounded"], jr.key(15), 0.1)
    x = jr.normal(jr.key(16), IMAGE)
    key = jr.key(17)

    def f(bias, raw_scale):
        n = eqx.tree_at(lambda m: (m.head.bias, m.raw_scale), net, (bias, raw_scale))
        return jnp.sum(jnp.sin(n(x, key=key)))

    # float32: check_grads' default tolerances for float32 (eps=1e-2 differences).
    check_grads(f, (net.head.bias, net.raw_scale), order=1, modes=("rev",), eps=1e-2)


def test_make_inference_net_validates_arguments(getkey):
    from jaxtyping import TypeCheckError

    from sgm_eqx.nn import make_inference_net

    # Under the test-suite's import hook, annotated Literal/tuple arguments are rejected by
    # the type checker before our own ValueError (which plain users get) can fire.
    with pytest.raises((ValueError, TypeCheckError), match="backbone"):
        make_inference_net(
            getkey(),
            image_shape=IMAGE,
            n_params=2,
            hidden=(4,),
            backbone="rnn",  # pyright: ignore[reportArgumentType]  (invalid on purpose)
        )
    with pytest.raises(ValueError, match="eta_bound"):
        make_inference_net(getkey(), image_shape=IMAGE, n_params=2, hidden=(4,), eta_bound=(1.0,))
    with pytest.raises(ValueError, match="eta_bound"):
        make_inference_net(getkey(), image_shape=IMAGE, n_params=2, hidden=(4,), eta_bound=-1.0)
    with pytest.raises((ValueError, TypeCheckError), match="image_shape"):
        make_inference_net(
            getkey(),
            image_shape=(8, 8),  # pyright: ignore[reportArgumentType]  (invalid on purpose)
            n_params=2,
            hidden=(4,),
        )
