"""python -m course: help, models, train, errors.

The commands run in this process through ``course.__main__.main`` (what ``python -m course``
calls), which saves a TensorFlow start-up per command; one test runs the real ``python -m
course`` in a subprocess, end to end. (``tests/test_grader_cli.py`` checks that a subprocess
prints the answer and nothing else.)
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from course.__main__ import main


def run(capsys, *args):
    """``(exit code, stdout, stderr)`` of ``python -m course ARGS``, run in this process."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse: --help, bad usage
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_models_and_recipes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train" in out
    code, out, _ = run(capsys, "models", "--family", "resnet")
    assert code == 0
    assert "cifar_resnet20" in out and "mnist_two_layer_cnn" not in out
    code, out, _ = run(capsys, "recipes")
    assert code == 0 and "mnist_two_layer_cnn" in out
    assert "resnet50" not in out  # ImageNet models have no recipe here
    # the answer key is not in the package: only importing instructor/ registers it
    assert ("cifar100_reference" in out) == ("instructor.reference" in sys.modules)


def test_train_fast_writes_outputs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "course", "train", "mnist_two_layer_cnn", "--out", str(tmp_path),
         "--fast"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.7 < metrics["test_accuracy"] <= 1
    assert (tmp_path / "model.keras").exists() and (tmp_path / "history.png").exists()
    assert "test_accuracy=" in result.stdout and "training took" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("train", "resnet19"), "Unknown recipe 'resnet19'"),
    (("train", "resnet50"), "not trained here"),
    (("summary", "resnet19"), "Unknown model 'resnet19'"),
    (("data", "imagenet"), "Known data sets: cifar10, cifar100, mnist"),
])
def test_bad_names_exit_2_with_a_clear_message(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_missing_data_exits_2_with_the_fix(capsys, tmp_path, monkeypatch):
    for name, value in {"COURSE_DATA_DIR": str(tmp_path), "KERAS_HOME": str(tmp_path),
                        "COURSE_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "data", "cifar100")
    assert code == 2
    assert "cifar100 not found" in err and "COURSE_DATA_DIR" in err
