"""The arithmetic steps of a marker's format and the format itself: ``/60 .1f``, ``range``.

A step's operand that is a key (``-result:FILE#PATH``) is read by the ``operand`` callable the
caller passes (``course.prose.number``): this module reads no source itself.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from course.prose.errors import ProseError

_STEP = re.compile(r"([*/+-])(\S+)")
_REDUCERS = {"min": min, "max": max, "range": lambda v: [min(v), max(v)],
             "spread": lambda v: max(v) - min(v)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_numeric(value) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def steps(spec: str | None) -> tuple[list[tuple[str, str | None]], str | None]:
    """``spec`` split into its arithmetic steps (``[("/", "60")]``, ``[("-", "result:...")]``,
    ``[("range", None)]``) and the Python format spec after them (``.1f``; None if there is
    none). A step's operand is a number or a key (it has a colon): ``+.1f`` is a format."""
    tokens, found = (spec or "").split(), []
    while tokens:
        step = _STEP.fullmatch(tokens[0])
        if tokens[0] in _REDUCERS:
            found.append((tokens[0], None))
        elif step and (_is_number(step[2]) or ":" in step[2]):
            found.append((step[1], step[2]))
        else:
            break
        tokens.pop(0)
    return found, " ".join(tokens) or None


def _combine(value, op: str, operand):
    """``value op operand``, item by item where either is a list."""
    if isinstance(value, list) or isinstance(operand, list):
        if isinstance(value, list) and isinstance(operand, list):
            if len(value) != len(operand):
                raise ProseError(f"{op} of lists of {len(value)} and {len(operand)} items")
            return [_combine(a, op, b) for a, b in zip(value, operand)]
        if isinstance(value, list):
            return [_combine(a, op, operand) for a in value]
        return [_combine(value, op, b) for b in operand]
    if not (is_numeric(value) and is_numeric(operand)):
        raise ProseError(f"arithmetic on something not a number: {value!r} {op} {operand!r}")
    if op == "/" and operand == 0:
        raise ProseError(f"{value!r} / 0")
    return {"*": lambda: value * operand, "/": lambda: value / operand,
            "+": lambda: value + operand, "-": lambda: value - operand}[op]()


def calculated(value, found: list, operand: Callable[[str], object] | None = None):
    """``value`` after the arithmetic ``steps`` (an operand that is a key read by ``operand``)."""
    for op, arg in found:
        if op in _REDUCERS:
            if not (isinstance(value, list) and value and all(map(is_numeric, value))):
                raise ProseError(f"{op} needs a list of numbers, not {value!r}")
            value = _REDUCERS[op](value)
        elif _is_number(arg):
            value = _combine(value, op, float(arg))
        elif operand is None:
            raise ProseError(f"{op}{arg}: no source to read the key {arg!r} from here")
        else:
            value = _combine(value, op, operand(arg))
    return value


def formatted(value, spec: str | None, operand: Callable[[str], object] | None = None) -> str:
    """``value`` formatted by ``spec``: a Python format spec (``.2%``, ``.1f``, ``,``), optionally
    after arithmetic steps (``/60 .1f``: seconds as minutes; see ``course.prose``'s docstring),
    their keys read by ``operand``; no spec: numbers as ``g``, text as is; a list of numbers (a
    range) as ``low-high``."""
    found, spec = steps(spec)
    value = calculated(value, found, operand)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return "-".join(formatted(v, spec) for v in value)  # a range: [low, high] -> low-high
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as err:
            raise ProseError(f"format {spec!r} does not apply to {value!r}: {err}") from None
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
