"""Procedural pose datasets: ground truth, rendering and the moment pose estimator."""

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def rotations():
    import jax.random as jr

    from sgm_eqx.data import make_pose_dataset

    return make_pose_dataset(jr.key(0), 400, suite="rotations", size=32)


def test_pose_dataset_has_labels_latents_and_splits(rotations):
    from sgm_eqx.data import POSE_SUITES

    assert rotations.images.shape == (400, 32, 32, 1)
    lat = np.asarray(rotations.latents)
    assert lat.shape == (400, 6)
    assert set(np.unique(np.asarray(rotations.labels))) == set(range(4))
    assert float(rotations.images.min()) >= 0.0 and float(rotations.images.max()) <= 1.0
    # every class follows its own distribution: the square (class 3) is never transformed,
    # the arrow's rotation is bimodal at ±60° ± 15°
    square = lat[lat[:, 0] == 3]
    assert np.all(square[:, 1:] == 0.0)
    arrow = np.abs(lat[lat[:, 0] == 1, 1])
    assert arrow.min() >= math.radians(45) - 1e-6 and arrow.max() <= math.radians(75) + 1e-6
    assert len(POSE_SUITES["rotations"]) == 4


def test_unknown_suite_is_a_clear_error():
    import jax.random as jr

    from sgm_eqx.data import make_pose_dataset

    with pytest.raises(ValueError, match="suite"):
        make_pose_dataset(jr.key(0), 10, suite="nope")


@pytest.mark.parametrize("suite", ["rotations", "positions"])
def test_moment_estimator_recovers_the_true_poses(suite):
    # The estimator is what the recovery suite compares data and variants with: its error on
    # the data itself (against the true latents) must be well below the suite's 0.05 target
    # for the coordinates the class varies.
    import jax.random as jr

    from sgm_eqx.data import POSE_SUITES, make_pose_dataset
    from sgm_eqx.experiments import moment_poses, pose_w1, true_poses

    data = make_pose_dataset(jr.key(1), 600, suite=suite, size=32)
    labels, lat = np.asarray(data.labels), np.asarray(data.latents)
    for c, cls in enumerate(POSE_SUITES[suite]):
        sel = labels == c
        est = moment_poses(np.asarray(data.images)[sel], cls)
        w1 = pose_w1(true_poses(lat[sel]), est, cls)
        for name, field in (("theta", "theta"), ("tx", "tx"), ("log_size", "log_size")):
            if cls.varies(field):
                assert w1[name] < 0.03, (suite, cls.shape, name, w1[name])
