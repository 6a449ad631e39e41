import dataclasses
import math
from typing import Any, Literal

import jax.numpy as jnp
import numpy as np
import pytest


def test_presets_carry_the_papers_hyper_parameters():
    from sgm_eqx.train import PRESET_NAMES, get_preset

    assert set(PRESET_NAMES) == {
        "default",
        "mnist-affine",
        "mnist-color",
        "dsprites",
        "cpu-small",
        "demo",
    }
    c1 = get_preset("mnist-affine")  # App. C.1
    assert c1.inference.batch_size == 512 and c1.inference.n_samples == 5
    assert (c1.inference.lr, c1.inference.init_mult, c1.inference.final_mult) == (3e-4, 1e-2, 1e-3)
    assert (c1.inference.warmup_frac, c1.inference.clip_norm) == (0.2, 10.0)
    assert c1.inference.invertibility_weight == 0.1 and c1.inference.symmetric
    assert c1.inference.blur_sigma_init == 0.0 and c1.inference.weight_decay == 1e-4
    assert c1.inference.augment_bounds == (0.25, 0.25, math.pi, 0.25, 0.25)
    assert (c1.flow.lr, c1.flow.init_mult, c1.flow.final_mult) == (3e-3, 0.1, 0.03)
    assert (c1.flow.clip_norm, c1.flow.warmup_frac, c1.flow.steps) == (2.0, 0.2, 60_000)
    assert c1.model.inference_hidden == (2048, 1024, 512, 256)
    assert c1.model.feature_hidden == (1024, 512, 512) and c1.model.flow_layers == 6
    assert c1.model.flow_bins == 6 and c1.model.flow_dropout == 0.2
    c2 = get_preset("mnist-color")  # App. C.2
    assert c2.model.eta_bound == (0.5, 2.301, 0.51) and c2.inference.invertibility_weight == 0
    assert (c2.inference.blur_sigma_init, c2.inference.clip_norm) == (3.0, 2.0)
    assert (c2.inference.final_mult, c2.inference.warmup_frac) == (1e-4, 0.1)
    assert c2.flow.steps == 15_000
    c3 = get_preset("dsprites")  # App. C.3
    assert c3.model.eta_bound == (0.75, 0.75, math.pi, 0.75, 0.75)
    assert not c3.inference.symmetric and c3.inference.invertibility_weight == 0
    assert (c3.inference.lr, c3.inference.init_mult, c3.inference.clip_norm) == (1e-3, 3e-2, 3.0)
    assert c3.inference.warmup_frac == 0.05
    assert c3.flow.augment_bounds == tuple(0.75 * b for b in c3.inference.augment_bounds)
    assert (c3.flow.lr, c3.flow.final_mult, c3.model.flow_dropout) == (3e-4, 0.3, 0.05)
    small = get_preset("cpu-small")
    assert small.model.image_shape == (32, 32, 1) and small.model.inference_hidden == (256, 128)
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("mnist")


@pytest.mark.parametrize("name", ["mnist-affine", "mnist-color", "dsprites", "cpu-small"])
def test_config_json_round_trip_is_exact(name):
    from sgm_eqx.train import TrainConfig, get_preset

    config = get_preset(name)
    assert TrainConfig.from_json(config.to_json()) == config


def test_schedule_warms_up_then_decays_to_final_multiplier():
    from sgm_eqx.train import InferenceStageConfig, make_schedule

    cfg = InferenceStageConfig(
        steps=1000, lr=1e-3, init_mult=1e-2, final_mult=1e-3, warmup_frac=0.2
    )
    s = make_schedule(cfg)
    assert jnp.allclose(s(0), 1e-5) and jnp.allclose(s(200), 1e-3)
    assert jnp.allclose(s(1000), 1e-6, rtol=1e-4)
    assert float(jnp.asarray(s(600))) < float(jnp.asarray(s(300)))


def test_blur_sigma_decays_linearly_to_zero_over_the_first_fraction():
    from sgm_eqx.train import InferenceStageConfig, blur_sigma

    cfg = InferenceStageConfig(steps=10_000, blur_sigma_init=3.0, blur_frac=0.01)
    sig = [float(blur_sigma(cfg, jnp.asarray(t))) for t in (0, 50, 100, 5000)]
    assert sig == pytest.approx([3.0, 1.5, 0.0, 0.0])


def test_bad_config_values_raise_clear_errors():
    from sgm_eqx.train import FlowStageConfig, InferenceStageConfig, ModelConfig

    with pytest.raises(ValueError, match=r"InferenceStageConfig\(steps=...\)"):
        InferenceStageConfig(steps=0)
    with pytest.raises(ValueError, match=r"FlowStageConfig\(warmup_frac=...\)"):
        FlowStageConfig(warmup_frac=1.5)
    with pytest.raises(ValueError, match=r"ModelConfig\(flow_layers=...\)"):
        ModelConfig(flow_layers=0)
    with pytest.raises(ValueError, match=r"ModelConfig\(flow_condition_blur=...\)"):
        ModelConfig(flow_condition_blur=-1.0)
    with pytest.raises(ValueError, match=r"ModelConfig\(flow_condition_blur_jitter=...\)"):
        ModelConfig(flow_condition_blur=1.0, flow_condition_blur_jitter=1.5)
    with pytest.raises(ValueError, match=r"needs flow_condition_blur > 0"):
        ModelConfig(flow_condition_blur_jitter=0.5)
    with pytest.raises(ValueError, match=r"inference_translation_readout=True.*squash=false"):
        ModelConfig(eta_bound=(1.0,) * 5, inference_translation_readout=True)
    with pytest.raises(ValueError, match=r"flow_circular_angle=True.*squash=false"):
        ModelConfig(eta_bound=(1.0,) * 5, flow_circular_angle=True)
    with pytest.raises(ValueError, match=r"flow_translation_column=True.*squash=false"):
        ModelConfig(eta_bound=(1.0,) * 5, flow_translation_column=True)


def test_flow_size_aspect_chains_before_the_translation_column():
    """`flow_size_aspect` makes the flow model (σ, α) instead of the two log-scales: its
    chart maps them to η first, then the translation column does; samples and log_prob
    agree through the chain (a sample's log_prob is finite and equals the density the flow
    reports with the sample)."""
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    from flowjax.bijections import Chain

    from sgm_eqx.groups import SizeAspect, TranslationColumn
    from sgm_eqx.train import ModelConfig, build_model

    small: dict[str, Any] = dict(
        inference_hidden=(8,), feature_hidden=(8,), base_hidden=(8,), flow_nn_width=8
    )
    config = ModelConfig(
        image_shape=(12, 12, 1), flow_size_aspect=True, flow_translation_column=True, **small
    )
    from sgm_eqx.nn import TransformationFlow

    flow = build_model(jr.key(0), config).flow
    assert isinstance(flow, TransformationFlow)
    assert isinstance(flow.chart, Chain)
    assert [type(b) for b in flow.chart.bijections] == [SizeAspect, TranslationColumn]
    alone = build_model(jr.key(0), dataclasses.replace(config, flow_translation_column=False))
    assert isinstance(alone.flow, TransformationFlow)
    assert isinstance(alone.flow.chart, SizeAspect)
    x_hat = jnp.zeros((12, 12, 1))
    for key in jr.split(jr.key(1), 3):
        eta, log_p = flow.sample_and_log_prob(key, condition=x_hat)
        assert np.isfinite(log_p)
        np.testing.assert_allclose(flow.log_prob(eta, condition=x_hat), log_p, rtol=1e-4)
    with pytest.raises(ValueError, match=r"flow_size_aspect=True.*squash=false"):
        ModelConfig(eta_bound=(1.0,) * 5, flow_size_aspect=True)


def test_flow_chart_switches_build_the_flow_they_name():
    """`flow_translation_column` puts a `TranslationColumn` chart last and
    `flow_circular_angle` puts the rotation (index 2) on the circle, for affine and
    affine+color; a colour model ignores both; the plain flow's checkpoint leaves are
    unchanged by the new (leafless) chart field."""
    import equinox as eqx
    import jax
    import jax.random as jr

    from sgm_eqx.groups import TranslationColumn
    from sgm_eqx.nn import TransformationFlow
    from sgm_eqx.train import ModelConfig, build_model

    small: dict[str, Any] = dict(
        inference_hidden=(8,), feature_hidden=(8,), base_hidden=(8,), flow_nn_width=8
    )
    on: dict[str, Any] = dict(flow_translation_column=True, flow_circular_angle=True)
    actions: tuple[tuple[Literal["affine", "affine+color"], int], ...] = (
        ("affine", 1),
        ("affine+color", 3),
    )
    for action, channels in actions:
        config = ModelConfig(image_shape=(12, 12, channels), action=action, **on, **small)
        flow = build_model(jr.key(0), config).flow
        assert isinstance(flow, TransformationFlow)
        assert isinstance(flow.chart, TranslationColumn) and flow.angles == (2,)
        assert flow.chart.shape == flow.shape
        plain = build_model(jr.key(0), dataclasses.replace(config, **dict.fromkeys(on, False)))
        leaves = jax.tree_util.tree_leaves(eqx.filter(flow, eqx.is_array))
        plain_leaves = jax.tree_util.tree_leaves(eqx.filter(plain.flow, eqx.is_array))
        assert [a.shape for a in leaves] == [a.shape for a in plain_leaves]
    colour = ModelConfig(image_shape=(12, 12, 3), action="color", **on, **small)
    flow = build_model(jr.key(0), colour).flow
    assert isinstance(flow, TransformationFlow)
    assert flow.chart is None and flow.angles == ()


def test_rotation_readouts_build_a_net_that_starts_at_the_identity_chart():
    """With both readouts, q's mean at init is the image's own angle and a zero translation
    column, for affine and affine+color models; checkpoints of the plain model keep their
    structure (the readouts add head outputs only when switched on)."""
    import jax.random as jr

    from sgm_eqx.groups import Affine2D
    from sgm_eqx.nn import InferenceNet
    from sgm_eqx.train import ModelConfig, build_model

    small: dict[str, Any] = dict(
        inference_hidden=(8,), feature_hidden=(8,), base_hidden=(8,), flow_nn_width=8
    )
    cases: tuple[tuple[Literal["affine", "affine+color"], int], ...] = (
        ("affine", 1),
        ("affine+color", 3),
    )
    for action, channels in cases:
        config = ModelConfig(
            image_shape=(12, 12, channels),
            action=action,
            inference_angle_readout=True,
            inference_translation_readout=True,
            **small,
        )
        model = build_model(jr.key(0), config)
        x = jnp.zeros((12, 12, channels)).at[3:8, 4:6].set(1.0).at[3:5, 4:9].set(1.0)
        eta = model.inference_net(x)
        assert eta.shape == (model.template.n_params,)
        g = Affine2D.from_params(eta[:5])
        np.testing.assert_allclose(g.matrix[:2, 2], 0.0, atol=1e-6)  # translation column
        assert abs(float(eta[2])) > 1e-3  # the angle of the image's moments
    plain = build_model(jr.key(0), ModelConfig(image_shape=(12, 12, 1), **small)).inference_net
    assert isinstance(plain, InferenceNet)
    assert plain.head.weight.shape[0] == 5
    # a colour model has no rotation: the switches are ignored, not an error
    colour = ModelConfig(
        image_shape=(12, 12, 3),
        action="color",
        inference_angle_readout=True,
        inference_translation_readout=True,
        **small,
    )
    net = build_model(jr.key(0), colour).inference_net
    assert isinstance(net, InferenceNet)
    assert net.angles == () and net.readout is None


def test_batch_order_is_a_permutation_per_epoch():
    import jax.random as jr

    from sgm_eqx.train import batch_indices

    key = jr.key(0)
    idx = jnp.concatenate([batch_indices(key, jnp.asarray(t), 12, 4) for t in range(3)])
    assert sorted(idx.tolist()) == list(range(12))
    again = batch_indices(key, jnp.asarray(1), 12, 4)
    assert bool(jnp.all(again == idx[4:8]))


def test_scale_parameter_can_have_its_own_learning_rate():
    import equinox as eqx
    import jax
    import jax.random as jr

    from sgm_eqx.nn import InferenceNet, MLPEncoder, make_inference_net
    from sgm_eqx.train import InferenceStageConfig, make_optimizer

    net = make_inference_net(jr.key(0), image_shape=(4, 4, 1), n_params=2, hidden=(4,))
    params = eqx.filter(net, eqx.is_inexact_array)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)

    def update(scale_lr) -> InferenceNet:
        opt = make_optimizer(InferenceStageConfig(steps=10, warmup_frac=0.0, scale_lr=scale_lr))
        with jax.numpy_dtype_promotion("standard"):  # optax's bias correction: float ** int
            updates = opt.update(grads, opt.init(params), params)[0]
        assert isinstance(updates, InferenceNet)  # the updates have the params' structure
        return updates

    def first_weight(net: InferenceNet):
        assert isinstance(net.encoder, MLPEncoder)
        return net.encoder.mlp.linears[0].weight

    shared, own = update(None), update(1e-2)
    # Adam's first update is -lr * sign(g) (g/sqrt(g^2) with bias correction), so the scale's
    # own Adam moves it by exactly its peak rate (no warm-up, no weight decay), while every
    # other leaf keeps the shared AdamW update.
    assert jnp.allclose(own.raw_scale, -1e-2, rtol=1e-4)
    assert not jnp.allclose(shared.raw_scale, own.raw_scale)
    assert jnp.array_equal(own.head.weight, shared.head.weight)
    assert jnp.array_equal(first_weight(own), first_weight(shared))
    with pytest.raises(ValueError, match=r"scale_lr"):
        InferenceStageConfig(scale_lr=0.0)


def test_polar_chart_reaches_the_template_and_refuses_exp_charts(plain_user):
    import jax.random as jr

    from sgm_eqx.groups import Affine2D
    from sgm_eqx.train import ModelConfig, build_model

    cfg = ModelConfig(
        image_shape=(8, 8, 1), affine_chart="polar", inference_hidden=(8,),
        feature_hidden=(8,), base_hidden=(4,), flow_layers=1, flow_nn_width=4,
    )  # fmt: skip
    template = build_model(jr.key(0), cfg).template
    assert isinstance(template, Affine2D) and template.chart == "polar"
    with pytest.raises(ValueError, match=r"inference_translation_readout=True.*'polar'"):
        ModelConfig(affine_chart="polar", inference_translation_readout=True)
    with pytest.raises(ValueError, match=r"flow_translation_column=True.*'polar'"):
        ModelConfig(affine_chart="polar", flow_translation_column=True)
    with pytest.raises(ValueError, match=r"ModelConfig\(affine_chart=...\)"):
        ModelConfig(affine_chart="log")  # type: ignore[arg-type]
