"""Residual-connection layers: the CIFAR ResNets' zero-padding shortcut (He et al. 2015) and
Inception-ResNet's scaled residual (Szegedy et al. 2016)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut that subsamples by ``strides`` and pads new channels with zeros.

    Option A of He et al. (2015): when a stage halves the resolution and doubles the width, the
    shortcut takes every other pixel and appends ``filters - C_in`` all-zero channels, so
    residual and plain networks have exactly the same parameters.
    """

    def __init__(self, filters, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides

    def call(self, x):
        s = self.strides
        x = x[:, ::s, ::s, :]
        extra = self.filters - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s),
                self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="course")
class ScaledResidual(keras.layers.Layer):
    """``x + scale * residual``: the residual scaling of Inception-ResNet (section 3.3)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        x, residual = inputs
        return x + self.scale * residual

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
