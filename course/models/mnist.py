"""MNIST networks: the lecture's two-layer CNN and a deeper one for the term project.

The two-layer CNN is the network of the TensorFlow "Deep MNIST for experts" tutorial that the
lecture walks through: 5x5 conv 32 + ReLU, 2x2 max-pool, 5x5 conv 64 + ReLU, 2x2 max-pool,
dense 1024 + ReLU, dropout 0.5, dense 10: 3,274,634 parameters.

Models take raw pixels (0-255, shape (28, 28, 1)) and scale them themselves, so a saved
``.keras`` file needs no outside preprocessing.
"""
from __future__ import annotations

import keras
from keras import layers

from course.models import Recipe, register

MNIST_SHAPE = (28, 28, 1)


def _check_shape(input_shape, expected_rank=3):
    input_shape = tuple(input_shape)
    if len(input_shape) != expected_rank:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {input_shape}. "
            "For MNIST use (28, 28, 1)."
        )
    return input_shape


@register(
    "mnist_two_layer_cnn",
    recipe=Recipe(data="mnist", epochs=6, batch_size=64, learning_rate=1e-3, schedule="cosine"),
)
def mnist_two_layer_cnn(input_shape=MNIST_SHAPE, num_classes=10, dropout=0.5):
    """The lecture's two-layer MNIST CNN (TensorFlow 'Deep MNIST' tutorial), 3,274,634 params."""
    input_shape = _check_shape(input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="scale")(inputs)
    x = layers.Conv2D(32, 5, padding="same", name="conv1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", name="conv2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="mnist_two_layer_cnn")


def _conv_bn_relu(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@register(
    "mnist_deep_cnn",
    recipe=Recipe(data="mnist", epochs=15, batch_size=128, learning_rate=2e-3, schedule="one_cycle"),
)
def mnist_deep_cnn(input_shape=MNIST_SHAPE, num_classes=10, augment=True, dropout=0.4):
    """Term-project CNN: stacked 3x3 conv + batch norm, augmentation, ~0.4% test error.

    Six 3x3 conv layers in three stages (32, 64, 128 filters), batch norm after every conv
    (Ioffe & Szegedy 2015), small random shifts/rotations/zooms while training, global average
    pooling and dropout before the classifier.
    """
    input_shape = _check_shape(input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="scale")(inputs)
    if augment:  # active only in training; identity at inference
        x = layers.RandomRotation(0.03, fill_mode="constant", name="aug_rotate")(x)
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="aug_shift")(x)
        x = layers.RandomZoom(0.1, fill_mode="constant", name="aug_zoom")(x)
    for stage, filters in enumerate((32, 64, 128), start=1):
        x = _conv_bn_relu(x, filters, f"stage{stage}_1")
        x = _conv_bn_relu(x, filters, f"stage{stage}_2")
        if stage < 3:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="mnist_deep_cnn")
