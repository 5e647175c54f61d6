"""course.evaluation: the one test-time augmentation (a model averaging scores over views)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import evaluation


def _pixels_model(shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Flatten()(inputs))  # scores = the pixels


def test_flip_averages_the_image_and_its_mirror():
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Flatten()(keras.layers.Cropping2D(((0, 0), (0, 2)))(inputs))
    model = keras.Model(inputs, outputs)  # "scores" = left half of the image
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 3, 0] = 1  # bright pixel on the right: only the mirrored copy sees it
    wrapped = evaluation.with_test_time_augmentation(model, "flip")
    assert evaluation.predict_scores(wrapped, x)[0, 0] == pytest.approx(0.5)


def test_flip_shift_weights_the_six_views_like_airbench():
    model = _pixels_model((4, 4, 1))
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype("float32")

    def mirror_mean(view):
        return (view + view[:, :, ::-1]).reshape(2, -1) / 2

    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = (0.5 * mirror_mean(x) + 0.25 * mirror_mean(padded[:, :4, :4])
                + 0.25 * mirror_mean(padded[:, 2:, 2:]))
    got = evaluation.with_test_time_augmentation(model, "flip_shift").predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_ten_crop_views_are_the_corner_and_centre_crops_zero_padded():
    x = np.random.default_rng(1).uniform(0, 255, (3, 12, 10, 1)).astype("float32")
    model = _pixels_model((12, 10, 1))
    got = evaluation.with_test_time_augmentation(model, "ten_crop", crop_size=8).predict(
        x, verbose=0)
    expected = 0
    for top, left in [(0, 0), (0, 2), (4, 0), (4, 2), (2, 1)]:
        crop = np.asarray(tf.image.crop_to_bounding_box(x, top, left, 8, 8))
        padded = np.pad(crop, ((0, 0), (2, 2), (1, 1), (0, 0)))
        expected = expected + padded + padded[:, :, ::-1]
    np.testing.assert_allclose(got, (expected / 10).reshape(3, -1), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="crop_size"):
        evaluation.with_test_time_augmentation(model, "ten_crop", crop_size=13)


def test_multi_scale_views_resize_then_crop_or_pad_back():
    x = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    model = _pixels_model((8, 8, 3))
    got = evaluation.with_test_time_augmentation(model, "multi_scale", scales=(1.0, 1.5, 0.5))
    expected = 0
    for scale in (1.0, 1.5, 0.5):
        size = int(round(8 * scale))
        view = np.asarray(tf.image.resize(x, (size, size)))
        view = np.asarray(tf.image.resize_with_crop_or_pad(view, 8, 8))
        expected = expected + view + view[:, :, ::-1]
    np.testing.assert_allclose(got.predict(x, verbose=0), (expected / 6).reshape(2, -1),
                               rtol=1e-4, atol=1e-3)


def test_none_is_the_model_itself_and_unknown_views_are_refused():
    model = _pixels_model((4, 4, 1))
    assert evaluation.with_test_time_augmentation(model, "none") is model
    with pytest.raises(ValueError, match="Unknown test-time augmentation"):
        evaluation.with_test_time_augmentation(model, "rotate")


def test_wrapped_model_saves_and_grades_like_the_in_memory_one(tmp_path):
    from course import grading

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
    images = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    wrapped = evaluation.with_test_time_augmentation(model, "flip_shift")
    assert wrapped.input_shape == (None, 32, 32, 3) and wrapped.output_shape == (None, 10)
    path = grading.export_submission(wrapped, tmp_path / "model.keras", task_name="cifar10")
    loaded, problem = grading.load_submission(path)
    assert problem is None
    expected = evaluation.predict_scores(wrapped, images)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(expected, model.predict(images, verbose=0), atol=1e-3)


def test_files_saved_before_the_views_module_was_renamed_still_load(tmp_path):
    """The views lived in ``course.layers.test_time`` until they moved to ``course.layers.tta``;
    Keras finds them by registered name (``course>ShiftMirror``), not by module."""
    import json
    import zipfile

    from course import saving

    model = evaluation.with_test_time_augmentation(_pixels_model((6, 6, 1)), "ten_crop",
                                                   crop_size=4)
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new, \
            zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                text = data.decode()
                assert '"course.layers.tta"' in text
                data = text.replace('"course.layers.tta"', '"course.layers.test_time"').encode()
                json.loads(data)
            old.writestr(item, data)
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype("float32")
    loaded = saving.load_model(tmp_path / "old.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)


def test_evaluate_accuracy_on_greyscale_nhw_images():
    model = _pixels_model((2, 2, 1))
    x = np.array([[[0, 9], [0, 0]], [[9, 0], [0, 0]]], np.uint8)  # argmax = bright pixel's index
    assert evaluation.evaluate_accuracy(model, x, [1, 0]) == 1.0
    assert evaluation.evaluate_accuracy(model, x, [1, 3]) == 0.5
