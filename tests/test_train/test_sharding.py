import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from train_helpers import tiny_model_config


def test_data_parallel_training_on_four_devices_matches_one_device():
    """Both stages trained on a mesh of the four CPU devices (`tests/conftest.py`) give the
    model trained on one device, up to the order of float32 reductions."""
    from sgm_eqx.train import (
        FlowStageConfig,
        InferenceStageConfig,
        TrainConfig,
        build_model,
        fit_stage,
        init_state,
        make_mesh,
    )

    assert jax.local_device_count() == 4, jax.devices()
    bounds = (0.1, 0.1, 0.5, 0.1, 0.1)
    config = TrainConfig(
        model=tiny_model_config(),
        inference=InferenceStageConfig(steps=3, batch_size=8, n_samples=2, augment_bounds=bounds),
        flow=FlowStageConfig(steps=3, batch_size=8, n_samples=2, augment_bounds=bounds),
        val_every=0,
        checkpoint_every=0,
    )
    data = jr.uniform(jr.key(11), (16, 8, 8, 1), jnp.float32)
    model = build_model(jr.key(0), config.model)

    def copy(tree):
        return jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, tree)

    mesh = make_mesh()
    for stage in ("inference", "flow"):
        stage_config = getattr(config, stage)
        one, _ = fit_stage(
            stage, copy(init_state(jr.key(1), model, stage, stage_config)), data, config,
            progress=False,
        )  # fmt: skip
        four, _ = fit_stage(
            stage, copy(init_state(jr.key(1), model, stage, stage_config)), data, config,
            mesh=mesh, progress=False,
        )  # fmt: skip
        sharding = jax.tree_util.tree_leaves(eqx.filter(four.model, eqx.is_array))[0].sharding
        assert len(sharding.device_set) == 4, sharding
        la = jax.tree_util.tree_leaves(eqx.filter(one.model, eqx.is_array))
        lb = jax.tree_util.tree_leaves(eqx.filter(four.model, eqx.is_array))
        worst = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(la, lb, strict=True))
        # Same data, same keys; only the order of float32 reductions differs across devices.
        assert worst < 1e-4, (stage, worst)
