"""Fixtures shared by the network tests (sgm_eqx is imported lazily, inside functions)."""

import equinox as eqx
import jax
import jax.random as jr
import pytest


@eqx.filter_jit  # one compile per model structure instead of one per leaf shape
def _perturb(model, key, scale):
    """Add N(0, scale²) noise to every floating-point leaf (turns zero-initialised heads
    into generic, non-identity networks)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(params)
    keys = jr.split(key, len(leaves))
    leaves = [x + scale * jr.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys, strict=True)]
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


@pytest.fixture(scope="session")
def perturb():
    return _perturb
