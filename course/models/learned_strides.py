"""Learned strides: a small CIFAR-10 CNN downsampled by DiffStride, and its strided twin.

Riad, Teboul, Grangier & Zeghidour, *Learning Strides in Convolutional Neural Networks*
(ICLR 2022) replace each strided convolution of a network by a stride-1 convolution followed by
``DiffStride``, whose stride is learned by backpropagation. The two builders here differ only
at the two downsampling places:

- ``cifar_strided``:    ``stageN_conv1`` is a 3x3 convolution with stride 2;
- ``cifar_diffstride``: ``stageN_conv1`` has stride 1 and is followed by ``stageN_diffstride``
  (initial stride 2, so both start with the same feature-map sizes).

Layout (widths ``(32, 64, 128)``): ``scale`` (x/255), then three stages of two 3x3 conv + BN +
ReLU layers; stages 2 and 3 downsample in their first layer; global average pooling
(``features``); ``logits``.
The global pooling is what lets ``cifar_diffstride`` have feature maps whose size changes during
training (DiffStride's output is ``ceil(n / stride)``).

Parameters with 10 classes: convs 864 + 9,216 + 18,432 + 36,864 + 73,728 + 147,456 = 286,560
(no biases: batch norm follows), six BN layers 4 * (32+32+64+64+128+128) = 1,792 (896 of them
trainable), logits 1,290: ``cifar_strided`` **289,642**, ``cifar_diffstride`` **289,644** (one
stride per DiffStride layer).
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.spectral import DiffStride
from course.models import register
from course.models.common import pooled_head


def conv_bn_relu(x, filters, name, strides=1, diffstride=None):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      name=f"{name}")(x)
    if diffstride is not None:
        x = diffstride(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_twin(name, input_shape, num_classes, widths, learned, init_stride, smoothness):
    inputs = keras.Input(tuple(input_shape), name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    for stage, filters in enumerate(widths, start=1):
        prefix = f"stage{stage}"
        down = stage > 1
        if down and learned:
            ds = DiffStride(init_stride=init_stride, smoothness=smoothness,
                            name=f"{prefix}_diffstride")
            x = conv_bn_relu(x, filters, f"{prefix}_conv1", diffstride=ds)
        else:
            x = conv_bn_relu(x, filters, f"{prefix}_conv1", strides=2 if down else 1)
        x = conv_bn_relu(x, filters, f"{prefix}_conv2")
    return keras.Model(inputs, pooled_head(x, num_classes), name=name)


@register("cifar_strided")
def cifar_strided(input_shape=(32, 32, 3), num_classes=10, widths=(32, 64, 128)):
    """Plain 6-conv CIFAR CNN with stride-2 convolutions: 289,642 params (twin of DiffStride)."""
    return build_twin("cifar_strided", input_shape, num_classes, widths, learned=False,
                  init_stride=2.0, smoothness=4.0)


@register("cifar_diffstride")
def cifar_diffstride(input_shape=(32, 32, 3), num_classes=10, widths=(32, 64, 128),
                     init_stride=2.0, smoothness=4.0):
    """The same CNN downsampled by DiffStride (Riad et al. 2022): 289,644 params (2 strides)."""
    return build_twin("cifar_diffstride", input_shape, num_classes, widths, learned=True,
                  init_stride=init_stride, smoothness=smoothness)
