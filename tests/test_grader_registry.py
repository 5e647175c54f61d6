"""Item 5: everything export_submission accepts, the grader accepts.

Every layer that ``course.saving.register_all()`` registers is put in a tiny model that takes a
32x32x3 image, exported with ``export_submission`` and graded, all in one grading run (one
worker, one test set). A new registered layer whose constructor needs arguments must get a line
in ``FACTORIES``; the test fails with that instruction rather than skipping it.
"""
from __future__ import annotations

import keras
import numpy as np

from course import grading
from course.grading.artifact.grader import TestSet
from course.saving import register_all

#: How to put each registered layer after a 32x32 image: ``(build(cls, x) -> tensor)``. Layers
#: missing here are built with ``cls()`` on the image itself.
FACTORIES = {
    "course>LocalResponseNormalization": lambda cls, x: cls()(keras.layers.Conv2D(8, 3)(x)),
    "course>TrainableSubsampling": lambda cls, x: cls()(keras.layers.Conv2D(6, 3)(x)),
    "course>PartiallyConnectedConv2D": lambda cls, x: cls()(keras.layers.Conv2D(6, 3)(x)),
    "course>ZeroPadShortcut": lambda cls, x: cls(16)(keras.layers.Conv2D(8, 3)(x)),
    "course>ScaledResidual": lambda cls, x: cls(0.2)([x, keras.layers.Conv2D(3, 3,
                                                                              padding="same")(x)]),
    "course>InvertedDropout": lambda cls, x: cls(0.5)(x),
    "course>MatmulGradientConv2D": lambda cls, x: cls(8, 3, padding="same")(x),
    "course>SpectralPooling": lambda cls, x: cls(16)(x),
    "course>ShiftMirror": lambda cls, x: cls(1, True)(x),
    "course>CropMirror": lambda cls, x: cls(2, 2, 24, True)(x),
    "course>ScaleMirror": lambda cls, x: cls(1.25, True)(x),
    "course>RandomCrop": lambda cls, x: cls(24, 24)(x),
}


def _layer_classes():
    return {name: obj for name, obj in sorted(register_all().items())
            if isinstance(obj, type) and issubclass(obj, keras.layers.Layer)}


def _model_around(name, cls, images):
    inputs = keras.Input((32, 32, 3), name="image")
    build = FACTORIES.get(name, lambda c, x: c()(x))
    try:
        x = build(cls, inputs)
    except TypeError as err:
        raise AssertionError(f"{name} needs constructor arguments: add it to FACTORIES in "
                             f"{__file__} ({err})") from err
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(100, name="logits")(x))
    from course.layers import adapt_layers

    adapt_layers(model, images)  # data-initialised layers (whitening, fitted statistics)
    return model


def test_every_registered_course_layer_exports_and_grades(tmp_path):
    classes = _layer_classes()
    assert len(classes) >= 19, sorted(classes)  # the layers the course had when this was written
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3)).astype(np.uint8)
    paths = {}
    for name, cls in classes.items():
        model = _model_around(name, cls, images)
        paths[name] = grading.export_submission(
            model, tmp_path / f"{name.split('>')[1]}.keras")
    test_set = TestSet(images, rng.integers(0, 100, len(images)), None,
                       {"name": "cifar100", "path": "(random images)", "sha256": None,
                        "verified": None})
    reports = grading.grade_paths(list(paths.values()), "cifar100", test_set=test_set)
    for name, report in zip(paths, reports):
        assert report.verdict in ("PASS", "FAIL"), (name, report.cause, report.reason,
                                                    report.detail)
