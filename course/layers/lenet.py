"""The two unusual layers of LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, section II.B)."""
from __future__ import annotations

import keras
from keras import ops

#: Table I of the paper: which S2 feature maps (rows 0-5) each C3 map (0-15) reads.
LENET_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="course")
class TrainableSubsampling(keras.layers.Layer):
    """LeNet's S-layers: the sum of each 2x2 window times a trainable coefficient plus a
    trainable bias, per feature map (2 parameters per map)."""

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(shape=(channels,), initializer="ones",
                                           name="coefficient")
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, x):
        p = self.pool_size
        window_sum = ops.average_pool(x, p, strides=p, padding="valid") * (p * p)
        return window_sum * self.coefficient + self.bias

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="course")
class PartiallyConnectedConv2D(keras.layers.Layer):
    """A 'valid' convolution where output map ``j`` reads only the input maps ``table[j]``.

    LeNet's C3 uses it to break symmetry and save parameters: with ``LENET_C3_TABLE`` and 5x5
    kernels it has 1,516 parameters instead of the 2,416 of a full 6->16 convolution.
    """

    def __init__(self, table=LENET_C3_TABLE, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        self.table = tuple(tuple(int(i) for i in row) for row in table)
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = input_shape[-1]
        bad = [row for row in self.table if max(row) >= channels]
        if bad:
            raise ValueError(f"connection table reads channel {max(max(r) for r in bad)} but "
                             f"the input has only {channels} channels")
        k = self.kernel_size
        self.kernels = [self.add_weight(shape=(k, k, len(row), 1), name=f"kernel_{j}",
                                        initializer="glorot_uniform")
                        for j, row in enumerate(self.table)]
        self.bias = self.add_weight(shape=(len(self.table),), initializer="zeros", name="bias")

    def call(self, x):
        maps = [ops.conv(ops.take(x, list(row), axis=-1), kernel, padding="valid")
                for row, kernel in zip(self.table, self.kernels)]
        return ops.concatenate(maps, axis=-1) + self.bias

    def compute_output_shape(self, input_shape):
        k = self.kernel_size
        return (input_shape[0], input_shape[1] - k + 1, input_shape[2] - k + 1, len(self.table))

    def get_config(self):
        return {**super().get_config(), "table": [list(r) for r in self.table],
                "kernel_size": self.kernel_size}
