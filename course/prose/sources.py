"""What each kind of key reads: a recipe, a results file, the lessons' timings, a constant of the
package, a setting of a lesson's code, a model's parameters.

Each reader takes the key's argument (what follows ``kind:``) and returns the value before any
format (``recipe`` and ``lesson``/``lessons`` return their phrase); ``course.prose`` dispatches
the keys to them.
"""
from __future__ import annotations

import ast
import functools
import importlib
import json
from collections.abc import Callable
from pathlib import Path

from course.prose.arithmetic import calculated, steps
from course.prose.errors import ProseError
from course.prose.phrases import cpu_name, duration, recipe_field, recipe_phrase

RESULTS = Path("benchmarks") / "results"


def recipe(arg: str, raw: bool = False):
    """``recipe:NAME[.FIELD]``: the recipe's phrase or one field's; ``raw``: the field's value."""
    from course import recipes

    name, _, field = arg.partition(".")
    try:
        found = recipes.get(name)
    except recipes.UnknownRecipeError as err:
        raise ProseError(str(err)) from None
    if raw:
        if not field or not hasattr(found, field) or field.startswith("_"):
            raise ProseError(f"recipe:{arg}: name a field of a Recipe, e.g. recipe:{name}.epochs")
        return getattr(found, field)
    return recipe_field(found, field) if field else recipe_phrase(found)


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


def lesson(root: Path, notebook: str, spec: str | None = None,
           operand: Callable[[str], object] | None = None) -> str:
    """``lesson:NOTEBOOK``: its full-mode times; with ``spec`` (steps, the keys among them read
    by ``operand``), each time scaled."""
    rows = lesson_rows(root, notebook)
    if not rows:
        raise ProseError(f"no passing full-mode row for {notebook!r} in "
                         f"{RESULTS / 'lessons.json'} (run benchmarks/run_notebooks.py)")
    if spec:  # an estimate: every measured time, scaled
        found, rest = steps(spec)
        if not found or rest:
            raise ProseError(f"lesson:{notebook} takes a scale (*KEY /KEY ...), not {spec!r}")
        first, *others = [(duration(calculated(row["wall_s"], found, operand)),
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


def lessons(root: Path, what: str) -> str:
    """``lessons:longest``: the longest lesson on the CPU that ran them all."""
    if what != "longest":
        raise ProseError(f"unknown key lessons:{what}; use lessons:longest")
    rows = lesson_rows(root)
    by_cpu: dict = {}
    for row in rows:
        by_cpu.setdefault(row.get("cpu"), {}).setdefault(row["notebook"], row)
    cpu, found = max(by_cpu.items(), key=lambda item: len(item[1]))
    longest = max(found.values(), key=lambda r: r["wall_s"])
    return (f"all {len(found)} pass within {longest['wall_s'] / 60:.1f} minutes each "
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


def result(root: Path, arg: str) -> object:
    """``result:FILE#PATH``: a value (or, with ``*``, a list) in a results file."""
    name, sep, path = arg.partition("#")
    if not sep or not path:
        raise ProseError(f"result:{arg}: write result:FILE#PATH, e.g. "
                         "result:main_job.json#runs.zen4.test_accuracy")
    return _at(read_results(root, name), path.split("."), name, path)


def code(arg: str) -> object:
    """``code:MODULE.NAME``: a constant of the package."""
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


def _picked(node: ast.expr) -> dict:
    """``{"full": FULL, "fast": FAST}`` of ``pick(full=FULL, fast=FAST)`` (any ``...pick``),
    else ``{}``."""
    if isinstance(node, ast.Call):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", None)
        if func == "pick":
            return {k.arg: k.value for k in node.keywords if k.arg in ("full", "fast")}
    return {}


#: The scales of a lesson's setting: ``setting:NOTEBOOK.NAME`` is the full one.
SCALES = ("full", "paper", "fast")


def lesson_settings(root: Path, notebook: str) -> dict[str, dict]:
    """``{NAME: {"full": ..., "paper": ..., "fast": ...}}``: each setting a code cell of
    ``notebooks/NOTEBOOK.ipynb`` (an exercise: ``solutions/NOTEBOOK.ipynb``) assigns as
    ``NAME = PAPER if PAPER_SCALE else FULL``, ``NAME = pick(full=FULL, fast=FAST)`` (or both:
    ``PAPER if PAPER_SCALE else pick(...)``) or, for an upper-case ``NAME``, a plain literal (the
    same at every scale). The full value is a literal; a scale whose value the code computes
    (``fast=len(x_train)``) is left out; a scale the code does not choose takes the full value."""
    path = Path(root) / "notebooks" / f"{notebook}.ipynb"
    if not path.exists():  # an exercise: its solution holds the code
        path = Path(root) / "solutions" / f"{notebook}.ipynb"
    try:
        cells = json.loads(path.read_text())["cells"]
    except FileNotFoundError:
        raise ProseError(f"no lesson or solution {notebook}.ipynb") from None
    found: dict[str, dict] = {}
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
            name, expr, paper = node.targets[0].id, node.value, None
            if isinstance(expr, ast.IfExp) and getattr(expr.test, "id", None) == "PAPER_SCALE":
                expr, paper = expr.orelse, expr.body
            picked = _picked(expr)
            if not picked and paper is None and not name.isupper():
                continue  # neither a choice of scale nor an upper-case constant
            full = picked.get("full", expr)
            nodes = {"full": full, "paper": paper or full, "fast": picked.get("fast", full)}
            values = {}
            for scale, node in nodes.items():
                try:
                    values[scale] = ast.literal_eval(node)
                except ValueError:
                    continue  # computed at this scale (``fast=len(x_train)``): no setting there
            if "full" in values:
                found[name] = values
    return found


def setting(root: Path, arg: str) -> object:
    """``setting:NOTEBOOK.NAME[.paper|.fast]``: a setting of the lesson's code."""
    notebook, _, rest = arg.partition(".")
    name, _, scale = rest.partition(".")
    if not name or scale not in ("", *SCALES):
        raise ProseError(f"setting:{arg}: write setting:NOTEBOOK.NAME, or .paper or .fast after "
                         "it, e.g. setting:08_resnet.EPOCHS")
    settings = lesson_settings(root, notebook)
    if name not in settings:
        raise ProseError(f"setting:{arg}: notebooks/{notebook}.ipynb assigns no {name} = ... if "
                         f"PAPER_SCALE else ...pick(full=..., fast=...) and no upper-case "
                         f"constant of that name (it has: {', '.join(settings) or 'none'})")
    if (scale or "full") not in settings[name]:
        raise ProseError(f"setting:{arg}: the lesson's code computes {name} at that scale (not a "
                         "literal): quote what it is computed from")
    found = settings[name][scale or "full"]
    if found is None:
        raise ProseError(f"setting:{arg} is None in the lesson's code (its default: all images, "
                         "the recipe's epochs): quote the default's own source")
    return found


@functools.cache
def built(name: str):
    """The registered model ``name`` as ``create`` builds it (built once)."""
    from course import models

    try:
        return models.create(name)
    except models.UnknownModelError as err:
        raise ProseError(str(err)) from None


def model(arg: str) -> int:
    """``model:NAME.params[.LAYER]``: the parameters of a registered model (or of one layer)."""
    name, _, rest = arg.partition(".")
    field, _, layer = rest.partition(".")
    if field != "params":
        raise ProseError(f"model:{arg}: write model:NAME.params or model:NAME.params.LAYER")
    found = built(name)
    if not layer:
        return found.count_params()
    try:
        return found.get_layer(layer).count_params()
    except ValueError:
        raise ProseError(f"model:{arg}: {name} has no layer {layer!r}") from None


def launch(root: Path, path: str) -> str:
    """``launch:PATH``: Markdown links that open the notebook ``PATH`` of the release on Colab,
    Kaggle and Binder (``course.notebook_setup.launch_links``), or a sentence saying why there
    are none."""
    from course import notebook_setup

    if not (Path(root) / path).is_file() or not path.endswith(".ipynb"):
        raise ProseError(f"launch:{path}: no notebook there (a path from the repository's root, "
                         "e.g. launch:notebooks/02_mnist_two_layer_cnn.ipynb)")
    links = notebook_setup.launch_links(root, path)
    if not links:
        return ("none yet: `pyproject.toml` names no GitHub repository (`[project.urls]` "
                "`Repository`)")
    return " · ".join(f"[{name}]({url})" for name, url in links.items())
