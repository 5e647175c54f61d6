"""Losses Keras lacks: sparse integer labels with label smoothing (Szegedy et al. 2016, sec. 7)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with optional label smoothing.

    With ``label_smoothing=eps`` the target is ``(1 - eps) * one_hot + eps / num_classes``, as in
    Inception v3. ``eps=0`` equals ``keras.losses.SparseCategoricalCrossentropy``.
    """

    def __init__(self, from_logits=True, label_smoothing=0.0, name="sparse_cce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}
