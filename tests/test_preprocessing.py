"""Preprocessing: batch augmentations, normalisation and augmentation layers, test-time views."""
from __future__ import annotations

import keras
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
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), ref.numpy(), atol=1e-5)


def test_brightness_is_undone_by_whitening_unless_clipped(batch):
    shifted = batch + 40.0
    whiten = pp.PerImageStandardization()
    np.testing.assert_allclose(whiten(shifted).numpy(), whiten(batch).numpy(), atol=1e-4)
    clipped = pp.RandomBrightness(63.0, seed=0)(batch, training=True).numpy()
    assert not np.allclose(whiten(clipped).numpy(), whiten(batch).numpy(), atol=1e-3)


@pytest.mark.parametrize("layer", [
    pp.RandomPadCrop(2), pp.RandomHorizontalFlip(), pp.RandomBrightness(),
    pp.RandomContrast(), pp.PCAColorAugmentation(),
])
def test_augmentation_is_identity_at_inference(layer, batch):
    np.testing.assert_array_equal(layer(batch, training=False).numpy(), batch)
    np.testing.assert_array_equal(layer(batch).numpy(), batch)
    if not isinstance(layer, pp.PCAColorAugmentation):  # PCA is zero until adapted
        assert not np.array_equal(layer(batch, training=True).numpy(), batch)


def test_random_crop_offsets_and_centre_crop(batch):
    layer = pp.RandomCrop(8, 6, seed=3)
    out = layer(batch, training=True).numpy()
    assert out.shape == (16, 8, 6, 3)
    offsets = set()
    for o, x in zip(out, batch):  # each crop is one of the 5x5 windows of its own image
        hits = [(r, c) for r in range(5) for c in range(5)
                if np.array_equal(o, tf.image.crop_to_bounding_box(x, r, c, 8, 6).numpy())]
        assert hits
        offsets.update(hits)
    assert len(offsets) > 3  # different images get different offsets
    centre = layer(batch, training=False).numpy()
    np.testing.assert_array_equal(centre, tf.image.resize_with_crop_or_pad(batch, 8, 6).numpy())


def test_pad_crop_layer_is_a_window_of_the_reflect_padded_image(batch):
    out = pp.RandomPadCrop(2, seed=0)(batch, training=True).numpy()
    padded = np.pad(batch, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for o, p in zip(out, padded):
        assert any(np.array_equal(o, p[r:r + 12, c:c + 10]) for r in range(5) for c in range(5))


def test_flip_layer_matches_tf_flip(batch):
    out = pp.RandomHorizontalFlip(seed=1)(batch, training=True).numpy()
    flipped = tf.image.flip_left_right(batch).numpy()
    kinds = [np.array_equal(o, f) or (np.array_equal(o, x) and 2) for o, f, x in
             zip(out, flipped, batch)]
    assert all(kinds) and 0 < sum(k is True for k in kinds) < 16


def test_contrast_matches_tf_adjust_contrast_for_its_factor(batch):
    layer = pp.RandomContrast(0.5, 0.5, clip=False)  # a fixed factor
    np.testing.assert_allclose(layer(batch, training=True).numpy(),
                               tf.image.adjust_contrast(batch, 0.5).numpy(), atol=1e-3)


def test_fitted_normalisation_statistics_and_saving(tmp_path):
    x = np.random.default_rng(2).uniform(0, 255, (50, 6, 5, 3)).astype("float32")
    mean_image = pp.MeanImageSubtraction().adapt(x, batch_size=7)
    np.testing.assert_allclose(mean_image.mean.numpy(), x.mean(0), rtol=1e-5)
    channel = pp.PerChannelMeanSubtraction().adapt(tf.data.Dataset.from_tensor_slices(x).batch(8))
    np.testing.assert_allclose(channel.mean.numpy(), x.mean((0, 1, 2)), rtol=1e-5)
    standard = pp.PerChannelStandardization().adapt(x)
    out = standard(x).numpy()
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
    vectors, values = layer.eigenvectors.numpy(), layer.eigenvalues.numpy()
    cov = np.cov(pixels.reshape(-1, 3).T / 255.0)
    np.testing.assert_allclose(cov @ vectors, vectors * values, rtol=1e-3, atol=1e-6)
    assert values[0] >= values[1] >= values[2] > 0
    x = pixels[:64]
    shift = layer(x, training=True).numpy() - x
    np.testing.assert_allclose(shift, shift[:, :1, :1, :].repeat(10, 1).repeat(20, 2),
                               atol=1e-3)  # one RGB offset per image
    alpha = (shift[:, 0, 0, :] / 255.0) @ vectors / values  # coefficients on p_i / lambda_i
    np.testing.assert_allclose(shift[:, 0, 0, :] / 255.0, (alpha * values) @ vectors.T,
                               atol=1e-4)
    assert 0.06 < alpha.std() < 0.14 and abs(alpha.mean()) < 0.05


def test_layers_roundtrip_through_config():
    for layer in (pp.RandomCrop(24, 24, seed=1), pp.RandomPadCrop(4, "constant"),
                  pp.RandomBrightness(30.0), pp.RandomContrast(0.5, 1.5),
                  pp.PCAColorAugmentation(0.2), pp.PerImageStandardization()):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


# ---------------------------------------------------------------------------------------------
# Large-image crops and test-time augmentation


def test_random_resized_and_scale_crops():
    rows, cols = np.meshgrid(np.arange(300), np.arange(400), indexing="ij")
    image = tf.constant(np.stack([rows, cols, rows + cols], -1), tf.float32)  # pixel = position
    assert pp.random_resized_crop(image, 64, seed=1).shape == (64, 64, 3)
    whole = pp.random_resized_crop(image, 64, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))
    np.testing.assert_allclose(whole.numpy(), tf.image.resize(image, (64, 64)).numpy(), atol=1e-3)
    out = pp.random_scale_crop(image, 224, short_side=(300, 300), seed=1).numpy()  # no resize
    top, left = int(out[0, 0, 0]), int(out[0, 0, 1])
    np.testing.assert_array_equal(out, image.numpy()[top:top + 224, left:left + 224])
    out = pp.random_scale_crop(image, 224, seed=2).numpy()
    assert out.shape == (224, 224, 3)
    step = out[0, 1, 1] - out[0, 0, 1]  # column step = 300 / S for short side S in [256, 480]
    assert 300 / 480 - 0.01 <= step <= 300 / 256 + 0.01
    small = tf.ones((100, 150, 3))  # short side 100 -> at least 256: always big enough
    assert pp.random_scale_crop(small, 224).shape == (224, 224, 3)


def test_ten_crops_match_tf_crops_and_flips(batch):
    crops = pp.ten_crops(batch, 8)
    assert crops.shape == (10, 16, 8, 8, 3)
    h, w = 12, 10
    for i, (top, left) in enumerate([(0, 0), (0, w - 8), (h - 8, 0), (h - 8, w - 8), (2, 1)]):
        ref = tf.image.crop_to_bounding_box(batch, top, left, 8, 8).numpy()
        np.testing.assert_array_equal(crops[i], ref)
        np.testing.assert_array_equal(crops[i + 5], tf.image.flip_left_right(ref).numpy())
    with pytest.raises(ValueError, match="larger than"):
        pp.ten_crops(batch, 13)


class _Recorder(keras.Model):
    """A 'model' returning fixed logits and recording every view it was asked about."""

    def __init__(self, size):
        inputs = keras.Input((size, size, 3))
        pooled = keras.layers.GlobalAveragePooling2D()(inputs)
        outputs = keras.layers.Dense(2, name="logits")(pooled)
        super().__init__(inputs, outputs)
        self.views = []

    def predict(self, x, batch_size=None, verbose=0):
        self.views.append(np.array(x))
        return np.tile([[0.0, np.log(3.0)]], (len(x), 1))  # softmax (0.25, 0.75)


def test_predict_tta_averages_probabilities_over_views(batch):
    square = batch[:, :10, :10]
    for mode, views in (("none", 1), ("flip", 2), ("ten_crop", 10), ("multi_scale", 6)):
        model = _Recorder(10)
        probs = pp.predict_tta(model, square, mode=mode, crop_size=6)
        np.testing.assert_allclose(probs, np.tile([0.25, 0.75], (16, 1)), atol=1e-6)
        assert len(model.views) == views and all(v.shape == (16, 10, 10, 3) for v in model.views)
    model = _Recorder(10)
    pp.predict_tta(model, square, mode="ten_crop", crop_size=6)
    np.testing.assert_array_equal(model.views[4][:, 2:8, 2:8], square[:, 2:8, 2:8])  # centre
    assert (model.views[0][:, :2] == 0).all()  # crops are zero-padded to the model's size
    with pytest.raises(ValueError, match="Unknown test-time"):
        pp.predict_tta(model, square, mode="rotate")


def test_predict_tta_on_a_real_model_equals_manual_average(batch):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 10, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(5, name="logits")])
    probs = pp.predict_tta(model, batch, mode="flip")
    manual = (keras.ops.softmax(model(batch)) + keras.ops.softmax(model(batch[:, :, ::-1]))) / 2
    np.testing.assert_allclose(probs, manual.numpy(), atol=1e-5)


def test_seeded_batch_augmentation_changes_every_batch():
    from course import data

    x = np.repeat(np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3)), 8, 0).astype(np.uint8)
    fn = pp.batch_augmentation(("crop", "flip", "brightness"), seed=3)
    batches = [b[0] for b in data.pipeline(x, np.arange(8), 4, augment=fn).as_numpy_iterator()]
    assert not np.array_equal(batches[0], batches[1])  # same images, different random draws
    assert not np.array_equal(batches[0][0], x[0].astype("float32"))
