"""Deterministic image views for test-time augmentation inside a saved model.

``course.training.with_test_time_augmentation`` uses these to build a model that averages its
scores over mirrored and shifted copies of each image, so a ``.keras`` artifact carries its own
test-time augmentation and a grader measures exactly what training reported.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class ShiftMirror(keras.layers.Layer):
    """Shift NHWC images by ``shift`` pixels down and right (negative: up and left), filling the
    border by reflection, then mirror them left-right if ``mirror``."""

    def __init__(self, shift: int = 0, mirror: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.shift, self.mirror = int(shift), bool(mirror)

    def call(self, x):
        if self.shift:
            p = abs(self.shift)
            padded = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
            start = p - self.shift
            shape = ops.shape(x)
            x = ops.slice(padded, [0, start, start, 0], shape)
        return ops.flip(x, axis=2) if self.mirror else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "mirror": self.mirror}
