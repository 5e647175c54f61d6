"""``tf.data`` input pipelines: batches of float32 raw pixels with on-the-fly augmentation, and
the small array helpers (a validation split, the channel axis) that feed them."""
from __future__ import annotations

import numpy as np


def train_val_split(x, y, val_fraction: float = 0.1, seed: int = 0):
    """Hold out a random ``val_fraction`` of a training set: ``(x_tr, y_tr), (x_val, y_val)``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, tr = np.sort(idx[:n_val]), np.sort(idx[n_val:])
    return (x[tr], y[tr]), (x[val], y[val])


def as_images(x):
    """Add the channel axis to NHW greyscale arrays (MNIST) so every model sees NHWC."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def pipeline(x, y=None, batch_size: int = 128, shuffle: bool = False, augment=(),
             seed: int = 0, drop_remainder: bool = False, side=None):
    """A ``tf.data.Dataset`` of float32 image batches (raw 0-255 values) and integer labels.

    ``augment`` names augmentations of ``course.augment`` (e.g. ``("flip", "pad_crop:4")``) or
    is a Keras layer; it runs on each training batch on the fly (``training=True``), so the
    data are never materialised to disk.

    Shuffling permutes indices, not images: each epoch draws a new order of ``len(x)`` integers
    and gathers every batch from the arrays in memory, so no shuffle buffer of images has to
    fill before the first step of an epoch. The augmentation runs one batch at a time: Keras'
    random layers advance a seed state on every call, and two calls in parallel could read the
    same state (two batches augmented alike); in order, a seeded run repeats exactly.

    ``side``: a ``tf.Variable`` holding an image side in pixels (``course.callbacks.
    ProgressiveResizing`` sets it each epoch): every batch, after its augmentation, is resized
    to ``side x side`` (bilinear with antialiasing), or left as it is at its own size.
    """
    import tensorflow as tf

    parallel = _cores()
    x = as_images(x)
    images = tf.convert_to_tensor(x)
    labels = None if y is None else tf.convert_to_tensor(np.asarray(y).astype(np.int32))
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if labels is None:
        ds = ds.map(lambda index: tf.cast(tf.gather(images, index), tf.float32),
                    num_parallel_calls=parallel)
        return _without_autotuning(ds.prefetch(2))
    ds = ds.map(lambda index: (tf.cast(tf.gather(images, index), tf.float32),
                               tf.gather(labels, index)),
                num_parallel_calls=parallel)
    layer = _augmentation_layer(augment, seed)
    if layer is not None:
        ds = ds.map(lambda batch, batch_labels: (layer(batch, training=True), batch_labels))
    if side is not None:
        ds = ds.map(lambda batch, batch_labels: (_resized(batch, side), batch_labels),
                    num_parallel_calls=parallel)
    return _without_autotuning(ds.prefetch(2))


def _resized(batch, side):
    """``batch`` resized to ``side`` (a variable read when the batch is made) x ``side``."""
    import tensorflow as tf

    size = tf.stack([side, side])
    return tf.cond(tf.reduce_all(tf.shape(batch)[1:3] == size), lambda: batch,
                   lambda: tf.image.resize(batch, size, antialias=True))


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _without_autotuning(ds):
    """Fixed parallelism (one map call per core, two batches prefetched) instead of tf.data's
    autotuner. The autotuner's thread sleeps between tuning rounds, longer and longer as a run
    goes on, and deleting the iterator waits for it to wake: measured here (TF 2.21, 2 cores),
    ``model.fit`` returned 16-19 s after its last step in half the runs of a one-minute MNIST
    epoch, and never with the autotuner off, at the same speed per step."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _augmentation_layer(augment, seed):
    """The Keras layer that ``augment`` names (or is); ``None`` for no augmentation."""
    if augment is not None and not isinstance(augment, (tuple, list, str)):
        return augment
    if not augment:
        return None
    from course import augment as augmentations

    if not augmentations.runs_in_tf_data(augment):
        import keras

        own = [a for a in augment if a.split(":")[0] not in augmentations.KERAS_BUILTIN]
        raise ValueError(
            f"On the {keras.backend.backend()} backend the course's own augmentation layers "
            f"({', '.join(own)}) cannot run inside tf.data; apply them in the model "
            "(course.training.train does that for you) or use the TensorFlow backend.")
    return augmentations.sequential(augment, seed=seed)
