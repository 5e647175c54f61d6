"""course.preprocessing: normalisation and augmentation layers, large-image crops."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import augment
from course import preprocessing as pp

# ---------------------------------------------------------------------------------------------
# Keras layers


@pytest.fixture
def batch():
    return np.random.default_rng(1).integers(0, 256, (16, 12, 10, 3)).astype("float32")


def test_per_image_standardization_matches_tf(batch):
    flat = np.full((2, 4, 4, 3), 7.0, np.float32)  # std 0: the 1/sqrt(N) floor
    for x in (batch, flat):
        out = pp.PerImageStandardization()(x)
        ref = tf.image.per_image_standardization(x)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), np.asarray(ref), atol=1e-5)


def test_brightness_is_undone_by_whitening_unless_clipped(batch):
    shifted = batch + 40.0
    whiten = pp.PerImageStandardization()
    np.testing.assert_allclose(np.asarray(whiten(shifted)), np.asarray(whiten(batch)), atol=1e-4)
    clipped = np.asarray(augment.layer("brightness:63", seed=0)(batch, training=True))
    assert clipped.min() >= 0 and clipped.max() <= 255
    assert not np.allclose(np.asarray(whiten(clipped)), np.asarray(whiten(batch)), atol=1e-3)


def test_pad_crop_and_pca_are_identity_at_inference(batch):
    pca = pp.PCAColorAugmentation(seed=0).adapt(batch)
    for layer in (pp.RandomPadCrop(2), pca):
        np.testing.assert_array_equal(np.asarray(layer(batch, training=False)), batch)
        np.testing.assert_array_equal(np.asarray(layer(batch)), batch)
        assert not np.array_equal(np.asarray(layer(batch, training=True)), batch)


def test_layers_that_learn_from_data_report_whether_they_have():
    from course.layers import unadapted_layers

    x = np.random.default_rng(0).uniform(0, 255, (8, 6, 6, 3)).astype("float32")
    fitted = [pp.MeanImageSubtraction(), pp.PerChannelMeanSubtraction(),
              pp.PerChannelStandardization(), pp.PCAColorAugmentation()]
    inputs = keras.Input((6, 6, 3))
    y = inputs
    for layer in fitted:
        y = layer(y)
    model = keras.Model(inputs, y)
    assert [layer.name for layer in unadapted_layers(model)] == [f.name for f in fitted]
    for layer in fitted:
        layer.adapt(x)
    assert unadapted_layers(model) == [] and all(layer.is_adapted for layer in fitted)


def test_random_crop_offsets_and_centre_crop(batch):
    layer = pp.RandomCrop(8, 6, seed=3)
    out = np.asarray(layer(batch, training=True))
    assert out.shape == (16, 8, 6, 3)
    offsets = set()
    for o, x in zip(out, batch):  # each crop is one of the 5x5 windows of its own image
        hits = [(r, c) for r in range(5) for c in range(5)
                if np.array_equal(o, np.asarray(tf.image.crop_to_bounding_box(x, r, c, 8, 6)))]
        assert hits
        offsets.update(hits)
    assert len(offsets) > 3  # different images get different offsets
    centre = np.asarray(layer(batch, training=False))
    np.testing.assert_array_equal(centre, np.asarray(tf.image.resize_with_crop_or_pad(batch, 8, 6)))


def test_pad_crop_layer_is_a_window_of_the_reflect_padded_image(batch):
    out = np.asarray(pp.RandomPadCrop(2, seed=0)(batch, training=True))
    padded = np.pad(batch, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for o, p in zip(out, padded):
        assert any(np.array_equal(o, p[r:r + 12, c:c + 10]) for r in range(5) for c in range(5))


def test_fitted_normalisation_statistics_and_saving(tmp_path):
    x = np.random.default_rng(2).uniform(0, 255, (50, 6, 5, 3)).astype("float32")
    mean_image = pp.MeanImageSubtraction().adapt(x, batch_size=7)
    np.testing.assert_allclose(np.asarray(mean_image.mean), x.mean(0), rtol=1e-5)
    channel = pp.PerChannelMeanSubtraction().adapt(tf.data.Dataset.from_tensor_slices(x).batch(8))
    np.testing.assert_allclose(np.asarray(channel.mean), x.mean((0, 1, 2)), rtol=1e-5)
    standard = pp.PerChannelStandardization().adapt(x)
    out = np.asarray(standard(x))
    np.testing.assert_allclose(out.mean((0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std((0, 1, 2)), 1, atol=1e-4)
    model = keras.Sequential([keras.Input((6, 5, 3)), standard])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out, atol=1e-5)


def test_pca_colour_shift_lies_in_the_eigenvector_span_with_the_right_scale():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, (20000, 3)) @ np.array([[60, 50, 40], [0, 20, 10], [0, 0, 5.0]])
    pixels = np.clip(base + 120, 0, 255).reshape(100, 10, 20, 3).astype("float32")
    layer = pp.PCAColorAugmentation(std=0.1, seed=0).adapt(pixels)
    vectors, values = np.asarray(layer.eigenvectors), np.asarray(layer.eigenvalues)
    cov = np.cov(pixels.reshape(-1, 3).T / 255.0)
    np.testing.assert_allclose(cov @ vectors, vectors * values, rtol=1e-3, atol=1e-6)
    assert values[0] >= values[1] >= values[2] > 0
    x = pixels[:64]
    shift = np.asarray(layer(x, training=True)) - x
    np.testing.assert_allclose(shift, shift[:, :1, :1, :].repeat(10, 1).repeat(20, 2),
                               atol=1e-3)  # one RGB offset per image
    alpha = (shift[:, 0, 0, :] / 255.0) @ vectors / values  # coefficients on p_i / lambda_i
    np.testing.assert_allclose(shift[:, 0, 0, :] / 255.0, (alpha * values) @ vectors.T,
                               atol=1e-4)
    assert 0.06 < alpha.std() < 0.14 and abs(alpha.mean()) < 0.05


ROUNDTRIP = [  # every argument away from its default, so a field the config drops shows
    (pp.RandomCrop, {"height": 5, "width": 3, "seed": 7}),
    (pp.RandomPadCrop, {"padding": 3, "mode": "constant", "seed": 7}),
    (pp.PCAColorAugmentation, {"std": 0.3, "seed": 7}),
    (pp.PerImageStandardization, {}),
]


@pytest.mark.parametrize("cls,arguments", ROUNDTRIP, ids=[c.__name__ for c, _ in ROUNDTRIP])
def test_layers_roundtrip_through_config(cls, arguments):
    layer = cls(**arguments, name="original")
    config = layer.get_config()
    assert {key: config.get(key) for key in arguments} == arguments
    clone = cls.from_config(config)
    assert {key: getattr(clone, key) for key in arguments} == arguments
    x = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    if isinstance(layer, pp.PCAColorAugmentation):
        for fitted in (layer, clone):
            fitted.adapt(x)
    for training in (True, False):  # the clone draws the same crops and colours
        np.testing.assert_allclose(np.asarray(clone(x, training=training)),
                                   np.asarray(layer(x, training=training)), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Large-image crops


def test_random_resized_and_scale_crops():
    rows, cols = np.meshgrid(np.arange(300), np.arange(400), indexing="ij")
    image = tf.constant(np.stack([rows, cols, rows + cols], -1), tf.float32)  # pixel = position
    assert pp.random_resized_crop(image, 64, seed=1).shape == (64, 64, 3)
    whole = pp.random_resized_crop(image, 64, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))
    np.testing.assert_allclose(np.asarray(whole), np.asarray(tf.image.resize(image, (64, 64))), atol=1e-3)
    out = np.asarray(pp.random_scale_crop(image, 224, short_side=(300, 300), seed=1))  # no resize
    top, left = int(out[0, 0, 0]), int(out[0, 0, 1])
    np.testing.assert_array_equal(out, np.asarray(image)[top:top + 224, left:left + 224])
    out = np.asarray(pp.random_scale_crop(image, 224, seed=2))
    assert out.shape == (224, 224, 3)
    step = out[0, 1, 1] - out[0, 0, 1]  # column step = 300 / S for short side S in [256, 480]
    assert 300 / 480 - 0.01 <= step <= 300 / 256 + 0.01
    small = tf.ones((100, 150, 3))  # short side 100 -> at least 256: always big enough
    assert pp.random_scale_crop(small, 224).shape == (224, 224, 3)


def test_per_image_standardization_floors_a_faint_images_std_as_tf_does(batch):
    """A faint image (std 0.003) is divided by 1/sqrt(N) = 1/sqrt(12*10*3), not by its std."""
    faint = 0.01 * batch / 255.0
    out = pp.PerImageStandardization()(faint)
    ref = tf.image.per_image_standardization(faint)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), np.asarray(ref), atol=1e-5)


FITTED = [pp.MeanImageSubtraction, pp.PerChannelMeanSubtraction, pp.PerChannelStandardization]


def _numpy_normalised(cls, x):
    x = x.astype(np.float64)
    if cls is pp.MeanImageSubtraction:
        return x - x.mean(0)
    if cls is pp.PerChannelMeanSubtraction:
        return x - x.mean((0, 1, 2))
    return (x - x.mean((0, 1, 2))) / x.std((0, 1, 2))


@pytest.mark.parametrize("cls", FITTED)
def test_fitted_normalisations_weights_identity_and_outputs(cls):
    """Non-trainable weights "mean" (and "std"); the identity until adapt (mean 0, std 1); then
    NumPy's normalisation of the training images, in float32 and in mixed precision."""
    x = np.random.default_rng(3).uniform(0, 255, (20, 6, 5, 3)).astype("float32")
    layer = cls()
    layer.build(x.shape)
    names = ["mean", "std", "adapted"] if cls is pp.PerChannelStandardization else ["mean",
                                                                                 "adapted"]
    assert [(w.name, w.trainable) for w in layer.weights] == [(n, False) for n in names]
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    reference = _numpy_normalised(cls, x)
    layer.adapt(x)
    np.testing.assert_allclose(np.asarray(layer(x)), reference, atol=2e-4 * np.abs(x).max())
    for policy in ("mixed_bfloat16", "mixed_float16"):
        mixed = cls(dtype=policy).adapt(x)
        out = mixed(x)
        assert keras.backend.standardize_dtype(out.dtype) == policy.removeprefix("mixed_")
        np.testing.assert_allclose(np.asarray(keras.ops.cast(out, "float32")), reference,
                                   atol=2e-2 * np.abs(reference).max())


def test_statistics_from_batches_labelled_datasets_uint8_and_small_values():
    """adapt sums batch by batch in float64: uint8 images (whose squares wrap around in uint8),
    (images, labels) datasets, small batches and values in [0, 1] give NumPy's mean and std."""
    raw = np.random.default_rng(4).integers(0, 256, (40, 6, 5, 3)).astype(np.uint8)
    labels = np.arange(40) % 10
    for images in (raw, (raw / 255.0).astype("float32")):
        reference = images.astype(np.float64)
        for source, batch_size in ((images, 7), (images, 1024),
                                   (tf.data.Dataset.from_tensor_slices((images, labels)).batch(8),
                                    1024)):
            layer = pp.PerChannelStandardization().adapt(source, batch_size=batch_size)
            np.testing.assert_allclose(np.asarray(layer.mean), reference.mean((0, 1, 2)),
                                       rtol=1e-5)
            np.testing.assert_allclose(np.asarray(layer.std), reference.std((0, 1, 2)),
                                       rtol=1e-5)


def test_adapt_without_images_says_what_to_pass():
    with pytest.raises(ValueError, match=r"^adapt\(\) got no images: pass an array "
                                         r"\(N, H, W, C\) or a dataset\.$"):
        pp.PerChannelStandardization().adapt(np.zeros((0, 4, 4, 3), "float32"))
