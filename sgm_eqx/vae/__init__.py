"""The VAE family of Sec. 4.2: VAE, AugVAE (SGM augmentation), InvVAE (VAE over prototypes).

Importance-weighted lower bounds of log p(x), training with a β-ELBO, and evaluation.
"""

from ._bounds import (
    elbo as elbo,
    iwlb as iwlb,
    log_weights as log_weights,
    reconstruction_mse as reconstruction_mse,
)
from ._models import (
    VAE as VAE,
    AbstractVAE as AbstractVAE,
    AugVAE as AugVAE,
    InvVAE as InvVAE,
    make_inv_vae as make_inv_vae,
    make_vae as make_vae,
)
from ._networks import ConvVAEDecoder as ConvVAEDecoder, ConvVAEEncoder as ConvVAEEncoder
from ._train import (
    VAEFit as VAEFit,
    VAETrainConfig as VAETrainConfig,
    beta_schedule as beta_schedule,
    evaluate_vae as evaluate_vae,
    fit_vae as fit_vae,
    make_vae_optimizer as make_vae_optimizer,
)
