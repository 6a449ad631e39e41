"""MNIST loaders on synthetic IDX / .npz files, the rotation and colour protocols, specs."""

import colorsys
import gzip
import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest


def _write_idx(path, array: np.ndarray, *, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _digits(rng, n, size=8):
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    x_tr, y_tr = _digits(rng, 60)
    x_te, y_te = _digits(rng, 20)
    _write_idx(tmp_path / "train-images-idx3-ubyte", x_tr)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", y_tr)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x_te, compress=False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y_te, compress=False)
    return tmp_path, (x_tr, y_tr, x_te, y_te)


def test_load_mnist_reads_idx_files_and_splits(idx_dir):
    from sgm_eqx.data import SPLITS, load_mnist

    directory, (x_tr, y_tr, x_te, y_te) = idx_dir
    data = load_mnist(directory)
    assert data.images.shape == (80, 8, 8, 1)
    np.testing.assert_allclose(
        np.asarray(data.images[:60, ..., 0]), x_tr.astype(np.float32) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(np.asarray(data.labels), np.concatenate([y_tr, y_te]))
    split = np.asarray(data.split)
    # Train: the last min(10k, n // 6) training images are validation (50k / 10k for MNIST).
    np.testing.assert_array_equal(split[:50], SPLITS["train"])
    np.testing.assert_array_equal(split[50:60], SPLITS["val"])
    np.testing.assert_array_equal(split[60:], SPLITS["test"])
    test = data.subset("test")
    np.testing.assert_allclose(np.asarray(test.images[..., 0]), x_te / 255.0, rtol=1e-6)


def test_load_mnist_test_split_only(tmp_path):
    from sgm_eqx.data import load_mnist

    rng = np.random.default_rng(1)
    x, y = _digits(rng, 50)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y)
    data = load_mnist(tmp_path)
    assert [len(data.subset(s)) for s in ("train", "val", "test")] == [40, 5, 5]
    # Deterministic: contiguous blocks in file order.
    np.testing.assert_allclose(np.asarray(data.subset("test").images[..., 0]), x[45:] / 255.0)


def test_load_mnist_from_keras_npz(tmp_path):
    from sgm_eqx.data import load_mnist

    rng = np.random.default_rng(2)
    x_tr, y_tr = _digits(rng, 12)
    x_te, y_te = _digits(rng, 6)
    np.savez(tmp_path / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    data = load_mnist(tmp_path)
    assert len(data) == 18
    np.testing.assert_array_equal(np.asarray(data.labels), np.concatenate([y_tr, y_te]))


def test_missing_files_say_what_to_put_where(tmp_path):
    from sgm_eqx.data import load_data, load_mnist

    with pytest.raises(FileNotFoundError, match="never downloads") as info:
        load_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_data(f"mnist:{tmp_path / 'nowhere'}", jr.key(0))


def test_corrupt_idx_file_is_reported(tmp_path):
    from sgm_eqx.data import load_mnist

    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3), compress=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="IDX"):
        load_mnist(tmp_path)


def test_rotation_by_90_degrees_is_a_counter_clockwise_quarter_turn():
    from sgm_eqx.data import add_rotation
    from sgm_eqx.data._mnist import _rotate_one

    rng = np.random.default_rng(3)
    img = jnp.asarray(rng.uniform(size=(1, 9, 9, 1)), jnp.float32)
    out = np.asarray(_rotate_one(img[0], jnp.asarray(math.pi / 2)))
    # Pixel centres map onto pixel centres; np.rot90 turns counter-clockwise as displayed.
    np.testing.assert_allclose(out[..., 0], np.rot90(np.asarray(img[0, ..., 0])), atol=1e-5)
    same = add_rotation(jr.key(0), img, 0.0)
    np.testing.assert_allclose(np.asarray(same), np.asarray(img), atol=1e-6)


def _orientation(img):
    h, w = img.shape
    x = (2 * np.arange(w) + 1) / w - 1
    y = 1 - (2 * np.arange(h) + 1) / h
    xx, yy = np.meshgrid(x, y)
    m = img / img.sum()
    mx, my = (m * xx).sum(), (m * yy).sum()
    cxx, cyy = (m * (xx - mx) ** 2).sum(), (m * (yy - my) ** 2).sum()
    cxy = (m * (xx - mx) * (yy - my)).sum()
    return 0.5 * math.atan2(2 * cxy, cxx - cyy)


def test_rotation_protocol_is_applied_once_with_bounded_angles(tmp_path):
    from sgm_eqx.data import load_data

    # 40 copies of a horizontal bar: after the protocol each has ONE fixed angle in [-30, 30].
    bar = np.zeros((40, 15, 15), np.uint8)
    bar[:, 6:9, 2:13] = 255
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", bar)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(40))
    spec = f"mnist:{tmp_path}:rotation=30"
    a = load_data(spec, jr.key(0))
    b = load_data(spec, jr.key(0))
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))  # fixed data
    angles = np.degrees([_orientation(im[..., 0]) for im in np.asarray(a.images)])
    # Bilinear blur of a 3-pixel bar biases the moment angle by < 2 degrees.
    assert angles.min() >= -32 and angles.max() <= 32
    assert angles.max() - angles.min() > 30  # really rotated, by different angles
    plain = load_data(f"mnist:{tmp_path}", jr.key(0))
    np.testing.assert_allclose(np.asarray(plain.images[..., 0]), bar / 255.0)


def test_colour_protocol_puts_grey_in_red_then_shifts_hue_and_saturation():
    from sgm_eqx.data import colorize_mnist

    grey = jnp.asarray(np.linspace(0.1, 1.0, 8 * 4).reshape(8, 2, 2, 1), jnp.float32)
    plain = np.asarray(colorize_mnist(jr.key(0), grey, max_hue=0.0, saturation_range=(1.0, 1.0)))
    np.testing.assert_allclose(plain[..., 0], np.asarray(grey[..., 0]), atol=1e-6)
    np.testing.assert_allclose(plain[..., 1:], 0.0, atol=1e-6)
    rgb = np.asarray(colorize_mnist(jr.key(1), grey))
    assert rgb.shape == (8, 2, 2, 3)
    hsv = np.asarray([[colorsys.rgb_to_hsv(*p) for p in im.reshape(-1, 3)] for im in rgb])
    # Per image one hue in [0, 0.3] turns (= [0, 0.6π] rad) and one saturation in [0.6, 0.9];
    # the value is the grey level.
    assert np.all(np.ptp(hsv[..., 0], axis=1) < 1e-4)
    assert np.all(np.ptp(hsv[..., 1], axis=1) < 1e-4)
    assert hsv[..., 0].min() >= 0.0 and hsv[..., 0].max() <= 0.3 + 1e-6
    assert hsv[..., 1].min() >= 0.6 - 1e-6 and hsv[..., 1].max() <= 0.9 + 1e-6
    np.testing.assert_allclose(hsv[..., 2], np.asarray(grey).reshape(8, 4), atol=1e-5)
    with pytest.raises(ValueError, match="grey images"):
        colorize_mnist(jr.key(0), jnp.zeros((1, 2, 2, 3)))


def test_npz_spec_and_plain_arrays(tmp_path):
    from sgm_eqx.data import as_dataset, load_data

    images = np.random.default_rng(4).integers(0, 256, (10, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(10))
    for spec in (f"npz:{tmp_path / 'd.npz'}", str(tmp_path / "d.npz")):
        data = load_data(spec, jr.key(0))
        assert data.image_shape == (6, 6, 1)
        np.testing.assert_allclose(np.asarray(data.images[..., 0]), images / 255.0)
        assert [len(data.subset(s)) for s in ("train", "val", "test")] == [8, 1, 1]
    arr = load_data(np.zeros((4, 5, 5, 3), np.float32), jr.key(0))
    assert arr.image_shape == (5, 5, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        as_dataset(np.full((2, 3, 3, 1), 2.0, np.float32))
    with pytest.raises(ValueError, match="named `images`"):
        np.savez(tmp_path / "bad.npz", x=images)
        load_data(str(tmp_path / "bad.npz"), jr.key(0))


def test_bad_specs_name_the_problem():
    from sgm_eqx.data import load_data

    with pytest.raises(ValueError, match="expected one of"):
        load_data("cifar", jr.key(0))
    with pytest.raises(ValueError, match="unknown option"):
        load_data("dsprites:colour=1", jr.key(0))
    with pytest.raises(ValueError, match="not a valid int"):
        load_data("dsprites:n=many", jr.key(0))
    with pytest.raises(ValueError, match="split"):
        load_data("dsprites:n=4,size=8", jr.key(0)).subset("holdout")
    small = load_data("dsprites:n=10,size=8,supersample=2", jr.key(0))
    assert small.image_shape == (8, 8, 1) and small.latents is not None
