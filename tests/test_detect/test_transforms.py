"""Pair data: magnitude specs, distributions and transformed pairs."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest


@pytest.mark.parametrize(
    "spec, mean, std",
    [
        ("uniform:-1,3", 1.0, 4 / np.sqrt(12)),
        ("normal:0.5,0.2", 0.5, 0.2),
        ("bimodal:1,0.1", 0.0, np.sqrt(1 + 0.01)),
        ("modes:-3,-1,1,3;0.1", 0.0, np.sqrt(5 + 0.01)),
    ],
)
def test_magnitude_specs_sample_the_stated_distribution(spec, mean, std):
    from sgm_eqx.detect import parse_magnitude

    t = np.asarray(parse_magnitude(spec).sample(jr.key(0), 20000))
    # 20k samples: standard error of the mean <= std/141 (< 0.02 here), of the std ~0.5%.
    assert abs(t.mean() - mean) < 0.05
    assert abs(t.std() - std) < 0.03 * std


def test_bimodal_has_modes_at_plus_minus_mu():
    from sgm_eqx.detect import parse_magnitude

    t = np.asarray(parse_magnitude("bimodal:0.5,0.01").sample(jr.key(1), 1000))
    assert np.all(np.abs(np.abs(t) - 0.5) < 0.06)  # 6 sigma
    assert 0.4 < np.mean(t > 0) < 0.6


@pytest.mark.parametrize(
    "spec", ["uniform:1", "uniform:2,1", "normal:a,b", "laplace:0,1", "modes:1,2", "bimodal"]
)
def test_bad_magnitude_specs_raise(spec):
    from sgm_eqx.detect import parse_magnitude

    with pytest.raises(ValueError, match=r"magnitude SPEC|Magnitude"):
        parse_magnitude(spec)


def test_make_pairs_returns_transformed_copies_and_their_magnitudes(getkey):
    from sgm_eqx.detect import (
        OneParameterTransform,
        make_pairs,
        parse_magnitude,
        synthetic_images,
    )

    imgs = synthetic_images(getkey(), 6, size=12)
    tr = OneParameterTransform("rotation")
    x0, xt, t = make_pairs(getkey(), imgs, tr, parse_magnitude("uniform:-0.5,0.5"))
    assert x0.shape == xt.shape == (6, 12, 12, 1) and t.shape == (6,)
    np.testing.assert_allclose(xt[2], tr.apply(x0[2], t[2]), atol=1e-6)
    zero = make_pairs(getkey(), imgs, tr, parse_magnitude("normal:0,0"))[1]
    np.testing.assert_allclose(zero, imgs, atol=1e-5)  # t = 0 is the identity


def test_synthetic_images_are_smooth_and_vanish_at_the_border(getkey):
    from sgm_eqx.detect import synthetic_images

    imgs = np.asarray(synthetic_images(getkey(), 32, size=16))
    assert imgs.shape == (32, 16, 16, 1)
    np.testing.assert_allclose(imgs.max(axis=(1, 2, 3)), 1.0, rtol=1e-6)
    border = np.concatenate([imgs[:, 0], imgs[:, -1], imgs[:, :, 0], imgs[:, :, -1]], axis=1)
    assert border.max() < 0.02


def test_load_images_reads_npz_and_synthetic(tmp_path, getkey):
    from sgm_eqx.detect import load_images

    arr = (np.arange(4 * 5 * 6) % 256).astype(np.uint8).reshape(4, 5, 6)
    np.savez(tmp_path / "d.npz", images=arr)
    out = load_images(f"npz:{tmp_path / 'd.npz'}", key=getkey())
    assert out.shape == (4, 5, 6, 1) and out.dtype == jnp.float32
    np.testing.assert_allclose(out[..., 0], arr / 255.0, rtol=1e-6)
    assert load_images("synthetic:8", key=getkey(), n=3).shape == (3, 8, 8, 1)
    with pytest.raises(FileNotFoundError, match="no MNIST files found"):
        load_images(f"mnist:{tmp_path}", key=getkey())
    with pytest.raises(ValueError, match="data SPEC"):
        load_images("imagenet", key=getkey())
