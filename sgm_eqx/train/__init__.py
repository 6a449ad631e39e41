"""Training of the SGM (Algorithm 1): configs, presets, jitted steps, loops, checkpoints."""

from ._checkpoint import (
    CheckpointFallbackWarning as CheckpointFallbackWarning,
    CorruptCheckpointError as CorruptCheckpointError,
    best_checkpoint_path as best_checkpoint_path,
    checkpoint_path as checkpoint_path,
    has_checkpoint as has_checkpoint,
    load_checkpoint as load_checkpoint,
    read_index as read_index,
    save_best as save_best,
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
from ._records import (
    MetricsLog as MetricsLog,
    TensorBoardLog as TensorBoardLog,
    plot_loss_curves as plot_loss_curves,
    read_metrics as read_metrics,
)
from ._step import (
    TrainState as TrainState,
    batch_indices as batch_indices,
    init_state as init_state,
    make_mesh as make_mesh,
    replicate as replicate,
    stage_loss as stage_loss,
    stage_step as stage_step,
    validation_metrics as validation_metrics,
)
from ._update import (
    Update as Update,
    apply_update as apply_update,
    train_step as train_step,
)
