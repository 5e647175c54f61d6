"""Preprocessing and augmentation, applied on the fly to float32 batches of raw 0-255 pixels.

``batch_augmentation(("flip", "crop"))`` returns a function ``(images, labels) -> (images,
labels)`` for ``course.data.pipeline(..., augment=...)``; it runs inside ``tf.data`` (graph mode),
so nothing is ever written to disk.
"""
from __future__ import annotations

import tensorflow as tf


def random_flip(images, seed=None):
    """Mirror each image left-right with probability 1/2 (AlexNet, VGG, ResNet)."""
    flip = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed) < 0.5
    return tf.where(flip, images[:, :, ::-1, :], images)


def random_pad_crop(images, padding: int = 4, mode: str = "REFLECT", seed=None):
    """Pad by ``padding`` pixels and cut a random crop of the original size per image.

    The CIFAR augmentation of He et al. 2015 (section 4.2): a random translation of up to
    ``padding`` pixels each way. ``mode="CONSTANT"`` fills with zeros (right for digits).
    """
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode=mode)
    offsets = tf.random.uniform([n, 2], 0, 2 * padding + 1, dtype=tf.int32, seed=seed)
    rows = offsets[:, :1] + tf.range(h)[None, :]            # (N, H) row indices per image
    cols = offsets[:, 1:] + tf.range(w)[None, :]            # (N, W)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # (N, H, W + 2p, C)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def random_translate(images, max_shift: int = 2, seed=None):
    """Shift each image by up to ``max_shift`` pixels, filling with zeros (for digits)."""
    return random_pad_crop(images, max_shift, mode="CONSTANT", seed=seed)


def random_brightness(images, max_delta: float = 63.0, seed=None):
    """Add one random offset in [-max_delta, max_delta] (0-255 scale) per image, then clip."""
    delta = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], -max_delta, max_delta, seed=seed)
    return tf.clip_by_value(images + delta, 0.0, 255.0)


def random_contrast(images, lower: float = 0.2, upper: float = 1.8, seed=None):
    """Scale each image's deviation from its mean by a random factor in [lower, upper]."""
    factor = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], lower, upper, seed=seed)
    mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    return tf.clip_by_value((images - mean) * factor + mean, 0.0, 255.0)


AUGMENTATIONS = {
    "flip": random_flip,
    "crop": random_pad_crop,
    "translate": random_translate,
    "brightness": random_brightness,
    "contrast": random_contrast,
}


def batch_augmentation(names, seed: int | None = None):
    """A ``(images, labels) -> (images, labels)`` function applying ``names`` in order.

    A name may carry one numeric argument after a colon: ``"crop:2"`` pads by 2 pixels.
    """
    steps = []
    for name in names:
        base, _, arg = name.partition(":")
        if base not in AUGMENTATIONS:
            raise ValueError(f"Unknown augmentation {name!r}. Known: {', '.join(AUGMENTATIONS)} "
                             "(optionally with an argument, e.g. 'crop:2').")
        fn = AUGMENTATIONS[base]
        if arg:
            value = int(arg) if arg.isdigit() else float(arg)
            steps.append(lambda images, fn=fn, value=value: fn(images, value))
        else:
            steps.append(fn)

    def augment(images, labels):
        for step in steps:
            images = step(images)
        return images, labels

    return augment
