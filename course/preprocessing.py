"""Preprocessing layers the course writes by hand (Keras layers, saved with a ``.keras`` model).

- Normalisation fitted on training data with ``adapt`` (the ``LearnsFromData`` protocol of
  ``course.layers.adapt``): ``MeanImageSubtraction`` (AlexNet), ``PerChannelMeanSubtraction``
  (VGG), ``PerChannelStandardization`` (ResNet);
- ``PerImageStandardization``: per-image whitening (= ``tf.image.per_image_standardization``);
- random augmentation that Keras lacks, active only with ``training=True``: ``RandomCrop``
  (centre crop at inference, unlike ``keras.layers.RandomCrop``, which resizes), ``RandomPadCrop``
  (He et al.'s pad-and-crop translation), ``PCAColorAugmentation`` (AlexNet's colour PCA).

Recipes and models name augmentations through ``course.augment``, which maps each name to one of
these layers or to a Keras one (``RandomFlip``, ``RandomBrightness``, ...). For large images,
``random_resized_crop`` (Inception) and ``random_scale_crop`` (ResNet) cut one image at a time in
``tf.data`` before batching.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from course.layers.adapt import LearnsFromData

# ---------------------------------------------------------------------------------------------
# Single images in tf.data (before batching): scale augmentation for large images


def random_resized_crop(image, size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        seed=None):
    """Inception's crop (Szegedy et al. 2015): a box of random area and aspect ratio, resized.

    The box covers ``scale`` of the image area with aspect ratio in ``ratio``; it is cut from
    one image (H, W, C) and resized to ``size`` x ``size``. Use in ``dataset.map`` before batching.
    """
    import tensorflow as tf

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
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.random.uniform([], short_side[0], short_side[1] + 1, dtype=tf.int32, seed=seed)
    factor = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * factor), tf.int32)
    resized = tf.image.resize(image, new)
    return tf.image.random_crop(resized, [size, size, tf.shape(image)[2]], seed=seed)


# ---------------------------------------------------------------------------------------------
# Keras layers: statistics fitted on training data (saved with the model)


class _FittedStatistics(LearnsFromData):
    """Base class: non-trainable ``mean`` / ``std`` weights filled by ``adapt(images)``.

    The statistics are weights, so a saved ``.keras`` file keeps them. Until ``adapt`` runs the
    layer would be the identity (mean 0, std 1): ``course.training`` refuses to fit it.
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
        self.add_adapted_flag()

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
        batches = images if hasattr(images, "element_spec") else (
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
        self.mark_adapted()
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
# Keras layers: random augmentation, active only with training=True


class _RandomLayer(keras.layers.Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        return self.augment(x) if training else self.infer(x)

    def infer(self, x):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _crop_at(x, top, left, height, width):
    """Per-image crops: ``top``/``left`` are int tensors of shape (N,).

    Two gathers of whole rows: image ``i``'s rows ``top[i] ..`` from the (N * H, W * C) stack of
    all rows, then its pixels ``left[i] ..`` from the (N * height * W, C) stack of all pixels.
    Measured 5x faster than gathering with one index per value (``take_along_axis``: a batch of
    256 CIFAR images padded by 2 took 11 ms to crop on a 2-core CPU, this 2.4 ms)."""
    n, h, w, c = (ops.shape(x)[i] for i in range(4))
    rows = (ops.arange(n)[:, None] * h + top[:, None] + ops.arange(height)[None, :])
    x = ops.take(ops.reshape(x, (n * h, w * c)), ops.reshape(rows, (-1,)), axis=0)
    pixels = (ops.arange(n * height)[:, None] * w + ops.repeat(left, height)[:, None]
              + ops.arange(width)[None, :])
    x = ops.take(ops.reshape(x, (n * height * w, c)), ops.reshape(pixels, (-1,)), axis=0)
    return ops.reshape(x, (n, height, width, c))


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
class PCAColorAugmentation(LearnsFromData, _RandomLayer):
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
        self.add_adapted_flag()

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
        self.mark_adapted()
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
