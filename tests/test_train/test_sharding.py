import os
import pathlib
import subprocess
import sys
import textwrap

# Runs in a subprocess: XLA_FLAGS must be set before jax is imported.
_SCRIPT = textwrap.dedent(
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    from sgm_eqx.train import (FlowStageConfig, InferenceStageConfig, ModelConfig, TrainConfig,
                               build_model, fit_stage, init_state, make_mesh)

    assert jax.local_device_count() == 4, jax.devices()
    bounds = (0.1, 0.1, 0.5, 0.1, 0.1)
    config = TrainConfig(
        model=ModelConfig(image_shape=(8, 8, 1), action="affine", interpolation_order=1,
                          inference_hidden=(16,), feature_hidden=(16,), base_hidden=(8,),
                          flow_layers=1, flow_nn_width=8),
        inference=InferenceStageConfig(steps=3, batch_size=8, n_samples=2,
                                       augment_bounds=bounds),
        flow=FlowStageConfig(steps=3, batch_size=8, n_samples=2, augment_bounds=bounds),
        val_every=0, checkpoint_every=0)
    data = jr.uniform(jr.key(11), (16, 8, 8, 1), jnp.float32)
    model = build_model(jr.key(0), config.model)
    copy = lambda t: jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, t)
    mesh = make_mesh()
    for stage in ("inference", "flow"):
        start = lambda: copy(init_state(jr.key(1), model, stage, getattr(config, stage)))
        one, _ = fit_stage(stage, start(), data, config, progress=False)
        four, _ = fit_stage(stage, start(), data, config, mesh=mesh, progress=False)
        sharding = jax.tree_util.tree_leaves(eqx.filter(four.model, eqx.is_array))[0].sharding
        assert len(sharding.device_set) == 4, sharding
        la = jax.tree_util.tree_leaves(eqx.filter(one.model, eqx.is_array))
        lb = jax.tree_util.tree_leaves(eqx.filter(four.model, eqx.is_array))
        worst = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(la, lb))
        # Same data, same keys; only the order of float32 reductions differs across devices.
        assert worst < 1e-4, (stage, worst)
        print(stage, "max abs difference", worst)
    print("SHARDING-OK")
    """
)


def test_data_parallel_training_on_four_devices_matches_one_device():
    env = dict(os.environ)
    # LLVM optimisation level 0 halves the compile time of the four programs; both runs
    # compared below are compiled with the same flags, so the comparison is unaffected.
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0"
    )
    env["JAX_PLATFORMS"] = "cpu"
    root = pathlib.Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHARDING-OK" in result.stdout
