"""The set-up cell of every lesson and exercise is the generated one, keeps the exercises' grade
ids, and does nothing where the course is installed (course/notebook_setup.py, course/hosted.py).
Installing from a wheel on a kernel without the course: tests/test_student_edition.py."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course import exercises, hosted, notebook_setup

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [p for folder in ("notebooks", "solutions", "exercises")
             for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]


def setup_cells(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if notebook_setup.is_setup_cell(c)]


def test_every_notebook_starts_with_the_generated_setup_cell():
    assert len(NOTEBOOKS) == 17 + 8 + 8
    version = notebook_setup.release_version(ROOT)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        expected = notebook_setup.cell_source(version, notebook_setup.data_of(path.stem),
                                              notebook_setup.default_source(ROOT))
        assert setup_cells(path) == [(first_code, expected)], path.relative_to(ROOT)
    assert notebook_setup.stale(ROOT) == [] and exercises.stale(ROOT) == []


def test_a_changed_setup_cell_is_stale_and_write_restores_it(tmp_path):
    for name in ("notebooks", "solutions", "exercises"):
        (tmp_path / name).mkdir()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    lesson = tmp_path / "notebooks" / "05_vgg.ipynb"
    nb = nbformat.read(ROOT / "notebooks" / "05_vgg.ipynb", as_version=4)
    index = setup_cells(ROOT / "notebooks" / "05_vgg.ipynb")[0][0]
    nb.cells[index].source = nb.cells[index].source.replace("0.2.0", "0.1.0")
    nbformat.write(nb, lesson)
    assert notebook_setup.stale(tmp_path) == [lesson]
    del nb.cells[index]  # a lesson without one gets it before its first code cell
    nbformat.write(nb, lesson)
    assert notebook_setup.stale(tmp_path) == [lesson]
    assert notebook_setup.write_all(tmp_path) == [lesson]
    assert notebook_setup.stale(tmp_path) == []
    assert nbformat.read(lesson, as_version=4) == nbformat.read(ROOT / "notebooks" / lesson.name,
                                                                as_version=4)
    solution = tmp_path / "solutions" / "03_convolution_arithmetic.ipynb"
    nb = nbformat.read(ROOT / "solutions" / solution.name, as_version=4)
    nb.cells = [c for c in nb.cells if not notebook_setup.is_setup_cell(c)]
    nbformat.write(nb, solution)
    assert solution in exercises.stale(tmp_path)
    exercises.write_all(tmp_path)
    for folder in ("solutions", "exercises"):
        assert (nbformat.read(tmp_path / folder / solution.name, as_version=4)
                == nbformat.read(ROOT / folder / solution.name, as_version=4))


def test_a_notebook_without_a_data_row_is_an_error_naming_the_fix(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
                   tmp_path / "notebooks" / "18_new.ipynb")
    with pytest.raises(notebook_setup.SetupCellError, match="NOTEBOOK_DATA"):
        notebook_setup.stale(tmp_path)


def test_the_setup_cell_keeps_every_other_cells_grade_id():
    """Released notebooks and gradebooks name cells by id (``03_cell04``): the set-up cell
    inserted before them must not renumber them."""
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        without = dict(nb, cells=[c for c in nb.cells if not notebook_setup.is_setup_cell(c)])
        with_ids = [r.grade_id for r in exercises.roles(nb, path.name)]
        assert with_ids.count(notebook_setup.SETUP_ID) == 1
        with_ids.remove(notebook_setup.SETUP_ID)
        assert with_ids == [r.grade_id for r in exercises.roles(without, path.name)], path.name
    exercise = nbformat.read(ROOT / "exercises" / "03_convolution_arithmetic.ipynb", as_version=4)
    cell = next(c for c in exercise.cells if notebook_setup.is_setup_cell(c))
    assert cell.metadata["nbgrader"]["locked"] and not cell.metadata["editable"]


def test_every_data_set_a_notebook_names_is_fetched_by_its_setup_cell():
    names = ("mnist", "cifar10", "cifar100", "tf_flowers")
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells
                         if c.cell_type == "code" and not notebook_setup.is_setup_cell(c))
        named = {n for n in names if re.search(rf"""["']{n}["']""", code)}
        assert named <= set(notebook_setup.data_of(path.stem)), path.relative_to(ROOT)


def test_where_the_course_is_installed_the_cell_does_nothing_and_prints_nothing():
    source = setup_cells(ROOT / "notebooks" / "14_transfer_learning.ipynb")[0][1]
    code = source + "\nimport sys; print(sorted(m for m in ('course', 'numpy', 'tensorflow') " \
                    "if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT / "notebooks")
    assert run.returncode == 0, run.stderr
    assert (run.stdout, run.stderr) == ("[]\n", "")  # silent, and nothing heavy imported


def test_default_source_is_the_repository_at_the_release_tag_where_one_is_configured(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "course"\nversion = "1.2.3"\n'
        '[project.urls]\nRepository = "https://example.org/team/course"\n')
    assert (notebook_setup.default_source(tmp_path)
            == "course @ git+https://example.org/team/course@v1.2.3")
    assert '"course @ git+https://example.org/team/course@v1.2.3"' in notebook_setup.cell_source(
        "1.2.3", (), notebook_setup.default_source(tmp_path))


def _project_with(tmp_path, repository: str | None):
    urls = f'[project.urls]\nRepository = "{repository}"\n' if repository else ""
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "course"\nversion = "1.2.3"\n{urls}')
    return tmp_path


LESSON = "notebooks/02_mnist_two_layer_cnn.ipynb"


def test_launch_links_open_the_release_of_a_github_repository(tmp_path):
    """The addresses each service documents for a notebook on GitHub (Colab's /github/ path,
    Kaggle's kernels/welcome?src=, Binder's /v2/gh/ with urlpath), at the release's tag."""
    root = _project_with(tmp_path, "https://github.com/team/course.git")
    assert notebook_setup.github_release(root) == ("team/course", "v1.2.3")
    assert notebook_setup.launch_links(root, LESSON) == {
        "Colab": "https://colab.research.google.com/github/team/course/blob/v1.2.3/" + LESSON,
        "Kaggle": ("https://kaggle.com/kernels/welcome?src=https://github.com/team/course/blob/"
                   "v1.2.3/" + LESSON),
        "Binder": "https://mybinder.org/v2/gh/team/course/v1.2.3?urlpath=lab/tree/" + LESSON}
    options = notebook_setup.site_launch_options(root)
    # sphinx-book-theme builds its Colab button as {colab_url}/github/{org}/{repo}/blob/{branch}/
    # {path_to_docs}{page}: the same address as the README's link
    theme_colab = (f"{options['launch_buttons']['colab_url']}/github/"
                   f"{options['repository_url'].split('github.com/')[1]}/blob/"
                   f"{options['repository_branch']}/{options['path_to_docs']}{LESSON}")
    assert theme_colab == notebook_setup.launch_links(root, LESSON)["Colab"]


@pytest.mark.parametrize("repository", [None, "https://example.org/team/course",
                                        "https://github.com/team"])
def test_no_launch_links_without_a_github_repository(tmp_path, repository):
    root = _project_with(tmp_path, repository)
    assert notebook_setup.github_release(root) is None
    assert notebook_setup.launch_links(root, LESSON) == {}
    assert notebook_setup.site_launch_options(root) == {}


def test_the_readme_renders_the_launch_links_from_pyproject(tmp_path):
    from course import prose

    root = _project_with(tmp_path, "https://github.com/team/course")
    (root / "notebooks").mkdir()
    (root / LESSON).write_text("{}")
    assert prose.value(f"launch:{LESSON}", root=root) == " · ".join(
        f"[{name}]({url})" for name, url in notebook_setup.launch_links(root, LESSON).items())
    assert "names no GitHub repository" in prose.value(f"launch:{LESSON}",
                                                       root=_project_with(root, None))
    with pytest.raises(prose.ProseError, match="no notebook there"):
        prose.value("launch:notebooks/99_none.ipynb", root=root)


def test_a_replaced_module_the_kernel_had_loaded_asks_for_a_restart(capsys):
    import numpy

    current = {"numpy": numpy, "json": json}
    assert hosted.stale_modules(current) == []
    old = types.ModuleType("numpy")
    old.__version__ = "1.26.4"  # as if pip had upgraded numpy after the kernel imported it
    assert hosted.stale_modules({"numpy": old}) == [("numpy", "1.26.4", numpy.__version__)]
    with pytest.raises(hosted.RestartRequired, match=r"Restart the kernel.*numpy 1\.26\.4 ->"):
        hosted.installed("0.2.0", data=["no such data set"], modules={"numpy": old})
    capsys.readouterr()
    hosted.installed("0.2.0", data=[], modules=current)
    assert capsys.readouterr().out == "course 0.2.0 installed\n"
