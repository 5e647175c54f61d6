"""Exercises are generated from solutions; unsolved exercises fail their checks."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course import exercises, grading

ROOT = Path(__file__).resolve().parents[1]


def test_strip_solution_keeps_indentation_and_code_around():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n\nf()"
    assert exercises.strip_solution(source) == (
        f"def f():\n    {exercises.PLACEHOLDER}\n\nf()")


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_errors(source, message):
    with pytest.raises(exercises.SolutionMarkerError, match=message):
        exercises.strip_solution(source)


def test_every_solution_has_an_up_to_date_exercise():
    assert exercises.pairs(ROOT), "no solutions found"
    stale = exercises.stale(ROOT)
    assert not stale, f"run `python -m course exercises --write`: {stale}"
    for solution, exercise in exercises.pairs(ROOT):
        text = exercise.read_text()
        assert "BEGIN SOLUTION" not in text and "NotImplementedError" in text


def test_drift_is_detected(tmp_path):
    (tmp_path / "solutions").mkdir()
    solution = ROOT / "solutions" / "01_mnist_term_project.ipynb"
    (tmp_path / "solutions" / solution.name).write_text(solution.read_text())
    assert exercises.stale(tmp_path) == [tmp_path / "exercises" / solution.name]
    exercises.write_all(tmp_path)
    assert exercises.stale(tmp_path) == []
    nb = nbformat.read(tmp_path / "exercises" / solution.name, as_version=4)
    nb.cells[-1].source += "\n# edited by hand"
    nbformat.write(nb, tmp_path / "exercises" / solution.name)
    assert exercises.stale(tmp_path) == [tmp_path / "exercises" / solution.name]


def test_unsolved_mnist_exercise_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_FAST", "1")
    nb = nbformat.read(ROOT / "exercises" / "01_mnist_term_project.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        client.execute()


def test_mnist_check_rejects_wrong_models():
    import keras

    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    with pytest.raises(grading.GradingError, match=r"expected \(None, 10\)"):
        grading.check_mnist_term_project(keras.Model(inputs, keras.layers.Dense(5)(flat)))
    with pytest.raises(grading.GradingError, match="0 conv layers"):
        grading.check_mnist_term_project(keras.Model(inputs, keras.layers.Dense(10)(flat)))
    other = keras.Input((32, 32, 3))
    with pytest.raises(grading.GradingError, match="inputs of shape"):
        grading.check_mnist_term_project(
            keras.Model(other, keras.layers.Dense(10)(keras.layers.Flatten()(other))))


def test_mnist_check_fails_an_untrained_deep_model(mnist):
    from course import models

    with pytest.raises(grading.GradingError, match="not below 1.00%"):
        grading.check_mnist_term_project(models.create("mnist_deep_cnn"), fast=False)
