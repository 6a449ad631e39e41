"""Group laws and action compatibility, as hypothesis properties over every registered action.

The registry is `strategies.ACTIONS`; each law is jitted once per action (cached), so the
hypothesis examples reuse one compiled function.
"""

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from strategies import ACTIONS, ray_scalars

NAMES = list(ACTIONS)
IMAGE_NAMES = [name for name, case in ACTIONS.items() if case.images is not None]


def assert_close(actual, expected, rtol):
    """Leafwise `|a - b| <= rtol * (1 + max|b|)`: relative to the scale of the whole leaf."""
    for a, b in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        scale = 1.0 + np.max(np.abs(b))
        np.testing.assert_array_less(np.abs(a - b), rtol * scale)


def _identity_law(case, eta, probe):
    g, e = case.make(eta), case.identity()
    return (
        (case.canonical(e.compose(g)), case.canonical(g.compose(e)), case.canonical(g)),
        (case.canonical(e), case.canonical(case.make(jnp.zeros_like(eta)))),
        (case.act_exact(e, probe), probe),
    )


def _inverse_law(case, eta):
    g, e = case.make(eta), case.identity()
    inv = g.inverse()
    return case.canonical(g.compose(inv)), case.canonical(inv.compose(g)), case.canonical(e)


def _associativity_law(case, eta1, eta2, eta3):
    g, h, k = case.make(eta1), case.make(eta2), case.make(eta3)
    return case.canonical(g.compose(h).compose(k)), case.canonical(g.compose(h.compose(k)))


def _homomorphism_law(case, eta, s, t):
    lhs = case.make(s * eta).compose(case.make(t * eta))
    return case.canonical(lhs), case.canonical(case.make((s + t) * eta))


def _compatibility_law(case, eta1, eta2, probe):
    g, h = case.make(eta1), case.make(eta2)
    return case.act_exact(g.compose(h), probe), case.act_exact(g, case.act_exact(h, probe))


def _image_compatibility_law(case, eta1, eta2, image):
    g, h = case.make(eta1), case.make(eta2)
    return g.compose(h).apply(image), g.apply(h.apply(image))


def _with_params_law(case, eta):
    template = case.identity()
    return case.canonical(template.with_params(eta)), case.canonical(case.make(eta))


def _vmap_law(case, etas1, etas2):
    batched = jax.vmap(lambda a, b: case.canonical(case.make(a).compose(case.make(b))))
    pairs = zip(etas1, etas2, strict=True)
    looped = [case.canonical(case.make(a).compose(case.make(b))) for a, b in pairs]
    return batched(etas1, etas2), jnp.stack(looped)


LAWS = {
    "identity": _identity_law,
    "inverse": _inverse_law,
    "associativity": _associativity_law,
    "homomorphism": _homomorphism_law,
    "compatibility": _compatibility_law,
    "image_compatibility": _image_compatibility_law,
    "with_params": _with_params_law,
    "vmap": _vmap_law,
}


@functools.cache
def jitted(name: str, law: str):
    return jax.jit(functools.partial(LAWS[law], ACTIONS[name]))


def to_jax(tree):
    return jax.tree.map(jnp.asarray, tree)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_identity_is_neutral_and_acts_trivially(name, data):
    case = ACTIONS[name]
    eta, probe = to_jax(data.draw(st.tuples(case.params, case.probes)))
    (left, right, g), (e, e_from_zero), (acted, probe) = jitted(name, "identity")(eta, probe)
    assert_close(left, g, case.rtol)
    assert_close(right, g, case.rtol)
    assert_close(e_from_zero, e, case.rtol)  # from_params(0) is the identity
    assert_close(acted, probe, case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_with_inverse_is_identity(name, data):
    case = ACTIONS[name]
    eta = jnp.asarray(data.draw(case.params))
    right, left, e = jitted(name, "inverse")(eta)
    assert_close(right, e, case.rtol)
    assert_close(left, e, case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_is_associative(name, data):
    case = ACTIONS[name]
    etas = to_jax(data.draw(st.tuples(case.params, case.params, case.params)))
    lhs, rhs = jitted(name, "associativity")(*etas)
    assert_close(lhs, rhs, case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_and_inverse_stay_in_the_group(name, data):
    # Closure: same class, same static configuration (tree structure) and leaf shapes, finite.
    case = ACTIONS[name]
    g = case.make(jnp.asarray(data.draw(case.params)))
    h = case.make(jnp.asarray(data.draw(case.params)))
    for result in (g.compose(h), g.inverse(), case.identity()):
        assert type(result) is type(g)
        assert jax.tree.structure(result) == jax.tree.structure(g)
        for leaf, ref in zip(jax.tree.leaves(result), jax.tree.leaves(g), strict=True):
            assert leaf.shape == ref.shape and leaf.dtype == ref.dtype
            assert np.all(np.isfinite(np.asarray(leaf)))


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_from_params_is_a_one_parameter_homomorphism(name, data):
    # exp(sX) exp(tX) = exp((s + t)X) for every generator combination X = Σ η_i G_i.
    case = ACTIONS[name]
    eta = jnp.asarray(data.draw(case.params))
    s, t = (jnp.float32(v) for v in data.draw(st.tuples(ray_scalars(), ray_scalars())))
    lhs, rhs = jitted(name, "homomorphism")(eta, s, t)
    assert_close(lhs, rhs, case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_composed_element_acts_like_successive_actions_exactly(name, data):
    case = ACTIONS[name]
    eta1, eta2, probe = to_jax(data.draw(st.tuples(case.params, case.params, case.probes)))
    once, twice = jitted(name, "compatibility")(eta1, eta2, probe)
    assert_close(once, twice, case.rtol)


@pytest.mark.parametrize("name", IMAGE_NAMES, ids=IMAGE_NAMES)
@given(data=st.data())
def test_composed_element_acts_like_successive_actions_on_images(name, data):
    # One resampling vs two: equal up to the interpolation error of the smooth test images;
    # the tolerance of each action is justified in `strategies.ACTIONS`.
    case = ACTIONS[name]
    eta1, eta2, image = to_jax(
        data.draw(st.tuples(case.image_params, case.image_params, case.images))
    )
    once, twice = jitted(name, "image_compatibility")(eta1, eta2, image)
    assert once.shape == image.shape
    np.testing.assert_array_less(np.abs(np.asarray(once) - np.asarray(twice)), case.image_atol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_with_params_on_identity_template_equals_from_params(name, data):
    case = ACTIONS[name]
    eta = jnp.asarray(data.draw(case.params))
    via_template, direct = jitted(name, "with_params")(eta)
    assert_close(via_template, direct, case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_batched_elements_under_vmap_match_one_at_a_time(name):
    case = ACTIONS[name]
    rng = np.random.default_rng(0)
    n_params = case.identity().n_params
    etas1 = jnp.asarray(rng.uniform(-0.5, 0.5, (4, n_params)), dtype=jnp.float32)
    etas2 = jnp.asarray(rng.uniform(-0.5, 0.5, (4, n_params)), dtype=jnp.float32)
    batched, looped = jitted(name, "vmap")(etas1, etas2)
    assert_close(batched, looped, case.rtol)
