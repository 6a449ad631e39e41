"""Reading a trained SGM back, and writing JSON results."""

import json
import math
import os
import pathlib

import numpy as np

from .._sgm import SGM
from ..train import TrainConfig, has_checkpoint, load_checkpoint


def load_trained(
    checkpoint: str | os.PathLike, *, which: str = "latest"
) -> tuple[SGM, TrainConfig, str]:
    """Load the model of a `sgm-eqx train` output directory.

    Uses the newest stage-2 checkpoint (`flow.eqx`) when present, else stage 1
    (`inference.eqx`); `which="best"` takes the best-by-validation state of that stage
    instead. A checkpoint whose digest does not match is an error naming the file (no
    silent fallback to an older one).

    **Returns:** `(model, config, stage)`.
    """
    directory = pathlib.Path(checkpoint)
    for stage in ("flow", "inference"):
        if has_checkpoint(directory, stage):
            state, config = load_checkpoint(
                directory,
                stage,
                which=which,
                fallback=False,
            )
            return state.model, config, stage
    raise FileNotFoundError(
        f"`--checkpoint {checkpoint}`: no `flow.eqx` or `inference.eqx` found there; run "
        "`sgm-eqx train --out DIR` first."
    )


def write_json(obj: dict, path: str | os.PathLike) -> pathlib.Path:
    """Write `obj` as indented JSON (NaN written as `null`)."""

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, np.generic):
            return clean(o.item())
        return o

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(obj), indent=2))
    return path
