"""Network in Network (Lin, Chen & Yan 2013) for CIFAR-10.

Three "mlpconv" blocks: a spatial convolution followed by two 1x1 convolutions (a small MLP
slid over the image), then max/average pooling and dropout. Widths follow the authors' CIFAR-10
model (192-160-96, 192-192-192, 192-192-classes): 966,986 parameters.

The paper's last layer is a linear 1x1 convolution with one map per class, averaged over the
image by global average pooling. Both steps are linear, so they commute: averaging first and
then applying the same weights as a dense layer gives exactly the same scores,
``GAP(W * x + b) = W GAP(x) + b``. The model is written that second way, so the 192 averaged
channels are its ``features`` and the class-map weights are the ``logits`` layer's kernel
(``(192, classes)``, the same 1,930 parameters); ``class_maps(model, images)`` recovers the
per-class maps the paper draws.
"""
from __future__ import annotations

import keras
from keras import layers

from course.models import register


def mlpconv(x, filters, kernel, name):
    """A spatial conv then two 1x1 convs, with ReLU (the paper's mlpconv layer)."""
    x = layers.Conv2D(filters[0], kernel, padding="same", activation="relu", name=f"{name}_conv")(x)
    x = layers.Conv2D(filters[1], 1, activation="relu", name=f"{name}_cccp1")(x)
    return layers.Conv2D(filters[2], 1, activation="relu", name=f"{name}_cccp2")(x)


@register("nin")
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
    features = layers.GlobalAveragePooling2D(name="features")(x)
    # = the paper's linear 1x1 "cccp2" conv to one map per class, then GAP (see above)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="nin")


def class_maps(model, images):
    """The paper's per-class maps (N, H, W, classes): the last 1x1 convolution applied before
    averaging, i.e. ``mlpconv3_cccp1`` maps times the ``logits`` kernel plus its bias."""
    import numpy as np

    probe = keras.Model(model.inputs, model.get_layer("mlpconv3_cccp1").output)
    maps = probe.predict(np.asarray(images, dtype="float32"), verbose=0)
    kernel, bias = model.get_layer("logits").get_weights()
    return maps @ kernel + bias
