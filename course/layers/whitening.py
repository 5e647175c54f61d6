"""A first convolution that whitens image patches, initialised from data, not learned.

The filters are the eigenvectors of the covariance of ``k x k`` training patches, scaled by
``1 / sqrt(eigenvalue + epsilon)`` (ZCA/PCA whitening of patches: Coates & Ng 2011, "The
importance of encoding versus training with sparse coding and vector quantization"), each used
with both signs so a following ReLU/GELU keeps all the information. Keller Jordan's airbench
("94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024) found this frozen layer the single
most effective trick for fast CIFAR training.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from course.layers.adapt import LearnsFromData


def image_patches(images, size: int) -> np.ndarray:
    """All ``size x size`` patches (stride 1, no padding) of NHWC ``images``, flattened in
    (row, column, channel) order: shape ``(N * (H-size+1) * (W-size+1), size * size * C)``."""
    images = np.asarray(images, dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    # windows: (N, H', W', C, size, size) -> (N, H', W', size, size, C)
    windows = windows.transpose(0, 1, 2, 4, 5, 3)
    return windows.reshape(-1, size * size * images.shape[-1])


@keras.saving.register_keras_serializable(package="course")
class PatchWhitening(LearnsFromData):
    """``kernel_size`` x ``kernel_size`` valid convolution whose frozen filters whiten patches.

    Call ``adapt(images)`` once (images as this layer sees them) before training; the kernel is
    then fixed and only the bias trains. Output channels: ``2 * kernel_size**2 * C``.
    """

    def __init__(self, kernel_size: int = 2, epsilon: float = 5e-4, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.filters = 2 * k * k * channels
        self.kernel = self.add_weight(name="kernel", shape=(k, k, channels, self.filters),
                                      initializer="zeros", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.add_adapted_flag()

    def adapt(self, images) -> None:
        """Set the filters from the patch covariance of ``images`` (NHWC, as this layer sees them)."""
        images = np.asarray(images, dtype=np.float32)
        if not self.built:
            self.build(images.shape)
        k, channels = self.kernel_size, images.shape[-1]
        patches = image_patches(images, k).astype(np.float64)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
        order = np.argsort(eigenvalues)[::-1]
        scaled = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + self.epsilon)
        kernel = np.concatenate([scaled, -scaled], axis=1).reshape(k, k, channels, self.filters)
        self.kernel.assign(kernel.astype(np.float32))
        self.mark_adapted()

    def call(self, x):
        kernel = ops.cast(self.kernel, x.dtype)
        return ops.conv(x, kernel, strides=1, padding="valid") + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        k = self.kernel_size
        shrink = lambda n: None if n is None else n - k + 1  # noqa: E731 - a one-line helper beside its use
        return (input_shape[0], shrink(input_shape[1]), shrink(input_shape[2]),
                2 * k * k * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "epsilon": self.epsilon}
