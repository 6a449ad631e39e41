"""Checkpoints: `eqx.tree_serialise_leaves` of a `TrainState`, checksummed, plus the config.

Layout of a checkpoint directory:

- `config.json`: the [`sgm_eqx.train.TrainConfig`][] of the run;
- `<stage>-step<NNNNNNNN>.eqx`: the last `keep` checkpoints of each stage (`inference`,
  `flow`), by step;
- `<stage>.eqx`: the newest of them (a hard link, so no extra disk space);
- `<stage>-best.eqx`: the state with the lowest validation loss so far;
- `checkpoints.json`: the index: for every file above its step and SHA-256 digest, and the
  best validation loss.

Every file is written to a temporary name, flushed to disk and renamed, and the index is
updated only after the file it describes is in place, so a run killed at any moment (even
`kill -9`) leaves the previous good checkpoint intact. [`sgm_eqx.train.load_checkpoint`][]
verifies the digest before loading: a truncated or corrupted file is named in the error,
and resuming falls back to the newest checkpoint that is still good.
"""

import hashlib
import json
import os
import pathlib
import warnings
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from ._config import TrainConfig
from ._model import build_model
from ._optim import Stage
from ._step import TrainState, init_state, stage_config_of

INDEX_NAME = "checkpoints.json"


class CorruptCheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not match its recorded digest."""


class CheckpointFallbackWarning(UserWarning):
    """A newer checkpoint was unreadable; an older good one was loaded instead."""


def checkpoint_path(directory: str | os.PathLike, stage: Stage) -> pathlib.Path:
    """Path of the newest `stage` checkpoint inside `directory` (`<stage>.eqx`)."""
    return pathlib.Path(directory) / f"{stage}.eqx"


def best_checkpoint_path(directory: str | os.PathLike, stage: Stage) -> pathlib.Path:
    """Path of the best-by-validation `stage` checkpoint (`<stage>-best.eqx`)."""
    return pathlib.Path(directory) / f"{stage}-best.eqx"


def _fsync_write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_index(directory: str | os.PathLike) -> dict:
    """The checkpoint index (`checkpoints.json`) of `directory`; empty if there is none."""
    path = pathlib.Path(directory) / INDEX_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CorruptCheckpointError(
            f"checkpoint index {path} is not valid JSON ({err}); it is written atomically, so "
            "something else changed it. Delete it to load `<stage>.eqx` without verification."
        ) from None


def _write_state(path: pathlib.Path, state: TrainState) -> str:
    tmp = path.with_name(path.name + ".tmp")
    eqx.tree_serialise_leaves(tmp, state)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    digest = _sha256(tmp)
    os.replace(tmp, path)
    return digest


def _alias(target: pathlib.Path, alias: pathlib.Path) -> None:
    """Point `alias` at `target` atomically (hard link; a copy where links are unsupported)."""
    tmp = alias.with_name(alias.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(target, tmp)
    except OSError:
        import shutil

        shutil.copyfile(target, tmp)
    os.replace(tmp, alias)


def save_checkpoint(
    directory: str | os.PathLike,
    stage: Stage,
    state: TrainState,
    config: TrainConfig,
    *,
    keep: int = 2,
) -> pathlib.Path:
    """Write `state` (model, optimiser state, step, key) and `config.json` atomically.

    The state goes to `<stage>-step<step>.eqx` and `<stage>.eqx` (see the module docstring);
    of the step files only the newest `keep` are kept.

    **Returns:** the path of the step file.
    """
    if keep < 1:
        raise ValueError(f"`save_checkpoint(keep=...)`: expected at least 1; got {keep}.")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _fsync_write(directory / "config.json", config.to_json())
    step = int(state.step)
    name = f"{stage}-step{step:08d}.eqx"
    path = directory / name
    digest = _write_state(path, state)
    _alias(path, checkpoint_path(directory, stage))
    index = read_index(directory)
    entries = [e for e in index.get(stage, []) if e["step"] != step]
    entries.append({"file": name, "step": step, "sha256": digest})
    entries.sort(key=lambda e: e["step"])
    dropped, entries = entries[:-keep], entries[-keep:]
    index[stage] = entries
    _fsync_write(directory / INDEX_NAME, json.dumps(index, indent=1, sort_keys=True))
    for e in dropped:
        (directory / e["file"]).unlink(missing_ok=True)
    return path


def save_best(
    directory: str | os.PathLike, stage: Stage, state: TrainState, val_loss: float
) -> pathlib.Path:
    """Write `state` as the best-by-validation checkpoint of `stage` (`<stage>-best.eqx`)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = best_checkpoint_path(directory, stage)
    digest = _write_state(path, state)
    index = read_index(directory)
    index.setdefault("best", {})[stage] = {
        "file": path.name,
        "step": int(state.step),
        "val_loss": float(val_loss),
        "sha256": digest,
    }
    _fsync_write(directory / INDEX_NAME, json.dumps(index, indent=1, sort_keys=True))
    return path


def best_val_loss(directory: str | os.PathLike, stage: Stage) -> float | None:
    """The validation loss of the saved best checkpoint of `stage`, or `None`."""
    best = read_index(directory).get("best", {}).get(stage)
    return None if best is None else float(best["val_loss"])


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


def _candidates(
    directory: pathlib.Path, stage: Stage, which: str
) -> list[tuple[pathlib.Path, str | None]]:
    """Files to try, newest first, with their recorded digests (`None`: unverified)."""
    index = read_index(directory)
    if which == "best":
        best = index.get("best", {}).get(stage)
        if best is None:
            return []
        return [(directory / best["file"], best["sha256"])]
    entries = index.get(stage)
    if entries:
        return [(directory / e["file"], e["sha256"]) for e in reversed(entries)]
    path = checkpoint_path(directory, stage)
    return [(path, None)] if path.is_file() else []


def verify_checkpoint(path: pathlib.Path, digest: str | None) -> str | None:
    """Why the file at `path` cannot be used (`None` if it can): missing or wrong digest."""
    if not path.is_file():
        return "the file is missing"
    if digest is not None and _sha256(path) != digest:
        return (
            f"its SHA-256 does not match {INDEX_NAME} (the file was truncated or changed after "
            "it was written)"
        )
    return None


def has_checkpoint(directory: str | os.PathLike, stage: Stage) -> bool:
    """Whether `directory` holds any checkpoint of `stage` (good or not)."""
    return bool(_candidates(pathlib.Path(directory), stage, "latest"))


def load_checkpoint(
    directory: str | os.PathLike,
    stage: Stage,
    config: TrainConfig | None = None,
    *,
    which: str = "latest",
    fallback: bool = True,
    report: Callable[[str], None] | None = None,
) -> tuple[TrainState, TrainConfig]:
    """Read the `stage` state written by [`sgm_eqx.train.save_checkpoint`][].

    Tries the stage's checkpoints newest first, verifying each file's SHA-256 against the
    index and deserialising it; a bad file is reported (through `report`, else as a
    [`CheckpointFallbackWarning`][sgm_eqx.train.CheckpointFallbackWarning]) and the next
    older one is tried. Directories written before the index existed load `<stage>.eqx`
    unverified.

    **Arguments:**

    - `directory`: the checkpoint directory.
    - `stage`: `"inference"` or `"flow"`.
    - `config`: the run's config; read from `config.json` when `None`.
    - `which`: `"latest"` or `"best"` (the best-by-validation state).
    - `fallback`: if `False`, an unusable newest checkpoint raises instead of falling back.
    - `report`: called with a one-line message for each unusable checkpoint skipped.

    **Returns:** `(state, config)`.

    **Raises:** `FileNotFoundError` if there is no checkpoint of `stage`;
    [`CorruptCheckpointError`][sgm_eqx.train.CorruptCheckpointError] naming the file(s) if
    none is good.
    """
    if which not in ("latest", "best"):
        raise ValueError(
            f"`load_checkpoint(which=...)`: expected 'latest' or 'best'; got {which!r}"
        )
    directory = pathlib.Path(directory)
    candidates = _candidates(directory, stage, which)
    if not candidates:
        raise FileNotFoundError(
            f"`load_checkpoint`: no {which} {stage!r} checkpoint in {directory}"
        )
    if config is None:
        cfg_path = directory / "config.json"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"`load_checkpoint`: {cfg_path} is missing")
        config = TrainConfig.from_json(cfg_path.read_text())
    template = state_template(stage, config)
    problems = []
    for path, digest in candidates:
        why = verify_checkpoint(path, digest)
        state = None
        if why is None:
            try:
                state = eqx.tree_deserialise_leaves(path, template)
            except Exception as err:  # truncated / wrong structure: numpy and pickle errors vary
                why = f"it cannot be read ({type(err).__name__}: {err})"
        if state is not None:
            if problems:
                message = (
                    f"checkpoint {problems[-1][0]} is unusable: {problems[-1][1]}; using the "
                    f"previous good checkpoint {path} (step {int(state.step)})"
                )
                if report is None:
                    warnings.warn(message, CheckpointFallbackWarning, stacklevel=2)
                else:
                    report(message)
            return state, config
        problems.append((path, why))
        if not fallback:
            older = len(candidates) > 1
            raise CorruptCheckpointError(
                f"checkpoint {path} is unusable: {why}."
                + (
                    " An older checkpoint remains; rerun the `sgm-eqx train` command of this "
                    "run to resume from it."
                    if older
                    else ""
                )
            )
    detail = "; ".join(f"{p}: {w}" for p, w in problems)
    raise CorruptCheckpointError(
        f"no usable {stage!r} checkpoint in {directory}: {detail}. Delete the {stage}*.eqx "
        f"files and the {stage!r} entry of {INDEX_NAME} to restart that stage."
    )
