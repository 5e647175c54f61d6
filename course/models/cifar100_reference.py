"""The reference solution of the CIFAR-100 assignment: a fast small CNN for a laptop CPU.

A Keras port of Keller Jordan's airbench94 network and recipe (2024, "94% on CIFAR-10 in 3.29
seconds on a single GPU", arXiv:2404.00498), itself a descendant of Page's ResNet-9 ("How to
train your ResNet", 2018):

- a frozen 2x2 patch-whitening convolution initialised from the training images
  (``course.layers.PatchWhitening``), then GELU;
- three groups of conv -> max-pool -> batch norm -> GELU -> conv -> batch norm -> GELU, widths
  64/256/256; convolutions start as partial identities ("dirac" init), batch norms learn only
  their shift, whose learning rate is 64x the rest;
- global max pooling and a bias-free linear classifier whose scores are scaled by 1/9.

Training (the recipe below): SGD with Nesterov momentum 0.85, batch 1024, a short warm-up then a
linear decay, label smoothing 0.2, flips and 2-pixel translations, Lookahead weight averaging,
and test-time averaging over mirrored and 1-pixel-shifted views. The model takes raw 0-255
images and normalises them itself.

Parameters: 1,996,985 with 100 classes (1,994,392 trainable; the rest are the frozen whitening
filters and batch-norm statistics), 1,973,945 with 10. 118 million multiply-adds per image.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from course.layers.whitening import PatchWhitening
from course.models import Recipe, register

# Per-channel mean and std of the CIFAR-10 training pixels (CIFAR-100's differ by < 0.03).
CIFAR_MEAN = (125.3, 123.0, 113.9)
CIFAR_STD = (63.0, 62.1, 66.7)

# PyTorch's default conv/linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which the
# airbench hyperparameters were tuned with.
TORCH_DEFAULT_INIT = {"class_name": "VarianceScaling",
                      "config": {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}}


def conv_group(x, filters, name, bn_momentum):
    """conv -> pool -> BN -> GELU -> conv -> BN -> GELU (airbench's ConvGroup)."""
    for i, pool in ((1, True), (2, False)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          kernel_initializer=keras.initializers.get(TORCH_DEFAULT_INIT),
                          name=f"{name}_conv{i}")(x)
        if pool:
            x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-12, scale=False,
                                      name=f"{name}_bn{i}")(x)
        x = layers.Activation("gelu", name=f"{name}_gelu{i}")(x)
    return x


def identity_init(model: keras.Model) -> None:
    """Make the first ``in_channels`` filters of every 3x3 conv an identity map (dirac init)."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.kernel_size == (3, 3):
            kernel = keras.ops.convert_to_numpy(layer.kernel).copy()
            channels = min(kernel.shape[2], kernel.shape[3])
            kernel[..., :channels] = 0.0
            kernel[1, 1, np.arange(channels), np.arange(channels)] = 1.0
            layer.kernel.assign(kernel)


# airbench94's hyperparameters in Keras' terms. Its learning rate, 11.5 per 1024 examples of a
# summed loss with Nesterov momentum 0.85, is 11.5 / (1 + 1 / 0.15) = 1.5 on Keras' mean loss
# at batch 1024. Its weight decay shrinks weights by about 1.3% per step at the peak rate once
# momentum has built up; Keras' decoupled decay (multiplied by the current rate) does that with
# 0.009. The schedule rises from 0.2x to 1x over 23% of the steps and falls to 0.07x. Epochs:
# 12 instead of 9.9, chosen on a 5,000-image validation split (see the README).
@register(
    "cifar100_reference",
    recipe=Recipe(data="cifar100", epochs=12, batch_size=1024, optimizer="sgd",
                  learning_rate=1.5, momentum=0.85, weight_decay=0.009,
                  schedule="one_cycle",
                  schedule_args={"warmup": 0.23, "start_factor": 0.2, "end_factor": 0.07},
                  bn_bias_lr_multiplier=64.0, lookahead=True, label_smoothing=0.2,
                  augment=("flip", "crop:2"), tta_flip=True, tta_translate=True,
                  precise_bn=False, mixed_precision="auto"),
)
def cifar100_reference(input_shape=(32, 32, 3), num_classes=100, widths=(64, 256, 256),
                       bn_momentum=0.6):
    """airbench94 network (Jordan 2024): whitening stem, 3 conv groups, 1,996,985 params @100."""
    if tuple(input_shape)[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}.")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Normalization(mean=CIFAR_MEAN, variance=[s * s for s in CIFAR_STD],
                             name="normalize")(inputs)
    x = PatchWhitening(kernel_size=2, name="whiten")(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for i, width in enumerate(widths, start=1):
        x = conv_group(x, width, f"block{i}", bn_momentum)
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(num_classes, use_bias=False,
                     kernel_initializer=keras.initializers.get(TORCH_DEFAULT_INIT),
                     name="classifier")(x)
    # Max-pooled features are large: scale the scores down so training starts calm.
    outputs = layers.Rescaling(1 / 9, dtype="float32", name="logits")(x)
    model = keras.Model(inputs, outputs, name="cifar100_reference")
    identity_init(model)
    return model
