"""The judge: verdicts decided outside the student's kernel, from plain data only.

Unit tests of what crosses (``wire``: no pickles, no object arrays, no links, bounded sizes,
exact builtin types out), of the exceptions a student's code may raise on the judge's side, and
of the names a check cell asks the kernel for; then exercise 03 as a class of forgers would hand
it in (one sandboxed notebook, a different forgery in each answer cell), graded by the judge.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from toy_exercise import needs_bwrap

from course.grading.notebooks import wire
from course.grading.notebooks.judge import needed_names
from course.grading.notebooks.remote import StudentError, student_error

# ---------------------------------------------------------------------------------------------
# What crosses


def _round_trip(tmp_path, value):
    encode = wire.Encoder(str(tmp_path), "rep-1")
    wire.write_json(tmp_path / "rep-1.json", {"ok": encode(value)})
    decoder = wire.Decoder(str(tmp_path))
    return decoder(decoder.load("rep-1.json")["ok"])


def test_plain_values_cross_as_themselves(tmp_path):
    value = {"a": [1, 2.5, float("nan"), None, True], (1, "x"): (np.float32(1.5), b"\x00\xff"),
             "r": range(2, 9, 3), "arr": np.arange(6, dtype=np.int16).reshape(2, 3),
             "c": np.complex64(1 + 2j)}
    back = _round_trip(tmp_path, value)
    assert back["a"][:2] == [1, 2.5] and np.isnan(back["a"][2]) and back["a"][3:] == [None, True]
    assert back[(1, "x")][0] == np.float32(1.5) and type(back[(1, "x")][0]) is np.float32
    assert back[(1, "x")][1] == b"\x00\xff" and back["r"] == range(2, 9, 3)
    assert back["arr"].dtype == np.int16 and back["arr"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["c"] == np.complex64(1 + 2j)


def test_lying_objects_do_not_cross(tmp_path):
    class Liar(int):
        def __eq__(self, other):
            return True

    class LyingArray(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(other), bool)

    with pytest.raises(wire.WireError):
        wire.Encoder(str(tmp_path), "x")(Liar(3))  # not an exact int: no `other` handler
    with pytest.raises(wire.WireError):
        wire.Encoder(str(tmp_path), "x")(np.zeros(2).view(LyingArray))
    with pytest.raises(wire.WireError):
        wire.Encoder(str(tmp_path), "x")(np.array([object()]))


@pytest.mark.parametrize("reply, problem", [
    ({"ok": {"__pickle__": "x"}}, "not accepted"),
    ({"ok": {"__array__": "../../etc/passwd"}}, "outside the exchange folder"),
    ({"ok": {"__scalar__": "O", "value": 1}}, "not a number"),
    ({"ok": {"__ref__": 1}}, "not accepted"),  # no reference handler on this side
    ({"ok": {"a": 1, "b": 2, "c": 3}}, "unexpected"),
])
def test_the_decoder_refuses_what_is_not_plain_data(tmp_path, reply, problem):
    wire.write_json(tmp_path / "rep.json", reply)
    decoder = wire.Decoder(str(tmp_path))
    with pytest.raises(wire.WireError, match=problem):
        decoder(decoder.load("rep.json")["ok"])


def test_arrays_are_read_without_pickles_links_or_excess(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    os.symlink("/etc/hostname", tmp_path / "link.npy")
    np.save(tmp_path / "big.npy", np.zeros(1000))
    for name, problem in (("objects.npy", "not a plain array"), ("link.npy", "cannot open"),
                          ("big.npy", "over the limit")):
        decoder = wire.Decoder(str(tmp_path), wire.Limits(array_bytes=1000))
        with pytest.raises(wire.WireError, match=problem):
            decoder({"__array__": name})


def test_student_errors_never_change_how_the_judge_runs():
    value_error = student_error({"type": "MyError", "bases": ["ValueError", "Exception"],
                                 "message": "no"})
    assert isinstance(value_error, ValueError) and isinstance(value_error, StudentError)
    assert type(value_error).__name__ == "MyError"
    for name in ("StopIteration", "SystemExit", "KeyboardInterrupt", "AssertionError",
                 "GeneratorExit"):
        err = student_error({"type": name, "bases": [name, "BaseException"], "message": ""})
        assert type(err).__mro__[1:] == (StudentError, Exception, BaseException, object), name


def test_a_half_imported_pyplot_does_not_stop_the_judge(monkeypatch):
    """The judge imports TensorFlow in a thread while the first cells run (``job._warm_up``);
    what it imports may be importing ``matplotlib.pyplot`` when a cell ends, and closing the
    figures of a module without ``close`` yet once ended the whole job (a grader_error)."""
    import sys
    import types

    from course.grading.notebooks import judge

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", types.ModuleType("matplotlib.pyplot"))
    judge._close_figures()


def test_a_check_cell_asks_for_the_names_it_does_not_define():
    source = '''
import numpy as np
rng = np.random.default_rng(1)
x = rng.normal(size=3)
checks.check_array("f(x)", f(x), g(x))
net = globals().get("net")
def helper(v):
    local = v + 1
    return student_fn(local) + offset
model = model_from_student
'''
    assert needed_names(source) == {"checks", "f", "g", "net", "student_fn", "offset",
                                    "model_from_student"}


# ---------------------------------------------------------------------------------------------
# Exercise 03, handed in by forgers

#: One forgery per answer cell, each with a wrong answer (its check worth 0) or a right one.
FORGED = {
    # right answer, and the check helpers patched: 2 points, earned
    "03_cell04": "from course.conv_arithmetic import output_size as _ref\n"
                 "def output_size(n, kernel, stride=1, padding=0):\n"
                 "    return _ref(n, kernel, stride, padding)\n"
                 "checks.check_cases = lambda *a, **k: print('PASS')\n",
    # wrong, with integers whose comparisons always succeed
    "03_cell07": "class Lie(int):\n    def __eq__(self, other):\n        return True\n"
                 "    def __ne__(self, other):\n        return False\n"
                 "    __hash__ = int.__hash__\n"
                 "def conv_parameters(kernel, c_in, c_out, bias=True):\n    return Lie(0)\n"
                 "def conv_multiply_adds(kernel, c_in, c_out, h_out, w_out):\n"
                 "    return Lie(0)\n",
    # wrong, with NumPy, AssertionError, print and the grading error patched
    "03_cell10": "import builtins, numpy\n"
                 "def receptive_field(kernels, strides=None):\n    return 1\n"
                 "numpy.allclose = lambda *a, **k: True\nnumpy.any = lambda *a, **k: False\n"
                 "class Nothing(Exception):\n    pass\n"
                 "builtins.AssertionError = Nothing\nchecks.GradingError = Nothing\n"
                 "builtins.print = lambda *a, **k: None\n",
    # wrong, with an input transformer that wraps every later cell in try/except, the
    # environment set to fast mode, and the course's modules removed
    "03_cell13": "ALEXNET_START = []\n"
                 "def describe(stack, size, channels):\n    return []\n"
                 "def wrap(lines):\n    return ['try:\\n'] + ['    ' + l for l in lines] + "
                 "['\\nexcept BaseException:\\n    pass\\n']\n"
                 "get_ipython().input_transformers_cleanup.append(wrap)\n"
                 "import os, sys\nos.environ['COURSE_FAST'] = '1'\n"
                 "for m in [m for m in sys.modules if m.startswith('course.grading')]:\n"
                 "    del sys.modules[m]\n",
    # wrong, returning an ndarray subclass whose comparisons lie and an object whose float lies
    "03_cell16": "import numpy as np\n"
                 "class LyingArray(np.ndarray):\n"
                 "    def __eq__(self, other):\n        return np.ones(np.shape(other), bool)\n"
                 "    def __sub__(self, other):\n        return np.zeros(np.shape(other))\n"
                 "    def __float__(self):\n        return 0.0\n"
                 "def conv2d_naive(x, w, bias=None, stride=1, padding=0):\n"
                 "    return np.zeros((2, 7, 7, 4)).view(LyingArray)\n",
}


@needs_bwrap
def test_forgeries_in_every_answer_cell_earn_only_the_real_answers(tmp_path, monkeypatch):
    from course.grading.notebooks.batch import Batch, autograde

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    nb = json.load(open(os.path.join(repo, "exercises", "03_convolution_arithmetic.ipynb")))
    for cell in nb["cells"]:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        if grade_id in FORGED:
            cell["source"] = FORGED[grade_id]
        if grade_id == "describe_stack":  # an edited check cell, as well
            cell["source"] = "# GRADED: describe_stack, 3 points\nprint('PASS')"
    folder = tmp_path / "submitted" / "mallory"
    folder.mkdir(parents=True)
    (folder / "03_convolution_arithmetic.ipynb").write_text(json.dumps(nb))
    monkeypatch.delenv("COURSE_FAST", raising=False)
    [grade] = autograde(Batch(tmp_path / "submitted", tmp_path / "out", repo,
                              "03_convolution_arithmetic"))
    assert grade.status == "completed", grade.notes
    assert {c.grade_id: c.points for c in grade.cells} == {
        "output_size": 2, "parameters_and_multiply_adds": 0, "receptive_field": 0,
        "describe_stack": 0, "conv2d_naive": 0}
    assert any("describe_stack had been edited: restored" in n for n in grade.notes)
    messages = {c.grade_id: c.message for c in grade.cells}
    assert "conv_parameters(5, 3, 6) returned 0, expected 456" in \
        messages["parameters_and_multiply_adds"]
    assert "differs from the reference" in messages["conv2d_naive"]
