"""Local response normalization (Krizhevsky, Sutskever & Hinton 2012, section 3.3)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class LocalResponseNormalization(keras.layers.Layer):
    """``b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2) ** beta`` across channels.

    AlexNet's constants: ``size=5`` (n), ``k=2``, ``alpha=1e-4``, ``beta=0.75``. Equals
    ``tf.nn.local_response_normalization(x, depth_radius=size // 2, bias=k, alpha=alpha,
    beta=beta)`` (channels last): both put ``alpha`` directly on the sum of squares, as the
    paper does (Caffe's LRN divides ``alpha`` by ``size``; pass ``alpha / size`` to mimic it).
    No trainable parameters.
    """

    def __init__(self, size=5, k=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd number of channels, got {size}")
        self.size, self.k, self.alpha, self.beta = size, k, alpha, beta

    def call(self, x):
        radius = self.size // 2
        channels = ops.shape(x)[-1]
        squared = ops.square(x)
        padded = ops.pad(squared, [[0, 0]] * (len(x.shape) - 1) + [[radius, radius]])
        total = sum(padded[..., i:i + channels] for i in range(self.size))
        return x / ops.power(self.k + self.alpha * total, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "k": self.k, "alpha": self.alpha,
                "beta": self.beta}
