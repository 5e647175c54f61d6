"""One graded notebook as a self-contained job: a ``NotebookJob`` in, a ``NotebookGrade`` out.

``grade_notebook(job)`` reads the submitted file (a regular file of bounded size, never through a
link), sanitizes it against the source notebook, starts the student's kernel in its sandbox and
runs the cells with the judge (``judge``), under the notebook's time and memory limits. It never
raises for anything the notebook is or does: the grade says how the run ended and why.

``run_in_process(job)`` runs it in a fresh Python process (``python -m
course.grading.notebooks.job``) with a hard wall-clock limit, so that a batch (or a Dask worker)
survives anything, the judge's own failures included. Only that process's result file, written
in the batch's private folder, carries the grade.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.grading.notebooks.gradebook import CellGrade, NotebookGrade
from course.grading.notebooks.sandbox import NotebookLimits
from course.grading.processes import private_folder, remove_private

#: Seconds a job process gets beyond the notebook's limit (start-up, saving the results).
JOB_GRACE_S = 120.0
MAX_NOTEBOOK_MB = 64


@dataclass
class NotebookJob:
    """Everything one graded notebook needs, as plain data (JSON)."""

    student: str
    exercise: str
    submission: str
    source: str
    executed: str
    limits: NotebookLimits = field(default_factory=NotebookLimits)
    sandbox: bool = True
    dry_run: bool = False
    #: Folders the kernel may read (data sets), as ``[host, inside]`` pairs.
    data_mounts: list = field(default_factory=list)
    #: Folders the sandbox must never show (the instructor's), besides the submission's own.
    private: list = field(default_factory=list)
    #: Extra environment for the student's kernel.
    env: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "NotebookJob":
        data = json.loads(text)
        data["limits"] = NotebookLimits(**data.get("limits", {}))
        return cls(**data)


def grade_to_dict(grade: NotebookGrade) -> dict:
    return asdict(grade)


def grade_from_dict(data: dict) -> NotebookGrade:
    cells = [CellGrade(**c) for c in data.pop("cells", [])]
    return NotebookGrade(**data, cells=cells)


# ---------------------------------------------------------------------------------------------
# In the job's process


def _read_submission(job: NotebookJob, private: Path):
    import nbformat

    from course.grading.artifact.precheck import take_file
    from course.grading.contract import Limits as FileLimits
    from course.grading.contract import Refusal

    copy = private / "submitted.ipynb"
    try:
        take_file(job.submission, copy, FileLimits(file_mb=MAX_NOTEBOOK_MB), "notebook (.ipynb)",
                  "Submit the .ipynb file Jupyter saved.")
    except Refusal as refusal:
        raise ValueError(refusal.reason) from None
    return nbformat.read(copy, as_version=4)


def _unreadable(job, result, why: str, roles) -> NotebookGrade:
    from course.grading.text import shorten

    result.status = "unreadable"
    result.notes.append(shorten(why, 400))
    result.cells = [CellGrade(r.grade_id, 0, r.points, "not run") for r in roles]
    return result


def grade_notebook(job: NotebookJob) -> NotebookGrade:
    """Sanitize, run and judge one submitted notebook (in this process)."""
    import nbformat

    from course import exercises
    from course.grading.notebooks.submissions import sanitize

    started = time.monotonic()
    source = nbformat.read(job.source, as_version=4)
    roles = exercises.roles(source, job.exercise)
    grade_roles = [r for r in roles if r.kind == "grade"]
    result = NotebookGrade(job.student, job.exercise, "completed", not job.dry_run,
                           max_points=sum(r.points for r in grade_roles))
    private = private_folder("judge")
    try:
        try:
            submitted = _read_submission(job, private)
            notebook, result.notes = sanitize(submitted, source, job.exercise)
        except Exception as err:  # noqa: BLE001 - a broken file is the student's, and a row
            return _unreadable(job, result, f"{type(err).__name__}: {err}", grade_roles)
        _run(job, notebook, private, result, started)
        Path(job.executed).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, job.executed)
    finally:
        remove_private(private)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _load_model_from(private: Path):
    """Load a model the kernel saved: copied out of the exchange folder first (a regular file,
    never a link), then the artifact grader's checks and Keras safe mode."""
    from course.grading.artifact.load import load_checked
    from course.grading.artifact.precheck import take_file

    count = [0]

    def load(path):
        count[0] += 1
        copy = private / f"model{count[0]}.keras"
        take_file(path, copy)
        try:
            return load_checked(copy)
        finally:
            copy.unlink(missing_ok=True)
    return load


def _run(job: NotebookJob, notebook, private: Path, result: NotebookGrade, started: float):
    from nbformat.v4 import new_output

    from course.grading.notebooks.judge import Deadline, JudgeNamespace
    from course.grading.notebooks.kernel import KernelSession
    from course.grading.notebooks.remote import Channel
    from course.grading.notebooks.sandbox import Sandbox

    exchange = private / "exchange"
    exchange.mkdir()
    judge_dir = private / "judge"
    judge_dir.mkdir()
    limits = job.limits
    deadline = Deadline(started + limits.time_s)
    env = {"NBGRADER_EXECUTION": "autograde", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONDONTWRITEBYTECODE": "1", **job.env}
    if job.dry_run:
        env["COURSE_FAST"] = "1"
    box = Sandbox(exchange, limits, env, [*job.private, str(Path(job.submission).parent)],
                  job.data_mounts, sandbox=job.sandbox)
    if not box.isolated:
        result.notes.append("graded WITHOUT a sandbox (--no-sandbox): the notebook ran as the "
                            "grading user")
    session = KernelSession(box, notebook, private)
    channel = Channel(str(exchange), lambda code: session.run_line(code, deadline.left()),
                      _load_model_from(private))
    namespace = JudgeNamespace(channel)
    if any(word in cell.source for cell in notebook.cells if cell.cell_type == "code"
           for word in ("course", "keras", "tensorflow")):
        # the judge imports TensorFlow while the kernel starts and imports its own
        threading.Thread(target=_warm_up, daemon=True).start()
    cwd = os.getcwd()
    os.chdir(judge_dir)
    ended = "completed"
    try:
        with _started(session, deadline, private / "kernel.log"):
            channel.preload()
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                meta = cell.metadata.get("nbgrader", {})
                if session.dead or deadline.left() <= 0:
                    ended = "timeout" if session.timed_out or deadline.left() <= 0 \
                        else "kernel_died"
                    break
                if meta.get("grade"):
                    outcome = namespace.run(cell.source, deadline, owner=False)
                    cell.outputs = []
                    if outcome.output:
                        cell.outputs.append(new_output("stream", name="stdout",
                                                       text=outcome.output))
                    if outcome.status != "ok":
                        cell.outputs.append(new_output("error", ename="GradingFailed",
                                                       evalue=outcome.message, traceback=[]))
                    result.cells.append(_cell_grade(meta, outcome))
                    continue
                status = session.run_cell(cell, index, deadline.left())
                if status in ("ok", "error") and meta.get("locked"):
                    namespace.run(cell.source, deadline, owner=True)
    except KernelStartError as err:
        ended = "grader_error"
        result.notes.append(str(err))
    finally:
        os.chdir(cwd)
        box.close()
    watchdog = session.watchdog
    result.peak_mb = round(watchdog.peak_mb, 1) if watchdog else 0.0
    reason = watchdog.reason if watchdog else None
    result.status = reason or ended
    judged = {c.grade_id for c in result.cells}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") not in judged:
            result.cells.append(CellGrade(meta["grade_id"], 0, meta["points"], "not run",
                                          "the notebook stopped before this cell"))


class KernelStartError(RuntimeError):
    """The student's kernel did not start (the grader's problem, not the student's)."""


@contextlib.contextmanager
def _started(session, deadline, log: Path):
    """``session.running``, with a kernel that fails to start reported as the grader's
    problem, the end of its log included."""
    try:
        manager = session.running(deadline.end + 5, log)
        manager.__enter__()
    except Exception as err:  # noqa: BLE001 - any failure to start is the grader's to fix
        tail = log.read_text(errors="replace")[-400:].strip() if log.exists() else ""
        raise KernelStartError(
            f"the student's kernel did not start in the sandbox ({type(err).__name__}: {err}); "
            f"its log ends: {tail or '(empty)'}. Check that `bwrap --unshare-all --ro-bind / / "
            "true` works on this machine (user namespaces allowed).") from None
    try:
        yield session
    finally:
        manager.__exit__(None, None, None)


def _warm_up() -> None:
    """Import what the judge's cells will need (TensorFlow, Keras, the artifact loader)."""
    try:
        import keras  # noqa: F401 - imported ahead, for the judge's cells
        import tensorflow  # noqa: F401 - imported ahead, for the judge's cells

        from course.grading.artifact import load  # noqa: F401 - imported ahead: models arrive
    except Exception:  # noqa: BLE001 - the cells will say what is wrong
        pass


def _cell_grade(meta: dict, outcome) -> CellGrade:
    from course.grading.text import shorten

    if outcome.status == "ok":
        return CellGrade(meta["grade_id"], meta["points"], meta["points"], "passed")
    status = "not run" if outcome.status == "timeout" else "failed"
    return CellGrade(meta["grade_id"], 0, meta["points"], status, shorten(outcome.message, 600))


# ---------------------------------------------------------------------------------------------
# From the batch: the job in a process of its own

#: How the batch starts a job: -P keeps the working folder off sys.path.
JOB_COMMAND = ("import sys; from course.grading.notebooks.job import main; "
               "sys.exit(main(sys.argv[1], sys.argv[2]))")


def main(job_path: str, result_path: str) -> int:
    import course  # noqa: F401  (first: TensorFlow starts quietly)
    from course.grading.notebooks import wire

    job = NotebookJob.from_json(Path(job_path).read_text())
    grade = grade_notebook(job)
    wire.write_json(result_path, grade_to_dict(grade))
    return 0


def job_env(dry_run: bool) -> dict:
    """The environment of a job's process: this one's (the course importable), in fast mode
    only for a dry run, with no GPU and a headless matplotlib."""
    from course.grading.processes import course_env

    env = course_env()
    env.pop("COURSE_FAST", None)
    env.pop("COURSE_DRY_RUN", None)
    if dry_run:
        env["COURSE_FAST"] = "1"
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_in_process(job: NotebookJob, folder: Path, env: dict) -> NotebookGrade:
    """Run ``job`` in a fresh Python process; a grade whatever happens to it."""
    folder.mkdir(parents=True, exist_ok=True)
    job_path, result_path = folder / "job.json", folder / "grade.json"
    job_path.write_text(job.to_json())
    result_path.unlink(missing_ok=True)
    log = open(folder / "job.log", "wb")
    started = time.monotonic()
    with log:
        proc = subprocess.Popen([sys.executable, "-P", "-c", JOB_COMMAND, str(job_path),
                                 str(result_path)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, env=env, start_new_session=True)
        try:
            proc.wait(timeout=job.limits.time_s + JOB_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
    if result_path.exists():
        try:
            return grade_from_dict(json.loads(result_path.read_text()))
        except (ValueError, TypeError):
            pass
    tail = (folder / "job.log").read_text(errors="replace")[-800:]
    grade = NotebookGrade(job.student, job.exercise, "grader_error", not job.dry_run,
                          seconds=round(time.monotonic() - started, 1))
    grade.notes.append(f"the grader's job process failed (exit {proc.returncode}); "
                       f"its log ends: {tail.strip()[-300:]}")
    return grade


def _kill_group(pid: int) -> None:
    import signal

    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
