"""``python -m course autograde``: a batch of hostile submissions, each graded in isolation.

A toy exercise (no TensorFlow in its kernel, so each notebook takes seconds) stands for the
course's: one student solved it, one edited and deleted check cells, one hangs, one fills
memory, and the student folder names are hostile. Everyone gets the points earned; the batch
goes on; the gradebook is escaped; fast mode is refused unless it is a dry run.
"""
from __future__ import annotations

import copy
import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import exercises
from course.grading import autograde, gradebook

SOLVED = '=HYPERLINK("x")\nsolved'  # a folder name that is a formula and has a newline


def toy_root(tmp_path) -> Path:
    root = tmp_path / "repo"
    (root / "solutions").mkdir(parents=True)
    nb = new_notebook(cells=[
        new_markdown_cell("# Toy exercise"),
        new_code_cell("import math"),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION"),
        new_code_cell("# GRADED: double, 3 points\nassert double(2) == 4\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS"),
        new_code_cell("def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n"
                      "    ### END SOLUTION"),
        new_code_cell("# GRADED: half, 2 points\nassert half(4) == 2"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "solutions" / "99_toy.ipynb")
    exercises.write_all(root)
    return root


def submit(folder: Path, student: str, nb) -> None:
    (folder / student / "99_toy").mkdir(parents=True)
    nbformat.write(nb, folder / student / "99_toy" / "99_toy.ipynb")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("autograde")
    root = toy_root(tmp_path)
    solution = nbformat.read(root / "solutions" / "99_toy.ipynb", as_version=4)
    exercise = nbformat.read(root / "exercises" / "99_toy.ipynb", as_version=4)
    submitted = tmp_path / "submitted"
    submit(submitted, SOLVED, solution)
    tampered = copy.deepcopy(exercise)  # unsolved; the checks edited to pass, then deleted
    tampered.cells[3].source = "pass"
    del tampered.cells[4:6]
    submit(submitted, "tampered", tampered)
    hangs = copy.deepcopy(solution)
    hangs.cells[4].source = "import time\ntime.sleep(3600)"
    submit(submitted, "hangs", hangs)
    hog = copy.deepcopy(solution)
    hog.cells[4].source = "blocks = []\nwhile True:\n    blocks.append(b'x' * 50_000_000)"
    submit(submitted, "hog", hog)
    (submitted / "broken" / "99_toy").mkdir(parents=True)
    (submitted / "broken" / "99_toy" / "99_toy.ipynb").write_text("{not json")
    out = tmp_path / "out"
    mp = pytest.MonkeyPatch()
    mp.delenv("COURSE_FAST", raising=False)
    try:
        # 12 s: a kernel without TensorFlow starts and runs the toy in about 2 s, even on a
        # loaded machine far below the limit; the notebook that hangs costs the whole limit.
        grades = autograde.autograde(submitted, out, root, time_limit=12, memory_mb=400)
    finally:
        mp.undo()
    return {g.student: g for g in grades}, out, root, submitted


def test_everyone_gets_the_points_earned(batch):
    grades, _, _, _ = batch
    assert {name: (g.points, g.max_points, g.status) for name, g in grades.items()} == {
        SOLVED: (5, 5, "completed"),
        "tampered": (0, 5, "completed"),  # check cells restored: the placeholders raise
        "hangs": (3, 5, "timeout"),
        "hog": (3, 5, "memory"),
        "broken": (0, 5, "unreadable"),
    }
    assert grades["hog"].peak_mb > 400
    assert any("double had been edited: restored" in n for n in grades["tampered"].notes)
    assert any("half had been deleted: put back" in n for n in grades["tampered"].notes)
    assert [c.status for c in grades["hangs"].cells] == ["passed", "not run"]


def test_hidden_tests_run_and_restored_cells_are_in_the_graded_notebook(batch):
    _, out, _, _ = batch
    graded = nbformat.read(out / "autograded" / "tampered" / "99_toy.ipynb", as_version=4)
    sources = [c.source for c in graded.cells]
    assert any("double(-1) == -2" in s for s in sources)  # hidden test, from the source
    assert sum(s.startswith("# GRADED:") for s in sources) == 2


def test_gradebook_and_feedback(batch):
    grades, out, _, _ = batch
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    hostile = next(r for r in rows if "solved" in r["student"])
    assert hostile["student"] == "'=HYPERLINK(\"x\")\\nsolved"  # no formula, one line
    assert (hostile["points"], hostile["max_points"], hostile["counts"]) == ("5", "5", "yes")
    assert hostile["cells"] == "double=3/3; half=2/2"
    feedback = (out / "feedback" / "tampered" / "99_toy.txt").read_text()
    assert "score: 0 / 5" in feedback and "NotImplementedError" in feedback
    hangs = (out / "feedback" / "hangs" / "99_toy.txt").read_text()
    assert "time limit of 12 s" in hangs and "not run" in hangs
    assert (out / "feedback" / gradebook.safe_name(SOLVED) / "99_toy.txt").exists()


def test_fast_mode_is_refused_unless_a_dry_run(batch, monkeypatch, tmp_path):
    _, _, root, submitted = batch
    monkeypatch.setenv("COURSE_FAST", "1")
    with pytest.raises(autograde.AutogradeError, match="COURSE_FAST=1 is set"):
        autograde.autograde(submitted, tmp_path / "refused", root)
    assert not (tmp_path / "refused").exists()
    env = autograde.kernel_env(dry_run=True)
    assert env["COURSE_FAST"] == "1" and env["NBGRADER_EXECUTION"] == "autograde"
    monkeypatch.delenv("COURSE_FAST")
    assert "COURSE_FAST" not in autograde.kernel_env(dry_run=False)


def test_dry_run_scores_do_not_count(tmp_path, monkeypatch):
    root = toy_root(tmp_path)
    submitted = tmp_path / "submitted"
    submit(submitted, "student", nbformat.read(root / "solutions" / "99_toy.ipynb",
                                               as_version=4))
    monkeypatch.setenv("COURSE_FAST", "1")
    grades = autograde.autograde(submitted, tmp_path / "out", root, dry_run=True, time_limit=120)
    assert grades[0].points == 5 and grades[0].counts is False
    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        assert next(csv.DictReader(f))["counts"] == "no"
    assert "DRY RUN" in (tmp_path / "out" / "feedback" / "student" / "99_toy.txt").read_text()


def test_unknown_exercises_and_stray_notebooks_get_a_row(tmp_path):
    submitted = tmp_path / "submitted"
    (submitted / "ann").mkdir(parents=True)
    (submitted / "ann" / "42_unknown.ipynb").write_text("{}")
    (submitted / "stray.ipynb").write_text("{}")
    found, problems = autograde.find_submissions(submitted, {"99_toy"})
    assert found == []
    assert sorted(why.split(" ")[0] for *_, why in problems) == ["a", "no"]
    found, _ = autograde.find_submissions(submitted, {"99_toy"}, exercise="99_toy")
    assert [(s.student, s.exercise) for s in found] == [("stray", "99_toy")]


def test_kernel_channels_are_encrypted_where_possible(tmp_path):
    """ipykernel 7.4+ warns at every start that plain TCP channels can be read by anyone on the
    machine; the runner asks jupyter_client for CurveZMQ, and the warning is gone."""
    from course.grading import notebook_runner
    from course.grading.sandbox import course_env

    if notebook_runner.kernel_encryption() is None:
        pytest.skip("this jupyter_client or libzmq cannot encrypt a kernel's channels")
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    run = notebook_runner.run_isolated(nb, tmp_path / "work", tmp_path / "private",
                                       time_limit=60, memory_mb=2000, env=course_env())
    assert run.outcome == "completed" and run.cells[0]["status"] == "ok"
    assert "without encryption" not in (tmp_path / "private" / "runner.log").read_text()
