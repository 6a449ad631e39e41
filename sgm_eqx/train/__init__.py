"""Training of the SGM (Algorithm 1): configs, presets, jitted steps, loops, checkpoints."""

from ._checkpoint import (
    checkpoint_path as checkpoint_path,
    load_checkpoint as load_checkpoint,
    save_checkpoint as save_checkpoint,
    state_template as state_template,
)
from ._config import (
    FlowStageConfig as FlowStageConfig,
    InferenceStageConfig as InferenceStageConfig,
    ModelConfig as ModelConfig,
    StageConfig as StageConfig,
    TrainConfig as TrainConfig,
)
from ._loop import (
    History as History,
    NonFiniteLossError as NonFiniteLossError,
    fit_stage as fit_stage,
    train as train,
)
from ._model import build_model as build_model, make_action as make_action
from ._optim import (
    blur_sigma as blur_sigma,
    make_optimizer as make_optimizer,
    make_schedule as make_schedule,
    trainable_filter as trainable_filter,
)
from ._presets import PRESET_NAMES as PRESET_NAMES, get_preset as get_preset
from ._step import (
    TrainState as TrainState,
    batch_indices as batch_indices,
    init_state as init_state,
    make_eval_fn as make_eval_fn,
    make_mesh as make_mesh,
    make_train_step as make_train_step,
    replicate as replicate,
    validation_loss as validation_loss,
)
