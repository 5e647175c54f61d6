"""Batch augmentations: shapes, that they only move/mirror pixels, and errors."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from course import preprocessing as pp


@pytest.fixture
def images():
    return tf.constant(np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3)), tf.float32)


def test_flip_mirrors_about_half_of_the_images(images):
    out = pp.random_flip(images).numpy()
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images.numpy())]
    same = [np.array_equal(o, i) for o, i in zip(out, images.numpy())]
    assert all(m or s for m, s in zip(mirrored, same))
    assert 10 < sum(mirrored) < 54


def test_pad_crop_is_a_shift_of_the_padded_image(images):
    out = pp.random_pad_crop(images, padding=2).numpy()
    assert out.shape == images.shape
    padded = np.pad(images.numpy(), ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for o, p in zip(out, padded):  # every output is one of the 25 crops of its padded image
        assert any(np.array_equal(o, p[r:r + 8, c:c + 8]) for r in range(5) for c in range(5))


def test_translate_fills_with_zeros():
    ones = tf.ones((32, 6, 6, 1))
    out = pp.random_translate(ones, max_shift=2).numpy()
    assert out.shape == (32, 6, 6, 1) and set(np.unique(out)) <= {0.0, 1.0}
    assert (out == 0).any()


def test_brightness_and_contrast_stay_in_range(images):
    for fn in (pp.random_brightness, pp.random_contrast):
        out = fn(images).numpy()
        assert out.min() >= 0 and out.max() <= 255 and not np.allclose(out, images.numpy())


def test_batch_augmentation_in_a_pipeline_and_unknown_names():
    from course import data

    x, y = np.zeros((10, 32, 32, 3), np.uint8), np.arange(10)
    ds = data.pipeline(x, y, 5, augment=pp.batch_augmentation(("flip", "crop")))
    assert [b[0].shape for b in ds.as_numpy_iterator()] == [(5, 32, 32, 3)] * 2
    with pytest.raises(ValueError, match="Known: flip, crop"):
        pp.batch_augmentation(("flip", "rotate"))


def test_augmentation_arguments():
    ones = tf.ones((16, 6, 6, 1))
    out = pp.batch_augmentation(("translate:1",))(ones, None)[0].numpy()
    assert (out[:, 1:-1, 1:-1] == 1).all()  # a 1-pixel shift never reaches the centre
