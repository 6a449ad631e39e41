"""The joint-ELBO invariant generative model of Allingham et al. (NeurIPS 2022 workshop).

One ELBO (eq. 17) trains a VAE prototype model, a z-conditioned flow p_ψ(η | z), an
x-conditioned flow q_ν(η | x) and an encoder made invariant by averaging over
transformations (eq. 19), end to end; see the "Joint-ELBO model" page.
"""

from ._config import (
    ELBO_PRESET_NAMES as ELBO_PRESET_NAMES,
    ROTATION_INDEX as ROTATION_INDEX,
    ELBOConfig as ELBOConfig,
    get_elbo_preset as get_elbo_preset,
    make_livae as make_livae,
)
from ._figures import (
    plot_angle_ranges as plot_angle_ranges,
    plot_history as plot_history,
    plot_reconstructions as plot_reconstructions,
    plot_rotation_sweep as plot_rotation_sweep,
)
from ._loss import (
    beta_schedule as beta_schedule,
    elbo as elbo,
    lr_schedule as lr_schedule,
    make_elbo_optimizer as make_elbo_optimizer,
)
from ._metrics import (
    angle_range as angle_range,
    angle_slope as angle_slope,
    eta_posterior_samples as eta_posterior_samples,
    moment_orientation as moment_orientation,
    orientation_spread as orientation_spread,
    rotate as rotate,
    rotation_sweep as rotation_sweep,
    summarise_sweep as summarise_sweep,
)
from ._model import LIVAE as LIVAE
from ._nets import (
    ConditionalDiagNormal as ConditionalDiagNormal,
    ConvDecoder as ConvDecoder,
    GaussianConvEncoder as GaussianConvEncoder,
    make_spline_flow as make_spline_flow,
)
from ._train import (
    ELBOTrainState as ELBOTrainState,
    evaluate_elbo as evaluate_elbo,
    fit_elbo as fit_elbo,
    init_elbo_state as init_elbo_state,
    load_livae as load_livae,
    make_elbo_step as make_elbo_step,
    save_livae as save_livae,
    trainable_spec as trainable_spec,
)
