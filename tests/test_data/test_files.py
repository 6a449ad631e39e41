"""A user's own data: image folders, npz splits and files, the original dSprites archive."""

import jax.random as jr
import numpy as np
import pytest


def _save(path, array, mode):
    from PIL import Image

    Image.fromarray(array, mode=mode).save(path)


def test_image_folder_with_class_subfolders_is_resized_and_labelled(tmp_path):
    from sgm_eqx.data import load_data

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(5):
            # A constant image per class (its grey value encodes the class) of varying size.
            img = np.full((10 + i, 12, 3), 40 + 100 * c, np.uint8)
            _save(tmp_path / name / f"{i}.png", img, "RGB")
    (tmp_path / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    (tmp_path / "dog" / "alpha.png").unlink(missing_ok=True)
    data = load_data(f"png:{tmp_path}:size=8", jr.key(0))
    assert data.image_shape == (8, 8, 3) and len(data) == 10
    labels = np.asarray(data.labels)
    np.testing.assert_array_equal(labels, [0] * 5 + [1] * 5)  # sorted sub-folder names
    # Resizing a constant image keeps it constant: the value identifies the class.
    means = np.asarray(data.images).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, np.where(labels == 0, 40, 140) / 255.0, atol=1e-6)
    grey = load_data(f"images:{tmp_path}:size=8,channels=1", jr.key(0))
    assert grey.image_shape == (8, 8, 1)
    del rng


def test_flat_grey_folder_keeps_size_and_reads_alpha_onto_black(tmp_path):
    from sgm_eqx.data import load_image_folder

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 7, 9), dtype=np.uint8)
    for i, img in enumerate(images):
        _save(tmp_path / f"{i:02d}.png", img, "L")
    rgba = np.zeros((7, 9, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent: composited onto black
    _save(tmp_path / "99.png", rgba, "RGBA")
    data = load_image_folder(tmp_path, None, channels=1)
    assert data.image_shape == (7, 9, 1) and data.labels is None
    np.testing.assert_allclose(np.asarray(data.images[:6, ..., 0]), images / 255.0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(data.images[6]), 0.0)


def test_default_split_is_shuffled_deterministically_by_the_seed(tmp_path):
    from sgm_eqx.data import SPLITS, load_data

    images = np.arange(200, dtype=np.uint8).reshape(200, 1, 1).repeat(4, 1).repeat(4, 2)
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(200) // 100)
    spec = f"npz:{tmp_path / 'd.npz'}"
    a, b, c = (load_data(spec, jr.key(k)) for k in (0, 0, 1))
    split = np.asarray(a.split)
    np.testing.assert_array_equal(split, np.asarray(b.split))  # same seed, same split
    assert not np.array_equal(split, np.asarray(c.split))  # another seed, another split
    assert [int((split == v).sum()) for v in SPLITS.values()] == [160, 20, 20]
    # Not the trailing 20%: a file sorted by class gets both classes in its test split.
    test_labels = np.asarray(a.labels)[split == SPLITS["test"]]
    assert set(test_labels.tolist()) == {0, 1}
    # The images keep the file's order.
    np.testing.assert_allclose(np.asarray(a.images[:, 0, 0, 0]), np.arange(200) / 255.0)
    custom = load_data(f"{spec}:val=0.25,test=0.05", jr.key(0))
    assert int((np.asarray(custom.split) == 1).sum()) == 50


def test_explicit_split_array_and_separate_files(tmp_path):
    from sgm_eqx.data import load_data

    x = np.random.default_rng(2).uniform(size=(6, 5, 5, 1)).astype(np.float32)
    np.savez(tmp_path / "s.npz", images=x, split=np.array(["train", "val", "test"] * 2))
    data = load_data(f"npz:{tmp_path / 's.npz'}", jr.key(0))
    np.testing.assert_array_equal(np.asarray(data.split), [0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "tr.npz", images=x[:4], labels=np.arange(4))
    np.savez(tmp_path / "te.npz", images=x[4:], labels=np.arange(2))
    both = load_data(f"npz:train={tmp_path / 'tr.npz'},test={tmp_path / 'te.npz'}", jr.key(0))
    np.testing.assert_array_equal(np.asarray(both.split), [0, 0, 0, 0, 2, 2])
    np.testing.assert_array_equal(np.asarray(both.labels), [0, 1, 2, 3, 0, 1])
    np.testing.assert_allclose(np.asarray(both.images), x)


def test_original_dsprites_archive(tmp_path):
    from sgm_eqx.data import load_data

    rng = np.random.default_rng(3)
    n = 50
    imgs = rng.integers(0, 2, (n, 64, 64), dtype=np.uint8)
    values = np.stack(
        [np.ones(n), rng.integers(1, 4, n), rng.uniform(0.5, 1, n), rng.uniform(0, 6.28, n),
         rng.uniform(0, 1, n), rng.uniform(0, 1, n)], axis=1,
    )  # fmt: skip
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(path, imgs=imgs, latents_values=values, latents_classes=values.astype(np.int64))
    data = load_data(f"npz:{path}:n=20", jr.key(0))
    assert len(data) == 20 and data.image_shape == (64, 64, 1)
    assert data.name.startswith("dsprites-file(")
    # Recover which rows were taken from the binary images themselves.
    flat = imgs.reshape(n, -1).astype(np.float32)
    rows = [int(np.nonzero((flat == im.reshape(-1)).all(axis=1))[0][0])
            for im in np.asarray(data.images)]  # fmt: skip
    assert rows == sorted(rows) and len(set(rows)) == 20
    lat = np.asarray(data.latents)
    np.testing.assert_array_equal(np.asarray(data.labels), values[rows, 1] - 1)
    np.testing.assert_allclose(lat[:, 1:], values[rows, 2:], rtol=1e-6)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((4, 3, 8, 8), np.float32), "channels-first"),
        (np.full((4, 8, 8), 2.0, np.float32), "divide by 255"),
        (np.full((4, 8, 8), -2.0, np.float32), "Rescale them"),
        (np.full((4, 8, 8), np.inf, np.float32), "non-finite"),
        (np.full((4, 8, 8), 300, np.int32), "[0, 255]"),
        (np.zeros((4, 8), np.float32), "shape"),
        (np.full((4, 8, 8), "a"), "dtype"),
    ],
)
def test_check_images_refuses_bad_arrays(images, message):
    from sgm_eqx.data import check_images

    with pytest.raises(ValueError, match="source") as info:
        check_images(images, "source")
    assert message in str(info.value)
