"""Saving and loading ``.keras`` files that use the course's layers, losses and schedules.

Keras finds a custom class in a saved file by its registered name (``course>PatchWhitening``),
so the class must be registered, i.e. its module imported, before loading. ``register_all()``
imports every module that registers something; ``load_model`` calls it, and so does the grader,
so whatever ``course.grading.export_submission`` accepts, the grader can load.
"""
from __future__ import annotations

import importlib

#: Modules whose import registers objects with ``keras.saving.register_keras_serializable``.
REGISTERING_MODULES = ("course.layers", "course.preprocessing", "course.losses",
                       "course.optimizers", "course.models.lenet")


def register_all() -> dict:
    """Import every registering module; return ``{registered name: object}`` of the course's."""
    import keras

    for module in REGISTERING_MODULES:
        importlib.import_module(module)
    return {name: obj for name, obj in keras.saving.get_custom_objects().items()
            if name.startswith("course>")}


def load_model(path, compile: bool = False, safe_mode: bool = True):
    """``keras.saving.load_model`` after ``register_all()``; safe mode (no code from the file
    runs) and no compiling by default."""
    import keras

    register_all()
    return keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
