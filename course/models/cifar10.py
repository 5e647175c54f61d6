"""The lecture's CIFAR-10 CNN: the TensorFlow CIFAR-10 tutorial network (``cifar10.py``).

The TensorFlow authors' tutorial model, with its input pipeline moved *inside* the Keras model
so that a saved ``.keras`` file takes raw 32x32x3 pixels (0-255):

- training only: random 24x24 crop, random left-right flip, random brightness (max delta 63 on
  the 0-255 scale, i.e. 63/255 of the range), random contrast (factor 0.2-1.8);
- at test time: the centre 24x24 crop;
- always: per-image whitening ``(x - mean) / max(std, 1/sqrt(N))``;
- conv1 5x5x64 + ReLU, max-pool 3x3/2 SAME, LRN; conv2 5x5x64 + ReLU, LRN, max-pool 3x3/2 SAME;
  local3 dense 384 + ReLU, local4 dense 192 + ReLU, logits 10.

LRN uses the tutorial's constants (``depth_radius=4, bias=1, alpha=0.001/9, beta=0.75``, i.e.
``size=9``). Parameters at 24x24 crops with 10 classes: conv1 4,864 + conv2 102,464 + local3
(6*6*64 = 2,304 -> 384) 885,120 + local4 73,920 + logits 1,930 = **1,068,298**.
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.normalization import LocalResponseNormalization
from course.models import register
from course.preprocessing import PerImageStandardization, RandomCrop

CIFAR10_CNN_AUGMENT = ("crop", "flip", "brightness", "contrast")
_KNOWN = set(CIFAR10_CNN_AUGMENT)


def _lrn(name):
    return LocalResponseNormalization(size=9, k=1.0, alpha=0.001 / 9.0, beta=0.75, name=name)


@register("cifar10_cnn")
def cifar10_cnn(input_shape=(32, 32, 3), num_classes=10, crop=24, augment=CIFAR10_CNN_AUGMENT,
                lrn=True, seed=None):
    """The TF CIFAR-10 tutorial CNN with in-model augmentation: 1,068,298 params at 24x24 crops.

    ``augment`` picks the training-time distortions (any of ``crop``, ``flip``, ``brightness``,
    ``contrast``); without ``crop`` the centre crop is used in training too. ``lrn=False``
    drops both local response normalisation layers (no parameters either way).
    """
    augment = tuple(augment)
    unknown = set(augment) - _KNOWN
    if unknown:
        raise ValueError(f"Unknown augmentation(s) {sorted(unknown)} for cifar10_cnn; "
                         f"choose from {', '.join(CIFAR10_CNN_AUGMENT)}.")
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    if "crop" in augment:
        x = RandomCrop(crop, crop, seed=seed, name="random_crop")(x)
    else:
        x = layers.CenterCrop(crop, crop, name="center_crop")(x)
    if "flip" in augment:
        x = layers.RandomFlip("horizontal", seed=seed, name="random_flip")(x)
    if "brightness" in augment:  # the tutorial's max_delta=63 on the 0-255 scale
        x = layers.RandomBrightness(63 / 255, value_range=(0, 255), seed=seed,
                                    name="random_brightness")(x)
    if "contrast" in augment:  # contrast factor in [0.2, 1.8]
        x = layers.RandomContrast(0.8, value_range=(0, 255), seed=seed, name="random_contrast")(x)
    x = PerImageStandardization(name="whiten")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if lrn:
        x = _lrn("norm1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv2")(x)
    if lrn:
        x = _lrn("norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(384, activation="relu", name="local3")(x)
    x = layers.Dense(192, activation="relu", name="local4")(x)
    features = layers.Identity(name="features")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="cifar10_cnn")
