"""The configuration of a symmetry-detection run: one frozen dataclass, as `TrainConfig`."""

import dataclasses
import math

from .._dataclass_json import from_json, to_json
from ._basis import BASES
from ._losses import LossWeights
from ._transforms import TRANSFORMS, parse_magnitude


def _check(field: str, ok: bool, expected: str, value) -> None:
    if not ok:
        raise ValueError(f"`DetectConfig({field}=...)`: expected {expected}; got {value!r}.")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


@dataclasses.dataclass(frozen=True)
class DetectConfig:
    """Everything a symmetry-detection run needs besides its data, output and seed.

    The command line's `--set FIELD=VALUE` and `--config FILE` (a `config.json` that a run
    wrote) set these fields; [`sgm_eqx.detect.fit_symmetry`][] and
    [`sgm_eqx.detect.build_symmetry_model`][] read them.

    **The pairs:**

    - `transform`: one of `TRANSFORMS`, or a `+`-joined composition of affine ones.
    - `magnitude`: the distribution of t (see [`sgm_eqx.detect.parse_magnitude`][]).
    - `n_images`: number of pairs (one per image; 80% train, 20% test).
    - `size`: image side after resizing (the pair is transformed at native resolution).

    **The model** ([`sgm_eqx.detect.make_symmetry_model`][]): `latent_size` (side d of the
    latent patch), `channels` (latent channels), `basis` (`affine` or `quadratic`),
    `widths` (encoder hidden widths; the decoder uses them reversed), `t_widths` (the
    t-network's hidden widths).

    **The loss** (eq. 6, [`sgm_eqx.detect.batch_symmetry_loss`][]): `taylor_order`,
    `blur` (σ in pixels of the α-matching blur), and the weights `alpha_weight` (λ_α),
    `latent_weight` (λ_Z), `recon_weight` (λ_R), `l1` (λ_L).

    **Training** (Adam, cosine decay): `steps`, `batch_size`, `lr` (networks), `alpha_lr`
    (the generator coefficients).
    """

    transform: str = "rotation"
    magnitude: str = "uniform:-0.5,0.5"
    n_images: int = 8000
    size: int = 14
    latent_size: int = 5
    channels: int = 1
    basis: str = "quadratic"
    widths: tuple[int, ...] = (512, 256, 128, 64)
    t_widths: tuple[int, ...] = (256, 64)
    taylor_order: int = 4
    blur: float = 1.0
    alpha_weight: float = 100.0
    latent_weight: float = 1.0
    recon_weight: float = 1.0
    l1: float = 0.0
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    alpha_lr: float = 1e-2

    def __post_init__(self):
        parts = self.transform.split("+") if isinstance(self.transform, str) else [None]
        _check(
            "transform",
            all(p in TRANSFORMS for p in parts),
            f"one of {TRANSFORMS} or a '+'-joined composition of affine ones",
            self.transform,
        )
        try:
            parse_magnitude(self.magnitude)
        except (ValueError, AttributeError) as err:
            raise ValueError(f"`DetectConfig(magnitude=...)`: {err}") from None
        for field in ("n_images", "size", "channels", "steps", "batch_size"):
            value = getattr(self, field)
            _check(field, _is_int(value) and value >= 1, "an integer >= 1", value)
        _check("latent_size", _is_int(self.latent_size) and self.latent_size >= 2,
               "an integer >= 2", self.latent_size)  # fmt: skip
        _check("taylor_order", _is_int(self.taylor_order) and self.taylor_order >= 1,
               "an integer >= 1", self.taylor_order)  # fmt: skip
        _check("basis", self.basis in BASES, f"one of {BASES}", self.basis)
        for field in ("widths", "t_widths"):
            value = getattr(self, field)
            _check(
                field,
                isinstance(value, tuple)
                and len(value) > 0
                and all(_is_int(w) and w >= 1 for w in value),
                "a non-empty tuple of integers >= 1, like (512, 256)",
                value,
            )
        for field in ("blur", "alpha_weight", "latent_weight", "recon_weight", "l1"):
            value = getattr(self, field)
            _check(field, _is_real(value) and value >= 0, "a number >= 0", value)
        for field in ("lr", "alpha_lr"):
            value = getattr(self, field)
            _check(field, _is_real(value) and value > 0, "a number > 0", value)

    def weights(self) -> LossWeights:
        """The loss weights of eq. 6."""
        return LossWeights(
            latent=self.latent_weight, recon=self.recon_weight, alpha=self.alpha_weight, l1=self.l1
        )

    def to_json(self) -> str:
        """The config as JSON (tuples become lists)."""
        return to_json(self)

    @classmethod
    def from_json(cls, text: str) -> "DetectConfig":
        """Parse [`sgm_eqx.detect.DetectConfig.to_json`][]'s output (unknown keys raise)."""
        return from_json(cls, text)
