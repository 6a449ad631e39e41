"""Shared test configuration.

The jaxtyping import hook (``--jaxtyping-packages=sgm_eqx,beartype.beartype`` in
``pyproject.toml``) instruments ``sgm_eqx`` at import time, so the package must only be
imported lazily, inside tests or fixtures, never at the top of this file.
"""

import itertools
import os

# Compile time dominates this suite (tiny shapes, many distinct programs). XLA's "most
# optimisations off" cuts it by a quarter (measured: 181 s -> 133 s on test_losses.py and
# test_vae/test_models.py); results agree to float32 rounding. Set through the environment
# so that the subprocesses some tests start (kill -9, sharding) compile the same way.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import hypothesis
import jax
import jax.random as jr
import jaxtyping
import pytest

jax.config.update("jax_disable_most_optimizations", True)  # in case jax was imported first
# Four CPU devices, so that data-parallel training can be tested in process
# (tests/test_train/test_sharding.py); unsharded computations run on the first one.
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# JAX compiles on first use; property tests must not be judged by wall time.
hypothesis.settings.register_profile(
    "sgm", deadline=None, max_examples=25, derandomize=True, print_blob=True
)
hypothesis.settings.load_profile("sgm")


@pytest.fixture
def getkey():
    """Return a function that hands out a fresh typed PRNG key on every call."""
    counter = itertools.count()
    base = jr.key(0)

    def _getkey():
        return jr.fold_in(base, next(counter))

    return _getkey


@pytest.fixture
def plain_user():
    """Turn off the jaxtyping/beartype import hook for one test.

    Bad-input tests check the errors a user *without* the hook sees (our own ValueError /
    TypeError naming the argument), not the hook's generic type-check error.
    """
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)
