"""What every check of ``course.grading.checks`` shares.

- ``call_checked`` / ``call``: run a student's function; any error it raises (the
  ``NotImplementedError`` of an unsolved cell, or a bug) becomes a ``GradingError`` that names
  the call, so the student reads what failed instead of a traceback into the course's code;
- ``describe``, ``describe_call``, ``callable_name``: values and calls as a message shows them;
- ``check_array``: an array against a reference, with the worst element in the message;
- ``kernel_side``: marks a helper that must run where the student's object lives.
"""
from __future__ import annotations

import functools

import numpy as np

from course.grading.contract import GradingError


def plain(value):
    """NumPy scalars, in lists, tuples and dicts too, as Python numbers (NumPy 2 shows
    ``np.float64(3.0)`` where a student expects ``3.0``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def describe(value) -> str:
    value = plain(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor or a Keras tensor
        return f"tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def call_checked(func, args=(), kwargs=None, what=None):
    """``func(*args, **kwargs)``; any exception becomes a ``GradingError`` naming the call."""
    kwargs = kwargs or {}
    what = what or describe_call(func, args, kwargs)
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise GradingError(f"{what} raised NotImplementedError: write the code of that "
                           "exercise cell (replace the `raise NotImplementedError`) and run it "
                           "again.") from None
    except GradingError:
        raise
    except Exception as err:  # a bug in the student's code: say where
        raise GradingError(f"{what} raised {type(err).__name__}: {err}") from err


def call(func, *args, **kwargs):
    """``func(*args, **kwargs)`` for a check cell: an error in the student's function (such as
    the ``NotImplementedError`` of an unsolved cell) becomes a ``GradingError`` naming the call."""
    return call_checked(func, args, kwargs)


def describe_call(func, args, kwargs) -> str:
    shown = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{callable_name(func)}({', '.join(shown)})"


def callable_name(func) -> str:
    """A function's name, or a layer's class name (a layer instance is called too)."""
    return getattr(func, "__name__", None) or type(func).__name__


def check_array(what: str, got, expected, atol: float = 1e-5, rtol: float = 1e-5,
                hint: str = "") -> None:
    """``got`` has ``expected``'s shape and its values within ``atol + rtol * |expected|``."""
    try:
        got_arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise GradingError(f"{what} is a {type(got).__name__}, expected an array of shape "
                           f"{np.shape(expected)}. Return a NumPy array.") from None
    expected = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != expected.shape:
        raise GradingError(f"{what} has shape {got_arr.shape}, expected {expected.shape}. "
                           f"{hint}".strip())
    if not np.all(np.isfinite(got_arr)):
        raise GradingError(f"{what} contains NaN or infinite values. Look for a division by "
                           f"zero or a square root of a negative number. {hint}".strip())
    error = np.abs(got_arr - expected)
    allowed = atol + rtol * np.abs(expected)
    if np.any(error > allowed):
        worst = np.unravel_index(np.argmax(error - allowed), error.shape)
        raise GradingError(
            f"{what} differs from the reference by up to {error.max():.3g} (at index "
            f"{tuple(int(i) for i in worst)}: {got_arr[worst]:.6g} instead of "
            f"{expected[worst]:.6g}); allowed: {atol:g} + {rtol:g} x |reference|. "
            f"{hint}".strip())
    print(f"PASS: {what} matches the reference (max |difference| {error.max():.2g}).")


def kernel_side(helper):
    """Mark ``helper(obj, ...)`` as a check helper that runs where ``obj`` lives.

    In the student's own run ``obj`` is a real object and the helper runs as written. When the
    autograder's judge runs a check cell, a student's object stays in the student's kernel (a
    ``Remote``): the helper then runs there, on the object itself, and only its plain result
    (arrays, numbers, lists) comes back for the judge to compare. Use it for what needs the
    student's class in the same process (a layer inside a compiled model, a ``tf.data``
    pipeline, counting the products a function does). ``obj`` may also be a list whose first
    item decides."""
    path = f"{helper.__module__}.{helper.__qualname__}"

    @functools.wraps(helper)
    def run(obj, *args, **kwargs):
        first = obj[0] if isinstance(obj, (list, tuple)) and obj else obj
        remote = getattr(first, "__course_run__", None)
        if remote is not None:
            return remote(path, (obj, *args), kwargs)
        return helper(obj, *args, **kwargs)

    run.__course_helper__ = path
    return run
