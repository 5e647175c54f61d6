"""Numbers in the course's prose, rendered from their sources: ``python -m course prose``.

A number about the package (a recipe's optimizer, rate, batch or epochs; a measured accuracy or
time; a grading bar) is written once, where it lives, and the Markdown that quotes it holds a
marked span that ``--write`` fills in and ``--check`` compares::

    The recipe (<!-- number:recipe:mnist_two_layer_cnn -->...<!-- /number -->) reaches ...

The markers are HTML comments, which GitHub, JupyterLab, nbconvert and myst-nb do not show. An
opening marker must not start a line: there CommonMark reads it as the start of an HTML block,
and the rest of the line would not be Markdown.

Keys (what follows ``number:``; an optional format after a space, see
``arithmetic.formatted``):

- ``recipe:NAME``: the registered recipe in one phrase (optimizer, rate, warm-up and schedule,
  batch, epochs, precision); ``recipe:NAME.FIELD`` one field (``epochs``, ``batch_size``,
  ``learning_rate``, ``optimizer``, ``schedule``, ``mixed_precision``, ``augment``, ...);
- ``lesson:NOTEBOOK``: the lesson's full-mode time on each CPU it was measured on, from
  ``benchmarks/results/lessons.json`` (``benchmarks/run_notebooks.py``); with arithmetic steps
  (below) and no other format, each of those times scaled, in minutes or hours: the estimate of
  a longer run (``lesson:08_resnet *30 /4``); ``lessons:longest``: the longest lesson on the CPU
  that ran them all;
- ``result:FILE#PATH``: a value in ``benchmarks/results/FILE`` (JSON), ``PATH`` dotted
  (``final.test_accuracy``, ``curve.-1.train_s``); a ``*`` in the path takes every item there,
  a list (``runs.*.settings.*.test_acc``);
- ``code:MODULE.NAME``: a constant of the package (``code:course.grading.checks.MNIST_MAX_ERROR``);
- ``setting:NOTEBOOK.NAME``: a setting of the lesson's own code (an exercise's: its solution's)
  in full mode,
  ``setting:NOTEBOOK.NAME.paper`` with ``PAPER_SCALE = True``, ``setting:NOTEBOOK.NAME.fast`` in
  fast mode: the literal a code cell assigns,
  ``NAME = PAPER if PAPER_SCALE else course.config.pick(full=FULL, fast=FAST)`` (either part
  alone, or an upper-case ``NAME = LITERAL``, the same at every scale); ``None`` (the lesson's
  default: all images, the recipe's epochs) is an error, quote the default's own source;
- ``model:NAME.params``: the parameters of the registered model ``NAME`` as ``create`` builds it,
  ``model:NAME.params.LAYER`` those of one layer;
- ``launch:PATH``: links that open the notebook ``PATH`` of the release on Colab, Kaggle and
  Binder, from ``pyproject.toml``'s GitHub ``Repository``; where there is none, a sentence that
  says so (no format).

Arithmetic between sources: the format may start with steps, applied left to right (no
precedence, no parentheses), each ``*X``, ``/X``, ``+X`` or ``-X`` with ``X`` a number or another
key (``/60``: seconds as minutes; ``-result:...#...test_acc *100 .1f``: a difference in points;
``/model:cifar10_cnn.params .0%``: a share), or ``min``, ``max``, ``range`` (``[min, max]``) or
``spread`` (max - min) of a list; a list combines with a number, or with a list as long item by
item. An operand key stands for its value (``recipe:NAME.FIELD``, ``result:``, ``code:``,
``setting:``, ``model:``), as does ``recipe:NAME.FIELD`` with a format
(``recipe:cifar10_cnn.epochs /setting:11_cifar10_cnn.EPOCHS .0f``: how many times full mode's
epochs ``PAPER_SCALE`` trains).

Files: ``README.md``, ``CONTRIBUTING.md``, ``student/README.md``, ``docs/*.md`` and the Markdown
cells of ``notebooks/``, ``solutions/`` and ``exercises/`` (the same text as their solutions, so
``exercises --check`` stays clean).

Modules, each importing only those below it (``tests/test_layering.py`` walks the graph):
``errors`` (``ProseError``) <- ``arithmetic`` (steps and formats) <- ``phrases`` (rates, times,
CPUs and recipes in words) <- ``sources`` (what each kind of key reads) <- this package (the
keys, the markers, the files and the command).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from course.prose import sources
from course.prose.arithmetic import calculated, formatted, is_numeric, steps
from course.prose.errors import ProseError
from course.prose.phrases import (
    CPU_NAMES,
    cpu_name,
    duration,
    rate,
    recipe_field,
    recipe_phrase,
    schedule_phrase,
)
from course.prose.sources import RESULTS, built, lesson_rows, lesson_settings, read_results

#: The name the tests use for the models ``model:`` keys build (one cache, ``sources.built``).
_built = built

OPEN = re.compile(r"<!-- number:(?P<key>[^\s>]*)(?: (?P<format>[^>]*?))? -->")
CLOSE = "<!-- /number -->"
MARKDOWN_FILES = ("README.md", "CONTRIBUTING.md", "student/README.md", "docs/*.md")
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")


# ---------------------------------------------------------------------------------------------
# Keys


def _operand(root: Path):
    """What an arithmetic step's key stands for, read under ``root``."""
    return lambda key: number(key, root)


def _raw(kind: str, arg: str, root: Path):
    """The value a key stands for, before formatting (None: a key without one)."""
    if kind == "result" and arg:
        return sources.result(root, arg)
    if kind == "code" and arg:
        return sources.code(arg)
    if kind == "setting" and arg:
        return sources.setting(root, arg)
    if kind == "model" and arg:
        return sources.model(arg)
    return None


def number(key: str, root: Path = Path(".")):
    """The number (or list of numbers) a key stands for: an operand of arithmetic."""
    kind, _, arg = key.partition(":")
    found = (sources.recipe(arg, raw=True) if kind == "recipe" and arg
             else _raw(kind, arg, root))
    if not (is_numeric(found) or isinstance(found, list) and found
            and all(map(is_numeric, found))):
        raise ProseError(f"{key} is not a number ({found!r}): only recipe:NAME.FIELD, result:, "
                         "code:, setting: and model: keys are operands")
    return found


def value(key: str, spec: str | None = None, root: Path = Path(".")) -> str:
    """The text the marker ``number:KEY SPEC`` renders."""
    kind, _, arg = key.partition(":")
    if kind == "recipe" and arg:
        if spec:
            return formatted(sources.recipe(arg, raw=True), spec, _operand(root))
        return sources.recipe(arg)
    if kind == "lesson" and arg:
        return sources.lesson(root, arg, spec, _operand(root))
    if kind == "lessons":
        return sources.lessons(root, arg)
    if kind in ("result", "code", "setting", "model") and arg:
        return formatted(_raw(kind, arg, root), spec, _operand(root))
    if kind == "launch" and arg and not spec:
        return sources.launch(root, arg)
    raise ProseError(f"unknown key {key!r}: use recipe:NAME[.FIELD], lesson:NOTEBOOK, "
                     "lessons:longest, result:FILE#PATH, code:MODULE.NAME, setting:NOTEBOOK.NAME"
                     "[.paper|.fast], model:NAME.params[.LAYER] or launch:PATH")


# ---------------------------------------------------------------------------------------------
# Markers


_CODE_SPAN = re.compile(r"`(?:[^`\n]|\n(?![ \t]*\n))+`")


def _masked(text: str) -> str:
    """``text`` with its inline code blanked out (same length), so that a marker quoted in
    backticks, as the documentation shows one, is not a marker."""
    return _CODE_SPAN.sub(lambda m: "`" + " " * (len(m.group()) - 2) + "`", text)


def render(text: str, root: Path = Path("."), where: str = "text") -> str:
    """``text`` with every marked span filled in from its source."""
    original, text = text, _masked(text)
    for loose in re.finditer(r"<!--\s*/?\s*number\b", text):
        if not (OPEN.match(text, loose.start()) or text.startswith(CLOSE, loose.start())):
            line = text.count("\n", 0, loose.start()) + 1
            raise ProseError(f"{where}, line {line}: a malformed number marker: write "
                             f"<!-- number:KEY -->text{CLOSE}")
    out, pos = [], 0
    for match in OPEN.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if not text[text.rfind("\n", 0, match.start()) + 1:match.start()].strip():
            raise ProseError(f"{where}, line {line}: {match.group(0)} starts a line, where "
                             "Markdown reads it as an HTML block; put a word before it")
        end = text.find(CLOSE, match.end())
        nested = OPEN.search(text, match.end(), end if end >= 0 else len(text))
        if end < 0 or nested:
            raise ProseError(f"{where}, line {line}: {match.group(0)} is not closed by "
                             f"{CLOSE} before {'the next marker' if nested else 'the end'}")
        try:
            rendered = value(match["key"], match["format"], root)
        except ProseError as err:
            raise ProseError(f"{where}, line {line}: {err}") from None
        out += [original[pos:match.end()], rendered, CLOSE]
        pos = end + len(CLOSE)
    ends = {text.find(CLOSE, m.end()) for m in OPEN.finditer(text)}
    for stray in re.finditer(re.escape(CLOSE), text):
        if stray.start() not in ends:
            line = text.count("\n", 0, stray.start()) + 1
            raise ProseError(f"{where}, line {line}: {CLOSE} without an opening marker")
    return "".join(out) + original[pos:]


def spans(text: str) -> list[tuple[str, str]]:
    """``(key, text)`` of every marked span, as written."""
    masked = _masked(text)
    return [(m["key"], text[m.end():masked.find(CLOSE, m.end())]) for m in OPEN.finditer(masked)]


def files(root=".") -> list[Path]:
    root = Path(root)
    found = [p for pattern in MARKDOWN_FILES for p in sorted(root.glob(pattern))]
    return found + [p for d in NOTEBOOK_DIRS for p in sorted((root / d).glob("*.ipynb"))]


def _render_file(path: Path, root: Path) -> tuple[str, str]:
    """(text as it is, text as it should be)."""
    text = path.read_text()
    where = str(path.relative_to(root))
    if path.suffix != ".ipynb":
        return text, render(text, root, where)
    notebook = json.loads(text)
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        new = render(source, root, f"{where}, cell {index}")
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
    # key order kept as it is (not sorted), so only the rendered lines change
    return text, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def stale(root=".") -> list[tuple[Path, list[tuple[str, str, str]]]]:
    """Files whose marked spans differ from their sources: ``(path, [(key, written, due)])``."""
    root, found = Path(root), []
    for path in files(root):
        old, new = _render_file(path, root)
        if old != new:
            diffs = [(key, a, b) for (key, a), (_, b) in zip(spans(old), spans(new)) if a != b]
            found.append((path, diffs))
    return found


def write_all(root=".") -> list[Path]:
    """Render every file, then write those that changed (nothing is written on an error)."""
    root = Path(root)
    due = [(path, *_render_file(path, root)) for path in files(root)]
    for path, old, new in due:
        if old != new:
            path.write_text(new)
    return [path for path, old, new in due if old != new]


def add_prose(sub):
    p = sub.add_parser("prose", help="instructors: render the numbers quoted in Markdown from "
                                     "recipes, "
                                     "results and code, or check they match")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="fill in every marked number")
    group.add_argument("--check", action="store_true", help="exit 1 if a quoted number is stale")
    p.add_argument("--root", default=".", help="repository root (default: .)")
    p.set_defaults(func=_prose)


def _prose(args) -> int:
    import sys

    try:
        if args.write:
            for path in write_all(args.root):
                print(f"wrote {path}")
            return 0
        bad = stale(args.root)
    except ProseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, diffs in bad:
        for key, written, due in diffs:
            print(f"stale: {path}: {key}: says {written!r}, the source says {due!r}")
    if bad:
        print("run `python -m course prose --write`")
        return 1
    print(f"{len(files(args.root))} files: every marked number matches its source")
    return 0
