"""Numbers in the course's prose, rendered from their sources: ``python -m course prose``.

A number about the package (a recipe's optimizer, rate, batch or epochs; a measured accuracy or
time; a grading bar) is written once, where it lives, and the Markdown that quotes it holds a
marked span that ``--write`` fills in and ``--check`` compares::

    The recipe (<!-- number:recipe:mnist_two_layer_cnn -->...<!-- /number -->) reaches ...

The markers are HTML comments, which GitHub, JupyterLab, nbconvert and myst-nb do not show. An
opening marker must not start a line: there CommonMark reads it as the start of an HTML block,
and the rest of the line would not be Markdown.

Keys (what follows ``number:``; an optional format after a space, see ``formatted``):

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
- ``setting:NOTEBOOK.NAME``: a setting of the lesson's own code in full mode,
  ``setting:NOTEBOOK.NAME.paper`` with ``PAPER_SCALE = True``: the literal a code cell assigns,
  ``NAME = PAPER if PAPER_SCALE else course.config.pick(full=FULL, fast=FAST)`` (or
  ``NAME = pick(full=FULL, ...)``, the same in both); ``None`` (the lesson's default: all images,
  the recipe's epochs) is an error, quote the default's own source;
- ``model:NAME.params``: the parameters of the registered model ``NAME`` as ``create`` builds it,
  ``model:NAME.params.LAYER`` those of one layer.

Arithmetic between sources: the format may start with steps, applied left to right (no
precedence, no parentheses), each ``*X``, ``/X``, ``+X`` or ``-X`` with ``X`` a number or another
key (``/60``: seconds as minutes; ``-result:...#...test_acc *100 .1f``: a difference in points;
``/model:cifar10_cnn.params .0%``: a share), or ``min``, ``max``, ``range`` (``[min, max]``) or
``spread`` (max - min) of a list; a list combines with a number, or with a list as long item by
item. An operand key stands for its value (``recipe:NAME.FIELD``, ``result:``, ``code:``,
``setting:``, ``model:``), as does ``recipe:NAME.FIELD`` with a format
(``recipe:cifar10_cnn.epochs /setting:11_cifar10_cnn.EPOCHS .0f``: how many times full mode's
epochs ``PAPER_SCALE`` trains).

Files: ``README.md``, ``CONTRIBUTING.md``, ``docs/*.md`` and the Markdown cells of
``notebooks/``, ``solutions/`` and ``exercises/`` (the same text as their solutions, so
``exercises --check`` stays clean).
"""
from __future__ import annotations

import ast
import functools
import importlib
import json
import re
from pathlib import Path

OPEN = re.compile(r"<!-- number:(?P<key>[^\s>]*)(?: (?P<format>[^>]*?))? -->")
CLOSE = "<!-- /number -->"
MARKDOWN_FILES = ("README.md", "CONTRIBUTING.md", "docs/*.md")
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")
RESULTS = Path("benchmarks") / "results"

#: What ``lscpu`` calls a CPU (family, model) -> the name prose uses (benchmarks/machine.py).
CPU_NAMES = {(25, 1): "Zen 3", (25, 17): "Zen 4", (26, 2): "Zen 5"}


class ProseError(ValueError):
    """A marker that cannot be rendered: unknown key, unclosed or misplaced marker."""


# ---------------------------------------------------------------------------------------------
# Formatting


def rate(value: float) -> str:
    """A learning rate as people write it: 3e-3, 0.05, 0.1."""
    if 0 < value < 0.01:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


_STEP = re.compile(r"([*/+-])(\S+)")
_REDUCERS = {"min": min, "max": max, "range": lambda v: [min(v), max(v)],
             "spread": lambda v: max(v) - min(v)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def steps(spec: str | None) -> tuple[list[tuple[str, str | None]], str | None]:
    """``spec`` split into its arithmetic steps (``[("/", "60")]``, ``[("-", "result:...")]``,
    ``[("range", None)]``) and the Python format spec after them (``.1f``; None if there is
    none). A step's operand is a number or a key (it has a colon): ``+.1f`` is a format."""
    tokens, found = (spec or "").split(), []
    while tokens:
        step = _STEP.fullmatch(tokens[0])
        if tokens[0] in _REDUCERS:
            found.append((tokens[0], None))
        elif step and (_is_number(step[2]) or ":" in step[2]):
            found.append((step[1], step[2]))
        else:
            break
        tokens.pop(0)
    return found, " ".join(tokens) or None


def _is_numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _combine(value, op: str, operand):
    """``value op operand``, item by item where either is a list."""
    if isinstance(value, list) or isinstance(operand, list):
        if isinstance(value, list) and isinstance(operand, list):
            if len(value) != len(operand):
                raise ProseError(f"{op} of lists of {len(value)} and {len(operand)} items")
            return [_combine(a, op, b) for a, b in zip(value, operand)]
        if isinstance(value, list):
            return [_combine(a, op, operand) for a in value]
        return [_combine(value, op, b) for b in operand]
    if not (_is_numeric(value) and _is_numeric(operand)):
        raise ProseError(f"arithmetic on something not a number: {value!r} {op} {operand!r}")
    if op == "/" and operand == 0:
        raise ProseError(f"{value!r} / 0")
    return {"*": lambda: value * operand, "/": lambda: value / operand,
            "+": lambda: value + operand, "-": lambda: value - operand}[op]()


def calculated(value, found: list, root: Path = Path(".")):
    """``value`` after the arithmetic ``steps`` (the operands that are keys read under ``root``)."""
    for op, operand in found:
        if op in _REDUCERS:
            if not (isinstance(value, list) and value and all(map(_is_numeric, value))):
                raise ProseError(f"{op} needs a list of numbers, not {value!r}")
            value = _REDUCERS[op](value)
        else:
            value = _combine(value, op,
                             float(operand) if _is_number(operand) else number(operand, root))
    return value


def formatted(value, spec: str | None, root: Path = Path(".")) -> str:
    """``value`` formatted by ``spec``: a Python format spec (``.2%``, ``.1f``, ``,``), optionally
    after arithmetic steps (``/60 .1f``: seconds as minutes; see the module's docstring); no
    spec: numbers as ``g``, text as is; a list of numbers (a range) as ``low-high``."""
    found, spec = steps(spec)
    value = calculated(value, found, root)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return "-".join(formatted(v, spec) for v in value)  # a range: [low, high] -> low-high
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as err:
            raise ProseError(f"format {spec!r} does not apply to {value!r}: {err}") from None
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float) -> str:
    """A long time as people say it: ``55 minutes``, ``2.2 hours``, ``11 hours``."""
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} minutes"
    hours = minutes / 60
    return f"{hours:.1f} hours" if hours < 10 else f"{hours:.0f} hours"


def cpu_name(cpu: str) -> str:
    """``AMD EPYC (family 25, model 17)`` -> ``AMD EPYC Zen 4``; unknown CPUs as they are."""
    match = re.fullmatch(r"(.*?) \(family (\d+), model (\d+)\)", cpu or "")
    if match and (int(match[2]), int(match[3])) in CPU_NAMES:
        return f"{match[1]} {CPU_NAMES[int(match[2]), int(match[3])]}"
    return cpu or "an unnamed CPU"


# ---------------------------------------------------------------------------------------------
# Sources


_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with Nesterov momentum",
               "muon": "Muon on the convolution kernels and SGD with Nesterov momentum elsewhere"}
_PRECISION = {"off": "float32", "auto": "bfloat16 where the CPU has it natively, else float32",
              "bfloat16": "mixed bfloat16"}


def schedule_phrase(recipe) -> str:
    """The schedule in words: ``cosine decay after a 20% linear warm-up``."""
    args = recipe.schedule_args
    if recipe.schedule == "cosine":
        warmup = args.get("warmup", 0)
        return f"a {warmup:.0%} linear warm-up, then cosine decay" if warmup else "cosine decay"
    if recipe.schedule == "one_cycle":
        return f"a one-cycle schedule ({args.get('warmup', 0.25):.0%} warm-up)"
    if recipe.schedule == "step":
        return "a step schedule (divided by 10 at 50% and 75% of the steps)"
    return "constant"


def recipe_field(recipe, name: str) -> str:
    """One field of a recipe, as prose quotes it."""
    if name == "optimizer":
        return _OPTIMIZERS[recipe.optimizer]
    if name == "learning_rate":
        return rate(recipe.learning_rate)
    if name == "schedule":
        return schedule_phrase(recipe)
    if name == "mixed_precision":
        return _PRECISION[recipe.mixed_precision]
    if name == "augment":
        return ", ".join(recipe.augment) or "none"
    if not hasattr(recipe, name) or name.startswith("_"):
        raise ProseError(f"a Recipe has no field {name!r}")
    value = getattr(recipe, name)
    return formatted(value, "," if isinstance(value, int) and not isinstance(value, bool) else None)


def recipe_phrase(recipe) -> str:
    """The recipe in one phrase: optimizer, rate and schedule, batch, epochs, precision."""
    optimizer, lr, warmup = (_OPTIMIZERS[recipe.optimizer], rate(recipe.learning_rate),
                             recipe.schedule_args.get("warmup", 0))
    if recipe.schedule == "cosine" and warmup:
        parts = [f"{optimizer}, learning rate rising linearly to {lr} over the first "
                 f"{warmup:.0%} of the steps, then cosine decay"]
    elif recipe.schedule == "constant":
        parts = [f"{optimizer} at a constant learning rate {lr}"]
    else:
        parts = [f"{optimizer} at learning rate {lr} with {schedule_phrase(recipe)}"]
    if recipe.weight_decay:
        parts.append(f"weight decay {rate(recipe.weight_decay)}")
    if recipe.augment:
        parts.append(f"augmentation ({', '.join(recipe.augment)})")
    if recipe.label_smoothing:
        parts.append(f"label smoothing {recipe.label_smoothing:g}")
    if recipe.lookahead:
        parts.append("Lookahead")
    epochs = "epoch" if recipe.epochs == 1 else "epochs"
    parts += [f"batch {recipe.batch_size:,}", f"{recipe.epochs} {epochs}"]
    if recipe.progressive:
        stages = ", ".join(f"{count} at {side} pixels" for side, count in recipe.progressive)
        parts[-1] += f" ({stages}, the rest at full size)"
    if recipe.mixed_precision != "off":
        parts.append(_PRECISION[recipe.mixed_precision])
    return ", ".join(parts)


def _recipe(arg: str, raw: bool = False):
    from course import recipes

    name, _, field = arg.partition(".")
    try:
        recipe = recipes.get(name)
    except recipes.UnknownRecipeError as err:
        raise ProseError(str(err)) from None
    if raw:
        if not field or not hasattr(recipe, field) or field.startswith("_"):
            raise ProseError(f"recipe:{arg}: name a field of a Recipe, e.g. recipe:{name}.epochs")
        return getattr(recipe, field)
    return recipe_field(recipe, field) if field else recipe_phrase(recipe)


def read_results(root: Path, name: str) -> dict:
    path = Path(root) / RESULTS / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ProseError(f"no results file {path}") from None
    except json.JSONDecodeError as err:
        raise ProseError(f"{path} is not valid JSON: {err}") from None


def lesson_rows(root: Path, notebook: str | None = None) -> list[dict]:
    """Full-mode rows of ``lessons.json`` (of ``notebook``), newest first."""
    rows = [r for r in read_results(root, "lessons.json")["rows"].values()
            if r["mode"] == "full" and r["status"] == "pass"
            and (notebook is None or r["notebook"] == notebook)]
    return sorted(rows, key=lambda r: r["date"], reverse=True)


def _lesson(root: Path, notebook: str, spec: str | None = None) -> str:
    rows = lesson_rows(root, notebook)
    if not rows:
        raise ProseError(f"no passing full-mode row for {notebook!r} in "
                         f"{RESULTS / 'lessons.json'} (run benchmarks/run_notebooks.py)")
    if spec:  # an estimate: every measured time, scaled
        found, rest = steps(spec)
        if not found or rest:
            raise ProseError(f"lesson:{notebook} takes a scale (*KEY /KEY ...), not {spec!r}")
        first, *others = [(duration(calculated(row["wall_s"], found, root)),
                           cpu_name(row.get("cpu"))) for row in rows]
        return ", ".join([f"{first[0]} on a 2-core {first[1]}"] + [
            f"{time} on {'an' if name[0] in 'AEIOU' else 'a'} {name}" for time, name in others])
    first, *others = rows
    text = f"{first['wall_s'] / 60:.1f} min on a 2-core {cpu_name(first.get('cpu'))}"
    if "cpu_s" in first:
        text += f" ({first['cpu_s'] / 60:.1f} min of CPU time)"
    for row in others:
        name = cpu_name(row.get("cpu"))
        text += f", {row['wall_s'] / 60:.1f} min on {'an' if name[0] in 'AEIOU' else 'a'} {name}"
    return text


def _lessons(root: Path, what: str) -> str:
    if what != "longest":
        raise ProseError(f"unknown key lessons:{what}; use lessons:longest")
    rows = lesson_rows(root)
    by_cpu: dict = {}
    for row in rows:
        by_cpu.setdefault(row.get("cpu"), {}).setdefault(row["notebook"], row)
    cpu, lessons = max(by_cpu.items(), key=lambda item: len(item[1]))
    longest = max(lessons.values(), key=lambda r: r["wall_s"])
    return (f"all {len(lessons)} pass within {longest['wall_s'] / 60:.1f} minutes each "
            f"(`{longest['notebook']}`) on a 2-core {cpu_name(cpu)}")


def _at(value, parts: list[str], name: str, path: str):
    """``value[part][part]...``; a ``*`` part takes every item there (a flat list)."""
    if not parts:
        return value
    part, rest = parts[0], parts[1:]
    if part == "*":
        if not isinstance(value, (dict, list)) or not value:
            raise ProseError(f"{RESULTS / name} has nothing to take every item of at {path!r}")
        found = []
        for item in (value.values() if isinstance(value, dict) else value):
            got = _at(item, rest, name, path)
            found += got if "*" in rest else [got]
        return found
    try:
        value = value[int(part)] if isinstance(value, list) else value[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ProseError(f"{RESULTS / name} has no {path!r} (stuck at {part!r})") from None
    return _at(value, rest, name, path)


def _result(root: Path, arg: str) -> object:
    name, sep, path = arg.partition("#")
    if not sep or not path:
        raise ProseError(f"result:{arg}: write result:FILE#PATH, e.g. "
                         "result:main_job.json#runs.zen4.test_accuracy")
    return _at(read_results(root, name), path.split("."), name, path)


def _code(arg: str) -> object:
    parts = arg.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if isinstance(value, dict) and attr in value:
                value = value[attr]
            elif hasattr(value, attr) and not attr.startswith("_"):
                value = getattr(value, attr)
            else:
                raise ProseError(f"code:{arg}: {'.'.join(parts[:cut])} has no {attr!r} there")
        return value
    raise ProseError(f"code:{arg}: no such module")


def _pick_full(node: ast.expr):
    """``FULL`` of ``pick(full=FULL, fast=...)`` (any ``...pick``), else None."""
    if isinstance(node, ast.Call):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", None)
        if func == "pick":
            return next((k.value for k in node.keywords if k.arg == "full"), None)
    return None


def lesson_settings(root: Path, notebook: str) -> dict[str, tuple]:
    """``{NAME: (full, paper)}``: each setting a code cell of ``notebooks/NOTEBOOK.ipynb``
    assigns as ``NAME = PAPER if PAPER_SCALE else FULL`` or ``NAME = pick(full=FULL, ...)``
    (``FULL`` a literal or ``pick``'s ``full``; ``PAPER`` a literal)."""
    path = Path(root) / "notebooks" / f"{notebook}.ipynb"
    try:
        cells = json.loads(path.read_text())["cells"]
    except FileNotFoundError:
        raise ProseError(f"no lesson {path}") from None
    found: dict[str, tuple] = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:  # IPython syntax (magics): not a settings cell
            continue
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                continue
            expr, paper = node.value, None
            if isinstance(expr, ast.IfExp) and getattr(expr.test, "id", None) == "PAPER_SCALE":
                expr, paper = expr.orelse, expr.body
            full = _pick_full(expr)
            if full is None and paper is None:
                continue  # neither a PAPER_SCALE choice nor a full/fast one
            full = expr if full is None else full
            try:
                values = tuple(ast.literal_eval(v) for v in (full, paper or full))
            except ValueError:
                continue  # not literals: a computed value, not a setting
            found[node.targets[0].id] = values
    return found


def _setting(root: Path, arg: str) -> object:
    notebook, _, rest = arg.partition(".")
    name, _, scale = rest.partition(".")
    if not name or scale not in ("", "full", "paper"):
        raise ProseError(f"setting:{arg}: write setting:NOTEBOOK.NAME or setting:NOTEBOOK.NAME."
                         "paper, e.g. setting:08_resnet.EPOCHS")
    settings = lesson_settings(root, notebook)
    if name not in settings:
        raise ProseError(f"setting:{arg}: notebooks/{notebook}.ipynb assigns no {name} = ... if "
                         f"PAPER_SCALE else ...pick(full=..., fast=...) (it has: "
                         f"{', '.join(settings) or 'none'})")
    found = settings[name][scale == "paper"]
    if found is None:
        raise ProseError(f"setting:{arg} is None in the lesson's code (its default: all images, "
                         "the recipe's epochs): quote the default's own source")
    return found


@functools.cache
def _built(name: str):
    from course import models

    try:
        return models.create(name)
    except models.UnknownModelError as err:
        raise ProseError(str(err)) from None


def _model(arg: str) -> int:
    name, _, rest = arg.partition(".")
    field, _, layer = rest.partition(".")
    if field != "params":
        raise ProseError(f"model:{arg}: write model:NAME.params or model:NAME.params.LAYER")
    model = _built(name)
    if not layer:
        return model.count_params()
    try:
        return model.get_layer(layer).count_params()
    except ValueError:
        raise ProseError(f"model:{arg}: {name} has no layer {layer!r}") from None


def _raw(kind: str, arg: str, root: Path):
    """The value a key stands for, before formatting (None: a key without one)."""
    if kind == "result" and arg:
        return _result(root, arg)
    if kind == "code" and arg:
        return _code(arg)
    if kind == "setting" and arg:
        return _setting(root, arg)
    if kind == "model" and arg:
        return _model(arg)
    return None


def number(key: str, root: Path = Path(".")):
    """The number (or list of numbers) a key stands for: an operand of arithmetic."""
    kind, _, arg = key.partition(":")
    found = _recipe(arg, raw=True) if kind == "recipe" and arg else _raw(kind, arg, root)
    if not (_is_numeric(found) or isinstance(found, list) and found
            and all(map(_is_numeric, found))):
        raise ProseError(f"{key} is not a number ({found!r}): only recipe:NAME.FIELD, result:, "
                         "code:, setting: and model: keys are operands")
    return found


def value(key: str, spec: str | None = None, root: Path = Path(".")) -> str:
    """The text the marker ``number:KEY SPEC`` renders."""
    kind, _, arg = key.partition(":")
    if kind == "recipe" and arg:
        if spec:
            return formatted(_recipe(arg, raw=True), spec, root)
        return _recipe(arg)
    if kind == "lesson" and arg:
        return _lesson(root, arg, spec)
    if kind == "lessons":
        return _lessons(root, arg)
    if kind in ("result", "code", "setting", "model") and arg:
        return formatted(_raw(kind, arg, root), spec, root)
    raise ProseError(f"unknown key {key!r}: use recipe:NAME[.FIELD], lesson:NOTEBOOK, "
                     "lessons:longest, result:FILE#PATH, code:MODULE.NAME, setting:NOTEBOOK.NAME"
                     "[.paper] or model:NAME.params[.LAYER]")


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
