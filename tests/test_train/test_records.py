"""Run records: metrics.jsonl across a resume, the loss-curve figure, TensorBoard events."""

import json
import struct

import numpy as np
import pytest


def _train(stage, step, loss):
    return {"kind": "train", "stage": stage, "step": step, "loss": loss, "lr": 1e-3}


def test_metrics_log_drops_the_repeated_part_of_a_killed_run(tmp_path):
    from sgm_eqx.train import MetricsLog, read_metrics

    log = MetricsLog(tmp_path / "m.jsonl")
    log({"kind": "start", "stage": "inference", "step": 0, "steps": 9})
    for step in (3, 6, 9):
        log(_train("inference", step, 1.0 / step))
    log({"kind": "start", "stage": "flow", "step": 0, "steps": 9})
    log(_train("flow", 3, float("nan")))
    with open(log.path, "a") as f:
        f.write('{"kind": "train", "stage": "fl')  # torn line of a killed process
    # Resumed at stage-1 step 6: stage-1 records after 6 and all stage-2 records go.
    log({"kind": "start", "stage": "inference", "step": 6, "steps": 9})
    records = read_metrics(log.path)
    assert [(r["kind"], r["stage"], r["step"]) for r in records] == [
        ("start", "inference", 0),
        ("train", "inference", 3),
        ("train", "inference", 6),
        ("start", "inference", 6),
    ]
    log(_train("flow", 3, float("nan")))
    assert read_metrics(log.path)[-1]["loss"] is None  # NaN is written as null: strict JSON
    for line in log.path.read_text().splitlines():
        json.loads(line)


def test_loss_curves_png(tmp_path):
    import matplotlib.image

    from sgm_eqx.train import plot_loss_curves

    records = [_train("inference", s, 1.0 / s) for s in range(1, 20)]
    records += [{"kind": "val", "stage": "inference", "step": 10, "val_loss": 0.2}]
    records += [_train("flow", s, -0.1 * s) for s in range(1, 20)]
    path = plot_loss_curves(records, tmp_path / "curves.png")
    img = matplotlib.image.imread(path)
    assert img.shape[1] > img.shape[0] > 200 and img.std() > 0.01  # two panels side by side
    with pytest.raises(ValueError, match="no training records"):
        plot_loss_curves([], tmp_path / "none.png")


def _events(path):
    from tensorboardX.proto import event_pb2

    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        # protobuf-generated module: no stubs declare its message classes
        event = event_pb2.Event()  # pyright: ignore[reportAttributeAccessIssue]
        event.ParseFromString(data[i + 12 : i + 12 + n])
        out.extend((event.step, v.tag, v.simple_value) for v in event.summary.value)
        i += 12 + n + 4
    return out


def test_tensorboard_log_writes_each_numeric_field(tmp_path):
    pytest.importorskip("tensorboardX")
    from sgm_eqx.train import TensorBoardLog

    with TensorBoardLog(tmp_path) as board:
        board({"kind": "start", "stage": "inference", "step": 0, "steps": 4})
        board({**_train("inference", 2, 0.5), "examples_per_s": None, "time": 1.0})
        board({"kind": "val", "stage": "flow", "step": 4, "val_loss": -1.25})
    (events,) = tmp_path.glob("events.out.tfevents.*")
    got = sorted(_events(events))
    assert [(s, t) for s, t, _ in got] == [
        (2, "inference/loss"), (2, "inference/lr"), (4, "flow/val_loss"),
    ]  # fmt: skip
    np.testing.assert_allclose([v for _, _, v in got], [0.5, 1e-3, -1.25], rtol=1e-6)
