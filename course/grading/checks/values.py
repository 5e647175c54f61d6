"""Checks of values that the graded cells of exercises 03-08 call: a student's function on given
inputs, arrays, gradients. (Counting the products a function does: ``products``.)

Every check raises ``course.grading.GradingError`` (an ``AssertionError``, so the cell fails)
with a message that says what is wrong and what to do, and prints one ``PASS`` line otherwise.
A student's function that raises (``NotImplementedError`` in an unsolved exercise, or any bug)
is reported the same way, with the call that failed.

- ``check_cases`` (a function on given inputs), ``check_gradient`` with ``numerical_gradient`` /
  ``relative_error`` (CS231n's gradient check).

Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import numpy as np

from course.grading.checks.helpers import call_checked, callable_name, describe, describe_call
from course.grading.contract import GradingError


def _plain(value):
    """Numbers and nested tuples/lists of numbers as plain Python values, for comparing."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_cases(func, cases, hint: str = "") -> None:
    """``func(*args, **kwargs) == expected`` for every ``(args, kwargs, expected)`` in ``cases``.

    The first failing case is reported with the call, what it returned and what was expected.
    """
    for args, kwargs, expected in cases:
        what = describe_call(func, args, kwargs)
        got = call_checked(func, args, kwargs, what)
        if _plain(got) != _plain(expected):
            raise GradingError(f"{what} returned {describe(_plain(got))}, expected "
                               f"{describe(_plain(expected))}. {hint}".strip())
    print(f"PASS: {callable_name(func)} on {len(cases)} cases.")


def relative_error(a, b) -> float:
    """CS231n's relative error: ``max |a - b| / max(1e-8, |a| + |b|)``, element-wise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, dout, h: float = 1e-5) -> np.ndarray:
    """Centred differences of ``sum(f(x) * dout)`` with respect to ``x`` (changed in place and
    restored): the reference of a gradient check, in float64."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise GradingError(f"A gradient check needs float64 inputs, got {x.dtype}: float32 "
                           "rounding (about 1e-7) swamps the check.")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old - h
        minus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def check_gradient(what: str, analytic, numeric, max_error: float = 1e-7,
                   hint: str = "") -> float:
    """The analytic gradient agrees with the numerical one: relative error below ``max_error``
    (CS231n: around 1e-7 or less in float64 means the formula is right)."""
    analytic = np.asarray(analytic, np.float64)
    numeric = np.asarray(numeric, np.float64)
    if analytic.shape != numeric.shape:
        raise GradingError(f"{what} has shape {analytic.shape}, expected {numeric.shape} (the "
                           "shape of the variable it is the gradient of).")
    if not np.all(np.isfinite(analytic)):
        raise GradingError(f"{what} contains NaN or infinite values.")
    error = relative_error(analytic, numeric)
    if error > max_error:
        raise GradingError(
            f"{what}: relative error {error:.2e} against the numerical gradient, expected "
            f"below {max_error:.0e}. {hint}".strip())
    print(f"PASS: {what} relative error {error:.2e} < {max_error:.0e}.")
    return error
