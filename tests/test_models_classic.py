"""LeNet-5, AlexNet, ZFNet, VGG, NiN: parameters against the papers, shapes, LRN against TF."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import models
from course.layers import LocalResponseNormalization
from course.layers.lenet import LENET_C3_TABLE
from tests.round_trip import trains_a_step_and_round_trips


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_lenet5_layer_by_layer():
    model = models.create("lenet5")
    expected = {"C1": (156, (28, 28, 6)), "S2": (12, (14, 14, 6)), "C3": (1516, (10, 10, 16)),
                "S4": (32, (5, 5, 16)), "C5": (48120, (1, 1, 120)), "F6": (10164, (84,)),
                "logits": (850, (10,))}
    for name, (params, shape) in expected.items():
        layer = model.get_layer(name)
        assert layer.count_params() == params, name
        assert tuple(layer.output.shape[1:]) == shape, name
    assert model.count_params() == 60_850
    assert models.create("lenet5", input_shape=(28, 28, 1)).output_shape == (None, 10)


def test_lenet_c3_table_is_table_one_of_the_paper():
    assert [len(row) for row in LENET_C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    assert LENET_C3_TABLE[:6] == ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5))
    counts = np.zeros(6, int)
    for row in LENET_C3_TABLE:
        counts[list(row)] += 1
    assert list(counts) == [10] * 6  # every S2 map feeds ten C3 maps


def test_c3_equals_a_masked_full_convolution():
    """Each C3 map is an ordinary convolution over its own input maps."""
    layer = models.create("lenet5").get_layer("C3")
    x = np.random.default_rng(0).normal(size=(2, 14, 14, 6)).astype("float32")
    out = np.asarray(layer(x))
    for j, row in enumerate(LENET_C3_TABLE):
        ref = np.asarray(tf.nn.conv2d(x[..., list(row)], layer.kernels[j], 1, "VALID"))[..., 0]
        np.testing.assert_allclose(out[..., j], ref + np.asarray(layer.bias)[j], atol=1e-5)


@pytest.mark.parametrize("name, kwargs, params", [
    ("alexnet", {}, 62_378_344),
    ("alexnet", {"groups": 2}, 60_965_224),
    ("alexnet_lecture", {}, 61_100_840),   # = torchvision.models.alexnet
    ("zfnet", {}, 62_357_608),
    ("vgg11", {}, 132_863_336),
    ("vgg13", {}, 133_047_848),
    ("nin", {}, 966_986),
])
def test_parameter_counts(name, kwargs, params):
    assert models.create(name, **kwargs).count_params() == params


@pytest.mark.parametrize("depth", [16, 19])
def test_vgg_equals_keras_applications(depth):
    ours = models.create(f"vgg{depth}")
    reference = getattr(keras.applications, f"VGG{depth}")(weights=None)
    assert ours.count_params() == reference.count_params()
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]


def test_alexnet_stage_shapes():
    model = models.create("alexnet")
    shapes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in
              ("conv1", "pool1", "conv2", "pool2", "conv3", "conv5", "pool5", "fc6")}
    assert shapes == {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256),
                      "pool2": (13, 13, 256), "conv3": (13, 13, 384), "conv5": (13, 13, 256),
                      "pool5": (6, 6, 256), "fc6": (4096,)}
    zf = models.create("zfnet")
    assert tuple(zf.get_layer("conv1").output.shape[1:]) == (110, 110, 96)
    assert tuple(zf.get_layer("conv2").output.shape[1:]) == (26, 26, 256)


def test_lrn_matches_tensorflow():
    x = np.random.default_rng(0).normal(0, 3, (2, 5, 5, 16)).astype("float32")
    ours = LocalResponseNormalization(size=5, k=2.0, alpha=1e-4, beta=0.75)(x)
    ref = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    big = LocalResponseNormalization(size=3, k=1.0, alpha=0.5, beta=0.5)(x)
    ref = tf.nn.local_response_normalization(x, depth_radius=1, bias=1.0, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(big, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(size=4)


@pytest.mark.parametrize("name, shape", [
    ("lenet5", (32, 32, 1)), ("nin", (32, 32, 3)),
    # the ImageNet models at small inputs (AlexNet's 227 x 227 is test_alexnet_stage_shapes'),
    # down to the smallest their strides allow (pool5 -> 1x1)
    ("alexnet", (99, 99, 3)),
    ("alexnet_lecture", (67, 67, 3)), ("zfnet", (64, 64, 3)), ("vgg11", (32, 32, 3)),
])
def test_trains_a_step_and_round_trips(tmp_path, name, shape):
    keras.utils.set_random_seed(0)
    model = models.create(name, input_shape=shape, num_classes=10)
    x = np.random.default_rng(0).uniform(0, 255, (4, *shape)).astype("float32")
    trains_a_step_and_round_trips(model, x, np.arange(4), tmp_path)
