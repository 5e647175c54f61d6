"""Batch normalization written out (Ioffe & Szegedy 2015, Algorithm 1), with ``keras.ops`` only.

For a mini-batch B = {x_1..x_m} of one channel::

    mu_B = 1/m sum x_i;  sigma2_B = 1/m sum (x_i - mu_B)^2          (mini-batch mean, variance)
    x_hat_i = (x_i - mu_B) / sqrt(sigma2_B + epsilon)                 (normalize)
    y_i = gamma * x_hat_i + beta                                      (scale and shift)

At inference the moving averages replace mu_B and sigma2_B. Same arguments and defaults as
``keras.layers.BatchNormalization``; the tests check it matches that layer.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="course")
class BatchNorm(keras.layers.Layer):
    """Batch normalization from scratch; a drop-in for ``keras.layers.BatchNormalization``."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        self._axis = self.axis % rank
        self._reduce = [i for i in range(rank) if i != self._axis]
        shape = (input_shape[self._axis],)
        self._broadcast = [1] * rank
        self._broadcast[self._axis] = input_shape[self._axis]
        self.gamma = (self.add_weight(shape=shape, initializer=self.gamma_initializer,
                                      name="gamma") if self.scale else None)
        self.beta = (self.add_weight(shape=shape, initializer=self.beta_initializer,
                                     name="beta") if self.center else None)
        self.moving_mean = self.add_weight(shape=shape, initializer=self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(
            shape=shape, initializer=self.moving_variance_initializer, trainable=False,
            name="moving_variance")

    def call(self, x, training=None):
        if training and self.trainable:
            mean = ops.mean(x, axis=self._reduce)                         # mu_B
            variance = ops.mean(ops.square(x - ops.reshape(mean, self._broadcast)),
                                axis=self._reduce)                        # sigma2_B (biased)
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        x_hat = ((x - ops.reshape(mean, self._broadcast))
                 / ops.sqrt(ops.reshape(variance, self._broadcast) + self.epsilon))
        if self.scale:
            x_hat = x_hat * ops.reshape(self.gamma, self._broadcast)
        if self.center:
            x_hat = x_hat + ops.reshape(self.beta, self._broadcast)
        return x_hat

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        s = keras.initializers.serialize
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": s(self.beta_initializer),
                "gamma_initializer": s(self.gamma_initializer),
                "moving_mean_initializer": s(self.moving_mean_initializer),
                "moving_variance_initializer": s(self.moving_variance_initializer)}
