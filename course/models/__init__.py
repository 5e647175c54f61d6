"""The model registry: ``create(name, **kwargs)`` builds a Keras model, ``names()`` lists them.

Each family lives in its own module (``mnist.py``, ``resnet.py``, ...) and registers its builders
with ``@register("name", recipe=Recipe(...))``. The recipe holds the training defaults that
``python -m course train NAME`` uses.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Callable

import keras

_REGISTRY: dict[str, "Entry"] = {}

# Family modules, imported on first use so ``import course`` stays fast.
_FAMILY_MODULES = [
    "course.models.mnist",
    "course.models.cifar100_reference",
    "course.models.lenet",
    "course.models.alexnet",
    "course.models.vgg",
    "course.models.nin",
    "course.models.resnet",
    "course.models.inception",
    "course.models.inception_resnet",
    "course.models.cifar10",
    "course.models.learned_strides",
]


@dataclass(frozen=True)
class Recipe:
    """Training defaults for a registered model (used by ``course.training.train``)."""

    data: str = "mnist"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9  # SGD (Nesterov) momentum
    schedule: str = "cosine"  # "constant", "cosine", "one_cycle", "step"
    schedule_args: dict = field(default_factory=dict)  # e.g. OneCycle's warmup/start/end factors
    weight_decay: float = 0.0  # decoupled: each step multiplies weights by 1 - lr * weight_decay
    bn_bias_lr_multiplier: float = 1.0  # learning-rate factor for batch-norm shifts (airbench)
    lookahead: bool = False  # Lookahead weight averaging (course.training.Lookahead)
    label_smoothing: float = 0.0
    augment: tuple = ()  # names understood by course.data.augmentation, e.g. ("flip", "crop")
    validation_split: float = 0.0
    tta_flip: bool = False  # test-time averaging with the mirrored images
    tta_translate: bool = False  # ... and with images shifted by one pixel (needs tta_flip)
    precise_bn: bool = True  # re-estimate batch-norm statistics after training
    mixed_precision: str = "off"  # "off", "auto" (bfloat16 where the CPU has it), "bfloat16"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable[..., keras.Model]
    recipe: Recipe
    summary: str


class UnknownModelError(KeyError):
    """Raised for a model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def register(name: str, recipe: Recipe | None = None):
    """Decorator: add a builder to the registry under ``name``."""

    def decorate(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model name {name!r} is registered twice")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Entry(name, builder, recipe or Recipe(), doc[0] if doc else "")
        return builder

    return decorate


def _load_families() -> None:
    for module in _FAMILY_MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    """All registered model names, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry (builder, recipe, one-line summary) for ``name``."""
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}. "
            "List them with `python -m course models`."
        )
    return _REGISTRY[name]


def create(name: str, **kwargs) -> keras.Model:
    """Build the registered model ``name``; keyword arguments go to its builder."""
    return entry(name).builder(**kwargs)


def recipe(name: str) -> Recipe:
    """The training defaults registered with ``name``."""
    return entry(name).recipe
