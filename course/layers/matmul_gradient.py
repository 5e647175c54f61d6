"""A 3x3 convolution whose kernel gradient is nine matrix products (lesson 15's im2col, uncopied).

The gradient of a stride-1, ``same``-padded 3x3 convolution's kernel at tap ``(i, j)`` is one
matrix product: the input shifted by ``(i, j)``, as an ``(N*H*W, C_in)`` matrix, transposed,
times the output gradient as ``(N*H*W, C_out)``. TensorFlow's own op for it,
``Conv2DBackpropFilter`` (oneDNN's kernel on a CPU), is slow on small feature maps in bfloat16:
on the reference network's three convolutions of 7x7 and 3x3 maps (batch 256, a 2-core Zen 4)
it took 15.2, 31.2 and 21.1 ms where the nine products take 13.2, 24.8 and 8.4 (``python
benchmarks/conv_costs.py``), and the whole training step ran at 857 images/s against 802 with
TensorFlow's op (``benchmarks/cifar100_reference.py --throughput-only``, side by side). On
larger maps, and in float32 (5% slower there), TensorFlow's op is faster, so
``MatmulGradientConv2D`` is ``keras.layers.Conv2D`` except where the products measured faster:

- TensorFlow backend, bfloat16 compute (``mixed_bfloat16``), a 3x3 kernel, stride and dilation
  1, ``same`` padding, channels last, one group, and a feature map of at most
  ``matmul_max_size`` x ``matmul_max_size`` (default 8): the forward pass is Keras' own, its
  gradient uses TensorFlow's op for the input and the nine products for the kernel;
- anything else (JAX, PyTorch, float32, larger maps, other kernels): Keras' own ``call``.

Same arguments (plus ``matmul_max_size``), weights and saved form as Keras' layer (it *is* one,
so ``layers_of_type(model, keras.layers.Conv2D)`` finds it); ``tests/test_matmul_gradient.py``
checks the products against TensorFlow's op and the layer's gradients against Keras' layer.
"""
from __future__ import annotations

import keras


def kernel_gradient_by_matmuls(inputs, output_gradient, kernel_shape):
    """The kernel gradient of a stride-1 ``same`` 3x3 convolution (TensorFlow tensors, NHWC):
    for each tap ``(i, j)``, ``shifted_input^T @ output_gradient`` over all ``N*H*W`` pixels."""
    import tensorflow as tf

    height, width, channels_in = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    padded = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]])
    gradient = tf.reshape(output_gradient, [-1, kernel_shape[-1]])
    taps = [tf.matmul(tf.reshape(padded[:, i:i + height, j:j + width, :], [-1, channels_in]),
                      gradient, transpose_a=True)
            for i in range(3) for j in range(3)]
    return tf.reshape(tf.stack(taps), kernel_shape)


@keras.saving.register_keras_serializable(package="course")
class MatmulGradientConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose kernel gradient is nine matmuls where that is faster."""

    def __init__(self, *args, matmul_max_size: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self.matmul_max_size = int(matmul_max_size)

    def uses_matmuls(self, inputs) -> bool:
        """True when ``call`` computes the kernel gradient by matmuls for these inputs."""
        shape = inputs.shape
        return (keras.backend.backend() == "tensorflow" and len(shape) == 4
                and self.compute_dtype == "bfloat16" and self.kernel_size == (3, 3)
                and self.strides == (1, 1) and self.dilation_rate == (1, 1)
                and self.padding == "same" and self.data_format == "channels_last"
                and self.groups == 1 and None not in shape[1:]
                and max(shape[1], shape[2]) <= self.matmul_max_size)

    def convolution_op(self, inputs, kernel):
        if not self.uses_matmuls(inputs):
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf

        @tf.custom_gradient
        def convolution(x, w):
            def gradient(dy):
                dx = tf.nn.conv2d_transpose(dy, w, tf.shape(x), strides=1, padding="SAME")
                return dx, kernel_gradient_by_matmuls(x, dy, w.shape)

            return tf.nn.conv2d(x, w, strides=1, padding="SAME"), gradient

        # (already bfloat16 through __call__; stateless_call passes them as they are)
        return convolution(tf.cast(inputs, self.compute_dtype), tf.cast(kernel, self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "matmul_max_size": self.matmul_max_size}
