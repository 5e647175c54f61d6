"""Preprocessing and augmentation, applied on the fly to float32 batches of raw 0-255 pixels.

``batch_augmentation(("flip", "crop"))`` returns a function ``(images, labels) -> (images,
labels)`` for ``course.data.pipeline(..., augment=...)``; it runs inside ``tf.data`` (graph mode),
so nothing is ever written to disk.

The same ideas as Keras layers (``keras.layers.Layer`` subclasses, saved with a ``.keras`` model):

- normalisation fitted on training data with ``adapt``: ``MeanImageSubtraction`` (AlexNet),
  ``PerChannelMeanSubtraction`` (VGG), ``PerChannelStandardization`` (ResNet);
- ``PerImageStandardization`` (per-image whitening, = ``tf.image.per_image_standardization``);
- random augmentation, active only with ``training=True``: ``RandomCrop`` (centre crop at
  inference), ``RandomPadCrop``, ``RandomHorizontalFlip``, ``RandomBrightness``,
  ``RandomContrast``, ``PCAColorAugmentation`` (AlexNet's colour PCA, fitted with ``adapt``).

Single-image functions for large images (``random_resized_crop``: Inception;
``random_scale_crop``: ResNet's [256, 480] scale augmentation) and test-time augmentation
(``ten_crops``, ``predict_tta``) complete the module.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops


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
    ``seed`` seeds each random op (each batch still gets new draws; with ``tf.data``'s parallel
    map the order of draws, and so exact repetition, is not guaranteed).
    """
    steps = []
    for name in names:
        base, _, arg = name.partition(":")
        if base not in AUGMENTATIONS:
            raise ValueError(f"Unknown augmentation {name!r}. Known: {', '.join(AUGMENTATIONS)} "
                             "(optionally with an argument, e.g. 'crop:2').")
        fn = AUGMENTATIONS[base]
        step_seed = None if seed is None else seed + len(steps)
        if arg:
            value = int(arg) if arg.isdigit() else float(arg)
            steps.append(lambda images, fn=fn, value=value, s=step_seed: fn(images, value, seed=s))
        else:
            steps.append(lambda images, fn=fn, s=step_seed: fn(images, seed=s))

    def augment(images, labels):
        for step in steps:
            images = step(images)
        return images, labels

    return augment


# ---------------------------------------------------------------------------------------------
# Single images in tf.data (before batching): scale augmentation for large images


def random_resized_crop(image, size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        seed=None):
    """Inception's crop (Szegedy et al. 2015): a box of random area and aspect ratio, resized.

    The box covers ``scale`` of the image area with aspect ratio in ``ratio``; it is cut from
    one image (H, W, C) and resized to ``size`` x ``size``. Use in ``dataset.map`` before batching.
    """
    begin, box, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), tf.zeros([0, 0, 4], tf.float32), min_object_covered=0.0,
        aspect_ratio_range=ratio, area_range=scale, max_attempts=10,
        use_image_if_no_bounding_boxes=True, seed=seed or 0)
    crop = tf.slice(image, begin, box)
    return tf.image.resize(crop, (size, size))


def random_scale_crop(image, size: int = 224, short_side=(256, 480), seed=None):
    """ResNet's scale augmentation (He et al. 2015, section 3.4; from VGG's multi-scale training).

    Resize one image so its shorter side is a random integer in ``[256, 480]``, then cut a
    random ``size`` x ``size`` crop. Use in ``dataset.map`` before batching.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.random.uniform([], short_side[0], short_side[1] + 1, dtype=tf.int32, seed=seed)
    factor = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * factor), tf.int32)
    resized = tf.image.resize(image, new)
    return tf.image.random_crop(resized, [size, size, tf.shape(image)[2]], seed=seed)


# ---------------------------------------------------------------------------------------------
# Keras layers: statistics fitted on training data (saved with the model)


class _FittedStatistics(keras.layers.Layer):
    """Base class: non-trainable ``mean`` / ``std`` weights filled by ``adapt(images)``.

    The statistics are weights, so a saved ``.keras`` file keeps them; until ``adapt`` runs
    the layer is the identity (mean 0, std 1).
    """

    #: axes reduced when fitting: (0,) keeps a whole mean image, (0, 1, 2) one value per channel
    reduce_axes = (0, 1, 2)
    uses_std = False

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        self.mean = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                    name="mean")
        if self.uses_std:
            self.std = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                       name="std")

    def _stat_shape(self, input_shape):
        full = tuple(input_shape[1:])
        return tuple(d for axis, d in enumerate(full, start=1) if axis not in self.reduce_axes)

    def adapt(self, images, batch_size: int = 1024):
        """Fit mean (and std) on training images: an array (N, H, W, C) or a tf.data.Dataset.

        Accumulates sums in float64 batch by batch, so the whole set never sits in memory as
        float. Returns ``self``.
        """
        total = total_sq = None
        count = 0
        batches = images if isinstance(images, tf.data.Dataset) else (
            np.asarray(images[i:i + batch_size]) for i in range(0, len(images), batch_size))
        for batch in batches:
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            batch = np.asarray(batch, np.float64)
            if not self.built:
                self.build((None, *batch.shape[1:]))
            s = batch.sum(axis=self.reduce_axes)
            sq = np.square(batch).sum(axis=self.reduce_axes)
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += int(np.prod([batch.shape[a] for a in self.reduce_axes]))
        if count == 0:
            raise ValueError("adapt() got no images: pass an array (N, H, W, C) or a dataset.")
        mean = total / count
        self.mean.assign(mean.astype("float32"))
        if self.uses_std:
            std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
            self.std.assign(np.maximum(std, 1e-3).astype("float32"))
        return self

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="course")
class MeanImageSubtraction(_FittedStatistics):
    """Subtract the mean training image (one value per pixel and channel): AlexNet, section 2.

    ``adapt(x_train)`` fits the (H, W, C) mean image; ``call`` returns ``x - mean_image``.
    """

    reduce_axes = (0,)

    def call(self, x):
        return x - ops.cast(self.mean, x.dtype)


@keras.saving.register_keras_serializable(package="course")
class PerChannelMeanSubtraction(_FittedStatistics):
    """Subtract one mean per colour channel (VGG, Simonyan & Zisserman 2015, section 2.1)."""

    def call(self, x):
        return x - ops.cast(self.mean, x.dtype)


@keras.saving.register_keras_serializable(package="course")
class PerChannelStandardization(_FittedStatistics):
    """``(x - mean_c) / std_c`` per colour channel (ResNet; the usual CIFAR normalisation)."""

    uses_std = True

    def call(self, x):
        return (x - ops.cast(self.mean, x.dtype)) / ops.cast(self.std, x.dtype)


@keras.saving.register_keras_serializable(package="course")
class PerImageStandardization(keras.layers.Layer):
    """Per-image whitening: ``(x - mean) / max(std, 1 / sqrt(N))`` over all N = H*W*C values.

    The lecture's (and the TensorFlow CIFAR-10 tutorial's) whitening; equals
    ``tf.image.per_image_standardization``. No statistics to fit: each image uses its own,
    so it is active at training and test time alike.
    """

    def call(self, x):
        x = ops.cast(x, "float32")
        n = ops.cast(ops.prod(ops.shape(x)[1:]), "float32")
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.std(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) / ops.maximum(std, 1.0 / ops.sqrt(n))

    def compute_output_shape(self, input_shape):
        return input_shape


# ---------------------------------------------------------------------------------------------
# Keras layers: random augmentation, active only with training=True (identity at inference)


class _RandomLayer(keras.layers.Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, x, low, high):
        n = ops.shape(x)[0]
        return keras.random.uniform((n, 1, 1, 1), low, high, seed=self.seed_generator)

    def call(self, x, training=False):
        return self.augment(x) if training else self.infer(x)

    def infer(self, x):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _crop_at(x, top, left, height, width):
    """Per-image crops: ``top``/``left`` are int tensors of shape (N,)."""
    n, h, w, c = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2], ops.shape(x)[3]
    rows = top[:, None] + ops.arange(height)[None, :]                       # (N, height)
    rows = ops.broadcast_to(rows[:, :, None, None], (n, height, w, c))
    x = ops.take_along_axis(x, rows, axis=1)
    cols = left[:, None] + ops.arange(width)[None, :]                       # (N, width)
    cols = ops.broadcast_to(cols[:, None, :, None], (n, height, width, c))
    return ops.take_along_axis(x, cols, axis=2)


@keras.saving.register_keras_serializable(package="course")
class RandomCrop(_RandomLayer):
    """Random ``height`` x ``width`` crop while training, the centre crop at inference.

    The TensorFlow CIFAR-10 tutorial's ``tf.image.random_crop`` to 24x24 with its test-time
    ``resize_with_crop_or_pad`` (a centre crop). Unlike ``keras.layers.RandomCrop``, which
    *resizes* at inference, this keeps the pixel scale the same in training and testing.
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = int(height), int(width)

    def augment(self, x):
        n = ops.shape(x)[0]
        h, w = ops.shape(x)[1], ops.shape(x)[2]
        u = keras.random.uniform((2, n), 0, 1, seed=self.seed_generator)
        top = ops.cast(ops.floor(u[0] * ops.cast(h - self.height + 1, "float32")), "int32")
        left = ops.cast(ops.floor(u[1] * ops.cast(w - self.width + 1, "float32")), "int32")
        return _crop_at(x, top, left, self.height, self.width)

    def infer(self, x):
        h, w = x.shape[1], x.shape[2]
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return x[:, top:top + self.height, left:left + self.width, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="course")
class RandomPadCrop(_RandomLayer):
    """Pad ``padding`` pixels (reflect or zeros) and cut a random crop of the input size.

    The standard CIFAR augmentation (He et al. 2015, section 4.2); identity at inference.
    """

    def __init__(self, padding=4, mode="reflect", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("reflect", "constant"):
            raise ValueError(f"mode must be 'reflect' or 'constant', got {mode!r}")
        self.padding, self.mode = int(padding), mode

    def augment(self, x):
        p = self.padding
        h, w = x.shape[1], x.shape[2]
        padded = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode=self.mode)
        offsets = keras.random.randint((2, ops.shape(x)[0]), 0, 2 * p + 1,
                                       seed=self.seed_generator)
        return _crop_at(padded, offsets[0], offsets[1], h, w)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


@keras.saving.register_keras_serializable(package="course")
class RandomHorizontalFlip(_RandomLayer):
    """Mirror each image left-right with probability 1/2 (AlexNet, VGG, ResNet, Inception)."""

    def augment(self, x):
        flip = self._uniform(x, 0.0, 1.0) < 0.5
        return ops.where(flip, ops.flip(x, axis=2), x)


@keras.saving.register_keras_serializable(package="course")
class RandomBrightness(_RandomLayer):
    """Add one offset in ``[-max_delta, max_delta]`` (0-255 scale) per image, clipped to 0-255.

    The tutorial's ``tf.image.random_brightness(max_delta=63)``. Note: without the clip, a
    per-image whitening that follows would remove the offset exactly.
    """

    def __init__(self, max_delta=63.0, clip=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.max_delta, self.clip = float(max_delta), bool(clip)

    def augment(self, x):
        x = x + self._uniform(x, -self.max_delta, self.max_delta)
        return ops.clip(x, 0.0, 255.0) if self.clip else x

    def get_config(self):
        return {**super().get_config(), "max_delta": self.max_delta, "clip": self.clip}


@keras.saving.register_keras_serializable(package="course")
class RandomContrast(_RandomLayer):
    """Scale each channel's deviation from its mean by one factor in ``[lower, upper]`` per image.

    The tutorial's ``tf.image.random_contrast(lower=0.2, upper=1.8)`` (which adjusts around
    the per-channel mean), clipped to 0-255.
    """

    def __init__(self, lower=0.2, upper=1.8, clip=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.lower, self.upper, self.clip = float(lower), float(upper), bool(clip)

    def augment(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        x = (x - mean) * self._uniform(x, self.lower, self.upper) + mean
        return ops.clip(x, 0.0, 255.0) if self.clip else x

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper,
                "clip": self.clip}


@keras.saving.register_keras_serializable(package="course")
class PCAColorAugmentation(_RandomLayer):
    """AlexNet's "fancy PCA" colour augmentation (Krizhevsky et al. 2012, section 4.1).

    ``adapt(x_train)`` fits the eigenvectors ``p_i`` and eigenvalues ``lambda_i`` of the 3x3
    covariance of RGB pixel values (measured on the 0-1 scale, so the eigenvalues do not depend
    on the pixel range). While training, each image gets ``255 * sum_i alpha_i lambda_i p_i``
    added to every pixel, with ``alpha_i ~ N(0, std)`` (``std=0.1``) drawn once per image.
    """

    def __init__(self, std=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.std = float(std)

    def build(self, input_shape):
        self.eigenvectors = self.add_weight(shape=(3, 3), initializer="zeros",
                                            trainable=False, name="eigenvectors")
        self.eigenvalues = self.add_weight(shape=(3,), initializer="zeros", trainable=False,
                                           name="eigenvalues")

    def adapt(self, images, max_pixels: int = 2_000_000, seed: int = 0):
        """Fit the RGB covariance's eigen-decomposition on (a sample of) training pixels."""
        pixels = np.asarray(images).reshape(-1, 3)
        if len(pixels) > max_pixels:
            pixels = pixels[np.random.default_rng(seed).choice(len(pixels), max_pixels,
                                                               replace=False)]
        cov = np.cov(pixels.astype(np.float64).T / 255.0)
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1]
        if not self.built:
            self.build((None, None, None, 3))
        self.eigenvalues.assign(values[order].astype("float32"))
        self.eigenvectors.assign(vectors[:, order].astype("float32"))  # columns p_i
        return self

    def color_shift(self, n):
        """(n, 3) RGB offsets on the 0-255 scale, one per image."""
        alpha = keras.random.normal((n, 3), stddev=self.std, seed=self.seed_generator)
        return 255.0 * ops.matmul(alpha * self.eigenvalues[None, :],
                                  ops.transpose(self.eigenvectors))

    def augment(self, x):
        shift = self.color_shift(ops.shape(x)[0])
        return x + ops.cast(shift[:, None, None, :], x.dtype)

    def get_config(self):
        return {**super().get_config(), "std": self.std}


# ---------------------------------------------------------------------------------------------
# Test-time augmentation


def ten_crops(images, size):
    """The 10 crops of AlexNet's test: 4 corners and centre, and their mirror images.

    ``images`` (N, H, W, C) -> array (10, N, size, size, C) in the order top-left, top-right,
    bottom-left, bottom-right, centre, then the same five flipped left-right.
    """
    images = np.asarray(images)
    h, w = images.shape[1:3]
    if size > min(h, w):
        raise ValueError(f"crop size {size} is larger than the images ({h}x{w}).")
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size),
               ((h - size) // 2, (w - size) // 2)]
    crops = [images[:, t:t + size, l:l + size] for t, l in corners]
    crops += [c[:, :, ::-1] for c in crops]
    return np.stack(crops)


def _fit_to_model(images, model):
    """Zero-pad (centred) crops up to the model's input size, if it has a fixed one.

    A model that centre-crops inside (such as ``cifar10_cnn``) then sees exactly the crop.
    """
    target = model.input_shape[1:3]
    h, w = images.shape[1:3]
    if None in target or tuple(target) == (h, w):
        return images
    th, tw = target
    if th < h or tw < w:
        raise ValueError(f"the model takes {th}x{tw} images but the crops are {h}x{w}; "
                         "pass a crop_size no larger than the model's input.")
    top, left = (th - h) // 2, (tw - w) // 2
    return np.pad(images, ((0, 0), (top, th - h - top), (left, tw - w - left), (0, 0)))


TTA_MODES = ("none", "flip", "ten_crop", "multi_scale")


def predict_tta(model, images, mode: str = "flip", crop_size: int | None = None,
                scales=(1.0, 1.125, 1.25), batch_size: int = 256):
    """Class probabilities averaged over test-time views of each image.

    - ``none``: one view; ``flip``: the image and its mirror (2 views).
    - ``ten_crop``: 4 corner + centre crops of ``crop_size`` and their mirrors (AlexNet, 10 views).
    - ``multi_scale``: the image resized by each factor in ``scales``, centre crop (or
      centred pad) back to the original size, each with its mirror (VGG/ResNet, 2 x scales).

    ``images`` are raw pixels (N, H, W, C); returns (N, classes) averaged softmax probabilities.
    """
    if mode not in TTA_MODES:
        raise ValueError(f"Unknown test-time augmentation {mode!r}; use one of "
                         f"{', '.join(TTA_MODES)}.")
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if mode == "none":
        views = [images]
    elif mode == "flip":
        views = [images, images[:, :, ::-1]]
    elif mode == "ten_crop":
        if crop_size is None:
            raise ValueError("ten_crop needs crop_size, e.g. 24 for cifar10_cnn on 32x32 images.")
        views = [_fit_to_model(v, model) for v in ten_crops(images, crop_size)]
    else:
        h, w = images.shape[1:3]
        views = []
        for s in scales:
            size = (int(round(h * s)), int(round(w * s)))
            resized = tf.image.resize(images, size).numpy()
            top, left = (size[0] - h) // 2, (size[1] - w) // 2
            if s >= 1:
                view = resized[:, top:top + h, left:left + w]
            else:
                view = np.pad(resized, ((0, 0), (-top, h - size[0] + top),
                                        (-left, w - size[1] + left), (0, 0)))
            views += [view, view[:, :, ::-1]]
    total = 0.0
    for view in views:
        logits = model.predict(np.ascontiguousarray(view), batch_size=batch_size, verbose=0)
        total = total + keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    return total / len(views)
