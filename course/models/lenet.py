"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition", section II.B).

32x32 input; C1: 6 maps 5x5 (156 parameters); S2: trainable 2x2 subsampling (12); C3: 16 maps
5x5 with the partial connection table of Table I (1,516); S4 (32); C5: 120 maps 5x5 (48,120);
F6: 84 units (10,164); output: 10 units. The paper's output layer is a set of Euclidean RBF
units with fixed bitmap prototypes; here it is an ordinary dense layer of 850 parameters, so the
network trains with cross-entropy. Activations are the paper's scaled tanh 1.7159 tanh(2x/3).
Total: 60,850 parameters.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from course.layers.lenet import LENET_C3_TABLE, PartiallyConnectedConv2D, TrainableSubsampling
from course.models import register


@keras.saving.register_keras_serializable(package="course")
def scaled_tanh(x):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3) (Appendix A of the paper)."""
    return 1.7159 * ops.tanh(2.0 * x / 3.0)


@register("lenet5")
def lenet5(input_shape=(32, 32, 1), num_classes=10):
    """LeNet-5 (LeCun et al. 1998), 60,850 params; MNIST digits are padded to 32x32 inside."""
    inputs = keras.Input(input_shape, name="image")
    # Paper: background -0.1, foreground 1.175, so inputs have mean ~0 and variance ~1.
    x = layers.Rescaling(1.275 / 255, offset=-0.1, name="scale")(inputs)
    if tuple(input_shape[:2]) == (28, 28):
        x = layers.ZeroPadding2D(2, name="pad_to_32")(x)
    x = layers.Conv2D(6, 5, activation=scaled_tanh, name="C1")(x)
    x = layers.Activation(scaled_tanh, name="S2_tanh")(TrainableSubsampling(name="S2")(x))
    x = layers.Activation(scaled_tanh, name="C3_tanh")(
        PartiallyConnectedConv2D(LENET_C3_TABLE, 5, name="C3")(x))
    x = layers.Activation(scaled_tanh, name="S4_tanh")(TrainableSubsampling(name="S4")(x))
    x = layers.Conv2D(120, 5, activation=scaled_tanh, name="C5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation=scaled_tanh, name="F6")(x)
    features = layers.Identity(name="features")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(inputs, outputs, name="lenet5")
