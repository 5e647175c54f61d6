"""``python -m course autograde``: a class of honest, broken and hostile submissions.

A toy exercise (no TensorFlow in its kernel, so each notebook takes seconds) stands for the
course's. Every notebook runs in the bubblewrap sandbox with its check cells in the judge: each
student gets the points the real answers earn, whatever their code does in its kernel; nobody
takes the batch down; the gradebook is the batch's alone and escaped; fast mode is refused unless
it is a dry run. The real exercises against real forgeries: ``test_judge.py``; the sandbox's
walls: ``test_sandbox.py``.
"""
from __future__ import annotations

import copy
import csv
import os
from pathlib import Path

import nbformat
import pytest
from toy_exercise import answer, for_real, needs_bwrap, solved, submit, toy_root

from course.grading.notebooks import batch as batch_module
from course.grading.notebooks import gradebook
from course.grading.notebooks.batch import AutogradeError, Batch, autograde
from course.grading.notebooks.sandbox import NotebookLimits

SOLVED = '=HYPERLINK("x")\nsolved'  # a folder name that is a formula and has a newline


#: Forgeries in the student's kernel with wrong answers (double returns x + 2, half is right).
#: Before, each of these passed `assert double(2) == 4` in the kernel; the judge runs it.
WRONG_DOUBLE = "def double(x):\n    return x + 2\n"
FORGERIES = {
    "patches_assert": WRONG_DOUBLE + "import builtins\nclass Quiet(Exception):\n    pass\n"
                      "builtins.AssertionError = Quiet\n",
    "lying_int": "class Lie(int):\n    def __eq__(self, other):\n        return True\n"
                 "    __hash__ = int.__hash__\n\ndef double(x):\n    return Lie(0)\n",
    "transformer": WRONG_DOUBLE + "def wrap(lines):\n    return ['try:\\n'] + ['    ' + l for l "
                   "in lines] + ['\\nexcept BaseException:\\n    pass\\n']\n"
                   "get_ipython().input_transformers_cleanup.append(wrap)\n",
    "fast_env": WRONG_DOUBLE + "import os\nos.environ['COURSE_FAST'] = '1'\n"
                "os.environ['NBGRADER_EXECUTION'] = ''\n",
    # a package named like the grader's, beside the notebook, and a data folder of its own
    "planted": WRONG_DOUBLE + "import os, sys\nos.makedirs('course/grading', exist_ok=True)\n"
               "open('course/__init__.py', 'w').write('')\n"
               "open('course/grading/__init__.py', 'w').write('PASS = True')\n"
               "os.makedirs('data', exist_ok=True)\nopen('data/mnist.npz', 'wb').write(b'x')\n"
               "os.environ['COURSE_DATA_DIR'] = os.path.abspath('data')\n"
               "sys.modules.pop('course', None)\n",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("autograde")
    root = toy_root(tmp_path)
    exercise = nbformat.read(root / "exercises" / "99_toy.ipynb", as_version=4)
    right = solved(root)
    submitted = tmp_path / "submitted"
    submit(submitted, SOLVED, right)
    tampered = copy.deepcopy(exercise)  # unsolved; the checks edited to pass, then deleted
    tampered.cells[3].source = "pass"
    del tampered.cells[4:6]
    submit(submitted, "tampered", tampered)
    submit(submitted, "hangs", answer(right, 4, "import time\ntime.sleep(3600)"))
    submit(submitted, "hog", answer(right, 4, "blocks = []\nwhile True:\n"
                                                "    blocks.append(b'x' * 50_000_000)"))
    for name, source in FORGERIES.items():
        submit(submitted, name, answer(right, 2, source))
    # an extra cell claiming to be a 100-point check cell, without an id, and one with a null id
    claims = copy.deepcopy(right)
    for source, meta in (("print('mine')", {"nbgrader": {"grade": True, "points": 100},
                                             "tags": 5}),
                         ("print(2)", {"nbgrader": {"grade": True, "points": 100,
                                                    "grade_id": None}})):
        claims.cells.append({"cell_type": "code", "metadata": meta, "source": source,
                             "outputs": [], "execution_count": None})
    submit(submitted, "claims", claims)
    submit(submitted, "renamed", right, "99_toy (1).ipynb")
    (submitted / "broken" / "99_toy").mkdir(parents=True)
    (submitted / "broken" / "99_toy" / "99_toy.ipynb").write_text("{not json")
    (submitted / "fifo" / "99_toy").mkdir(parents=True)
    os.mkfifo(submitted / "fifo" / "99_toy" / "99_toy.ipynb")
    out = tmp_path / "out"
    with for_real():
        # 20 s: a kernel without TensorFlow starts and runs the toy in a few seconds, even on a
        # loaded machine; the notebook that hangs costs the whole limit. Two at a time, as a
        # class is graded (one worker: test_grade_class.py).
        grades = autograde(Batch(submitted, out, root, workers=2,
                                 limits=NotebookLimits(time_s=20, memory_mb=400)))
    return {g.student: g for g in grades}, out, root, submitted


@needs_bwrap
def test_everyone_gets_the_points_earned(graded):
    grades, _, _, _ = graded
    assert {name: (g.points, g.max_points, g.status) for name, g in grades.items()} == {
        SOLVED: (5, 5, "completed"),
        "tampered": (0, 5, "completed"),  # check cells restored: the placeholders raise
        "hangs": (3, 5, "timeout"),
        "hog": (3, 5, "memory"),
        # forgeries: double is wrong, half is right, whatever the kernel was made to do
        "patches_assert": (2, 5, "completed"),
        "lying_int": (2, 5, "completed"),
        "transformer": (2, 5, "completed"),
        "fast_env": (2, 5, "completed"),
        "planted": (2, 5, "completed"),
        "claims": (5, 5, "completed"),  # its extra "check cells" count for nothing
        "renamed": (5, 5, "completed"),
        "broken": (0, 5, "unreadable"),
        "fifo": (0, 5, "unreadable"),
    }
    assert grades["hog"].peak_mb > 300
    assert any("double had been edited: restored" in n for n in grades["tampered"].notes)
    assert any("half had been deleted: put back" in n for n in grades["tampered"].notes)
    assert [c.status for c in grades["hangs"].cells] == ["passed", "not run"]
    assert "should be named 99_toy.ipynb" in " ".join(grades["renamed"].notes)
    assert "FIFO" in " ".join(grades["fifo"].notes)


@needs_bwrap
def test_the_graded_notebook_holds_the_judges_verdicts(graded):
    _, out, _, _ = graded
    nb = nbformat.read(out / "autograded" / "tampered" / "99_toy.ipynb", as_version=4)
    sources = [c.source for c in nb.cells]
    assert any("double(-1) == -2" in s for s in sources)  # hidden test, from the source
    assert sum(s.startswith("# GRADED:") for s in sources) == 2
    checks = [c for c in nb.cells if c.source.startswith("# GRADED:")]
    assert all(o.get("ename") == "GradingFailed" for c in checks for o in c.outputs
               if o.output_type == "error")


@needs_bwrap
def test_gradebook_and_feedback(graded):
    grades, out, _, _ = graded
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(grades)
    hostile = next(r for r in rows if "solved" in r["student"])
    assert hostile["student"] == "'=HYPERLINK(\"x\")\\nsolved"  # no formula, one line
    assert (hostile["points"], hostile["max_points"], hostile["counts"]) == ("5", "5", "yes")
    assert hostile["cells"] == "double=3/3; half=2/2"
    feedback = (out / "feedback" / "tampered" / "99_toy.txt").read_text()
    assert "score: 0 / 5" in feedback and "NotImplementedError" in feedback
    assert "double(-1)" not in feedback  # no hidden test's code in what students read
    hangs = (out / "feedback" / "hangs" / "99_toy.txt").read_text()
    assert "time limit of 20 s" in hangs and "not run" in hangs
    assert (out / "feedback" / gradebook.safe_name(SOLVED) / "99_toy.txt").exists()


@needs_bwrap
def test_the_command_names_every_submission_that_needs_a_look(graded, capsys):
    from course.grading.cli import attention

    grades, _, _, _ = graded
    lines = "\n".join(attention(grades.values()))
    for name in ("hangs", "hog", "broken", "fifo", "renamed", "tampered"):
        assert name in lines
    assert "99_toy.ipynb" in lines and "memory" in lines and "timeout" in lines


def test_fast_mode_is_refused_unless_a_dry_run(tmp_path, monkeypatch):
    root = toy_root(tmp_path)
    monkeypatch.setenv("COURSE_FAST", "1")
    (tmp_path / "sub").mkdir()
    with pytest.raises(AutogradeError, match="COURSE_FAST=1") as err:
        autograde(Batch(tmp_path / "sub", tmp_path / "out", root))
    assert err.value.exit_code == 2


def test_without_bubblewrap_grading_refuses_and_says_how_to_install(tmp_path, monkeypatch):
    root = toy_root(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.setattr(batch_module, "bwrap_problem",
                        lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(AutogradeError, match="apt-get install bubblewrap.*--no-sandbox"):
        autograde(Batch(tmp_path / "sub", tmp_path / "out", root))


@needs_bwrap
def test_dry_run_scores_do_not_count(tmp_path, monkeypatch):
    root = toy_root(tmp_path)
    solution = nbformat.read(root / "solutions" / "99_toy.ipynb", as_version=4)
    submit(tmp_path / "sub", "ann", solution)
    monkeypatch.setenv("COURSE_FAST", "1")
    grades = autograde(Batch(tmp_path / "sub", tmp_path / "out", root, dry_run=True,
                             limits=NotebookLimits(time_s=60)))
    assert [(g.points, g.counts) for g in grades] == [(5, False)]
    assert "DRY RUN" in (tmp_path / "out" / "feedback" / "ann" / "99_toy.txt").read_text()


def test_renamed_and_stray_notebooks_are_named_with_the_fix(tmp_path):
    from course.grading.notebooks.submissions import find_submissions, intended_exercise

    names = {"03_convolution_arithmetic", "05_batch_norm_backward"}
    assert intended_exercise("03_convolution_arithmetic (1)", names) == \
        "03_convolution_arithmetic"
    assert intended_exercise("Copy of 05_batch_norm_backward", names) == "05_batch_norm_backward"
    assert intended_exercise("03_conv", names) == "03_convolution_arithmetic"
    assert intended_exercise("homework", names) is None
    for rel in ("a/03_convolution_arithmetic.ipynb", "a/03_convolution_arithmetic (1).ipynb",
                "b/homework.ipynb", "loose.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found, problems = find_submissions(tmp_path, names)
    assert [(s.student, s.path.name) for s in found] == [("a", "03_convolution_arithmetic.ipynb")]
    why = {(student, Path(path).name): reason for student, _, path, reason in problems}
    assert "only 03_convolution_arithmetic.ipynb was graded" in \
        why[("a", "03_convolution_arithmetic (1).ipynb")]
    assert "name the notebook after its exercise" in why[("b", "homework.ipynb")]
    assert "folder named after the student" in why[("loose", "loose.ipynb")]


def test_a_course_folder_is_enough_to_grade_from(tmp_path):
    """`release --course-dir` lays out source/NN/NN.ipynb: autograde reads its sources there."""
    root = toy_root(tmp_path)
    course_dir = tmp_path / "grading" / "source" / "99_toy"
    course_dir.mkdir(parents=True)
    (course_dir / "99_toy.ipynb").write_bytes((root / "solutions" / "99_toy.ipynb").read_bytes())
    assert batch_module.sources(tmp_path / "grading") == {"99_toy": course_dir / "99_toy.ipynb"}


def test_a_killed_graders_private_folder_goes_with_the_next_grader(tmp_path, monkeypatch):
    """A grader killed with -9 cannot remove its private folder (hidden tests, the judge's
    files): the next one does, and leaves a live grader's alone."""
    import subprocess
    import sys
    import tempfile
    import time

    from course.grading import processes

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = ("import sys, time\nfrom course.grading.processes import private_folder\n"
            "print(private_folder('judge'), flush=True)\ntime.sleep(600)\n")
    graders = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, TMPDIR=str(tmp_path))) for _ in range(2)]
    try:
        folders = [Path(g.stdout.readline().strip()) for g in graders]
        (folders[0] / "hidden_tests.py").write_text("assert answer == 42")
        graders[0].kill()
        graders[0].wait()
        for folder in folders:  # both older than a folder being made
            os.utime(folder, (time.time() - 120,) * 2)
        fresh = processes.private_folder("judge")
        assert not folders[0].exists()  # its grader is gone
        assert folders[1].exists()  # its grader is alive
        assert fresh.parent == tmp_path and fresh.stat().st_mode & 0o777 == 0o700
        assert processes.remove_orphans(tmp_path) == []  # fresh and the live one are locked
        processes.remove_private(fresh)  # gone, and its lock released (no descriptor kept)
        assert not fresh.exists() and str(fresh) not in processes._HELD
    finally:
        for grader in graders:
            grader.kill()
            grader.wait()
