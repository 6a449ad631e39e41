"""Safe resumes: `kill -9`, a corrupted checkpoint, records and manifests of a tiny run."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TINY = [
    "--set", "model.inference_hidden=(8,)",
    "--set", "model.feature_hidden=(8,)",
    "--set", "model.base_hidden=(4,)",
    "--set", "model.flow_layers=1",
    "--set", "model.flow_nn_width=4",
    "--set", "inference.n_samples=1",
    "--set", "flow.n_samples=1",
    "--set", "checkpoint_every=1",
    "--set", "val_every=5",
    "--set", "val_batches=1",
]  # fmt: skip
STEPS = 15


def _argv(data, out):
    return ["train", "--data", str(data), "--out", str(out), "--steps", str(STEPS),
            "--batch-size", "4", "--no-progress", "--log-every", "5", *TINY]  # fmt: skip


def _newest_step(out: pathlib.Path, stage: str) -> int:
    try:
        index = json.loads((out / "checkpoints.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return -1
    return max((e["step"] for e in index.get(stage, [])), default=-1)


def _records(path):
    """metrics.jsonl without the timing fields (which differ between runs)."""
    drop = {"time", "wall_time", "examples_per_s"}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in drop} for r in lines if r["kind"] != "start"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    images = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    np.savez(d / "tiny.npz", images=images)
    return d / "tiny.npz"


def test_kill_9_then_same_command_is_bit_identical(data, tmp_path, capsys):
    from sgm_eqx._cli import main

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    root = pathlib.Path(__file__).resolve().parents[2]
    code = f"from sgm_eqx._cli import main; raise SystemExit(main({_argv(data, killed)!r}))"
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        # Killed in stage 1 (so the subprocess compiles only that stage's step).
        deadline = time.monotonic() + 1800  # generous: compilation on a loaded machine
        while (
            _newest_step(killed, "inference") < 2
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # mid-step, possibly mid-write
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.stderr.read().decode()  # pyright: ignore[reportOptionalMemberAccess]
        proc.stderr.close()  # pyright: ignore[reportOptionalMemberAccess]
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, stderr
    at_kill = _newest_step(killed, "inference")
    assert 2 <= at_kill < STEPS
    # Damage the newest checkpoint too: the resume must fall back to the previous one.
    newest = killed / f"inference-step{at_kill:08d}.eqx"
    newest.write_bytes(newest.read_bytes()[:100])

    assert main(_argv(data, killed)) == 0
    err = capsys.readouterr().err
    assert f"inference-step{at_kill:08d}.eqx is unusable" in err
    assert "previous good checkpoint" in err
    assert main(_argv(data, straight)) == 0
    for stage in ("inference", "flow"):
        a = (killed / f"{stage}.eqx").read_bytes()
        b = (straight / f"{stage}.eqx").read_bytes()
        assert a == b, f"{stage}: resumed run differs from the uninterrupted one"
    # The records describe one run: those of the killed part were replaced. The first
    # training record after the resumed step (at_kill - 1) averages fewer steps; every
    # other record is identical.
    resumed = at_kill - 1
    ka, kb = _records(killed / "metrics.jsonl"), _records(straight / "metrics.jsonl")
    assert [(r["kind"], r["stage"], r["step"]) for r in ka] == [
        (r["kind"], r["stage"], r["step"]) for r in kb
    ]
    for a, b in zip(ka, kb, strict=True):
        partial = a["kind"] == "train" and a["stage"] == "inference"
        if not (partial and resumed < a["step"] < resumed + 5):
            assert a == b
    # Only the newest 2 step files per stage are kept, plus the best by validation.
    names = sorted(p.name for p in straight.glob("*.eqx"))
    assert names == [
        "flow-best.eqx", f"flow-step{STEPS - 1:08d}.eqx", f"flow-step{STEPS:08d}.eqx", "flow.eqx",
        "inference-best.eqx", f"inference-step{STEPS - 1:08d}.eqx",
        f"inference-step{STEPS:08d}.eqx", "inference.eqx",
    ]  # fmt: skip


def test_run_records_itself(data, tmp_path, capsys):
    from sgm_eqx._cli import main
    from sgm_eqx.train import TrainConfig, read_index

    out = tmp_path / "run"
    assert main(_argv(data, out)) == 0
    log = capsys.readouterr().out
    # --no-progress prints a line per record: every 5 steps and at each validation.
    assert "stage 1 step 5: loss" in log and "stage 2 step 15: val_loss" in log
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train" and r["stage"] == "flow"]
    assert [r["step"] for r in train] == list(range(5, STEPS + 1, 5))
    for key in ("loss", "nll", "consistency", "grad_norm", "lr", "wall_time", "examples_per_s"):
        assert all(np.isfinite(r[key]) for r in train), key
    val = [r for r in records if r["kind"] == "val" and r["stage"] == "inference"]
    assert [r["step"] for r in val] == list(range(5, STEPS + 1, 5))
    assert all("val_ssl" in r and np.isfinite(r["val_loss"]) for r in val)
    # The best checkpoint is the lowest validation loss seen.
    best = read_index(out)["best"]["inference"]
    assert best["val_loss"] == min(r["val_loss"] for r in val)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["command"].startswith("sgm-eqx train --data")
    assert manifest["seed"] == 0 and manifest["data"] == str(data)
    assert set(manifest["versions"]) >= {"sgm_eqx", "jax", "equinox", "flowjax", "optax"}
    config = TrainConfig.from_json((out / "config.json").read_text())
    assert TrainConfig.from_json(json.dumps(manifest["config"])) == config
    import matplotlib.image

    png = matplotlib.image.imread(out / "loss_curves.png")
    assert png.shape[0] > 200 and png.std() > 0.01
    # --config repeats the run from its config.json; a changed field is refused on resume.
    capsys.readouterr()
    again = ["train", "--data", str(data), "--out", str(out), "--config", str(out)]
    assert main([*again, "--print-config"]) == 0
    assert TrainConfig.from_json(capsys.readouterr().out) == config
    assert main([*again, "--set", "flow.lr=0.5", "--no-progress"]) == 2
    assert "flow.lr: 0.003 -> 0.5" in capsys.readouterr().err
