"""BatchNorm and InvertedDropout from scratch, and FusedBatchNormalization, against
keras.layers.BatchNormalization / Dropout."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course.gradients import layer_gradients
from course.layers import BatchNorm, FusedBatchNormalization, InvertedDropout


def _pair(shape, kind=BatchNorm, **kwargs):
    ours, ref = kind(**kwargs), keras.layers.BatchNormalization(**kwargs)
    ours.build(shape)
    ref.build(shape)
    rng = np.random.default_rng(1)
    c = shape[kwargs.get("axis", -1)]
    for layer in (ours, ref):  # same non-trivial gamma/beta in both
        if layer.gamma is not None:
            layer.gamma.assign(rng.uniform(0.5, 2, c).astype("float32"))
            rng = np.random.default_rng(1)
        if layer.beta is not None:
            layer.beta.assign(np.linspace(-1, 1, c).astype("float32"))
    return ours, ref


@pytest.mark.parametrize("shape, kwargs", [
    ((16, 8), {}),
    ((4, 6, 6, 5), {}),
    ((4, 6, 6, 5), {"momentum": 0.9, "epsilon": 1e-5}),
    ((4, 5, 6, 6), {"axis": 1}),
    ((4, 6, 6, 5), {"center": False, "scale": False}),
    ((8, 5, 5, 6), {"momentum": 0.6, "epsilon": 1e-12, "scale": False}),  # airbench's
])
@pytest.mark.parametrize("kind", [BatchNorm, FusedBatchNormalization])
def test_matches_keras_in_training_inference_moving_stats_and_gradients(shape, kwargs, kind):
    ours, ref = _pair(shape, kind, **kwargs)
    rng = np.random.default_rng(0)
    for _ in range(5):  # several training steps update the moving statistics
        x = rng.normal(3, 2, shape).astype("float32")
        np.testing.assert_allclose(ours(x, training=True), ref(x, training=True), atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean, ref.moving_mean, atol=1e-6)
    # (the fused op's variance is the unbiased one: FusedBatchNormalization turns it back)
    np.testing.assert_allclose(ours.moving_variance, ref.moving_variance, atol=1e-5)
    np.testing.assert_allclose(ours(x, training=False), ref(x, training=False), atol=1e-5)

    upstream = rng.normal(size=shape).astype("float32")
    ours_grads, ref_grads = (layer_gradients(layer, x, upstream) for layer in (ours, ref))
    assert len(ours_grads) == len(ref_grads) == 1 + len(ours.trainable_variables)
    for a, b in zip(ours_grads, ref_grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_round_trip_and_config(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, BatchNorm(momentum=0.9, name="bn")(inputs))
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype("float32")
    model(x, training=True)
    model.save(tmp_path / "bn.keras")
    again = keras.saving.load_model(tmp_path / "bn.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6,
                               equal_nan=False)
    assert again.get_layer("bn").momentum == 0.9
    assert again.get_layer("bn").count_params() == model.get_layer("bn").count_params() == 12


def test_frozen_batchnorm_uses_moving_statistics():
    ours, ref = _pair((8, 3))
    ours.trainable = ref.trainable = False
    x = np.random.default_rng(0).normal(5, 1, (8, 3)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), ref(x, training=True), atol=1e-5)


def test_dropout_semantics_match_keras():
    x = np.ones((2000, 50), "float32")
    ours, ref = InvertedDropout(0.3, seed=1), keras.layers.Dropout(0.3, seed=1)
    np.testing.assert_array_equal(ours(x, training=False), x)     # identity at inference
    y = np.asarray(ours(x, training=True))
    r = np.asarray(ref(x, training=True))
    assert set(np.unique(y)) == set(np.unique(r)) == {0.0, np.float32(1 / 0.7)}
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.01)        # drop rate
    assert y.mean() == pytest.approx(1.0, abs=0.01)                # expectation preserved
    np.testing.assert_array_equal(InvertedDropout(0.0)(x, training=True), x)
    with pytest.raises(ValueError, match="rate"):
        InvertedDropout(1.0)
    assert InvertedDropout.from_config(ours.get_config()).rate == 0.3


def test_lesson_networks_parameter_counts():
    from course import models

    assert models.create("mnist_mlp").count_params() == 669_706
    with_dropout = models.create("mnist_mlp", dropout=0.5)
    assert with_dropout.count_params() == 669_706
    assert [type(layer).__name__ for layer in with_dropout.layers].count("InvertedDropout") == 2
    plain = models.create("deep_plain_cnn", depth=6, batch_norm=False)
    bn = models.create("deep_plain_cnn", depth=6, batch_norm=True)
    convs = 3 * 3 * 3 * 32 + 5 * 3 * 3 * 32 * 32
    assert plain.count_params() == convs + 6 * 32 + 32 * 10 + 10  # conv biases
    assert bn.count_params() == convs + 6 * 4 * 32 + 32 * 10 + 10  # gamma, beta, mean, variance
    assert bn.get_layer("layer3_conv").strides == (2, 2) and plain.output_shape == (None, 10)


CONSTANTS = {"gamma_initializer": keras.initializers.Constant(1.5),
             "beta_initializer": keras.initializers.Constant(-0.5),
             "moving_mean_initializer": keras.initializers.Constant(0.25),
             "moving_variance_initializer": keras.initializers.Constant(2.0)}
CONFIG_KEYS = ("axis", "momentum", "epsilon", "center", "scale", *CONSTANTS)


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False}, CONSTANTS])
def test_fresh_weights_and_config_are_keras(kwargs):
    """A drop-in: Keras' weights (names, order, trainability, initial values) and config, and a
    layer rebuilt from that config starts where Keras' does."""
    shape = (4, 3, 3, 5)
    ours, ref = BatchNorm(**kwargs), keras.layers.BatchNormalization(**kwargs)
    clone = BatchNorm.from_config(ours.get_config())
    for layer in (ours, ref, clone):
        layer.build(shape)
    described = [[(w.name, w.trainable, w.shape) for w in layer.weights]
                 for layer in (ours, ref, clone)]
    assert described[0] == described[1] == described[2]
    for a, b, c in zip(ours.weights, ref.weights, clone.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(c), np.asarray(b))
    config, ref_config = ours.get_config(), ref.get_config()
    assert {k: config[k] for k in CONFIG_KEYS} == {k: ref_config[k] for k in CONFIG_KEYS}
    x = np.random.default_rng(0).normal(2, 3, shape).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), ref(x, training=True), atol=1e-5)


def test_seeded_dropout_repeats_its_masks_as_keras_does():
    """keras.layers.Dropout(seed=s): two layers with one seed drop the same units, step after
    step, and each step draws a new mask."""
    x = np.ones((64, 32), "float32")
    for kind in (keras.layers.Dropout, InvertedDropout):  # the reference first
        first, second = kind(0.5, seed=3), kind(0.5, seed=3)
        masks = [[np.asarray(layer(x, training=True)) for _ in range(2)]
                 for layer in (first, second)]
        np.testing.assert_array_equal(masks[0][0], masks[1][0])
        np.testing.assert_array_equal(masks[0][1], masks[1][1])
        assert not np.array_equal(masks[0][0], masks[0][1])
