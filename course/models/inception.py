"""GoogLeNet / Inception v1 (Szegedy et al. 2014), Inception v3 (Szegedy et al. 2015,
"Rethinking the Inception Architecture") and Inception v4 (Szegedy et al. 2016).

- ``googlenet``: Table 1 of the paper, no batch norm (as published; LRN after the first two
  convolutions), global average pooling, dropout 0.4. 6,998,552 parameters for 1000 classes
  (the paper's table: ~6.8M; the difference is the conv biases). ``aux_classifiers=True`` adds
  the two auxiliary heads after 4a and 4d (5x5/3 average pool, 1x1 conv 128, fc 1024, dropout
  0.7, fc classes): the model then has three outputs, trained with loss weights 1, 0.3, 0.3.
- ``inception_v3``: factorized 7x7 -> 1x7 + 7x1 and 5x5 -> two 3x3 convolutions, batch norm;
  equals ``keras.applications.InceptionV3`` (23,851,784 parameters at 299x299).
- ``inception_v4``: the pure Inception network of the 2016 paper (Figures 3-9): 42,648,232
  trainable parameters (batch norm without scale, like the other Keras Inceptions); adding one
  BN scale per channel (31,584) gives 42,679,816, the count of the timm / Cadene port.
"""
from __future__ import annotations

import keras
from keras import layers

from course.layers.normalization import LocalResponseNormalization
from course.models import register
from course.models.common import avg_pool_branch, concat, conv_bn, pooled_head

AUX_LOSS_WEIGHT = 0.3


# --- GoogLeNet ---------------------------------------------------------------------------

#: Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _relu_conv(x, filters, kernel, name, strides=1):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu",
                         name=name)(x)


def inception_module(x, widths, name):
    """Four parallel branches concatenated: 1x1 | 1x1-3x3 | 1x1-5x5 | 3x3 pool-1x1."""
    n1, r3, n3, r5, n5, pool_proj = widths
    b1 = _relu_conv(x, n1, 1, f"inception{name}_1x1")
    b3 = _relu_conv(_relu_conv(x, r3, 1, f"inception{name}_3x3_reduce"), n3, 3,
                    f"inception{name}_3x3")
    b5 = _relu_conv(_relu_conv(x, r5, 1, f"inception{name}_5x5_reduce"), n5, 5,
                    f"inception{name}_5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"inception{name}_pool")(x)
    bp = _relu_conv(bp, pool_proj, 1, f"inception{name}_pool_proj")
    return layers.Concatenate(name=f"inception{name}_output")([b1, b3, b5, bp])


def _aux_head(x, num_classes, name):
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = _relu_conv(x, 128, 1, f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, name=f"{name}_logits")(x)


@register("googlenet")
def googlenet(input_shape=(224, 224, 3), num_classes=1000, aux_classifiers=False, dropout=0.4):
    """GoogLeNet (Szegedy et al. 2014), 6,998,552 params; aux heads with aux_classifiers=True."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = _relu_conv(x, 64, 7, "conv1_7x7", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = LocalResponseNormalization(name="lrn1")(x)
    x = _relu_conv(x, 64, 1, "conv2_3x3_reduce")
    x = _relu_conv(x, 192, 3, "conv2_3x3")
    x = LocalResponseNormalization(name="lrn2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux = []
    for name, widths in GOOGLENET_MODULES.items():
        if name in ("4a", "5a"):
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{name[0]}")(x)
        x = inception_module(x, widths, name)
        if aux_classifiers and name in ("4a", "4d"):
            aux.append(_aux_head(x, num_classes, f"aux{len(aux) + 1}"))
    outputs = pooled_head(x, num_classes, dropout)
    return keras.Model(inputs, [outputs, *aux] if aux_classifiers else outputs, name="googlenet")


def compile_with_aux(model, optimizer="sgd", aux_weight=AUX_LOSS_WEIGHT, **kwargs):
    """Compile a GoogLeNet with auxiliary heads: loss = main + 0.3 * (aux1 + aux2)."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    n_aux = len(model.outputs) - 1
    model.compile(optimizer=optimizer, loss=[loss] * (n_aux + 1),
                  loss_weights=[1.0] + [aux_weight] * n_aux, **kwargs)
    return model


# --- Inception v3 / v4: built from common.conv_bn (conv + batch norm without scale + ReLU) --

def inception_v3_stem(x):
    """The stem shared by Inception v3 and Inception-ResNet-v2: 299x299x3 -> 35x35x192."""
    x = conv_bn(x, 32, 3, "stem1", strides=2, padding="valid")
    x = conv_bn(x, 32, 3, "stem2", padding="valid")
    x = conv_bn(x, 64, 3, "stem3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x)
    x = conv_bn(x, 80, 1, "stem4", padding="valid")
    x = conv_bn(x, 192, 3, "stem5", padding="valid")
    return layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)


def _v3_block_35(x, pool_filters, name):
    b1 = conv_bn(x, 64, 1, f"{name}_b1x1")
    b5 = conv_bn(conv_bn(x, 48, 1, f"{name}_b5x5_1"), 64, 5, f"{name}_b5x5_2")
    b3 = conv_bn(x, 64, 1, f"{name}_b3x3dbl_1")
    b3 = conv_bn(conv_bn(b3, 96, 3, f"{name}_b3x3dbl_2"), 96, 3, f"{name}_b3x3dbl_3")
    return concat([b1, b5, b3, avg_pool_branch(x, pool_filters, name)], name)


def _v3_block_17(x, width, name):
    """The factorized 7x7 module (Figure 6): 1x7 and 7x1 convolutions."""
    b1 = conv_bn(x, 192, 1, f"{name}_b1x1")
    b7 = conv_bn(x, width, 1, f"{name}_b7x7_1")
    b7 = conv_bn(b7, width, (1, 7), f"{name}_b7x7_2")
    b7 = conv_bn(b7, 192, (7, 1), f"{name}_b7x7_3")
    d = conv_bn(x, width, 1, f"{name}_b7x7dbl_1")
    for i, (kernel, w) in enumerate([((7, 1), width), ((1, 7), width), ((7, 1), width),
                                     ((1, 7), 192)], start=2):
        d = conv_bn(d, w, kernel, f"{name}_b7x7dbl_{i}")
    return concat([b1, b7, d, avg_pool_branch(x, 192, name)], name)


def _v3_block_8(x, name):
    """The expanded-filter-bank module (Figure 7): 1x3 and 3x1 side by side."""
    b1 = conv_bn(x, 320, 1, f"{name}_b1x1")
    b3 = conv_bn(x, 384, 1, f"{name}_b3x3_1")
    b3 = concat([conv_bn(b3, 384, (1, 3), f"{name}_b3x3_2a"),
                  conv_bn(b3, 384, (3, 1), f"{name}_b3x3_2b")], f"{name}_b3x3")
    d = conv_bn(conv_bn(x, 448, 1, f"{name}_b3x3dbl_1"), 384, 3, f"{name}_b3x3dbl_2")
    d = concat([conv_bn(d, 384, (1, 3), f"{name}_b3x3dbl_3a"),
                 conv_bn(d, 384, (3, 1), f"{name}_b3x3dbl_3b")], f"{name}_b3x3dbl")
    return concat([b1, b3, d, avg_pool_branch(x, 192, name)], name)


@register("inception_v3")
def inception_v3(input_shape=(299, 299, 3), num_classes=1000, dropout=0.0):
    """Inception v3 (Szegedy et al. 2015), 23,851,784 params (= keras.applications)."""
    inputs = keras.Input(input_shape, name="image")
    x = inception_v3_stem(layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs))
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _v3_block_35(x, pool_filters, f"mixed{i}")
    b3 = conv_bn(x, 384, 3, "mixed3_b3x3", strides=2, padding="valid")
    d = conv_bn(conv_bn(x, 64, 1, "mixed3_dbl_1"), 96, 3, "mixed3_dbl_2")
    d = conv_bn(d, 96, 3, "mixed3_dbl_3", strides=2, padding="valid")
    x = concat([b3, d, layers.MaxPooling2D(3, strides=2, name="mixed3_pool")(x)], "mixed3")
    for i, width in zip(range(4, 8), (128, 160, 160, 192)):
        x = _v3_block_17(x, width, f"mixed{i}")
    b3 = conv_bn(conv_bn(x, 192, 1, "mixed8_b3x3_1"), 320, 3, "mixed8_b3x3_2", strides=2,
                 padding="valid")
    b7 = conv_bn(x, 192, 1, "mixed8_b7x7x3_1")
    b7 = conv_bn(conv_bn(b7, 192, (1, 7), "mixed8_b7x7x3_2"), 192, (7, 1), "mixed8_b7x7x3_3")
    b7 = conv_bn(b7, 192, 3, "mixed8_b7x7x3_4", strides=2, padding="valid")
    x = concat([b3, b7, layers.MaxPooling2D(3, strides=2, name="mixed8_pool")(x)], "mixed8")
    for i in (9, 10):
        x = _v3_block_8(x, f"mixed{i}")
    return keras.Model(inputs, pooled_head(x, num_classes, dropout), name="inception_v3")


# --- Inception v4 ------------------------------------------------------------------------

def inception_v4_stem(x):
    """Figure 3 of Szegedy et al. 2016: 299x299x3 -> 35x35x384."""
    x = conv_bn(x, 32, 3, "stem1", strides=2, padding="valid")
    x = conv_bn(x, 32, 3, "stem2", padding="valid")
    x = conv_bn(x, 64, 3, "stem3")
    x = concat([layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x),
                 conv_bn(x, 96, 3, "stem4", strides=2, padding="valid")], "stem_concat1")
    a = conv_bn(conv_bn(x, 64, 1, "stem5a_1"), 96, 3, "stem5a_2", padding="valid")
    b = conv_bn(x, 64, 1, "stem5b_1")
    b = conv_bn(conv_bn(b, 64, (7, 1), "stem5b_2"), 64, (1, 7), "stem5b_3")
    b = conv_bn(b, 96, 3, "stem5b_4", padding="valid")
    x = concat([a, b], "stem_concat2")
    return concat([conv_bn(x, 192, 3, "stem6", strides=2, padding="valid"),
                    layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)], "stem_concat3")


def _v4_block_a(x, name):
    b1 = conv_bn(x, 96, 1, f"{name}_b1x1")
    b3 = conv_bn(conv_bn(x, 64, 1, f"{name}_b3x3_1"), 96, 3, f"{name}_b3x3_2")
    d = conv_bn(conv_bn(x, 64, 1, f"{name}_dbl_1"), 96, 3, f"{name}_dbl_2")
    d = conv_bn(d, 96, 3, f"{name}_dbl_3")
    return concat([avg_pool_branch(x, 96, name), b1, b3, d], name)


def _v4_block_b(x, name):
    b1 = conv_bn(x, 384, 1, f"{name}_b1x1")
    b7 = conv_bn(x, 192, 1, f"{name}_b7x7_1")
    b7 = conv_bn(conv_bn(b7, 224, (1, 7), f"{name}_b7x7_2"), 256, (7, 1), f"{name}_b7x7_3")
    d = conv_bn(x, 192, 1, f"{name}_dbl_1")
    for i, (kernel, w) in enumerate([((1, 7), 192), ((7, 1), 224), ((1, 7), 224),
                                     ((7, 1), 256)], start=2):
        d = conv_bn(d, w, kernel, f"{name}_dbl_{i}")
    return concat([avg_pool_branch(x, 128, name), b1, b7, d], name)


def _v4_block_c(x, name):
    b1 = conv_bn(x, 256, 1, f"{name}_b1x1")
    b3 = conv_bn(x, 384, 1, f"{name}_b3x3_1")
    b3 = concat([conv_bn(b3, 256, (1, 3), f"{name}_b3x3_2a"),
                  conv_bn(b3, 256, (3, 1), f"{name}_b3x3_2b")], f"{name}_b3x3")
    d = conv_bn(x, 384, 1, f"{name}_dbl_1")
    d = conv_bn(conv_bn(d, 448, (3, 1), f"{name}_dbl_2"), 512, (1, 3), f"{name}_dbl_3")
    d = concat([conv_bn(d, 256, (1, 3), f"{name}_dbl_4a"),
                 conv_bn(d, 256, (3, 1), f"{name}_dbl_4b")], f"{name}_dbl")
    return concat([avg_pool_branch(x, 256, name), b1, b3, d], name)


def reduction_a(x, k, l, m, n, name="reduction_a"):
    """Figure 7: 35x35 -> 17x17 (k, l, m, n of Table 1 of the paper)."""
    b3 = conv_bn(x, n, 3, f"{name}_b3x3", strides=2, padding="valid")
    d = conv_bn(conv_bn(x, k, 1, f"{name}_dbl_1"), l, 3, f"{name}_dbl_2")
    d = conv_bn(d, m, 3, f"{name}_dbl_3", strides=2, padding="valid")
    return concat([layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x), b3, d], name)


@register("inception_v4")
def inception_v4(input_shape=(299, 299, 3), num_classes=1000, dropout=0.2):
    """Inception v4 (Szegedy et al. 2016), 42,648,232 trainable params."""
    inputs = keras.Input(input_shape, name="image")
    x = inception_v4_stem(layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs))
    for i in range(1, 5):
        x = _v4_block_a(x, f"inception_a{i}")
    x = reduction_a(x, 192, 224, 256, 384)
    for i in range(1, 8):
        x = _v4_block_b(x, f"inception_b{i}")
    b3 = conv_bn(conv_bn(x, 192, 1, "reduction_b_b3x3_1"), 192, 3, "reduction_b_b3x3_2",
                 strides=2, padding="valid")
    b7 = conv_bn(x, 256, 1, "reduction_b_b7x7_1")
    b7 = conv_bn(conv_bn(b7, 256, (1, 7), "reduction_b_b7x7_2"), 320, (7, 1),
                 "reduction_b_b7x7_3")
    b7 = conv_bn(b7, 320, 3, "reduction_b_b7x7_4", strides=2, padding="valid")
    x = concat([layers.MaxPooling2D(3, strides=2, name="reduction_b_pool")(x), b3, b7],
                "reduction_b")
    for i in range(1, 4):
        x = _v4_block_c(x, f"inception_c{i}")
    return keras.Model(inputs, pooled_head(x, num_classes, dropout), name="inception_v4")
