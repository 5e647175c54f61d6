"""course.augment: the one augmentation vocabulary, in tf.data pipelines and inside models."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import augment, data
from course import preprocessing as pp


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3)).astype("float32")


def _augmented(spec, images, seed):
    """``images`` through a fresh layer for ``spec`` (fitted first if it learns from data)."""
    layer = augment.layer(spec, seed=seed)
    if isinstance(layer, pp.PCAColorAugmentation):
        layer.adapt(images)
    return keras.ops.convert_to_numpy(layer(images, training=True))


def test_every_name_builds_a_layer_that_keeps_the_shape_and_is_seeded(images):
    for name in augment.AUGMENTATIONS:
        spec = "crop:6" if name == "crop" else name
        out = _augmented(spec, images, seed=3)
        expected = (64, 6, 6, 3) if name == "crop" else images.shape
        assert out.shape == expected, name
        np.testing.assert_allclose(out, _augmented(spec, images, seed=3),
                                   err_msg=f"{name}: the same seed drew other numbers")
        assert not np.allclose(out, _augmented(spec, images, seed=4)), \
            f"{name}: another seed drew the same numbers"


def test_flip_mirrors_about_half_of_the_images(images):
    out = keras.ops.convert_to_numpy(augment.layer("flip", seed=1)(images, training=True))
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(m or s for m, s in zip(mirrored, same))
    assert 10 < sum(mirrored) < 54


def test_pad_crop_is_a_shift_of_the_padded_image(images):
    out = keras.ops.convert_to_numpy(augment.layer("pad_crop:2", seed=0)(images, training=True))
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for o, p in zip(out, padded):  # every output is one of the 25 crops of its padded image
        assert any(np.array_equal(o, p[r:r + 8, c:c + 8]) for r in range(5) for c in range(5))


def test_translate_fills_with_zeros_and_never_reaches_the_centre():
    ones = np.ones((32, 6, 6, 1), "float32")
    out = keras.ops.convert_to_numpy(augment.layer("translate:1", seed=0)(ones, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0} and (out == 0).any()
    assert (out[:, 1:-1, 1:-1] == 1).all()


def test_brightness_and_contrast_match_the_tutorial_ranges(images):
    bright = keras.ops.convert_to_numpy(augment.layer("brightness:63", seed=0)(images, training=True))
    delta = bright - images
    inside = (bright > 0) & (bright < 255)
    per_image = [d[m].mean() for d, m in zip(delta, inside) if m.any()]
    assert max(abs(d) for d in per_image) <= 63.01 and np.std(per_image) > 5
    contrast = augment.layer("contrast:0.8", seed=0)
    out = keras.ops.convert_to_numpy(contrast(images, training=True))
    assert out.min() >= 0 and out.max() <= 255 and not np.allclose(out, images)


def test_layers_are_identity_at_inference(images):
    for name in ("flip", "pad_crop", "translate", "brightness", "contrast", "rotate", "shift",
                 "zoom"):
        layer = augment.layer(name)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images, training=False)),
                                   images, err_msg=name)


def test_unknown_names_and_bad_strengths_say_what_is_known():
    with pytest.raises(ValueError, match="Known: flip, pad_crop"):
        augment.layers(("flip", "rotate90"))
    with pytest.raises(ValueError, match="must be a number"):
        augment.layer("pad_crop:wide")
    with pytest.raises(ValueError, match="not a string"):
        augment.check("flip")


ON_TF = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                           reason="the course's own layers run inside tf.data on TensorFlow only")


@ON_TF
def test_pipeline_augments_every_batch_differently():
    x = np.repeat(np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3)), 8, 0).astype(np.uint8)
    ds = data.pipeline(x, np.arange(8), 4, augment=("pad_crop:2", "flip", "brightness"), seed=3)
    batches = [b[0] for b in ds.as_numpy_iterator()]
    assert [b.shape for b in batches] == [(4, 16, 16, 3)] * 2
    assert not np.array_equal(batches[0], batches[1])  # same images, different random draws
    first_epoch = next(ds.as_numpy_iterator())[0]
    second_epoch = next(ds.as_numpy_iterator())[0]
    assert not np.array_equal(first_epoch, second_epoch)


@ON_TF
def test_the_same_layers_run_in_tf_data_and_in_a_model(images):
    layer = augment.layer("pad_crop:2", seed=5)
    in_data = tf.data.Dataset.from_tensor_slices(images).batch(64).map(
        lambda x: layer(x, training=True))
    assert next(iter(in_data)).shape == (64, 8, 8, 3)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, augment.sequential(("flip", "pad_crop:2"), seed=5)(inputs))
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)  # inference: identity


def test_on_other_backends_the_course_layers_move_into_the_model(monkeypatch):
    from course import training

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert augment.runs_in_tf_data(("flip", "brightness"))
    assert not augment.runs_in_tf_data(("flip", "pad_crop:2"))
    with pytest.raises(ValueError, match="pad_crop:2.*cannot run inside tf.data"):
        data.pipeline(np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), 2, augment=("pad_crop:2",))
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(
        keras.layers.Flatten(name="features")(inputs)))
    wrapped = training._with_augmentation(model, ("flip", "pad_crop:2"), seed=0)
    assert [type(layer).__name__ for layer in wrapped.layers][1:] == ["Sequential", "Functional"]
    assert wrapped.trainable_weights[0] is model.trainable_weights[0]  # shared: trains model
