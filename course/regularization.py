"""Weight penalties: L2 (weight decay), L1 and the elastic net (Zou & Hastie 2005).

Keras already has the regularizers (``keras.regularizers.L1``, ``L2``, ``L1L2``); what it lacks
is a way to put one on every kernel of a model you already built. ``with_regularizer(model, reg)``
rebuilds the model from its config with ``kernel_regularizer=reg`` on each Conv/Dense layer and
copies the weights over. The penalty ``reg(w)`` is added to the loss: L2 ``l2 * sum(w^2)``,
L1 ``l1 * sum(|w|)`` (drives weights to exactly zero), elastic net both.
"""
from __future__ import annotations

import keras


def l1(strength=1e-4):
    return keras.regularizers.L1(strength)


def l2(strength=1e-4):
    return keras.regularizers.L2(strength)


def elastic_net(l1_strength=1e-5, l2_strength=1e-4):
    return keras.regularizers.L1L2(l1=l1_strength, l2=l2_strength)


def with_regularizer(model: keras.Model, regularizer) -> keras.Model:
    """A copy of a functional ``model`` whose conv and dense kernels carry ``regularizer``."""
    config = model.get_config()
    kinds = {"Conv2D", "Dense", "DepthwiseConv2D", "SeparableConv2D"}
    for layer in config["layers"]:
        if layer["class_name"] in kinds:
            layer["config"]["kernel_regularizer"] = keras.regularizers.serialize(regularizer)
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def penalty(model: keras.Model) -> float:
    """The total weight penalty the model currently adds to its loss."""
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
