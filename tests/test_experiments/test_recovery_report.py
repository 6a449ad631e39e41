"""Recovery metrics and the symmetry report, on inputs whose answer is known."""

import math

import numpy as np


def test_class_recovery_is_perfect_when_variants_are_the_data():
    import jax.random as jr

    from sgm_eqx.data import POSE_SUITES, make_pose_dataset
    from sgm_eqx.experiments import class_recovery

    data = make_pose_dataset(jr.key(2), 300, suite="positions", size=32)
    sel = np.asarray(data.labels) == 0  # translated hearts
    x = np.asarray(data.images)[sel]
    # variants drawn from the data distribution itself: W1 is only sampling noise; identical
    # prototypes: zero orbit variance
    variants = np.stack([x, np.roll(x, 1, axis=0)], axis=1)
    protos = np.repeat(x[:1], len(x), axis=0)
    m = class_recovery(x, protos, variants, POSE_SUITES["positions"][0])
    assert max(m["w1"].values()) < 0.02
    assert m["orbit_variance"] == 0.0 and m["lost_content"] == 0.0
    # the untransformed data as "variants" of a translated class: translation W1 is large
    m2 = class_recovery(x, protos, np.repeat(protos[:, None], 2, 1), POSE_SUITES["positions"][0])
    assert m2["w1"]["tx"] > 0.1 and m2["w1"]["ty"] > 0.1


def test_population_w1_separates_the_models_error_from_the_datas_sampling_noise():
    import jax.random as jr

    from sgm_eqx.data import POSE_SUITES, sample_pose_latents
    from sgm_eqx.experiments import class_recovery, true_poses

    heart = POSE_SUITES["rotations"][0]  # rotated uniformly over the whole circle
    n, s = 155, 20
    held_out = true_poses(np.asarray(sample_pose_latents(jr.key(0), (heart,), n)))
    population = true_poses(np.asarray(sample_pose_latents(jr.key(1), (heart,), 20_000)))
    # a perfect model: its variants' poses are fresh draws of the true distribution
    perfect = true_poses(np.asarray(sample_pose_latents(jr.key(2), (heart,), n * s)))
    images = np.zeros((n, 8, 8, 1))
    images[:, 3:5, 3:5] = 1.0
    variants = np.repeat(images[:, None], s, axis=1)
    m = class_recovery(
        images, images, variants, heart, true_poses=held_out,
        exact_variant_poses=perfect.reshape(n, s, 5), population_poses=population,
    )  # fmt: skip
    # Against 155 held-out angles even the perfect model shows the held-out sample's own
    # noise (mean 0.075, 95% 0.12 in 90° units over repeated draws); against 20,000 draws
    # only the 3,100 variants' noise is left (expected ~0.02), and the floor explains the rest.
    assert m["w1_population"]["theta"] < 0.04
    assert m["sampling_floor"]["theta"] > m["w1_population"]["theta"]
    assert abs(m["w1_exact"]["theta"] - m["sampling_floor"]["theta"]) < 0.04
    # a model whose angles stop short of the full circle (none in a 60° arc) is caught
    wrong = perfect.copy()
    wrong[:, 0] = np.angle(np.exp(1j * wrong[:, 0])) * (300 / 360)
    m2 = class_recovery(
        images, images, variants, heart, true_poses=held_out,
        exact_variant_poses=wrong.reshape(n, s, 5), population_poses=population,
    )  # fmt: skip
    assert m2["w1_population"]["theta"] > 0.1
    # per input: the perfect model sits at the floor of 20 draws; a model whose variants stay
    # near each input's own angle (±10°) reproduces the held-out sample when pooled, but
    # not per input
    floor = m["per_input_floor"]["theta"]
    assert abs(m["w1_per_input"]["theta"] - floor) < 0.25 * floor
    rng = np.random.default_rng(0)
    near = np.repeat(held_out[:, None], s, axis=1)
    near[..., 0] += rng.uniform(-0.17, 0.17, (n, s))
    m3 = class_recovery(
        images, images, variants, heart, true_poses=held_out,
        exact_variant_poses=near, population_poses=population,
    )  # fmt: skip
    assert m3["w1_exact"]["theta"] < 0.03
    assert m3["w1_per_input"]["theta"] > 3 * floor


def test_split_score_detects_prototypes_half_a_turn_apart():
    from sgm_eqx.experiments import split_score

    rng = np.random.default_rng(0)
    one = rng.normal(0.3, 0.05, 200)
    split = np.concatenate([one[:100], one[100:] + math.pi])
    assert split_score(one, 1)["split"] < 0.05
    assert split_score(split, 1)["split"] > 0.9
    # for a 2-fold symmetric shape half a turn is no split at all
    assert split_score(split, 2)["split"] < 0.05


def test_summaries_say_present_absent_and_multimodal():
    from sgm_eqx.experiments import summarise_samples

    rng = np.random.default_rng(0)
    uniform = summarise_samples("rotation_deg", rng.uniform(-180, 180, 4000))
    assert uniform["present"] and not uniform["multimodal"]
    assert uniform["interval90"][1] - uniform["interval90"][0] > 300
    narrow = summarise_samples("rotation_deg", rng.normal(170, 1.0, 4000))
    assert not narrow["present"]  # the 90% arc wraps through ±180° and is ~3° wide
    assert abs(((narrow["median"] - 170) + 180) % 360 - 180) < 1.0
    bimodal = summarise_samples("rotation_deg", np.concatenate(
        [rng.normal(-60, 5, 2000), rng.normal(60, 5, 2000)]))  # fmt: skip
    assert bimodal["present"] and bimodal["multimodal"]
    scale = summarise_samples("scale", np.exp(rng.uniform(-0.3, 0.3, 4000)))
    assert scale["present"] and 0.7 < scale["interval90"][0] < 0.8


def test_affine_describe_measures_about_the_content_centre():
    import jax.numpy as jnp

    from sgm_eqx.groups import Affine2D

    # a blob centred at (0.5, 0): a rotation by 90° about the image centre moves it to (0, 0.5)
    size = 32
    c = (2 * np.arange(size) + 1) / size - 1
    xx, yy = np.meshgrid(c, -c)
    x = jnp.asarray(np.exp(-((xx - 0.5) ** 2 + yy**2) / 0.02)[..., None], jnp.float32)
    d = Affine2D.from_params(jnp.array([0.0, 0.0, math.pi / 2, 0.0, 0.0])).describe(x)
    assert abs(float(d["rotation_deg"]) - 90.0) < 1e-3
    assert abs(float(d["shift_x"]) + 0.25) < 0.01 and abs(float(d["shift_y"]) - 0.25) < 0.01
    assert abs(float(d["scale"]) - 1.0) < 1e-5 and abs(float(d["aspect"]) - 1.0) < 1e-5
    d2 = Affine2D.from_params(jnp.array([0.0, 0.0, 0.0, 0.2, -0.2])).describe(x)
    assert abs(float(d2["aspect"]) - math.exp(0.4)) < 1e-4 and abs(float(d2["scale"]) - 1) < 1e-5


def test_hsv_describe_is_in_turns_and_factors():
    import jax.numpy as jnp

    from sgm_eqx.groups import HSVColor

    d = HSVColor.from_params(jnp.array([0.75, math.log(2.0), 0.0])).describe(jnp.zeros((2, 2, 3)))
    assert abs(float(d["hue_turns"]) + 0.25) < 1e-6
    assert abs(float(d["saturation"]) - 2.0) < 1e-5 and abs(float(d["value"]) - 1.0) < 1e-6


def test_orbit_coverage_flags_eta_at_the_augmentation_edge():
    from sgm_eqx.experiments import orbit_coverage

    rng = np.random.default_rng(0)
    inside = rng.uniform(-0.5, 0.5, (1000, 2)) * np.array([1.0, 0.1])
    frac = orbit_coverage(inside, (1.0, 1.0))
    assert frac[0] == 0.0 and frac[1] == 0.0
    piled = np.concatenate([inside, np.full((200, 2), 0.99)])
    frac = orbit_coverage(piled, (1.0, 0.0))  # a zero bound: not augmented, never flagged
    assert abs(frac[0] - 200 / 1200) < 1e-9 and frac[1] == 0.0


def _blobs(n: int, size: int = 32) -> np.ndarray:
    """`(n, size, size, 1)` Gaussian blobs (σ 3-4 px) near the centre: smooth, so a warp keeps
    their intensity up to its interpolation error."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    sig = np.linspace(3.0, 4.0, n)[:, None, None]
    return np.exp(-(xx**2 + yy**2)[None] / (2 * sig**2))[..., None].astype(np.float32)


def test_prototype_intensity_reads_how_much_a_prototype_was_shrunk():
    import jax
    import jax.numpy as jnp

    from sgm_eqx.experiments import prototype_intensity
    from sgm_eqx.groups import Affine2D

    x = _blobs(4)
    assert prototype_intensity(x, x) == 1.0
    # shrinking both axes by 1/2 (η log-scales ln 2: x = T_η(x̂)) keeps a quarter of the
    # intensity; bilinear sampling of a σ >= 3 px blob is within 2% of it
    half = Affine2D.from_params(jnp.array([0.0, 0.0, 0.0, math.log(2.0), math.log(2.0)]), order=1)
    protos = np.asarray(jax.vmap(half.inverse().apply)(jnp.asarray(x)))
    assert abs(prototype_intensity(x, protos) - 0.25) < 0.005
    # blank inputs are skipped; negative data is refused, naming the argument
    with_blank = np.concatenate([x, np.zeros_like(x[:1])])
    assert prototype_intensity(with_blank, np.concatenate([protos, protos[:1]])) == (
        prototype_intensity(x, protos)
    )
    import pytest

    with pytest.raises(ValueError, match=r"data_images.*non-negative"):
        prototype_intensity(x - 0.5, protos)
    # mismatched shapes: the runtime type check, or without it the function, names the argument
    with pytest.raises((ValueError, TypeError), match="prototypes"):
        prototype_intensity(x, protos[:2])


def test_train_warns_when_prototypes_shrink_to_dots_and_names_the_fix():
    from sgm_eqx.experiments._cmd_train import prototype_shrink_warning
    from sgm_eqx.train import get_preset

    config = get_preset("default", image_shape=(32, 32, 1))
    x = _blobs(8)
    dots = x * 0.1  # a tenth of the intensity, as a prototype shrunk to a third of its size
    message = prototype_shrink_warning(x, dots, config)
    assert message is not None and "keep 10%" in message
    assert "inference.invertibility_weight=0" in message and "eta_huber_weight" in message
    assert prototype_shrink_warning(x, x * 0.9, config) is None
    # not for colour actions, nor for data that is not intensity on a zero background
    color = get_preset("mnist-color")
    assert prototype_shrink_warning(np.repeat(x, 3, -1), np.repeat(dots, 3, -1), color) is None
    assert prototype_shrink_warning(x - 0.5, dots, config) is None
