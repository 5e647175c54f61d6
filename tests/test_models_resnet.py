"""ResNets: parameters against keras.applications / torchvision / the papers, shapes, blocks."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import models
from tests.round_trip import trains_a_step_and_round_trips


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("depth, params", [
    (18, 11_689_512), (34, 21_797_672), (50, 25_557_032),  # torchvision.models.resnetN
])
def test_imagenet_resnets_match_torchvision(depth, params):
    assert trainable(models.create(f"resnet{depth}")) == params


def test_resnet50_with_biases_equals_keras_applications():
    ours = models.create("resnet50", use_bias=True)
    reference = keras.applications.ResNet50(weights=None)
    assert ours.count_params() == reference.count_params() == 25_636_712
    shapes = {n: tuple(ours.get_layer(n).output.shape[1:]) for n in
              ("pool1", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
               "conv5_block3_out")}
    assert shapes == {"pool1": (56, 56, 64), "conv2_block3_out": (56, 56, 256),
                      "conv3_block4_out": (28, 28, 512), "conv4_block6_out": (14, 14, 1024),
                      "conv5_block3_out": (7, 7, 2048)}


@pytest.mark.parametrize("depth, params", [(101, 44_707_176), (152, 60_419_944)])
def test_deep_resnets_with_biases_equal_keras_applications(depth, params):
    assert models.create(f"resnet{depth}", use_bias=True).count_params() == params


@pytest.mark.parametrize("depth, params", [
    (20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962),
])
def test_cifar_resnets_and_plain_twins(depth, params):
    """Paper, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M; option-A shortcuts add nothing."""
    residual, plain = models.create(f"cifar_resnet{depth}"), models.create(f"cifar_plain{depth}")
    assert trainable(residual) == trainable(plain) == params
    conv = [l for l in residual.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(conv) + 1 == depth  # 6n+1 convs + the classifier
    assert not any(isinstance(l, keras.layers.Add) for l in plain.layers)
    assert tuple(residual.get_layer(f"stage3_block{(depth - 2) // 6}_out").output.shape[1:]) == (8, 8, 64)


def test_zero_pad_shortcut_is_subsampled_identity():
    from course.layers import ZeroPadShortcut

    x = np.random.default_rng(0).normal(size=(1, 8, 8, 16)).astype("float32")
    y = np.asarray(ZeroPadShortcut(32, 2)(x))
    assert y.shape == (1, 4, 4, 32)
    np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
    assert not y[..., :8].any() and not y[..., 24:].any()


def test_preact_variants():
    counts = {v: trainable(models.create("preact_resnet110", variant=v)) for v in "abcde"}
    assert counts["a"] == counts["b"] == counts["c"]  # same layers, different order
    assert counts["e"] < counts["a"]                  # no BN in the projection shortcuts
    e = models.create("preact_resnet110")
    block = [l.name for l in e.layers if l.name.startswith("stage1_block2")]
    assert block.index("stage1_block2_preact_bn") < block.index("stage1_block2_conv1")
    assert block[-1] == "stage1_block2_add"  # nothing after the addition: a clean identity path
    assert trainable(models.create("preact_resnet164")) == 1_703_258  # paper: 1.7M
    with pytest.raises(ValueError, match="variant"):
        models.create("preact_resnet110", variant="f")


@pytest.mark.parametrize("name", ["cifar_resnet20", "cifar_plain20",
                                  pytest.param("preact_resnet110", marks=pytest.mark.slow)])
def test_trains_without_nan_and_round_trips(tmp_path, name):
    keras.utils.set_random_seed(0)
    model = models.create(name)
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    trains_a_step_and_round_trips(model, x, np.arange(8), tmp_path)
