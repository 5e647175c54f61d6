"""nbgrader, made safe to use: its kernels in the course's sandbox, feedback without hidden tests,
checksum warnings only for edited cells, and the judge's scores in its gradebook.

``nbgrader_config.py`` (written into the course folder by ``python -m course release
--course-dir``) puts these in place of nbgrader's own:

- ``SandboxedExecute`` runs each notebook's kernel with ``sandbox.Sandbox`` (bubblewrap: no
  network, none of the instructor's files, other students' work out of sight; memory and process
  limits), under the exercise's own time limit for the whole notebook, and refuses fast mode
  unless ``COURSE_DRY_RUN=1``, whichever way nbgrader is called (command line or formgrader);
- ``OverwriteCells`` restores a locked cell without a warning when the student's copy is the
  released one (nbgrader's checksum covers the hidden tests the student never had, so it warned
  on every check cell);
- ``ClearTracebacks`` (feedback) keeps each error's type and message and drops the traceback,
  which can quote the hidden tests' code; with nbgrader's ``ClearHiddenTests``, the feedback
  holds no hidden test.

nbgrader still decides its points inside the student's kernel, where a student's code can patch
what a check calls; ``write_scores`` fills its gradebook from ``python -m course autograde``'s
judge instead, so ``formgrader``, ``generate_feedback`` and ``export`` work on trusted scores.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.preprocessors import OverwriteCells as _OverwriteCells

from course import config, exercises
from course.grading.processes import private_folder, remove_private

TRUE = {"1", "true", "yes", "on"}


def dry_run() -> bool:
    return os.environ.get("COURSE_DRY_RUN", "").strip().lower() in TRUE


class FastModeRefused(RuntimeError):
    pass


def instructor_notebook(root, resources: dict, source_directory: str = "source"):
    """The instructor's copy (``ROOT/source/ASSIGNMENT/NOTEBOOK.ipynb``) of the notebook nbgrader
    is grading, whose metadata holds the exercise's time limit; an empty notebook (the default
    limits) where there is none. Never the student's copy: its metadata is the student's to
    edit, and a limit read from it would let one notebook stall the batch."""
    import nbformat

    info = resources.get("nbgrader", {}) if isinstance(resources, dict) else {}
    assignment, notebook = str(info.get("assignment", "")), str(info.get("notebook", ""))
    path = Path(root) / source_directory / assignment / f"{notebook}.ipynb"
    if assignment and notebook and "/" not in assignment + notebook and path.is_file():
        return nbformat.read(path, as_version=4)
    return nbformat.v4.new_notebook()


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the kernel in the course's sandbox and a time limit for the
    whole notebook (the exercise's ``metadata.course.time_limit_s``)."""

    def preprocess(self, nb, resources, km=None):
        from jupyter_core.utils import run_sync

        from course.grading.notebooks.kernel import (
            Watchdog,
            kernel_manager,
            process_tree,
            start_options,
        )
        from course.grading.notebooks.sandbox import (
            Sandbox,
            bwrap_problem,
            data_mounts,
            install_hint,
            kernel_env,
            limits_for_notebook,
        )

        if config.is_fast() and not dry_run():
            raise FastModeRefused(
                "COURSE_FAST=1 is set, and fast mode is a smoke test (data subsets, one epoch, "
                "smoke bars), never a grade. Unset COURSE_FAST to grade; set COURSE_DRY_RUN=1 "
                "as well to try the pipeline (the scores do not count).")
        sandboxed = os.environ.get("COURSE_NO_SANDBOX", "").strip().lower() not in TRUE
        problem = bwrap_problem() if sandboxed else None
        if problem:
            raise RuntimeError(f"{problem}, so nbgrader would run students' notebooks as you. "
                               + install_hint().replace("pass --no-sandbox",
                                                        "set COURSE_NO_SANDBOX=1"))
        root_dir = getattr(getattr(self, "coursedir", None), "root", None) or os.getcwd()
        limits = limits_for_notebook(instructor_notebook(
            root_dir, resources, getattr(getattr(self, "coursedir", None), "source_directory",
                                         "source")))
        env = {**kernel_env(), "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION",
                                                                     "autograde"),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        if dry_run():
            env[config.FAST_ENV] = "1"
        work = os.path.abspath(resources.get("metadata", {}).get("path") or ".")
        private = private_folder("nbgrader")
        (private / "exchange").mkdir()
        root = os.path.abspath(getattr(self.coursedir, "root", None) or os.getcwd()) \
            if hasattr(self, "coursedir") else os.getcwd()
        box = Sandbox(private / "exchange", limits, env, [root], data_mounts(), sandboxed,
                      work=work if sandboxed else None)
        km = kernel_manager(box, private)
        self._course = {"deadline": time.monotonic() + limits.time_s, "box": box, "km": km,
                        "watchdog": None, "started": False, "options": start_options(box, work),
                        "Watchdog": Watchdog, "tree": process_tree}
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            watchdog = self._course["watchdog"]
            if watchdog is not None:
                watchdog.stop_event.set()
            box.close()
            try:
                if getattr(self, "kc", None) is not None:
                    self.kc.stop_channels()
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - the sandbox is gone either way
                pass
            remove_private(private)

    def start_new_kernel(self, **kwargs):
        kwargs.update(self._course["options"])
        return super().start_new_kernel(**kwargs)

    def preprocess_cell(self, cell, resources, index):
        from nbformat.v4 import new_output

        state = self._course
        if state["watchdog"] is None:
            box = state["box"]
            watchdog = state["Watchdog"](box, state["tree"](state["km"]), box.cgroup.kill_all,
                                         state["deadline"] + 5)
            watchdog.start()
            state["watchdog"] = watchdog
        left = state["deadline"] - time.monotonic()
        if cell.cell_type == "code" and (left <= 0 or state["watchdog"].reason):
            why = state["watchdog"].reason or "timeout"
            cell.outputs = [new_output("error", ename="NotebookLimit", evalue=(
                f"not run: the notebook was stopped ({why})"), traceback=[])]
            return cell, self.resources
        self.timeout = max(1, int(left))
        return super().preprocess_cell(cell, resources, index)


class OverwriteCells(_OverwriteCells):
    """nbgrader's ``OverwriteCells``, quiet for check cells the student did not touch."""

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except Exception:  # noqa: BLE001 - nbgrader reports a cell it does not know
                source = None
            if source is not None and source.locked and source.source != cell.source:
                try:
                    released = exercises.strip_hidden_tests(source.source, grade_id)
                except exercises.SolutionMarkerError:
                    released = None
                if cell.source.strip() == (released or "").strip():
                    cell.source = source.source  # the released cell: no change to report
        return super().preprocess_cell(cell, resources, cell_index)


    def add_missing_grade_cells(self, nb, resources):
        """Put back a check cell the student deleted, after the nearest cell before it that the
        notebook still has (nbgrader looks only for the source cell right before it among the
        answer and check cells, and fails with a ``KeyError`` when that one is an instruction
        cell, as before exercise 01's first check)."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        source_cells = {cell.name: cell for cell in source_nb.source_cells}
        solutions = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook",
                             grade_cell.name)
            cell = self.missing_cell_transform(source_cells[grade_cell.name],
                                               grade_cell.max_score,
                                               is_solution=grade_cell.name in solutions)
            before = order[:order.index(grade_cell.name)]
            index = next((present.index(name) + 1 for name in reversed(before)
                          if name in present), 0)
            nb.cells.insert(index, cell)
        return nb, resources


class ClearTracebacks(NbGraderPreprocessor):
    """Feedback: each error output keeps its type and message, not its traceback (which quotes
    the code around the error, hidden tests included)."""

    def preprocess_cell(self, cell, resources, cell_index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', '')}: {output.get('evalue', '')}"]
        return cell, resources


# ---------------------------------------------------------------------------------------------
# The judge's scores in nbgrader's gradebook


def write_scores(course_dir, grades, executed: dict) -> list[str]:
    """Put the judge's ``grades`` into ``COURSE_DIR/gradebook.db`` (nbgrader's ``Gradebook``
    API: a submission per student and exercise, each check cell's ``auto_score``) and the
    autograded notebooks into ``COURSE_DIR/autograded/STUDENT/EXERCISE/``; returns notes for
    what could not be written (an exercise nbgrader does not know, ...)."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    course_dir = Path(course_dir)
    notes = []
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        # nbgrader's own add_submission trips SQLAlchemy 2's autoflush warnings (harmless)
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for g in grades:
            try:
                gb.find_assignment(g.exercise)
            except MissingEntry:
                notes.append(f"{g.student} {g.exercise}: not in nbgrader's gradebook: run "
                             f"`nbgrader generate_assignment {g.exercise}` in {course_dir}")
                continue
            gb.update_or_create_student(g.student)
            try:
                gb.find_submission(g.exercise, g.student)
            except MissingEntry:
                gb.add_submission(g.exercise, g.student)
            for cell in g.cells:
                try:
                    grade = gb.find_grade(cell.grade_id, g.exercise, g.exercise, g.student)
                except MissingEntry:
                    continue
                grade.auto_score = float(cell.points)
            gb.db.commit()
            notebook = executed.get((g.student, g.exercise))
            if notebook and Path(notebook).exists():
                target = course_dir / "autograded" / g.student / g.exercise
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(notebook, target / f"{g.exercise}.ipynb")
    return notes
