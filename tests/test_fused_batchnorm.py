"""FusedBatchNormalization against keras.layers.BatchNormalization: same numbers, one kernel."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course.layers import FusedBatchNormalization

TENSORFLOW = keras.backend.backend() == "tensorflow"


def _pair(shape, policy="float32", **kwargs):
    fused, keras_bn = (FusedBatchNormalization(dtype=policy, **kwargs),
                       keras.layers.BatchNormalization(dtype=policy, **kwargs))
    rng = np.random.default_rng(1)
    channels = shape[kwargs.get("axis", -1)]
    for layer in (fused, keras_bn):
        layer.build(shape)
        if layer.gamma is not None:
            layer.gamma.assign(np.linspace(0.5, 2, channels).astype("float32"))
        if layer.beta is not None:
            layer.beta.assign(rng.normal(size=channels).astype("float32"))
        rng = np.random.default_rng(1)
    return fused, keras_bn


# (values, gradients and moving statistics against Keras' layer: tests/test_batchnorm_dropout.py)
@pytest.mark.parametrize("shape, kwargs, fusable", [
    ((4, 6, 6, 5), {}, True),
    ((4, 6, 6, 5), {"center": False, "scale": False}, True),
    ((16, 8), {}, False),                # not 4-D: Keras' own call
    ((4, 5, 6, 6), {"axis": 1}, False),  # channels first: Keras' own call
])
def test_fuses_only_where_tensorflow_has_the_op(shape, kwargs, fusable):
    fused, _ = _pair(shape, **kwargs)
    assert fused.fuses(np.zeros(shape, "float32")) == (fusable and TENSORFLOW)
    assert not fused.fuses(np.zeros(shape, "float32"), mask=np.ones(shape[:-1], bool))


def test_mixed_bfloat16_keeps_bfloat16_data_and_matches_keras_to_its_precision():
    shape = (8, 6, 6, 16)
    fused, keras_bn = _pair(shape, policy="mixed_bfloat16", momentum=0.6, scale=False)
    x = np.random.default_rng(0).normal(3, 2, shape).astype("float32")
    y_fused, y_keras = fused(x, training=True), keras_bn(x, training=True)
    assert keras.backend.standardize_dtype(y_fused.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(fused.moving_mean.dtype) == "float32"
    y_fused, y_keras = (keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
                        for y in (y_fused, y_keras))
    np.testing.assert_allclose(y_fused, y_keras, atol=0.02)  # bfloat16 keeps 8 bits
    np.testing.assert_allclose(fused.moving_mean, keras_bn.moving_mean, rtol=1e-2)
    np.testing.assert_allclose(fused.moving_variance, keras_bn.moving_variance, rtol=1e-2)


def test_is_a_keras_batch_norm_that_saves_and_loads(tmp_path):
    from course.layers import layers_of_type

    inputs = keras.Input((4, 4, 3))
    bn = FusedBatchNormalization(momentum=0.6, epsilon=1e-12, scale=False, name="bn")
    model = keras.Model(inputs, bn(inputs))
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype("float32")
    model(x, training=True)
    assert layers_of_type(model, keras.layers.BatchNormalization) == [bn]  # precise BN finds it
    model.save(tmp_path / "bn.keras")
    again = keras.saving.load_model(tmp_path / "bn.keras")
    assert type(again.get_layer("bn")) is FusedBatchNormalization
    assert again.get_layer("bn").epsilon == 1e-12
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6, equal_nan=False)


@pytest.mark.parametrize("dtype, fusable", [("float32", True), ("float16", True),
                                            ("bfloat16", True), ("float64", False)])
def test_fuses_the_dtypes_tensorflows_kernel_takes(dtype, fusable):
    """FusedBatchNormV3 takes half, bfloat16 and float data; float64 goes to Keras' call. Either
    way the numbers are Keras' (to the precision of the dtype)."""
    shape = (4, 6, 6, 5)
    fused, keras_bn = _pair(shape, policy=dtype)
    x = np.random.default_rng(0).normal(3, 2, shape)
    assert fused.fuses(keras.ops.cast(x, dtype)) == (fusable and TENSORFLOW)
    tolerance = {"float16": 1e-2, "bfloat16": 5e-2}.get(dtype, 1e-5)
    for training in (True, False):
        y_fused, y_keras = (keras.ops.convert_to_numpy(keras.ops.cast(
            layer(keras.ops.cast(x, dtype), training=training), "float32"))
            for layer in (fused, keras_bn))
        np.testing.assert_allclose(y_fused, y_keras, atol=tolerance)
    np.testing.assert_allclose(fused.moving_variance, keras_bn.moving_variance, rtol=tolerance)


def test_a_mask_goes_to_keras_moments():
    """Keras' layer takes the batch moments over the unmasked positions only."""
    shape = (4, 6, 6, 5)
    fused, keras_bn = _pair(shape)
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, shape).astype("float32")
    x[..., :3, :] += 5.0  # the masked-out half is far from the rest
    mask = np.ones(shape[:-1], bool)
    mask[..., :3] = False
    for layer in (fused, keras_bn):
        layer(x, training=True, mask=mask)
    np.testing.assert_allclose(fused(x, training=True, mask=mask),
                               keras_bn(x, training=True, mask=mask), atol=1e-5)
    np.testing.assert_allclose(fused.moving_mean, keras_bn.moving_mean, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, keras_bn.moving_variance, atol=1e-5)


@pytest.mark.skipif(not hasattr(keras.layers.BatchNormalization(), "renorm"),
                    reason="batch renormalization came with Keras 3.14")
def test_renormalization_is_keras_own_and_keras_3_13_fuses(monkeypatch):
    shape = (4, 6, 6, 5)
    fused, keras_bn = _pair(shape, renorm=True)
    x = np.random.default_rng(0).normal(3, 2, shape).astype("float32")
    assert not fused.fuses(x)
    for _ in range(3):
        np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True),
                                   atol=1e-5)
    plain, _ = _pair(shape)
    monkeypatch.delattr(plain, "renorm")  # Keras 3.13's layer: no such attribute
    assert plain.fuses(x) == TENSORFLOW
