"""Network in Network (Lin, Chen & Yan 2013) for CIFAR-10.

Three "mlpconv" blocks: a spatial convolution followed by two 1x1 convolutions (a small MLP
slid over the image), then max/average pooling and dropout; the last 1x1 conv has one channel per
class and global average pooling replaces the fully-connected classifier. Widths follow the
authors' CIFAR-10 model (192-160-96, 192-192-192, 192-192-classes): 966,986 parameters.
"""
from __future__ import annotations

import keras
from keras import layers

from course.models import Recipe, register


def mlpconv(x, filters, kernel, name):
    """A spatial conv then two 1x1 convs, all with ReLU (the paper's mlpconv layer)."""
    x = layers.Conv2D(filters[0], kernel, padding="same", activation="relu", name=f"{name}_conv")(x)
    x = layers.Conv2D(filters[1], 1, activation="relu", name=f"{name}_cccp1")(x)
    return layers.Conv2D(filters[2], 1, activation="relu", name=f"{name}_cccp2")(x)


@register("nin", recipe=Recipe(data="cifar10", epochs=40, batch_size=128, optimizer="sgd",
                               learning_rate=0.05, schedule="cosine", weight_decay=1e-4,
                               augment=("flip", "crop")))
def nin(input_shape=(32, 32, 3), num_classes=10, dropout=0.5):
    """Network in Network (Lin et al. 2013), CIFAR-10 model, 966,986 params."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = mlpconv(x, (192, 160, 96), 5, "mlpconv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    x = mlpconv(x, (192, 192, 192), 5, "mlpconv2")
    x = layers.AveragePooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = layers.Dropout(dropout, name="drop2")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="mlpconv3_conv")(x)
    x = layers.Conv2D(192, 1, activation="relu", name="mlpconv3_cccp1")(x)
    x = layers.Conv2D(num_classes, 1, name="mlpconv3_cccp2")(x)  # one map per class
    outputs = layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, outputs, name="nin")
