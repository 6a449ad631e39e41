"""Neural symmetry detection: learn a Lie generator and a magnitude distribution from pairs."""

from ._basis import (
    AFFINE_INDICES as AFFINE_INDICES,
    AFFINE_TERMS as AFFINE_TERMS,
    QUADRATIC_TERMS as QUADRATIC_TERMS,
    apply_generator as apply_generator,
    basis_matrices as basis_matrices,
    coefficient_fields as coefficient_fields,
    generator_matrix as generator_matrix,
    normalised_coordinates as normalised_coordinates,
    shannon_whittaker_derivative as shannon_whittaker_derivative,
)
from ._config import DetectConfig as DetectConfig
from ._data import load_images as load_images, synthetic_images as synthetic_images
from ._eval import (
    fit_magnitude_scale as fit_magnitude_scale,
    generator_abs_cos as generator_abs_cos,
    plot_flow_field as plot_flow_field,
    plot_magnitude_histogram as plot_magnitude_histogram,
)
from ._losses import (
    LossWeights as LossWeights,
    batch_symmetry_loss as batch_symmetry_loss,
    symmetry_loss as symmetry_loss,
    taylor_transform as taylor_transform,
)
from ._model import (
    LatentSymmetryModel as LatentSymmetryModel,
    make_symmetry_model as make_symmetry_model,
)
from ._train import (
    build_symmetry_model as build_symmetry_model,
    detect_loss as detect_loss,
    fit_symmetry as fit_symmetry,
    make_detect_optimizer as make_detect_optimizer,
    predict_magnitudes as predict_magnitudes,
)
from ._transforms import (
    TRANSFORMS as TRANSFORMS,
    Magnitude as Magnitude,
    OneParameterTransform as OneParameterTransform,
    make_pairs as make_pairs,
    parse_magnitude as parse_magnitude,
)
