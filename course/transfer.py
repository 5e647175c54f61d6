"""Transfer learning: freeze layers, fine-tune with discriminative learning rates.

The lecture's tip (after Yosinski et al. 2014 and Howard & Ruder 2018): train the new head at the
base rate, the middle of the pretrained network 10x slower and the early layers 100x slower (or
frozen), because early features (edges, colours) transfer best.
"""
from __future__ import annotations

import keras


def freeze(model: keras.Model, up_to: str | int | None = None) -> keras.Model:
    """Make layers untrainable: all of them, or those before layer ``up_to`` (name or index)."""
    stop = len(model.layers) if up_to is None else _index(model, up_to)
    for layer in model.layers[:stop]:
        layer.trainable = False
    return model


def unfreeze(model: keras.Model) -> keras.Model:
    for layer in model.layers:
        layer.trainable = True
    return model


def _index(model, name_or_index):
    if isinstance(name_or_index, int):
        return name_or_index
    names = [layer.name for layer in model.layers]
    if name_or_index not in names:
        raise ValueError(f"No layer named {name_or_index!r}; layers are: {', '.join(names)}")
    return names.index(name_or_index)


def layer_multipliers(model: keras.Model, groups: list[tuple[str | None, float]]) -> dict:
    """Learning-rate multipliers per variable path from ``[(first_layer_name, multiplier), ...]``.

    Each group starts at the named layer and runs to the next group's start, e.g.
    ``[(None, 0.01), ("conv3", 0.1), ("head", 1.0)]``: early layers 0.01x, middle 0.1x, head 1x.
    """
    starts = [0 if name is None else _index(model, name) for name, _ in groups]
    multipliers = {}
    for (name, mult), start, end in zip(groups, starts, starts[1:] + [len(model.layers)]):
        for layer in model.layers[start:end]:
            for variable in layer.trainable_weights:
                multipliers[variable.path] = float(mult)
    return multipliers


def _discriminative(base):
    class Discriminative(base):
        """``base`` optimizer whose learning rate is multiplied per variable (by its path)."""

        def __init__(self, multipliers=None, **kwargs):
            super().__init__(**kwargs)
            self.multipliers = dict(multipliers or {})

        def update_step(self, gradient, variable, learning_rate):
            # The backend may pass its own variable type: look the Keras variable up by index.
            path = self._trainable_variables[self._get_variable_index(variable)].path
            factor = self.multipliers.get(path, 1.0)
            return super().update_step(gradient, variable, learning_rate * factor)

        def get_config(self):
            return {**super().get_config(), "multipliers": self.multipliers}

    Discriminative.__name__ = f"Discriminative{base.__name__}"
    return keras.saving.register_keras_serializable(package="course")(Discriminative)


DiscriminativeSGD = _discriminative(keras.optimizers.SGD)
DiscriminativeAdam = _discriminative(keras.optimizers.Adam)
