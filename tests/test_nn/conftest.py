"""Fixtures shared by the network tests (sgm_eqx is imported lazily, inside functions)."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.random as jr
import pytest


@jax.jit  # arrays only: one compile per parameter structure (bounded/unbounded flows share)
def _perturb_params(params, key, scale):
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    # ONE normal draw for all leaves: a single random-bits kernel to compile, not one per leaf.
    return unravel(flat + scale * jr.normal(key, flat.shape, flat.dtype))


def _perturb(model, key, scale):
    """Add N(0, scale²) noise to every floating-point leaf (turns zero-initialised heads
    into generic, non-identity networks)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return eqx.combine(_perturb_params(params, key, scale), static)


@pytest.fixture(scope="session")
def perturb():
    return _perturb
