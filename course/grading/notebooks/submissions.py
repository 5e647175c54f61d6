"""Submitted notebooks: finding them in a folder, and making the notebook the judge runs.

``find_submissions`` walks ``STUDENT/.../NN_topic.ipynb`` (nbgrader's ``submitted/`` layout) and
names every file it cannot grade, with the fix (a renamed copy: which name it should have).
``sanitize`` is what nbgrader's ``ClearOutput``, ``DeduplicateIds`` and ``OverwriteCells`` do:
outputs cleared, every locked cell and check cell back to the source's text (hidden tests
included), deleted ones put back, unknown or repeated ids dropped; the student's answers and
extra cells kept.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from course import exercises
from course.grading.text import printable

STUB = exercises.PLACEHOLDER


# ---------------------------------------------------------------------------------------------
# Finding submissions


@dataclass
class Submission:
    student: str
    exercise: str
    path: Path
    notes: list = field(default_factory=list)


def intended_exercise(stem: str, names) -> str | None:
    """The exercise a renamed notebook was meant to be (``03_convolution_arithmetic (1)``,
    ``Copy of 03_convolution_arithmetic``, ``03_conv_arith``), or None if unclear: the one
    exercise whose name the stem contains, else the one with its number, else the closest."""
    import difflib
    import re

    names = sorted(names)
    inside = [n for n in names if n in stem]
    if len(inside) == 1:
        return inside[0]
    number = re.search(r"(?<!\d)(\d{2})(?!\d)", stem)
    if number:
        same = [n for n in names if n.startswith(number.group(1) + "_")]
        if len(same) == 1:
            return same[0]
    close = difflib.get_close_matches(stem, names, n=2, cutoff=0.75)
    return close[0] if len(close) == 1 else None


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def find_submissions(folder, exercise_names, exercise: str | None = None):
    """``(submissions, problems)`` under ``folder``: ``STUDENT/.../NN_topic.ipynb`` (nbgrader's
    ``submitted/STUDENT/ASSIGNMENT/`` layout or ``STUDENT/`` alone) for the exercises named, or
    ``STUDENT.ipynb`` directly in ``folder`` when ``exercise`` names the exercise.

    A renamed notebook (``03_convolution_arithmetic (1).ipynb``) is graded as the exercise it
    was meant to be when that is clear and the student has no notebook of that name, with a
    note that says which name it should have. Symbolic links are not followed; ``problems``
    are ``(student, exercise, path, why)`` rows, each with what to do."""
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
                student, exercise_name = rel.parts[0], stem
            elif exercise:
                student, exercise_name = stem, exercise
            else:
                problems.append((stem, "?", path, "a notebook directly in the folder: put it in "
                                 "a folder named after the student, or pass --exercise"))
                continue
            notes = []
            if exercise_name not in exercise_names:
                meant = intended_exercise(exercise_name, exercise_names)
                if meant is None:
                    problems.append((student, exercise_name, path,
                                     f"no exercise named {exercise_name!r}: name the notebook "
                                     f"after its exercise (one of "
                                     f"{', '.join(sorted(exercise_names))})"))
                    continue
                notes.append(f"submitted as {printable(name)}: graded as {meant}; the file "
                             f"should be named {meant}.ipynb")
                exercise_name = meant
            if exercise and exercise_name != exercise:
                continue
            if path.is_symlink():
                problems.append((student, exercise_name, path, "a symbolic link, not a file: "
                                 "submit the notebook itself"))
            else:
                found.append(Submission(student, exercise_name, path, notes))
    # several notebooks for one exercise (a renamed copy beside the real one): one is graded,
    # the properly named one, else the newest
    groups: dict = {}
    for s in found:
        groups.setdefault((s.student, s.exercise), []).append(s)
    kept = []
    for (student, name), group in groups.items():
        group.sort(key=lambda s: (not s.notes, _mtime(s.path)), reverse=True)
        kept.append(group[0])
        for other in group[1:]:
            problems.append((student, name, other.path, f"another notebook for {name}: only "
                             f"{group[0].path.name} was graded"))
    return kept, problems


# ---------------------------------------------------------------------------------------------
# Sanitizing (what nbgrader's ClearOutput, DeduplicateIds, OverwriteCells do)


def _grade_id(cell):
    """The cell's nbgrader ``grade_id`` if it is a string, else None (a student's cell may hold
    any JSON there: a number, a list, null)."""
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def sanitize(submitted: dict, source: dict, name: str = "notebook") -> tuple[dict, list[str]]:
    """The notebook to run and the notes on what was changed; ``source`` is the solution
    notebook (with hidden tests), ``submitted`` the student's."""
    import copy

    import nbformat

    roles = exercises.roles(source, name)
    source_cells = {role.grade_id: (cell, role) for cell, role in zip(source["cells"], roles)}
    notes, seen, cells = [], set(), []
    for cell in submitted.get("cells", []):
        if not isinstance(cell, dict):
            notes.append("a cell that is not a JSON object was dropped")
            continue
        cell = copy.deepcopy(cell)
        grade_id = _grade_id(cell)
        if grade_id is not None and (grade_id in seen or grade_id not in source_cells):
            why = "repeated" if grade_id in seen else "unknown to the exercise"
            notes.append(f"cell id {printable(grade_id)} {why}: graded as a cell of the student's")
            cell.get("metadata", {}).pop("nbgrader", None)
            grade_id = None
        if grade_id is None:  # the student's own cell: no nbgrader role, whatever it claims
            cells.append(_student_cell(cell))
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
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise ValueError("a cell's source is neither text nor a list of lines")


def _student_cell(cell: dict) -> dict:
    """A cell of the student's own, rebuilt from its type and text only (no metadata: tags,
    nbgrader roles, widget state, whatever it claimed)."""
    kind = cell.get("cell_type")
    fresh = {"cell_type": kind if kind in ("code", "markdown") else "raw", "metadata": {},
             "source": _text(cell.get("source", ""))}
    if isinstance(cell.get("id"), str):
        fresh["id"] = cell["id"][:64]
    if fresh["cell_type"] == "code":
        fresh["outputs"], fresh["execution_count"] = [], None
    return fresh
