"""Autograding a folder of submitted notebooks: ``python -m course autograde SUBMITTED --out DIR``.

For each submission the batch copies the file into its own private folder, makes a
``NotebookJob`` and runs it in a process of its own (``job.run_in_process``): the student's
kernel in its sandbox, the check cells in the judge. The batch alone writes the results, the
moment each is known: ``DIR/gradebook.csv`` (one row per student and exercise),
``DIR/feedback/STUDENT/EXERCISE.txt`` and ``DIR/autograded/STUDENT/EXERCISE.ipynb``.

Sources come from ``ROOT/solutions/NN_topic.ipynb`` (the repository) or, in an nbgrader course
folder written by ``python -m course release --course-dir``, ``ROOT/source/NN_topic/
NN_topic.ipynb``. The sandbox never shows the kernel ``ROOT``, ``SUBMITTED``, ``DIR`` or the
instructor's answer keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course import config, progress
from course.grading.notebooks.gradebook import (
    NotebookGrade,
    feedback_text,
    num,
    safe_name,
    write_gradebook,
)
from course.grading.notebooks.job import NotebookJob
from course.grading.notebooks.results import LOG, ResultLog, key
from course.grading.notebooks.runners import LocalRunner, Pack
from course.grading.notebooks.sandbox import (
    NotebookLimits,
    bwrap_problem,
    install_hint,
    limits_for_notebook,
)
from course.grading.notebooks.submissions import Submission, find_submissions
from course.grading.text import printable


class AutogradeError(RuntimeError):
    """A grader-side problem (nothing to grade, no sources, no sandbox); ``exit_code`` says
    which (2: the command was asked for something it refuses, 3: the grader's own problem)."""

    def __init__(self, message: str, exit_code: int = 3):
        super().__init__(message)
        self.exit_code = exit_code


def sources(root) -> dict[str, Path]:
    """``{exercise: source notebook}`` from ``ROOT/solutions/`` or an nbgrader course folder's
    ``ROOT/source/NN_topic/NN_topic.ipynb``."""
    root = Path(root)
    found = {p.stem: p for p in sorted((root / "solutions").glob("*.ipynb"))}
    if not found:
        found = {p.parent.name: p for p in sorted((root / "source").glob("*/*.ipynb"))
                 if p.stem == p.parent.name}
    return found


def limits_for(source: Path, base: NotebookLimits) -> NotebookLimits:
    import nbformat

    return limits_for_notebook(nbformat.read(source, as_version=4), base)


#: How a run ended that counts as a failure in the progress line.
FAILED = {"unreadable", "timeout", "memory", "disk", "kernel_died", "grader_error"}
#: Results a new run grades again without --regrade: the grader's failures, not the student's.
RETRIED = {"grader_error"}
#: What a submitted notebook is, and how a student makes one (for refusals).
NOTEBOOK_FILE = ("notebook (.ipynb)", "Submit the .ipynb file Jupyter saved (File > Save and "
                 "Checkpoint), under its exercise's name.")


def max_points(source: Path) -> float:
    import nbformat

    from course import exercises

    notebook = nbformat.read(source, as_version=4)
    return sum(exercises.points(notebook, source.stem).values())


@dataclass
class Batch:
    """One autograding run's settings."""

    submitted: Path
    out: Path
    root: Path = Path(".")
    exercise: str | None = None
    limits: NotebookLimits = field(default_factory=NotebookLimits)
    dry_run: bool = False
    sandbox: bool = True
    #: Also write the scores into ``ROOT/gradebook.db`` (an nbgrader course folder).
    nbgrader: bool = False
    #: More read-only folders for the kernels, ``[host, inside]`` (a benchmark that grades the
    #: solutions lends them the answer keys; never for students' work).
    extra_mounts: list = field(default_factory=list)
    #: Notebooks graded at once here, or a runner (``runners.DaskRunner``) that decides.
    workers: int = 1
    runner: object = None
    #: Grade again what ``OUT/results.jsonl`` already holds.
    regrade: bool = False


def autograde(batch: Batch, on_grade=None) -> list[NotebookGrade]:
    """Grade every submitted notebook under ``batch.submitted``; write the gradebook, feedback
    and autograded notebooks in ``batch.out`` after each; return the grades."""
    if config.is_fast() and not batch.dry_run:
        raise AutogradeError(
            "COURSE_FAST=1 is set: fast mode is a smoke test (data subsets, one epoch, smoke "
            "bars), never a grade. Unset COURSE_FAST to grade, or pass --dry-run to try the "
            "pipeline in fast mode (every score is then marked as not counting).", exit_code=2)
    if batch.nbgrader and not (Path(batch.root) / "gradebook.db").exists():
        raise AutogradeError(f"--nbgrader: no gradebook.db in {printable(str(batch.root))}; "
                             "run `nbgrader generate_assignment NN_topic` there first (or pass "
                             "--root with the nbgrader course folder).", exit_code=2)
    problem = bwrap_problem() if batch.sandbox and batch.runner is None else None
    if problem:
        raise AutogradeError(f"{problem}: without the sandbox a student's notebook would run as "
                             "you, able to read the solutions and change the gradebook. "
                             + install_hint(), exit_code=2)
    known = sources(batch.root)
    if not known:
        raise AutogradeError(f"no solutions/*.ipynb or source/NN_topic/NN_topic.ipynb under "
                             f"{printable(str(batch.root))}: run from the repository root or "
                             "the nbgrader course folder, or pass --root.")
    if batch.exercise is not None and batch.exercise not in known:
        raise AutogradeError(f"no exercise named {batch.exercise!r}; known: "
                             f"{', '.join(known)}", exit_code=2)
    if not Path(batch.submitted).is_dir():
        raise AutogradeError(f"{printable(str(batch.submitted))} is not a folder of "
                             "submissions.", exit_code=2)
    found, problems = find_submissions(batch.submitted, set(known), batch.exercise)
    if not found and not problems:
        raise AutogradeError(f"no submitted notebooks under {printable(str(batch.submitted))}.",
                             exit_code=2)
    out = Path(batch.out)
    out.mkdir(parents=True, exist_ok=True)
    log = ResultLog(out)
    grades = [NotebookGrade(student, name, "skipped", not batch.dry_run,
                            max_points=max_points(known[name]) if name in known else 0,
                            notes=[f"{printable(str(path))}: {why}"])
              for student, name, path, why in problems]
    packs, kept = [], {}
    for submission in found:
        pack, grade = _pack(batch, submission, known[submission.exercise], out)
        if grade is not None:
            grades.append(grade)
        elif pack.key in log.done and not batch.regrade and \
                log.done[pack.key].status not in RETRIED:
            kept[pack.key] = log.done[pack.key]
        else:
            packs.append(pack)
    grades += kept.values()
    for grade in grades:
        _record(out, grade, grades, None, batch.limits)
    if kept and on_grade:
        print(f"{len(kept)} notebook(s) already graded in {out / LOG} (--regrade to grade them "
              "again)", flush=True)
    runner = batch.runner or LocalRunner(batch.workers)
    names = {p.key: f"{printable(p.job.student)} {p.job.exercise}" for p in packs}
    failed = [0]

    def label(result):
        _, grade, _ = result
        failed[0] += grade.status in FAILED
        return f"{names.get(result[0], '')}: {num(grade.points)}/{num(grade.max_points)} " \
               f"{grade.status} ({failed[0]} failed so far)"

    results = runner.run(packs)
    if packs and on_grade:
        results = progress.track(results, total=len(packs), unit="notebook", label=label,
                                 description=f"grading on {runner.describe()}")
    for key_, grade, executed in results:
        pack = next(p for p in packs if p.key == key_)
        grade.notes = [*pack.notes, *grade.notes]
        if executed is not None:
            target = out / "autograded" / safe_name(grade.student) / f"{grade.exercise}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(executed)
        log.append(key_, grade)
        grades.append(grade)
        _record(out, grade, grades, on_grade, batch.limits)
    if batch.nbgrader:
        from course.grading.notebooks.nbgrader_support import write_scores

        executed = {(g.student, g.exercise): out / "autograded" / safe_name(g.student) /
                    f"{g.exercise}.ipynb" for g in grades}
        for note in write_scores(batch.root, [g for g in grades if g.cells], executed):
            print(f"nbgrader: {note}")
    return grades


def _pack(batch, submission: Submission, source: Path, out: Path):
    """``(Pack, None)`` for a readable submission, ``(None, grade)`` for one that is not."""
    import tempfile as _tempfile

    from course.grading.artifact.precheck import take_file
    from course.grading.contract import Limits as FileLimits
    from course.grading.contract import Refusal
    from course.grading.notebooks.job import MAX_NOTEBOOK_MB

    with _tempfile.TemporaryDirectory(prefix="course-take-") as tmp:
        copy = Path(tmp) / "submitted.ipynb"
        try:
            take_file(submission.path, copy, FileLimits(file_mb=MAX_NOTEBOOK_MB), *NOTEBOOK_FILE)
        except Refusal as refusal:
            return None, NotebookGrade(
                submission.student, submission.exercise, "unreadable", not batch.dry_run,
                max_points=max_points(source), notes=[
                    f"{printable(str(submission.path))}: {refusal.reason}"])
        content = copy.read_bytes()
    source_text = source.read_text()
    job = NotebookJob(submission.student, submission.exercise, "", "", "",
                      limits_for(source, batch.limits), batch.sandbox, batch.dry_run,
                      [list(m) for m in batch.extra_mounts],
                      [str(batch.root), str(batch.submitted), str(out)])
    return Pack(key(submission.student, submission.exercise, content, source_text.encode(),
                    batch.dry_run), job, content, source_text,
                notes=list(submission.notes)), None


def _record(out: Path, grade: NotebookGrade, grades, on_grade, limits: NotebookLimits) -> None:
    feedback = out / "feedback" / safe_name(grade.student) / f"{grade.exercise}.txt"
    feedback.parent.mkdir(parents=True, exist_ok=True)
    feedback.write_text(feedback_text(grade, limits.time_s, limits.memory_mb))
    write_gradebook(out / "gradebook.csv", grades)
    if on_grade:
        on_grade(grade)

