"""Exercise 06's products piece by piece: the program ``Tracked`` numbers record on a ``Tape``
(in the student's kernel) and what the judge does with it (``validated``, ``evaluate``,
``count_products``, the replay on inputs of its own, ``count_multiplications``).

Each test holds the module to numbers found another way (plain float or ``Fraction`` arithmetic,
counts made by hand) or to the message a student reads, word for word. They were written for the
mutants of ``course/grading/checks/products.py`` that the tests of ``test_exercise_checks.py``
and ``test_judge_figures.py`` let through (issue 34, ``benchmarks/mutation.py``).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from fast_convolutions import winograd_f23

from course.grading import checks
from course.grading.checks import products
from course.grading.contract import GradingError

D, G = np.array([0.3, -1.2, 2.0, 0.7]), np.array([1.5, -0.4, 0.9])


def _correlate(d, g):
    return np.convolve(d, g[::-1], "valid")


def _tracked(*values):
    tape = products.Tape()
    return tape, [products.Tracked(v, tape, tape.add(["in", i])) for i, v in enumerate(values)]


def _message(text: str) -> str:
    """A ``match`` pattern for exactly ``text``."""
    return "^" + re.escape(text) + "$"


# ---------------------------------------------------------------------------------------------
# Recording: the tape and the tracked numbers


def test_the_tape_numbers_its_nodes_keeps_one_node_per_constant_and_stops_at_max_nodes(
        monkeypatch):
    tape = products.Tape()
    assert tape.nodes == []
    assert [tape.add(["in", i]) for i in range(3)] == [0, 1, 2]
    two = tape.constant(2)
    assert tape.nodes[two] == ["const", 2.0] and type(tape.nodes[two][1]) is float
    assert tape.constant(2.0) == tape.constant(np.float32(2.0)) == two
    zero, minus_zero = tape.constant(0.0), tape.constant(-0.0)  # 1 / x tells them apart
    assert zero != minus_zero and math.copysign(1.0, tape.nodes[minus_zero][1]) == -1.0
    assert len(tape.nodes) == 6
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(GradingError, match=_message(
                f"A computation with the constant {bad}: use finite numbers.")):
            tape.constant(bad)
    monkeypatch.setattr(products, "MAX_NODES", 7)
    assert tape.add(["in", 3]) == 6  # the seventh node: still allowed
    with pytest.raises(GradingError, match=_message(
            "More than 7 operations on the tracked values: the check traces a few hundred at "
            "most. Compute one tile, without loops over other data.")):
        tape.add(["in", 4])
    assert len(tape.nodes) == 7


EXPRESSIONS = {  # what a function of exercise 06 computes, with plain numbers on either side
    "a + b": lambda a, b: a + b, "a - b": lambda a, b: a - b, "a * b": lambda a, b: a * b,
    "a / b": lambda a, b: a / b, "a + 3": lambda a, b: a + 3, "3 + a": lambda a, b: 3 + a,
    "a - 3": lambda a, b: a - 3, "3 - a": lambda a, b: 3 - a, "a * 3": lambda a, b: a * 3,
    "3 * a": lambda a, b: 3 * a, "a / 4": lambda a, b: a / 4, "-a": lambda a, b: -a,
    "+a": lambda a, b: +a, "-(a - b) * (b + 3)": lambda a, b: -(a - b) * (b + 3),
    "(2 - a) / (b * b)": lambda a, b: (2 - a) / (b * b),
}


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_tracked_arithmetic_records_the_program_it_computes(expression):
    """The value is the float arithmetic's, and the recorded program, replayed on other inputs,
    computes the expression there too (operands in their order)."""
    f = EXPRESSIONS[expression]
    tape, (a, b) = _tracked(6.0, 2.5)
    out = f(a, b)
    assert type(out) is products.Tracked and out.tape is tape
    assert out.value == f(6.0, 2.5)
    nodes, outputs = products.validated({"nodes": tape.nodes, "outputs": [out.node]}, 2)
    for x, y in ((-1.25, 0.5), (3.0, -7.0)):
        assert products.evaluate(nodes, outputs, [x, y]) == [f(x, y)]
        assert products.evaluate(nodes, outputs, [x, y], exact=True) == [
            f(Fraction(x), Fraction(y))]


def test_tracked_values_refuse_floats_and_other_calls_and_leave_arrays_to_numpy():
    tape, (a, b) = _tracked(6.0, 2.5)
    assert repr(a) == "Tracked(6.0)" and +a is a
    with pytest.raises(TypeError) as info:
        float(a)
    assert str(info.value) == (
        "a tracked value cannot become a float: it would lose the count of products. Compute "
        "with d and g themselves (indexing, +, -, *, / by a number and @ work; float(x), "
        "np.asarray(d, float) or storing into np.zeros(...) do not), and return a list or "
        "np.array([...]) of the results.")
    _, (other,) = _tracked(1.0)
    for mixed in (lambda: a + other, lambda: other * a, lambda: a - other, lambda: a / other):
        with pytest.raises(GradingError, match=_message(
                "A value from another call of the function was mixed in: compute only with the "
                "d and g of this call.")):
            mixed()
    for scaled in (a * np.array([1.0, 2.0]), np.array([1.0, 2.0]) * a):
        assert scaled.dtype == object and [v.value for v in scaled] == [6.0, 12.0]
    assert (np.array([a, b]) @ np.array([1.0, -2.0])).value == 6.0 - 5.0
    for not_a_number in ("3", None, [1.0]):
        with pytest.raises(TypeError):
            a * not_a_number
    assert (a * True).value == 6.0  # a bool is a number (1)


# ---------------------------------------------------------------------------------------------
# Judging: what the kernel sent, what it computes, how many products


MALFORMED = [
    (None, 1, "the kernel sent no program of operations"),
    ({"nodes": [], "outputs": [0]}, 1, "a program has 1 to 50,000 operations"),
    ({"nodes": [["in", 0]] * 50_001, "outputs": [0]}, 1, "a program has 1 to 50,000 operations"),
    ({"nodes": (["in", 0],), "outputs": [0]}, 1, "a program has 1 to 50,000 operations"),
    ({"nodes": [["in", 0]], "outputs": []}, 1, "a program has 1 to 10,000 outputs"),
    ({"nodes": [["in", 0]], "outputs": [0] * 10_001}, 1, "a program has 1 to 10,000 outputs"),
    ({"nodes": [["in", 0]], "outputs": (0,)}, 1, "a program has 1 to 10,000 outputs"),
    ({"nodes": [["in", 0], "add"], "outputs": [0]}, 1, "operation 1 is not an operation"),
    ({"nodes": [["in", 0], []], "outputs": [0]}, 1, "operation 1 is not an operation"),
    ({"nodes": [[0, 0]], "outputs": [0]}, 1, "operation 0 is not an operation"),
    ({"nodes": [["in", 1]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["in", -1]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["in", 0, 0]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["in", 0.0]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["const", "1"]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["const", True]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["const", math.inf]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["const", 1.0, 2.0]], "outputs": [0]}, 1, "operation 0 is not a valid one"),
    ({"nodes": [["in", 0], ["neg", 0, 0]], "outputs": [1]}, 1, "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["neg", 1]], "outputs": [1]}, 1, "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["add", 0]], "outputs": [1]}, 1, "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["sub", 0, 1]], "outputs": [1]}, 1, "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["mul", -1, 0]], "outputs": [1]}, 1,
     "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["div", 0, False]], "outputs": [1]}, 1,
     "operation 1 is not a valid one"),
    ({"nodes": [["in", 0], ["pow", 0, 0]], "outputs": [1]}, 1, "operation 1 is not a valid one"),
    ({"nodes": [["in", 0]], "outputs": [1]}, 1, "an output is not one of its operations"),
    ({"nodes": [["in", 0]], "outputs": [-1]}, 1, "an output is not one of its operations"),
    ({"nodes": [["in", 0]], "outputs": [True]}, 1, "an output is not one of its operations"),
]


@pytest.mark.parametrize("program, n_inputs, why", MALFORMED,
                         ids=[f"{i}-{why}" for i, (_, _, why) in enumerate(MALFORMED)])
def test_a_malformed_program_is_refused_with_what_is_wrong(program, n_inputs, why):
    with pytest.raises(GradingError, match=_message(
            f"What f computed could not be checked ({why}). Compute with the d and g the check "
            "gives, with +, -, * and /.")):
        products.validated(program, n_inputs, "f")


def test_a_well_formed_program_comes_back_as_tuples_up_to_the_limits():
    program = {"nodes": [["in", 1], ["const", 2], ["neg", 0], ["mul", 0, 1], ["in", 0]],
               "outputs": [3, 0, 3]}
    assert products.validated(program, 2) == (
        [("in", 1), ("const", 2), ("neg", 0), ("mul", 0, 1), ("in", 0)], [3, 0, 3])
    largest = {"nodes": [["in", 0]] * 50_000, "outputs": [49_999] * 10_000}
    nodes, outputs = products.validated(largest, 1)
    assert len(nodes) == 50_000 and len(outputs) == 10_000
    with pytest.raises(GradingError, match=r"^What the function computed could not be checked"):
        products.validated(None, 1)


def test_products_are_counted_through_sums_negations_and_quotients():
    nodes = [("in", 0), ("in", 1), ("const", 3.0),
             ("add", 0, 2), ("mul", 3, 1),  # (x + 3) * y: a product
             ("neg", 0), ("mul", 5, 2),  # -x * 3: a scaling
             ("sub", 2, 1), ("mul", 2, 7),  # 3 * (3 - y): a scaling
             ("div", 2, 0), ("div", 0, 2),  # 3 / x: a quotient by a value; x / 3: a scaling
             ("mul", 2, 2), ("div", 11, 2)]  # constants only
    assert products.count_products(nodes) == 2
    assert products.count_products(nodes[:3]) == 0
    assert products.evaluate(nodes, [4, 6, 8, 9, 10, 12], [2.0, 5.0]) == [
        25.0, -6.0, -6.0, 1.5, 2 / 3, 3.0]


def test_exact_evaluation_is_exact_and_stops_past_4096_bits():
    nodes = [("in", 0), ("const", 0.1), ("add", 0, 1), ("neg", 2), ("div", 2, 0)]
    assert products.evaluate(nodes, [3, 4], [0.2], exact=True) == [
        -(Fraction(0.2) + Fraction(0.1)), (Fraction(0.2) + Fraction(0.1)) / Fraction(0.2)]
    assert products.evaluate(nodes, [3], [0.2]) == [-(0.2 + 0.1)]
    power = [("in", 0), ("mul", 0, 0), ("mul", 1, 1), ("mul", 2, 2),  # x**8
             ("in", 1), ("mul", 3, 4)]  # x**8 * y
    big = 2.0 ** 511
    assert products.evaluate(power, [5], [big, 2.0 ** 7], exact=True) == [Fraction(2) ** 4095]
    with pytest.raises(OverflowError, match="^the values grow without bound$"):
        products.evaluate(power, [5], [big, 2.0 ** 8], exact=True)  # 2**4096: 4097 bits
    with pytest.raises(OverflowError, match="^the values grow without bound$"):
        products.evaluate(power, [5], [1 / big, 2.0 ** -8], exact=True)  # 1 / 2**4096
    for exact in (False, True):
        with pytest.raises(ZeroDivisionError):
            products.evaluate([("in", 0), ("sub", 0, 0), ("div", 0, 1)], [2], [1.0], exact)


# ---------------------------------------------------------------------------------------------
# The replay on inputs of the judge's own, and the verdict


class _Sends:
    """A student's function as the judge holds it when autograded (``test_judge_figures``'s
    stand-in kernel): ``trace_program`` runs in its kernel, which answers ``program``."""

    def __init__(self, name, program):
        self.__name__, self.program = name, program

    def __course_run__(self, helper, args, kwargs):
        return self.program


def _recording(reference, seen):
    def recorded(d, g):
        seen.append((np.array(d), np.array(g)))
        return reference(d, g)

    return recorded


def test_the_replay_draws_two_real_then_two_integer_inputs_from_the_generator_given():
    seen = []
    values, count = checks.count_multiplications(
        winograd_f23, D, G, reference=_recording(_correlate, seen), rng=np.random.default_rng(5))
    assert count == 4
    np.testing.assert_allclose(values, _correlate(D, G))
    (d, g), *fresh = seen  # the check's inputs first
    np.testing.assert_array_equal(d, D)
    np.testing.assert_array_equal(g, G)
    assert len(fresh) == 4 and all(d.shape == (4,) and g.shape == (3,) for d, g in fresh)
    drawn = [np.concatenate(pair) for pair in fresh]
    assert all(v.dtype == np.float64 for v in drawn)
    assert all(not np.array_equal(v, np.round(v)) for v in drawn[:2])  # reals
    for v in drawn[2:]:  # integers in [-1000, 1000], not all alike
        assert np.array_equal(v, np.round(v)) and np.max(np.abs(v)) <= 1000 and np.ptp(v) > 0
    again = []
    checks.count_multiplications(winograd_f23, D, G, reference=_recording(_correlate, again),
                                 rng=np.random.default_rng(5))
    assert all(np.array_equal(np.concatenate(a), np.concatenate(b))
               for a, b in zip(seen, again, strict=True))
    integers = []  # the check's inputs as lists of ints: float64 arrays all the same
    checks.count_multiplications(winograd_f23, [1, 2, 3, 4], [1, 0, -1],
                                 reference=_recording(_correlate, integers))
    assert all(v.dtype == np.float64 for pair in integers for v in pair)
    np.testing.assert_array_equal(integers[0][0], [1.0, 2.0, 3.0, 4.0])
    unseeded = [[], []]
    for record in unseeded:
        checks.count_multiplications(winograd_f23, D, G, reference=_recording(_correlate, record))
    assert not np.array_equal(np.concatenate(unseeded[0][1]), np.concatenate(unseeded[1][1]))


NOT_FOR_OTHERS = ("{} gives the right outputs for the check's d and g but not for others: the "
                  "grader replayed what it computed on inputs of its own. Compute every output "
                  "from the d and g the function is given (no values copied from the check or "
                  "hard-coded).")


def _plus(scale, offset, term=None):
    """``scale`` x Winograd's F(2, 3) + ``offset`` (+ ``term(d, g)``): a function of exercise 06
    that is off by a known amount."""
    def off(d, g):
        extra = 0.0 if term is None else term(d, g)
        return [scale * y + offset + extra for y in winograd_f23(d, g)]

    return off


@pytest.mark.parametrize("scale, offset, passes", [
    (1e-12, 0.9e-6, True), (1e-12, 1.1e-6, False),  # outputs near 0: 1e-6 absolute
    (1e6 * (1 + 5e-8), 0.0, True), (1e6 * (1 + 3e-6), 0.0, False),  # 1e-6 x the largest output
])
def test_the_replay_allows_1e_6_plus_1e_6_times_the_largest_output(scale, offset, passes):
    reference = (lambda d, g: 1e-12 * _correlate(d, g)) if scale < 1 else \
        (lambda d, g: 1e6 * _correlate(d, g))
    func = _plus(scale, offset)
    if passes:
        checks.count_multiplications(func, D, G, reference=reference,
                                     rng=np.random.default_rng(0))
    else:  # right on the check's inputs (within 1e-5), wrong on the replay
        with pytest.raises(GradingError, match=_message(NOT_FOR_OTHERS.format("off"))):
            checks.count_multiplications(func, D, G, reference=reference,
                                         rng=np.random.default_rng(0))


def _vanishes_in_float64(d, g):
    """``x`` in exact arithmetic, 0 in float64 (for |x| <= 1000): x * 2**-70 is lost in 1 + ..."""
    return ((d[0] * 2.0 ** -70 + 1) - 1) * 2.0 ** 70


def _grows_without_bound(d, g):
    """0 in float64 ((x / 2048) ** 8192 underflows); too many bits in exact arithmetic."""
    t = d[0] / 2048
    for _ in range(13):
        t = t * t
    return t - t


def _beyond_float64(d, g):
    """0 in float64; x ** 256 in exact arithmetic, past float64's range (1.8e308) for |x| >= 16:
    the error is measured exactly, not by converting to a float (which would overflow)."""
    t = _vanishes_in_float64(d, g)
    for _ in range(8):
        t = t * t
    return t


@pytest.mark.parametrize("term", [_vanishes_in_float64, _grows_without_bound, _beyond_float64])
def test_the_integer_replays_are_exact(term):
    func = _plus(1.0, 0.0, term)
    values = products.evaluate(*products.validated(products.trace_program(func, D, G), 7),
                               [*D, *G])
    np.testing.assert_allclose(values, _correlate(D, G))  # right in float64 on any reals
    with pytest.raises(GradingError, match=_message(NOT_FOR_OTHERS.format("off"))):
        checks.count_multiplications(func, D, G, reference=_correlate,
                                     rng=np.random.default_rng(0))


def test_a_program_with_another_number_of_outputs_fails_the_replay():
    nodes = [("in", 0), ("in", 1), ("mul", 0, 1)]
    rng = np.random.default_rng(0)
    assert products._replays(nodes, [2], [(1,), (1,)], lambda d, g: d * g, rng)
    assert not products._replays(nodes, [2], [(1,), (1,)], lambda d, g: [d[0] * g[0]] * 2, rng)
    assert not products._replays(nodes, [2, 2], [(1,), (1,)], lambda d, g: d * g, rng)


def test_the_verdict_names_a_division_by_zero_a_wrong_answer_and_a_wrong_shape():
    with pytest.raises(GradingError, match=_message("divides(d, g) divides by zero.")):
        checks.count_multiplications(_Sends("divides", {  # x0 / (x1 - x1), from a kernel
            "nodes": [["in", i] for i in range(7)] + [["sub", 1, 1], ["div", 0, 7]],
            "outputs": [8]}), D, G, reference=_correlate)
    for offset in (1e-4, 0.5):  # wrong on the check's inputs: check_array's message, no replay
        with pytest.raises(GradingError, match=r"^off\(d, g\) differs from the reference by up "
                                               r"to "):
            checks.count_multiplications(_plus(1.0, offset), D, G, reference=_correlate)

    with pytest.raises(GradingError, match=_message(
            "What sends_nothing computed could not be checked (the kernel sent no program of "
            "operations). Compute with the d and g the check gives, with +, -, * and /.")):
        checks.count_multiplications(_Sends("sends_nothing", None), D, G, reference=_correlate)

    def longer(d, g):
        return [*winograd_f23(d, g), d[0]]

    with pytest.raises(GradingError, match=_message(
            "longer(d, g) has shape (3,), expected (2,).")):
        checks.count_multiplications(longer, D, G, reference=_correlate)
