"""Dropout from scratch (Srivastava et al. 2014), in the "inverted" form every library uses."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class InvertedDropout(keras.layers.Layer):
    """Zero each unit with probability ``rate`` while training and scale survivors by
    ``1 / (1 - rate)``, so the expected activation is unchanged and inference is the identity.
    Same semantics as ``keras.layers.Dropout``."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0:
            return x
        keep = keras.random.uniform(ops.shape(x), seed=self.seed_generator) >= self.rate
        return ops.where(keep, x / (1 - self.rate), ops.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
