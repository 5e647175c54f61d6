"""Test-time augmentation views: deterministic image views inside a saved model.

``course.evaluation.with_test_time_augmentation`` builds, from these, a model that averages its
scores over mirrored, shifted, cropped or rescaled copies of each image, so a ``.keras`` artifact
carries its own test-time augmentation and a grader measures exactly what training reported.
Each view keeps the input's height and width, so the wrapped model sees images of its own size.
"""
from __future__ import annotations

import keras
from keras import ops


def _mirror(x, mirror):
    return ops.flip(x, axis=2) if mirror else x


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
            x = ops.slice(padded, [0, start, start, 0], ops.shape(x))
        return _mirror(x, self.mirror)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "mirror": self.mirror}


@keras.saving.register_keras_serializable(package="course")
class CropMirror(keras.layers.Layer):
    """The ``size`` x ``size`` crop at (``top``, ``left``), zero-padded back to the input size
    (centred), mirrored if ``mirror``: one of AlexNet's ten test crops. A model that centre-crops
    ``size`` pixels inside (``cifar10_cnn``) then sees exactly that crop."""

    def __init__(self, top: int, left: int, size: int, mirror: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.top, self.left, self.size, self.mirror = int(top), int(left), int(size), bool(mirror)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        crop = x[:, self.top:self.top + self.size, self.left:self.left + self.size, :]
        pad_h, pad_w = h - self.size, w - self.size
        padded = ops.pad(crop, [[0, 0], [pad_h // 2, pad_h - pad_h // 2],
                                [pad_w // 2, pad_w - pad_w // 2], [0, 0]])
        return _mirror(padded, self.mirror)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "top": self.top, "left": self.left, "size": self.size,
                "mirror": self.mirror}


@keras.saving.register_keras_serializable(package="course")
class ScaleMirror(keras.layers.Layer):
    """The image resized by ``scale`` (bilinear), then centre-cropped (``scale > 1``) or centred
    in zeros (``scale < 1``) back to its size, mirrored if ``mirror``: a multi-scale test view
    (VGG, ResNet)."""

    def __init__(self, scale: float = 1.0, mirror: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.mirror = float(scale), bool(mirror)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        new_h, new_w = int(round(h * self.scale)), int(round(w * self.scale))
        if (new_h, new_w) != (h, w):
            x = ops.image.resize(x, (new_h, new_w), interpolation="bilinear")
            if self.scale > 1:
                top, left = (new_h - h) // 2, (new_w - w) // 2
                x = x[:, top:top + h, left:left + w, :]
            else:
                top, left = (h - new_h) // 2, (w - new_w) // 2
                x = ops.pad(x, [[0, 0], [top, h - new_h - top], [left, w - new_w - left], [0, 0]])
        return _mirror(x, self.mirror)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mirror": self.mirror}
