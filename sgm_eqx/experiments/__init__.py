"""Experiments: metrics, figures and the `sgm-eqx` commands (train, sample, evaluate, ...)."""

from ._batched import (
    chains_all as chains_all,
    infer_all as infer_all,
    log_prob_all as log_prob_all,
    matrices as matrices,
    resample_all as resample_all,
    sample_all as sample_all,
)
from ._figures import (
    AFFINE_PARAM_NAMES as AFFINE_PARAM_NAMES,
    plot_marginals as plot_marginals,
    plot_position_distributions as plot_position_distributions,
    plot_prototype_chains as plot_prototype_chains,
    plot_prototypes as plot_prototypes,
)
from ._io import load_trained as load_trained, write_json as write_json
from ._metrics import (
    LATENT_RANGES as LATENT_RANGES,
    chain_ratio as chain_ratio,
    circular_std as circular_std,
    circular_wasserstein1 as circular_wasserstein1,
    dsprites_recovery as dsprites_recovery,
    latent_w1 as latent_w1,
    moment_latents as moment_latents,
    orbit_variance_ratio as orbit_variance_ratio,
    predicted_latents as predicted_latents,
    prototype_intensity as prototype_intensity,
    resampling_fidelity as resampling_fidelity,
    wasserstein1 as wasserstein1,
)
from ._pipeline import (
    evaluate as evaluate,
    make_figures as make_figures,
    orbit_coverage as orbit_coverage,
    sample_outputs as sample_outputs,
)
from ._recovery import (
    POSE_NAMES as POSE_NAMES,
    POSE_UNITS as POSE_UNITS,
    class_recovery as class_recovery,
    moment_poses as moment_poses,
    pose_w1 as pose_w1,
    poses_of_matrices as poses_of_matrices,
    split_score as split_score,
    true_poses as true_poses,
)
from ._report import (
    PRESENCE_THRESHOLDS as PRESENCE_THRESHOLDS,
    plot_report as plot_report,
    report_markdown as report_markdown,
    report_samples as report_samples,
    summarise_samples as summarise_samples,
    symmetry_report as symmetry_report,
)
