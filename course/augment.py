"""The course's one augmentation vocabulary: short names for Keras preprocessing layers.

A recipe asks for ``augment=("flip", "pad_crop:2")``; ``layers(...)`` turns the names into Keras
layers (random while training, the identity or a centre crop at inference). The same layers run
in two places:

- inside the ``tf.data`` input pipeline (``course.data.pipeline(..., augment=names)``), on
  float32 batches of raw 0-255 pixels, so nothing is written to disk (on the JAX and PyTorch
  backends only Keras' own layers can run there: ``course.training.train`` then applies the
  course's layers inside the model during training instead, see ``runs_in_tf_data``);
- inside a model (``cifar10_cnn`` and ``mnist_deep_cnn`` build theirs from these names), so a
  saved ``.keras`` file carries its augmentation.

Keras' random layers are active unless told otherwise: ``model(x)`` on a model with augmentation
inside augments; ``model.predict(x)`` and ``model(x, training=False)`` do not.

A name may carry one number after a colon, its strength:

================  ==========================================================  =======
name              layer                                                       default
================  ==========================================================  =======
``flip``          ``keras.layers.RandomFlip("horizontal")``                   -
``pad_crop:P``    pad P pixels (reflect), random crop back (He et al. 2015)   4
``translate:P``   the same with zero padding (digits)                         2
``crop:S``        random S x S crop; centre crop at inference (TF tutorial)   24
``brightness:D``  add one offset in [-D, D] per image, clip to 0-255          63
``contrast:F``    scale each channel's deviation by [1 - F, 1 + F], clip      0.8
``rotate:F``      ``keras.layers.RandomRotation(F)`` (fraction of a turn)     0.03
``shift:F``       ``keras.layers.RandomTranslation(F, F)`` (fraction, zeros)  0.1
``zoom:F``        ``keras.layers.RandomZoom(F)`` (zeros outside)              0.1
``pca_color:S``   AlexNet's colour PCA, alpha ~ N(0, S); fit with ``adapt``   0.1
================  ==========================================================  =======
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Augmentation:
    make: Callable  # (strength, seed, name) -> keras layer
    default: float
    description: str


def _keras():
    import keras

    return keras


def _pad_crop(mode):
    def make(padding, seed, name):
        from course.preprocessing import RandomPadCrop

        return RandomPadCrop(int(padding), mode=mode, seed=seed, name=name)
    return make


def _crop(size, seed, name):
    from course.preprocessing import RandomCrop

    return RandomCrop(int(size), int(size), seed=seed, name=name)


def _pca(std, seed, name):
    from course.preprocessing import PCAColorAugmentation

    return PCAColorAugmentation(std, seed=seed, name=name)


AUGMENTATIONS = {
    "flip": Augmentation(
        lambda _, seed, name: _keras().layers.RandomFlip("horizontal", seed=seed, name=name),
        0, "mirror left-right with probability 1/2"),
    "pad_crop": Augmentation(_pad_crop("reflect"), 4, "random translation by reflect-pad + crop"),
    "translate": Augmentation(_pad_crop("constant"), 2, "random translation by zero-pad + crop"),
    "crop": Augmentation(_crop, 24, "random square crop, centre crop at inference"),
    "brightness": Augmentation(
        lambda d, seed, name: _keras().layers.RandomBrightness(
            d / 255, value_range=(0, 255), seed=seed, name=name),
        63, "add a random offset per image"),
    "contrast": Augmentation(
        lambda f, seed, name: _keras().layers.RandomContrast(
            f, value_range=(0, 255), seed=seed, name=name),
        0.8, "scale deviations from the channel mean"),
    "rotate": Augmentation(
        lambda f, seed, name: _keras().layers.RandomRotation(
            f, fill_mode="constant", seed=seed, name=name),
        0.03, "random rotation (fraction of a full turn)"),
    "shift": Augmentation(
        lambda f, seed, name: _keras().layers.RandomTranslation(
            f, f, fill_mode="constant", seed=seed, name=name),
        0.1, "random sub-pixel translation (fraction of the size)"),
    "zoom": Augmentation(
        lambda f, seed, name: _keras().layers.RandomZoom(f, fill_mode="constant", seed=seed,
                                                           name=name),
        0.1, "random zoom in or out"),
    "pca_color": Augmentation(_pca, 0.1, "AlexNet's colour PCA (call adapt first)"),
}


#: Names served by Keras' own preprocessing layers, which also run inside ``tf.data`` on the JAX
#: and PyTorch backends; the others are the course's layers (``course.preprocessing``), which
#: compute with ``keras.ops`` and so run inside ``tf.data`` on the TensorFlow backend only.
KERAS_BUILTIN = frozenset({"flip", "brightness", "contrast", "rotate", "shift", "zoom"})


def runs_in_tf_data(specs) -> bool:
    """True when the augmentations can be mapped over a ``tf.data`` pipeline on this backend."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return True
    return all(parse(spec)[0] in KERAS_BUILTIN for spec in check(specs))


def parse(spec: str) -> tuple[str, float]:
    """``"pad_crop:2"`` -> ``("pad_crop", 2.0)``; the default strength when no number is given."""
    base, _, arg = str(spec).partition(":")
    if base not in AUGMENTATIONS:
        raise ValueError(
            f"Unknown augmentation {spec!r}. Known: {', '.join(AUGMENTATIONS)} (optionally with "
            "a strength, e.g. 'pad_crop:2'); see course.augment.")
    if not arg:
        return base, AUGMENTATIONS[base].default
    try:
        return base, float(arg)
    except ValueError:
        raise ValueError(f"Augmentation {spec!r}: the part after ':' must be a number, "
                         f"e.g. '{base}:{AUGMENTATIONS[base].default}'.") from None


def check(specs) -> tuple:
    """``specs`` as a tuple, each name checked (raises ValueError naming the bad one)."""
    if isinstance(specs, str):
        raise ValueError(f"augment must be a sequence of names, e.g. ({specs!r},), not a string.")
    specs = tuple(specs or ())
    for spec in specs:
        parse(spec)
    return specs


def layer(spec: str, seed: int | None = None, name: str | None = None):
    """The Keras layer for one augmentation name (see the table above)."""
    base, strength = parse(spec)
    return AUGMENTATIONS[base].make(strength, seed, name or f"random_{base}")


def layers(specs, seed: int | None = None) -> list:
    """Keras layers for ``specs`` in order; layer ``i`` is seeded with ``seed + i``."""
    return [layer(spec, None if seed is None else seed + i) for i, spec in enumerate(check(specs))]


def sequential(specs, seed: int | None = None):
    """``keras.Sequential`` of ``layers(specs)``: call it with ``training=True`` to augment."""
    return _keras().Sequential(layers(specs, seed), name="augmentation")
