"""One way to walk a model's layers, with public Keras API only."""
from __future__ import annotations


def walk(model):
    """Every layer of ``model`` depth-first, descending into nested models (``.layers``);
    a nested model is yielded before its own layers."""
    for layer in getattr(model, "layers", ()):
        yield layer
        if getattr(layer, "layers", None):
            yield from walk(layer)


def layers_of_type(model, kinds) -> list:
    """The layers of ``model`` (nested ones included) that are instances of ``kinds``."""
    return [layer for layer in walk(model) if isinstance(layer, kinds)]
