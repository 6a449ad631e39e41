"""Fixtures of this test folder (sgm_eqx is never imported here: see tests/conftest.py)."""

import jaxtyping
import pytest


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
