"""Transfer learning: freeze layers, put a new head on a trained network, fine-tune with
discriminative learning rates.

The lecture's tip (after Yosinski et al. 2014 and Howard & Ruder 2018): train the new head at the
base rate, the middle of the pretrained network 10x slower and the early layers 100x slower (or
frozen), because early features (edges, colours) transfer best. A recipe asks for it with
``layer_lr_multipliers=((None, 0.01), ("stage2_block1_conv1", 0.1), ("new_logits", 1.0))``;
``course.optimizers.DiscriminativeSGD`` applies it.
"""
from __future__ import annotations

import keras


def freeze(model: keras.Model, up_to: str | int | None = None) -> keras.Model:
    """Make layers untrainable: all of them, or those before layer ``up_to`` (name or index)."""
    stop = len(model.layers) if up_to is None else layer_index(model, up_to)
    for layer in model.layers[:stop]:
        layer.trainable = False
    return model


def unfreeze(model: keras.Model) -> keras.Model:
    for layer in model.layers:
        layer.trainable = True
    return model


def layer_index(model, name_or_index) -> int:
    """Index in ``model.layers`` of a layer given by name (or an index, returned as is)."""
    if isinstance(name_or_index, int):
        return name_or_index
    names = [layer.name for layer in model.layers]
    if name_or_index not in names:
        raise ValueError(f"No layer named {name_or_index!r}; layers are: {', '.join(names)}")
    return names.index(name_or_index)


def layer_multipliers(model: keras.Model, groups) -> dict:
    """Learning-rate multipliers per variable path from ``[(first_layer_name, multiplier), ...]``.

    Each group starts at the named layer (``None``: the first) and runs to the next group's
    start, e.g. ``[(None, 0.01), ("conv3", 0.1), ("head", 1.0)]``: early layers 0.01x, middle
    0.1x, head 1x.
    """
    starts = [0 if name is None else layer_index(model, name) for name, _ in groups]
    multipliers = {}
    for (_, mult), start, end in zip(groups, starts, starts[1:] + [len(model.layers)]):
        for layer in model.layers[start:end]:
            for variable in layer.trainable_weights:
                multipliers[variable.path] = float(mult)
    return multipliers


def with_new_head(network: keras.Model, num_classes: int, name: str = "new_logits"):
    """``network`` up to its ``features`` layer (the course's model contract) with a fresh
    dense classifier named ``name``."""
    features = network.get_layer("features").output
    outputs = keras.layers.Dense(num_classes, name=name)(features)
    return keras.Model(network.inputs, outputs, name=f"{network.name}_new_head")


def copy_model(model: keras.Model) -> keras.Model:
    """An independent copy of a functional model with the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
