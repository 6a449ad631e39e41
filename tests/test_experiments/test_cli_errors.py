"""Bad invocations of `sgm-eqx`: one line, exit status 2, the flag named, nothing written.

Every case runs `sgm_eqx._cli.main` in-process and must fail before JAX compiles anything
(checked with `jax.monitoring`), so the whole table takes about a second.
"""

import dataclasses
import json

import numpy as np
import pytest

GOOD = 20  # examples in the good npz (16 train / 2 val / 2 test)


def _png(path, size, mode="L"):
    from PIL import Image

    rng = np.random.default_rng(0)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Synthetic inputs: good and bad npz files, image folders, checkpoint directories."""
    from sgm_eqx.train import get_preset

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    good = rng.integers(0, 256, (GOOD, 8, 8), dtype=np.uint8)
    np.savez(d / "good.npz", images=good)
    np.savez(d / "chfirst.npz", images=rng.uniform(size=(GOOD, 1, 16, 16)).astype(np.float32))
    np.savez(d / "range.npz", images=good.astype(np.float32))
    nan = rng.uniform(size=(GOOD, 8, 8)).astype(np.float32)
    nan[3, 2, 2] = np.nan
    np.savez(d / "nan.npz", images=nan)
    np.savez(d / "int16.npz", images=(good.astype(np.int16) * 4))
    np.savez(d / "nokey.npz", x=good)
    (d / "notzip.npz").write_bytes(b"this is not a zip archive")
    np.savez(d / "badlabels.npz", images=good, labels=np.arange(GOOD - 1))
    np.savez(d / "badsplit.npz", images=good, split=np.full(GOOD, 7))
    np.savez(d / "big.npz", images=rng.integers(0, 256, (GOOD, 16, 16), dtype=np.uint8))
    (d / "empty").mkdir()
    (d / "mixed").mkdir()
    _png(d / "mixed" / "a.png", (8, 8))
    _png(d / "mixed" / "b.png", (9, 8))
    (d / "corrupt").mkdir()
    _png(d / "corrupt" / "a.png", (8, 8))
    (d / "corrupt" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (d / "afile").write_text("x")
    config = get_preset("cpu-small")
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, image_shape=(8, 8, 1))
    )
    # A run directory whose newest checkpoint does not match its recorded digest.
    bad = d / "corrupt_run"
    bad.mkdir()
    (bad / "config.json").write_text(config.to_json())
    (bad / "flow-step00000010.eqx").write_bytes(b"truncated")
    (bad / "flow.eqx").write_bytes(b"truncated")
    index = {"flow": [{"file": "flow-step00000010.eqx", "step": 10, "sha256": "0" * 64}]}
    (bad / "checkpoints.json").write_text(json.dumps(index))
    # A run directory of another config (for the resume check; never loaded).
    other = d / "other_run"
    other.mkdir()
    changed = dataclasses.replace(
        config, flow=dataclasses.replace(config.flow, lr=1e-4, batch_size=8),
        inference=dataclasses.replace(config.inference, batch_size=8),
    )  # fmt: skip
    (other / "config.json").write_text(changed.to_json())
    (other / "inference-step00000005.eqx").write_bytes(b"x")
    index = {"inference": [{"file": "inference-step00000005.eqx", "step": 5, "sha256": "0"}]}
    (other / "checkpoints.json").write_text(json.dumps(index))
    (d / "noidx_run").mkdir()
    (d / "noidx_run" / "config.json").write_text(config.to_json())
    (d / "noidx_run" / "flow.eqx").write_bytes(b"x")
    (d / "bad.json").write_text("{not json")
    (d / "notconfig.json").write_text(json.dumps({"model": {}}))
    return d


# (argv with {d} for the inputs folder and {out} for a fresh output path, text the one-line
# message must contain). Every case must fail with status 2.
CASES = [
    ("train --data cifar --out {out}", "--data cifar: expected one of"),
    ("demo --steps -5 --out {out}", "argument --steps: expected a positive integer"),
    ("demo --batch-size 0 --out {out}", "argument --batch-size: expected a positive integer"),
    ("train --data dsprites:colour=1 --out {out}", "--data dsprites:colour=1: unknown option"),
    ("train --data dsprites:n=many --out {out}", "not a valid int"),
    ("train --data dsprites:n=0 --out {out}", "must be positive"),
    ("train --data mnist:{d}/nowhere --out {out}", "--data mnist:"),
    ("train --data npz:{d}/missing.npz --out {out}", "no such file"),
    ("train --data {d}/missing.npz --out {out}", "--data"),
    ("train --data npz:{d}/chfirst.npz --out {out}", "np.moveaxis(images, 1, -1)"),
    ("train --data npz:{d}/range.npz --out {out}", "divide by 255"),
    ("train --data npz:{d}/nan.npz --out {out}", "non-finite pixels"),
    ("train --data npz:{d}/int16.npz --out {out}", "[0, 255]"),
    ("train --data npz:{d}/nokey.npz --out {out}", "named `images`"),
    ("train --data npz:{d}/notzip.npz --out {out}", "not a readable .npz"),
    ("train --data npz:{d}/badlabels.npz --out {out}", "`labels` must have shape"),
    ("train --data npz:{d}/badsplit.npz --out {out}", "`split` must hold"),
    ("train --data npz:train={d}/good.npz,val={d}/gone.npz --out {out}", "gone.npz"),
    ("train --data npz:{d}/good.npz:val=0.6,test=0.5 --out {out}", "leaves no training"),
    ("train --data png:{d}/empty --out {out}", "no images found"),
    ("train --data png:{d}/nowhere --out {out}", "no such directory"),
    ("train --data png:{d}/mixed --out {out}", "size=S"),
    ("train --data images:{d}/corrupt --out {out}", "cannot read"),
    ("train --data png:{d}/mixed:size=2 --out {out}", "at least 4"),
    ("train --data {d}/good.npz --out {out} --batch-size 64", "--batch-size 64"),
    ("train --data {d}/good.npz --out {out} --preset mnist-color", "--preset mnist-color"),
    ("train --data {d}/good.npz --out {out} --set model.widht=3", "--set model.widht=3: "),
    (
        "train --data {d}/good.npz --out {out} --set model.eta_bound=(1,1,3,1,1)",
        "--set model.eta_bound=(1,1,3,1,1): with inference_translation_readout=True, q",
    ),
    ("train --data {d}/good.npz --out {out} --set nope.steps=3", "unknown section"),
    ("train --data {d}/good.npz --out {out} --set inference.lr=-1", "expected a positive"),
    ("train --data {d}/good.npz --out {out} --set model.eta_bound=(1,1)", "eta_bound"),
    ("train --data {d}/good.npz --out {out} --steps 0", "--steps"),
    ("train --data {d}/good.npz --out {out} --batch-size x", "--batch-size"),
    ("train --data {d}/good.npz --out {out} --stage 2", "--stage 2 needs a stage-1"),
    ("train --data {d}/good.npz --out {out} --devices 64 --batch-size 8", "--devices 64"),
    ("train --data {d}/good.npz --out {out} --devices 0", "--devices"),
    ("train --data {d}/good.npz --out {out} --preset dsprites --config {d}/bad.json", "one of"),
    ("train --data {d}/good.npz --out {out} --config {d}/missing.json", "--config"),
    ("train --data {d}/good.npz --out {out} --config {d}/bad.json", "not valid JSON"),
    ("train --data {d}/good.npz --out {out} --config {d}/notconfig.json", "TrainConfig"),
    ("train --out {out}", "--data is required"),
    ("train --data {d}/good.npz --out {out} --tensorboard --set inference.lr=0", "--set"),
    ("train --data {d}/good.npz --out {d}/afile", "--out"),
    ("train --data {d}/good.npz --out {d}/other_run --batch-size 8", "flow.lr: 0.0001 -> 0.003"),
    (
        "train --data {d}/good.npz --out {d}/other_run --batch-size 8 --allow-config-change "
        "--set model.flow_layers=2",
        "model.flow_layers",
    ),
    ("evaluate --checkpoint {d}/nowhere --data {d}/good.npz --out {out}.json", "--checkpoint"),
    ("evaluate --checkpoint {d}/empty --data {d}/good.npz --out {out}.json", "no checkpoint"),
    ("evaluate --checkpoint {d}/corrupt_run --data {d}/good.npz --out {out}.json", "SHA-256"),
    ("sample --checkpoint {d}/noidx_run --data {d}/good.npz --out {out}.txt", "--out"),
    ("sample --checkpoint {d}/noidx_run --data {d}/big.npz --out {out}.npz", "trained on"),
    ("figures --checkpoint {d}/noidx_run --data {d}/good.npz --out {out} --which best", "--which"),
    ("evaluate --checkpoint {d}/noidx_run --data {d}/good.npz --out {out}.j --split x", "--split"),
    ("detect --out {out} --set widths=512,a", "--set widths=512,a"),
    ("detect --out {out} --set widht=3", "has no field 'widht'"),
    ("detect --out {out} --config {d}/good.npz", "--config"),
    ("detect --out {out} --magnitude gauss:0,1", "--magnitude"),
    ("detect --out {out} --data npz:{d}/chfirst.npz --steps 1", "np.moveaxis"),
    ("detect --out {out} --data synthetic:big", "--data synthetic:big"),
    ("bogus --out {out}", "invalid choice"),
]  # fmt: skip


@pytest.fixture(scope="module")
def compiles():
    """Names of the functions JAX compiles, recorded while the cases run."""
    import jax
    import jax.random as jr

    _a, _b = jr.split(jr.key(0))  # the commands make keys before loading data: warm those up
    seen: list[str] = []

    def listener(event: str, duration_secs: float, **kwargs: str | int) -> None:
        del duration_secs
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(str(kwargs.get("fun_name")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield seen
    jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[c[0].split(" --out")[0] for c in CASES])
def test_bad_invocation_fails_fast_with_one_line(argv, expected, files, compiles, tmp_path, capsys):
    from sgm_eqx._cli import main

    out = tmp_path / "out"
    args = argv.format(d=files, out=out).split()
    before = sorted(p.name for p in files.rglob("*"))
    compiles.clear()
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert "Traceback" not in captured.out + captured.err
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1, captured.err
    assert errors[0].startswith("sgm-eqx"), errors[0]
    assert expected in errors[0], errors[0]
    assert not list(tmp_path.iterdir()), "output written on error"
    assert sorted(p.name for p in files.rglob("*")) == before, "inputs changed on error"
    assert compiles == [], f"compiled before failing: {compiles}"


def test_help_shows_defaults_and_the_data_specs(capsys):
    from sgm_eqx._cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 50)" in text and "(default: both)" in text
    assert "dsprites[:size=64,n=20000,supersample=4]" in text and "png:DIR" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("sgm-eqx ")


def test_debug_shows_the_traceback(files, tmp_path):
    from sgm_eqx._cli import main
    from sgm_eqx.experiments._args import CommandError

    with pytest.raises(CommandError, match=r"np\.moveaxis") as info:
        main(["--debug", "train", "--data", f"npz:{files}/chfirst.npz", "--out", str(tmp_path)])
    assert isinstance(info.value.__cause__, ValueError)


def test_tensorboard_without_its_package_names_the_extra(files, tmp_path, capsys, monkeypatch):
    """`--tensorboard` fails in one line when tensorboardX is absent, whether or not it is."""
    import importlib.util

    from sgm_eqx._cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboardX" else real(name, *a),
    )
    argv = [
        "train",
        "--data",
        f"{files}/good.npz",
        "--out",
        str(tmp_path / "o"),
        "--batch-size",
        "8",
    ]
    status = main([*argv, "--tensorboard"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "--tensorboard" in err and "sgm_eqx[tensorboard]" in err
    assert not (tmp_path / "o").exists()


def test_set_overrides_of_one_section_apply_together_in_any_order():
    """A check on several fields sees all new values, whichever `--set` comes first."""
    from sgm_eqx.experiments._args import apply_overrides
    from sgm_eqx.train import get_preset

    config = get_preset("default", image_shape=(16, 16, 1))
    items = [
        "model.eta_bound=(1.0,1.0,3.14,1.0,1.0)",
        "model.inference_translation_readout=False",
        "model.flow_circular_angle=False",
        "model.flow_translation_column=False",
    ]
    for order in (items, items[::-1]):
        new = apply_overrides(config, order)
        assert new.model.eta_bound == (1.0, 1.0, 3.14, 1.0, 1.0)
        assert not new.model.inference_translation_readout
        assert not new.model.flow_circular_angle
        assert not new.model.flow_translation_column
    # alone, the bound clashes with the default's translation readout and flow charts
    with pytest.raises(ValueError, match=r"--set model\.eta_bound.*(readout|circle|column)"):
        apply_overrides(config, items[:1])


def test_set_reads_true_and_false_as_booleans_and_refuses_other_words():
    from sgm_eqx.experiments._args import apply_overrides
    from sgm_eqx.train import get_preset

    config = get_preset("default", image_shape=(16, 16, 1))
    off = apply_overrides(config, ["model.inference_angle_readout=false"])
    assert off.model.inference_angle_readout is False
    on = apply_overrides(off, ["model.inference_angle_readout=True"])
    assert on.model.inference_angle_readout is True
    with pytest.raises(ValueError, match=r"squash=yes.*model.squash expects true or false"):
        apply_overrides(config, ["model.squash=yes"])
