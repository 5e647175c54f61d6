"""The checks of exercises 03-08 (course.grading.checks) pass right answers and fail
wrong ones with a message that says what is wrong; the exercise notebooks follow the grading
convention and their unsolved copies score zero."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fast_convolutions import direct_f23, winograd_f23

from course import exercises
from course.grading import checks
from course.grading.contract import GradingError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "solutions").glob("0[3-8]_*.ipynb"))
GRADED = re.compile(r"^# GRADED: (\w+), (\d+) points?$")


# --- values ------------------------------------------------------------------------------------

def _size(n, kernel, stride=1):
    return (n - kernel) // stride + 1


def test_check_cases_passes_and_names_the_failing_call(capsys):
    checks.check_cases(_size, [((32, 5), {}, 28), ((227, 11), {"stride": 4}, 55)])
    assert "PASS" in capsys.readouterr().out
    with pytest.raises(GradingError, match=r"_size\(32, 5, stride=2\) returned 14, expected 15"):
        checks.check_cases(_size, [((32, 5), {"stride": 2}, 15)], hint="use the formula")


def test_errors_in_student_code_become_grading_errors():
    def unsolved(x):
        raise NotImplementedError("Your code here")

    def buggy(x):
        return x / "a"

    with pytest.raises(GradingError, match=r"unsolved\(1\) raised NotImplementedError: write"):
        checks.call(unsolved, 1)
    with pytest.raises(GradingError, match=r"buggy\(array of shape \(2,\)\) raised TypeError"):
        checks.call(buggy, np.zeros(2))
    assert checks.call(_size, 32, kernel=5) == 28


def test_check_array_reports_shape_nan_and_worst_value():
    reference = np.arange(6.0).reshape(2, 3)
    checks.check_array("x", reference + 1e-7, reference)
    with pytest.raises(GradingError, match=r"has shape \(3, 2\), expected \(2, 3\)"):
        checks.check_array("x", reference.T, reference)
    with pytest.raises(GradingError, match="NaN"):
        checks.check_array("x", reference * np.nan, reference)
    wrong = reference.copy()
    wrong[1, 2] = 9
    with pytest.raises(GradingError, match=r"up to 4 \(at index \(1, 2\): 9 instead of 5\)"):
        checks.check_array("x", wrong, reference)
    with pytest.raises(GradingError, match="expected an array"):
        checks.check_array("x", "abc", reference)


def test_gradient_check_accepts_the_right_gradient_and_rejects_a_wrong_one():
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    numeric = checks.numerical_gradient(np.tanh, x.copy(), dout)
    right = dout * (1 - np.tanh(x) ** 2)
    assert checks.check_gradient("dx", right, numeric) < 1e-8
    with pytest.raises(GradingError, match="relative error"):
        checks.check_gradient("dx", dout * (1 - np.tanh(x)), numeric)
    with pytest.raises(GradingError, match="shape"):
        checks.check_gradient("dx", right[:2], numeric)
    with pytest.raises(GradingError, match="float64"):
        checks.numerical_gradient(np.tanh, x.astype("float32"), dout)
    assert checks.relative_error([1.0, 2.0], [1.0, 2.0]) == 0
    assert checks.relative_error([1.0], [3.0]) == pytest.approx(0.5)


# --- models -------------------------------------------------------------------------------------

def _small_model():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


def test_check_layers_and_params():
    model = _small_model()
    checks.check_layers(model, {"conv": ((None, 6, 6, 4), 112), "logits": ((None, 2), 10)})
    checks.check_params("the model", model, 122)
    with pytest.raises(GradingError, match="no layer named 'C1'.*conv, pool, logits"):
        checks.check_layers(model, {"C1": ((None, 6, 6, 4), 112)})
    with pytest.raises(GradingError, match=r"'conv' outputs shape \(None, 6, 6, 4\), expected"):
        checks.check_layers(model, {"conv": ((None, 8, 8, 4), 112)})
    with pytest.raises(GradingError, match="'conv' has 112 parameters, expected 456"):
        checks.check_layers(model, {"conv": ((None, 6, 6, 4), 456)})
    with pytest.raises(GradingError, match=r"122 parameters, expected 100 \(\+22\)"):
        checks.check_params("the model", model, 100)
    with pytest.raises(GradingError, match="expected a Keras model"):
        checks.check_params("the model", "not a model", 100)


def test_check_accuracy_uses_the_bar(monkeypatch):
    import keras

    monkeypatch.delenv("COURSE_FAST", raising=False)  # CI exports it; the message says "fast mode"

    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    model.layers[-1].set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])  # logits (m, -m)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2, 2, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) < 0).astype(int)  # class 0 when the mean is positive
    assert checks.check_accuracy(model, x, y, 0.99) == 1.0
    with pytest.raises(GradingError, match=r"Test accuracy is 0.00% on 100 images, the bar is 50%"):
        checks.check_accuracy(model, x, 1 - y, 0.5)
    monkeypatch.setenv("COURSE_FAST", "1")
    with pytest.raises(GradingError, match=r"Test accuracy \(fast mode\) is 0.00% on 100 images"):
        checks.check_accuracy(model, x, 1 - y, 0.5)


def test_exercise_04_bars_are_the_package_s(monkeypatch):
    """Exercise 04's check takes no bar: full mode 60%, fast mode the 30% smoke bar."""
    import keras

    import course.evaluation

    monkeypatch.setattr(course.evaluation, "evaluate_accuracy", lambda model, x, y: 0.45)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    monkeypatch.delenv("COURSE_FAST", raising=False)
    from course.grading.checks import models

    assert (models.SMALL_RESNET_MIN_ACCURACY, models.SMALL_RESNET_FAST_MIN_ACCURACY) == (0.6, 0.3)
    with pytest.raises(GradingError, match=r"Test accuracy is 45.00% on 3 images, the bar is 60%"):
        checks.check_small_resnet(model, [0, 1, 2], [0, 1, 2])
    monkeypatch.setenv("COURSE_FAST", "1")
    assert checks.check_small_resnet(model, [0, 1, 2], [0, 1, 2]) == 0.45
    source = (ROOT / "solutions" / "04_build_the_classics.ipynb").read_text()
    assert "checks.check_small_resnet(net, x_test, y_test" in source
    assert "BAR = " not in source and "check_accuracy(" not in source


# --- counting multiplications -------------------------------------------------------------------

def _correlate(d, g):
    return np.convolve(d, g[::-1], "valid")


def test_count_multiplications(capsys):
    d, g = np.array([1.0, 2.0, -3.0, 4.0]), np.array([0.5, -1.0, 2.0])
    expected = _correlate(d, g)
    for func, products in ((direct_f23, 6), (winograd_f23, 4)):
        values, count = checks.count_multiplications(func, d, g, reference=_correlate)
        np.testing.assert_allclose(values, expected)
        assert count == products
    assert "PASS: winograd_f23(d, g) matches the reference" in capsys.readouterr().out
    with pytest.raises(GradingError, match=r"raised TypeError: a tracked value cannot become a "
                                           r"float.*np.asarray\(d, float\)"):
        checks.count_multiplications(  # converted to floats: the products would not be seen
            lambda d, g: direct_f23(np.asarray(d, float), np.asarray(g, float)), d, g,
            reference=_correlate)
    b_t = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
    big_g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    a_t = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])

    def windows(d, g):  # a "valid" 2-D cross-correlation, flattened
        return np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])

    values, count = checks.count_multiplications(
        lambda d, g: a_t @ ((big_g @ g @ big_g.T) * (b_t @ d @ b_t.T)) @ a_t.T,
        np.arange(16.0).reshape(4, 4), np.ones((3, 3)), reference=windows)
    assert count == 16 and values.shape == (4,)
    np.testing.assert_allclose(values, [45, 54, 81, 90])  # sums of the 3x3 windows
    with pytest.raises(GradingError, match="return the outputs"):
        checks.count_multiplications(lambda d, g: None, d, g, reference=_correlate)
    with pytest.raises(GradingError, match=r"differs from the reference.*y0 = m1"):
        checks.count_multiplications(lambda d, g: winograd_f23(d, g)[::-1], d, g,
                                     reference=_correlate, hint="y0 = m1 + m2 + m3")


# --- augmentation layers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (128, 12, 12, 3)).astype("float32")


def _crop_flip(seed=None, padding=2):
    import keras

    from course.preprocessing import RandomPadCrop

    return keras.Sequential([RandomPadCrop(padding, mode="constant", seed=seed),
                             keras.layers.RandomFlip("horizontal", seed=seed)])


def test_crop_flip_checks_pass_the_course_layers(images):
    from course.preprocessing import RandomPadCrop

    counts = checks.check_crop_flip(_crop_flip(seed=0)(images, training=True), images, 2)
    assert 40 < counts["flipped"] < 88 and counts["offsets"] > 10
    checks.check_inference_identity(RandomPadCrop(2, seed=0), images[:8])
    checks.check_seeded(lambda seed: _crop_flip(seed=seed), images[:8])


def test_crop_flip_check_catches_wrong_augmentations(images):
    from course.preprocessing import RandomPadCrop

    reflect = RandomPadCrop(2, mode="reflect", seed=0)(images, training=True)
    with pytest.raises(GradingError, match="not a 12x12 crop of the input padded with 2 zeros"):
        checks.check_crop_flip(reflect, images, 2)
    with pytest.raises(GradingError, match=r"128 of 128 images were mirrored"):
        checks.check_crop_flip(images[:, :, ::-1], images, 2)
    flips = np.random.default_rng(1).random(len(images))[:, None, None, None] < 0.5
    with pytest.raises(GradingError, match="Only 1 different crop offsets"):
        checks.check_crop_flip(np.where(flips, images[:, :, ::-1], images), images, 2)
    with pytest.raises(GradingError, match="shape"):
        checks.check_crop_flip(images[:, :10], images, 2)


class _Shift:
    """A stand-in layer: adds noise while training (a fixed or a generated seed)."""

    name = "shift"

    def __init__(self, seed=None, fixed=False, at_inference=False):
        self.seed, self.fixed, self.at_inference, self.calls = seed, fixed, at_inference, 0

    def __call__(self, x, training=False):
        if not training and not self.at_inference:
            return x
        self.calls += 0 if self.fixed else 1
        return x + np.random.default_rng((self.seed, self.calls)).normal(size=x.shape)


def test_seeded_and_inference_checks_catch_mistakes(images):
    checks.check_seeded(lambda seed: _Shift(seed), images[:4])
    with pytest.raises(GradingError, match="next call|twice"):
        checks.check_seeded(lambda seed: _Shift(seed, fixed=True), images[:4])
    with pytest.raises(GradingError, match="seeds 1 and 2 gave the same"):
        checks.check_seeded(lambda seed: _Shift(0), images[:4])
    with pytest.raises(GradingError, match="only with training=True"):
        checks.check_inference_identity(_Shift(0, at_inference=True), images[:4])


def test_whitening_check(images):
    from course.preprocessing import PerImageStandardization

    checks.check_whitening(PerImageStandardization()(images), images)
    whole_batch = (images - images.mean()) / images.std()
    with pytest.raises(GradingError, match="whitened images differ"):
        checks.check_whitening(whole_batch, images)


def test_config_check():
    import keras

    from course.preprocessing import RandomPadCrop

    checks.check_config(RandomPadCrop(3, mode="constant", seed=7), padding=3, seed=7)

    class Forgetful(keras.layers.Layer):
        def __init__(self, padding=4, **kwargs):
            super().__init__(**kwargs)
            self.padding = padding

        def get_config(self):
            return {**super().get_config(), "padding": 4}  # the default, not its own value

    with pytest.raises(GradingError, match=r"get_config\(\) has padding=4, expected 3"):
        checks.check_config(Forgetful(3), padding=3)


# --- transfer learning --------------------------------------------------------------------------

def test_discriminative_rates_check():
    from course.recipes import Recipe

    model = _small_model()
    sgd = Recipe(data="cifar10", optimizer="sgd")
    groups = ((None, 0.01), ("pool", 0.1), ("logits", 1.0))
    assert checks.check_discriminative_rates(sgd.replace(layer_lr_multipliers=groups), model)
    with pytest.raises(GradingError, match="no discriminative learning rates"):
        checks.check_discriminative_rates(sgd, model)
    with pytest.raises(GradingError, match="names the layer 'stage2'"):
        checks.check_discriminative_rates(
            sgd.replace(layer_lr_multipliers=((None, 0.1), ("stage2", 1.0))), model)
    with pytest.raises(GradingError, match="should learn slower"):
        checks.check_discriminative_rates(
            sgd.replace(layer_lr_multipliers=((None, 1.0), ("logits", 0.1))), model)
    with pytest.raises(GradingError, match="expected a course.recipes.Recipe"):
        checks.check_discriminative_rates({"lr": 1}, model)


# --- the exercise notebooks ---------------------------------------------------------------------

def _graded_cells(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return nb, [(GRADED.match(c.source.splitlines()[0]), c) for c in nb.cells
                if c.cell_type == "code" and c.source.startswith("# GRADED:")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_notebooks_follow_the_convention(path):
    nb, graded = _graded_cells(path)
    assert graded, f"{path.name} has no graded cells"
    ids = [match.group(1) for match, _ in graded if match]
    assert len(ids) == len(graded), f"{path.name}: a '# GRADED: id, N points' line is malformed"
    assert len(set(ids)) == len(ids), f"{path.name}: grade ids repeat: {ids}"
    for match, cell in graded:
        assert "### BEGIN SOLUTION" not in cell.source, f"{match.group(1)} holds a solution"
        assert cell.source.count("### BEGIN HIDDEN TESTS") == cell.source.count(
            "### END HIDDEN TESTS")
    solutions = [c for c in nb.cells if "### BEGIN SOLUTION" in c.source]
    assert solutions and all(c.cell_type == "code" for c in solutions)
    first = nb.cells[0].source
    assert first.startswith("# Exercise") and "practise" in first and "lesson" in first
    assert any(c.cell_type == "markdown" and c.source.startswith("## Setup") for c in nb.cells)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"commit {path.name} without outputs"
    exercises.make_exercise(nb)  # markers balanced


def _ends_in_a_value(source: str) -> bool:
    """True if the cell's last statement is an expression that Jupyter would display (not a
    print(), not silenced with ';'): nbgrader reads a displayed number as partial credit."""
    import ast

    last = ast.parse(source).body[-1]
    code = [line.rstrip() for line in source.splitlines()
            if line.strip() and not line.strip().startswith("#")]
    if not isinstance(last, ast.Expr) or code[-1].endswith(";"):
        return False
    value = last.value
    return not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id == "print")


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_no_check_cell_ends_in_a_value_nbgrader_would_read_as_a_grade(path):
    assert _ends_in_a_value("checks.check_accuracy(net, x, y, 0.6)")  # a float: partial credit
    assert not _ends_in_a_value("checks.check_accuracy(net, x, y, 0.6);\n# done")
    assert not _ends_in_a_value("print('PASS')") and not _ends_in_a_value("x = f()")
    _, graded = _graded_cells(path)
    for match, cell in graded:
        for version in (cell.source, exercises.strip_hidden_tests(cell.source)):
            assert not _ends_in_a_value(version), f"{match.group(1)} ends in a displayed value"


def _score(path, tmp_path, keep_hidden=True):
    """(points earned, points in all) of the unsolved copy of a solution notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if keep_hidden:  # what nbgrader autograde runs: solutions stripped, hidden tests restored
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source, cell.outputs = exercises.strip_solution(cell.source), []
    else:  # the student's copy
        nb = nbformat.from_dict(exercises.make_exercise(nb))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    earned = total = 0
    for cell in nb.cells:
        match = GRADED.match(cell.source.splitlines()[0]) if cell.cell_type == "code" else None
        if match:
            total += int(match.group(2))
            if not any(o.output_type == "error" for o in cell.outputs):
                earned += int(match.group(2))
    return earned, total


# Every unsolved exercise, as nbgrader grades it and as the student runs it, on request; in
# `make test`, tests/test_nbgrader.py autogrades an unsolved 05_batch_norm_backward to zero.
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("keep_hidden", [True, False], ids=["autograded", "student"])
def test_every_unsolved_exercise_scores_zero(path, keep_hidden, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_FAST", "1")
    earned, total = _score(path, tmp_path, keep_hidden)
    assert total > 0 and earned == 0


def test_check_cases_compares_sequences_element_by_element(capsys):
    """Lists and tuples compare as the numbers in them (NumPy scalars as Python numbers)."""
    pads = lambda n: [np.int64(n // 2), n - n // 2]  # noqa: E731 - a function under test
    checks.check_cases(pads, [((3,), {}, (1, 2)), ((4,), {}, [2, 2])])
    assert capsys.readouterr().out == "PASS: <lambda> on 2 cases.\n"
    with pytest.raises(GradingError, match=r"^<lambda>\(3\) returned \(1, 2\), expected "
                                           r"\(2, 1\)\.$"):
        checks.check_cases(pads, [((3,), {}, (2, 1))])


def test_gradient_check_messages_and_the_relative_error_formula(capsys):
    """CS231n's relative error |a - b| / max(1e-8, |a| + |b|): the floor only matters near 0."""
    assert checks.relative_error([1e-3], [2e-3]) == pytest.approx(1 / 3)
    assert checks.relative_error([0.0], [1e-9]) == pytest.approx(0.1)
    assert checks.relative_error([0.0], [0.0]) == 0.0
    numeric = np.array([1.0, 2.0])
    assert checks.check_gradient("dx", numeric, numeric) == 0.0
    assert capsys.readouterr().out == "PASS: dx relative error 0.00e+00 < 1e-07.\n"
    with pytest.raises(GradingError, match=r"^dx: relative error 3.33e-01 against the numerical "
                                           r"gradient, expected below 1e-07\.$"):
        checks.check_gradient("dx", [1.0, 1.0], numeric)
    with pytest.raises(GradingError, match=r"^dx has shape \(1,\), expected \(2,\) \(the shape "
                                           r"of the variable it is the gradient of\)\.$"):
        checks.check_gradient("dx", [1.0], numeric)
    with pytest.raises(GradingError, match=r"^dx contains NaN or infinite values\.$"):
        checks.check_gradient("dx", [1.0, np.inf], numeric)
    with pytest.raises(GradingError, match=r"^A gradient check needs float64 inputs, got float32: "
                                           r"float32 rounding \(about 1e-7\) swamps the check\.$"):
        checks.numerical_gradient(np.tanh, np.zeros(2, np.float32), np.ones(2))


def test_tracked_numbers_count_products_and_quotients_of_two_tracked_values():
    """Lavin & Gray count general multiplications (data by filter); sums, differences,
    negation and scaling by constants are free."""
    from course.grading.checks.products import Tape, Tracked, count_products

    tape = Tape()
    a, b = (Tracked(v, tape, tape.add(["in", i])) for i, v in enumerate((6.0, 3.0)))
    assert (a / b / b).value == pytest.approx(2 / 3) and count_products(tape.nodes) == 2
    assert (a * b).value == 18.0 and count_products(tape.nodes) == 3
    free = [-a, 10 - a, a - 1, 1 + a + b, 0.5 * a, a / 2]
    assert [v.value for v in free] == [-6.0, 4.0, 5.0, 10.0, 3.0, 3.0]
    assert count_products(tape.nodes) == 3


def test_plain_turns_numpy_scalars_into_python_numbers_in_containers():
    value = checks.helpers.plain([np.float64(1.5), (np.int64(2), {np.int64(3): np.float32(0.5)})])
    assert value == [1.5, (2, {3: 0.5})]
    assert type(value) is list and type(value[1]) is tuple
    assert [type(v) for v in (value[0], value[1][0], *value[1][1], *value[1][1].values())] == \
        [float, int, int, float]


def test_describe_shows_tensors_by_shape_and_cuts_long_values_at_60_characters():
    from types import SimpleNamespace

    import keras
    import tensorflow as tf

    assert checks.describe(tf.zeros((2, 3))) == "tensor of shape (2, 3)"
    assert checks.describe(keras.Input((4,))) == "tensor of shape (None, 4)"
    shaped = SimpleNamespace(shape=(2,))  # a shape but no dtype: not a tensor
    assert checks.describe(shaped) == repr(shaped)
    assert checks.describe("a" * 58) == repr("a" * 58)  # 60 characters: whole
    assert checks.describe("a" * 59) == "'" + "a" * 56 + "..."  # 61: 57 and "..."
    assert len(checks.describe("a" * 500)) == 60


def test_callable_names_and_the_message_of_an_unsolved_cell():
    class Scale:
        def __call__(self, x):
            raise NotImplementedError

    assert checks.callable_name(Scale()) == "Scale" and checks.callable_name(np.tanh) == "tanh"
    with pytest.raises(GradingError, match=r"^Scale\(2\) raised NotImplementedError: write the "
                                           r"code of that exercise cell \(replace the `raise "
                                           r"NotImplementedError`\) and run it again\.$"):
        checks.call(Scale(), 2)


def test_check_array_tolerances_worst_element_and_messages(capsys):
    reference = np.array([1000.0, 1.0])
    checks.check_array("x", reference * (1 + 5e-6), reference)  # within rtol = 1e-5
    assert capsys.readouterr().out == "PASS: x matches the reference (max |difference| 0.005).\n"
    checks.check_array("x", reference, reference, atol=0, rtol=0)  # equal: no tolerance needed
    with pytest.raises(GradingError, match=r"^x differs from the reference by up to 0.001 \(at "
                                           r"index \(1,\): 1.001 instead of 1\); allowed: 1e-05 "
                                           r"\+ 1e-05 x \|reference\|\.$"):
        checks.check_array("x", reference + [0, 1e-3], reference)  # default atol: 1e-5
    # the worst element is the one furthest beyond its own allowance, not the largest error
    with pytest.raises(GradingError, match=r"at index \(1,\): 3 instead of 1"):
        checks.check_array("x", [1000.0 + 400, 3.0], reference, rtol=0.5)
    with pytest.raises(GradingError, match=r"^x is a str, expected an array of shape \(2,\)\. "
                                           r"Return a NumPy array\.$"):
        checks.check_array("x", "abc", reference)


def test_kernel_side_names_the_helper_and_hands_remote_objects_over():
    """The judge's agent finds a helper by ``module.qualname`` (``__course_helper__``); given an
    object of the student's kernel (``__course_run__``), the helper runs there."""
    def helper(obj, scale=1):
        return obj * scale

    marked = checks.kernel_side(helper)
    assert marked.__course_helper__ == f"{__name__}.{helper.__qualname__}"
    assert marked(3, scale=2) == 6 and marked.__wrapped__ is helper

    class Remote:
        def __course_run__(self, path, args, kwargs):
            return path, args, kwargs

    remote = Remote()
    assert marked(remote, scale=2) == (marked.__course_helper__, (remote,), {"scale": 2})
    assert marked([remote, 1]) == (marked.__course_helper__, ([remote, 1],), {})
