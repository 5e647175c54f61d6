"""Numbers in the prose come from their sources: ``python -m course prose --check`` is clean, and
fails, naming the file and the stale text, when a recipe or a results file changes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from course import prose, recipes
from course.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _changed_recipe(monkeypatch, name: str, **changes) -> recipes.Recipe:
    changed = recipes.get(name).replace(**changes)
    monkeypatch.setitem(recipes.RECIPES, name, changed)
    return changed


def test_check_is_clean_on_the_repository(capsys):
    assert prose.stale(ROOT) == []
    assert main(["prose", "--check", "--root", str(ROOT)]) == 0
    assert "every marked number matches its source" in capsys.readouterr().out


def test_every_prose_file_quotes_numbers_from_sources():
    """The places issue 34 named carry markers (a marker removed by hand would hide drift)."""
    texts = {path.relative_to(ROOT).as_posix(): path.read_text() for path in prose.files(ROOT)}
    for stem in (p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"number:lesson:{stem} -->" in texts[f"notebooks/{stem}.ipynb"], stem
    lesson02 = texts["notebooks/02_mnist_two_layer_cnn.ipynb"]
    assert "number:recipe:mnist_two_layer_cnn -->" in lesson02
    assert "1e-3" not in lesson02 and "6 epochs" not in lesson02 and "99.4%" not in lesson02
    assert "number:result:main_job.json#runs.zen4.test_accuracy" in texts["README.md"]
    assert "number:result:ci.json#" in texts["README.md"]


def test_a_changed_recipe_makes_the_check_fail(monkeypatch, capsys):
    _changed_recipe(monkeypatch, "mnist_two_layer_cnn", epochs=3, batch_size=256)
    stale = {path.relative_to(ROOT).as_posix(): diffs for path, diffs in prose.stale(ROOT)}
    lesson = stale["notebooks/02_mnist_two_layer_cnn.ipynb"]
    assert ("recipe:mnist_two_layer_cnn.epochs", "1", "3") in lesson
    phrase = dict((key, (old, new)) for key, old, new in lesson)["recipe:mnist_two_layer_cnn"]
    assert "batch 64, 1 epoch," in phrase[0] and "batch 256, 3 epochs" in phrase[1]
    assert "README.md" in stale
    assert main(["prose", "--check", "--root", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert ("stale: " + str(ROOT / "notebooks/02_mnist_two_layer_cnn.ipynb")
            + ": recipe:mnist_two_layer_cnn.epochs: says '1', the source says '3'") in out
    assert "run `python -m course prose --write`" in out


def test_a_changed_learning_rate_is_caught_too(monkeypatch):
    _changed_recipe(monkeypatch, "cifar10_cnn", learning_rate=2e-3)
    stale = {path.name: diffs for path, diffs in prose.stale(ROOT)}
    [(key, old, new)] = stale["11_cifar10_cnn.ipynb"]
    assert key == "recipe:cifar10_cnn" and "1e-3" in old and "2e-3" in new


@pytest.fixture
def tree(tmp_path):
    """A small repository: a README quoting a recipe, a results file and a lesson."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    results = {"runs": {"zen4": {"test_accuracy": 0.9932, "wall_time_s": 36.9}}}
    (tmp_path / "benchmarks/results/main_job.json").write_text(json.dumps(results))
    (tmp_path / "README.md").write_text(
        "The recipe (<!-- number:recipe:lenet5 -->?<!-- /number -->) reaches\n"
        "<!-- comment: not a marker --> about "
        "<!-- number:result:main_job.json#runs.zen4.test_accuracy .2% -->?<!-- /number --> in "
        "<!-- number:result:main_job.json#runs.zen4.wall_time_s /60 .1f -->?<!-- /number --> "
        "min.\n")
    (tmp_path / "notebooks").mkdir()
    marked = "<!-- number:recipe:lenet5.epochs -->?<!-- /number --> epochs.\n"
    cell = {"cell_type": "markdown", "source": ["A lesson of ", marked, "Second line."],
            "metadata": {}, "id": "a"}
    code = {"source": ["x = 1"], "cell_type": "code", "metadata": {}, "id": "b",
            "outputs": [], "execution_count": None}  # keys unsorted: kept as they are
    notebook = {"cells": [cell, code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "notebooks/01_x.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
    return tmp_path


def test_write_renders_and_check_then_passes(tree, monkeypatch):
    assert {p.name for p, _ in prose.stale(tree)} == {"README.md", "01_x.ipynb"}
    code_before = json.loads((tree / "notebooks/01_x.ipynb").read_text())["cells"][1]
    assert prose.write_all(tree) == [tree / "README.md", tree / "notebooks/01_x.ipynb"]
    assert prose.stale(tree) == [] and prose.write_all(tree) == []
    readme = (tree / "README.md").read_text()
    assert ("(<!-- number:recipe:lenet5 -->Adam at learning rate 1e-3 with cosine decay, "
            "batch 64, 10 epochs<!-- /number -->)") in readme
    assert "99.32%<!-- /number --> in <!-- number:result:main_job.json#runs.zen4.wall_time_s " \
           "/60 .1f -->0.6<!-- /number --> min" in readme
    notebook = json.loads((tree / "notebooks/01_x.ipynb").read_text())
    assert notebook["cells"][0]["source"] == [
        "A lesson of <!-- number:recipe:lenet5.epochs -->10<!-- /number --> epochs.\n",
        "Second line."]
    assert list(notebook["cells"][1]) == list(code_before)  # key order untouched

    # a new measurement makes the text stale, naming the file and both values
    results = tree / "benchmarks/results/main_job.json"
    results.write_text(results.read_text().replace("0.9932", "0.9941"))
    [(path, diffs)] = prose.stale(tree)
    assert path == tree / "README.md"
    assert diffs == [("result:main_job.json#runs.zen4.test_accuracy", "99.32%", "99.41%")]

    # so does a recipe registered with other epochs
    _changed_recipe(monkeypatch, "lenet5", epochs=12)
    stale = {p.name: d for p, d in prose.stale(tree)}
    assert ("recipe:lenet5.epochs", "10", "12") in stale["01_x.ipynb"]


@pytest.mark.parametrize("text, message", [
    ("a <!-- number:recipe:no_such_recipe -->x<!-- /number -->", "Unknown recipe 'no_such_recipe'"),
    ("a <!-- number:recipe:lenet5.no_field -->x<!-- /number -->", "no field 'no_field'"),
    ("a <!-- number:frobnicate:3 -->x<!-- /number -->", "unknown key 'frobnicate:3'"),
    ("a <!-- number:lesson:99_nothing -->x<!-- /number -->", "no passing full-mode row"),
    ("a <!-- number:result:main_job.json#runs.zen9.test_accuracy -->x<!-- /number -->",
     "has no 'runs.zen9.test_accuracy'"),
    ("a <!-- number:result:nothing.json#a -->x<!-- /number -->", "no results file"),
    ("a <!-- number:code:course.grading.checks.NO_BAR -->x<!-- /number -->", "has no 'NO_BAR'"),
    ("a <!-- number:code:course.grading.checks.MNIST_MAX_ERROR .2f% -->x<!-- /number -->",
     "format '.2f%' does not apply"),
    ("line one\nand <!-- number:recipe:lenet5 -->x, never closed", "line 2: <!-- number:recipe:"
     "lenet5 --> is not closed by <!-- /number --> before the end"),
    ("a <!-- number:recipe:lenet5 -->x <!-- number:recipe:lenet5 -->y<!-- /number -->",
     "not closed by <!-- /number --> before the next marker"),
    ("a x<!-- /number --> b", "<!-- /number --> without an opening marker"),
    ("<!-- number:recipe:lenet5 -->x<!-- /number -->", "starts a line"),
    ("a <!--number:recipe:lenet5-->x<!-- /number -->", "malformed number marker"),
])
def test_bad_markers_are_clear_errors(text, message):
    with pytest.raises(prose.ProseError, match="^README.md, line") as info:
        prose.render(text, ROOT, "README.md")
    assert message in str(info.value)


def test_cli_reports_a_bad_marker_without_a_traceback(tree, capsys):
    (tree / "README.md").write_text("a <!-- number:recipe:lenet5 -->x\n")
    assert main(["prose", "--check", "--root", str(tree)]) == 2
    assert main(["prose", "--write", "--root", str(tree)]) == 2
    err = capsys.readouterr().err
    assert "error: README.md, line 1: <!-- number:recipe:lenet5 --> is not closed" in err
    assert (tree / "README.md").read_text() == "a <!-- number:recipe:lenet5 -->x\n"


def test_markers_stay_invisible_inline_markdown():
    """CommonMark (markdown-it-py, which myst-nb uses; nbconvert's mistune agrees) keeps every
    marker an inline HTML comment, never an HTML block that would swallow its line."""
    parser = MarkdownIt("commonmark")
    for path in prose.files(ROOT):
        if path.suffix == ".ipynb":
            texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "markdown"]
        else:
            texts = [path.read_text()]
        for text in texts:
            for token in parser.parse(text):
                assert not (token.type == "html_block" and "number:" in token.content), path


def test_measured_main_job_is_of_the_registered_recipe():
    """Lesson 02 and the README say the recipe reached what main_job.json records: a changed
    recipe needs a new measurement (benchmarks/results/main_job.md), not only new prose."""
    recipe = recipes.get("mnist_two_layer_cnn")
    runs = json.loads((ROOT / "benchmarks/results/main_job.json").read_text())["runs"]
    assert runs, "main_job.json records no run of the registered recipe"
    for name, run in runs.items():
        assert (run["epochs"], run["batch_size"]) == (recipe.epochs, recipe.batch_size), name


def test_recipe_phrases():
    assert [prose.rate(r) for r in (3e-3, 0.05, 2.5e-4, 0.1)] == ["3e-3", "0.05", "2.5e-4", "0.1"]
    assert prose.recipe_phrase(recipes.get("mnist_two_layer_cnn")) == (
        "Adam, learning rate rising linearly to 3e-3 over the first 20% of the steps, then cosine "
        "decay, label smoothing 0.1, batch 64, 1 epoch, bfloat16 where the CPU has it natively, "
        "else float32")
    assert prose.recipe_phrase(recipes.get("cifar_resnet20")).startswith(
        "SGD with Nesterov momentum at learning rate 0.1 with a step schedule")
    staged = recipes.get("mnist_two_layer_cnn").replace(epochs=5, progressive=((16, 2), (24, 1)))
    assert "batch 64, 5 epochs (2 at 16 pixels, 1 at 24 pixels, the rest at full size)," in (
        prose.recipe_phrase(staged))
    assert prose.cpu_name("AMD EPYC (family 25, model 17)") == "AMD EPYC Zen 4"
    assert prose.cpu_name("Intel Xeon") == "Intel Xeon"


def test_the_repository_copy_renders_in_a_temporary_tree(tmp_path, monkeypatch):
    """A recipe registered with other epochs, in a copy of the repository's lesson 02 and the
    results it reads: the check names the lesson and what it says."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks/02_mnist_two_layer_cnn.ipynb", tmp_path / "notebooks")
    shutil.copytree(ROOT / "benchmarks/results", tmp_path / "benchmarks/results")
    assert prose.stale(tmp_path) == []
    _changed_recipe(monkeypatch, "mnist_two_layer_cnn", epochs=4)
    [(path, diffs)] = prose.stale(tmp_path)
    assert path.name == "02_mnist_two_layer_cnn.ipynb"
    assert ("recipe:mnist_two_layer_cnn.epochs", "1", "4") in diffs


def test_a_marker_quoted_as_code_is_documentation_not_a_marker():
    text = "Write `<!-- number:KEY -->...<!-- /number -->`, e.g. `<!-- number:recipe:x -->`."
    assert prose.render(text) == text and prose.spans(text) == []
    text = "`code` then <!-- number:recipe:lenet5.epochs -->?<!-- /number --> and `more\ncode`"
    assert prose.render(text) == text.replace("?", "10")
