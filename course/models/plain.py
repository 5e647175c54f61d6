"""Small plain networks that the regularization and batch-norm lessons train many times.

- ``mnist_mlp``: flatten, two 512-unit ReLU layers (each optionally followed by the course's
  ``InvertedDropout``), ``logits``: the over-fitting test bed of lesson 12.
  (784*512 + 512) + (512*512 + 512) + (512*10 + 10) = 669,706 parameters.
- ``deep_plain_cnn``: ``depth`` 3x3 convolutions of ``width`` channels (two of them with stride
  2), each followed by ReLU, or by the course's ``BatchNorm`` and then ReLU
  (``batch_norm=True``; the conv then has no bias, as beta takes its role), global average
  pooling and ``logits``: lesson 13's network for "does BN help a deep plain net train?".
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.batchnorm import BatchNorm
from course.layers.dropout import InvertedDropout
from course.models import register
from course.models.common import check_input_shape, pooled_head


@register("mnist_mlp")
def mnist_mlp(input_shape=(28, 28, 1), num_classes=10, hidden=(512, 512), dropout=0.0, seed=None):
    """Two-hidden-layer MLP for MNIST (lesson 12), 669,706 params; optional inverted dropout."""
    inputs = keras.Input(tuple(input_shape), name="image")
    x = layers.Flatten(name="flatten")(layers.Rescaling(1 / 255, name="scale")(inputs))
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden{i}")(x)
        if dropout:
            x = InvertedDropout(dropout, seed=None if seed is None else seed + i,
                                name=f"dropout{i}")(x)
    features = layers.Identity(name="features")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="mnist_mlp")


def conv_bn_relu(x, filters, name, strides=1, batch_norm=True):
    """3x3 conv -> [BatchNorm ->] ReLU: the unit lesson 13 compares with and without BN."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=not batch_norm,
                      name=f"{name}_conv")(x)
    if batch_norm:
        x = BatchNorm(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@register("deep_plain_cnn")
def deep_plain_cnn(input_shape=(32, 32, 3), num_classes=10, depth=12, width=32, batch_norm=True):
    """``depth`` plain 3x3 conv layers, with or without batch norm (lesson 13)."""
    input_shape = check_input_shape(input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    for i in range(depth):
        strides = 2 if i in (depth // 3, 2 * depth // 3) else 1
        x = conv_bn_relu(x, width, f"layer{i + 1}", strides, batch_norm)
    name = f"deep_plain_cnn{depth}_{'bn' if batch_norm else 'no_bn'}"
    return keras.Model(inputs, pooled_head(x, num_classes), name=name)
