"""python -m course doctor: every problem it reports is provoked for real (no data anywhere, a
version outside the declared range, a cache that cannot be written, a backend other than the
one Keras runs, a ``pip`` or Jupyter of another Python, a damaged data file) and must come out as
a problem or warning with its fix; the healthy case exits 0 and finds every data set.

Everything runs in this process, where TensorFlow is loaded once (the healthy case through the
command line's ``main``, its file descriptor 2 captured: no TensorFlow log); the real ``python -m
course doctor`` runs in a subprocess once, for a backend whose package is missing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import keras  # noqa: F401 - Keras runs with the backend it was imported with (tensorflow here)
import numpy as np
import pytest
from packaging.requirements import Requirement

import course
from course import data
from course.__main__ import main
from course.diagnosis import CHECK_NAMES, install, line, runtime, storage

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = os.environ.get("COURSE_DATA_DIR", "")
#: PATH as an activated environment has it (its pip answers faster than a pyenv shim)
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Every place course.data looks is empty: $COURSE_DATA_DIR, the Keras cache, the TFDS data
    dir, the course's cache (the offline MNIST); and no download may happen."""
    for name in ("data_dir", "keras_home", "tfds", "cache"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data_dir"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("PATH", VENV_PATH)
    return tmp_path


def test_no_data_is_a_problem_that_says_how_to_get_it(no_data, capsys):
    report = course.doctor(quick=True)
    out = capsys.readouterr().out
    assert report.exit_code == 1
    assert {c.name for c in report.problems} == {"mnist", "cifar10", "cifar100"}
    for name in ("mnist", "cifar10", "cifar100"):
        check = report.named(name)
        # every source was looked at, and emptied
        for place in ("data_dir", "keras_home", "tfds"):
            assert str(no_data / place) in check.detail, (place, check.detail)
        assert "COURSE_OFFLINE=1" in check.detail
        assert "COURSE_DATA_DIR" in check.fix
    assert str(no_data / "cache") in report.named("mnist").detail  # the offline MNIST's place
    assert "python -m course data mnist --fetch" in report.named("mnist").fix
    assert "python -m course data cifar100" in report.named("cifar100").fix
    # one aligned line per check; the report shows as its summary (a notebook's cell output)
    lines = out.splitlines()
    assert [ln[9:].split("  ")[0].strip() for ln in lines] == list(CHECK_NAMES)
    assert repr(report).startswith("<doctor: 3 problems: mnist, cifar10, cifar100, ")
    assert report.named("train step").status == "skipped"


def test_missing_data_that_a_download_would_bring_is_a_warning(no_data, monkeypatch):
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(data, "host_reachable", lambda url, timeout=3.0: True)
    check = storage.check_data("cifar10")
    assert check.status == "warning" and "www.cs.toronto.edu" in check.detail
    monkeypatch.setattr(data, "host_reachable", lambda url, timeout=3.0: False)
    check = storage.check_data("cifar10")
    assert check.status == "problem" and "cannot be reached" in check.detail


def test_a_damaged_copy_is_a_problem(no_data):
    size, _ = next(iter(data.KNOWN_NPZ_SHA256["mnist"].items()))
    (no_data / "data_dir" / "mnist.npz").write_bytes(b"\0" * size)  # the size, not the bytes
    check = storage.check_data("mnist")
    assert check.status == "problem" and "damaged" in check.detail
    folder = no_data / "data_dir" / "cifar-10-batches-py"
    folder.mkdir()
    for member in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                   "data_batch_5", "test_batch"):
        (folder / member).write_bytes(b"not the official batch")
    check = storage.check_data("cifar10")
    assert check.status == "problem" and "md5" in check.detail and "data_batch_1" in check.detail


def test_a_missing_data_dir_is_a_problem(no_data, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(no_data / "typo"))
    check = storage.check_data("cifar100")
    assert check.status == "problem" and "does not exist" in check.detail


@pytest.mark.skipif(not REAL_DATA, reason="COURSE_DATA_DIR is not set")
def test_find_copy_finds_the_copy_load_reads(mnist):
    data.load("mnist", fast=False, verbose=False)
    used, found = data.COPIES_USED["mnist"], data.find_copy("mnist")
    assert (found.path, found.sha256, found.source) == (used.path, used.sha256, used.source)


def test_an_unsupported_version_is_a_problem_with_the_range(monkeypatch):
    real = install.installed_version
    monkeypatch.setattr(install, "installed_version",
                        lambda package: "3.7.0" if package == "keras" else real(package))
    checks = {c.name: c for c in install.check_versions()}
    assert checks["keras"].status == "problem"
    assert "3.7.0" in checks["keras"].detail
    assert checks["keras"].fix.endswith('install "keras>=3.13,<4", then restart the kernel')
    assert checks["tensorflow"].status == "ok"
    monkeypatch.setattr(install, "requires_python", lambda: ">=3.99")
    assert install.check_python().status == "problem"
    monkeypatch.setattr(install, "requirements", lambda: {"numpy": Requirement("numpy<1")})
    checks = {c.name: c for c in install.check_versions()}
    assert checks["packages"].status == "problem" and '"numpy<1"' in checks["packages"].fix


def test_the_ranges_are_the_installed_metadata_of_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = install.requirements()
    for line_ in declared["dependencies"]:
        req = Requirement(line_)
        assert reqs[req.name.lower()].specifier == req.specifier
    jax = Requirement(declared["optional-dependencies"]["jax"][0])
    assert reqs["jax"].specifier == jax.specifier
    assert install.requires_python() == declared["requires-python"]


def test_a_course_not_installed_here_is_a_problem(monkeypatch):
    monkeypatch.setattr(install, "installed_course", lambda: None)
    check = install.check_course()
    assert check.status == "problem" and "pip install -e" in check.fix


def test_an_unwritable_cache_is_a_problem(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file: nothing can be made inside it, not even by root")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "course"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    check = storage.check_cache()
    assert check.status == "problem" and "course cache" in check.detail
    assert "Keras cache" not in check.detail and "COURSE_CACHE_DIR" in check.fix
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "course"))
    monkeypatch.setenv("KERAS_HOME", str(blocker / "keras"))
    check = storage.check_cache()
    assert check.status == "problem" and "Keras cache" in check.detail
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert storage.check_cache().status == "ok"
    assert not list((tmp_path / "course" / "data").iterdir())  # no test file left behind


def test_a_backend_other_than_the_running_one_is_a_problem(monkeypatch):
    active = keras.backend.backend()
    other = "jax" if active == "tensorflow" else "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", other)
    check = runtime.check_backend()
    assert check.status == "problem"
    assert f"{other} (set by KERAS_BACKEND)" in check.detail and active in check.detail
    assert "restart" in check.fix
    monkeypatch.setenv("KERAS_BACKEND", active)
    assert runtime.check_backend().status == "ok"


def _script(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)


def test_a_pip_of_another_python_is_a_warning(monkeypatch, tmp_path):
    _script(tmp_path, "pip", "#!/bin/sh\necho 'pip 1.0 from /elsewhere/site-packages/pip "
                             "(python 3.11)'\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    check = install.check_interpreter()
    assert check.status == "warning" and "/elsewhere/site-packages" in check.detail
    assert "%pip install" in check.fix
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{tmp_path}")
    assert install.check_interpreter().status == "ok"


def test_a_jupyter_of_another_python_is_a_warning(monkeypatch, tmp_path):
    _script(tmp_path, "jupyter", "#!/usr/bin/python3-elsewhere\n")
    kernels = tmp_path / "share"
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_PATH", str(kernels))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))  # no user kernels either
    check = install.check_jupyter()
    assert check.status == "warning" and "ipykernel install" in check.fix
    spec = kernels / "kernels" / "course-here"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "course here", "language": "python"}))
    check = install.check_jupyter()
    assert check.status == "ok" and "course-here" in check.detail


def test_precision_and_devices_say_what_this_machine_does(monkeypatch):
    from course import distribute, precision

    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    check = runtime.check_precision()
    # other tests may have registered more recipes on auto (the answer keys): names, not counts
    assert check.status == "ok" and "every recipe trains in float32" in check.detail
    assert "mnist_two_layer_cnn" in check.facts["auto_recipes"]
    monkeypatch.setattr(precision, "native_bfloat16", lambda: True)
    check = runtime.check_precision()
    assert re.search(r"mnist_two_layer_cnn(, [a-z0-9_]+)* trains? in mixed_bfloat16", check.detail)
    assert check.facts["auto_policy"] == "mixed_bfloat16"
    monkeypatch.setattr(distribute, "gpus", lambda: [])
    monkeypatch.setattr(runtime.shutil, "which", lambda name: f"/usr/bin/{name}")
    check = runtime.check_devices()  # a driver, but no GPU for the backend
    assert check.status == "warning" and "sees no GPU" in check.detail
    assert "and-cuda" in check.fix if keras.backend.backend() == "tensorflow" else "cuda12" in check.fix


@pytest.mark.skipif(not REAL_DATA, reason="COURSE_DATA_DIR is not set")
def test_healthy_json_exits_0_finds_every_data_set_and_times_a_step(monkeypatch, tmp_path,
                                                                    capfd):
    # the command line in this process (TensorFlow is loaded already); capfd sees file
    # descriptor 2 too, where TensorFlow's C++ log would go
    monkeypatch.setenv("PATH", VENV_PATH)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    capfd.readouterr()
    code = main(["doctor", "--json"])
    out, err = capfd.readouterr()
    assert code == 0, out
    assert err == ""  # quiet: no TensorFlow log
    checks = json.loads(out)
    assert [c["name"] for c in checks] == list(CHECK_NAMES)
    assert not [c for c in checks if c["status"] == "problem"]
    for name in ("mnist", "cifar10", "cifar100"):
        found = next(c for c in checks if c["name"] == name)
        assert found["status"] == "ok"
        assert found["facts"]["path"] == str(Path(REAL_DATA) / f"{name}.npz")
        assert found["facts"]["verified"] == "matches the published sha256"
    step = next(c for c in checks if c["name"] == "train step")
    assert step["status"] == "ok" and step["facts"]["step_s"] > 0
    assert np.isfinite(step["facts"]["loss"])


def test_a_backend_package_that_does_not_import_exits_1(tmp_path):
    wanted = "jax" if install.installed_version("jax") is None else "torch"
    if install.installed_version(wanted) is not None:
        pytest.skip("both jax and torch are installed")
    result = subprocess.run(
        [sys.executable, "-m", "course", "doctor", "--quick"], cwd=ROOT, capture_output=True,
        text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": wanted, "COURSE_CACHE_DIR": str(tmp_path),
             "PATH": VENV_PATH})
    assert result.returncode == 1 and result.stderr == ""
    *checks, summary = result.stdout.splitlines()
    lines = {ln[9:].split("  ")[0].strip(): ln for ln in checks}
    assert list(lines) == list(CHECK_NAMES)
    assert summary.startswith("doctor: ") and "backend" in summary.split(",")[0]
    assert lines["backend"].startswith("problem") and f"No module named '{wanted}'" in \
        lines["backend"]
    assert lines["devices"].startswith("skipped")
    assert lines["python"].startswith("ok")


def test_the_line_format():
    from course.diagnosis.check import Check

    text = line(Check("cache", "problem", "cannot write", "set COURSE_CACHE_DIR"))
    assert text == "problem  cache        cannot write; fix: set COURSE_CACHE_DIR"
