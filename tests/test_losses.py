import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import pytest
from jaxtyping import TypeCheckError
from train_helpers import (
    SIZE,
    ConstantNet,
    LinearGaussianFlow,
    OracleNet,
    Rotation2D,
    orbit,
    orientation,
    prototype,
)

AUG = 0.8  # rotations of the orbit (±0.6) composed with augmentations stay < π/2 (moments)


@pytest.fixture(scope="module")
def parts():
    from sgm_eqx import _sgm
    from sgm_eqx.losses import UniformAugmentation
    from sgm_eqx.nn import make_inference_net

    key = jr.key(123)
    k1, k2, k3 = jr.split(key, 3)
    # A linear-Gaussian p(η | x̂) keeps compile times small; the real flow is exercised by
    # the training tests.
    flow = LinearGaussianFlow(k1)
    oracle = OracleNet(phi0=orientation(prototype()))
    random_net = make_inference_net(k2, image_shape=(SIZE, SIZE, 1), n_params=1, hidden=(32,))
    head = random_net.head
    assert head.bias is not None
    random_net = eqx.tree_at(
        lambda n: (n.head.weight, n.head.bias),
        random_net,
        (jr.normal(k3, head.weight.shape), jnp.zeros(head.bias.shape)),
    )

    def sgm(net):
        return _sgm.SGM(Rotation2D.identity(), net, flow)

    xs, _ = orbit(jr.key(7), 8)
    return dict(
        sgm=sgm,
        oracle=sgm(oracle),
        random=sgm(random_net),
        identity=sgm(ConstantNet(eta=jnp.zeros(1))),
        aug=UniformAugmentation.symmetric((AUG,)),
        xs=xs,
    )


@functools.cache
def _jitted_batch_loss():
    from sgm_eqx.losses import batch_loss

    return eqx.filter_jit(batch_loss)


def _batch(loss_fn, model, xs, key, **kw):
    # One compiled program per (loss, static kwargs), shared by the tests: the Partial's
    # Python leaves (n_samples, weights) are static under filter_jit.
    return _jitted_batch_loss()(eqx.Partial(loss_fn, **kw), model, xs, key)


def _floor(xs, key, n):
    # The interpolation floor: mse of a warp there and back with the *exact* angles.
    thetas = jr.uniform(key, (xs.shape[0], n), minval=-AUG, maxval=AUG)

    def one(x, ts):
        back = jax.vmap(lambda t: Rotation2D(theta=-t).apply(Rotation2D(theta=t).apply(x)))(ts)
        return jnp.mean(jnp.square(back - x[None]))

    return float(jnp.mean(jax.jit(jax.vmap(one))(xs, thetas)))


@pytest.mark.parametrize("symmetric", [False, True])
def test_ssl_loss_of_oracle_is_at_interpolation_floor_and_far_below_random_net(parts, symmetric):
    from sgm_eqx.losses import inference_loss

    key = jr.key(0)
    kw = (
        dict(augmentation=parts["aug"], symmetric=True)
        if symmetric
        else dict(augmentation=parts["aug"])
    )
    oracle, _ = _batch(inference_loss, parts["oracle"], parts["xs"], key, **kw)
    rand, _ = _batch(inference_loss, parts["random"], parts["xs"], key, **kw)
    floor = _floor(parts["xs"], jr.key(1), 5)
    # The oracle's composed warp undoes the augmentation up to the moment estimate's small
    # angle error; the remaining error is one bilinear round trip (the floor), so within 2x
    # of it, and 20x below a random network (which leaves the rotations in place).
    assert float(oracle) < 2.0 * floor
    assert float(rand) > 20.0 * float(oracle)


def test_invertibility_loss_is_zero_for_identity_net(parts, getkey):
    from sgm_eqx.losses import invertibility_loss

    loss, aux = eqx.filter_jit(invertibility_loss)(parts["identity"], parts["xs"][0], getkey())
    # T_0 samples exactly at pixel centres: no interpolation error beyond float rounding.
    assert float(loss) < 1e-10
    assert float(aux["invertibility"]) == float(loss)


def test_invertibility_loss_is_positive_when_content_leaves_the_frame(parts, getkey):
    from sgm_eqx.losses import invertibility_loss

    x = prototype()
    net = ConstantNet(eta=jnp.array([0.0]))
    big = eqx.tree_at(lambda m: m.inference_net, parts["identity"], net)
    assert float(invertibility_loss(big, x, getkey())[0]) < 1e-10
    # A rotation by π/4 moves corner content out and back: a clearly positive loss.
    turned = eqx.tree_at(
        lambda m: m.inference_net, parts["identity"], ConstantNet(eta=jnp.array([0.785]))
    )
    assert float(invertibility_loss(turned, x, getkey())[0]) > 1e-6


def test_mle_loss_gives_no_gradient_to_inference_net(parts, getkey):
    from sgm_eqx.losses import mle_loss

    model = parts["random"]
    x = parts["xs"][0]
    key = getkey()

    def f(m):
        return mle_loss(m, x, key, augmentation=parts["aug"])[0]

    grads = eqx.filter_jit(eqx.filter_grad(f))(model)
    net_leaves = jax.tree_util.tree_leaves(eqx.filter(grads.inference_net, eqx.is_array))
    flow_leaves = jax.tree_util.tree_leaves(eqx.filter(grads.flow, eqx.is_array))
    assert net_leaves and all(bool(jnp.all(g == 0)) for g in net_leaves)
    assert any(bool(jnp.any(g != 0)) for g in flow_leaves)


def test_inference_loss_gives_gradient_to_inference_net_only(parts, getkey):
    from sgm_eqx.losses import inference_loss

    x = parts["xs"][0]
    key = getkey()

    def f(m):
        return inference_loss(m, x, key, augmentation=parts["aug"], invertibility_weight=0.1)[0]

    grads = eqx.filter_jit(eqx.filter_grad(f))(parts["random"])
    net_leaves = jax.tree_util.tree_leaves(eqx.filter(grads.inference_net, eqx.is_array))
    flow_leaves = jax.tree_util.tree_leaves(eqx.filter(grads.flow, eqx.is_array))
    assert any(bool(jnp.any(g != 0)) for g in net_leaves)
    assert all(bool(jnp.all(g == 0)) for g in flow_leaves)


@pytest.mark.parametrize("name", ["inference", "mle", "consistency"])
def test_losses_are_pure_functions_of_the_key(parts, name):
    from sgm_eqx.losses import consistency_loss, inference_loss, mle_loss

    fn = {"inference": inference_loss, "mle": mle_loss, "consistency": consistency_loss}[name]
    kw = dict(augmentation=parts["aug"])
    model, xs = parts["random"], parts["xs"]
    a, _ = _batch(fn, model, xs, jr.key(5), **kw)
    b, _ = _batch(fn, model, xs, jr.key(5), **kw)
    c, _ = _batch(fn, model, xs, jr.key(6), **kw)
    assert float(a) == float(b)
    assert float(a) != float(c)


def test_batch_loss_is_mean_of_per_example_losses(parts):
    from sgm_eqx.losses import inference_loss

    model, xs = parts["random"], parts["xs"][:3]
    key = jr.key(3)
    mean, aux = _batch(inference_loss, model, xs, key, augmentation=parts["aug"])
    keys = jr.split(key, 3)
    one = eqx.filter_jit(lambda m, x, k: inference_loss(m, x, k, augmentation=parts["aug"])[0])
    each = [one(model, xs[i], keys[i]) for i in range(3)]
    # vmapped vs. unbatched evaluation: float32 rounding only.
    assert jnp.allclose(mean, jnp.mean(jnp.stack(each)), rtol=1e-5, atol=1e-7)
    assert set(aux) == {"ssl", "invertibility", "eta_huber", "loop_huber", "q_scale"}


def test_consistency_regulariser_is_weighted_pairwise_spread_of_log_probs(parts):
    from sgm_eqx.losses import mle_loss

    x = parts["xs"][0]
    f = eqx.filter_jit(
        lambda m, x, k, n: mle_loss(
            m, x, k, augmentation=parts["aug"], n_samples=n, consistency_weight=2.0
        )
    )
    loss1, aux1 = f(parts["random"], x, jr.key(9), 1)
    loss5, aux5 = f(parts["random"], x, jr.key(9), 5)
    assert float(aux1["consistency"]) == 0.0  # one prototype: nothing to compare
    assert float(loss1) == float(aux1["nll"])
    assert float(aux5["consistency"]) > 0.0
    assert jnp.allclose(loss5, aux5["nll"] + 2.0 * aux5["consistency"], rtol=1e-6)


def test_uniform_augmentation_stays_within_bounds(getkey):
    from sgm_eqx.losses import UniformAugmentation

    aug = UniformAugmentation.symmetric((0.1, 2.0))
    etas = jax.jit(jax.vmap(aug))(jr.split(getkey(), 2000))
    assert bool(jnp.all(jnp.abs(etas) <= jnp.array([[0.1, 2.0]])))
    # Uniform: the std is bound / sqrt(3); 2000 draws give ~2% relative error, allow 10%.
    assert jnp.allclose(jnp.std(etas, axis=0), jnp.array([0.1, 2.0]) / jnp.sqrt(3.0), rtol=0.1)


def test_isotropic_scale_augmentation_draws_equal_log_scales(getkey):
    from sgm_eqx.losses import IsotropicScaleAugmentation, UniformAugmentation
    from sgm_eqx.train import InferenceStageConfig

    bounds = (0.1, 0.1, 3.0, 0.25, 0.25)
    aug = InferenceStageConfig(augment_bounds=bounds, augment_isotropic_scale=True).augmentation()
    assert isinstance(aug, IsotropicScaleAugmentation)
    etas = jax.jit(jax.vmap(aug))(jr.split(getkey(), 2000))
    assert bool(jnp.all(etas[:, 4] == etas[:, 3]))  # no stretch
    assert bool(jnp.all(jnp.abs(etas) <= jnp.array([bounds])))
    # the shared log-scale is still U(-0.25, 0.25): std 0.25 / sqrt(3), 10% for 2000 draws
    assert jnp.allclose(jnp.std(etas[:, 3]), 0.25 / jnp.sqrt(3.0), rtol=0.1)
    # the other parameters are the base's draws, unchanged
    base = UniformAugmentation.symmetric(bounds)
    k = getkey()
    assert jnp.array_equal(aug(k)[:4], base(k)[:4])
    with pytest.raises(ValueError, match="log-scales at indices 3 and 4"):
        IsotropicScaleAugmentation(UniformAugmentation.symmetric((0.5, 2.3, 0.5)))(getkey())


def test_bad_arguments_raise_clear_errors(parts, getkey):
    from sgm_eqx.losses import UniformAugmentation, batch_loss, inference_loss

    with pytest.raises(ValueError, match="n_samples"):
        inference_loss(
            parts["random"], parts["xs"][0], getkey(), augmentation=parts["aug"], n_samples=0
        )
    # With the jaxtyping import hook the annotation check fires first (TypeCheckError).
    with pytest.raises((ValueError, TypeCheckError), match="xs"):
        batch_loss(
            eqx.Partial(inference_loss, augmentation=parts["aug"]),
            parts["random"],
            parts["xs"][0],
            getkey(),
        )
    with pytest.raises((ValueError, TypeCheckError)):
        UniformAugmentation(jnp.zeros(2), jnp.zeros(3))


class _PlainNet(eqx.Module):
    """Not an AbstractInferenceNet: any Module `(x, *, key=None) -> eta` is accepted."""

    weight: jax.Array

    def __call__(self, x, *, key=None):
        return jnp.sum(self.weight * x, keepdims=True).reshape(1)


def test_losses_accept_any_module_with_the_inference_net_call_signature(parts, getkey):
    from sgm_eqx.losses import inference_loss, mle_loss

    model = parts["sgm"](_PlainNet(0.01 * jr.normal(jr.key(4), (SIZE, SIZE, 1))))
    x, key = parts["xs"][0], getkey()

    @eqx.filter_jit
    def grads(m):
        g_inf = eqx.filter_grad(
            lambda m: inference_loss(m, x, key, augmentation=parts["aug"], n_samples=2)[0]
        )(m)
        g_mle = eqx.filter_grad(
            lambda m: mle_loss(m, x, key, augmentation=parts["aug"], n_samples=2)[0]
        )(m)
        return g_inf.inference_net.fn.weight, g_mle.inference_net.fn.weight  # a PointEstimate

    g_inf, g_mle = grads(model)
    # The plain net is a point estimate (zero scale): stage 1 trains it, stage 2 freezes it.
    assert float(jnp.abs(g_inf).sum()) > 0
    assert bool(jnp.all(g_mle == 0))


def test_composed_ssl_loss_has_no_warp_and_back_floor(parts):
    # The loop T_{f(x)} ∘ T_{f(x_rnd)}^{-1} ∘ T_{η_rnd} is applied ONCE to x and compared with
    # x: for the oracle the loop is the identity up to its small angle error, so the loss is
    # far below one bilinear round trip (what comparing with the resampled x_rnd would cost).
    from sgm_eqx.losses import inference_loss

    for symmetric in (False, True):
        oracle, _ = _batch(
            inference_loss,
            parts["oracle"],
            parts["xs"],
            jr.key(0),
            augmentation=parts["aug"],
            symmetric=symmetric,
        )
        assert float(oracle) < 0.5 * _floor(parts["xs"], jr.key(1), 5)


def test_stage2_training_prototype_is_one_resampling_of_x(getkey):
    # With f(x_rnd) = η_rnd exactly, the training prototype of x_rnd is x itself, bit for bit
    # up to float rounding, even when T_{η_rnd} pushes content out of the frame; resampling
    # x_rnd back (the old way) loses that content.
    from sgm_eqx.groups import Affine2D
    from sgm_eqx.losses import prototype_of_augmented

    x = prototype()
    tpl = Affine2D.identity(order=3)
    eta = jnp.array([0.7, -0.2, 0.9, 0.3, -0.2])  # a large shift: content leaves the frame
    proto = prototype_of_augmented(tpl, eta, eta, x)
    assert float(jnp.max(jnp.abs(proto - x))) < 1e-4
    g = tpl.with_params(eta)
    twice = g.inverse().apply(g.apply(x))
    assert float(jnp.mean(jnp.square(twice - x))) > 1e-3


def _orbit_mate(parts, model, xs, key, **kw):
    from sgm_eqx.losses import orbit_mate_mle_loss

    f = eqx.filter_jit(
        lambda m, xs, k: orbit_mate_mle_loss(m, xs, k, augmentation=parts["aug"], **kw)
    )
    return f(model, xs, key)


def test_orbit_mate_loss_at_weight_zero_is_the_batched_mle_loss(parts):
    from sgm_eqx.losses import batch_loss, mle_loss

    xs, key = parts["xs"][:4], jr.key(3)
    plain = eqx.Partial(mle_loss, augmentation=parts["aug"], n_samples=3)
    loss0, aux0 = eqx.filter_jit(batch_loss)(plain, parts["random"], xs, key)
    loss, aux = _orbit_mate(parts, parts["random"], xs, key, n_samples=3, mate_weight=0.0)
    # Same keys, same pairs: equal up to float32 rounding of the reductions.
    assert jnp.allclose(loss, loss0, rtol=1e-5)
    assert jnp.allclose(aux["nll"], aux0["nll"], rtol=1e-5)
    assert jnp.allclose(aux["consistency"], aux0["consistency"], rtol=1e-5)


def test_orbit_mate_loss_scores_each_eta_on_the_partners_prototype(parts):
    from sgm_eqx.losses import UniformAugmentation, orbit_mate_mle_loss

    # Two inputs: each is the other's only possible partner. With the oracle (q a delta at
    # the true angle) and no augmentation, the pairs are (θ_b, x̂_b) with x̂_b = R_{θ_b}^{-1} x_b.
    model = parts["oracle"]
    xs = parts["xs"][:2]
    aug = UniformAugmentation.symmetric((0.0,))
    loss, aux = eqx.filter_jit(
        lambda m, xs, k: orbit_mate_mle_loss(
            m, xs, k, augmentation=aug, n_samples=2, mate_weight=1.0, consistency_weight=0.0
        )
    )(model, xs, jr.key(0))
    eta = jax.vmap(model.inference_net)(xs)
    protos = jax.vmap(model.prototype)(xs)
    # A flow whose mean depends on the prototype tells the two apart.
    lp = jax.vmap(lambda e, c: model.flow.log_prob(e, condition=c))
    own = -jnp.mean(lp(eta, protos))
    swapped = -jnp.mean(lp(eta, protos[::-1]))
    assert jnp.allclose(aux["nll"], own, rtol=1e-4)
    assert jnp.allclose(aux["nll_mate"], swapped, rtol=1e-4)
    assert not jnp.allclose(own, swapped, rtol=1e-4)
    assert jnp.allclose(loss, aux["nll_mate"], rtol=1e-6)


def test_orbit_mate_partners_stay_in_their_cluster_and_spread_over_it(getkey):
    from sgm_eqx.losses import orbit_mate_partners

    # Two "orbits" of 4 prototypes each: copies of two different images with small
    # differences of their own (as resampling leaves them), of unequal size within a cluster.
    a = jnp.zeros((6, 6, 1)).at[1:3, 1:5].set(1.0)
    b = jnp.zeros((6, 6, 1)).at[2:6, 3:5].set(1.0)
    eps = jnp.array([0.0, 0.01, 0.02, 0.04])[:, None, None, None]
    protos = jnp.concatenate([a[None] + eps, b[None] + eps])
    # Across clusters d = 1/3 is each input's median distance, so at bandwidth 0.05 a
    # partner across has weight exp(-20) against about 1 for one within: never in 24,000 draws.
    partners = jax.jit(jax.vmap(lambda k: orbit_mate_partners(protos, k, bandwidth=0.05)[0]))(
        jr.split(getkey(), 3000)
    )
    cluster = jnp.arange(8) // 4
    assert bool(jnp.all(cluster[partners] == cluster[None, :]))
    assert bool(jnp.all(partners != jnp.arange(8)[None, :]))  # never itself
    # Within its cluster, input 0's partner is drawn (almost) uniformly from the other three,
    # although they lie at different distances: expected 1/3 each, s.d. 0.009 over 3000.
    freq = jnp.mean(partners[:, 0][:, None] == jnp.arange(1, 4)[None, :], axis=0)
    assert bool(jnp.all(jnp.abs(freq - 1 / 3) < 0.05)), freq


def test_orbit_mate_arguments_are_checked(parts):
    from sgm_eqx.losses import orbit_mate_partners
    from sgm_eqx.train import FlowStageConfig

    with pytest.raises(ValueError, match="at least 2"):
        _orbit_mate(parts, parts["random"], parts["xs"][:1], jr.key(0), mate_weight=1.0)
    with pytest.raises(ValueError, match="mate_weight"):
        _orbit_mate(parts, parts["random"], parts["xs"][:2], jr.key(0), mate_weight=1.5)
    with pytest.raises(ValueError, match="bandwidth"):
        orbit_mate_partners(parts["xs"][:3], jr.key(0), bandwidth=0.0)
    with pytest.raises(ValueError, match="orbit_mate_weight"):
        FlowStageConfig(orbit_mate_weight=2.0)
    with pytest.raises(ValueError, match="batch_size >= 2"):
        FlowStageConfig(orbit_mate_weight=1.0, batch_size=1)
    assert FlowStageConfig().batch_loss().func.__name__ == "batch_loss"
    assert FlowStageConfig(orbit_mate_weight=1.0).batch_loss().func.__name__ == (
        "orbit_mate_mle_loss"
    )
