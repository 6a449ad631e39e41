import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import pytest
from train_helpers import tiny_model_config


def _tiny_config():
    from sgm_eqx.train import FlowStageConfig, InferenceStageConfig, TrainConfig

    bounds = (0.1, 0.1, 0.5, 0.1, 0.1)
    return TrainConfig(
        model=tiny_model_config(flow_dropout=0.1),
        # blur σ 1 -> 0 over the first 2 of the 4 steps: the blur schedule is part of the
        # resumed computation.
        inference=InferenceStageConfig(
            steps=4,
            batch_size=4,
            n_samples=2,
            augment_bounds=bounds,
            warmup_frac=0.5,
            blur_sigma_init=1.0,
            blur_frac=0.5,
        ),
        flow=FlowStageConfig(
            steps=4, batch_size=4, n_samples=2, augment_bounds=bounds, warmup_frac=0.5
        ),
        val_every=0,
        checkpoint_every=0,
    )


def _data(n=12):
    return jr.uniform(jr.key(11), (n, 8, 8, 1), jnp.float32)


def _assert_identical(a, b):
    la = jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
    lb = jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))
    assert len(la) == len(lb) and la
    for x, y in zip(la, lb, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert bool(jnp.all(x == y)), "resumed run differs from the uninterrupted one"


@pytest.fixture(scope="module")
def start():
    from sgm_eqx.train import build_model

    config = _tiny_config()
    return config, build_model(jr.key(0), config.model)


@pytest.mark.parametrize("stage", ["inference", "flow"])
def test_resume_from_checkpoint_reproduces_uninterrupted_run_bit_for_bit(start, stage, tmp_path):
    from sgm_eqx.train import fit_stage, init_state, load_checkpoint

    config, model = start
    data = _data()

    def fresh():
        s = init_state(jr.key(1), model, stage, getattr(config, stage))
        return jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, s)

    straight, _ = fit_stage(stage, fresh(), data, config, progress=False)
    half, _ = fit_stage(
        stage, fresh(), data, config, until=2, checkpoint_dir=tmp_path, progress=False
    )
    assert int(half.step) == 2
    loaded, loaded_config = load_checkpoint(tmp_path, stage)
    assert loaded_config == config
    _assert_identical(loaded, half)
    resumed, _ = fit_stage(stage, loaded, data, config, progress=False)
    assert int(resumed.step) == int(straight.step) == 4
    _assert_identical(resumed, straight)


def test_non_finite_loss_stops_with_message_and_keeps_last_good_state(start, tmp_path):
    from sgm_eqx.train import NonFiniteLossError, fit_stage, init_state, load_checkpoint

    config, model = start
    state = init_state(jr.key(1), model, "inference", config.inference)
    state = jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, state)
    good, _ = fit_stage("inference", state, _data(), config, until=2, progress=False)
    good_copy = jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, good)
    bad_data = jnp.full((12, 8, 8, 1), jnp.nan, jnp.float32)
    with pytest.raises(NonFiniteLossError, match=r"stage 1 .*non-finite loss at step 2 \(loss=nan"):
        fit_stage("inference", good, bad_data, config, checkpoint_dir=tmp_path, progress=False)
    saved, _ = load_checkpoint(tmp_path, "inference")
    _assert_identical(saved, good_copy)


def test_train_runs_both_stages_and_resumes_from_a_finished_stage(start, tmp_path):
    from sgm_eqx.train import load_checkpoint, train

    config, _ = start
    data = _data()
    model, hist = train(
        jr.key(3), data, config, val_data=data[:4], checkpoint_dir=tmp_path, progress=False
    )
    assert len(hist["inference"].train) >= 1 and len(hist["flow"].val) == 1
    flow_state, _ = load_checkpoint(tmp_path, "flow")
    assert int(flow_state.step) == config.flow.steps
    # Re-running finds the finished checkpoints and returns the same model without training.
    again, _ = train(jr.key(3), data, config, checkpoint_dir=tmp_path, progress=False)
    _assert_identical(again, model)


def test_augment_bounds_must_match_the_number_of_parameters(start):
    import dataclasses

    from sgm_eqx.train import fit_stage, init_state

    config, model = start
    bad = dataclasses.replace(
        config, inference=dataclasses.replace(config.inference, augment_bounds=(0.1,))
    )
    state = init_state(jr.key(1), model, "inference", bad.inference)
    with pytest.raises(ValueError, match=r"augment_bounds=\.\.\.\)`: expected 5 bounds"):
        fit_stage("inference", state, _data(), bad, progress=False)
