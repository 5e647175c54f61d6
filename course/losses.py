"""A loss Keras lacks: cross-entropy on integer labels *with* label smoothing.

``keras.losses.SparseCategoricalCrossentropy`` takes integer labels but has no label smoothing;
``keras.losses.CategoricalCrossentropy`` smooths but wants one-hot labels. Inception v3's label
smoothing (Szegedy et al. 2016, section 7) on the course's integer labels is this loss.
``optimal_logit_gap`` says how far apart it lets the logits grow.
"""
from __future__ import annotations

import math

import keras
from keras import ops


def optimal_logit_gap(label_smoothing: float, classes: int) -> float:
    """The gap between the true class's logit and each other logit at which the smoothed
    cross-entropy is smallest: there the softmax equals the target, ``1 - eps + eps / K`` on the
    true class and ``eps / K`` on each other, so the gap is ``log(1 + K (1 - eps) / eps)``.
    Without smoothing (``eps = 0``) there is no optimum: the loss falls as the gap grows (inf)."""
    eps = float(label_smoothing)
    return math.inf if eps == 0 else math.log(1 + classes * (1 - eps) / eps)


@keras.saving.register_keras_serializable(package="course")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with the target ``(1 - eps) * one_hot + eps / classes``.

    Arguments as in Keras' cross-entropies (``from_logits`` defaults to False there and here);
    ``label_smoothing=0`` equals ``keras.losses.SparseCategoricalCrossentropy``.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0,
                 name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")  # bfloat16 scores: compute the loss in float32
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}
