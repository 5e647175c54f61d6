"""Calling a student's function from a check cell: any error it raises (the
``NotImplementedError`` of an unsolved cell, or a bug) becomes a ``GradingError`` that names the
call, so the student reads what failed instead of a traceback into the course's code."""
from __future__ import annotations

import numpy as np

from course.grading import GradingError


def _fmt(value) -> str:
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
    what = what or _signature(func, args, kwargs)
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


def _signature(func, args, kwargs) -> str:
    shown = [_fmt(a) for a in args] + [f"{k}={_fmt(v)}" for k, v in kwargs.items()]
    return f"{_name(func)}({', '.join(shown)})"


def _name(func) -> str:
    """A function's name, or a layer's class name (a layer instance is called too)."""
    return getattr(func, "__name__", None) or type(func).__name__
