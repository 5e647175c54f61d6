"""Numbers in the prose come from their sources: ``python -m course prose --check`` is clean, and
fails, naming the file and the stale text, when a recipe or a results file changes."""
from __future__ import annotations

import functools
import json
import re
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


def _prose_of(notebook: str) -> str:
    """The Markdown of a lesson as a reader sees it: markers and their rendered text removed."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.sub(r"<!-- number:[^>]*-->.*?<!-- /number -->", "#", text, flags=re.S)


@pytest.mark.parametrize("notebook, typed, keys", [
    ("08_resnet", ["6 hours", "10 on a Zen 4", "sixty times", "60 times", "1,024", "5,400",
                   "45,000", "batches of 32", "batches of 128"],
     ["lesson:08_resnet *setting:08_resnet.EPOCHS.paper", "setting:08_resnet.N_TRAIN",
      "setting:08_resnet.N_TRAIN.fast ,", "setting:08_resnet.BATCH_SIZE.paper"]),
    ("11_cifar10_cnn", ["2.5 hours", "ten times", "1,068,298", "83%", "77.83%", "59.4%", "18 points",
                        "+4.7", "65.1%", "60.4%", "99.5%", "0.7-3.2", "200 s"],
     ["lesson:11_cifar10_cnn *recipe:cifar10_cnn.epochs /setting:11_cifar10_cnn.EPOCHS",
      "model:cifar10_cnn.params.local3 /model:cifar10_cnn.params",
      "result:cifar10_augmentation_ablation.json#runs.n10000_e16.settings.all.test_acc"]),
    ("14_transfer_learning", ["875 s", "39.1%", "67.5%", "71.4%", "four times the work"],
     ["result:transfer_learning.json#runs.p3_t15_n500.methods.from_scratch.test_accuracy",
      "setting:14_transfer_learning.TRANSFER_EPOCHS.paper"]),
    ("16_learned_strides", ["33 times", "7 hours", "602 s", "141 s", "four times"],
     ["lesson:16_learned_strides *recipe:cifar_strided.epochs"]),
])
def test_estimates_and_measurements_of_the_lessons_are_rendered(notebook, typed, keys):
    """Issue 34's second round: lessons 08, 11, 14 and 16 quote no measurement or paper-scale
    estimate typed by hand (the paper's own numbers, cited as such, are text)."""
    text = (ROOT / "notebooks" / f"{notebook}.ipynb").read_text()
    for key in keys:
        assert f"number:{key}" in text, key
    reader = _prose_of(notebook)
    for number in typed:
        assert number not in reader, number


def test_lesson_14_quotes_the_benchmark_of_its_own_full_mode():
    """The accuracies lesson 14 quotes were measured with the setting its full mode runs."""
    run = json.loads((ROOT / "benchmarks/results/transfer_learning.json").read_text())[
        "runs"]["p3_t15_n500"]
    settings = prose.lesson_settings(ROOT, "14_transfer_learning")
    assert (settings["PRETRAIN_EPOCHS"]["full"], settings["TRANSFER_EPOCHS"]["full"],
            settings["N_LABELLED"]["full"]) == (run["pretrain_epochs"], run["transfer_epochs"],
                                           run["labelled"])
    assert "--pretrain-epochs 3 --transfer-epochs 15 --labelled 500" in run["command"]


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


SETTINGS_CELL = """import course
# Full mode fits a laptop.
PAPER_SCALE = False
EPOCHS = 30 if PAPER_SCALE else course.config.pick(full=4, fast=1)
N_TRAIN = None if PAPER_SCALE else course.config.pick(full=6_000, fast=1_024)  # None: all
WIDTHS = config.pick(full=(32, 64), fast=(8, 16))
RATE = 0.1 if PAPER_SCALE else 0.05
LATER = len([1, 2]) if PAPER_SCALE else 3
SPLIT = 0.1
lower = 7
"""


@pytest.fixture
def lesson_tree(tree):
    """The small repository with a lesson that has settings and a full-mode time."""
    cells = [{"cell_type": "code", "source": SETTINGS_CELL.splitlines(keepends=True),
              "metadata": {}, "id": "s", "outputs": [], "execution_count": None},
             {"cell_type": "code", "source": ["%matplotlib inline\n", "EPOCHS = 99"],
              "metadata": {}, "id": "m", "outputs": [], "execution_count": None}]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tree / "notebooks/08_x.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
    rows = {f"08_x@full@{cpu}": {"notebook": "08_x", "mode": "full", "status": "pass",
                                 "date": date, "wall_s": wall, "cpu": cpu}
            for cpu, date, wall in (("AMD EPYC (family 25, model 17)", "2026-12-04", 600.0),
                                    ("AMD EPYC (family 26, model 2)", "2026-12-02", 360.0))}
    (tree / "benchmarks/results/lessons.json").write_text(json.dumps({"rows": rows}))
    ablation = {"runs": {"a": {"epochs": 8, "settings": {
        "none": {"train": 0.78, "test": 0.60, "tta": 0.6146},
        "crop": {"train": 0.6492, "test": 0.5943, "tta": 0.6060}}},
        "b": {"epochs": 16, "settings": {"none": {"train": 0.99, "test": 0.6044, "tta": 0.6362}}}}}
    (tree / "benchmarks/results/ablation.json").write_text(json.dumps(ablation))
    return tree


def test_settings_come_from_the_lessons_own_code(lesson_tree):
    settings = prose.lesson_settings(lesson_tree, "08_x")
    assert settings == {  # %magic skipped; lower: not a constant
        "PAPER_SCALE": {"full": False, "paper": False, "fast": False},
        "LATER": {"full": 3, "fast": 3},  # computed at paper scale: that scale is left out
        "EPOCHS": {"full": 4, "paper": 30, "fast": 1},
        "N_TRAIN": {"full": 6000, "paper": None, "fast": 1024},
        "WIDTHS": {"full": (32, 64), "paper": (32, 64), "fast": (8, 16)},
        "RATE": {"full": 0.05, "paper": 0.1, "fast": 0.05},
        "SPLIT": {"full": 0.1, "paper": 0.1, "fast": 0.1}}
    value = functools.partial(prose.value, root=lesson_tree)
    assert (value("setting:08_x.EPOCHS"), value("setting:08_x.EPOCHS.paper"),
            value("setting:08_x.EPOCHS.fast")) == ("4", "30", "1")
    assert value("setting:08_x.N_TRAIN", ",") == "6,000"
    assert value("setting:08_x.N_TRAIN.fast", "*setting:08_x.SPLIT ,.0f") == "102"
    assert value("setting:08_x.EPOCHS.paper", "/setting:08_x.EPOCHS .1f") == "7.5"
    with pytest.raises(prose.ProseError, match="is None in the lesson's code"):
        value("setting:08_x.N_TRAIN.paper")
    with pytest.raises(prose.ProseError, match="assigns no BATCH = "):
        value("setting:08_x.BATCH")
    with pytest.raises(prose.ProseError, match="computes LATER at that scale"):
        value("setting:08_x.LATER.paper")
    with pytest.raises(prose.ProseError, match="assigns no lower = "):
        value("setting:08_x.lower")
    with pytest.raises(prose.ProseError, match="no lesson or solution"):
        value("setting:09_none.EPOCHS")
    with pytest.raises(prose.ProseError, match="write setting:NOTEBOOK.NAME"):
        value("setting:08_x.EPOCHS.slow")


def test_arithmetic_between_sources(lesson_tree):
    value = functools.partial(prose.value, root=lesson_tree)
    run = "result:ablation.json#runs.a.settings"
    # a difference of two values, in points
    assert value(f"{run}.crop.train", f"-{run}.crop.test *100 .1f") == "5.5"
    assert value(f"{run}.crop.tta", f"-{run}.crop.test *100 +.1f") == "+1.2"
    # every item: a list; item by item, then reduced
    assert value(f"{run}.*.test", "range .1%") == "59.4%-60.0%"
    assert value(f"{run}.*.test", "spread *100 .2f") == "0.57"
    assert value(f"{run}.*.tta", f"-{run}.*.test min *100 .1f") == "1.2"
    assert value("result:ablation.json#runs.*.settings.*.tta",
                 "-result:ablation.json#runs.*.settings.*.test max *100 .1f") == "3.2"
    assert value("result:ablation.json#runs.b.epochs", "/result:ablation.json#runs.a.epochs") \
        == "2"
    # a recipe's field as a number, a model's parameters
    assert value("recipe:lenet5.epochs", "*2 .0f") == "20"
    params = value("model:lenet5.params", ",")
    assert params == f"{prose._built('lenet5').count_params():,}"
    assert value("model:lenet5.params.logits", "/model:lenet5.params .3f") == format(
        prose._built("lenet5").get_layer("logits").count_params()
        / prose._built("lenet5").count_params(), ".3f")
    # an estimate: the lesson's full-mode times, scaled
    assert value("lesson:08_x", "*setting:08_x.EPOCHS.paper /setting:08_x.EPOCHS") == (
        "75 minutes on a 2-core AMD EPYC Zen 4, 45 minutes on an AMD EPYC Zen 5")
    assert value("lesson:08_x", "*setting:08_x.N_TRAIN /40") == (
        "25 hours on a 2-core AMD EPYC Zen 4, 15 hours on an AMD EPYC Zen 5")
    assert value("lesson:08_x", "*30") == (
        "5.0 hours on a 2-core AMD EPYC Zen 4, 3.0 hours on an AMD EPYC Zen 5")
    assert value("lesson:08_x", "*2") == (
        "20 minutes on a 2-core AMD EPYC Zen 4, 12 minutes on an AMD EPYC Zen 5")
    for bad, message in [
            (("lesson:08_x", "*2 .1f"), "takes a scale"),
            (("recipe:lenet5.epochs", "*recipe:lenet5.optimizer"), "is not a number"),
            (("recipe:lenet5", "*2"), "name a field of a Recipe"),
            ((f"{run}.*.test", "-result:ablation.json#runs.b.settings.*.test"),
             "lists of 2 and 1 items"),
            (("result:ablation.json#runs.a.epochs", "min"), "min needs a list"),
            (("result:ablation.json#runs.a.epochs", "/0"), "/ 0"),
            (("result:ablation.json#runs.a.epochs.*", None), "nothing to take every item"),
            (("model:lenet5.flops", None), "write model:NAME.params"),
            (("model:lenet5.params.nothing", None), "has no layer 'nothing'"),
            (("model:no_such_model.params", None), "Unknown model")]:
        with pytest.raises(prose.ProseError, match=re.escape(message)):
            value(*bad)


def test_durations_and_steps():
    assert [prose.duration(s) for s in (3330, 5300, 8000, 38700)] == [
        "56 minutes", "88 minutes", "2.2 hours", "11 hours"]
    assert prose.steps("/60 .1f") == ([("/", "60")], ".1f")
    assert prose.steps("+.1f") == ([], "+.1f")
    assert prose.steps("-result:a.json#b range *100 .0f") == (
        [("-", "result:a.json#b"), ("range", None), ("*", "100")], ".0f")
    assert prose.steps(None) == ([], None)


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


def test_an_exercise_quotes_its_solutions_settings_and_the_bars_benchmark():
    """Exercises 04 and 08 quote the settings of their solutions' own code (``setting:`` reads
    ``solutions/`` for an exercise) and the runs of benchmarks/exercise_bars.py, no measurement
    typed by hand."""
    value = functools.partial(prose.value, root=ROOT)
    assert (value("setting:04_build_the_classics.EPOCHS.fast"),
            value("setting:04_build_the_classics.EPOCHS")) == ("3", "8")
    assert value("setting:08_transfer_learning.MARGIN", "*100 .0f") == "3"
    with pytest.raises(prose.ProseError, match="computes N_TRAIN at that scale"):
        value("setting:04_build_the_classics.N_TRAIN.fast")  # fast=len(x_train)
    for notebook, typed in (("04_build_the_classics", ["40.2", "68.9%", "71.7%", "2,048 images"]),
                            ("08_transfer_learning", ["75.3%", "65.3%", "+9.9", "50-56%"])):
        text = (ROOT / "solutions" / f"{notebook}.ipynb").read_text()
        assert f"number:result:exercise_bars.json#exercises.{notebook}." in text
        cells = json.loads(text)["cells"]
        reader = re.sub(r"<!-- number:[^>]*-->.*?<!-- /number -->", "#", "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"), flags=re.S)
        for number in typed:
            assert number not in reader, (notebook, number)
