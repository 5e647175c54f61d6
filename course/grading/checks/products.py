"""Counting the multiplications a student's function does (exercise 06: Winograd's minimal
filtering), in a way a student's code cannot forge.

The function runs where it lives (the student's kernel when a notebook is autograded) on
``Tracked`` numbers, which record every operation into a straight-line program: a list of nodes
(an input, a constant, a sum, a difference, a negation, a product, a quotient) and the nodes the
function returned. Only that program crosses back, as plain lists (``trace_program``, a
``kernel_side`` helper). ``count_multiplications`` then decides, where the check cell runs (the
judge's process when autograded):

1. the program is well formed: known operations, operands that come before, inputs in range,
   finite constants, at most ``MAX_NODES`` nodes;
2. its outputs on the check's inputs, computed here from the program (the values the function
   itself returned are never read), match the check's reference;
3. on fresh inputs drawn here and never sent to the kernel (random reals in floating point, and
   random integers in exact rational arithmetic, where no rounding trick works), the program
   still computes the reference: a program that copies the check's outputs as constants, or
   that turned some products into products by a constant, fails;
4. the products are counted here: a product of two values that depend on the inputs, or a
   quotient by one (sums, differences and scaling by constants, such as 1/2, are free).

So patching ``Tracked``, the helper or the counter in the kernel changes only the program the
judge receives, and the judge counts the products of a program it has checked computes the
convolution. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np

from course.grading.checks.helpers import (
    call_checked,
    callable_name,
    check_array,
    describe,
    kernel_side,
)
from course.grading.contract import GradingError

#: Operations (nodes) a traced program may hold; an honest Winograd tile takes a few hundred.
MAX_NODES = 50_000
MAX_OUTPUTS = 10_000
#: Fresh inputs the judge replays a program on: real (float64) and integer (exact) draws.
FLOAT_TRIALS, EXACT_TRIALS = 2, 2
INTEGER_RANGE = 1000  # |inputs| <= this: sums of products stay exact in float32 as well
EXACT_BITS = 4096  # a larger numerator or denominator: not a convolution of small integers
BINARY = ("add", "sub", "mul", "div")

_FLOAT_HELP = ("a tracked value cannot become a float: it would lose the count of products. "
               "Compute with d and g themselves (indexing, +, -, *, / by a number and @ work; "
               "float(x), np.asarray(d, float) or storing into np.zeros(...) do not), and "
               "return a list or np.array([...]) of the results.")


class Tape:
    """The straight-line program being recorded: ``nodes`` as plain lists."""

    def __init__(self):
        self.nodes: list = []
        self._constants: dict = {}

    def add(self, node: list) -> int:
        if len(self.nodes) >= MAX_NODES:
            raise GradingError(f"More than {MAX_NODES:,} operations on the tracked values: the "
                               "check traces a few hundred at most. Compute one tile, without "
                               "loops over other data.")
        self.nodes.append(node)
        return len(self.nodes) - 1

    def constant(self, value) -> int:
        value = float(value)
        if not math.isfinite(value):
            raise GradingError(f"A computation with the constant {value}: use finite numbers.")
        key = (value, math.copysign(1.0, value))
        if key not in self._constants:
            self._constants[key] = self.add(["const", value])
        return self._constants[key]


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, Tracked)


class Tracked:
    """A number that records the operations it takes part in (on a ``Tape``).

    The check wraps the data values and the filter values; sums, differences, products and
    quotients of tracked values and plain numbers become nodes of the tape, and the check counts
    the products of two values that depend on the inputs (the "general multiplications" Lavin &
    Gray count); scaling by a constant (such as 1/2) is free. ``value`` is the number itself, for
    printing; converting a tracked value to a float is an error (the count would be lost).
    """

    __slots__ = ("value", "tape", "node")

    def __init__(self, value, tape: Tape, node: int):
        self.value, self.tape, self.node = float(value), tape, node

    def _operand(self, other):
        if isinstance(other, Tracked):
            if other.tape is not self.tape:
                raise GradingError("A value from another call of the function was mixed in: "
                                   "compute only with the d and g of this call.")
            return other.node, other.value
        if _is_number(other):
            return self.tape.constant(other), float(other)
        return None

    def _apply(self, op: str, a, b, value):
        return Tracked(value, self.tape, self.tape.add([op, a, b]))

    def _binary(self, other, op, combine, reflected=False):
        operand = self._operand(other)
        if operand is None:
            return NotImplemented  # an array: NumPy applies the operation element by element
        node, value = operand
        if reflected:
            return self._apply(op, node, self.node, combine(value, self.value))
        return self._apply(op, self.node, node, combine(self.value, value))

    def __add__(self, other):
        return self._binary(other, "add", lambda a, b: a + b)

    def __radd__(self, other):
        return self._binary(other, "add", lambda a, b: a + b, reflected=True)

    def __sub__(self, other):
        return self._binary(other, "sub", lambda a, b: a - b)

    def __rsub__(self, other):
        return self._binary(other, "sub", lambda a, b: a - b, reflected=True)

    def __mul__(self, other):
        return self._binary(other, "mul", lambda a, b: a * b)

    def __rmul__(self, other):
        return self._binary(other, "mul", lambda a, b: a * b, reflected=True)

    def __truediv__(self, other):
        return self._binary(other, "div", lambda a, b: a / b)

    def __neg__(self):
        return Tracked(-self.value, self.tape, self.tape.add(["neg", self.node]))

    def __pos__(self):
        return self

    def __float__(self):
        raise TypeError(_FLOAT_HELP)

    def __repr__(self):
        return f"Tracked({self.value})"


@kernel_side
def trace_program(func, data, filters) -> dict:
    """``func(d, g)`` on tracked values (NumPy object arrays of ``Tracked`` numbers with the
    shapes of ``data`` and ``filters``, so indexing, ``@`` and element-wise ``*`` work as on
    float arrays): ``{"nodes": [...], "outputs": [...]}``, the program it computed, as plain
    lists. Inputs are numbered in the order of ``data.ravel()`` then ``filters.ravel()``."""
    tape = Tape()

    def tracked(values):
        values = np.asarray(values, np.float64)
        out = np.empty(values.shape, dtype=object)
        for index, value in np.ndenumerate(values):
            number = len(tape.nodes)  # the inputs are the first nodes, numbered in order
            out[index] = Tracked(value, tape, tape.add(["in", number]))
        return out

    name = callable_name(func)
    d, g = tracked(data), tracked(filters)
    out = call_checked(func, (d, g), what=f"{name}(d, g)")
    try:
        flat = np.asarray(out, dtype=object).ravel()
    except Exception:  # noqa: BLE001 - whatever the student returned, the message says what
        flat = [out]
    outputs = []
    for value in flat:
        if isinstance(value, Tracked) and value.tape is tape:
            outputs.append(value.node)
        elif _is_number(value) and math.isfinite(float(value)):
            outputs.append(tape.constant(value))
        else:
            raise GradingError(f"{name} returned {describe(out)}; return the outputs (a list or "
                               "an array) computed from the d and g it is given.")
    if not outputs:
        raise GradingError(f"{name} returned no outputs; return a list or an array of them.")
    return {"nodes": tape.nodes, "outputs": outputs}


# ---------------------------------------------------------------------------------------------
# The judge's side: what the program is, what it computes, how many products it does


def _malformed(name: str, why: str) -> GradingError:
    return GradingError(f"What {name} computed could not be checked ({why}). Compute with the "
                        "d and g the check gives, with +, -, * and /.")


def validated(program, n_inputs: int, name: str = "the function") -> tuple[list, list]:
    """``(nodes, outputs)`` of a program sent by ``trace_program``, each node checked: exact
    builtin types, known operations, operands before the node, inputs in range, finite
    constants, bounded sizes. Anything else raises ``GradingError``."""
    if type(program) is not dict or set(program) != {"nodes", "outputs"}:
        raise _malformed(name, "the kernel sent no program of operations")
    nodes, outputs = program["nodes"], program["outputs"]
    if type(nodes) is not list or not 0 < len(nodes) <= MAX_NODES:
        raise _malformed(name, f"a program has 1 to {MAX_NODES:,} operations")
    if type(outputs) is not list or not 0 < len(outputs) <= MAX_OUTPUTS:
        raise _malformed(name, f"a program has 1 to {MAX_OUTPUTS:,} outputs")
    clean = []
    for index, node in enumerate(nodes):
        if type(node) is not list or not node or type(node[0]) is not str:
            raise _malformed(name, f"operation {index} is not an operation")
        op, args = node[0], node[1:]
        if op == "in":
            ok = len(args) == 1 and type(args[0]) is int and 0 <= args[0] < n_inputs
        elif op == "const":
            ok = len(args) == 1 and type(args[0]) in (int, float) and math.isfinite(args[0])
        elif op in BINARY or op == "neg":
            ok = len(args) == (1 if op == "neg" else 2) and all(
                type(a) is int and 0 <= a < index for a in args)
        else:
            ok = False
        if not ok:
            raise _malformed(name, f"operation {index} is not a valid one")
        clean.append((op, *args))
    if not all(type(o) is int and 0 <= o < len(clean) for o in outputs):
        raise _malformed(name, "an output is not one of its operations")
    return clean, list(outputs)


def count_products(nodes) -> int:
    """Products of two values that depend on the inputs, and quotients by one."""
    variable, products = [], 0
    for op, *args in nodes:
        if op == "in":
            variable.append(True)
        elif op == "const":
            variable.append(False)
        else:
            variable.append(any(variable[a] for a in args))
            if op == "mul" and variable[args[0]] and variable[args[1]]:
                products += 1
            elif op == "div" and variable[args[1]]:
                products += 1
    return products


def evaluate(nodes, outputs, inputs, exact: bool = False) -> list:
    """The program's outputs on ``inputs`` (a flat list): float64, or exact fractions (then a
    value of more than ``EXACT_BITS`` bits raises ``OverflowError``). A division by zero raises
    ``ZeroDivisionError``."""
    number = Fraction if exact else float
    values = []
    for op, *args in nodes:
        if op == "in":
            value = number(inputs[args[0]])
        elif op == "const":
            value = number(args[0])
        elif op == "neg":
            value = -values[args[0]]
        else:
            a, b = values[args[0]], values[args[1]]
            value = a + b if op == "add" else a - b if op == "sub" else a * b if op == "mul" \
                else a / b
        if exact and max(value.numerator.bit_length(), value.denominator.bit_length()) \
                > EXACT_BITS:
            raise OverflowError("the values grow without bound")
        values.append(value)
    return [values[o] for o in outputs]


def _replays(nodes, outputs, shapes, reference, rng) -> bool:
    """The program computes ``reference`` on fresh inputs of ``shapes`` (never sent to the
    kernel): real draws in float64, integer draws in exact arithmetic."""
    for trial in range(FLOAT_TRIALS + EXACT_TRIALS):
        exact = trial >= FLOAT_TRIALS
        if exact:
            d, g = (rng.integers(-INTEGER_RANGE, INTEGER_RANGE + 1, s).astype(np.float64)
                    for s in shapes)
        else:
            d, g = (rng.normal(size=s) for s in shapes)
        expected = np.asarray(reference(d, g), np.float64).ravel()
        inputs = [float(v) for v in np.concatenate([d.ravel(), g.ravel()])]
        try:
            got = evaluate(nodes, outputs, inputs, exact)
        except (ZeroDivisionError, OverflowError):
            return False
        if len(got) != expected.size:
            return False
        allowed = 1e-6 * (1.0 + float(np.max(np.abs(expected), initial=0.0)))
        for a, b in zip(got, expected.tolist()):
            error = abs(a - Fraction(b)) if exact else abs(a - b)
            if not error <= allowed:  # NaN fails too
                return False
    return True


def count_multiplications(func, data, filters, reference, hint: str = "",
                          rng=None) -> tuple:
    """``(outputs as a flat float array, products)`` of ``func(data, filters)``, decided here.

    ``func`` runs on tracked values (``trace_program``, in the student's kernel when
    autograded); its outputs on ``data`` and ``filters``, computed here from the program it
    recorded, must match ``reference(data, filters)`` (flattened; ``hint`` goes into the
    message), and so must its outputs on fresh inputs the kernel never sees (``rng``, by
    default seeded from the operating system). ``products`` counts the multiplications of two
    values that depend on the inputs."""
    data, filters = np.asarray(data, np.float64), np.asarray(filters, np.float64)
    name = callable_name(func)
    nodes, outputs = validated(trace_program(func, data, filters), data.size + filters.size,
                               name)
    inputs = [float(v) for v in np.concatenate([data.ravel(), filters.ravel()])]
    try:
        values = np.array(evaluate(nodes, outputs, inputs), np.float64)
    except ZeroDivisionError:
        raise GradingError(f"{name}(d, g) divides by zero.") from None
    expected = np.asarray(reference(data, filters), np.float64).ravel()
    right_here = values.shape == expected.shape and np.allclose(values, expected, 1e-5, 1e-5)
    rng = rng if rng is not None else np.random.default_rng()
    if right_here and not _replays(nodes, outputs, (data.shape, filters.shape), reference, rng):
        raise GradingError(
            f"{name} gives the right outputs for the check's d and g but not for others: the "
            "grader replayed what it computed on inputs of its own. Compute every output from "
            "the d and g the function is given (no values copied from the check or "
            "hard-coded).")
    check_array(f"{name}(d, g)", values, expected, hint=hint)  # its message if wrong here
    return values, count_products(nodes)
