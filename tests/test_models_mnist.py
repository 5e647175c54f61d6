"""The registry and the MNIST networks."""
from __future__ import annotations

import pytest

from course import models


def test_registry_lists_and_builds():
    names = models.names()
    assert "mnist_two_layer_cnn" in names
    if "mnist_deep_cnn" in names:  # the answer key comes from instructor/, never from course/
        assert models.entry("mnist_deep_cnn").builder.__module__ == "instructor.reference"
    assert names == sorted(names)
    assert models.create("mnist_two_layer_cnn").name == "mnist_two_layer_cnn"


def test_unknown_model_suggests_close_names():
    with pytest.raises(models.UnknownModelError) as err:
        models.create("mnist_two_layer")
    message = str(err.value)
    assert "Did you mean mnist_two_layer_cnn" in message
    assert "python -m course models" in message


def test_two_layer_cnn_is_exactly_the_lecture_network():
    model = models.create("mnist_two_layer_cnn")
    assert model.count_params() == 3_274_634
    expected = {  # name: (output shape, parameters)
        "conv1": ((28, 28, 32), 5 * 5 * 1 * 32 + 32),
        "pool1": ((14, 14, 32), 0),
        "conv2": ((14, 14, 64), 5 * 5 * 32 * 64 + 64),
        "pool2": ((7, 7, 64), 0),
        "flatten": ((3136,), 0),
        "fc1": ((1024,), 3136 * 1024 + 1024),
        "logits": ((10,), 1024 * 10 + 10),
    }
    for name, (shape, params) in expected.items():
        layer = model.get_layer(name)
        assert tuple(layer.output.shape[1:]) == shape, name
        assert layer.count_params() == params, name
    assert model.get_layer("conv1").padding == "same"
    assert model.get_layer("dropout").rate == 0.5
    assert model.get_layer("fc1").activation.__name__ == "relu"


def test_two_layer_cnn_rejects_a_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(28, 28, 1\)"):
        models.create("mnist_two_layer_cnn", input_shape=(28, 28))


def test_models_take_raw_pixels():
    model = models.create("mnist_two_layer_cnn")
    assert model.get_layer("scale").scale == pytest.approx(1 / 255)
