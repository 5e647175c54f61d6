"""The reference solution of the CIFAR-100 assignment: a fast small CNN for a laptop CPU.

Design after the fast-training literature: the airbench network of Keller Jordan (2024, "94% on
CIFAR-10 in 3.29 seconds on a single GPU") and Page's ResNet-9 ("How to train your ResNet",
2018): three stages of conv -> max-pool -> batch norm -> GELU -> conv -> batch norm -> GELU,
widths 48/192/192, global max pooling and a bias-free linear classifier. Training: SGD with
Nesterov momentum, one-cycle learning rate, label smoothing 0.2, random flips and 2-pixel
translations, batch-norm statistics re-estimated at the end, test-time flip averaging.

The model takes raw 0-255 images and normalises them itself with the CIFAR channel statistics.
Parameters: 1,132,776 with 100 classes (1,131,000 trainable; the rest are batch-norm moving
statistics), 1,115,496 with 10.
"""
from __future__ import annotations

import keras
from keras import layers

from course.models import Recipe, register

# Per-channel mean and std of the CIFAR-10 training pixels (CIFAR-100's differ by < 0.03).
CIFAR_MEAN = (125.3, 123.0, 113.9)
CIFAR_STD = (63.0, 62.1, 66.7)


def conv_bn_gelu(x, filters, name, pool=False):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.Activation("gelu", name=f"{name}_gelu")(x)


@register(
    "cifar100_reference",
    recipe=Recipe(data="cifar100", epochs=10, batch_size=512, optimizer="sgd",
                  learning_rate=0.2, schedule="one_cycle", weight_decay=5e-4,
                  label_smoothing=0.2, augment=("flip", "crop:2"), tta_flip=True),
)
def cifar100_reference(input_shape=(32, 32, 3), num_classes=100, widths=(48, 192, 192),
                       stem_width=24):
    """Fast CIFAR CNN (airbench / ResNet-9 style), 1,132,776 params for 100 classes."""
    if tuple(input_shape)[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}.")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Normalization(mean=CIFAR_MEAN, variance=[s * s for s in CIFAR_STD],
                             name="normalize")(inputs)
    x = conv_bn_gelu(x, stem_width, "stem")
    for i, width in enumerate(widths, start=1):
        x = conv_bn_gelu(x, width, f"block{i}_a", pool=True)
        x = conv_bn_gelu(x, width, f"block{i}_b")
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(num_classes, use_bias=False, name="classifier")(x)
    # Max-pooled features are large: scale the logits down so training starts calm (airbench).
    outputs = layers.Rescaling(1 / 8, name="logits")(x)
    return keras.Model(inputs, outputs, name="cifar100_reference")
