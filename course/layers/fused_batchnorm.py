"""Batch normalization as one fused kernel on TensorFlow (what Keras 2's ``fused=True`` did).

Keras 3's ``BatchNormalization`` computes with ``keras.ops``: under ``mixed_bfloat16`` it casts
every activation to float32, takes the moments, normalises in several element-wise steps and
casts back, and the gradient retraces all of them. TensorFlow has the whole layer as one op,
``FusedBatchNormV3`` (oneDNN's batch normalisation on a CPU, statistics accumulated in float32,
data kept in bfloat16), with one fused gradient. Keras 3 dropped the ``fused`` argument that
used it; ``FusedBatchNormalization`` brings it back for the common case and is
``keras.layers.BatchNormalization`` otherwise:

- TensorFlow backend, 4-D channels-last input, float32, float16 or bfloat16, no mask, no renorm,
  no synchronisation: the fused op, forward and gradient.
- anything else (JAX, PyTorch, other ranks or axes): Keras' own ``call``, unchanged.

Same arguments, weights, moving-average update and saved form as Keras' layer (it *is* one, so
``layers_of_type(model, keras.layers.BatchNormalization)`` finds it); the tests check outputs,
gradients and moving statistics against it. Measured on the CIFAR-100 reference network, side
by side on a 2-core Zen 5 (``benchmarks/results/cifar100_reference.md``): 983 against 845
training images/s in bfloat16 (+16%).
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="course")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that runs as TensorFlow's fused kernel where it can."""

    def fuses(self, inputs, mask=None) -> bool:
        """True when ``call`` runs the fused TensorFlow op for these inputs."""
        # Keras 3.14 added batch renormalization (``renorm``); 3.13's layer has no such
        # attribute and never renormalizes (make test-oldest runs 3.13)
        renorm = getattr(self, "renorm", False)
        return (keras.backend.backend() == "tensorflow" and mask is None and not renorm
                and not self.synchronized and len(inputs.shape) == 4
                and self.axis % 4 == 3
                and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "float16",
                                                                       "bfloat16"))

    def call(self, inputs, training=None, mask=None):
        if not self.fuses(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = (tf.cast(self.gamma, "float32") if self.scale
                 else tf.ones((channels,), "float32"))
        offset = (tf.cast(self.beta, "float32") if self.center
                  else tf.zeros((channels,), "float32"))
        moving_mean = tf.cast(self.moving_mean, "float32")
        moving_variance = tf.cast(self.moving_variance, "float32")
        if training and self.trainable:
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=tf.zeros((0,), "float32"),
                variance=tf.zeros((0,), "float32"), epsilon=self.epsilon,
                exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
            # the op returns the unbiased (n - 1) batch variance; Keras averages the biased one
            count = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(moving_variance * self.momentum
                                        + variance * (1.0 - self.momentum))
        else:
            outputs, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=moving_mean,
                variance=moving_variance, epsilon=self.epsilon, exponential_avg_factor=1.0,
                data_format="NHWC", is_training=False)
        return tf.cast(outputs, self.compute_dtype)
