"""course: convolutional neural networks taught with Keras 3 / TensorFlow.

``import course`` registers the custom layers, so saved ``.keras`` models load.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter quiet

from course import config, data  # noqa: E402
from course import layers, losses, preprocessing  # noqa: E402,F401  (registers custom objects)
# Schedules and optimizers a compiled model may carry (OneCycle, DiscriminativeSGD/Adam): a
# saved model's compile config names them even when it is loaded with compile=False.
from course import training, transfer  # noqa: E402,F401

__version__ = "0.1.0"
__all__ = ["config", "data", "layers", "losses", "models", "training", "transfer"]


def __getattr__(name):  # the rest load on first use (plotting, grading, lesson-only modules)
    import importlib

    if name in {"models", "analysis", "visualize", "grading", "exercises", "regularization",
                "convolution", "conv_arithmetic"}:
        return importlib.import_module(f"course.{name}")
    raise AttributeError(f"module 'course' has no attribute {name!r}")
