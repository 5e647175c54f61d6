"""The lecture's CIFAR-10 CNN (TensorFlow tutorial): parameters, in-model preprocessing, saving."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import models, recipes


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return models.create("cifar10_cnn", seed=0)


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype("float32")


def test_parameter_count_matches_the_tutorial(model):
    # conv1 5*5*3*64+64, conv2 5*5*64*64+64, local3 (6*6*64)*384+384, local4 384*192+192, 192*10+10
    expected = (5 * 5 * 3 * 64 + 64) + (5 * 5 * 64 * 64 + 64) + (2304 * 384 + 384) \
        + (384 * 192 + 192) + (192 * 10 + 10)
    assert expected == 1_068_298 == model.count_params()
    assert models.create("cifar10_cnn", lrn=False).count_params() == 1_068_298
    shapes = {layer.name: layer.output.shape for layer in model.layers}
    assert shapes["whiten"] == (None, 24, 24, 3)
    assert shapes["pool1"] == (None, 12, 12, 64) and shapes["pool2"] == (None, 6, 6, 64)
    assert model.layers[-1].name == "logits" and shapes["logits"] == (None, 10)
    assert "cifar10_cnn" in models.names()
    assert recipes.get("cifar10_cnn").data == "cifar10"


def test_inference_is_centre_crop_and_per_image_whitening(model, images):
    """At test time the model equals: centre 24x24 crop, tf whitening, then the conv stack."""
    whitened = tf.image.per_image_standardization(
        tf.image.resize_with_crop_or_pad(images, 24, 24))
    first = model.get_layer("conv1")
    trunk = keras.Model(first.input, model.output)
    np.testing.assert_allclose(model.predict(images, verbose=0),
                               trunk.predict(np.asarray(whitened), verbose=0), rtol=1e-4, atol=1e-4)
    inference = np.asarray(model(images, training=False))
    np.testing.assert_array_equal(inference, np.asarray(model(images, training=False)))
    assert not np.allclose(np.asarray(model(images, training=True)), inference)


def test_lrn_uses_the_tutorial_constants(model, images):
    x = np.random.default_rng(1).uniform(0, 3, (2, 5, 5, 64)).astype("float32")
    ref = tf.nn.local_response_normalization(x, depth_radius=4, bias=1.0, alpha=0.001 / 9.0,
                                             beta=0.75)
    np.testing.assert_allclose(np.asarray(model.get_layer("norm1")(x)), np.asarray(ref), rtol=1e-5)


def test_augmentation_choice_and_errors():
    plain = models.create("cifar10_cnn", augment=())
    names = [layer.name for layer in plain.layers]
    assert "center_crop" in names and "random_flip" not in names
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(plain(x, training=True)), np.asarray(plain(x, training=False)),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="choose from crop, flip"):
        models.create("cifar10_cnn", augment=("rotate",))


def test_trains_a_few_steps_and_saves_with_its_preprocessing(tmp_path, images):
    from course import training

    keras.utils.set_random_seed(0)
    model = models.create("cifar10_cnn", seed=0)
    training.compile_for(model, recipes.get("cifar10_cnn"), 10)
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype("float32")
    y = np.arange(32) % 10
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-4, atol=1e-5,
                               equal_nan=False)
