"""Exercises are generated from solutions (nbgrader style).

In ``solutions/NN_topic.ipynb`` the student's part of a code cell sits between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; ``make_exercise`` replaces each such block with
``raise NotImplementedError(...)`` (indented like the block) and drops outputs.
``python -m course exercises --write`` regenerates ``exercises/``; ``--check`` fails if they drifted.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
PLACEHOLDER = 'raise NotImplementedError("Your code here: see the instructions above.")'
_MARKER = re.compile(r"^(\s*)(### (BEGIN|END) SOLUTION)\s*$")


class SolutionMarkerError(ValueError):
    """Unbalanced or nested solution markers."""


def strip_solution(source: str, where: str = "cell") -> str:
    """Replace every marked solution block in a cell's source with the placeholder."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.match(line)
        if match and match.group(3) == "BEGIN":
            if inside:
                raise SolutionMarkerError(f"{where}, line {number}: {BEGIN} inside another block")
            inside, indent = True, match.group(1)
            out.append(f"{indent}{PLACEHOLDER}")
        elif match:
            if not inside:
                raise SolutionMarkerError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN} is never closed with {END}")
    return "\n".join(out)


def make_exercise(solution: dict) -> dict:
    """The exercise notebook (an nbformat dict) for a solution notebook: blocks stripped, no outputs."""
    exercise = copy.deepcopy(solution)
    for index, cell in enumerate(exercise["cells"]):
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell["source"] = strip_solution(source, where=f"cell {index}")
            cell["outputs"] = []
            cell["execution_count"] = None
    return exercise


def pairs(root=".") -> list[tuple[Path, Path]]:
    """(solution, exercise) paths for every notebook in ``solutions/``."""
    root = Path(root)
    return [(path, root / "exercises" / path.name)
            for path in sorted((root / "solutions").glob("*.ipynb"))]


def stale(root=".") -> list[Path]:
    """Exercises that are missing or differ from what their solution generates."""
    import nbformat

    out = []
    for solution_path, exercise_path in pairs(root):
        expected = make_exercise(nbformat.read(solution_path, as_version=4))
        if not exercise_path.exists() or nbformat.read(exercise_path, as_version=4) != expected:
            out.append(exercise_path)
    return out


def write_all(root=".") -> list[Path]:
    """Regenerate every exercise from its solution; returns the paths written."""
    import nbformat

    written = []
    for solution_path, exercise_path in pairs(root):
        exercise = nbformat.from_dict(make_exercise(nbformat.read(solution_path, as_version=4)))
        exercise_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(exercise, exercise_path)
        written.append(exercise_path)
    return written


def add_exercises(sub):
    p = sub.add_parser("exercises", help="generate exercises/ from solutions/ or check they match")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate exercises/")
    group.add_argument("--check", action="store_true", help="exit 1 if an exercise is stale")
    p.add_argument("--root", default=".", help="repository root (default: .)")
    p.set_defaults(func=_exercises)


def _exercises(args) -> int:
    if args.write:
        for path in write_all(args.root):
            print(f"wrote {path}")
        return 0
    bad = stale(args.root)
    for path in bad:
        print(f"stale: {path} (run `python -m course exercises --write`)")
    if not bad:
        print(f"{len(pairs(args.root))} exercises match their solutions")
    return 1 if bad else 0
