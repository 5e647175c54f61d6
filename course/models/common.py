"""Pieces several families share: the classifier heads that give every model its ``features``
and ``logits`` layers, and the conv + batch norm + ReLU unit of the Inception networks."""
from __future__ import annotations

from keras import layers


def check_input_shape(input_shape, channels: int | None = None, example=(32, 32, 3)) -> tuple:
    """``input_shape`` as a tuple (height, width, channels), or a ValueError saying what to pass."""
    shape = tuple(input_shape)
    if len(shape) != 3 or (channels is not None and shape[-1] != channels):
        want = f"(height, width, {channels})" if channels else "(height, width, channels)"
        raise ValueError(f"input_shape must be {want}, got {shape}; for example {example}.")
    return shape


def logits_head(features, num_classes: int, dropout: float = 0.0, use_bias: bool = True):
    """[dropout ->] the ``logits`` Dense layer on a ``features`` vector."""
    x = layers.Dropout(dropout, name="dropout")(features) if dropout else features
    return layers.Dense(num_classes, use_bias=use_bias, name="logits", dtype="float32")(x)


def pooled_head(x, num_classes: int, dropout: float = 0.0, pool: str = "avg"):
    """Global pooling (the ``features`` layer) -> [dropout ->] ``logits``."""
    pooling = {"avg": layers.GlobalAveragePooling2D, "max": layers.GlobalMaxPooling2D}[pool]
    return logits_head(pooling(name="features")(x), num_classes, dropout)


def fc_classifier(x, num_classes: int, widths=(4096, 4096), dropout: float = 0.5, first: int = 6):
    """AlexNet/VGG's classifier: flatten, ``fc6``, ``fc7`` (ReLU, dropout), ``logits``.

    The last hidden layer's output is the ``features`` vector (the "DeCAF" features that
    transfer learning reads), so the head is dropout + ``logits``.
    """
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(widths, start=first):
        x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
        if i < first + len(widths) - 1:
            x = layers.Dropout(dropout, name=f"drop{i}")(x)
    features = layers.Identity(name="features")(x)
    x = layers.Dropout(dropout, name=f"drop{first + len(widths) - 1}")(features)
    return layers.Dense(num_classes, name="logits", dtype="float32")(x)


def conv_bn(x, filters, kernel, name, strides=1, padding="same"):
    """Conv (no bias) + batch norm without scale + ReLU: the unit of Inception v3/v4 and
    Inception-ResNet, as in the reference implementations (``keras.applications``)."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, epsilon=1e-3, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def avg_pool_branch(x, filters, name):
    """An Inception branch: 3x3 average pool (stride 1) then a 1x1 ``conv_bn`` projection."""
    x = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return conv_bn(x, filters, 1, f"{name}_proj")


def concat(branches, name):
    """Concatenate branches along channels."""
    return layers.Concatenate(name=name)(branches)

