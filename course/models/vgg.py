"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks", Table 1, configs A-E).

Stacks of 3x3 convolutions (stride 1, padding 1) and 2x2/2 max-pools; fc 4096, 4096, classes.
Parameters (1000 classes, 224x224): vgg11 132,863,336; vgg13 133,047,848; vgg16 138,357,544;
vgg19 143,667,240 (vgg16/19 equal ``keras.applications.VGG16/VGG19``). fc6 alone holds
7*7*512*4096 + 4096 = 102,764,544 of them.
"""
from __future__ import annotations

import functools

import keras
from keras import layers

from course.models import register
from course.models.common import fc_classifier

#: Convolutions per stage (widths 64, 128, 256, 512, 512), Table 1 of the paper.
VGG_STAGES = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)


def vgg_stage(x, convs: int, width: int, name: str):
    """``convs`` 3x3 convolutions of ``width`` filters (ReLU, padding 1), then a 2x2/2 max-pool."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_conv{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def vgg(depth, input_shape=(224, 224, 3), num_classes=1000, dropout=0.5):
    """VGG-``depth`` built from its row of ``VGG_STAGES``."""
    if depth not in VGG_STAGES:
        raise ValueError(f"VGG depth must be one of {sorted(VGG_STAGES)}, got {depth}")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    for stage, (convs, width) in enumerate(zip(VGG_STAGES[depth], VGG_WIDTHS), start=1):
        x = vgg_stage(x, convs, width, f"block{stage}")
    outputs = fc_classifier(x, num_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name=f"vgg{depth}")


for _depth in VGG_STAGES:
    register(f"vgg{_depth}", functools.partial(vgg, _depth),
             f"VGG-{_depth} (Simonyan & Zisserman 2014), configuration of Table 1.")
