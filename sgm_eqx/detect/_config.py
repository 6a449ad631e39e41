"""The configuration of a symmetry-detection run: one frozen dataclass, as `TrainConfig`."""

import dataclasses

from .._checks import non_negative_field, positive_field, sizes_field
from .._dataclass_json import from_json, to_json
from ._basis import BASES
from ._losses import LossWeights
from ._transforms import TRANSFORMS, parse_magnitude


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
        name = "DetectConfig"
        parts = self.transform.split("+") if isinstance(self.transform, str) else [None]
        if not all(p in TRANSFORMS for p in parts):
            raise ValueError(
                f"`DetectConfig(transform=...)`: expected one of {TRANSFORMS} or a '+'-joined "
                f"composition of affine ones; got {self.transform!r}."
            )
        try:
            parse_magnitude(self.magnitude)
        except (ValueError, AttributeError) as err:
            raise ValueError(f"`DetectConfig(magnitude=...)`: {err}") from None
        for field in ("n_images", "size", "channels", "taylor_order", "steps", "batch_size"):
            positive_field(name, field, getattr(self, field), integer=True)
        positive_field(name, "latent_size", self.latent_size, integer=True)
        if self.latent_size < 2:
            raise ValueError(
                f"`DetectConfig(latent_size=...)`: expected an int >= 2; got {self.latent_size!r}."
            )
        if self.basis not in BASES:
            raise ValueError(
                f"`DetectConfig(basis=...)`: expected one of {BASES}; got {self.basis!r}."
            )
        for field in ("widths", "t_widths"):
            sizes_field(name, field, getattr(self, field), allow_empty=False)
        for field in ("blur", "alpha_weight", "latent_weight", "recon_weight", "l1"):
            non_negative_field(name, field, getattr(self, field))
        for field in ("lr", "alpha_lr"):
            positive_field(name, field, getattr(self, field))

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
