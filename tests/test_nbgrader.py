"""The real nbgrader round trip: ``nbgrader generate_assignment`` of every exercise in the course
directory that ``python -m course release --course-dir`` lays out (each release equals the
course's own exercise), then ``nbgrader autograde`` (a dry run in fast mode, its kernels in the
course's sandbox) of a solved and an unsolved copy of one exercise: full marks and zero, the
check cells a student edited or deleted restored, a warning only for the edited one, feedback
without hidden tests; fast mode refused through nbgrader's API too; and the judge's trusted
scores written into nbgrader's gradebook by ``python -m course autograde --nbgrader``."""
from __future__ import annotations

import json
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
#: Autograded here: an exercise that needs no training, so each of its two runs takes seconds
#: (every exercise's checks are graded in tests/test_exercises.py and
#: tests/test_exercise_checks.py and tests/test_judge.py, and every solution runs under nbval).
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
    for student, folder in (("solved", "source"), ("unsolved", "release"),
                            ("deleter", "release")):
        nb = nbformat.read(course / folder / GRADED / f"{GRADED}.ipynb", as_version=4)
        graded = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
        if student == "unsolved":
            graded[0].source = "pass  # the student's version of the check"
            nb.cells.remove(graded[-1])
        if student == "deleter":  # the first check cell and every cell before it but one
            del nb.cells[1:nb.cells.index(graded[0]) + 1]
        target = course / "submitted" / student / GRADED / f"{GRADED}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    (course / "autograde.stderr").write_text(nbgrader(course, "autograde", GRADED).stderr)
    nbgrader(course, "generate_feedback", GRADED)
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
        # nbgrader put the deleted first check cell back (it used to stop with a KeyError)
        assert gb.find_submission(GRADED, "deleter").score == 0


def test_edited_and_deleted_check_cells_are_restored(course):
    source = nbformat.read(course / "source" / GRADED / f"{GRADED}.ipynb", as_version=4)
    graded = nbformat.read(course / "autograded" / "unsolved" / GRADED / f"{GRADED}.ipynb",
                           as_version=4)
    expected = [c.source for c in source.cells if c.metadata["nbgrader"]["grade"]]
    got = [c.source for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert got[0] == expected[0]  # edited: overwritten with the source, hidden tests too
    assert got[-1].endswith(expected[-1])  # deleted: put back (after nbgrader's comment)
    assert len(got) == len(expected)


def test_only_the_edited_check_cell_is_reported(course):
    """nbgrader's checksum covers the hidden tests a student never had, so it used to report
    every check cell of every student as changed; now only the cell the student edited."""
    log = (course / "autograde.stderr").read_text()
    changed = [line for line in log.splitlines() if "has changed" in line]
    solution = nbformat.read(ROOT / "solutions" / f"{GRADED}.ipynb", as_version=4)
    first = next(iter(exercises.points(solution, GRADED)))
    assert changed and all(f"cell {first} has changed" in line for line in changed), changed


def test_feedback_keeps_each_outcome_and_no_hidden_test(course):
    solution = nbformat.read(ROOT / "solutions" / f"{GRADED}.ipynb", as_version=4)
    hidden = [line.strip() for cell in solution.cells for line in exercises.hidden_tests(
        cell.source) if len(line.strip()) > 20]
    assert hidden
    for student in ("solved", "unsolved"):
        html = next((course / "feedback" / student / GRADED).glob("*.html")).read_text()
        leaked = [line for line in hidden if line in html or html_escape(line) in html]
        assert not leaked, (student, leaked[:3])
    unsolved = next((course / "feedback" / "unsolved" / GRADED).glob("*.html")).read_text()
    assert "NotImplementedError" in unsolved
    assert "Cell In[" not in unsolved and "----&gt;" not in unsolved  # no traceback


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_fast_mode_is_refused_through_nbgraders_api(course):
    """formgrader calls nbgrader's API, not its command line: the refusal is at execution."""
    code = ("from nbgrader.apps import NbGraderAPI\n"
            "from nbgrader.coursedir import CourseDirectory\n"
            "from traitlets.config import Config\n"
            "import json, runpy\n"
            "c = Config()\n"
            "runpy.run_path('nbgrader_config.py', init_globals={'get_config': lambda: c})\n"
            f"api = NbGraderAPI(CourseDirectory(config=c), config=c)\n"
            f"print(json.dumps(api.autograde({GRADED!r}, 'solved', force=True)))")
    env = dict(os.environ, COURSE_FAST="1")
    env.pop("COURSE_DRY_RUN", None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    run = subprocess.run([sys.executable, "-c", code], cwd=course, env=env, capture_output=True,
                         text=True, timeout=600)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["success"] is False and "COURSE_FAST=1" in result["log"] + \
        result.get("error", ""), result


def test_the_judges_scores_go_into_nbgraders_gradebook(course, tmp_path):
    from nbgrader.api import Gradebook

    env = dict(os.environ, COURSE_FAST="1")
    # two of the three submissions, under names nbgrader's own autograde never saw, so the
    # scores found below can only be the judge's (a kernel each is CI's time)
    judged = tmp_path / "judged"
    for student in ("solved", "unsolved"):
        shutil.copytree(course / "submitted" / student, judged / f"judged_{student}")
    run = subprocess.run([sys.executable, "-m", "course", "autograde", str(judged), "--out",
                          str(tmp_path / "grades"), "--root", ".", "--nbgrader", "--dry-run",
                          "--exercise", GRADED], cwd=course, env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    solution = nbformat.read(ROOT / "solutions" / f"{GRADED}.ipynb", as_version=4)
    total = sum(exercises.points(solution, GRADED).values())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission(GRADED, "judged_solved").score == total
        assert gb.find_submission(GRADED, "judged_unsolved").score == 0
    assert (course / "autograded" / "judged_solved" / GRADED / f"{GRADED}.ipynb").exists()
    nbgrader(course, "generate_feedback", GRADED, "--force")


def test_config_uses_the_sandbox_and_clears_hidden_tests(monkeypatch):
    import runpy

    from traitlets.config import Config

    from course.grading.notebooks import nbgrader_support

    config = Config()
    runpy.run_path(str(ROOT / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
    assert config.ClearSolutions.code_stub["python"] == exercises.PLACEHOLDER
    assert config.OverwriteCells.add_missing_cells is True
    assert nbgrader_support.SandboxedExecute in config.Autograde.autograde_preprocessors
    assert nbgrader_support.OverwriteCells in config.Autograde.sanitize_preprocessors
    names = [p.__name__ for p in config.GenerateFeedback.preprocessors]
    assert names.index("ClearHiddenTests") < names.index("CSSHTMLHeaderPreprocessor")
    assert "ClearTracebacks" in names
