"""Residual networks (He, Zhang, Ren & Sun 2015; He et al. 2016 "Identity Mappings").

- ``resnet18/34/50/101/152``: ImageNet ResNets, basic (two 3x3) or bottleneck (1x1-3x3-1x1)
  blocks, projection shortcuts where the shape changes, stride on the 3x3 conv ("v1.5").
  Trainable parameters without conv biases (torchvision's counts): 11,689,512 / 21,797,672 /
  25,557,032 / 44,549,160 / 60,192,808. With ``use_bias=True`` the models equal
  ``keras.applications.ResNet50/101/152`` (25,636,712 / 44,707,176 / 60,419,944 parameters).
- ``cifar_resnet20/32/44/56/110``: the 6n+2 CIFAR networks of section 4.2 (widths 16/32/64,
  parameter-free option-A shortcuts) and ``cifar_plain*``, the same layers without shortcuts.
- ``preact_resnet110`` (basic) and ``preact_resnet164`` (bottleneck): full pre-activation
  blocks; ``variant="a".."e"`` selects the five block designs of Figure 4 of the 2016 paper.
"""
from __future__ import annotations

import functools

import keras
from keras import layers

from course.layers.residual import ZeroPadShortcut
from course.models import register
from course.models.common import pooled_head

#: ImageNet ResNets: block type and blocks per stage (Table 1 of He et al. 2015).
RESNET_STAGES = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
                 50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
                 152: ("bottleneck", [3, 8, 36, 3])}
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
VARIANTS = ("a", "b", "c", "d", "e")
BN_EPSILON = 1.001e-5


def _bn(x, name):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)


def _conv(x, filters, kernel, name, strides=1, use_bias=False):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=use_bias,
                         kernel_initializer="he_normal", name=name)(x)


def _projection(x, filters, strides, name, use_bias=False, bn=True):
    x = _conv(x, filters, 1, f"{name}_proj_conv", strides, use_bias)
    return _bn(x, f"{name}_proj_bn") if bn else x


def basic_block(x, filters, name, strides=1, shortcut="projection", use_bias=False,
                residual=True):
    """Two 3x3 convs with BN; adds the shortcut, then ReLU (post-activation, 2015)."""
    y = layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, filters, 3, f"{name}_conv1", strides,
                                                   use_bias), f"{name}_bn1"))
    y = _bn(_conv(y, filters, 3, f"{name}_conv2", 1, use_bias), f"{name}_bn2")
    if residual:
        if strides != 1 or x.shape[-1] != filters:
            x = (ZeroPadShortcut(filters, strides, name=f"{name}_shortcut")(x)
                 if shortcut == "zero_pad" else _projection(x, filters, strides, name, use_bias))
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_out")(y)


def bottleneck_block(x, filters, name, strides=1, use_bias=False, expansion=4):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand to ``expansion * filters``; add, ReLU."""
    y = layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, filters, 1, f"{name}_conv1", 1, use_bias),
                                             f"{name}_bn1"))
    y = layers.ReLU(name=f"{name}_relu2")(_bn(_conv(y, filters, 3, f"{name}_conv2", strides,
                                                   use_bias), f"{name}_bn2"))
    y = _bn(_conv(y, expansion * filters, 1, f"{name}_conv3", 1, use_bias), f"{name}_bn3")
    if strides != 1 or x.shape[-1] != expansion * filters:
        x = _projection(x, expansion * filters, strides, name, use_bias)
    y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet(depth, input_shape=(224, 224, 3), num_classes=1000, use_bias=False):
    """ImageNet ResNet-``depth`` from its row of ``RESNET_STAGES``."""
    if depth not in RESNET_STAGES:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_STAGES)}, got {depth}")
    kind, blocks = RESNET_STAGES[depth]
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, kernel_initializer="he_normal",
                      name="conv1_conv")(x)
    x = layers.ReLU(name="conv1_relu")(_bn(x, "conv1_bn"))
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        filters = 64 * 2 ** (stage - 2)
        for b in range(1, count + 1):
            strides = 2 if b == 1 and stage > 2 else 1
            name = f"conv{stage}_block{b}"
            if kind == "basic":
                x = basic_block(x, filters, name, strides, use_bias=use_bias)
            else:
                x = bottleneck_block(x, filters, name, strides, use_bias=use_bias)
    return keras.Model(inputs, pooled_head(x, num_classes), name=f"resnet{depth}")


def cifar_resnet(depth, input_shape=(32, 32, 3), num_classes=10, residual=True):
    """The 6n+2 CIFAR ResNet (``residual=True``) or its plain twin (He et al. 2015, sec. 4.2)."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
    n = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.ReLU(name="conv1_relu")(_bn(_conv(x, 16, 3, "conv1_conv"), "conv1_bn"))
    for stage, filters in enumerate((16, 32, 64), start=1):
        for b in range(1, n + 1):
            strides = 2 if b == 1 and stage > 1 else 1
            x = basic_block(x, filters, f"stage{stage}_block{b}", strides, shortcut="zero_pad",
                            residual=residual)
    kind = "resnet" if residual else "plain"
    return keras.Model(inputs, pooled_head(x, num_classes), name=f"cifar_{kind}{depth}")


def preact_block(x, filters, name, strides=1, variant="e", bottleneck=False):
    """A residual block of He et al. 2016, Fig. 4: (a) original, (b) BN after addition,
    (c) ReLU before addition, (d) ReLU-only pre-activation, (e) full pre-activation."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    out_filters = 4 * filters if bottleneck else filters
    kernels = (1, 3, 1) if bottleneck else (3, 3)
    widths = (filters, filters, out_filters) if bottleneck else (filters, filters)
    strides_at = 1 if bottleneck else 0
    needs_projection = strides != 1 or x.shape[-1] != out_filters
    shortcut = x
    if variant == "e":
        x = layers.ReLU(name=f"{name}_preact_relu")(_bn(x, f"{name}_preact_bn"))
        if needs_projection:  # pre-activated input feeds both paths
            shortcut = x
    elif variant == "d":
        x = layers.ReLU(name=f"{name}_preact_relu")(x)
    y = x
    last = len(kernels) - 1
    for i, (k, w) in enumerate(zip(kernels, widths)):
        y = _conv(y, w, k, f"{name}_conv{i + 1}", strides if i == strides_at else 1)
        if variant == "e" and i < last:
            y = layers.ReLU(name=f"{name}_relu{i + 1}")(_bn(y, f"{name}_bn{i + 1}"))
        elif variant == "e":
            pass  # full pre-activation: the sum is not normalised
        elif i < last:
            y = layers.ReLU(name=f"{name}_relu{i + 1}")(_bn(y, f"{name}_bn{i + 1}"))
        elif variant in ("a", "c", "d"):
            y = _bn(y, f"{name}_bn{i + 1}")
            if variant == "c":
                y = layers.ReLU(name=f"{name}_relu{i + 1}")(y)
    if needs_projection:
        shortcut = _projection(shortcut, out_filters, strides, name, bn=variant in ("a", "b", "c"))
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    if variant == "b":
        y = _bn(y, f"{name}_bn_after_add")
    if variant in ("a", "b"):
        y = layers.ReLU(name=f"{name}_out")(y)
    return y


def preact_resnet(depth, input_shape=(32, 32, 3), num_classes=10, variant="e",
                  bottleneck=None):
    """Pre-activation CIFAR ResNet: basic blocks (6n+2) or bottlenecks (9n+2, widths x4)."""
    bottleneck = depth >= 164 if bottleneck is None else bottleneck
    per_block = 3 if bottleneck else 2
    if (depth - 2) % (3 * per_block):
        raise ValueError(f"depth {depth} is not {3 * per_block}n+2")
    n = (depth - 2) // (3 * per_block)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = _conv(x, 16, 3, "conv1_conv")
    if variant != "e":
        x = layers.ReLU(name="conv1_relu")(_bn(x, "conv1_bn"))
    for stage, filters in enumerate((16, 32, 64), start=1):
        for b in range(1, n + 1):
            strides = 2 if b == 1 and stage > 1 else 1
            x = preact_block(x, filters, f"stage{stage}_block{b}", strides, variant, bottleneck)
    if variant in ("d", "e"):  # the last block's sum is not yet normalised
        x = layers.ReLU(name="post_relu")(_bn(x, "post_bn"))
    return keras.Model(inputs, pooled_head(x, num_classes), name=f"preact_resnet{depth}")


for _depth, (_kind, _) in RESNET_STAGES.items():
    register(f"resnet{_depth}", functools.partial(resnet, _depth),
             f"ResNet-{_depth} (He et al. 2015), {_kind} blocks.")
for _depth in CIFAR_DEPTHS:
    register(f"cifar_resnet{_depth}", functools.partial(cifar_resnet, _depth),
             f"CIFAR ResNet-{_depth} (He et al. 2015, sec. 4.2).")
    register(f"cifar_plain{_depth}", functools.partial(cifar_resnet, _depth, residual=False),
             f"CIFAR plain net-{_depth} (He et al. 2015, sec. 4.2), no shortcuts.")
for _depth in (110, 164):
    register(f"preact_resnet{_depth}",
             functools.partial(preact_resnet, _depth, bottleneck=_depth >= 164),
             f"Pre-activation ResNet-{_depth} (He et al. 2016), "
             f"{'bottleneck' if _depth == 164 else 'basic'} blocks, variants a-e.")
