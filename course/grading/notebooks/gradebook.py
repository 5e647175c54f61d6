"""Autograding's results: the grade of each notebook, the gradebook CSV and the feedback text.

``NotebookGrade`` (with a ``CellGrade`` per graded cell) is what ``autograde`` makes of one
submitted notebook; ``write_gradebook`` writes one row per student and exercise (every cell
escaped like the artifact grader's CSV, written atomically, both with ``report``'s helpers) and
``feedback_text`` the short report a student reads. Student ids and messages come from students'
files, so all of them pass through ``report.printable``; ``safe_name`` makes a student id a
path component.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from course.grading.text import csv_cell, printable, write_csv_rows


@dataclass
class CellGrade:
    """The points of one graded (check) cell, and why."""

    grade_id: str
    points: float
    max_points: float
    status: str  # passed, failed, not run
    message: str = ""


@dataclass
class NotebookGrade:
    """One student's notebook for one exercise: how its run ended, its cells, notes."""

    student: str
    exercise: str
    status: str
    counts: bool
    seconds: float = 0.0
    peak_mb: float = 0.0
    cells: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    max_points: float = 0.0

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells)


STATUS_TEXT = {
    "completed": "ran to the end",
    "timeout": "stopped at the time limit of {time:g} s; cells after that earned nothing",
    "memory": "stopped: the kernel used more than {memory:,} MiB; cells after that earned "
              "nothing",
    "kernel_died": "the kernel died (a crash or os._exit); cells after that earned nothing",
    "crashed": "the notebook runner failed; cells it did not finish earned nothing",
    "unreadable": "the notebook could not be read: nothing earned",
}


def safe_name(name: str) -> str:
    """A student id as one path component (escaped, no separators, no leading dot)."""
    text = printable(name).replace("/", "_").replace("\\", "_")
    return ("_" + text) if text.startswith(".") or not text else text


# ---------------------------------------------------------------------------------------------
# Output


GRADEBOOK_FIELDS = ("student", "exercise", "points", "max_points", "counts", "status", "cells",
                    "seconds", "peak_memory_mb", "notes")


def gradebook_rows(grades) -> list[list[str]]:
    """The header and one escaped row per ``NotebookGrade``."""
    rows = [list(GRADEBOOK_FIELDS)]
    for g in grades:
        values = {"student": g.student, "exercise": g.exercise, "points": num(g.points),
                  "max_points": num(g.max_points), "counts": g.counts, "status": g.status,
                  "cells": "; ".join(f"{c.grade_id}={num(c.points)}/{num(c.max_points)}"
                                     for c in g.cells),
                  "seconds": g.seconds, "peak_memory_mb": g.peak_mb,
                  "notes": "; ".join(g.notes)}
        rows.append([csv_cell(values[k]) for k in GRADEBOOK_FIELDS])
    return rows


def num(value: float):
    """A number of points as written: ``3`` rather than ``3.0``, else to two decimals."""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def write_gradebook(path, grades) -> None:
    """Write the gradebook CSV atomically (escaped with ``report.csv_cell``)."""
    write_csv_rows(path, gradebook_rows(grades), prefix=".gradebook-")


def feedback_text(g: NotebookGrade, time_limit: float, memory_mb: float) -> str:
    """The feedback file of one notebook: the score, how the run ended, notes, every cell."""
    lines = [f"{printable(g.exercise)}: {printable(g.student)}",
             f"score: {num(g.points)} / {num(g.max_points)}"
             + ("" if g.counts else "  (DRY RUN in fast mode: this score does not count)"),
             "run: " + STATUS_TEXT.get(g.status, g.status).format(time=time_limit,
                                                                   memory=int(memory_mb))
             + (f" ({g.seconds:g} s)" if g.seconds else "")]
    lines += [f"note: {printable(n)}" for n in g.notes]
    width = max([len(c.grade_id) for c in g.cells] + [4])
    for c in g.cells:
        lines.append(f"  {c.grade_id:<{width}}  {num(c.points):>4} / {num(c.max_points):<4}"
                     f" {c.status}" + (f": {printable(c.message)}" if c.message else ""))
    return "\n".join(lines) + "\n"
