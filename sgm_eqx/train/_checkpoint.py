"""Checkpoints: `eqx.tree_serialise_leaves` of a `TrainState` plus the config as JSON.

Layout of a checkpoint directory: `config.json` (the [`sgm_eqx.train.TrainConfig`][]) and one
`<stage>.eqx` per stage (`inference.eqx`, `flow.eqx`). Files are written to a temporary name
and renamed, so an interrupted save never leaves a half-written checkpoint.
"""

import os
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from ._config import TrainConfig
from ._model import build_model
from ._optim import Stage
from ._step import TrainState, init_state, stage_config_of


def checkpoint_path(directory: str | os.PathLike, stage: Stage) -> pathlib.Path:
    """Path of the `stage` checkpoint inside `directory`."""
    return pathlib.Path(directory) / f"{stage}.eqx"


def save_checkpoint(
    directory: str | os.PathLike, stage: Stage, state: TrainState, config: TrainConfig
) -> pathlib.Path:
    """Write `state` (model, optimiser state, step, key) and `config.json` atomically.

    **Returns:** the path of the `.eqx` file.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg_tmp = directory / "config.json.tmp"
    cfg_tmp.write_text(config.to_json())
    os.replace(cfg_tmp, directory / "config.json")
    path = checkpoint_path(directory, stage)
    tmp = path.with_suffix(".eqx.tmp")
    eqx.tree_serialise_leaves(tmp, state)
    os.replace(tmp, path)
    return path


def state_template(stage: Stage, config: TrainConfig) -> TrainState:
    """The abstract structure (shapes and dtypes only) of a `stage` state for `config`.

    Built by the same factories as a real run under `eqx.filter_eval_shape` (no weights are
    computed and no seed is chosen).
    """

    def make(seed):
        key = jr.key(seed)
        k_model, k_state = jr.split(key)
        model = build_model(k_model, config.model)
        return init_state(k_state, model, stage, stage_config_of(stage, config))

    return eqx.filter_eval_shape(make, jax.ShapeDtypeStruct((), jnp.uint32))


def load_checkpoint(
    directory: str | os.PathLike, stage: Stage, config: TrainConfig | None = None
) -> tuple[TrainState, TrainConfig]:
    """Read the `stage` state written by [`sgm_eqx.train.save_checkpoint`][].

    **Arguments:**

    - `directory`: the checkpoint directory.
    - `stage`: `"inference"` or `"flow"`.
    - `config`: the run's config; read from `config.json` when `None`.

    **Returns:** `(state, config)`.
    """
    directory = pathlib.Path(directory)
    path = checkpoint_path(directory, stage)
    if not path.is_file():
        raise FileNotFoundError(f"`load_checkpoint`: no {stage!r} checkpoint at {path}")
    if config is None:
        config = TrainConfig.from_json((directory / "config.json").read_text())
    state = eqx.tree_deserialise_leaves(path, state_template(stage, config))
    return state, config
