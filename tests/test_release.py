"""``python -m course release``: the student bundle holds nothing of the answer key."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import release

ROOT = Path(__file__).resolve().parents[1]
#: Files of the package that *describe* the marker convention (the generator, the release scan,
#: the autograder) and the README that documents it; no notebook may hold a marker.
DESCRIBE_MARKERS = {"README.md", "course/exercises.py", "course/release.py"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student"
    files, notices = release.build_student_bundle(ROOT, out)
    assert all(line.startswith("course/") for line in notices), notices
    return out


def files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def test_bundle_has_the_student_side(bundle):
    names = files(bundle)
    for wanted in ("README.md", "pyproject.toml", "course/__init__.py", "course/__main__.py",
                   "exercises/01_mnist_term_project.ipynb", "exercises/02_cifar100.ipynb",
                   "notebooks/01_convolution_basics.ipynb"):
        assert wanted in names
    tops = {name.split("/")[0] for name in names}
    assert tops <= {"README.md", "pyproject.toml", "environment.yml", "LICENSE", "course",
                    "notebooks", "exercises", "benchmarks"}, tops
    assert sorted(n for n in names if n.startswith("benchmarks/")) == sorted(
        release.STUDENT_RESULTS)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_bundle_holds_nothing_of_the_answer_key(bundle):
    assert release.leaks(bundle, ROOT) == []
    names = files(bundle)
    assert not [n for n in names if n.split("/")[0] in ("solutions", "instructor", "tests",
                                                        "nbgrader_config.py", "student")]
    assert not [n for n in names if n.startswith("benchmarks/") and n.endswith(".py")]
    for name, path in names.items():
        text = path.read_text(errors="replace")
        if name.endswith(".ipynb"):
            sources = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
            assert "BEGIN SOLUTION" not in sources and "HIDDEN TESTS" not in sources, name
        elif name not in DESCRIBE_MARKERS:
            assert "### BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, name
        # the answer keys' code: the reference network, its recipe, the term-project network
        for needle in ("def cifar100_reference", "def mnist_deep_cnn", "CIFAR100_REFERENCE =",
                       "def identity_init", 'name="term_project_cnn"',
                       'recipes.get("cifar100_reference")'):
            assert needle not in text, (name, needle)


def test_bundle_package_registers_no_answer_key(bundle):
    code = ("import course, json; from course import models, recipes; "
            "print(json.dumps([course.__file__, models.names(), recipes.names()]))")
    env = dict(os.environ, PYTHONPATH=str(bundle))
    run = subprocess.run([sys.executable, "-c", code], cwd=bundle, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    where, model_names, recipe_names = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(where).resolve().is_relative_to(bundle.resolve())
    for key in ("cifar100_reference", "mnist_deep_cnn"):
        assert key not in model_names and key not in recipe_names
    assert "mnist_two_layer_cnn" in model_names  # the lessons' own models are there


def copy_root(tmp_path) -> Path:
    root = tmp_path / "repo"
    for name in ("course", "solutions", "exercises", "instructor", "notebooks"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns(
            "__pycache__", "runs", "submission", ".ipynb_checkpoints"))
    for name in ("README.md", "pyproject.toml", "nbgrader_config.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "student", root / "student")
    return root


def test_a_leaking_release_is_refused_and_removed(tmp_path):
    import nbformat

    root = copy_root(tmp_path)
    # a lesson that quotes the CIFAR-100 answer (a solution block, re-indented)
    solution = nbformat.read(root / "solutions" / "02_cifar100.ipynb", as_version=4)
    answer = next(c.source for c in solution.cells if "BEGIN SOLUTION" in c.source
                  and "cifar100_reference" in c.source)
    body = answer.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    lesson = nbformat.read(root / "notebooks" / "05_vgg.ipynb", as_version=4)
    lesson.cells.append(nbformat.v4.new_code_cell(body.strip()))
    nbformat.write(lesson, root / "notebooks" / "05_vgg.ipynb")
    out = tmp_path / "student"
    with pytest.raises(release.ReleaseError, match="notebooks/05_vgg.ipynb: contains the answer "
                                                   "key of solutions/02_cifar100.ipynb"):
        release.build_student_bundle(root, out)
    assert not out.exists()


def test_a_stale_exercise_is_refused(tmp_path):
    root = copy_root(tmp_path)
    stale = root / "exercises" / "01_mnist_term_project.ipynb"
    stale.write_text(stale.read_text().replace("Your code here", "Your code here!"))
    with pytest.raises(release.ReleaseError, match="exercises or set-up cells are stale"):
        release.build_student_bundle(root, tmp_path / "student")


def test_cli_release_and_course_dir(tmp_path, capsys):
    from course.__main__ import main

    root = copy_root(tmp_path)
    out, course_dir = tmp_path / "student", tmp_path / "grading"
    assert main(["release", str(out), "--course-dir", str(course_dir), "--root", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "nothing found" in printed and "nbgrader course directory" in printed
    assert (course_dir / "nbgrader_config.py").exists()
    assert (course_dir / "instructor" / "reference.py").exists()
    source = course_dir / "source" / "01_mnist_term_project" / "01_mnist_term_project.ipynb"
    assert "BEGIN SOLUTION" in source.read_text()
    assert main(["release", str(out), "--root", str(root)]) == 2  # not an empty folder
    assert "not empty" in capsys.readouterr().err


def test_a_solution_the_package_teaches_is_a_notice_not_a_leak(tmp_path):
    root = copy_root(tmp_path)
    bundle = tmp_path / "bundle"
    (bundle / "course").mkdir(parents=True)
    (bundle / "notebooks").mkdir()
    key = [text for where, text in release.answer_key(root) if where.endswith("(solution)")]
    (bundle / "course" / "taught.py").write_text("def f():\n" + "\n".join(
        "    " + line for line in key[0].splitlines()))
    found, notices = release.scan(bundle, root)
    assert found == [] and notices and notices[0].startswith("course/taught.py")
    (bundle / "notebooks" / "copied.py").write_text(key[0])
    found, _ = release.scan(bundle, root)
    assert found and found[0].startswith("notebooks/copied.py")


# ---------------------------------------------------------------------------------------------
# The student edition stands alone


def test_bundle_readme_is_the_student_readme(bundle):
    readme = (bundle / "README.md").read_text()
    assert readme == (ROOT / "student" / "README.md").read_text()
    for needed in ('pip install ".[student]"', "nbgrader validate", "COURSE_FAST=1",
                   "python -m course doctor", "Keep its name", "Outputs or not",
                   "COURSE_INSTALL_SOURCE"):
        assert needed in readme, needed
    for developer_only in ("make ", "solutions/", "instructor/", "autograde", "pytest",
                           "shared/datasets", ".[dev]"):
        assert developer_only not in readme, developer_only
    assert '".[student]"' in (bundle / "environment.yml").read_text()


#: ``[text](target)`` in Markdown and ``href="..."`` / ``src="..."`` in HTML.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:href|src)=[\"']([^\"']+)[\"']")


def relative_links(folder: Path):
    """``(file, target)`` for every relative link of the Markdown files and notebooks' Markdown
    cells under ``folder``."""
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".md":
            texts = [path.read_text()]
        elif path.suffix == ".ipynb":
            texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "markdown"]
        else:
            continue
        for text in texts:
            for match in LINK.finditer(text):
                target = match.group(1) or match.group(2)
                if not re.match(r"^([a-z][a-z0-9+.-]*:|#|//)", target, re.IGNORECASE):
                    yield path, target


def test_every_relative_link_of_the_bundle_resolves_inside_it(bundle):
    links = list(relative_links(bundle))
    assert len(links) >= 10  # the README links the lessons and exercises
    root = bundle.resolve()
    dead = [f"{path.relative_to(bundle)} -> {target}" for path, target in links
            if not (path.parent / target.split("#")[0]).resolve().is_relative_to(root)
            or not (path.parent / target.split("#")[0]).exists()]
    assert dead == []
    # and a dead link is seen: the developers' README has some in a bundle
    readme = bundle / "README.md"
    original = readme.read_text()
    try:
        readme.write_text((ROOT / "README.md").read_text())
        assert any(t.startswith("docs/") for p, t in relative_links(bundle) if p == readme)
    finally:
        readme.write_text(original)


def test_no_exercise_in_the_bundle_names_a_file_it_lacks(bundle):
    for path in sorted((bundle / "exercises").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for named in re.findall(r"\b(?:benchmarks|docs|instructor|solutions)/[\w./-]+",
                                    "".join(cell["source"])):
                assert (bundle / named).exists(), (path.name, named)


def test_instructor_commands_say_so_in_a_bundle(bundle):
    env = dict(os.environ, PYTHONPATH=str(bundle))
    run = subprocess.run([sys.executable, "-m", "course", "exercises", "--check"], cwd=bundle,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "instructor command" in run.stderr and "nbgrader validate" in run.stderr
    assert "up to date" not in run.stdout
    run = subprocess.run([sys.executable, "-m", "course", "--help"], cwd=bundle, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "python -m course doctor" in run.stdout
    for command in ("exercises", "notebooks", "release", "autograde"):
        assert re.search(rf"^    {command}\s+instructors:", run.stdout, re.M), command
    for command in ("models", "train", "data", "grade"):
        assert re.search(rf"^    {command}\s+(?!instructors)\w", run.stdout, re.M), command
