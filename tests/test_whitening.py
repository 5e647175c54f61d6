"""course.layers.PatchWhitening: patches, whitened outputs, adapting inside a model, saving."""
from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import layers, training
from course.layers.whitening import PatchWhitening, image_patches


def _correlated_images(n=64, size=8, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, size + 1, size + 1, 3)).astype("float32")
    smooth = noise[:, 1:, 1:] + noise[:, :-1, :-1] + 0.5 * noise[:, 1:, :-1]  # neighbours correlate
    return smooth @ np.array([[1, 0.5, 0.2], [0, 1, 0.5], [0, 0, 1]], "float32")


def test_image_patches_match_tf_extract_patches():
    images = _correlated_images(n=3)
    reference = np.asarray(tf.image.extract_patches(images, sizes=[1, 2, 2, 1], strides=[1, 1, 1, 1],
                                         rates=[1, 1, 1, 1], padding="VALID"))
    np.testing.assert_allclose(image_patches(images, 2), reference.reshape(-1, 12))


def test_the_adapted_flag_is_read_without_numpys_copy_keyword_deprecation():
    """NumPy 2 deprecates __array__ without a copy keyword, which Keras' variables lack:
    keras.ops.convert_to_numpy(variable) warns on TensorFlow and JAX, variable.numpy() on JAX.
    The course reads variables with np.asarray(variable), which passes no copy keyword."""
    layer = PatchWhitening(kernel_size=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*doesn't accept a copy keyword")
        layer.build((None, 8, 8, 3))
        assert not layer.is_adapted
        layer.adapt(_correlated_images())
        assert layer.is_adapted


def test_outputs_are_white_after_adapt():
    images = _correlated_images()
    layer = PatchWhitening(kernel_size=2, epsilon=0.0)
    assert not layer.built
    layer.adapt(images)
    assert layer.is_adapted
    out = keras.ops.convert_to_numpy(layer(images)).reshape(-1, 24)
    assert out.shape[1] == 2 * 2 * 2 * 3
    covariance = out[:, :12].T @ out[:, :12] / len(out)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-3)
    np.testing.assert_allclose(out[:, 12:], -out[:, :12], atol=1e-5)  # both signs
    # Filters come sorted by variance explained, strongest first: their norms 1/sqrt(eigenvalue)
    # grow.
    norms = np.linalg.norm(np.asarray(layer.kernel).reshape(12, 24)[:, :12], axis=0)
    assert np.all(np.diff(norms) > 0)


def test_adapt_layers_feeds_the_layer_what_it_sees_in_the_model(tmp_path):
    images = 100 + 40 * _correlated_images()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 40, offset=-2.5)(inputs)
    whiten = PatchWhitening(name="whiten", epsilon=0.0)
    model = keras.Model(inputs, whiten(x))
    assert layers.adapt_layers(model, images) == ["whiten"]
    assert layers.adapt_layers(model, images) == []  # already adapted: left alone
    out = model.predict(images, verbose=0).reshape(-1, 24)[:, :12]
    centred = out - out.mean(0)
    np.testing.assert_allclose(centred.T @ centred / len(out), np.eye(12), atol=2e-2)
    model.save(tmp_path / "w.keras")
    again = keras.saving.load_model(tmp_path / "w.keras", safe_mode=True)
    assert again.get_layer("whiten").is_adapted
    np.testing.assert_allclose(again.predict(images[:4], verbose=0),
                               model.predict(images[:4], verbose=0), atol=1e-4, equal_nan=False)


def test_kernel_is_frozen_and_bias_trains():
    layer = PatchWhitening()
    layer.build((None, 32, 32, 3))
    assert [w.name for w in layer.trainable_weights] == ["bias"]
    assert layer.compute_output_shape((None, 32, 32, 3)) == (None, 31, 31, 24)


@pytest.mark.parametrize("size", [2, 3])
def test_whitening_matches_a_conv2d_with_the_same_kernel(size):
    images = _correlated_images(n=4)
    layer = PatchWhitening(kernel_size=size)
    layer.adapt(images)
    conv = keras.layers.Conv2D(layer.filters, size, padding="valid")
    conv.build(images.shape)
    conv.set_weights([np.asarray(layer.kernel), np.asarray(layer.bias)])
    np.testing.assert_allclose(layer(images), conv(images), atol=1e-4)


def test_fitting_before_adapt_says_what_to_do():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(
        PatchWhitening(name="whiten")(inputs))))
    model.compile("sgd", "mse")
    ds = tf.data.Dataset.from_tensor_slices((_correlated_images(4), np.zeros((4, 2)))).batch(2)
    with pytest.raises(ValueError, match=r"whiten .*adapt_layers\(model"):
        training.fit(model, ds, epochs=1, verbose=0)
    layers.adapt_layers(model, _correlated_images(4))
    assert "loss" in training.fit(model, ds, epochs=1, verbose=0)


def _patch_moments(images, size):
    """The second-moment matrix of the patches, from TensorFlow's patch extraction, float64."""
    patches = tf.image.extract_patches(images, sizes=[1, size, size, 1], strides=[1, 1, 1, 1],
                                       rates=[1, 1, 1, 1], padding="VALID")
    patches = np.asarray(patches, np.float64).reshape(-1, size * size * images.shape[-1])
    return patches.T @ patches / len(patches)


@pytest.mark.parametrize("epsilon", [None, 1e-2])  # None: the default, airbench's 5e-4
def test_each_direction_keeps_eigenvalue_over_eigenvalue_plus_epsilon(epsilon):
    """Regularised whitening (Coates & Ng 2011): along each eigenvector of the patches' second
    moments, of eigenvalue l, the output's variance is l / (l + epsilon), strongest first."""
    images = 0.1 * _correlated_images()  # eigenvalues from about 1e-3 to 1: epsilon shows
    layer = PatchWhitening() if epsilon is None else PatchWhitening(epsilon=epsilon)
    layer.adapt(images)
    eigenvalues = np.linalg.svd(_patch_moments(images, 2), compute_uv=False)  # descending
    expected = eigenvalues / (eigenvalues + (5e-4 if epsilon is None else epsilon))
    out = np.asarray(layer(images), np.float64).reshape(-1, 24)[:, :12]
    np.testing.assert_allclose(out.T @ out / len(out), np.diag(expected), atol=2e-4)


def test_image_patches_are_float32_whatever_the_images():
    images = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3)).astype(np.uint8)
    patches = image_patches(images, 2)
    assert patches.dtype == np.float32  # sums of products (a covariance) cannot wrap around
    reference = tf.image.extract_patches(images, sizes=[1, 2, 2, 1], strides=[1, 1, 1, 1],
                                         rates=[1, 1, 1, 1], padding="VALID")
    np.testing.assert_array_equal(patches, np.asarray(reference).reshape(-1, 12))


def test_weights_are_a_conv2ds_and_zero_until_adapted():
    layer = PatchWhitening()
    layer.build((None, 8, 8, 3))
    conv = keras.layers.Conv2D(24, 2)
    conv.build((None, 8, 8, 3))
    ours = {w.name: tuple(w.shape) for w in layer.weights if w.name != "adapted"}
    assert ours == {w.name: tuple(w.shape) for w in conv.weights}  # kernel and bias
    # before adapt: a zero filter (course.layers.adapt), so the layer outputs its bias, zeros
    np.testing.assert_array_equal(np.asarray(layer(_correlated_images(n=2))), 0.0)


@pytest.mark.parametrize("shape", [(None, 32, 24, 3), (None, None, None, 3), (5, 9, 7, 1)])
def test_output_shape_is_a_valid_conv2ds(shape):
    conv = keras.layers.Conv2D(2 * 2 * 2 * shape[-1], 2)
    assert PatchWhitening(kernel_size=2).compute_output_shape(shape) == \
        conv.compute_output_shape(shape)


@pytest.mark.parametrize("policy, atol", [("float32", 1e-4), ("mixed_bfloat16", 1e-2)])
def test_bias_and_mixed_precision_as_in_a_conv2d(policy, atol):
    images = _correlated_images(n=4)
    layer = PatchWhitening(dtype=policy)
    layer.adapt(images)
    layer.bias.assign(np.linspace(-1, 1, layer.filters).astype("float32"))
    conv = keras.layers.Conv2D(layer.filters, 2, dtype=policy)
    conv.build(images.shape)
    conv.set_weights([np.asarray(layer.kernel), np.asarray(layer.bias)])
    ours, reference = (np.asarray(keras.ops.cast(f(images), "float32")) for f in (layer, conv))
    np.testing.assert_allclose(ours, reference, atol=atol * np.abs(reference).max())
