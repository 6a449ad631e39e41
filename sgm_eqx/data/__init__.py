"""Data: procedural dSprites with ground truth, MNIST protocols, npz files and image folders."""

from ._dataset import SPLITS as SPLITS, Dataset as Dataset, as_dataset as as_dataset
from ._dsprites import (
    LATENT_NAMES as LATENT_NAMES,
    POSITION_EXTENT as POSITION_EXTENT,
    SHAPES as SHAPES,
    SPRITE_RADIUS as SPRITE_RADIUS,
    SYMMETRY_ORDER as SYMMETRY_ORDER,
    dsprites_pose as dsprites_pose,
    make_dsprites as make_dsprites,
    pose_to_latents as pose_to_latents,
    render_dsprites as render_dsprites,
    sample_dsprites_latents as sample_dsprites_latents,
)
from ._files import (
    IMAGE_SUFFIXES as IMAGE_SUFFIXES,
    check_images as check_images,
    load_image_folder as load_image_folder,
    load_npz as load_npz,
)
from ._mnist import (
    add_rotation as add_rotation,
    colorize_mnist as colorize_mnist,
    load_mnist as load_mnist,
)
from ._poses import (
    POSE_LATENT_NAMES as POSE_LATENT_NAMES,
    POSE_RADIUS as POSE_RADIUS,
    POSE_SHAPES as POSE_SHAPES,
    POSE_SUITES as POSE_SUITES,
    PoseClass as PoseClass,
    make_pose_dataset as make_pose_dataset,
    pose_matrix as pose_matrix,
    render_shape as render_shape,
    sample_pose_latents as sample_pose_latents,
)
from ._spec import (
    DATA_SPEC_HELP as DATA_SPEC_HELP,
    DataSpec as DataSpec,
    load_data as load_data,
    parse_data_spec as parse_data_spec,
)
