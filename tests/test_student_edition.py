"""The student edition works alone, in fresh virtual environments (issue 33).

1. ``pip install ".[student]"`` of the bundle (``python -m course release``) in a fresh venv,
   then, from there, a lesson in fast mode (its set-up cell silent: the course is installed) and
   an exercise checked the way the student README says: ``nbgrader validate`` lists every failing
   check of the untouched exercise, and passes once the answers are in.
2. A venv with Jupyter and the course's dependencies but not the course (as a hosted kernel): a
   lesson's generated set-up cell installs the course from a wheel of the bundle
   (``COURSE_INSTALL_SOURCE``, the same code path as any other source) and fetches its data.
   Then the restart path, end to end: a kernel that loaded an older ``tqdm`` before the set-up
   cell is told to restart (naming ``tqdm``); after the restart the cell does nothing.

Heavy (two venvs from uv's cache, four kernels): runs where ``CI`` is set (``.ci/run``, so in
``make test`` there) or with ``COURSE_STUDENT_TESTS=1``; skipped elsewhere.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest

from course import exercises, notebook_setup, release

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.student_edition,
    pytest.mark.skipif(not (os.environ.get("CI") or os.environ.get("COURSE_STUDENT_TESTS")),
                       reason="builds two venvs (about 2 minutes): set COURSE_STUDENT_TESTS=1 "
                              "(CI runs it)"),
]
LESSON = "15_computing_convolutions"  # the shortest lesson (no data set)
HOSTED_LESSON = "01_convolution_basics"  # its set-up cell fetches MNIST
EXERCISE = "03_convolution_arithmetic"  # answers are seconds of NumPy


def uv(*args, timeout=600):
    try:
        import uv as _uv  # noqa: F401 - the Makefile installs uv into the project's venv
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no uv in this environment (pip install uv)")
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "uv", *args], capture_output=True, text=True,
                         timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return time.perf_counter() - started


def venv(path: Path) -> Path:
    uv("venv", "--quiet", "--seed", "--python", sys.executable, str(path))  # --seed: pip
    return path / "bin"


def env(**extra) -> dict:
    out = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "JUPYTER"))}
    return {**out, "COURSE_FAST": "1", "MPLBACKEND": "Agg", **extra}


def execute(bin_dir: Path, notebook: Path, out: Path, environ: dict) -> dict:
    """Run ``notebook`` (in its own folder) with the venv's Jupyter; the executed notebook."""
    run = subprocess.run([str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                          "--ExecutePreprocessor.timeout=600", str(notebook), "--output-dir",
                          str(out)], capture_output=True, text=True, env=environ, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / notebook.name).read_text())


def setup_output(executed: dict) -> str:
    cell = next(c for c in executed["cells"] if notebook_setup.is_setup_cell(c))
    return "".join("".join(o.get("text", "")) for o in cell["outputs"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "bundle"
    release.build_student_bundle(ROOT, out)
    return out


def answered(exercise: Path, solution: Path) -> dict:
    """The exercise with each answer cell replaced by the solution's code (markers dropped)."""
    nb = nbformat.read(exercise, as_version=4)
    key = nbformat.read(solution, as_version=4)
    for cell, source in zip(nb.cells, key.cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(line for line in source.source.splitlines()
                                    if line.strip() not in (exercises.BEGIN, exercises.END))
    return nb


def test_the_bundle_installs_with_the_student_extra_and_runs_a_lesson_and_an_exercise(
        bundle, tmp_path, capsys):
    bin_dir = venv(tmp_path / "venv")
    seconds = uv("pip", "install", "--quiet", "--python", str(bin_dir / "python"),
                 f"{bundle}[student]")
    with capsys.disabled():
        print(f"\n[student edition] fresh venv + pip install '.[student]' (uv, cache warm): "
              f"{seconds:.1f} s")
    for tool in ("jupyter-lab", "jupyter-notebook", "nbgrader"):
        assert (bin_dir / tool).exists(), tool
    for developer_tool in ("pytest", "ruff"):
        assert not (bin_dir / developer_tool).exists(), developer_tool
    environ = env()

    lesson = execute(bin_dir, bundle / "notebooks" / f"{LESSON}.ipynb", tmp_path / "out", environ)
    assert setup_output(lesson) == ""  # the course is installed: the set-up cell is silent
    errors = [o for c in lesson["cells"] for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert errors == []

    # the exercise, answered but for its first and last answer cells: one `nbgrader validate`
    # (as the student README says: in exercises/) lists both failing checks, and only them
    exercise = bundle / "exercises" / f"{EXERCISE}.ipynb"
    nb = answered(exercise, ROOT / "solutions" / exercise.name)
    answers = [c for c in nb.cells if c.metadata["nbgrader"]["solution"]]
    for cell in (answers[0], answers[-1]):
        cell.source = nbformat.read(exercise, as_version=4).cells[nb.cells.index(cell)].source
    nbformat.write(nb, exercise)
    run = subprocess.run([str(bin_dir / "nbgrader"), "validate", exercise.name],
                         capture_output=True, text=True, cwd=exercise.parent, env=environ,
                         timeout=900)
    report = run.stdout + run.stderr
    checks = [exercises.GRADED.match(c.source.splitlines()[0]).group("id") for c in nb.cells
              if c.metadata["nbgrader"]["grade"]]
    listed = {name for name in checks if f"# GRADED: {name}," in run.stdout}
    # both at once (a later check that uses the first answer fails too), and the others pass
    assert {checks[0], checks[-1]} <= listed < set(checks), (listed, report[-4000:])
    assert "NotImplementedError" in report and "NameError" not in report, report[-4000:]
    assert "Timeout" not in report and "No nbgrader_config.py" not in report, report[-4000:]


def test_the_setup_cell_installs_the_course_on_a_kernel_without_it(bundle, tmp_path):
    dist = tmp_path / "dist"
    uv("build", "--quiet", "--wheel", "--out-dir", str(dist), str(bundle))
    [wheel] = dist.glob("course-*.whl")
    bin_dir = venv(tmp_path / "hosted")
    dependencies = tomllib.loads((bundle / "pyproject.toml").read_text())["project"][
        "dependencies"]
    uv("pip", "install", "--quiet", "--python", str(bin_dir / "python"), "ipykernel",
       "nbconvert", *dependencies)
    python = str(bin_dir / "python")
    probe = subprocess.run([python, "-c", "import importlib.util as u; "
                            "print(u.find_spec('course'))"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert probe.stdout.strip() == "None"  # no course on this kernel yet

    lesson = bundle / "notebooks" / f"{HOSTED_LESSON}.ipynb"
    environ = env(COURSE_INSTALL_SOURCE=str(wheel))
    executed = execute(bin_dir, lesson, tmp_path / "out", environ)
    version = tomllib.loads((bundle / "pyproject.toml").read_text())["project"]["version"]
    printed = setup_output(executed)
    assert f"course {version} installed" in printed, printed
    assert "mnist: ready" in printed, printed
    assert "Restart" not in printed
    installed = subprocess.run([python, "-m", "pip", "show", "course"], capture_output=True,
                               text=True).stdout
    assert f"Version: {version}" in installed

    # a source that cannot be installed: the cell stops with pip's reason and the fix
    shutil.rmtree(tmp_path / "out")
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "course"], check=True)
    broken = env(COURSE_INSTALL_SOURCE=str(tmp_path / "missing-course.whl"))
    run = subprocess.run([str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook",
                          "--execute", str(lesson), "--output-dir", str(tmp_path / "out")],
                         capture_output=True, text=True, env=broken, timeout=600)
    assert run.returncode != 0
    assert "Could not install the course from" in run.stderr
    assert "COURSE_INSTALL_SOURCE" in run.stderr

    # A kernel that had already loaded a module the course needs newer (Colab preloads NumPy,
    # say): the set-up cell installs, then says to restart, naming the module; after the
    # restart (a fresh kernel) it does nothing, and the new module is the one imported.
    uv("pip", "install", "--quiet", "--python", python, "tqdm==4.65.0")  # course: tqdm>=4.66
    setup = next(c for c in nbformat.read(lesson, as_version=4).cells
                 if notebook_setup.is_setup_cell(c))
    preloaded = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import tqdm  # loaded before the set-up cell"),
        nbformat.v4.new_code_cell(setup.source),
        nbformat.v4.new_code_cell("import course, tqdm\nprint('tqdm', tqdm.__version__)")])
    preloaded.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}
    notebook = tmp_path / "notebooks" / "preloaded.ipynb"  # the set-up cell's folder
    notebook.parent.mkdir()
    nbformat.write(preloaded, notebook)
    first = subprocess.run([str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook",
                            "--execute", str(notebook), "--output-dir", str(tmp_path / "r1")],
                           capture_output=True, text=True, env=environ, timeout=600)
    assert first.returncode != 0
    assert "RestartRequired" in first.stderr and "Restart the kernel now" in first.stderr
    assert "tqdm 4.65.0 -> " in first.stderr
    after = execute(bin_dir, notebook, tmp_path / "r2", environ)
    assert setup_output(after) == ""  # the course is there now: the cell does nothing
    printed = "".join("".join(o.get("text", "")) for o in after["cells"][2]["outputs"])
    assert printed.startswith("tqdm ") and not printed.startswith("tqdm 4.65"), printed
