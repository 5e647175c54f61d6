"""Batch grading of submitted notebooks: ``python -m course autograde SUBMITTED --out DIR``.

This module finds the submissions, sanitizes each notebook, scores it and runs the batch (and
its command line); ``notebook_runner`` runs one notebook under the limits, and ``gradebook``
holds the grades and writes the gradebook and the feedback.

Every submitted notebook is graded the way ``nbgrader autograde`` grades it, from the nbgrader
metadata that ``python -m course exercises --write`` keeps in ``solutions/``:

1. *sanitize*: outputs cleared; every locked cell (set-up code, instructions, check cells) gets
   the source's text back if the student edited it, and the source's hidden tests; a locked or
   solution cell the student deleted is put back where it was (a deleted answer comes back as
   the placeholder, which raises); repeated ids and ids the source does not know lose their
   metadata; the student's own extra cells stay;
2. *run*, in isolation (``notebook_runner``): a runner process (``python -c ...``) executes
   the notebook with nbclient in a fresh folder, ``NBGRADER_EXECUTION=autograde`` in the
   kernel's environment, and records each cell's outcome as it finishes. This process polls
   the runner's process tree: past the wall-clock limit or above the memory limit (resident
   memory of the kernel and its children) it kills the kernel, lets the runner save what ran,
   then kills what is left;
3. *score*: a grade cell that ran without an error earns its points; one that raised, or never
   ran (time limit, memory, a kernel that died), earns none. The other cells earn what they
   earned.

A notebook that hangs, raises, deletes cells or exhausts memory gets the points it earned and
the batch goes on. The results: ``DIR/gradebook.csv`` (one row per student and exercise, every
cell escaped like the artifact grader's CSV), ``DIR/feedback/STUDENT/EXERCISE.txt`` (a short
report per notebook) and ``DIR/autograded/STUDENT/EXERCISE.ipynb`` (the executed notebook).

Autograding never runs in fast mode: the command refuses ``COURSE_FAST=1`` unless ``--dry-run``,
which runs every notebook in fast mode and marks every score as not counting. The isolation is
of processes (time, memory, crashes), not a security boundary: the student's code runs as the
user who grades, so grade untrusted submissions inside a container or a throwaway account.
``.keras`` artifacts are graded by ``python -m course grade`` (a sandbox of its own).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from course import config, exercises
from course.grading.gradebook import (
    CellGrade, NotebookGrade, feedback_text, num, safe_name, write_gradebook,
)
from course.grading.notebook_runner import (
    MAX_NOTEBOOK_MB, MEMORY_LIMIT_MB, TIME_LIMIT_S, Run, run_isolated,
)
from course.grading.report import printable, shorten, summarize_error
from course.grading.sandbox import course_env

STUB = exercises.PLACEHOLDER


class AutogradeError(RuntimeError):
    """A grader-side problem (nothing to grade, an unwritable output folder, fast mode)."""


# ---------------------------------------------------------------------------------------------
# Finding submissions


@dataclass
class Submission:
    student: str
    exercise: str
    path: Path


def find_submissions(folder, exercise_names, exercise: str | None = None):
    """``(submissions, problems)`` under ``folder``: ``STUDENT/.../NN_topic.ipynb`` (nbgrader's
    ``submitted/STUDENT/ASSIGNMENT/`` layout or ``STUDENT/`` alone) for the exercises named, or
    ``STUDENT.ipynb`` directly in ``folder`` when ``exercise`` names the exercise. Symbolic
    links are not followed; ``problems`` are ``(student, exercise, path, why)`` rows."""
    folder = Path(folder)
    found, problems = [], []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__pycache__"))
        rel = Path(root).relative_to(folder)
        for name in sorted(files):
            if not name.endswith(".ipynb"):
                continue
            path = Path(root) / name
            stem = name[:-len(".ipynb")]
            if rel.parts:
                student, exercise_name = rel.parts[0], exercise or stem
                if exercise and stem != exercise:
                    continue
            elif exercise:
                student, exercise_name = stem, exercise
            else:
                problems.append((stem, "?", path, "a notebook directly in the folder: put it in "
                                 "a folder named after the student, or pass --exercise"))
                continue
            if exercise_name not in exercise_names:
                problems.append((student, exercise_name, path,
                                 f"no exercise named {exercise_name!r} (known: "
                                 f"{', '.join(sorted(exercise_names))})"))
            elif path.is_symlink():
                problems.append((student, exercise_name, path, "a symbolic link, not a file"))
            else:
                found.append(Submission(student, exercise_name, path))
    return found, problems


# ---------------------------------------------------------------------------------------------
# Sanitizing (what nbgrader's ClearOutput, DeduplicateIds, OverwriteCells do)


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def sanitize(submitted: dict, source: dict, name: str = "notebook") -> tuple[dict, list[str]]:
    """The notebook to run and the notes on what was changed; ``source`` is the solution
    notebook (with hidden tests), ``submitted`` the student's."""
    import copy

    import nbformat

    roles = exercises.roles(source, name)
    source_cells = {role.grade_id: (cell, role) for cell, role in zip(source["cells"], roles)}
    notes, seen, cells = [], set(), []
    for cell in submitted.get("cells", []):
        cell = copy.deepcopy(cell)
        grade_id = _grade_id(cell)
        if grade_id is not None and (grade_id in seen or grade_id not in source_cells):
            why = "repeated" if grade_id in seen else "unknown to the exercise"
            notes.append(f"cell id {printable(grade_id)} {why}: graded as a cell of the student's")
            cell.get("metadata", {}).pop("nbgrader", None)
            grade_id = None
        if grade_id is None:
            cells.append(cell)
            continue
        seen.add(grade_id)
        original, role = source_cells[grade_id]
        if role.kind == "solution":
            if cell.get("cell_type") != "code":
                notes.append(f"answer cell {grade_id} had been turned into "
                             f"{cell.get('cell_type')}: its text is run as code")
            fresh = copy.deepcopy(original)
            fresh["source"] = _text(cell.get("source", ""))
            cells.append(fresh)
        else:
            released = _text(original["source"])
            if role.kind == "grade":
                released = exercises.strip_hidden_tests(released, name)
            if _text(cell.get("source", "")) not in (released, _text(original["source"])) or \
                    cell.get("cell_type") != original["cell_type"]:
                if role.kind == "grade" or original["cell_type"] == "code":
                    notes.append(f"{'check' if role.kind == 'grade' else 'locked'} cell "
                                 f"{grade_id} had been edited: restored")
            cells.append(copy.deepcopy(original))
    # cells the student deleted come back after the source cell before them
    order = [role.grade_id for role in roles]
    for position, grade_id in enumerate(order):
        if grade_id in seen:
            continue
        original, role = source_cells[grade_id]
        fresh = copy.deepcopy(original)
        if role.kind == "solution":
            fresh["source"] = STUB
        if role.kind == "grade" or original["cell_type"] == "code":
            kind = {"grade": "check", "solution": "answer"}.get(role.kind, role.kind)
            notes.append(f"{kind} cell {grade_id} had been deleted: put back"
                         + (" (as the placeholder)" if role.kind == "solution" else ""))
        previous = [g for g in order[:position] if g in seen]
        index = 0
        if previous:
            index = next(i for i, c in enumerate(cells) if _grade_id(c) == previous[-1]) + 1
        cells.insert(index, fresh)
        seen.add(grade_id)
    ids = set()
    for cell in cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if "id" in cell:  # a cell put back may share its id with the student's copy of it
            while cell["id"] in ids:
                cell["id"] = uuid.uuid4().hex[:8]
            ids.add(cell["id"])
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = copy.deepcopy(source.get("metadata", {}))
    notebook.cells = [nbformat.from_dict(c) for c in cells]
    return notebook, notes


def _text(source) -> str:
    return source if isinstance(source, str) else "".join(source)


# ---------------------------------------------------------------------------------------------
# Grading


def grade_notebook(submission: Submission, source: dict, out: Path, time_limit: float,
                   memory_mb: float, env: dict, counts: bool = True) -> NotebookGrade:
    """Sanitize, run and score one submitted notebook; never raises for what the notebook is
    or does."""
    import nbformat

    roles = exercises.roles(source, submission.exercise)
    grade_roles = [r for r in roles if r.kind == "grade"]
    result = NotebookGrade(submission.student, submission.exercise, "completed", counts,
                           max_points=sum(r.points for r in grade_roles))
    try:
        if submission.path.stat().st_size > MAX_NOTEBOOK_MB << 20:
            raise ValueError(f"larger than {MAX_NOTEBOOK_MB} MiB")
        submitted = nbformat.read(submission.path, as_version=4)
        notebook, result.notes = sanitize(submitted, source, submission.exercise)
    except Exception as err:  # noqa: BLE001 - a broken file is the student's, and a row
        result.status = "unreadable"
        result.notes.append(f"{type(err).__name__}: {shorten(str(err), 300)}")
        result.cells = [CellGrade(r.grade_id, 0, r.points, "not run") for r in grade_roles]
        return result
    student_dir = out / "autograded" / safe_name(submission.student)
    private = Path(tempfile.mkdtemp(prefix="course-autograde-"))
    try:
        try:
            run = run_isolated(notebook, Path(tempfile.mkdtemp(prefix="work-", dir=private)),
                               private / "runner", time_limit, memory_mb, env,
                               notebook.metadata.get("kernelspec", {}).get("name", "python3"))
        except OSError as err:  # the runner could not start: nothing ran
            run = Run("crashed", 0.0, 0.0)
            result.notes.append(f"the runner could not start: {err}")
        result.status, result.seconds, result.peak_mb = run.outcome, run.seconds, run.peak_mb
        student_dir.mkdir(parents=True, exist_ok=True)
        target = student_dir / f"{submission.exercise}.ipynb"
        if run.executed:
            shutil.copy(run.executed, target)
        else:
            nbformat.write(notebook, target)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    for index, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        record = run.cells.get(index)
        if record is None:
            result.cells.append(CellGrade(meta["grade_id"], 0, meta["points"], "not run",
                                          "the notebook stopped before this cell"))
        elif record["status"] == "ok":
            result.cells.append(CellGrade(meta["grade_id"], meta["points"], meta["points"],
                                          "passed"))
        else:
            message = summarize_error(f"{record.get('ename', '')}: {record.get('evalue', '')}")
            result.cells.append(CellGrade(meta["grade_id"], 0, meta["points"], "failed",
                                          shorten(message, 600)))
    return result



# ---------------------------------------------------------------------------------------------
# The batch


def kernel_env(dry_run: bool) -> dict:
    """The runner's (and so the kernel's) environment: ``NBGRADER_EXECUTION=autograde``, fast
    mode only for a dry run, the course importable, no GPU surprises in the log."""
    env = course_env()
    env["NBGRADER_EXECUTION"] = "autograde"
    env["MPLBACKEND"] = "Agg"
    if dry_run:
        env[config.FAST_ENV] = "1"
        env["COURSE_DRY_RUN"] = "1"
    else:
        env.pop(config.FAST_ENV, None)
        env.pop("COURSE_DRY_RUN", None)
    return env


def autograde(submitted, out, root=".", exercise: str | None = None,
              time_limit: float = TIME_LIMIT_S, memory_mb: float = MEMORY_LIMIT_MB,
              dry_run: bool = False, on_grade=None) -> list[NotebookGrade]:
    """Grade every submitted notebook under ``submitted``; write ``out/gradebook.csv``,
    ``out/feedback/`` and ``out/autograded/``; returns the grades."""
    import nbformat

    if config.is_fast() and not dry_run:
        raise AutogradeError(
            "COURSE_FAST=1 is set: fast mode is a smoke test (data subsets, one epoch, smoke "
            "bars), never a grade. Unset COURSE_FAST to grade, or pass --dry-run to try the "
            "pipeline in fast mode (every score is then marked as not counting).")
    root, out = Path(root), Path(out)
    sources = {}
    for solution_path, _ in exercises.pairs(root):
        sources[solution_path.stem] = nbformat.read(solution_path, as_version=4)
    if not sources:
        raise AutogradeError(f"no solutions/*.ipynb under {root}: run from the repository root "
                             "or pass --root.")
    if exercise is not None and exercise not in sources:
        raise AutogradeError(f"no exercise named {exercise!r}; known: {', '.join(sources)}")
    if not Path(submitted).is_dir():
        raise AutogradeError(f"{printable(str(submitted))} is not a folder of submissions.")
    found, problems = find_submissions(submitted, set(sources), exercise)
    if not found and not problems:
        raise AutogradeError(f"no submitted notebooks under {printable(str(submitted))}.")
    out.mkdir(parents=True, exist_ok=True)
    env = kernel_env(dry_run)
    grades = []
    for student, name, path, why in problems:
        g = NotebookGrade(student, name, "unreadable", not dry_run, notes=[
            f"{printable(str(path))}: {why}"])
        grades.append(g)
    for submission in found:
        g = grade_notebook(submission, sources[submission.exercise], out, time_limit,
                           memory_mb, env, counts=not dry_run)
        grades.append(g)
        feedback = out / "feedback" / safe_name(g.student) / f"{g.exercise}.txt"
        feedback.parent.mkdir(parents=True, exist_ok=True)
        feedback.write_text(feedback_text(g, time_limit, memory_mb))
        if on_grade:
            on_grade(g)
    write_gradebook(out / "gradebook.csv", grades)
    return grades


def add_autograde(sub):
    p = sub.add_parser(
        "autograde", help="grade a folder of submitted notebooks: gradebook CSV and feedback",
        description="Grade every submitted exercise notebook under SUBMITTED (STUDENT/.../"
                    "NN_topic.ipynb, e.g. nbgrader's submitted/ folder) against solutions/: "
                    "check cells restored, each notebook run in its own process with a time "
                    "and a memory limit, points per graded cell. Writes OUT/gradebook.csv, "
                    "OUT/feedback/STUDENT/NN_topic.txt and OUT/autograded/. Refuses "
                    "COURSE_FAST=1 unless --dry-run.")
    p.add_argument("submitted", help="folder of submissions, one sub-folder per student")
    p.add_argument("--out", required=True, help="folder for gradebook.csv, feedback/ and "
                                                "autograded/")
    p.add_argument("--exercise", default=None, metavar="NN_topic",
                   help="grade only this exercise (then SUBMITTED/STUDENT.ipynb works too)")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, metavar="SECONDS",
                   help="wall-clock limit per notebook (default %(default)g)")
    p.add_argument("--memory-limit", type=float, default=MEMORY_LIMIT_MB, metavar="MIB",
                   help="resident memory of a notebook's kernel (default %(default)g)")
    p.add_argument("--dry-run", action="store_true",
                   help="run in fast mode to try the pipeline; every score is marked as not "
                        "counting")
    p.add_argument("--root", default=".", help="repository root with solutions/ (default: .)")
    p.set_defaults(func=_autograde)


def _autograde(args) -> int:
    if args.time_limit <= 0 or args.memory_limit <= 0:
        print("error: --time-limit and --memory-limit must be positive", file=sys.stderr)
        return 3

    def show(g):
        print(f"{printable(g.student)} {g.exercise}: {num(g.points)}/{num(g.max_points)} "
              f"({g.status}{'' if g.counts else ', DRY RUN: does not count'})", flush=True)

    try:
        grades = autograde(args.submitted, args.out, args.root, args.exercise, args.time_limit,
                           args.memory_limit, args.dry_run, on_grade=show)
    except AutogradeError as err:
        print(f"error: autograde refused: {err}", file=sys.stderr)
        return 2 if "COURSE_FAST" in str(err) else 3
    except exercises.SolutionMarkerError as err:
        print(f"error: a solution notebook is malformed: {err}", file=sys.stderr)
        return 3
    print(f"{len(grades)} notebook(s) graded{' (DRY RUN: no score counts)' if args.dry_run else ''}"
          f"; wrote {Path(args.out) / 'gradebook.csv'} and feedback in "
          f"{Path(args.out) / 'feedback'}")
    return 0
