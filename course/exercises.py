"""Exercises are generated from solutions, with nbgrader's cell metadata.

The convention, in ``solutions/NN_topic.ipynb``:

- a code cell holding ``### BEGIN SOLUTION`` / ``### END SOLUTION`` blocks is an nbgrader
  *solution* cell (an autograded answer); the student version replaces each block with
  ``raise NotImplementedError(...)`` indented like the block;
- a code cell whose first line is ``# GRADED: <grade_id>, <points> points`` is an nbgrader
  *grade* cell (autograder tests, locked) worth those points; its ``### BEGIN HIDDEN TESTS`` /
  ``### END HIDDEN TESTS`` blocks are dropped from the student version;
- every other cell (markdown, set-up code, visible checks without points) is locked read-only,
  with the ``grade_id`` of a ``# id: <grade_id>`` line or one derived from the notebook and the
  cell's index (``01_cell07``).

``python -m course exercises --write`` writes the nbgrader metadata (schema version 3) into
``solutions/`` (the source an instructor gives ``nbgrader generate_assignment``) and writes
``exercises/`` (solutions and hidden tests stripped, outputs cleared, locked cells marked
read-only as nbgrader's release does); ``--check`` fails if either is stale. A marker that is
misspelt, misplaced or unbalanced is an error naming the notebook, the cell and the line: nbgrader
acts on any line that *contains* a marker, so a near miss would leak a solution or break the
release.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from course import notebook_setup

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
PLACEHOLDER = 'raise NotImplementedError("Your code here: see the instructions above.")'
SCHEMA_VERSION = 3

#: What nbgrader looks for (a substring anywhere in a line) and the exact line we accept.
_DELIMITERS = {"BEGIN SOLUTION": BEGIN, "END SOLUTION": END,
               "BEGIN HIDDEN TESTS": BEGIN_HIDDEN, "END HIDDEN TESTS": END_HIDDEN}
_MARKER = re.compile(r"^(\s*)### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
GRADED = re.compile(r"^# GRADED: (?P<id>[A-Za-z0-9_-]+), (?P<points>\d+(?:\.\d+)?) points?\s*$")
_GRADED_LIKE = re.compile(r"^\s*#+\s*graded\s*:", re.IGNORECASE)
ID_LINE = re.compile(r"^# id: (?P<id>[A-Za-z0-9_-]+)\s*$")
_ID_LIKE = re.compile(r"^\s*#\s*id\s*:", re.IGNORECASE)


class SolutionMarkerError(ValueError):
    """A malformed, misplaced or unbalanced marker; the message names notebook, cell and line."""


MarkerError = SolutionMarkerError


@dataclass(frozen=True)
class CellRole:
    """What a cell is for nbgrader: ``solution``, ``grade`` or ``locked``."""

    kind: str
    grade_id: str
    points: float | None = None

    def metadata(self) -> dict:
        """The cell's ``metadata["nbgrader"]`` (schema version 3)."""
        meta = {"grade": self.kind == "grade", "grade_id": self.grade_id,
                "locked": self.kind != "solution", "schema_version": SCHEMA_VERSION,
                "solution": self.kind == "solution", "task": False}
        if self.kind == "grade":
            meta["points"] = self.points
        return meta


def _source(cell) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _strip_blocks(source: str, where: str, kind: str, placeholder: str | None) -> str:
    """Remove every ``### BEGIN kind`` ... ``### END kind`` block (markers included), putting
    ``placeholder`` (indented like the block) in its place if given."""
    out, inside, indent = [], False, ""
    begin, end = f"### BEGIN {kind}", f"### END {kind}"
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.match(line)
        if match and match.group(3) == kind and match.group(2) == "BEGIN":
            if inside:
                raise SolutionMarkerError(f"{where}, line {number}: {begin} inside another block")
            inside, indent = True, match.group(1)
            if placeholder is not None:
                out.append(f"{indent}{placeholder}")
        elif match and match.group(3) == kind:
            if not inside:
                raise SolutionMarkerError(f"{where}, line {number}: {end} without {begin}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {begin} is never closed with {end}")
    return "\n".join(out)


def strip_solution(source: str, where: str = "cell") -> str:
    """Replace every marked solution block in a cell's source with the placeholder."""
    return _strip_blocks(source, where, "SOLUTION", PLACEHOLDER)


def strip_hidden_tests(source: str, where: str = "cell") -> str:
    """Drop every hidden-test block (markers included), as nbgrader's ClearHiddenTests does."""
    return _strip_blocks(source, where, "HIDDEN TESTS", None)


def hidden_tests(source: str) -> list[str]:
    """The lines inside the cell's ``### BEGIN HIDDEN TESTS`` blocks (what a student never
    sees)."""
    out, inside = [], False
    for line in source.splitlines():
        match = _MARKER.match(line)
        if match and match.group(3) == "HIDDEN TESTS":
            inside = match.group(2) == "BEGIN"
        elif inside:
            out.append(line)
    return out


def default_grade_id(notebook: str, index: int) -> str:
    """``01_cell07`` for cell 7 of ``01_mnist_term_project.ipynb`` (the notebook's number, or
    its whole name if it has none)."""
    stem = Path(notebook).stem
    prefix = stem.split("_")[0] if stem[:1].isdigit() else stem
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{prefix}_cell{index:02d}")


def classify(cell, index: int, notebook: str = "notebook", id_index: int | None = None
             ) -> CellRole:
    """The nbgrader role of cell ``index`` of ``notebook``; raises ``SolutionMarkerError`` for a
    malformed or misplaced marker. ``id_index``: the index its default grade_id is derived from
    (default ``index``)."""
    where = f"{notebook}, cell {index}"
    lines = _source(cell).splitlines()
    code = cell["cell_type"] == "code"
    found = {"SOLUTION": False, "HIDDEN TESTS": False}
    grade_id = points = None
    for number, line in enumerate(lines, start=1):
        here = f"{where}, line {number}"
        for needle, exact in _DELIMITERS.items():
            if needle in line:
                match = _MARKER.match(line)
                if not code:
                    raise SolutionMarkerError(
                        f"{here}: '{needle}' in a {cell['cell_type']} cell. Solution and hidden-"
                        "test blocks belong in code cells (nbgrader acts on any line containing "
                        "the words); reword the text.")
                if not match or match.group(0).strip() != exact:
                    raise SolutionMarkerError(
                        f"{here}: {line.strip()!r} contains '{needle}' but is not the marker "
                        f"line {exact!r} (alone on its line, indented like the code). nbgrader "
                        "treats any line containing the words as a marker.")
                found[match.group(3)] = True
        if not code:
            if GRADED.match(line):
                raise SolutionMarkerError(f"{here}: a GRADED cell must be a code cell.")
            continue
        if _GRADED_LIKE.match(line):
            graded = GRADED.match(line)
            if number != 1:
                raise SolutionMarkerError(
                    f"{here}: '# GRADED:' must be the first line of the cell.")
            if not graded:
                raise SolutionMarkerError(
                    f"{here}: {line.strip()!r} is not '# GRADED: <grade_id>, <points> points' "
                    "(grade_id: letters, digits, _ or -; points: a number).")
            grade_id, points = graded.group("id"), float(graded.group("points"))
        elif _ID_LIKE.match(line):
            id_line = ID_LINE.match(line)
            if not id_line:
                raise SolutionMarkerError(
                    f"{here}: {line.strip()!r} is not '# id: <grade_id>' (letters, digits, _ "
                    "or -).")
            if grade_id is not None:
                raise SolutionMarkerError(
                    f"{here}: a second id for this cell (it has {grade_id!r} already).")
            grade_id = id_line.group("id")
    if points is not None:  # a grade cell
        if found["SOLUTION"]:
            raise SolutionMarkerError(
                f"{where}: a GRADED cell cannot hold a solution block; put the solution in a "
                "cell of its own before it.")
        strip_hidden_tests(_source(cell), where)  # balance check
        return CellRole("grade", grade_id, int(points) if points.is_integer() else points)
    if found["HIDDEN TESTS"]:
        raise SolutionMarkerError(
            f"{where}: hidden tests outside a GRADED cell; make '# GRADED: <grade_id>, <points> "
            "points' the cell's first line.")
    grade_id = grade_id or default_grade_id(notebook, index if id_index is None else id_index)
    if found["SOLUTION"]:
        strip_solution(_source(cell), where)  # balance check
        return CellRole("solution", grade_id)
    return CellRole("locked", grade_id)


def roles(notebook: dict, name: str = "notebook") -> list[CellRole]:
    """The role of every cell; raises ``SolutionMarkerError`` on a bad marker or a repeated id.
    The generated set-up cell (``course.notebook_setup``) is locked, with the id
    ``course_setup``; it does not count in the default ids of the cells after it, which keep the
    ids they had before it existed (released notebooks and gradebooks name them)."""
    out, seen, setup_cells = [], {}, 0
    for index, cell in enumerate(notebook["cells"]):
        if notebook_setup.is_setup_cell(cell):
            setup_cells += 1
            role = CellRole("locked", notebook_setup.SETUP_ID)
        else:
            role = classify(cell, index, name, id_index=index - setup_cells)
        if role.grade_id in seen:
            raise SolutionMarkerError(
                f"{name}, cell {index}: grade_id {role.grade_id!r} is already used by cell "
                f"{seen[role.grade_id]}; ids must be unique in a notebook.")
        seen[role.grade_id] = index
        out.append(role)
    return out


def annotate(solution: dict, name: str = "notebook") -> dict:
    """The solution notebook with nbgrader metadata on every cell (nothing else changed)."""
    annotated = copy.deepcopy(solution)
    for cell, role in zip(annotated["cells"], roles(solution, name)):
        cell.setdefault("metadata", {})["nbgrader"] = role.metadata()
    return annotated


def make_exercise(solution: dict, name: str = "notebook") -> dict:
    """The student notebook: nbgrader metadata, solution blocks replaced by the placeholder,
    hidden tests dropped, outputs cleared, locked cells read-only (as nbgrader's LockCells)."""
    exercise = annotate(solution, name)
    for index, (cell, role) in enumerate(zip(exercise["cells"], roles(solution, name))):
        where = f"{name}, cell {index}"
        if cell["cell_type"] == "code":
            source = _source(cell)
            if role.kind == "solution":
                source = strip_solution(source, where)
            elif role.kind == "grade":
                source = strip_hidden_tests(source, where)
            cell["source"] = source
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["metadata"]["deletable"] = False
        if role.kind != "solution":
            cell["metadata"]["editable"] = False
    return exercise


def points(notebook: dict, name: str = "notebook") -> dict[str, float]:
    """``{grade_id: points}`` of the notebook's grade cells."""
    return {r.grade_id: r.points for r in roles(notebook, name) if r.kind == "grade"}


def pairs(root=".") -> list[tuple[Path, Path]]:
    """(solution, exercise) paths for every notebook in ``solutions/``."""
    root = Path(root)
    return [(path, root / "exercises" / path.name)
            for path in sorted((root / "solutions").glob("*.ipynb"))]


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


#: The measured cost of grading each solution (``benchmarks/grade_exercises.py``).
COSTS = Path("benchmarks") / "results" / "exercise_costs.json"


def time_limit(measured_s: float) -> int:
    """An exercise's time limit for grading one notebook: 3x the solution's measured cost (a
    student's notebook may train longer, a grading machine may be slower) plus two minutes (the
    kernel's and the judge's start), rounded up to a minute."""
    import math

    return int(math.ceil((3 * measured_s + 120) / 60) * 60)


def grading_metadata(root, stem: str) -> dict | None:
    """``{"time_limit_s", "measured_s", "measured_on"}`` and the measuring machine's rates
    (``speed.rates``: the autograders scale the limit to their own machine) for
    ``metadata.course`` of exercise ``stem``, from ``COSTS``; None where the exercise was never measured (the autograders then
    use their default limit); ``...`` (Ellipsis) where the tree has no ``COSTS`` file at all (a
    copy without ``benchmarks/``: keep the limits the solution records)."""
    import json

    path = Path(root) / COSTS
    if not path.exists():
        return ...
    cost = json.loads(path.read_text()).get(stem)
    if not cost or cost.get("status") != "completed":
        return None
    from course.grading.notebooks import speed

    machine = cost.get("machine", {})
    return {"time_limit_s": time_limit(cost["seconds"]), "measured_s": cost["seconds"],
            "measured_on": f"{machine.get('cpu', '?')}, {cost.get('date', '?')}",
            **speed.rates(machine)}


def generate(root=".") -> list[tuple[Path, dict]]:
    """``(path, notebook)`` for every file ``--write`` would write: each annotated solution and
    its exercise, with the exercise's grading limits in ``metadata.course``. Validates every
    notebook before anything is written."""
    import nbformat

    root = Path(root)
    out = []
    for solution_path, exercise_path in pairs(root):
        name = _display(solution_path, root)
        solution = notebook_setup.with_setup_cell(nbformat.read(solution_path, as_version=4),
                                                  root, solution_path.stem, name)
        limits = grading_metadata(root, solution_path.stem)
        if limits is ...:
            limits = solution.metadata.get("course")
        solution.metadata.pop("course", None)
        if limits:
            solution.metadata["course"] = limits
        out.append((solution_path, annotate(solution, name)))
        out.append((exercise_path, make_exercise(solution, name)))
    return out


def stale(root=".") -> list[Path]:
    """Solutions whose nbgrader metadata and exercises whose content differ from what
    ``--write`` would write (or are missing)."""
    import nbformat

    return [path for path, expected in generate(root)
            if not path.exists() or nbformat.read(path, as_version=4) != expected]


def write_all(root=".") -> list[Path]:
    """Annotate every solution and regenerate every exercise; returns the paths written."""
    import nbformat

    written = []
    for path, notebook in generate(root):
        node = nbformat.from_dict(notebook)
        if path.exists() and nbformat.read(path, as_version=4) == node:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(node, path)
        written.append(path)
    return written


def add_exercises(sub):
    p = sub.add_parser(
        "exercises", help="instructors: generate exercises/ (and the nbgrader metadata and set-up "
                          "cells of solutions/) from solutions/, or check they match")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true",
                       help="write nbgrader metadata into solutions/ and regenerate exercises/")
    group.add_argument("--check", action="store_true",
                       help="exit 1 if a solution's metadata or an exercise is stale")
    p.add_argument("--root", default=".", help="repository root (default: .)")
    p.set_defaults(func=_exercises)


def _exercises(args) -> int:
    import sys

    if not pairs(args.root):
        print(f"error: no solutions/*.ipynb under {Path(args.root).resolve()}: `exercises` is an "
              "instructor command (it makes exercises/ from the answer keys, which the student "
              "edition does not have), so there is nothing to check here. To check your work on "
              "an exercise, run its check cells, or, in exercises/, `nbgrader validate "
              "NN_topic.ipynb` (README.md).", file=sys.stderr)
        return 2
    try:
        if args.write:
            written = write_all(args.root)
            for path in written:
                print(f"wrote {path}")
            print(f"{len(pairs(args.root))} solutions, {len(written)} file(s) written")
            return 0
        bad = stale(args.root)
    except (SolutionMarkerError, notebook_setup.SetupCellError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in bad:
        print(f"stale: {path} (run `python -m course exercises --write`)")
    if not bad:
        print(f"{len(pairs(args.root))} exercises and their solutions' nbgrader metadata are "
              "up to date")
    return 1 if bad else 0
