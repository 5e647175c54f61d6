"""``python -m course release OUTDIR``: the student bundle, with nothing of the answer key.

The bundle holds what a student needs: the ``course`` package, the lessons (``notebooks/``), the
exercises (``exercises/``, generated from ``solutions/``), ``pyproject.toml``, the measured
results the lessons cite (``STUDENT_RESULTS``), and the student edition's own ``README.md`` and
``environment.yml`` (from ``student/``: install with the ``student`` extra, open the lessons, do,
check and submit an exercise; not the developers' README). It never holds ``solutions/``, ``instructor/`` (the answer keys: the
CIFAR-100 reference network and recipe, the MNIST term-project network), hidden tests, the
tests, the benchmarks (which train the answer keys) or ``nbgrader_config.py``. Files are taken
from ``git ls-files`` where the repository is a git work tree (so stray outputs and run folders
never ship), else by walking the folders.

After copying, ``scan(bundle, root)`` searches the bundle for the answer key: solution markers
and hidden-test markers in notebooks, the text of every solution block and hidden-test block of
``solutions/``, the source of every function and class of ``instructor/``, and any file under
``solutions/`` or ``instructor/``. A release with a leak is refused (exit code 2) and the
bundle is removed: never a silent release that leaks the solution. A solution block that the
``course`` package itself contains (an exercise on code the lessons teach from the library) is
printed as a notice.

``--course-dir DIR`` also lays out an nbgrader course directory for the instructor:
``DIR/nbgrader_config.py``, ``DIR/source/NN_topic/NN_topic.ipynb`` (the solutions with their
nbgrader metadata, outputs cleared) and ``DIR/instructor/`` (answer keys a solution imports).
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from course import exercises, notebook_setup

#: Top-level files and folders of the student bundle.
STUDENT_FILES = ("README.md", "pyproject.toml", "environment.yml", "LICENSE")
STUDENT_FOLDERS = ("course", "notebooks", "exercises")
#: Files of the bundle taken from the student edition's templates instead (bundle path: source).
STUDENT_TEMPLATES = {"README.md": "student/README.md", "environment.yml": "student/environment.yml",
                     "exercises/nbgrader_config.py": "student/nbgrader_config.py"}
#: Measured results the lessons cite (no answer key in them: lesson costs, multi-device scaling).
STUDENT_RESULTS = ("benchmarks/results/lessons.md", "benchmarks/results/multi_device.md")
#: Never in a student bundle, wherever they appear.
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "runs", "submission", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
#: The answer-key side of the repository.
INSTRUCTOR_ONLY = ("solutions", "instructor", "nbgrader_config.py")
#: Blocks shorter than this (after dedent and stripping) are too generic to be a leak signal.
MIN_BLOCK_CHARS = 24


class ReleaseError(RuntimeError):
    """The bundle cannot be built, or it would leak the answer key."""


def _tracked(root: Path) -> list[str] | None:
    """Paths git tracks under ``root`` (relative, POSIX), or None if ``root`` is not a work tree."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def _wanted(rel: str) -> bool:
    parts = rel.split("/")
    if any(part in SKIP_PARTS or part.endswith(".egg-info") for part in parts):
        return False
    if rel.endswith(SKIP_SUFFIXES):
        return False
    if rel in STUDENT_RESULTS:
        return True
    return parts[0] in STUDENT_FOLDERS if len(parts) > 1 else parts[0] in STUDENT_FILES


def student_files(root) -> list[str]:
    """The relative paths that go into the student bundle (``STUDENT_TEMPLATES`` stand for the
    files of the same name at the top of the repository)."""
    root = Path(root)
    tracked = _tracked(root)
    if tracked is None:
        tracked = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    files = {rel for rel in tracked if _wanted(rel) and (root / rel).is_file()}
    files -= set(STUDENT_TEMPLATES)
    files |= {rel for rel, template in STUDENT_TEMPLATES.items() if (root / template).is_file()}
    return sorted(files)


def _source_of(root: Path, rel: str) -> Path:
    """Where bundle file ``rel`` comes from."""
    return root / STUDENT_TEMPLATES.get(rel, rel)


# ---------------------------------------------------------------------------------------------
# What counts as the answer key


def _blocks(source: str, kind: str) -> list[str]:
    """The bodies of the ``### BEGIN kind`` ... ``### END kind`` blocks of a cell."""
    out, current = [], None
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == f"### BEGIN {kind}":
            current = []
        elif stripped == f"### END {kind}":
            if current is not None:
                out.append(textwrap.dedent("\n".join(current)).strip())
            current = None
        elif current is not None:
            current.append(line)
    return out


def answer_key(root) -> list[tuple[str, str]]:
    """``(where, text)`` for every piece of the answer key: the solution and hidden-test blocks
    of ``solutions/*.ipynb`` and the functions and classes of ``instructor/*.py``."""
    import nbformat

    root = Path(root)
    key = []
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            for kind in ("SOLUTION", "HIDDEN TESTS"):
                for block in _blocks(cell.source, kind):
                    if len(block) >= MIN_BLOCK_CHARS:
                        key.append((f"{path.relative_to(root)}, cell {index} ({kind.lower()})",
                                    block))
    for path in sorted((root / "instructor").rglob("*.py")):
        text = path.read_text()
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                segment = ast.get_source_segment(text, node)
                if segment:
                    key.append((f"{path.relative_to(root)}: {node.name}",
                                textwrap.dedent(segment).strip()))
    return key


def _normalise(text: str) -> str:
    """Lines stripped of indentation and trailing space, blank lines dropped: a block found
    re-indented or re-wrapped in a notebook's JSON still matches."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _texts(path: Path) -> list[str]:
    """A file's text as it would be read: for a notebook, each cell's source."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            return [text]
        out = []
        for cell in cells:
            source = cell.get("source", "")
            out.append(source if isinstance(source, str) else "".join(source))
        return out
    return [text]


def scan(bundle, root) -> tuple[list[str], list[str]]:
    """``(leaks, notices)``: one line per finding of the answer key in ``bundle``.

    Leaks (a release with any is refused): a file under ``solutions/`` or ``instructor/``; a
    solution or hidden-test marker in a notebook; the code of ``instructor/`` anywhere; a
    hidden-test block anywhere; a solution block in a notebook or in any file outside the
    ``course`` package. Notices (printed, never silent): a solution block that the ``course``
    package itself contains, i.e. an exercise that asks for code the lessons teach from the
    library (``course.conv_arithmetic``, ``course.models``, ...); a student can read it there.
    """
    bundle, root = Path(bundle), Path(root)
    key = [(where, _normalise(text)) for where, text in answer_key(root)]
    found, notices = [], []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        if rel.split("/")[0] in INSTRUCTOR_ONLY:
            found.append(f"{rel}: instructor-only file")
            continue
        in_package = rel.startswith("course/") and path.suffix == ".py"
        for number, text in enumerate(_texts(path)):
            if path.suffix == ".ipynb":
                for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
                    if marker in text:
                        found.append(f"{rel}, cell {number}: contains '{marker}'")
            flat = _normalise(text)
            for where, block in key:
                if block and block in flat:
                    line = f"{rel}: contains the answer key of {where}"
                    taught = in_package and where.endswith("(solution)")
                    (notices if taught else found).append(line)
    return found, notices


def leaks(bundle, root) -> list[str]:
    """The leaks ``scan`` finds in ``bundle`` (empty if none)."""
    return scan(bundle, root)[0]


# ---------------------------------------------------------------------------------------------
# Building


def build_student_bundle(root, out) -> tuple[list[str], list[str]]:
    """Copy the student files of ``root`` into ``out`` (which must not exist or be empty) and
    check the result; returns the relative paths copied and the ``scan`` notices. Raises ``ReleaseError`` (and removes
    ``out``) if an exercise is stale or the bundle would leak the answer key."""
    root, out = Path(root).resolve(), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} exists and is not empty; give a new folder.")
    inside = out.resolve().parts[len(root.parts):] if root in out.resolve().parents else ()
    if inside[:1] and inside[0] in STUDENT_FOLDERS:
        raise ReleaseError(f"{out} is inside {inside[0]}/, which the bundle copies; choose "
                           "another folder.")
    try:
        stale = exercises.stale(root) + notebook_setup.stale(root)
    except (exercises.SolutionMarkerError, notebook_setup.SetupCellError) as err:
        raise ReleaseError(f"a notebook cannot be generated: {err}") from None
    if stale:
        raise ReleaseError("exercises or set-up cells are stale (" + ", ".join(
            str(p) for p in stale) + "); run `python -m course notebooks --write` and "
            "`python -m course exercises --write` first.")
    if not (root / STUDENT_TEMPLATES["README.md"]).is_file():
        raise ReleaseError(f"no {STUDENT_TEMPLATES['README.md']} under {root}: the bundle needs "
                           "the student edition's README (not the developers').")
    files = student_files(root)
    if not any(f.startswith("exercises/") for f in files):
        raise ReleaseError(f"no exercises/ under {root}; run `python -m course exercises "
                           "--write` (and commit them) first.")
    out.mkdir(parents=True, exist_ok=True)
    try:
        for rel in files:
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(_source_of(root, rel), target)
        found, notices = scan(out, root)
        if found:
            raise ReleaseError("the bundle would leak the answer key:\n  " + "\n  ".join(found))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return files, notices


def build_course_dir(root, course_dir) -> list[Path]:
    """Lay out an nbgrader course directory: ``nbgrader_config.py``, ``source/NN_topic/
    NN_topic.ipynb`` (annotated solutions, outputs cleared) and ``instructor/``. Existing
    source notebooks are replaced; ``submitted/``, ``autograded/`` and the gradebook are kept."""
    import nbformat

    root, course_dir = Path(root), Path(course_dir)
    written = []
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    written.append(course_dir / "nbgrader_config.py")
    for solution_path, _ in exercises.pairs(root):
        nb = nbformat.from_dict(exercises.annotate(nbformat.read(solution_path, as_version=4),
                                                  str(solution_path.relative_to(root))))
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        target = course_dir / "source" / solution_path.stem / solution_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    keys = course_dir / "instructor"
    if keys.exists():
        shutil.rmtree(keys)
    shutil.copytree(root / "instructor", keys,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    written.append(keys)
    return written


def add_release(sub):
    p = sub.add_parser(
        "release", help="instructors: build the student edition (package, lessons, exercises, "
                        "student README; no answer key)",
        description="Copy the course package, notebooks/, exercises/, README.md and "
                    "pyproject.toml into OUTDIR, then scan it for the answer key (solution and "
                    "hidden-test blocks, instructor/ code): a release that would leak is refused "
                    "(exit 2). With --course-dir, also lay out an nbgrader course directory.")
    p.add_argument("outdir", help="a new (or empty) folder for the student bundle")
    p.add_argument("--course-dir", default=None, metavar="DIR",
                   help="also write DIR/nbgrader_config.py, DIR/source/NN_topic/NN_topic.ipynb "
                        "(from solutions/) and DIR/instructor/ for nbgrader")
    p.add_argument("--root", default=".", help="repository root (default: .)")
    p.set_defaults(func=_release)


def _release(args) -> int:
    try:
        files, notices = build_student_bundle(args.root, args.outdir)
    except ReleaseError as err:
        print(f"error: release refused: {err}", file=sys.stderr)
        return 2
    counts = {}
    for rel in files:
        top = rel.split("/")[0] if "/" in rel else "(top level)"
        counts[top] = counts.get(top, 0) + 1
    summary = ", ".join(f"{n} in {top}" for top, n in sorted(counts.items()))
    print(f"student bundle: {args.outdir} ({len(files)} files: {summary}); scanned for the "
          "answer key: nothing found")
    for line in notices:
        print(f"notice: {line} (an exercise asks for code the package contains; students can "
              "read it there)")
    if args.course_dir:
        written = build_course_dir(args.root, args.course_dir)
        sources = [p for p in written if p.suffix == ".ipynb"]
        print(f"nbgrader course directory: {args.course_dir} (nbgrader_config.py, "
              f"{len(sources)} source notebooks, instructor/); next: cd {args.course_dir} && "
              "nbgrader generate_assignment NN_topic")
    return 0

