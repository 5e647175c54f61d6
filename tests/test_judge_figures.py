"""The two figures a check once took from the student's kernel, judged again (issue 31).

- Exercise 06: the products a function does. The kernel sends the program its function computed
  (``checks.trace_program``); the judge checks it, counts its products and replays it on inputs
  of its own: a patched ``Tracked``, a hand-made program or a lying answer earns nothing.
- Exercise 08: whether the new model shares weights with the pretrained one. No data from the
  kernel can prove it (``checks.models.shared_layers``); the judge refuses any answer that is not
  a list of names, and the one forgery it cannot see (an empty list while sharing) is pinned
  here as the documented limit.

Unit tests with a stand-in kernel first (an object whose ``__course_run__`` answers what a
forger's kernel would), then both exercises graded for real, in the sandbox.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from fast_convolutions import direct_f23, winograd_f23
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from toy_exercise import for_real, needs_bwrap

from course import exercises
from course.grading import checks
from course.grading.checks import products
from course.grading.contract import GradingError

ROOT = Path(__file__).resolve().parents[1]


class _Kernel:
    """A student's function as the judge holds it: ``kernel_side`` helpers run "in the kernel",
    which here answers ``reply(*args)`` (or ``reply``), as a forger's kernel may."""

    def __init__(self, name, reply):
        self.__name__, self.reply, self.helpers = name, reply, []

    def __course_run__(self, helper, args, kwargs):
        self.helpers.append(helper)
        return self.reply(*args[1:], **kwargs) if callable(self.reply) else self.reply


def _correlate(d, g):
    return np.convolve(d, g[::-1], "valid")


D, G = np.array([0.3, -1.2, 2.0, 0.7]), np.array([1.5, -0.4, 0.9])


def _hand_made(data, filters, products_=4):
    """A forger's program: ``products_`` products of inputs, and the outputs the check expects on
    the inputs the kernel saw, as constants."""
    n, m = np.size(data), np.size(filters)
    nodes = [["in", i] for i in range(n + m)]
    nodes += [["mul", k % n, n + k % m] for k in range(products_)]
    outputs = []
    for value in _correlate(np.asarray(data), np.asarray(filters)):
        nodes.append(["const", float(value)])
        outputs.append(len(nodes) - 1)
    return {"nodes": nodes, "outputs": outputs}


# ---------------------------------------------------------------------------------------------
# Exercise 06, with a stand-in kernel


def test_the_judge_counts_an_honest_program_itself():
    kernel = _Kernel("winograd_f23", lambda d, g: products.trace_program(winograd_f23, d, g))
    values, count = checks.count_multiplications(kernel, D, G, reference=_correlate)
    assert kernel.helpers == ["course.grading.checks.products.trace_program"]
    assert count == 4
    np.testing.assert_allclose(values, _correlate(D, G))


def test_a_hand_made_program_that_knows_only_the_checks_outputs_earns_nothing():
    kernel = _Kernel("winograd_f23", _hand_made)
    with pytest.raises(GradingError, match="right outputs for the check's d and g but not for "
                                           "others"):
        checks.count_multiplications(kernel, D, G, reference=_correlate)


def test_a_patched_tracked_earns_nothing(monkeypatch):
    """Past the fourth product, the forger's ``Tracked`` records data x filter as a product by
    a constant (the filter's value): four products counted, the right values on the check's
    inputs, and the program computes something else."""
    honest = products.Tracked.__mul__

    def forged(self, other):
        if isinstance(other, products.Tracked) and \
                sum(node[0] == "mul" for node in self.tape.nodes) >= 4:
            return honest(self, other.value)
        return honest(self, other)

    monkeypatch.setattr(products.Tracked, "__mul__", forged)
    assert products.count_products(products.validated(
        products.trace_program(direct_f23, D, G), 7)[0]) == 4
    with pytest.raises(GradingError, match="but not for others"):
        checks.count_multiplications(direct_f23, D, G, reference=_correlate)


class _LyingDict(dict):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("reply", [
    pytest.param(None, id="nothing"),
    pytest.param(object(), id="an object"),
    pytest.param([1, 2], id="a list"),
    pytest.param(_LyingDict(nodes=[["in", 0]], outputs=[0]), id="a lying dict"),
    pytest.param({"nodes": [["in", 0]], "outputs": [0], "products": 4}, id="a claimed count"),
    pytest.param({"nodes": [["in", 0], ["mul", 0, 2], ["in", 1]], "outputs": [1]},
                 id="an operand from later"),
    pytest.param({"nodes": [["in", 7]], "outputs": [0]}, id="no input 7"),  # 4 + 3 inputs
    pytest.param({"nodes": [["in", 0], ["const", float("nan")]], "outputs": [1]}, id="NaN"),
    pytest.param({"nodes": [["in", 0], ["pow", 0, 0]], "outputs": [1]}, id="an unknown op"),
    pytest.param({"nodes": [["in", True]], "outputs": [0]}, id="a bool for an index"),
    pytest.param({"nodes": [["in", 0]], "outputs": []}, id="no outputs"),
    pytest.param({"nodes": [["in", 0]], "outputs": [1]}, id="an output out of range"),
    pytest.param({"nodes": [["in", 0]] * (products.MAX_NODES + 1), "outputs": [0]},
                 id="too many nodes"),
])
def test_a_lying_or_malformed_answer_earns_nothing(reply):
    with pytest.raises(GradingError, match="could not be checked"):
        checks.count_multiplications(_Kernel("winograd_f23", reply), D, G, reference=_correlate)


def test_products_are_those_of_two_values_that_depend_on_the_inputs():
    nodes = [("in", 0), ("in", 1), ("const", 2.0), ("mul", 0, 2), ("div", 0, 2),  # scalings
             ("add", 2, 2), ("mul", 5, 2),  # constants only
             ("mul", 0, 1), ("sub", 3, 3), ("mul", 8, 0),  # x*y, and (2x - 2x) * x
             ("div", 2, 0)]  # a quotient by a value
    assert products.count_products(nodes) == 3
    assert products.evaluate(nodes, [7, 9, 10], [3.0, 5.0]) == [15.0, 0.0, 2 / 3]


def test_the_exact_replay_has_no_rounding_to_hide_behind():
    """x + 2**52 - 2**52 rounds x to an integer in float64; in exact arithmetic it is x."""
    nodes = [("in", 0), ("const", 2.0 ** 52), ("add", 0, 1), ("sub", 2, 1)]
    assert products.evaluate(nodes, [3], [0.3]) == [0.0]
    assert products.evaluate(nodes, [3], [0.3], exact=True) == [0.3]


# ---------------------------------------------------------------------------------------------
# Exercise 08, with a stand-in kernel


def _tiny_pretrained():
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, name="conv1_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="logits")(x), name="tiny")


def test_shared_weights_are_found_in_the_students_own_run():
    import keras

    from course import transfer

    pretrained = _tiny_pretrained()
    assert checks.shared_layers(lambda p: transfer.with_new_head(transfer.copy_model(p), 5),
                                pretrained) == []
    assert checks.shared_layers(lambda p: transfer.with_new_head(p, 5), pretrained) == [
        "conv1_conv"]

    def nested(p):  # the pretrained network as one layer of the new one: all its weights
        inputs = keras.Input((32, 32, 3))
        return keras.Model(inputs, keras.layers.Dense(5, name="new_logits")(p(inputs)))

    assert checks.shared_layers(nested, pretrained) == ["tiny"]


@pytest.mark.parametrize("reply", [None, object(), "conv1_conv", ["conv1_conv", 3],
                                   ("conv1_conv",)],
                         ids=["none", "object", "a_string", "a_number_in_the_list", "a_tuple"])
def test_an_answer_about_sharing_that_is_not_a_list_of_names_earns_nothing(reply):
    with pytest.raises(GradingError, match="could not be checked"):
        checks.shared_layers(_Kernel("make_transfer_model", reply), None)


def test_an_empty_list_is_the_kernels_word():
    """The documented limit: the judge cannot tell a kernel that shares weights and answers []
    from one that does not share them (docs/instructors.md)."""
    kernel = _Kernel("make_transfer_model", [])
    assert checks.shared_layers(kernel, None) == []
    assert kernel.helpers == ["course.grading.checks.models.shared_weights"]


# ---------------------------------------------------------------------------------------------
# Both exercises, graded for real

#: Exercise 06 handed in by a forger: a direct F(2, 3) behind a patched ``Tracked`` (the last
#: two products recorded as products by constants), and a direct tile behind a hand-made program
#: (16 products of inputs, the check's outputs as constants). Against a judge that trusted the
#: kernel's program, both cells would pass (6 points).
FORGED_06 = {
    "06_cell10": '''from course.grading.checks import products as _products

_honest_mul = _products.Tracked.__mul__


def _forged_mul(self, other):
    if isinstance(other, _products.Tracked) and \\
            sum(node[0] == "mul" for node in self.tape.nodes) >= 4:
        return _honest_mul(self, other.value)
    return _honest_mul(self, other)


_products.Tracked.__mul__ = _forged_mul


def winograd_f23(d, g):
    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]
''',
    "06_cell15": '''import numpy as np
from course.convolution import conv2d_winograd
from course.grading.checks import products as _products


def winograd_tile(d, g):
    return np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])


def _hand_made(func, data, filters):
    data, filters = np.asarray(data, float), np.asarray(filters, float)
    n, m = data.size, filters.size
    nodes = [["in", i] for i in range(n + m)] + [["mul", k, n + k % m] for k in range(16)]
    outputs = []
    for i in range(2):
        for j in range(2):
            nodes.append(["const", float(np.sum(data[i:i + 3, j:j + 3] * filters))])
            outputs.append(len(nodes) - 1)
    return {"nodes": nodes, "outputs": outputs}


_products.trace_program.__wrapped__ = _hand_made
''',
}


def _submit(folder: Path, student: str, exercise: str, nb) -> None:
    (folder / student).mkdir(parents=True)
    (folder / student / f"{exercise}.ipynb").write_text(json.dumps(nb))


@needs_bwrap
def test_exercise_06_honest_full_marks_forgers_nothing_for_the_counts(tmp_path):
    from course.grading.notebooks.batch import Batch, autograde

    name = "06_computing_convolutions"
    submitted = tmp_path / "submitted"
    _submit(submitted, "alice", name, json.loads((ROOT / "solutions" / f"{name}.ipynb")
                                                 .read_text()))
    forged = json.loads((ROOT / "exercises" / f"{name}.ipynb").read_text())
    for cell in forged["cells"]:
        source = FORGED_06.get(cell["metadata"]["nbgrader"]["grade_id"])
        cell["source"] = source if source is not None else cell["source"]
    _submit(submitted, "mallory", name, forged)
    with for_real():
        grades = {g.student: g for g in autograde(Batch(submitted, tmp_path / "out", ROOT,
                                                        name))}
    for grade in grades.values():
        assert grade.status == "completed", (grade.student, grade.notes)
    assert {c.grade_id: c.points for c in grades["alice"].cells} == {
        "im2col": 2, "conv2d_im2col": 2, "winograd_f23": 2, "winograd_2d": 4,
        "multiplications": 1}
    cells = {c.grade_id: c for c in grades["mallory"].cells}
    assert {i: c.points for i, c in cells.items()} == {
        "im2col": 0, "conv2d_im2col": 0, "winograd_f23": 0, "winograd_2d": 0,
        "multiplications": 0}
    for grade_id in ("winograd_f23", "winograd_2d"):
        assert "right outputs for the check's d and g but not for others" in \
            cells[grade_id].message, cells[grade_id].message


def _new_head_toy(root: Path) -> None:
    """``solutions/98_new_head.ipynb``: exercise 08's ``new_head`` check cell as it is, four
    times (one per student function), around a tiny pretrained network."""
    source = nbformat.read(ROOT / "solutions" / "08_transfer_learning.ipynb", as_version=4)
    [check] = [c.source for c in source.cells
               if c.source.startswith("# GRADED: new_head,")]
    answers = {  # the function, and what its cell also does in the kernel
        "honest": ("return transfer.with_new_head(transfer.copy_model(pretrained), 5)", ""),
        "shares": ("return transfer.with_new_head(pretrained, 5)", ""),
        "lies": ("return transfer.with_new_head(pretrained, 5)",
                 "class _Names(list):\n    def __len__(self):\n        return 0\n\n\n"
                 "models.shared_weights.__wrapped__ = lambda *args: _Names(['conv1_conv'])\n"),
        "forges": ("return transfer.with_new_head(pretrained, 5)",
                   "models.shared_weights.__wrapped__ = lambda *args: []\n"),
    }
    cells = [new_markdown_cell("# new_head, four ways"), new_code_cell(
        "import course\nimport numpy as np\nimport keras\n\nfrom course import transfer\n"
        "from course.grading import checks\nfrom course.grading.checks import models"),
        new_code_cell("keras.utils.set_random_seed(0)\n"
                      "inputs = keras.Input((32, 32, 3), name='image')\n"
                      "x = keras.layers.Conv2D(4, 3, name='conv1_conv')(inputs)\n"
                      "x = keras.layers.GlobalAveragePooling2D(name='features')(x)\n"
                      "pretrained = keras.Model(inputs, keras.layers.Dense(5, name='logits')(x))")]
    for name, (body, extra) in answers.items():
        function = f"make_{name}"
        cells.append(new_code_cell(f"{extra}def {function}(pretrained):\n    ### BEGIN SOLUTION\n"
                                   f"    {body}\n    ### END SOLUTION"))
        cells.append(new_code_cell(check.replace("make_transfer_model", function)
                                   .replace("# GRADED: new_head,", f"# GRADED: {name},")))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (root / "solutions").mkdir(parents=True)
    nbformat.write(nb, root / "solutions" / "98_new_head.ipynb")
    exercises.write_all(root)


@needs_bwrap
def test_exercise_08_new_head_what_the_judge_decides_and_what_it_takes_on_trust(tmp_path):
    from course.grading.notebooks.batch import Batch, autograde

    root = tmp_path / "repo"
    _new_head_toy(root)
    solved = nbformat.read(root / "solutions" / "98_new_head.ipynb", as_version=4)
    submitted = tmp_path / "submitted"
    _submit(submitted, "student", "98_new_head", copy.deepcopy(solved))
    with for_real():
        [grade] = autograde(Batch(submitted, tmp_path / "out", root, "98_new_head"))
    assert grade.status == "completed", grade.notes
    cells = {c.grade_id: c for c in grade.cells}
    messages = {i: c.message for i, c in cells.items()}
    assert {i: c.points for i, c in cells.items()} == {
        "honest": 2,
        "shares": 0,  # the honest mistake: the kernel says so
        "lies": 0,  # an answer that is not a list of names (it crossed as a reference)
        "forges": 2,  # the documented limit: [] while sharing is the kernel's word
    }, messages
    assert "Layers conv1_conv are shared with `pretrained`" in cells["shares"].message
    assert "could not be checked" in cells["lies"].message
