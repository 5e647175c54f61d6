"""The architecture zoo: ``create(name, **options)`` builds a Keras model, ``names()`` lists them.

Each family lives in its own module (``lenet.py``, ``resnet.py``, ...) and registers its builders
with ``@register("name")``; family modules are found automatically. Training is not this
module's business: how to train a model on a data set the course has is a *recipe*
(``course.recipes``).

Every registered model follows one contract, checked by one test over the whole registry:

- input: raw pixels (float, 0-255, NHWC); the model scales them itself;
- a layer named ``features`` whose output is the vector (N, D) the classifier reads;
- the last layer is named ``logits`` and gives (N, num_classes) scores (no softmax).

``backbone(model)`` cuts a model at ``features``; ``course.transfer.with_new_head`` puts a new
classifier on it.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

_REGISTRY: dict[str, "Architecture"] = {}
#: Modules of this package that are not model families.
_NOT_FAMILIES = {"common"}


@dataclass(frozen=True)
class Architecture:
    name: str
    builder: Callable
    family: str
    summary: str

    def options(self) -> dict:
        """The keyword arguments ``create`` accepts for this model, with their defaults
        (those a registration fixed with ``functools.partial`` are not options)."""
        fixed = set(getattr(self.builder, "keywords", None) or ())
        return {p.name: p.default for p in inspect.signature(self.builder).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in fixed}


class UnknownModelError(KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class UnknownOptionError(TypeError):
    """A keyword argument that the model's builder does not take."""


def register(name: str, builder: Callable | None = None, summary: str | None = None):
    """Add a builder to the registry under ``name``.

    As a decorator: ``@register("vgg16")``. For a family built from a table, pass the builder
    with its table row bound positionally: ``register("vgg16", functools.partial(vgg, 16),
    "VGG-16 ...")``, so ``create("vgg16", depth=19)`` is an error rather than a VGG-19.
    """

    def add(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model name {name!r} is registered twice")
        target = builder.func if isinstance(builder, functools.partial) else builder
        doc = (summary or target.__doc__ or "").strip().splitlines()
        family = target.__module__.rsplit(".", 1)[-1]
        _REGISTRY[name] = Architecture(name, builder, family, doc[0] if doc else "")
        return builder

    return add(builder) if builder is not None else add


@functools.cache
def families() -> tuple[str, ...]:
    """The family modules (``lenet``, ``resnet``, ...), imported on first call."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in _NOT_FAMILIES:
            continue
        importlib.import_module(f"{__name__}.{module.name}")
        found.append(module.name)
    return tuple(sorted(found))


def names(family: str | None = None) -> list[str]:
    """All registered model names (of one family, if given), sorted."""
    families()
    return sorted(n for n, a in _REGISTRY.items() if family in (None, a.family))


def entry(name: str) -> Architecture:
    """The registry entry (builder, family, one-line summary) for ``name``."""
    families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} List the models with `python -m course models`.")
    return _REGISTRY[name]


def create(name: str, **options):
    """Build the registered model ``name``; ``options`` go to its builder (checked by name)."""
    architecture = entry(name)
    accepted = architecture.options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UnknownOptionError(
            f"create({name!r}) got unknown option(s) {', '.join(unknown)}; {name} takes "
            f"{', '.join(f'{k}={v!r}' for k, v in accepted.items())}.")
    return architecture.builder(**options)


def backbone(model):
    """``model`` from its input to its ``features`` layer: the (N, D) representation."""
    import keras

    return keras.Model(model.inputs, model.get_layer("features").output,
                       name=f"{model.name}_backbone")
