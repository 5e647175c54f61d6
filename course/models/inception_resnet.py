"""Inception-ResNet v1 and v2 (Szegedy, Ioffe, Vanhoucke & Alemi 2016, Figures 10-19).

Inception blocks whose concatenated branches are projected by a linear 1x1 conv and *added* to
the input, scaled by ``scale`` (0.1-0.3) to keep very deep residual stacks stable (section 3.3).
``inception_resnet_v2`` equals ``keras.applications.InceptionResNetV2`` (55,873,736 parameters
at 299x299); ``inception_resnet_v1`` has 22,742,808 trainable parameters for 1000 classes.
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.residual import ScaledResidual
from course.models import register
from course.models.common import avg_pool_branch, concat, conv_bn, pooled_head
from course.models.inception import inception_v3_stem, reduction_a


def inception_resnet_block(x, branches, scale, name, activation=True):
    """Branches -> concat -> linear 1x1 conv back to the input width -> scaled add -> ReLU."""
    mixed = concat(branches, f"{name}_mixed")
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_up")(mixed)
    x = ScaledResidual(scale, name=f"{name}_add")([x, up])
    return layers.ReLU(name=f"{name}_relu")(x) if activation else x


def _chain(x, specs, name):
    """Sequential conv_bn layers from (filters, kernel) pairs."""
    for i, (filters, kernel) in enumerate(specs, start=1):
        x = conv_bn(x, filters, kernel, f"{name}_{i}")
    return x


def _block35(x, widths, scale, name):
    a, b, c = widths  # (b0,), (b1 1x1, b1 3x3), (b2 1x1, b2 3x3, b2 3x3)
    return inception_resnet_block(x, [
        _chain(x, [(a[0], 1)], f"{name}_b0"),
        _chain(x, [(b[0], 1), (b[1], 3)], f"{name}_b1"),
        _chain(x, [(c[0], 1), (c[1], 3), (c[2], 3)], f"{name}_b2"),
    ], scale, name)


def _block17(x, widths, scale, name):
    a, b = widths
    return inception_resnet_block(x, [
        _chain(x, [(a, 1)], f"{name}_b0"),
        _chain(x, [(b[0], 1), (b[1], (1, 7)), (b[2], (7, 1))], f"{name}_b1"),
    ], scale, name)


def _block8(x, widths, scale, name, activation=True):
    a, b = widths
    return inception_resnet_block(x, [
        _chain(x, [(a, 1)], f"{name}_b0"),
        _chain(x, [(b[0], 1), (b[1], (1, 3)), (b[2], (3, 1))], f"{name}_b1"),
    ], scale, name, activation)


def _reduction_b(x, widths, name="reduction_b"):
    """35/17 -> 8: max-pool beside three strided 3x3 branches (Figures 12 and 18)."""
    branches = [layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)]
    for i, chain in enumerate(widths):
        y = _chain(x, [(w, 3 if j else 1) for j, w in enumerate(chain[:-1])], f"{name}_b{i}")
        branches.append(conv_bn(y, chain[-1], 3, f"{name}_b{i}_out", strides=2,
                                padding="valid"))
    return concat(branches, name)


def _v2_stem(x):
    """Inception v3's stem, then the mixed_5b Inception block: 35x35x320."""
    x = inception_v3_stem(x)
    b1 = conv_bn(conv_bn(x, 48, 1, "mixed_5b_b1_1"), 64, 5, "mixed_5b_b1_2")
    b2 = _chain(x, [(64, 1), (96, 3), (96, 3)], "mixed_5b_b2")
    return concat([conv_bn(x, 96, 1, "mixed_5b_b0"), b1, b2,
                    avg_pool_branch(x, 64, "mixed_5b")], "mixed_5b")


@register("inception_resnet_v2")
def inception_resnet_v2(input_shape=(299, 299, 3), num_classes=1000, scales=(0.17, 0.1, 0.2),
                        dropout=0.2):
    """Inception-ResNet-v2 (Szegedy et al. 2016), 55,873,736 params (= keras.applications)."""
    inputs = keras.Input(input_shape, name="image")
    x = _v2_stem(layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs))
    for i in range(1, 11):
        x = _block35(x, ((32,), (32, 32), (32, 48, 64)), scales[0], f"block35_{i}")
    x = reduction_a(x, 256, 256, 384, 384, name="mixed_6a")
    for i in range(1, 21):
        x = _block17(x, (192, (128, 160, 192)), scales[1], f"block17_{i}")
    x = _reduction_b(x, ((256, 384), (256, 288), (256, 288, 320)), name="mixed_7a")
    for i in range(1, 10):
        x = _block8(x, (192, (192, 224, 256)), scales[2], f"block8_{i}")
    x = _block8(x, (192, (192, 224, 256)), 1.0, "block8_10", activation=False)
    x = conv_bn(x, 1536, 1, "conv_7b")
    return keras.Model(inputs, pooled_head(x, num_classes, dropout), name="inception_resnet_v2")


@register("inception_resnet_v1")
def inception_resnet_v1(input_shape=(299, 299, 3), num_classes=1000, scales=(0.17, 0.1, 0.2),
                        dropout=0.2):
    """Inception-ResNet-v1 (Szegedy et al. 2016), 22,742,808 trainable params."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = conv_bn(x, 32, 3, "stem1", strides=2, padding="valid")
    x = conv_bn(x, 32, 3, "stem2", padding="valid")
    x = conv_bn(x, 64, 3, "stem3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    x = conv_bn(x, 80, 1, "stem4", padding="valid")
    x = conv_bn(x, 192, 3, "stem5", padding="valid")
    x = conv_bn(x, 256, 3, "stem6", strides=2, padding="valid")         # 35x35x256 (Fig. 14)
    for i in range(1, 6):
        x = _block35(x, ((32,), (32, 32), (32, 32, 32)), scales[0], f"block35_{i}")
    x = reduction_a(x, 192, 192, 256, 384)
    for i in range(1, 11):
        x = _block17(x, (128, (128, 128, 128)), scales[1], f"block17_{i}")
    x = _reduction_b(x, ((256, 384), (256, 256), (256, 256, 256)))
    for i in range(1, 6):
        x = _block8(x, (192, (192, 192, 192)), scales[2], f"block8_{i}")
    return keras.Model(inputs, pooled_head(x, num_classes, dropout), name="inception_resnet_v1")
