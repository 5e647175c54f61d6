"""One test over the whole registry (timm's test_models.py): every architecture builds, takes raw
pixels, has a ``features`` vector feeding a ``logits`` layer, runs forward without NaN, and takes
a new head for transfer learning."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import models, transfer

#: Inputs small enough to keep the test fast; every ImageNet model accepts them.
SMALL = {"alexnet": (99, 99, 3), "alexnet_lecture": (99, 99, 3), "zfnet": (96, 96, 3)}


def _small_input(name):
    default = models.entry(name).options().get("input_shape")
    if name in SMALL:
        return SMALL[name]
    return (96, 96, 3) if default and default[0] > 96 else default


@pytest.mark.parametrize("name", models.names())
def test_every_model_follows_the_contract(name):
    shape = _small_input(name)
    model = models.create(name, input_shape=shape, num_classes=7)
    assert model.get_layer("logits").output is model.outputs[0], f"{name}: last layer not logits"
    features = model.get_layer("features").output
    assert len(features.shape) == 2, f"{name}: features must be a vector, got {features.shape}"
    outputs = model.outputs[0]
    assert tuple(outputs.shape) == (None, 7)
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    scores = keras.ops.convert_to_numpy(model(x, training=False)
                                        if len(model.outputs) == 1 else model(x)[0])
    assert scores.shape == (2, 7) and np.isfinite(scores).all()
    backbone = models.backbone(model)
    assert backbone.output_shape == (None, features.shape[-1])
    new = transfer.with_new_head(model, 3)
    assert new.output_shape == (None, 3) and new.layers[-1].name == "new_logits"


def test_families_are_discovered_and_names_are_unique():
    assert {"alexnet", "resnet", "inception", "vgg", "lenet", "nin"} <= set(models.families())
    assert len(models.names()) == len(set(models.names()))
    assert models.names("vgg") == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_registered_options_are_strict():
    with pytest.raises(models.UnknownOptionError, match="depth"):
        models.create("resnet50", depth=18)
    with pytest.raises(models.UnknownOptionError, match="residual"):
        models.create("cifar_plain20", residual=True)
    assert "variant" in models.entry("preact_resnet110").options()
    assert "bottleneck" not in models.entry("preact_resnet110").options()


@pytest.mark.parametrize("name", ["mnist_two_layer_cnn", "cifar_resnet20", "lenet5", "nin"])
def test_scores_are_float32_in_bfloat16_models(name):
    from course import precision

    shape = models.entry(name).options()["input_shape"]
    model = precision.create(name, "bfloat16", input_shape=shape)
    assert model.get_layer("features").compute_dtype == "bfloat16"
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    assert model.predict(x, verbose=0).dtype == np.float32
