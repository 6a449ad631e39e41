"""Losses of the SGM (Alg. 1): pure functions `loss(model, x, key, *, ...) -> (scalar, aux)`.

Each acts on ONE example; [`sgm_eqx.losses.batch_loss`][] averages one over a batch. The
exception is [`sgm_eqx.losses.orbit_mate_mle_loss`][], which pairs the examples of a batch.
"""

from ._augment import (
    AbstractAugmentation as AbstractAugmentation,
    IsotropicScaleAugmentation as IsotropicScaleAugmentation,
    UniformAugmentation as UniformAugmentation,
)
from ._batch import batch_loss as batch_loss
from ._common import (
    composed_loop as composed_loop,
    prototype_of_augmented as prototype_of_augmented,
)
from ._generative import (
    consistency_loss as consistency_loss,
    mle_loss as mle_loss,
    orbit_mate_mle_loss as orbit_mate_mle_loss,
    orbit_mate_partners as orbit_mate_partners,
)
from ._inference import (
    eta_huber_loss as eta_huber_loss,
    inference_loss as inference_loss,
    invertibility_loss as invertibility_loss,
    ssl_loss as ssl_loss,
    symmetric_ssl_loss as symmetric_ssl_loss,
)
