"""Group actions: transformations as typed pytrees that compose, invert and act on inputs."""

from ._affine import (
    Affine2D as Affine2D,
    params_with_translation as params_with_translation,
    translation_map as translation_map,
)
from ._base import AbstractGroupAction as AbstractGroupAction
from ._charts import SizeAspect as SizeAspect, TranslationColumn as TranslationColumn
from ._expm import expm_affine as expm_affine
from ._hsv import HSVColor as HSVColor, passthrough_clip as passthrough_clip
from ._image_action import (
    IMAGE_MODES as IMAGE_MODES,
    IMAGE_ORDERS as IMAGE_ORDERS,
    AbstractImageAction as AbstractImageAction,
)
from ._matrix_lie import MatrixLieGroup as MatrixLieGroup
from ._product import Product as Product
from ._sct import SpecialConformal as SpecialConformal
