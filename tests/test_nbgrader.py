"""The real nbgrader round trip on two exercises: ``nbgrader generate_assignment`` on the course
directory that ``python -m course release --course-dir`` lays out, then ``nbgrader autograde``
(a dry run in fast mode) of a solved and an unsolved copy: full marks and zero, and the check
cells a student edited or deleted are restored."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import exercises
from course.release import build_course_dir

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[1]
#: Two exercises that need no training, so the round trip takes seconds (the MNIST and
#: CIFAR-100 checks, which train, are graded in tests/test_exercises.py and
#: tests/test_exercise_checks.py).
ASSIGNMENTS = ("03_convolution_arithmetic", "05_batch_norm_backward")


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
    """A course directory with the two assignments released and autograded for two students:
    ``solved`` (the solutions as submitted) and ``unsolved`` (the release, with its first check
    cell edited to ``pass`` and its last one deleted)."""
    course = tmp_path_factory.mktemp("course")
    build_course_dir(ROOT, course)
    for source in (course / "source").iterdir():
        if source.name not in ASSIGNMENTS:
            shutil.rmtree(source)
    nbgrader(course, "generate_assignment", "*")
    for name in ASSIGNMENTS:
        for student, folder in (("solved", "source"), ("unsolved", "release")):
            nb = nbformat.read(course / folder / name / f"{name}.ipynb", as_version=4)
            if student == "unsolved":
                graded = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
                graded[0].source = "pass  # the student's version of the check"
                nb.cells.remove(graded[-1])
            target = course / "submitted" / student / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True)
            nbformat.write(nb, target)
    nbgrader(course, "autograde", "*")
    return course


def test_release_equals_exercises(course):
    for name in ASSIGNMENTS:
        released = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        ours = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
        assert [c.source for c in released.cells] == [c.source for c in ours.cells]
        for mine, theirs in zip(ours.cells, released.cells):
            meta = {k: v for k, v in theirs.metadata.nbgrader.items()
                    if k not in ("checksum", "cell_type")}
            assert meta == mine.metadata.nbgrader
            assert theirs.metadata.get("editable") == mine.metadata.get("editable")
        assert "HIDDEN TESTS" not in (course / "release" / name / f"{name}.ipynb").read_text()


def test_scores_full_marks_and_zero(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name in ASSIGNMENTS:
            solution = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
            total = sum(exercises.points(solution, name).values())
            solved, unsolved = gb.find_submission(name, "solved"), gb.find_submission(name,
                                                                                     "unsolved")
            assert solved.max_score == unsolved.max_score == total > 0
            assert solved.score == total, [(g.name, g.score) for n in solved.notebooks
                                           for g in n.grades]
            assert unsolved.score == 0, [(g.name, g.score) for n in unsolved.notebooks
                                         for g in n.grades]


def test_edited_and_deleted_check_cells_are_restored(course):
    for name in ASSIGNMENTS:
        source = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
        graded = nbformat.read(course / "autograded" / "unsolved" / name / f"{name}.ipynb",
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
