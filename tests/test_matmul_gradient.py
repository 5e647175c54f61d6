"""MatmulGradientConv2D against keras.layers.Conv2D, and its nine products against TensorFlow's
kernel-gradient op: same numbers, a faster kernel gradient on small bfloat16 maps."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course.gradients import layer_gradients
from course.layers import MatmulGradientConv2D

TENSORFLOW = keras.backend.backend() == "tensorflow"


def _pair(policy="float32", **kwargs):
    """(ours, Keras' Conv2D) with the same 3x3 kernel, 5 -> 6 channels."""
    kwargs = {"padding": "same", "use_bias": False, **kwargs}
    ours = MatmulGradientConv2D(6, 3, dtype=policy, **kwargs)
    theirs = keras.layers.Conv2D(6, 3, dtype=policy, **kwargs)
    for layer in (ours, theirs):
        layer.build((None, 7, 7, 5))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.skipif(not TENSORFLOW, reason="the nine products are the TensorFlow fast path")
def test_nine_matmuls_are_tensorflows_kernel_gradient():
    import tensorflow as tf

    from course.layers.matmul_gradient import kernel_gradient_by_matmuls

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(4, 7, 6, 5)).astype("float32"))  # not square
    dy = tf.constant(rng.normal(size=(4, 7, 6, 8)).astype("float32"))
    expected = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[3, 3, 5, 8],
                                               out_backprop=dy, strides=[1, 1, 1, 1],
                                               padding="SAME")
    np.testing.assert_allclose(kernel_gradient_by_matmuls(x, dy, (3, 3, 5, 8)), expected,
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("policy, shape, kwargs, matmuls", [
    ("mixed_bfloat16", (2, 7, 7, 5), {}, True),
    ("mixed_bfloat16", (2, 3, 8, 5), {}, True),
    ("float32", (2, 7, 7, 5), {}, False),                        # float32: TensorFlow's op
    ("mixed_bfloat16", (2, 9, 9, 5), {}, False),                 # larger than 8x8
    ("mixed_bfloat16", (2, 9, 9, 5), {"matmul_max_size": 9}, True),
    ("mixed_bfloat16", (2, 7, 7, 5), {"strides": 2}, False),
    ("mixed_bfloat16", (2, 7, 7, 5), {"padding": "valid"}, False),
])
def test_uses_matmuls_only_where_they_measured_faster(policy, shape, kwargs, matmuls):
    layer = MatmulGradientConv2D(6, 3, dtype=policy, **{"padding": "same", **kwargs})
    assert layer.uses_matmuls(np.zeros(shape, "float32")) == (matmuls and TENSORFLOW)
    assert not MatmulGradientConv2D(6, 5, padding="same", dtype=policy).uses_matmuls(
        np.zeros(shape, "float32"))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_values_and_gradients_match_keras_conv2d(policy):
    ours, theirs = _pair(policy)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 7, 7, 5)).astype("float32")
    upstream = rng.normal(size=(4, 7, 7, 6)).astype("float32")
    assert ours.uses_matmuls(x) == (TENSORFLOW and policy == "mixed_bfloat16")
    as_float = [keras.ops.convert_to_numpy(keras.ops.cast(layer(x), "float32"))
                for layer in (ours, theirs)]
    np.testing.assert_array_equal(*as_float)  # the forward pass is Keras' own
    tolerance = 1e-5 if policy == "float32" else 3e-2  # bfloat16 keeps 8 bits
    for mine, reference in zip(layer_gradients(ours, x, upstream),
                               layer_gradients(theirs, x, upstream)):
        mine, reference = np.asarray(mine, "float32"), np.asarray(reference, "float32")
        assert mine.shape == reference.shape
        scale = np.abs(reference).max()
        np.testing.assert_allclose(mine / scale, reference / scale, atol=tolerance)


def test_is_a_keras_conv2d_that_saves_and_loads(tmp_path):
    from course.layers import layers_of_type

    inputs = keras.Input((7, 7, 5))
    conv = MatmulGradientConv2D(6, 3, padding="same", matmul_max_size=4, name="conv")
    model = keras.Model(inputs, conv(inputs))
    assert layers_of_type(model, keras.layers.Conv2D) == [conv]
    model.save(tmp_path / "conv.keras")
    again = keras.saving.load_model(tmp_path / "conv.keras")
    assert type(again.get_layer("conv")) is MatmulGradientConv2D
    assert again.get_layer("conv").matmul_max_size == 4
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 5)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_the_reference_network_takes_the_matmuls_on_its_small_bfloat16_maps():
    import instructor.reference  # noqa: F401  (registers the reference network)
    from course import precision
    from course.layers import layers_of_type

    model = precision.create("cifar100_reference", "bfloat16", widths=(64, 128, 256))
    convs = layers_of_type(model, MatmulGradientConv2D)
    assert len(convs) == 6
    on_matmuls = [c.name for c in convs if c.uses_matmuls(keras.ops.zeros((1, *c.input.shape[1:])))]
    assert on_matmuls == (["block2_conv2", "block3_conv1", "block3_conv2"] if TENSORFLOW else [])
