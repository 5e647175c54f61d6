"""GoogLeNet, Inception v3/v4 and Inception-ResNet: parameters, shapes, aux heads, training."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import models
from course.models.inception import GOOGLENET_MODULES, compile_with_aux
from tests.round_trip import trains_a_step_and_round_trips


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _bn_channels(model):
    return sum(l.beta.shape[0] for l in model.layers
               if isinstance(l, keras.layers.BatchNormalization))


def test_googlenet_table_one():
    model = models.create("googlenet")
    outputs = {name: sum(w[i] for i in (0, 2, 4, 5)) for name, w in GOOGLENET_MODULES.items()}
    assert outputs == {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528,
                       "4e": 832, "5a": 832, "5b": 1024}  # output depth column of Table 1
    for name, (size, depth) in {"3a": (28, 256), "4a": (14, 512), "4e": (14, 832),
                                "5b": (7, 1024)}.items():
        assert tuple(model.get_layer(f"inception{name}_output").output.shape[1:]) == (size, size, depth)
    assert model.count_params() == 6_998_552
    weights_3a = sum(int(np.prod(l.kernel.shape)) for l in model.layers
                     if l.name.startswith("inception3a") and hasattr(l, "kernel"))
    assert weights_3a == 192 * (64 + 96 + 16 + 32) + 9 * 96 * 128 + 25 * 16 * 32


def test_googlenet_aux_heads_train_with_the_combined_loss():
    keras.utils.set_random_seed(0)
    model = models.create("googlenet", input_shape=(224, 224, 3), num_classes=10,
                          aux_classifiers=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 10)] * 3
    assert model.get_layer("aux1_pool").output.shape[1:3] == (4, 4)
    compile_with_aux(model, keras.optimizers.SGD(0.01))
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    y = np.array([1, 2])
    losses = model.train_on_batch(x, [y, y, y])
    assert np.all(np.isfinite(losses))
    # total = main + 0.3 * aux1 + 0.3 * aux2
    total, main, aux1, aux2 = model.evaluate(x, [y, y, y], verbose=0)[:4]
    assert total == pytest.approx(main + 0.3 * (aux1 + aux2), rel=1e-4)
    assert models.create("googlenet").output_shape == (None, 1000)  # no aux by default


def test_inception_v3_equals_keras_applications():
    ours = models.create("inception_v3")
    reference = keras.applications.InceptionV3(weights=None)
    assert ours.count_params() == reference.count_params() == 23_851_784
    for name, shape in {"mixed2": (35, 35, 288), "mixed3": (17, 17, 768),
                        "mixed7": (17, 17, 768), "mixed8": (8, 8, 1280),
                        "mixed10": (8, 8, 2048)}.items():
        assert tuple(ours.get_layer(name).output.shape[1:]) == shape


def test_inception_v4_shapes_and_count():
    model = models.create("inception_v4")
    for name, shape in {"stem_concat3": (35, 35, 384), "reduction_a": (17, 17, 1024),
                        "reduction_b": (8, 8, 1536), "inception_c3": (8, 8, 1536)}.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape
    # + one BN scale per channel = the 42,679,816 of the timm / Cadene PyTorch port
    assert trainable(model) + _bn_channels(model) == 42_679_816


def test_inception_resnet_v2_equals_keras_applications():
    ours = models.create("inception_resnet_v2")
    assert ours.count_params() == keras.applications.InceptionResNetV2(weights=None).count_params()
    assert ours.count_params() == 55_873_736
    assert ours.get_layer("block35_1_add").scale == pytest.approx(0.17)
    assert ours.get_layer("block8_10_add").scale == 1.0


def test_inception_resnet_v1_shapes_and_scaling():
    model = models.create("inception_resnet_v1", scales=(0.3, 0.3, 0.3))
    for name, shape in {"stem6_relu": (35, 35, 256), "reduction_a": (17, 17, 896),
                        "reduction_b": (8, 8, 1792)}.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape
    assert model.get_layer("block17_3_add").scale == pytest.approx(0.3)
    assert trainable(model) == 22_742_808


def test_scaled_residual():
    from course.layers import ScaledResidual

    x, r = np.ones((1, 2, 2, 3), "float32"), np.full((1, 2, 2, 3), 10.0, "float32")
    np.testing.assert_allclose(ScaledResidual(0.1)([x, r]), 2.0)


@pytest.mark.parametrize("name, shape", [
    ("inception_v3", (75, 75, 3)),
    # 43M and 56M parameters: 9-11 s each even with the eager step, so on demand
    pytest.param("inception_resnet_v2", (75, 75, 3), marks=pytest.mark.slow),
    pytest.param("inception_v4", (75, 75, 3), marks=pytest.mark.slow),
])
def test_small_inputs_train_without_nan_and_round_trip(tmp_path, name, shape):
    keras.utils.set_random_seed(0)
    model = models.create(name, input_shape=shape, num_classes=5)
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    trains_a_step_and_round_trips(model, x, np.array([0, 1]), tmp_path)
