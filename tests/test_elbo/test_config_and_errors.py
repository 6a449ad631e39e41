"""β and learning-rate schedules, pose metrics, and clear errors for bad input."""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from elbo_helpers import SIZE


def test_beta_goes_from_10_to_1_on_a_cosine():
    from sgm_eqx.elbo import beta_schedule, get_elbo_preset

    config = get_elbo_preset("paper")
    beta = beta_schedule(config)
    steps = np.arange(0, config.steps + 1, 250)
    values = np.asarray([float(jnp.asarray(beta(s))) for s in steps])
    assert values[0] == pytest.approx(10.0)
    assert values[-1] == pytest.approx(1.0)
    expected = 1.0 + 9.0 * 0.5 * (1.0 + np.cos(np.pi * steps / config.steps))
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    assert np.all(np.diff(values) < 0)
    assert float(jnp.asarray(beta(config.steps + 100))) == pytest.approx(
        1.0
    )  # stays at 1 afterwards


def test_learning_rate_follows_the_appendix():
    from sgm_eqx.elbo import get_elbo_preset, lr_schedule

    config = get_elbo_preset("paper")
    lr = lr_schedule(config)
    assert float(jnp.asarray(lr(0))) == pytest.approx(1e-4)
    assert float(jnp.asarray(lr(250))) == pytest.approx(5.5e-4)  # linear warm-up
    assert float(jnp.asarray(lr(500))) == pytest.approx(1e-3)
    assert float(jnp.asarray(lr(15_000))) == pytest.approx(1e-4)


def test_moment_orientation_follows_rotations():
    from sgm_eqx.elbo import moment_orientation, rotate

    ys, xs = jnp.meshgrid(jnp.linspace(-1, 1, 28), jnp.linspace(-1, 1, 28), indexing="ij")
    bar = jnp.exp(-(xs**2) / 0.02 - ys**2 / 0.3)[..., None]  # vertical bar: 90°
    assert float(moment_orientation(bar)) % math.pi == pytest.approx(math.pi / 2, abs=1e-3)
    for deg in (-40.0, 25.0, 60.0):
        got = float(moment_orientation(rotate(bar, jnp.asarray(deg))))
        diff = (got - math.pi / 2 - math.radians(deg) + math.pi / 2) % math.pi - math.pi / 2
        assert abs(math.degrees(diff)) < 1.0


def test_angle_slope_recovers_a_known_slope():
    from sgm_eqx.elbo import angle_slope

    degrees = np.linspace(-45, 45, 9)
    offsets = np.array([[2.0], [-3.0], [3.1]])  # arbitrary per digit, some near ±π
    eta = offsets + np.radians(0.8 * degrees)[None, :]
    assert angle_slope(eta, degrees) == pytest.approx(0.8, abs=1e-6)


def test_elbo_rejects_a_batch_or_a_wrong_shape(plain_user, tiny_model):
    from sgm_eqx.elbo import elbo

    with pytest.raises(ValueError, match=r"`elbo\(x=...\)`.*\(12, 12, 1\).*vmap"):
        elbo(tiny_model, jnp.zeros((2, SIZE, SIZE, 1)), jr.key(0))
    with pytest.raises(ValueError, match=r"`LIVAE.encode\(x=...\)`"):
        tiny_model.encode(jnp.zeros((SIZE, SIZE)), key=jr.key(0))


def test_config_errors_name_the_field():
    from sgm_eqx.elbo import ELBOConfig, get_elbo_preset

    with pytest.raises(ValueError, match=r"`ELBOConfig\(steps=...\)`"):
        ELBOConfig(steps=0)
    with pytest.raises(ValueError, match=r"`ELBOConfig\(warmup_steps=...\)`"):
        ELBOConfig(steps=100, warmup_steps=100)
    with pytest.raises(ValueError, match=r"`ELBOConfig\(beta_start=...\)`"):
        ELBOConfig(beta_start=float("nan"))
    with pytest.raises(ValueError, match=r"expected one of \['paper', 'cpu'\]"):
        get_elbo_preset("gpu")


def test_model_rejects_mismatched_pieces(plain_user, tiny_model):
    from sgm_eqx.elbo import LIVAE, make_spline_flow

    wrong = make_spline_flow(jr.key(0), dim=1, cond_dim=3)
    with pytest.raises(ValueError, match=r"`LIVAE\(eta_prior=...\)`.*cond_shape \(2,\)"):
        LIVAE(**{**_fields(tiny_model), "eta_prior": wrong})
    with pytest.raises(ValueError, match=r"`LIVAE\(eta_index=...\)`"):
        LIVAE(**{**_fields(tiny_model), "eta_index": (7,)})
    with pytest.raises(ValueError, match=r"`LIVAE\(n_transforms=...\)`"):
        LIVAE(**{**_fields(tiny_model), "n_transforms": 0})


def _fields(model):
    import dataclasses

    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}


def test_cli_reports_bad_data_and_overrides(tmp_path, capsys):
    from sgm_eqx._cli import main

    out = str(tmp_path / "out")
    assert main(["elbo", "--data", f"mnist:{tmp_path}/none", "--out", out]) == 2
    assert "sgm_eqx never downloads" in capsys.readouterr().err
    data = tmp_path / "tiny.npz"
    np.savez(data, images=np.zeros((8, SIZE, SIZE, 1), np.float32))
    assert main(["elbo", "--data", str(data), "--out", out, "--set", "nosuch=1"]) == 2
    assert "`--set nosuch=1`" in capsys.readouterr().err
    assert main(["elbo", "--data", str(data), "--out", out, "--eval-digits", "0"]) == 2
    assert "`--eval-digits`" in capsys.readouterr().err
