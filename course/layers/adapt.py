"""Layers that learn their weights from data before training: one protocol, one check.

Such a layer (``PatchWhitening``, the fitted normalisations of ``course.preprocessing``,
``PCAColorAugmentation``) subclasses ``LearnsFromData``: it has ``adapt(images)`` and an
``is_adapted`` flag stored as a weight, so a saved ``.keras`` file remembers it. Until ``adapt``
runs, such a layer would silently compute with placeholder weights (a mean of 0, a zero filter):
``course.training`` refuses to fit a model with ``unadapted_layers`` and says what to call.
"""
from __future__ import annotations

import keras
import numpy as np

from course.layers.walk import walk


class LearnsFromData(keras.layers.Layer):
    """Base for layers whose weights come from ``adapt(data)``; call ``add_adapted_flag()`` in
    ``build`` and ``mark_adapted()`` at the end of ``adapt``."""

    def add_adapted_flag(self):
        self.adapted = self.add_weight(name="adapted", shape=(), initializer="zeros",
                                       trainable=False)

    def mark_adapted(self):
        self.adapted.assign(1.0)

    @property
    def is_adapted(self) -> bool:
        return bool(self.built and float(np.asarray(self.adapted)) == 1.0)

    def adapt(self, data):  # pragma: no cover - each subclass implements it
        raise NotImplementedError


def unadapted_layers(model) -> list:
    """The layers of ``model`` (nested ones included) that learn from data and have not yet."""
    return [layer for layer in walk(model)
            if isinstance(layer, LearnsFromData) and not layer.is_adapted]


def adapt_layers(model, images, batch_size: int = 500) -> list[str]:
    """Adapt every un-adapted layer of ``model`` on ``images`` (raw pixels), each seeing what
    reaches it through the layers before it. Returns the adapted layers' names."""
    adapted = []
    images = np.asarray(images, dtype="float32")
    for layer in unadapted_layers(model):
        try:
            prefix = keras.Model(model.input, layer.input)
        except ValueError as err:
            raise ValueError(
                f"Layer {layer.name!r} sits inside a nested model, so adapt_layers cannot feed "
                f"it: call {layer.name}.adapt(...) on its own inputs before nesting.") from err
        # direct calls, not predict: predict traces a new function for every prefix model
        # (TensorFlow's retracing warning when several models are adapted in one process)
        seen = [keras.ops.convert_to_numpy(prefix(images[start:start + batch_size],
                                                  training=False))
                for start in range(0, len(images), batch_size)]
        layer.adapt(np.concatenate(seen))
        adapted.append(layer.name)
    return adapted


def require_adapted(model) -> None:
    """Raise ValueError naming every un-adapted layer and the call that fixes it."""
    missing = [layer.name for layer in unadapted_layers(model)]
    if missing:
        raise ValueError(
            f"Layer(s) {', '.join(missing)} learn their weights from data and have not seen any: "
            "call course.layers.adapt_layers(model, x_train[:5000]) before fitting "
            "(course.training.train does it for you).")
