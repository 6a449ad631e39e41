"""Building the SGM described by a [`sgm_eqx.train.ModelConfig`][]."""

import jax.numpy as jnp
import jax.random as jr
from flowjax.bijections import Chain
from jaxtyping import PRNGKeyArray

from .._sgm import SGM, make_sgm
from ..groups import (
    Affine2D,
    HSVColor,
    Product,
    SizeAspect,
    TranslationColumn,
    params_with_translation,
)
from ..nn import make_inference_net, make_transformation_flow
from ._config import ModelConfig


def make_action(config: ModelConfig):
    """The identity element of the configured group action (the SGM's template)."""
    affine = Affine2D.identity(order=config.interpolation_order, chart=config.affine_chart)
    if config.action == "affine":
        return affine
    if config.action == "color":
        return HSVColor.identity()
    return Product(affine, HSVColor.identity())


def build_model(key: PRNGKeyArray, config: ModelConfig) -> SGM:
    """A freshly initialised SGM: identity inference (η = 0) and a near-identity flow.

    Uses [`sgm_eqx.nn.make_inference_net`][] and [`sgm_eqx.nn.make_transformation_flow`][]
    with the sizes of `config`, assembled by [`sgm_eqx.make_sgm`][]. The same `(key,
    config)` always gives the same model; checkpoints use it (under `eqx.filter_eval_shape`)
    as their template.
    """
    action = make_action(config)
    n_params = action.n_params
    if config.eta_bound is not None and len(config.eta_bound) != n_params:
        raise ValueError(
            f"`ModelConfig(eta_bound=...)`: expected {n_params} bounds for action "
            f"{config.action!r}; got {len(config.eta_bound)}"
        )
    inf_key, flow_key, _ = jr.split(key, 3)  # three keys: models of earlier releases
    has_rotation = config.action != "color"  # the readouts act on the affine part
    inference = make_inference_net(
        inf_key,
        image_shape=config.image_shape,
        n_params=n_params,
        hidden=config.inference_hidden,
        backbone=config.inference_backbone,
        eta_bound=config.eta_bound,
        squash=config.squash,
        dropout=config.inference_dropout,
        init_scale=config.init_scale,
        pose_features=config.inference_pose_features,
        angles=(2,) if config.inference_angle_readout and has_rotation else (),
        readout=_translation_readout
        if config.inference_translation_readout and has_rotation
        else None,
    )
    flow = make_transformation_flow(
        flow_key,
        image_shape=config.image_shape,
        n_params=n_params,
        flow_layers=config.flow_layers,
        bins=config.flow_bins,
        interval=config.flow_interval,
        feature_hidden=config.feature_hidden,
        base_hidden=config.base_hidden,
        nn_width=config.flow_nn_width,
        dropout=config.flow_dropout,
        eta_bound=config.eta_bound,
        squash=config.squash,
        angles=(2,) if config.flow_circular_angle and has_rotation else (),
        chart=_flow_chart(config, n_params, has_rotation),
        condition_blur=config.flow_condition_blur,
        condition_blur_jitter=config.flow_condition_blur_jitter,
    )
    return make_sgm(action=action, inference=inference, flow=flow)


def _flow_chart(config: ModelConfig, n_params: int, has_rotation: bool):
    # The flow's coordinates -> η: size and aspect first, then the translation column.
    charts = []
    if config.flow_size_aspect and has_rotation:
        charts.append(SizeAspect(n_params))
    if config.flow_translation_column and has_rotation:
        charts.append(TranslationColumn(n_params))
    if not charts:
        return None
    return charts[0] if len(charts) == 1 else Chain(charts)


def _translation_readout(eta):
    # the affine parameters come first for both "affine" and "affine+color"
    return jnp.concatenate([params_with_translation(eta[:5]), eta[5:]])
