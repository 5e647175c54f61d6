"""The contract every part of grading shares, at the bottom of ``course.grading``.

- ``GradingError``: a check's verdict that the work misses its bar (an ``AssertionError``, so a
  check cell fails); ``Refusal(cause, reason, detail)``: a file the grader will not grade;
- verdicts (``PASS``, ``FAIL``, ``UNUSABLE``, ``ERROR``) and the exit codes of the commands, in
  this one place;
- ``Task``/``TASKS`` (what an artifact is graded on) and ``Limits`` (an artifact's resources);
- ``io_problem``: the model contract (one image tensor in, one score per class out).

Nothing here imports Keras or TensorFlow at import time; nothing here imports upward.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Verdicts. PASS/FAIL grade a usable model; UNUSABLE is an artifact the grader cannot grade
#: (missing, refused, broken contract, crashed or over a limit); ERROR is the grader's own
#: problem (missing or damaged data set, unwritable output, a worker that would not start).
PASS, FAIL, UNUSABLE, ERROR = "PASS", "FAIL", "UNUSABLE", "ERROR"
#: Exit codes of ``python -m course grade``; a folder exits with the largest of its rows.
EXIT_CODES = {PASS: 0, FAIL: 1, UNUSABLE: 2, ERROR: 3}
EXIT_GRADER_ERROR = EXIT_CODES[ERROR]
#: ``python -m course autograde``: refused (fast mode, bad input: 2), the grader's own problem (3).
EXIT_REFUSED = EXIT_CODES[UNUSABLE]


class GradingError(AssertionError):
    """The submission does not meet the exercise's bar; the message says why and what to do."""


def _shape(value):
    """A Keras shape as a tuple, or None if it is not one flat shape."""
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, int) for v in value):
        return tuple(value)
    return None


def io_problem(model, input_shape, num_classes: int) -> str | None:
    """Why ``model`` does not map a batch of ``input_shape`` images to ``num_classes`` scores,
    or None. Only the exact shapes ``(None, *input_shape)`` in and ``(None, num_classes)`` out
    are accepted: one image tensor in, one score per class out, any batch size."""
    import keras

    if not isinstance(model, keras.Model):
        return (f"Expected a Keras model, got {type(model).__name__}. Return the model you "
                "trained.")
    expected_in = (None, *input_shape)
    expected_out = (None, num_classes)
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        inputs = outputs = None
    if not inputs or not outputs:
        return (f"The model has no defined input or output (it was never built or called), so "
                f"its shapes are unknown. Start it with keras.Input(shape={tuple(input_shape)}).")
    if len(inputs) != 1:
        return (f"The model takes {len(inputs)} inputs, expected one: images of shape "
                f"{expected_in}.")
    got = _shape(getattr(inputs[0], "shape", None))
    if got != expected_in:
        return (f"The model takes inputs of shape {got}, expected {expected_in}: raw images, "
                f"channels last, any batch size. Build it with keras.Input(shape="
                f"{tuple(input_shape)}).")
    if len(outputs) != 1:
        return (f"The model has {len(outputs)} outputs, expected one of shape {expected_out}: "
                f"one score per class. End the model with Dense({num_classes}).")
    out = _shape(getattr(outputs[0], "shape", None))
    if out != expected_out:
        return (f"The model's output shape is {out}, expected {expected_out}: one score per "
                f"class. End the model with Dense({num_classes}).")
    dtype = str(getattr(outputs[0], "dtype", "float32"))
    if not any(kind in dtype for kind in ("float", "int")):
        return (f"The model returns {dtype} values, expected numbers (one score per class). "
                f"End the model with Dense({num_classes}).")
    return None


@dataclass
class Refusal(Exception):
    cause: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return self.reason



@dataclass(frozen=True)
class Task:
    data: str
    num_classes: int
    threshold: float
    input_shape: tuple = (32, 32, 3)


#: Graded tasks. ``cifar10`` is the proxy used where CIFAR-100 is not available.
TASKS = {
    "cifar100": Task("cifar100", 100, 0.60),
    "cifar10": Task("cifar10", 10, 0.90),
}


@dataclass(frozen=True)
class Limits:
    """Resource limits for one artifact (see ``docs/grading.md``)."""

    #: Wall-clock seconds for loading and evaluating one artifact in its worker process. A model
    #: whose measured speed projects past this is stopped early with a verdict.
    time_s: float = 300.0
    #: Address space (MiB) the worker may add to its start-up footprint (``RLIMIT_AS``): the
    #: model's weights, activations and TensorFlow's threads all count.
    memory_mb: int = 4096
    #: Size of the ``.keras`` file itself.
    file_mb: int = 1024
    #: Sum of the zip members' uncompressed sizes, and the most a member may inflate.
    unpacked_mb: int = 2048
    expansion: int = 100
    #: Members in the zip, and the size of ``config.json``.
    members: int = 1000
    config_mb: int = 16
    #: Images per prediction batch, and test images in the consistency (integrity) check.
    batch_size: int = 100
    consistency_images: int = 1000

    def describe(self) -> str:
        return (f"time limit {self.time_s:g} s, memory limit {self.memory_mb:,} MiB above the "
                f"worker's start-up size, file limit {self.file_mb:,} MiB")
