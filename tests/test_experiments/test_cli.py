"""A tiny end-to-end run of `sgm-eqx train`, `sample`, `evaluate` and `figures`."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DATA = "dsprites:n=48,size=16,supersample=2"
TINY = [
    "--set", "model.inference_hidden=(16,)",
    "--set", "model.feature_hidden=(16,)",
    "--set", "model.base_hidden=(8,)",
    "--set", "model.flow_layers=1",
    "--set", "model.flow_nn_width=8",
    "--set", "model.eta_bound=(0.75,0.75,3.14159,0.75,0.75)",
    "--set", "model.squash=True",
    "--set", "model.inference_translation_readout=False",  # needs an unsquashed η
    "--set", "model.flow_circular_angle=False",  # so do the flow's angle on the circle
    "--set", "model.flow_translation_column=False",  # and its translation column
    "--set", "inference.n_samples=2",
    "--set", "flow.n_samples=2",
    "--set", "checkpoint_every=0",
]  # fmt: skip
# The commands below share compiled functions when their static arguments agree (same
# number of η samples, resampled variants and chain length), which keeps this file fast.


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from sgm_eqx._cli import main

    out = tmp_path_factory.mktemp("run") / "ckpt"
    argv = ["train", "--data", DATA, "--out", str(out), "--steps", "3", "--batch-size", "8"]
    assert main([*argv, *TINY, "--no-progress", "--no-validation"]) == 0
    return out


def test_train_writes_checkpoints_of_both_stages(trained):
    from sgm_eqx.experiments import load_trained
    from sgm_eqx.train import TrainConfig

    assert (trained / "inference.eqx").is_file() and (trained / "flow.eqx").is_file()
    config = TrainConfig.from_json((trained / "config.json").read_text())
    assert config.model.image_shape == (16, 16, 1)  # follows the data, not the preset
    assert config.model.flow_layers == 1 and config.inference.steps == 3
    model, _, stage = load_trained(trained)
    assert stage == "flow" and model.n_params == 5


def test_report_writes_json_markdown_and_figure(trained, tmp_path):
    from sgm_eqx._cli import main

    out = tmp_path / "report"
    argv = ["report", "--checkpoint", str(trained), "--data", DATA, "--out", str(out)]
    assert main([*argv, "--n-examples", "3", "--n-samples", "4"]) == 0
    report = json.loads((out / "report.json").read_text())
    names = {"rotation_deg", "shift_x", "shift_y", "scale", "aspect"}
    assert report["groups"]  # one group per dSprites shape in the test split
    for group in report["groups"].values():
        assert set(group["transformations"]) == names
        for s in group["transformations"].values():
            lo, hi = s["interval90"]
            assert lo <= s["median"] <= hi or s["unit"] == "degrees"
            assert isinstance(s["present"], bool) and isinstance(s["multimodal"], bool)
    assert "| group | transformation |" in (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 1000


def test_sample_writes_the_documented_arrays(trained, tmp_path):
    from sgm_eqx._cli import main

    out = tmp_path / "s.npz"
    argv = ["sample", "--checkpoint", str(trained), "--data", DATA, "--n", "4"]
    assert main([*argv, "--out", str(out), "--resampled", "1", "--resample-inputs", "2"]) == 0
    with np.load(out) as f:
        n = f["images"].shape[0]
        assert n == 5  # the 10% test split of 48
        assert f["eta_inferred"].shape == (n, 5)
        assert f["prototypes"].shape == (n, 16, 16, 1)
        assert f["eta_samples"].shape == (n, 4, 5)
        assert f["resampled"].shape == (2, 1, 16, 16, 1)
        assert f["latents"].shape == (n, 5)
        # Bounded η (|η_i| < η_max_i) for both networks.
        bound = np.array([0.75, 0.75, 3.14159, 0.75, 0.75])
        assert np.all(np.abs(f["eta_samples"]) <= bound + 1e-5)
        assert np.all(np.isfinite(f["prototypes"]))


def test_evaluate_writes_metrics_json(trained, tmp_path):
    from sgm_eqx._cli import main

    out = tmp_path / "m.json"
    argv = ["evaluate", "--checkpoint", str(trained), "--data", DATA, "--out", str(out)]
    assert main([*argv, "--split", "all", "--n-samples", "4", "--chain-length", "2"]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["n_examples"] == 48
    assert len(metrics["chain_ratio"]) == 2 and metrics["chain_ratio"][0] == pytest.approx(1.0)
    assert set(metrics["recovery"]["w1"]) == {"square", "ellipse", "heart"}
    for shape in metrics["recovery"]["w1"].values():
        assert set(shape) == {"scale", "orientation", "x", "y"}
        assert all(0.0 <= v < 10.0 for v in shape.values())
    assert "heart_rotation_std_deg" in metrics["summary"]
    assert metrics["orbit_variance"]["inputs"] > 0.0


def test_figures_writes_pngs(trained, tmp_path):
    import matplotlib.image

    from sgm_eqx._cli import main

    argv = ["figures", "--checkpoint", str(trained), "--data", DATA, "--out", str(tmp_path)]
    opts = ["--split", "all", "--n-show", "3", "--n-samples", "4", "--chain-length", "2"]
    opts += ["--resampled", "1"]
    assert main([*argv, *opts]) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == [
        "fig10_marginals.png",
        "fig11_prototype_chains.png",
        "fig17_positions.png",
        "fig8_prototypes.png",
    ]
    for name in names:
        img = matplotlib.image.imread(tmp_path / name)
        assert img.ndim == 3 and min(img.shape[:2]) > 100 and img.std() > 0.01


def test_stage_2_without_stage_1_checkpoint_is_an_error(tmp_path, capsys):
    from sgm_eqx._cli import main

    argv = ["train", "--data", DATA, "--out", str(tmp_path), "--stage", "2", *TINY]
    assert main(argv) == 2
    assert "stage-1 checkpoint" in capsys.readouterr().err


def test_bad_override_names_the_field():
    from sgm_eqx.experiments._args import apply_overrides
    from sgm_eqx.train import get_preset

    with pytest.raises(ValueError, match="has no field 'widht'"):
        apply_overrides(get_preset("cpu-small"), ["model.widht=3"])
    with pytest.raises(ValueError, match="unknown section"):
        apply_overrides(get_preset("cpu-small"), ["nope.steps=3"])
    cfg = apply_overrides(get_preset("cpu-small"), ["flow.lr=1", "val_every=0"])
    assert cfg.flow.lr == 1.0 and isinstance(cfg.flow.lr, float) and cfg.val_every == 0


def test_demo_config_follows_appendix_c3():
    import math

    from sgm_eqx.experiments._demo import demo_config

    DSPRITES_ETA_MAX = (0.75, 0.75, math.pi, 0.75, 0.75)
    cfg = demo_config(size=16, inference_steps=10, flow_steps=20)
    assert cfg.model.image_shape == (16, 16, 1)
    assert cfg.model.eta_bound == DSPRITES_ETA_MAX
    assert cfg.inference.augment_bounds == DSPRITES_ETA_MAX
    assert cfg.inference.invertibility_weight == 0.0 and not cfg.inference.symmetric
    assert cfg.model.inference_pose_features  # rotation of small sprites (docs: results)
    np.testing.assert_allclose(cfg.flow.augment_bounds, 0.75 * np.asarray(DSPRITES_ETA_MAX))
    assert (cfg.inference.steps, cfg.flow.steps) == (10, 20)
