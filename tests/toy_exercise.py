"""A toy exercise for the notebook grader's tests: no TensorFlow in its kernel, so a graded
notebook takes seconds. ``toy_root`` writes ``solutions/99_toy.ipynb`` and its exercise;
``submit`` writes a student's notebook as JSON (a hostile one need not be valid)."""
from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import exercises
from course.grading.notebooks.sandbox import bwrap_path

needs_bwrap = pytest.mark.skipif(bwrap_path() is None and not os.environ.get("CI"),
                                 reason="needs bubblewrap (apt-get install bubblewrap)")


@contextlib.contextmanager
def for_real():
    """Grades that count: ``make test`` sets ``COURSE_FAST=1``, which the grader refuses."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COURSE_FAST", raising=False)
        yield


def toy_root(tmp_path) -> Path:
    root = tmp_path / "repo"
    (root / "solutions").mkdir(parents=True)
    nb = new_notebook(cells=[
        new_markdown_cell("# Toy exercise"),
        new_code_cell("import math"),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION"),
        new_code_cell("# GRADED: double, 3 points\nassert double(2) == 4\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n"
                      "assert type(double(5)) is int\n### END HIDDEN TESTS"),
        new_code_cell("def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n"
                      "    ### END SOLUTION"),
        new_code_cell("# GRADED: half, 2 points\nassert half(4) == 2\n"
                      "### BEGIN HIDDEN TESTS\nassert [half(v) for v in (1, 3)] == [0.5, 1.5]\n"
                      "### END HIDDEN TESTS"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "solutions" / "99_toy.ipynb")
    exercises.write_all(root)
    return root


def submit(folder: Path, student: str, nb, name: str = "99_toy.ipynb") -> Path:
    """Write the notebook as a student's file."""
    (folder / student / "99_toy").mkdir(parents=True, exist_ok=True)
    path = folder / student / "99_toy" / name
    path.write_text(json.dumps(nb))
    return path


def answer(nb, cell: int, source: str):
    nb = copy.deepcopy(nb)
    nb.cells[cell].source = source
    return nb


def solved(root: Path):
    """The toy exercise, answered right."""
    exercise = nbformat.read(root / "exercises" / "99_toy.ipynb", as_version=4)
    return answer(answer(exercise, 2, "def double(x):\n    return 2 * x"), 4,
                  "def half(x):\n    return x / 2")
