"""Group laws and action compatibility, as hypothesis properties over every registered action.

The registry is `strategies.ACTIONS`. Compilation dominates the cost of these tests, so every
exact law of one action is evaluated by ONE jitted function (`_all_laws`, cached per action):
each property test draws its own inputs, calls it, and asserts its own part. Image-level
compatibility has its own jitted function. Everything runs under `jax.jit`; batching is
checked by vmapping `from_params`/`with_params` inside the same function (and comparing with
an unbatched call), gradients in `test_gradients.py`.
"""

import functools
from typing import Any

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from strategies import ACTIONS, ActionCase, blob, ray_scalars

NAMES = list(ACTIONS)
IMAGE_NAMES = [name for name, case in ACTIONS.items() if case.images is not None]


def assert_close(actual, expected, rtol):
    """Leafwise `|a - b| <= rtol * (1 + max|b|)`: relative to the scale of the whole leaf."""
    for a, b in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        scale = 1.0 + np.max(np.abs(b))
        np.testing.assert_array_less(np.abs(a - b), rtol * scale)


def _all_laws(case, eta1, eta2, eta3, s, t, probe) -> dict[str, tuple[Any, Any]]:
    c = case.canonical
    # `from_params` is traced once, vmapped over every parameter vector the laws need (a
    # batch of elements is one pytree with a leading axis); this keeps compilation short.
    etas = jnp.stack([eta1, eta2, eta3, jnp.zeros_like(eta1), s * eta1, t * eta1, (s + t) * eta1])
    made = jax.vmap(case.make)(etas)
    g, h, k, from_zero, g_s, g_t, g_st = (jax.tree.map(lambda x, i=i: x[i], made) for i in range(7))
    e = case.identity()
    via_template = jax.vmap(e.with_params)(etas[:2])
    inv = g.inverse()
    return {
        "identity": ((c(e.compose(g)), c(g.compose(e))), (c(g), c(g))),
        "from_zero": (c(from_zero), c(e)),
        "identity_acts": (case.act_exact(e, probe), probe),
        "inverse": ((c(g.compose(inv)), c(inv.compose(g))), (c(e), c(e))),
        "associativity": (c(g.compose(h).compose(k)), c(g.compose(h.compose(k)))),
        "homomorphism": (c(g_s.compose(g_t)), c(g_st)),
        "compatibility": (
            case.act_exact(g.compose(h), probe),
            case.act_exact(g, case.act_exact(h, probe)),
        ),
        # Elements built one at a time (`case.make` above, unbatched) and in a vmapped batch.
        "with_params": (jax.vmap(c)(via_template), jnp.stack([c(case.make(eta1)), c(h)])),
        "closure": ((g.compose(h), inv, e), g),
    }


def _image_compatibility(case, eta1, eta2, image):
    g, h = case.make(eta1), case.make(eta2)
    return g.compose(h).apply(image), g.apply(h.apply(image))


@functools.cache
def laws(name: str):
    return jax.jit(functools.partial(_all_laws, ACTIONS[name]))


@functools.cache
def image_compatibility(name: str):
    return jax.jit(functools.partial(_image_compatibility, ACTIONS[name]))


def draw_laws(name, data) -> tuple[dict[str, tuple[Any, Any]], ActionCase]:
    """Draw every input of `_all_laws` and evaluate it."""
    case = ACTIONS[name]
    etas = data.draw(st.tuples(case.params, case.params, case.params))
    s, t = data.draw(st.tuples(ray_scalars(), ray_scalars()))
    probe = data.draw(case.probes)
    args = (*etas, np.float32(s), np.float32(t), probe)
    return laws(name)(*jax.tree.map(jnp.asarray, args)), case


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_identity_is_neutral_and_acts_trivially(name, data):
    out, case = draw_laws(name, data)
    assert_close(*out["identity"], case.rtol)
    assert_close(*out["from_zero"], case.rtol)  # from_params(0) is the identity
    assert_close(*out["identity_acts"], case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_with_inverse_is_identity(name, data):
    out, case = draw_laws(name, data)
    assert_close(*out["inverse"], case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_is_associative(name, data):
    out, case = draw_laws(name, data)
    assert_close(*out["associativity"], case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_compose_and_inverse_stay_in_the_group(name, data):
    # Closure: same class, same static configuration (tree structure) and leaf shapes, finite.
    out, _ = draw_laws(name, data)
    results, g = out["closure"]
    for result in results:
        assert type(result) is type(g)
        assert jax.tree.structure(result) == jax.tree.structure(g)
        for leaf, ref in zip(jax.tree.leaves(result), jax.tree.leaves(g), strict=True):
            assert leaf.shape == ref.shape and leaf.dtype == ref.dtype
            assert np.all(np.isfinite(np.asarray(leaf)))


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_from_params_is_a_one_parameter_homomorphism(name, data):
    # exp(sX) exp(tX) = exp((s + t)X) for every generator combination X = Σ η_i G_i.
    out, case = draw_laws(name, data)
    assert_close(*out["homomorphism"], case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_composed_element_acts_like_successive_actions_exactly(name, data):
    out, case = draw_laws(name, data)
    assert_close(*out["compatibility"], case.rtol)


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
@given(data=st.data())
def test_with_params_on_identity_template_equals_from_params_batched_or_not(name, data):
    out, case = draw_laws(name, data)
    assert_close(*out["with_params"], case.rtol)


@pytest.mark.parametrize("name", IMAGE_NAMES, ids=IMAGE_NAMES)
@given(data=st.data())
def test_composed_element_acts_like_successive_actions_on_images(name, data):
    # One resampling vs two: equal up to the interpolation error of the smooth test images;
    # the tolerance of each action is justified in `strategies.ACTIONS`.
    case = ACTIONS[name]
    assert case.image_params is not None and case.images is not None  # an image action
    eta1, eta2, image = jax.tree.map(
        jnp.asarray, data.draw(st.tuples(case.image_params, case.image_params, case.images))
    )
    once, twice = image_compatibility(name)(eta1, eta2, image)
    assert once.shape == image.shape
    np.testing.assert_array_less(np.abs(np.asarray(once) - np.asarray(twice)), case.image_atol)


def test_image_tolerance_detects_a_wrong_composition_order():
    # The image-level test above could pass vacuously if its tolerance were too loose; a
    # quarter turn and a translation of 0.1 (0.8 pixel at size 16) composed in the wrong
    # order must exceed it.
    case = ACTIONS["affine5"]
    image = jnp.asarray(blob(16))
    g = jnp.array([0.0, 0.0, np.pi / 2, 0.0, 0.0], jnp.float32)
    h = jnp.array([0.1, 0.0, 0.0, 0.0, 0.0], jnp.float32)
    once, _ = image_compatibility("affine5")(g, h, image)
    _, wrong = image_compatibility("affine5")(h, g, image)  # h ∘ g instead of g ∘ h
    assert np.max(np.abs(np.asarray(once) - np.asarray(wrong))) > 2 * case.image_atol
