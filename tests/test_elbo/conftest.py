"""Fixtures of the joint-ELBO tests (helpers live in `elbo_helpers.py`)."""

import jax.random as jr
import pytest
from elbo_helpers import perturbed, tiny_config


@pytest.fixture(scope="session")
def tiny_model():
    from sgm_eqx.elbo import make_livae

    return perturbed(make_livae(jr.key(0), tiny_config()), jr.key(1))
