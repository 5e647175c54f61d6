"""course: convolutional neural networks taught with Keras 3.

``import course`` is light: submodules load on first use (``course.models``, ``course.training``,
...), and TensorFlow's C++ start-up notices are kept out of the output (``course._startup``).
``course.load_model(path)`` loads a saved ``.keras`` file that uses the course's layers;
``course.doctor()`` checks the environment (as ``python -m course doctor`` does).
"""
from course._startup import quiet_tensorflow

quiet_tensorflow()

__version__ = "0.2.0"

#: Submodules, imported on first attribute access (``course.models``) or by ``from course import X``.
SUBMODULES = (
    "analysis", "augment", "callbacks", "config", "conv_arithmetic", "convolution", "data",
    "evaluation", "exercises", "experiments", "grading", "inputs", "layers", "losses", "models",
    "optimizers", "progress", "preprocessing", "recipes", "regularization", "saving", "training",
    "transfer", "visualize",
)
__all__ = [*SUBMODULES, "load_model", "doctor"]


def load_model(path, **kwargs):
    """``keras.saving.load_model`` with every course layer, loss and schedule registered."""
    from course import saving

    return saving.load_model(path, **kwargs)


def doctor(quick: bool = False, as_json: bool = False):
    """Check this environment, one line per check (ok / warning / problem, and the fix), as
    ``python -m course doctor`` does; ``quick=True`` skips the timed training step. Returns the
    checks (``course.diagnosis.Report``)."""
    from course import diagnosis

    return diagnosis.doctor(quick=quick, as_json=as_json)


def __getattr__(name):
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f"course.{name}")
    raise AttributeError(f"module 'course' has no attribute {name!r}")
