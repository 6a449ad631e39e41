"""Records of a training run: `metrics.jsonl` and its loss-curve figure.

[`sgm_eqx.train.fit_stage`][] hands every record to a `callback`; a
[`sgm_eqx.train.MetricsLog`][] appends them to a JSON-lines file that stays consistent when
a run is killed and resumed, and [`sgm_eqx.train.plot_loss_curves`][] draws it.
"""

import json
import math
import os
import pathlib

import numpy as np

_STAGE_ORDER = {"inference": 0, "flow": 1}
_STAGE_TITLE = {"inference": "stage 1: inference net q_ω", "flow": "stage 2: flow p_ψ"}


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a `metrics.jsonl` file (a torn last line is skipped)."""
    records = []
    p = pathlib.Path(path)
    if not p.is_file():
        return records
    for line in p.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class MetricsLog:
    """A `fit_stage` callback that appends each record as one JSON line to `path`.

    On a `start` record at step `s` of a stage (a resumed run), the records of that stage
    after step `s` and those of later stages are dropped first: they belong to the part of
    the killed run that the resumed run repeats, so the file always describes one run.
    Non-finite numbers are written as `null`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)

    def __call__(self, record: dict) -> None:
        """Write one record."""
        if record.get("kind") == "start":
            self._truncate(record["stage"], int(record["step"]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")

    def _truncate(self, stage: str, step: int) -> None:
        if not self.path.is_file():
            return
        order = _STAGE_ORDER.get(stage, 0)

        def keep(r: dict) -> bool:
            o = _STAGE_ORDER.get(r.get("stage", ""), 0)
            if o != order:
                return o < order
            if r.get("kind") == "start":  # replaced by the new start record
                return int(r.get("step", 0)) < step
            return int(r.get("step", 0)) <= step

        kept = [r for r in read_metrics(self.path) if keep(r)]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)


def plot_loss_curves(records: list[dict], path: str | os.PathLike) -> pathlib.Path:
    """Draw the training and validation losses of `records` (one panel per stage) as a PNG.

    The training curve is the mean loss of each logged window; validation losses are
    markers. The y-axis is logarithmic when every plotted value is positive and they span more
    than a factor of 10.

    **Returns:** the path written.
    """
    from matplotlib.figure import Figure

    stages = [s for s in _STAGE_ORDER if any(r.get("stage") == s for r in records)]
    if not stages:
        raise ValueError("`plot_loss_curves(records=...)`: no training records to plot.")
    fig = Figure(figsize=(5.0 * len(stages), 3.6), layout="constrained")
    axes = fig.subplots(1, len(stages), squeeze=False)[0]
    for ax, stage in zip(axes, stages, strict=True):
        train = [(r["step"], r["loss"]) for r in records
                 if r.get("stage") == stage and r.get("kind") == "train"
                 and r.get("loss") is not None]  # fmt: skip
        val = [(r["step"], r["val_loss"]) for r in records
               if r.get("stage") == stage and r.get("kind") == "val"
               and r.get("val_loss") is not None]  # fmt: skip
        if train:
            x, y = zip(*train, strict=True)
            ax.plot(x, y, color="C0", label="train (window mean)")
        if val:
            x, y = zip(*val, strict=True)
            ax.plot(x, y, "o-", color="C1", markersize=4, label="validation")
        values = [v for _, v in train + val]
        if values and min(values) > 0 and max(values) > 10 * min(values):
            ax.set_yscale("log")
        ax.set_title(_STAGE_TITLE.get(stage, stage))
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        if train or val:
            ax.legend(fontsize=8, loc="upper right")  # "best" is slow and warns on big data
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


class TensorBoardLog:
    """A `fit_stage` callback that writes the records as TensorBoard scalars.

    Needs the optional `tensorboardX` package (`pip install sgm_eqx[tensorboard]`); the core
    library does not depend on it. Each numeric field of a `train` record becomes the scalar
    `<stage>/<field>` and each field of a `val` record `<stage>/<field>` (already prefixed
    `val_`), at the record's step. Event files go to `logdir`; view them with
    `tensorboard --logdir DIR`. Call `close()` at the end (or use it as a context manager).
    """

    def __init__(self, logdir: str | os.PathLike):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError(
                "`TensorBoardLog`: needs the optional package tensorboardX; install it with "
                "`pip install sgm_eqx[tensorboard]` (or `pip install tensorboardX`)."
            ) from None
        self.logdir = pathlib.Path(logdir)
        self._writer = SummaryWriter(str(self.logdir))

    def __call__(self, record: dict) -> None:
        """Write the numeric fields of one `train` or `val` record."""
        if record.get("kind") not in ("train", "val"):
            return
        skip = {"kind", "stage", "step", "time"}
        for name, value in record.items():
            if name in skip or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            self._writer.add_scalar(f"{record['stage']}/{name}", value, int(record["step"]))

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
