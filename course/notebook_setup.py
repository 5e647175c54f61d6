"""The set-up cell: the first code cell of every lesson and exercise, generated.

On a hosted kernel without the course (Colab, Kaggle, a JupyterHub) the cell installs the course
at the release's own version with pip, into the kernel's own interpreter, then calls
``course.hosted.installed``, which checks the version, says whether the kernel must be restarted
(only when pip replaced a module the kernel had already loaded, such as NumPy) and fetches the
data sets the notebook uses (``NOTEBOOK_DATA``). Where the course is installed (a laptop with
``pip install ".[student]"``, the autograder's sandbox, ``make test``) the cell does nothing and
prints nothing.

The first part is plain Python (the package is not there yet): no IPython magic, so the
autograder's judge, which runs the locked cells of an exercise with ``exec``, runs it too. Where
it installs from: ``$COURSE_INSTALL_SOURCE`` if set (a folder, a wheel, a requirement such as
``course @ git+https://...``; the tests point it at a local wheel), else the project's
repository at the release's tag where ``pyproject.toml`` names one (``[project.urls]``
``Repository``), else ``..``: the course folder a notebook of ``notebooks/`` or ``exercises/``
sits in.

``python -m course notebooks --write`` puts the cell into every lesson of ``notebooks/`` (first
code cell; replaced if there, inserted before the first code cell if not), ``--check`` exits 1
where one differs. ``python -m course exercises --write`` does the same for ``solutions/`` and
so for ``exercises/`` (``course.exercises.generate``). A tree without ``pyproject.toml`` (no
release version to install) gets no set-up cell.
"""
from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

#: The cell's first line, by which it is recognised (and replaced) in a notebook.
HEADER = "# Set-up for hosted kernels"
SOURCE_ENV = "COURSE_INSTALL_SOURCE"
CELL_ID = "course-setup"
#: The grade_id of the set-up cell of an exercise (a locked cell; the other cells keep the ids
#: they had before the set-up cell existed, see ``course.exercises.roles``).
SETUP_ID = "course_setup"
#: The data sets each notebook loads (``course.data.load`` / ``load_tfds`` names), fetched by
#: the set-up cell after installing. A new notebook needs a row (``--write`` says so);
#: tests/test_notebook_setup.py checks that every data set a notebook names is listed.
NOTEBOOK_DATA = {
    "01_convolution_basics": ("mnist",),
    "02_mnist_two_layer_cnn": ("mnist",),
    "03_lenet_alexnet": ("mnist",),
    "04_zfnet_what_layers_see": ("mnist",),
    "05_vgg": (),
    "06_nin_googlenet": (),
    "07_inception_v3_v4": ("mnist",),
    "08_resnet": ("cifar10",),
    "09_preact_inception_resnet": ("cifar10",),
    "10_preprocessing_augmentation": ("mnist", "cifar10"),
    "11_cifar10_cnn": ("cifar10",),
    "12_regularization": ("mnist",),
    "13_batch_norm": ("cifar10",),
    "14_transfer_learning": ("cifar10", "tf_flowers"),
    "15_computing_convolutions": (),
    "16_learned_strides": ("cifar10",),
    "17_many_devices": ("mnist", "cifar10"),
    # exercises (solutions/ and exercises/)
    "01_mnist_term_project": ("mnist",),
    "02_cifar100": ("cifar100",),
    "03_convolution_arithmetic": (),
    "04_build_the_classics": ("cifar10",),
    "05_batch_norm_backward": (),
    "06_computing_convolutions": (),
    "07_augmentation": ("cifar10",),
    "08_transfer_learning": ("cifar10",),
}


class SetupCellError(ValueError):
    """A notebook the generator cannot give a set-up cell (no ``NOTEBOOK_DATA`` row)."""


def _project(root: Path) -> dict | None:
    """``[project]`` of ``root/pyproject.toml``, or None where there is none."""
    import tomllib

    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        return None
    return tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})


def release_version(root) -> str | None:
    """The version ``root``'s ``pyproject.toml`` declares (None: no set-up cells there)."""
    project = _project(Path(root))
    return project.get("version") if project else None


def default_source(root) -> str:
    """Where the cell installs from when ``COURSE_INSTALL_SOURCE`` is unset: the project's
    repository at the release's tag (``[project.urls]`` ``Repository``, a git host), else ``..``
    (the course folder around ``notebooks/`` and ``exercises/``)."""
    project = _project(Path(root)) or {}
    urls = {key.lower(): value for key, value in project.get("urls", {}).items()}
    url = urls.get("repository") or urls.get("source")
    if url and re.match(r"^https://[\w.-]+/[\w.-]+/[\w.-]+/?$", url):
        return f"{project['name']} @ git+{url.rstrip('/')}@v{project['version']}"
    return ".."


#: Where a notebook of the release opens on a hosted kernel, by service: each takes the GitHub
#: ``OWNER/REPO``, the release's tag and the notebook's path in the repository.
LAUNCH = {
    "Colab": "https://colab.research.google.com/github/{repo}/blob/{tag}/{path}",
    "Kaggle": "https://kaggle.com/kernels/welcome?src=https://github.com/{repo}/blob/{tag}/{path}",
    "Binder": "https://mybinder.org/v2/gh/{repo}/{tag}?urlpath=lab/tree/{path}",
}


def github_release(root) -> tuple[str, str] | None:
    """``("OWNER/REPO", "vVERSION")``: the GitHub repository ``pyproject.toml`` names
    (``[project.urls]`` ``Repository``) and the release's tag, or None where it names none (the
    hosted services open notebooks from GitHub only)."""
    project = _project(Path(root)) or {}
    urls = {key.lower(): value for key, value in project.get("urls", {}).items()}
    url = urls.get("repository") or urls.get("source") or ""
    found = re.match(r"^https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    if not found or not project.get("version"):
        return None
    return found[1], f"v{project['version']}"


def launch_links(root, path: str) -> dict[str, str]:
    """``{service: URL}`` that opens the notebook ``path`` (relative to the repository's root)
    of the release on Colab, Kaggle and Binder; ``{}`` where ``github_release`` is None."""
    release = github_release(root)
    if release is None:
        return {}
    repo, tag = release
    return {name: url.format(repo=repo, tag=tag, path=path) for name, url in LAUNCH.items()}


def site_launch_options(root) -> dict:
    """sphinx-book-theme's ``html_theme_options`` for the site's launch buttons (Colab and
    Binder on every executed notebook, at the release's tag) and repository button; ``{}``
    where ``github_release`` is None."""
    release = github_release(root)
    if release is None:
        return {}
    repo, tag = release
    return {"repository_url": f"https://github.com/{repo}", "repository_branch": tag,
            "path_to_docs": "", "use_repository_button": True,
            "launch_buttons": {"colab_url": "https://colab.research.google.com",
                               "binderhub_url": "https://mybinder.org",
                               "notebook_interface": "jupyterlab"}}


def cell_source(version: str, data, source: str) -> str:
    """The set-up cell's text for a release ``version``, the notebook's ``data`` sets and the
    default install ``source``."""
    import json

    return "\n".join([
        f"{HEADER} (Colab, Kaggle, a JupyterHub), generated: do not edit. Where the",
        f"# course is missing it installs course {version} (from ${SOURCE_ENV} if set) and",
        "# this notebook's data; where the course is installed it does nothing.",
        "import importlib.util, os, site, subprocess, sys",
        'if importlib.util.find_spec("course") is None:',
        f'    source = os.environ.get("{SOURCE_ENV}", {json.dumps(source)})',
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", source],',
        "                         capture_output=True, text=True)",
        "    if pip.returncode:  # say why, and what to do",
        '        raise RuntimeError(f"{pip.stdout}{pip.stderr}\\nCould not install the course from "',
        f'                           f"{{source!r}}: set {SOURCE_ENV} (README.md)")',
        "    sys.path.append(site.getusersitepackages())  # where pip --user puts it",
        "    importlib.invalidate_caches()",
        "    from course import hosted",
        f"    hosted.installed({json.dumps(version)}, data={json.dumps(list(data))})",
    ])


def is_setup_cell(cell) -> bool:
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return cell["cell_type"] == "code" and source.startswith(HEADER)


def data_of(stem: str, where: str = "") -> tuple:
    """The data sets of notebook ``stem`` (``NOTEBOOK_DATA``)."""
    try:
        return tuple(NOTEBOOK_DATA[stem])
    except KeyError:
        raise SetupCellError(
            f"{where or stem}: no row for {stem!r} in course.notebook_setup.NOTEBOOK_DATA; add "
            "one naming the data sets it loads (() for none), then run `python -m course "
            "notebooks --write`.") from None


def with_setup_cell(notebook: dict, root, stem: str, where: str = "") -> dict:
    """A copy of ``notebook`` whose first code cell is the set-up cell for ``root``'s release
    (the notebook unchanged where ``root`` has no ``pyproject.toml``)."""
    version = release_version(root)
    if version is None:
        return notebook
    source = cell_source(version, data_of(stem, where), default_source(root))
    out = copy.deepcopy(notebook)
    cells = out["cells"]
    existing = [i for i, cell in enumerate(cells) if is_setup_cell(cell)]
    for index in reversed(existing[1:]):
        del cells[index]
    if existing:
        cells[existing[0]]["source"] = source
        cells[existing[0]]["id"] = CELL_ID
        return out
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = CELL_ID  # not nbformat's random one: the file stays the same on every --write
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cells.insert(first_code, cell)
    return out


def lessons(root=".") -> list[Path]:
    return sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def generate(root=".") -> list[tuple[Path, dict]]:
    """``(path, notebook)`` for every lesson ``--write`` would write."""
    import nbformat

    out = []
    for path in lessons(root):
        notebook = nbformat.read(path, as_version=4)
        out.append((path, with_setup_cell(notebook, root, path.stem, str(path))))
    return out


def stale(root=".") -> list[Path]:
    """Lessons whose set-up cell differs from the generated one (or is missing)."""
    import nbformat

    return [path for path, expected in generate(root)
            if nbformat.read(path, as_version=4) != expected]


def write_all(root=".") -> list[Path]:
    import nbformat

    written = []
    for path, notebook in generate(root):
        node = nbformat.from_dict(notebook)
        if nbformat.read(path, as_version=4) != node:
            nbformat.write(node, path)
            written.append(path)
    return written


def add_notebooks(sub):
    p = sub.add_parser(
        "notebooks", help="instructors: write (or check) the set-up cell of every lesson",
        description="Put the generated set-up cell (installs the course on a hosted kernel; "
                    "does nothing where it is installed) first in every lesson of notebooks/. "
                    "Exercises get theirs from `python -m course exercises --write`.")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="write the set-up cells")
    group.add_argument("--check", action="store_true",
                       help="exit 1 if a lesson's set-up cell differs from the generated one")
    p.add_argument("--root", default=".", help="repository root (default: .)")
    p.set_defaults(func=_notebooks)


def _notebooks(args) -> int:
    root = Path(args.root)
    if release_version(root) is None or not lessons(root):
        print(f"error: no pyproject.toml and notebooks/NN_*.ipynb under {root.resolve()}: "
              "`notebooks` is an instructor command, run in the course's repository.",
              file=sys.stderr)
        return 2
    try:
        if args.write:
            written = write_all(root)
            for path in written:
                print(f"wrote {path}")
            print(f"{len(lessons(root))} lessons, {len(written)} set-up cell(s) written")
            return 0
        bad = stale(root)
    except SetupCellError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in bad:
        print(f"stale: {path} (run `python -m course notebooks --write`)")
    if not bad:
        print(f"{len(lessons(root))} lessons: set-up cells up to date")
    return 1 if bad else 0
