"""The paper's configurations (App. C.1-C.3) and a small CPU configuration."""

import math

from ._config import FlowStageConfig, InferenceStageConfig, ModelConfig, TrainConfig

_AFFINE_MAX = (0.25, 0.25, math.pi, 0.25, 0.25)
_COLOR_MAX = (0.5, 2.301, 0.51)
_DSPRITES_MAX = (0.75, 0.75, math.pi, 0.75, 0.75)


def _mnist_affine() -> TrainConfig:
    # App. C intro + C.1: batch 512, 60k steps each, inference MLP [2048, 1024, 512, 256],
    # NSF with 6 bins on [-3, 3], 6 layers, features [1024, 512, 512] (dropout 0.2).
    return TrainConfig(
        model=ModelConfig(
            image_shape=(28, 28, 1),
            action="affine",
            interpolation_order=3,
            flow_dropout=0.2,
        ),
        inference=InferenceStageConfig(
            steps=60_000,
            lr=3e-4,
            init_mult=1e-2,
            final_mult=1e-3,
            warmup_frac=0.2,
            clip_norm=10.0,
            augment_bounds=_AFFINE_MAX,
            invertibility_weight=0.1,
            symmetric=True,
            blur_sigma_init=0.0,
        ),
        flow=FlowStageConfig(
            steps=60_000,
            lr=3e-3,
            init_mult=0.1,
            final_mult=0.03,
            warmup_frac=0.2,
            clip_norm=2.0,
            augment_bounds=_AFFINE_MAX,
        ),
    )


def _mnist_color() -> TrainConfig:
    # App. C.2: no invertibility loss, η bounded by tanh to ±(0.5, 2.301, 0.51) in both
    # networks; inference: blur 3, clip 2, lr 3e-4, mults 1e-2 / 1e-4, warm-up 0.1;
    # flow: lr 3e-3, mults 0.1 / 0.03, 15k steps, 6 layers, dropout 0.2 (clip 2 and
    # warm-up 0.2 as in C.1).
    return TrainConfig(
        model=ModelConfig(
            image_shape=(28, 28, 3),
            action="color",
            eta_bound=_COLOR_MAX,
            flow_dropout=0.2,
        ),
        inference=InferenceStageConfig(
            steps=60_000,
            lr=3e-4,
            init_mult=1e-2,
            final_mult=1e-4,
            warmup_frac=0.1,
            clip_norm=2.0,
            augment_bounds=_COLOR_MAX,
            invertibility_weight=0.0,
            symmetric=True,
            blur_sigma_init=3.0,
        ),
        flow=FlowStageConfig(
            steps=15_000,
            lr=3e-3,
            init_mult=0.1,
            final_mult=0.03,
            warmup_frac=0.2,
            clip_norm=2.0,
            augment_bounds=_COLOR_MAX,
        ),
    )


def _dsprites() -> TrainConfig:
    # App. C.3: 64x64 sprites; η bounded by tanh to ±(0.75, 0.75, π, 0.75, 0.75); no
    # invertibility loss; not symmetric; inference: augmentation U(±η_max), blur 3, clip 3,
    # lr 1e-3, mults 3e-2 / 1e-3, warm-up 0.05; flow: augmentation U(±0.75 η_max),
    # lr 3e-4, final mult 0.3, 60k steps, 6 layers, dropout 0.05 (init mult 0.1, clip 2 and
    # warm-up 0.2 as in C.1).
    return TrainConfig(
        model=ModelConfig(
            image_shape=(64, 64, 1),
            action="affine",
            interpolation_order=3,
            eta_bound=_DSPRITES_MAX,
            flow_dropout=0.05,
        ),
        inference=InferenceStageConfig(
            steps=60_000,
            lr=1e-3,
            init_mult=3e-2,
            final_mult=1e-3,
            warmup_frac=0.05,
            clip_norm=3.0,
            augment_bounds=_DSPRITES_MAX,
            invertibility_weight=0.0,
            symmetric=False,
            blur_sigma_init=3.0,
        ),
        flow=FlowStageConfig(
            steps=60_000,
            lr=3e-4,
            init_mult=0.1,
            final_mult=0.3,
            warmup_frac=0.2,
            clip_norm=2.0,
            augment_bounds=tuple(0.75 * b for b in _DSPRITES_MAX),
        ),
    )


def _cpu_small() -> TrainConfig:
    # Small nets on 32x32x1 images, a few thousand steps in all: minutes on 2 CPU cores.
    return TrainConfig(
        model=ModelConfig(
            image_shape=(32, 32, 1),
            action="affine",
            interpolation_order=1,
            inference_hidden=(256, 128),
            feature_hidden=(256, 128),
            base_hidden=(64,),
            flow_layers=4,
            flow_nn_width=64,
        ),
        inference=InferenceStageConfig(
            steps=2000,
            batch_size=64,
            lr=1e-3,
            init_mult=3e-2,
            final_mult=1e-2,
            warmup_frac=0.1,
            clip_norm=10.0,
            n_samples=5,
            augment_bounds=_AFFINE_MAX,
            invertibility_weight=0.1,
            symmetric=True,
        ),
        flow=FlowStageConfig(
            steps=1000,
            batch_size=64,
            lr=3e-3,
            init_mult=0.1,
            final_mult=0.03,
            warmup_frac=0.1,
            clip_norm=2.0,
            n_samples=5,
            augment_bounds=_AFFINE_MAX,
        ),
        val_every=250,
        checkpoint_every=500,
        val_batches=4,
    )


_PRESETS = {
    "mnist-affine": _mnist_affine,
    "mnist-color": _mnist_color,
    "dsprites": _dsprites,
    "cpu-small": _cpu_small,
}

#: Names accepted by [`sgm_eqx.train.get_preset`][].
PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def get_preset(name: str) -> TrainConfig:
    """The [`sgm_eqx.train.TrainConfig`][] of a named preset.

    - `"mnist-affine"`: App. C.1 (MNIST, affine, symmetric SSL, invertibility weight 0.1).
    - `"mnist-color"`: App. C.2 (colour MNIST, HSV, bounded η, blur σ 3).
    - `"dsprites"`: App. C.3 (64x64 dSprites, affine, bounded η, blur σ 3).
    - `"cpu-small"`: 32x32 images, small networks, 2k + 1k steps; minutes on 2 CPU cores.
    """
    try:
        return _PRESETS[name]()
    except KeyError:
        raise ValueError(
            f"`get_preset(name=...)`: unknown preset {name!r}; choose from {list(PRESET_NAMES)}"
        ) from None
