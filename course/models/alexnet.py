"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) and ZFNet (Zeiler & Fergus 2013).

- ``alexnet``: the paper's network on 227x227 inputs: conv 96 11x11/4, LRN, overlapping 3x3/2
  max-pool, conv 256 5x5, LRN, pool, conv 384, 384, 256 3x3, pool, fc 4096, 4096 with dropout
  0.5, fc 1000. 62,378,344 parameters; with ``groups=2`` (the paper's two-GPU split of conv2,
  conv4 and conv5) 60,965,224.
- ``alexnet_lecture``: the one-tower 64-192-384-256-256 variant whose per-layer cost table
  the lecture computes (227x227 input, conv1 padding 2, no LRN): 61,100,840 parameters.
- ``zfnet``: AlexNet with a 7x7/2 first layer and a stride-2 conv2 (224x224 input):
  62,357,608 parameters.
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.normalization import LocalResponseNormalization
from course.models import register
from course.models.common import fc_classifier


def _conv(x, filters, kernel, name, strides=1, padding="same", groups=1):
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, groups=groups,
                         activation="relu", name=name)(x)


def _pool(x, name, padding="valid"):
    return layers.MaxPooling2D(3, strides=2, padding=padding, name=name)(x)  # overlapping


@register("alexnet")
def alexnet(input_shape=(227, 227, 3), num_classes=1000, groups=1, lrn=True, dropout=0.5):
    """AlexNet (Krizhevsky et al. 2012): 62,378,344 params; 60,965,224 with groups=2."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = _conv(x, 96, 11, "conv1", strides=4, padding="valid")
    if lrn:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = _pool(x, "pool1")
    x = _conv(x, 256, 5, "conv2", groups=groups)
    if lrn:
        x = LocalResponseNormalization(name="lrn2")(x)
    x = _pool(x, "pool2")
    x = _conv(x, 384, 3, "conv3")
    x = _conv(x, 384, 3, "conv4", groups=groups)
    x = _conv(x, 256, 3, "conv5", groups=groups)
    x = _pool(x, "pool5")
    outputs = fc_classifier(x, num_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name="alexnet")


@register("alexnet_lecture")
def alexnet_lecture(input_shape=(227, 227, 3), num_classes=1000, dropout=0.5):
    """One-tower AlexNet 64-192-384-256-256 of the lecture's cost table, 61,100,840 params."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.ZeroPadding2D(2, name="pad1")(x)
    x = _conv(x, 64, 11, "conv1", strides=4, padding="valid")
    x = _pool(x, "pool1")
    x = _conv(x, 192, 5, "conv2")
    x = _pool(x, "pool2")
    x = _conv(x, 384, 3, "conv3")
    x = _conv(x, 256, 3, "conv4")
    x = _conv(x, 256, 3, "conv5")
    x = _pool(x, "pool5")
    outputs = fc_classifier(x, num_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name="alexnet_lecture")


@register("zfnet")
def zfnet(input_shape=(224, 224, 3), num_classes=1000, lrn=True, dropout=0.5):
    """ZFNet (Zeiler & Fergus 2013): 7x7/2 conv1, 5x5/2 conv2, 62,357,608 params."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.ZeroPadding2D(1, name="pad1")(x)
    x = _conv(x, 96, 7, "conv1", strides=2, padding="valid")       # 110x110
    x = _pool(x, "pool1", padding="same")                           # 55x55
    if lrn:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = _conv(x, 256, 5, "conv2", strides=2, padding="valid")      # 26x26
    x = _pool(x, "pool2", padding="same")                           # 13x13
    if lrn:
        x = LocalResponseNormalization(name="lrn2")(x)
    x = _conv(x, 384, 3, "conv3")
    x = _conv(x, 384, 3, "conv4")
    x = _conv(x, 256, 3, "conv5")
    x = _pool(x, "pool5")                                            # 6x6
    outputs = fc_classifier(x, num_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name="zfnet")
