"""`sgm-eqx vae`: a tiny end-to-end InvVAE run on a trained SGM, and its input errors."""

import json
import math

import pytest

pytestmark = pytest.mark.slow

DATA = "dsprites:n=48,size=16,supersample=2"
TINY_SGM = [
    "--set", "model.inference_hidden=(8,)",
    "--set", "model.feature_hidden=(8,)",
    "--set", "model.base_hidden=(4,)",
    "--set", "model.flow_layers=1",
    "--set", "model.flow_nn_width=4",
    "--set", "inference.n_samples=1",
    "--set", "flow.n_samples=1",
    "--set", "checkpoint_every=0",
]  # fmt: skip
TINY_VAE = [
    "--steps", "2", "--batch-size", "8", "--conv-channels", "2,2", "--hidden", "4",
    "--latent-size", "2", "--iwlb-samples", "3", "--iwlb-chunk", "2", "--test-limit", "3",
    "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def sgm_ckpt(tmp_path_factory):
    from sgm_eqx._cli import main

    out = tmp_path_factory.mktemp("sgm") / "ckpt"
    argv = ["train", "--data", DATA, "--out", str(out), "--steps", "2", "--batch-size", "8"]
    assert main([*argv, *TINY_SGM, "--no-progress", "--no-validation"]) == 0
    return out


def test_invvae_run_writes_metrics_and_figure(sgm_ckpt, tmp_path):
    from sgm_eqx._cli import main

    out = tmp_path / "inv"
    argv = ["vae", "--model", "invvae", "--data", DATA, "--sgm", str(sgm_ckpt), "--out", str(out)]
    assert main([*argv, "--train-fraction", "0.5", "--eta-scale", "0.05", *TINY_VAE]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_train"] == 19 and m["n_test"] == 3  # half of dSprites' 80% train split of 48
    for k in ("iwlb_nats", "mse", "seconds"):
        assert math.isfinite(m[k])
    assert m["eta_scale"] == pytest.approx([0.05] * 5)
    # default --val-every is steps // 8 (at least 1): both steps validated, one selected
    assert [v["step"] for v in m["validation"]] == [1, 2]
    assert all(math.isfinite(v["iwlb_nats"]) for v in m["validation"])
    best = max(m["validation"], key=lambda v: v["iwlb_nats"])
    assert m["selected_step"] == best["step"]
    assert (out / "samples.png").stat().st_size > 1000


def test_checkpoint_with_another_image_shape_is_rejected(sgm_ckpt, tmp_path, capsys):
    from sgm_eqx._cli import main

    data = "dsprites:n=48,size=12,supersample=2"
    argv = ["vae", "--model", "augvae", "--data", data, "--sgm", str(sgm_ckpt)]
    assert main([*argv, "--out", str(tmp_path / "x"), *TINY_VAE]) == 2
    msg = capsys.readouterr().out
    assert "--sgm" in msg and "(16, 16, 1)" in msg and "(12, 12, 1)" in msg


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--model", "vae", "--train-fraction", "0"], "--train-fraction"),
        (["--model", "vae", "--iwlb-samples", "0"], "--iwlb-samples"),
        (["--model", "vae", "--sgm", "somewhere"], "--sgm"),
        (["--model", "augvae", "--sgm", "/no/such/dir"], "--sgm"),
        (["--model", "invvae", "--eta-scale", "-1"], "--eta-scale"),
        (["--model", "vae", "--val-every", "-1"], "--val-every"),
        (["--model", "vae", "--val-samples", "0"], "--val-samples"),
    ],
)
def test_bad_flags_give_one_line_errors(tmp_path, capsys, extra, flag):
    from sgm_eqx._cli import main

    argv = ["vae", "--data", DATA, "--out", str(tmp_path / "x"), *extra]
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith("error: ") and flag in out
