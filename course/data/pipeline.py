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
             seed: int = 0, drop_remainder: bool = False):
    """A ``tf.data.Dataset`` of float32 image batches (raw 0-255 values) and integer labels.

    ``augment`` names augmentations of ``course.augment`` (e.g. ``("flip", "pad_crop:4")``) or
    is a Keras layer; it runs on each training batch on the fly (``training=True``), so the
    data are never materialised to disk.
    """
    import tensorflow as tf

    x = as_images(x)
    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y).astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(min(len(x), 50_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if y is None:
        return ds.map(lambda images: tf.cast(images, tf.float32),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None and not isinstance(augment, (tuple, list, str)):
        layer = augment
    elif augment:
        from course import augment as augmentations

        if not augmentations.runs_in_tf_data(augment):
            import keras

            raise ValueError(
                f"On the {keras.backend.backend()} backend the course's own augmentation layers "
                f"({', '.join(a for a in augment if a.split(':')[0] not in augmentations.KERAS_BUILTIN)}"
                ") cannot run inside tf.data; apply them in the model (course.training.train "
                "does that for you) or use the TensorFlow backend.")
        layer = augmentations.sequential(augment, seed=seed)
    else:
        layer = None
    if layer is not None:
        ds = ds.map(lambda images, labels: (layer(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
