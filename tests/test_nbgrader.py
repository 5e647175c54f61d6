"""The real nbgrader round trip: ``nbgrader generate_assignment`` of every exercise in the course
directory that ``python -m course release --course-dir`` lays out (each release equals the
course's own exercise), then ``nbgrader autograde`` (a dry run in fast mode) of a solved and an
unsolved copy of one exercise: full marks and zero, and the check cells a student edited or
deleted are restored."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import exercises
from course.release import build_course_dir

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[1]
#: Autograded here: an exercise that needs no training, so each of its two runs takes seconds
#: (every exercise's checks are graded in tests/test_exercises.py and
#: tests/test_exercise_checks.py, and every solution runs under nbval).
GRADED = "05_batch_norm_backward"


def nbgrader(course: Path, *args, dry_run=True):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # alembic
    if dry_run:
        env.update(COURSE_FAST="1", COURSE_DRY_RUN="1")
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with every assignment released and ``GRADED`` autograded for two
    students: ``solved`` (the solution as submitted) and ``unsolved`` (the release, with its
    first check cell edited to ``pass`` and its last one deleted)."""
    course = tmp_path_factory.mktemp("course")
    build_course_dir(ROOT, course)
    nbgrader(course, "generate_assignment", "*")
    for student, folder in (("solved", "source"), ("unsolved", "release")):
        nb = nbformat.read(course / folder / GRADED / f"{GRADED}.ipynb", as_version=4)
        if student == "unsolved":
            graded = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
            graded[0].source = "pass  # the student's version of the check"
            nb.cells.remove(graded[-1])
        target = course / "submitted" / student / GRADED / f"{GRADED}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    (course / "autograde.stderr").write_text(nbgrader(course, "autograde", GRADED).stderr)
    return course


def test_release_equals_exercises(course):
    names = sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb"))
    released = sorted(p.name for p in (course / "release").iterdir())
    assert released == names, "every exercise is released"
    for name in names:
        release = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        ours = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
        assert [c.source for c in release.cells] == [c.source for c in ours.cells]
        for mine, theirs in zip(ours.cells, release.cells):
            meta = {k: v for k, v in theirs.metadata.nbgrader.items()
                    if k not in ("checksum", "cell_type")}
            assert meta == mine.metadata.nbgrader
            assert theirs.metadata.get("editable") == mine.metadata.get("editable")
        assert "HIDDEN TESTS" not in (course / "release" / name / f"{name}.ipynb").read_text()


def test_kernels_run_quietly_on_encrypted_channels(course):
    """nbgrader_config.py asks for CurveZMQ: ipykernel's plain-text warning is not printed
    once per notebook into the instructor's terminal."""
    from course.grading.notebooks.kernel import kernel_encryption

    if kernel_encryption() is None:
        pytest.skip("this jupyter_client or libzmq cannot encrypt a kernel's channels")
    assert "without encryption" not in (course / "autograde.stderr").read_text()


def test_scores_full_marks_and_zero(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        solution = nbformat.read(ROOT / "solutions" / f"{GRADED}.ipynb", as_version=4)
        total = sum(exercises.points(solution, GRADED).values())
        solved, unsolved = gb.find_submission(GRADED, "solved"), gb.find_submission(GRADED,
                                                                                   "unsolved")
        assert solved.max_score == unsolved.max_score == total > 0
        assert solved.score == total, [(g.name, g.score) for n in solved.notebooks
                                       for g in n.grades]
        assert unsolved.score == 0, [(g.name, g.score) for n in unsolved.notebooks
                                     for g in n.grades]


def test_edited_and_deleted_check_cells_are_restored(course):
    source = nbformat.read(course / "source" / GRADED / f"{GRADED}.ipynb", as_version=4)
    graded = nbformat.read(course / "autograded" / "unsolved" / GRADED / f"{GRADED}.ipynb",
                           as_version=4)
    expected = [c.source for c in source.cells if c.metadata["nbgrader"]["grade"]]
    got = [c.source for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert got[0] == expected[0]  # edited: overwritten with the source, hidden tests too
    assert got[-1].endswith(expected[-1])  # deleted: put back (after nbgrader's comment)
    assert len(got) == len(expected)


def test_config_matches_exercises_and_refuses_fast_mode(monkeypatch):
    import runpy

    from traitlets.config import Config

    def load(argv, **env):
        for key in ("COURSE_FAST", "COURSE_DRY_RUN"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", argv)
        config = Config()
        runpy.run_path(str(ROOT / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
        return config

    config = load(["nbgrader", "autograde", "ps1"])
    assert config.ClearSolutions.code_stub["python"] == exercises.PLACEHOLDER
    assert config.Execute.timeout >= 3 * 3600
    assert config.OverwriteCells.add_missing_cells is True
    with pytest.raises(SystemExit, match="refused: COURSE_FAST=1"):
        load(["nbgrader", "autograde", "ps1"], COURSE_FAST="1")
    load(["nbgrader", "autograde", "ps1"], COURSE_FAST="1", COURSE_DRY_RUN="1")
    load(["nbgrader", "generate_assignment", "ps1"], COURSE_FAST="1")
