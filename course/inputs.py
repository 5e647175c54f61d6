"""The data ``course.training.train`` takes, and what it reads off them.

- a data set the course has, by name (``mnist``, ``cifar10``, ``cifar100``; by default the
  recipe's ``data``), loaded by ``course.data.load``;
- arrays you bring: ``((x_train, y_train), (x_test, y_test))``, raw pixels (NHWC, or NHW for
  greyscale) and integer labels; the test pair may be ``None``;
- a ``tf.data`` pipeline you bring: a ``tf.data.Dataset`` of ``(images, labels)`` batches, alone
  or as ``(train_batches, test)`` with ``test`` a pipeline, arrays or ``None``. It is used as it
  is: its own batching, shuffling and order (the recipe's ``batch_size`` does not apply), the
  recipe's augmentation inside the model.

A recipe with ``data=None`` names no data set, so ``train`` needs data of your own; it builds a
named architecture for the image size it reads off them, and for as many classes as the
labels of your arrays have (a pipeline's: ``model_args={"num_classes": K}``).
"""
from __future__ import annotations

import sys

import numpy as np

from course import data as datasets
from course import evaluation

NO_DATA = ("The recipe names no data set (data=None) and train() got no data. Pass your own: "
           "train(recipe, ((x_train, y_train), (x_test, y_test))) with raw-pixel arrays and "
           "integer labels (the test pair may be None), or a tf.data.Dataset of (images, labels) "
           "batches; or name a data set the course has in the recipe (mnist, cifar10, cifar100).")
BAD_DATA = ("data must be a data set name ('mnist', 'cifar10', 'cifar100'), "
            "((x_train, y_train), (x_test, y_test)) arrays (the test pair may be None), or a "
            "tf.data.Dataset of (images, labels) batches (alone or as (train_batches, test)).")


def is_pipeline(value) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset`` (without importing TensorFlow for the test)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def resolve(data, recipe, fast: bool):
    """``(description, train, test)``: ``train`` is ``(x, y)`` arrays or a pipeline of
    ``(float32 NHWC images, int32 labels)`` batches; ``test`` arrays, a pipeline or ``None``."""
    if data is None and recipe.data is None:
        raise ValueError(NO_DATA)
    if data is None or isinstance(data, str):
        name = data or recipe.data
        train, test = datasets.load(name, fast=fast)
        return name, train, test
    if is_pipeline(data):
        return "a tf.data pipeline", batches(data), None
    try:
        train, test = data
    except (TypeError, ValueError):
        raise ValueError(BAD_DATA) from None
    kind = "a tf.data pipeline" if is_pipeline(train) else "arrays"
    return kind, as_split(train), as_split(test)


def as_split(split):
    """A split as ``train`` uses it: ``None``, a standardised pipeline, or ``(x, y)`` arrays."""
    if split is None:
        return None
    if is_pipeline(split):
        return batches(split)
    try:
        x, y = split
    except (TypeError, ValueError):
        raise ValueError(BAD_DATA) from None
    return np.asarray(x), np.asarray(y).reshape(-1)


def batches(dataset):
    """The caller's pipeline with float32 NHWC images and int32 labels of shape (N,)."""
    import tensorflow as tf

    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(f"A tf.data pipeline for train() yields (images, labels) batches; this "
                         f"one yields {spec}. Map it to pairs: dataset.map(lambda ...: (x, y)).")
    images, labels = spec
    if labels.shape.rank == 0 or images.shape.rank not in (3, 4):
        raise ValueError(f"This tf.data pipeline yields single examples (images {images.shape}, "
                         f"label {labels.shape}); train() takes batches: dataset.batch(128).")

    def standard(x, y):
        x = tf.cast(x, tf.float32)
        return (x[..., None] if x.shape.rank == 3 else x), tf.reshape(tf.cast(y, tf.int32), [-1])

    return dataset.map(standard)


def steps(train) -> int:
    """Batches per epoch of a pipeline (it must know its length)."""
    n = int(train.cardinality())
    if n < 0:
        raise ValueError("train() needs the number of batches in an epoch, and this tf.data "
                         "pipeline's is " + ("infinite (remove .repeat())" if n == -1 else
                                             "unknown (after filter, say)") + ": declare it with "
                         "dataset.apply(tf.data.experimental.assert_cardinality(batches)).")
    return n


def sample_images(train, n: int = 5000) -> np.ndarray:
    """Up to ``n`` training images (float32 NHWC), for the layers that learn from data."""
    if not is_pipeline(train):
        return evaluation.as_float_images(train[0][:n])
    taken, count = [], 0
    for images, _ in train:
        taken.append(np.asarray(images))
        count += len(taken[-1])
        if count >= n:
            break
    return np.concatenate(taken)[:n]


def count(train) -> int | None:
    """Training images: known for arrays; a pipeline's are not counted (``None``)."""
    return None if is_pipeline(train) else len(train[0])


def describe(train) -> str:
    return (f"{steps(train):,} batches an epoch" if is_pipeline(train)
            else f"{len(train[0]):,} images")


def input_shape(train) -> tuple:
    """(height, width, channels) of the training images."""
    if is_pipeline(train):
        shape = tuple(train.element_spec[0].shape[1:])
        if None in shape:
            raise ValueError(f"The pipeline's images have no fixed size ({shape}): resize them "
                             "to one size, or build the model and pass model=.")
        return shape
    return datasets.as_images(train[0][:1]).shape[1:]


def num_classes(train, test) -> int | None:
    """1 + the largest label of the arrays; ``None`` for a pipeline (not read through)."""
    if is_pipeline(train):
        return None
    labels = [train[1]] + ([test[1]] if test is not None and not is_pipeline(test) else [])
    return int(max(int(np.max(y)) for y in labels if len(y))) + 1


def accuracy(model, split) -> float | None:
    """Top-1 accuracy of ``model`` on a held-out split (arrays or a pipeline), ``None`` if none."""
    if split is None:
        return None
    if not is_pipeline(split):
        return evaluation.evaluate_accuracy(model, *split)
    correct = total = 0
    for images, labels in split:
        scores = np.asarray(model.predict_on_batch(np.asarray(images)))  # any backend
        correct += int(np.sum(scores.argmax(-1) == np.asarray(labels)))
        total += len(scores)
    return correct / total if total else None
