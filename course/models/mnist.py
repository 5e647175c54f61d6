"""MNIST: the lecture's two-layer CNN.

The two-layer CNN is the network of the TensorFlow "Deep MNIST for experts" tutorial that the
lecture walks through: 5x5 conv 32 + ReLU, 2x2 max-pool, 5x5 conv 64 + ReLU, 2x2 max-pool,
dense 1024 + ReLU, dropout 0.5, dense 10: 3,274,634 parameters.

Models take raw pixels (0-255, shape (28, 28, 1)) and scale them themselves, so a saved
``.keras`` file needs no outside preprocessing.
"""
from __future__ import annotations

import keras
from keras import layers

from course.models import register
from course.models.common import check_input_shape

MNIST_SHAPE = (28, 28, 1)


@register("mnist_two_layer_cnn")
def mnist_two_layer_cnn(input_shape=MNIST_SHAPE, num_classes=10, dropout=0.5):
    """The lecture's two-layer MNIST CNN (TensorFlow 'Deep MNIST' tutorial), 3,274,634 params."""
    input_shape = check_input_shape(input_shape, 1, example=MNIST_SHAPE)
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
    features = layers.Identity(name="features")(x)
    x = layers.Dropout(dropout, name="dropout")(features)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mnist_two_layer_cnn")
