"""Configuration of an SGM training run: frozen dataclasses, one per stage plus the model."""

import abc
import dataclasses
import json
import math
from typing import Any, Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._checks import (
    fraction_field as _fraction,
    non_negative_field as _non_negative,
    positive_field as _positive,
    sizes_field as _sizes,
)
from ..losses import (
    AbstractAugmentation,
    IsotropicScaleAugmentation,
    UniformAugmentation,
    batch_loss,
    inference_loss,
    mle_loss,
    orbit_mate_mle_loss,
)
from ..nn import PAPER_BASE_HIDDEN, PAPER_FEATURE_HIDDEN, PAPER_INFERENCE_HIDDEN

ActionName = Literal["affine", "color", "affine+color"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What to build: the group action, the networks' sizes and the bounds of η.

    **Fields:**

    - `image_shape`: `(H, W, C)` of the data.
    - `action`: `"affine"` (5 parameters: x-shift, y-shift, rotation, x-scale, y-scale;
      App. C.5), `"color"` (3: hue, saturation, value) or
      `"affine+color"`.
    - `interpolation_order`: resampling order of image warps (1 bilinear, 3 cubic; the paper
      uses bicubic).
    - `inference_hidden`, `inference_backbone`, `inference_dropout`, `init_scale`: the
      inference network q_ω (App. C: MLP `(2048, 1024, 512, 256)`).
    - `inference_pose_features`: give q_ω a branch over the image's centroid moments
      ([`sgm_eqx.nn.PoseFeatureEncoder`][]; not in the paper).
    - `inference_angle_readout`, `inference_translation_readout`: q_ω reads the rotation
      out as an angle that turns with the image's moments, and predicts the translation
      column of the map instead of its exponential coordinates
      ([`sgm_eqx.nn.InferenceNet`][]: `angles`, `readout`; not in the paper). They act on
      the affine part of `"affine"` and `"affine+color"`, and are ignored for `"color"`.
    - `flow_translation_column`: p_ψ models the translation column of the map instead of
      its exponential coordinates ([`sgm_eqx.groups.TranslationColumn`][] as the flow's
      last layer; not in the paper), so that a class whose position does not depend on
      its orientation has independent coordinates. Ignored for `"color"`.
    - `flow_circular_angle`: p_ψ's rotation coordinate lives on the circle (a wrapped
      density, [`sgm_eqx.nn.TransformationFlow`][] `angles`; not in the paper): a class
      whose angles sit near ±π is one mode, not two. Ignored for `"color"`.
    - `flow_size_aspect`: p_ψ models the isotropic log-size `(log s_x + log s_y) / 2` and
      the aspect `(log s_x - log s_y) / 2` instead of the two log-scales
      ([`sgm_eqx.groups.SizeAspect`][] as the flow's last layer, before the translation
      column; not in the paper), so that a class varying in size only, or in aspect only,
      varies in one of the flow's coordinates. Ignored for `"color"`.
    - `eta_bound`: `None` or η_max per parameter; both networks then output
      η = η_max ⊙ tanh(u) (App. C.2, C.3), or η = η_max ⊙ u with `squash=False` (the
      authors' code for unbounded η: u in units of η_max).
    - `flow_layers`, `flow_bins`, `flow_interval`, `feature_hidden`, `base_hidden`,
      `flow_nn_width`, `flow_dropout`: the flow p_ψ (App. C "Generative network").
    - `affine_chart`: how η parameterises the affine part ([`sgm_eqx.groups.Affine2D`][]
      `chart`): `"exp"`, the paper's exponential coordinates, or `"polar"`, a rotation
      after a stretch with the translation as the column (not in the paper; in exponential
      coordinates a stretch has no effect at a rotation of π, so f_ω cannot un-stretch an
      object whose canonical angle lies far from 0). With `"polar"` the translation is
      already the column: `inference_translation_readout` and `flow_translation_column`
      (charts for the exponential coordinates) must be off.
    - `flow_condition_blur`: `0` or σ in pixels of a Gaussian blur of the prototype before
      the flow's feature extractor ([`sgm_eqx.nn.BlurredEncoder`][]; not in the paper), so
      that p_ψ cannot read the interpolation blur that tells where in the orbit x was.
    - `flow_condition_blur_jitter`: in `[0, 1]`: in stage-2 training the blur's σ is drawn
      from `U[σ(1 - j), σ(1 + j)]`, so that p_ψ cannot read the resolution a prototype
      keeps from its input's size either ([`sgm_eqx.nn.BlurredEncoder`][] `jitter`).
      Needs `flow_condition_blur > 0`.
    """

    image_shape: tuple[int, int, int] = (28, 28, 1)
    action: ActionName = "affine"
    affine_chart: Literal["exp", "polar"] = "exp"
    interpolation_order: int = 1
    inference_hidden: tuple[int, ...] = PAPER_INFERENCE_HIDDEN
    inference_backbone: Literal["mlp", "cnn"] = "mlp"
    inference_dropout: float = 0.0
    inference_pose_features: bool = False
    inference_angle_readout: bool = False
    inference_translation_readout: bool = False
    flow_translation_column: bool = False
    flow_circular_angle: bool = False
    flow_size_aspect: bool = False
    init_scale: float = 1e-2
    eta_bound: tuple[float, ...] | None = None
    squash: bool = True
    flow_layers: int = 6
    flow_bins: int = 6
    flow_interval: float = 3.0
    feature_hidden: tuple[int, ...] = PAPER_FEATURE_HIDDEN
    base_hidden: tuple[int, ...] = PAPER_BASE_HIDDEN
    flow_nn_width: int = 256
    flow_dropout: float = 0.0
    flow_condition_blur: float = 0.0
    flow_condition_blur_jitter: float = 0.0

    def __post_init__(self):
        name = "ModelConfig"
        if len(self.image_shape) != 3 or not all(
            isinstance(s, int) and s > 0 for s in self.image_shape
        ):
            raise ValueError(
                f"`{name}(image_shape=...)`: expected (H, W, C); got {self.image_shape}"
            )
        if self.action not in ("affine", "color", "affine+color"):
            raise ValueError(
                f"`{name}(action=...)`: expected 'affine', 'color' or "
                f"'affine+color'; got {self.action!r}"
            )
        if self.inference_translation_readout and self.eta_bound is not None and self.squash:
            raise ValueError(
                f"`{name}(inference_translation_readout=True)`: with "
                "inference_translation_readout=True, q predicts the translation column of "
                "the map, which a tanh-bounded η (`eta_bound` with `squash=True`) cannot "
                "carry; set model.squash=false, model.eta_bound=none or "
                "model.inference_translation_readout=false."
            )
        for field, why in (
            ("flow_translation_column", "bounds η itself, not the translation column"),
            ("flow_circular_angle", "has no angle on the circle"),
            ("flow_size_aspect", "bounds each log-scale, not the size and aspect"),
        ):
            if getattr(self, field) and self.eta_bound is not None and self.squash:
                raise ValueError(
                    f"`{name}({field}=True)`: with {field}=True, a tanh-bounded η "
                    f"(`eta_bound` with `squash=True`) {why}; set model.squash=false, "
                    f"model.eta_bound=none or model.{field}=false."
                )
        if self.affine_chart not in ("exp", "polar"):
            raise ValueError(
                f"`{name}(affine_chart=...)`: expected 'exp' or 'polar'; got {self.affine_chart!r}"
            )
        if self.affine_chart == "polar":
            for field in ("inference_translation_readout", "flow_translation_column"):
                if getattr(self, field):
                    raise ValueError(
                        f"`{name}({field}=True)`: {field}=True is a chart for the "
                        "exponential coordinates; with affine_chart='polar' the translation "
                        f"is already the column. Set model.{field}=false."
                    )
        _sizes(name, "inference_hidden", self.inference_hidden)
        _sizes(name, "feature_hidden", self.feature_hidden)
        _sizes(name, "base_hidden", self.base_hidden)
        _fraction(name, "inference_dropout", self.inference_dropout)
        _fraction(name, "flow_dropout", self.flow_dropout)
        _non_negative(name, "flow_condition_blur", self.flow_condition_blur)
        _fraction(name, "flow_condition_blur_jitter", self.flow_condition_blur_jitter)
        if self.flow_condition_blur_jitter and not self.flow_condition_blur:
            raise ValueError(
                f"`{name}(flow_condition_blur_jitter=...)`: jitters the condition's blur, so "
                "it needs flow_condition_blur > 0; got flow_condition_blur=0. Set "
                "model.flow_condition_blur (e.g. 1.0) or model.flow_condition_blur_jitter=0."
            )
        _positive(name, "flow_layers", self.flow_layers, integer=True)
        _positive(name, "flow_bins", self.flow_bins, integer=True)
        _positive(name, "init_scale", self.init_scale)
        if self.eta_bound is not None and (
            not isinstance(self.eta_bound, tuple) or not all(b > 0 for b in self.eta_bound)
        ):
            raise ValueError(
                f"`{name}(eta_bound=...)`: expected None or a tuple of positive floats; "
                f"got {self.eta_bound!r}"
            )


@dataclasses.dataclass(frozen=True)
class StageConfig(abc.ABC):
    """Optimisation settings shared by both stages (App. C); abstract.

    The two final subclasses, [`sgm_eqx.train.InferenceStageConfig`][] and
    [`sgm_eqx.train.FlowStageConfig`][], add their loss terms and say, through the abstract
    methods, what the training step does differently for them: the loss it evaluates, the
    input blur, and whether a parameter gets its own learning rate. So the step never
    asks which stage it is in.

    The optimiser is `optax.adamw(weight_decay)` after `optax.clip_by_global_norm(clip_norm)`
    with `optax.warmup_cosine_decay_schedule(init_value=lr * init_mult, peak_value=lr,
    warmup_steps=round(warmup_frac * steps), decay_steps=steps, end_value=lr * final_mult)`.
    `augment_bounds` defines `p(η_rnd) = U(-augment_bounds, augment_bounds)`; with
    `augment_isotropic_scale` one log-scale is drawn for both axes (no stretch; affine
    actions only; [`sgm_eqx.losses.IsotropicScaleAugmentation`][]; not in the paper): for
    data that scales isotropically, such as dSprites, where it put the hearts' rotation at
    2.0° instead of 4.4° and 10.5° in two seeds (docs: results, "Stretching").
    """

    steps: int = 60_000
    batch_size: int = 512
    lr: float = 3e-4
    init_mult: float = 1e-2
    final_mult: float = 1e-3
    warmup_frac: float = 0.2
    clip_norm: float = 10.0
    weight_decay: float = 1e-4
    n_samples: int = 5
    augment_bounds: tuple[float, ...] = (0.25, 0.25, math.pi, 0.25, 0.25)
    augment_isotropic_scale: bool = False

    def _check(self, name: str) -> None:
        _positive(name, "steps", self.steps, integer=True)
        _positive(name, "batch_size", self.batch_size, integer=True)
        _positive(name, "n_samples", self.n_samples, integer=True)
        _positive(name, "lr", self.lr)
        _positive(name, "init_mult", self.init_mult)
        _positive(name, "final_mult", self.final_mult)
        _fraction(name, "warmup_frac", self.warmup_frac)
        _positive(name, "clip_norm", self.clip_norm)
        _non_negative(name, "weight_decay", self.weight_decay)
        if not isinstance(self.augment_bounds, tuple) or not all(
            b >= 0 for b in self.augment_bounds
        ):
            raise ValueError(
                f"`{name}(augment_bounds=...)`: expected a tuple of non-negative floats; got "
                f"{self.augment_bounds!r}"
            )

    def augmentation(self) -> AbstractAugmentation:
        """`p(η_rnd) = U(-augment_bounds, augment_bounds)`, isotropic in scale if asked."""
        uniform = UniformAugmentation.symmetric(self.augment_bounds)
        return IsotropicScaleAugmentation(uniform) if self.augment_isotropic_scale else uniform

    @abc.abstractmethod
    def loss(self, *, train: bool = True) -> eqx.Partial:
        """The stage's per-example loss `loss(model, x, key) -> (scalar, aux)`.

        This config's terms are bound (an `eqx.Partial` of a loss of `sgm_eqx.losses`);
        `train=False` evaluates it as validation does (no dropout).
        """

    def batch_loss(self) -> eqx.Partial:
        """The training loss of a batch, `loss(model, xs, key) -> (scalar, aux)`.

        By default [`sgm_eqx.losses.batch_loss`][] of [`loss()`][sgm_eqx.train.StageConfig.loss];
        a stage whose loss pairs the examples of a batch says so here.
        """
        return eqx.Partial(batch_loss, self.loss())

    @abc.abstractmethod
    def input_blur(self, step: Int[Array, ""]) -> Float[Array, ""] | None:
        """σ of the Gaussian blur applied to the batch at `step`; `None`: no blur.

        `None` or not is decided from the config alone, at trace time.
        """

    @abc.abstractmethod
    def own_scale_lr(self) -> float | None:
        """Peak rate of the separate Adam for q_ω's scale parameter (`None`: no separate one)."""


@dataclasses.dataclass(frozen=True)
class InferenceStageConfig(StageConfig):
    """Stage 1 (learning q_ω with the SSL loss; Alg. 1 lines 13-15).

    Extra fields: `invertibility_weight` (eq. 7; 0.1 for MNIST affine), `symmetric`
    (App. B eq. 24), `eta_huber_weight`/`huber_delta` (optional η-space Huber penalty),
    `loop_weight` (Huber distance of each SSL loop's matrix from the identity, the authors'
    `η_recon` term; affine actions),
    `blur_sigma_init` (Gaussian blur, filter size 5, σ decayed linearly to 0 over the first
    `blur_frac` of the steps; App. B/C), `scale_lr` (`None`: the homoscedastic scale of q_ω
    is trained with the network's AdamW; a rate: its own Adam without weight decay, peak rate
    `scale_lr`, as in the authors' code).
    """

    invertibility_weight: float = 0.1
    symmetric: bool = True
    eta_huber_weight: float = 0.0
    loop_weight: float = 0.0
    huber_delta: float = 1.0
    blur_sigma_init: float = 0.0
    blur_frac: float = 0.01
    scale_lr: float | None = None

    def __post_init__(self):
        name = "InferenceStageConfig"
        self._check(name)
        _non_negative(name, "invertibility_weight", self.invertibility_weight)
        _non_negative(name, "eta_huber_weight", self.eta_huber_weight)
        _non_negative(name, "loop_weight", self.loop_weight)
        _non_negative(name, "blur_sigma_init", self.blur_sigma_init)
        _fraction(name, "blur_frac", self.blur_frac)
        if self.scale_lr is not None:
            _positive(name, "scale_lr", self.scale_lr)

    def loss(self, *, train: bool = True) -> eqx.Partial:
        """[`sgm_eqx.losses.inference_loss`][] with this stage's terms (`train` has no effect)."""
        return eqx.Partial(
            inference_loss,
            augmentation=self.augmentation(),
            n_samples=self.n_samples,
            symmetric=self.symmetric,
            invertibility_weight=self.invertibility_weight,
            eta_huber_weight=self.eta_huber_weight,
            loop_weight=self.loop_weight,
            huber_delta=self.huber_delta,
        )

    def input_blur(self, step: Int[Array, ""]) -> Float[Array, ""] | None:
        """`blur_sigma_init` decayed linearly to 0 over the first `blur_frac * steps` steps.

        `None` when `blur_sigma_init` is 0 (App. B "blurring schedule", App. C).
        """
        if self.blur_sigma_init <= 0:
            return None
        n = max(self.blur_frac * self.steps, 1.0)
        frac = jnp.clip(1.0 - step.astype(jnp.float32) / n, 0.0, 1.0)
        return self.blur_sigma_init * frac

    def own_scale_lr(self) -> float | None:
        """`scale_lr`."""
        return self.scale_lr


@dataclasses.dataclass(frozen=True)
class FlowStageConfig(StageConfig):
    """Stage 2 (learning p_ψ by maximum likelihood on prototypes; Alg. 1 lines 16-18).

    Extra fields: `consistency_weight` (the regulariser of [`sgm_eqx.losses.mle_loss`][];
    1.0 as in the authors' MNIST and dSprites configurations); `orbit_mate_weight` in [0, 1]
    and `orbit_mate_bandwidth` > 0: with a weight above 0, training scores each `η` also on
    the prototype of a likely orbit-mate in the batch
    ([`sgm_eqx.losses.orbit_mate_mle_loss`][]; not in the paper), so that the flow cannot
    read where in its orbit an input was from its prototype's resampling traces (the
    `default` preset: weight 1, bandwidth 0.05). It runs the flow twice per sample (the
    `default` preset's step: 27 -> 49 ms). Validation always uses the plain `mle_loss`.
    """

    lr: float = 3e-3
    init_mult: float = 0.1
    final_mult: float = 0.03
    clip_norm: float = 2.0
    consistency_weight: float = 1.0
    orbit_mate_weight: float = 0.0
    orbit_mate_bandwidth: float = 0.05

    def __post_init__(self):
        name = "FlowStageConfig"
        self._check(name)
        _non_negative(name, "consistency_weight", self.consistency_weight)
        _fraction(name, "orbit_mate_weight", self.orbit_mate_weight)
        _positive(name, "orbit_mate_bandwidth", self.orbit_mate_bandwidth)
        if self.orbit_mate_weight > 0 and self.batch_size < 2:
            raise ValueError(
                f"`{name}(orbit_mate_weight={self.orbit_mate_weight})` pairs the examples of "
                f"a batch: expected batch_size >= 2; got {self.batch_size}. Set "
                "orbit_mate_weight=0 or a larger batch_size."
            )

    def loss(self, *, train: bool = True) -> eqx.Partial:
        """[`sgm_eqx.losses.mle_loss`][] with this stage's terms; `train=False`: no dropout."""
        return eqx.Partial(
            mle_loss,
            augmentation=self.augmentation(),
            n_samples=self.n_samples,
            consistency_weight=self.consistency_weight,
            train=train,
        )

    def batch_loss(self) -> eqx.Partial:
        """[`sgm_eqx.losses.orbit_mate_mle_loss`][] if `orbit_mate_weight > 0`, else the default."""
        if self.orbit_mate_weight == 0.0:
            return super().batch_loss()
        return eqx.Partial(
            orbit_mate_mle_loss,
            augmentation=self.augmentation(),
            n_samples=self.n_samples,
            consistency_weight=self.consistency_weight,
            mate_weight=self.orbit_mate_weight,
            bandwidth=self.orbit_mate_bandwidth,
        )

    def input_blur(self, step: Int[Array, ""]) -> None:
        """`None`: stage 2 never blurs."""
        return None

    def own_scale_lr(self) -> None:
        """`None`: the flow has no separately scheduled parameter."""
        return None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A whole run: the model, both stages, and how often to validate and checkpoint.

    `val_every`/`checkpoint_every` count steps within a stage (0 turns them off);
    `val_batches` caps the number of validation batches (of the stage's batch size).
    """

    model: ModelConfig = ModelConfig()
    inference: InferenceStageConfig = InferenceStageConfig()
    flow: FlowStageConfig = FlowStageConfig()
    val_every: int = 1000
    checkpoint_every: int = 5000
    val_batches: int = 20

    def __post_init__(self):
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"`TrainConfig(model=...)`: expected a ModelConfig; got {self.model!r}")
        if not isinstance(self.inference, InferenceStageConfig):
            raise TypeError("`TrainConfig(inference=...)`: expected an InferenceStageConfig")
        if not isinstance(self.flow, FlowStageConfig):
            raise TypeError("`TrainConfig(flow=...)`: expected a FlowStageConfig")
        for f in ("val_every", "checkpoint_every", "val_batches"):
            _non_negative("TrainConfig", f, getattr(self, f))

    def to_json(self) -> str:
        """The config as a JSON string (tuples become lists)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Inverse of `to_json`."""
        d = json.loads(text)

        def tuples(sub: dict[str, Any]) -> dict[str, Any]:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()}

        return cls(
            model=ModelConfig(**tuples(d["model"])),
            inference=InferenceStageConfig(**tuples(d["inference"])),
            flow=FlowStageConfig(**tuples(d["flow"])),
            val_every=d["val_every"],
            checkpoint_every=d["checkpoint_every"],
            val_batches=d["val_batches"],
        )
