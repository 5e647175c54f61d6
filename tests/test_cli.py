"""python -m course: help, models, train, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def test_help_and_models():
    result = run("--help")
    assert result.returncode == 0 and "train" in result.stdout
    result = run("models")
    assert result.returncode == 0
    assert "mnist_two_layer_cnn" in result.stdout and "3,274,634" in result.stdout


def test_train_fast_writes_outputs(tmp_path):
    result = run("train", "mnist_two_layer_cnn", "--out", str(tmp_path), "--fast")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.7 < metrics["test_accuracy"] <= 1
    assert (tmp_path / "model.keras").exists() and (tmp_path / "history.png").exists()
    assert "test_accuracy=" in result.stdout and "training took" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("train", "resnet19"), "Unknown model 'resnet19'"),
    (("train", "mnist_two_layer_cnn", "--data", "svhn"), "Unknown data set 'svhn'"),
    (("data", "imagenet"), "Known data sets: cifar10, cifar100, mnist"),
])
def test_bad_names_exit_2_with_a_clear_message(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_exits_2_with_the_fix(tmp_path):
    env = {"COURSE_DATA_DIR": str(tmp_path), "KERAS_HOME": str(tmp_path), "COURSE_OFFLINE": "1"}
    result = run("data", "cifar100", env=env)
    assert result.returncode == 2
    assert "cifar100 not found" in result.stderr and "COURSE_DATA_DIR" in result.stderr


def test_reference_recipe_artifact_loads_in_a_fresh_grader_process(tmp_path):
    """The saved model (test-time augmentation wrapper around a bfloat16 network compiled with
    DiscriminativeSGD and OneCycle) must load in safe mode where only `course` is imported."""
    result = run("train", "cifar100_reference", "--data", "cifar10", "--fast",
                 "--validation-split", "0.25", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["tta_translate"] and 0 <= metrics["validation_accuracy"] <= 1
    assert "validation_accuracy=" in result.stdout
    graded = run("grade", "cifar10", str(tmp_path / "model.keras"), "--json")
    assert graded.returncode == 1, graded.stdout + graded.stderr  # one fast epoch: a FAIL, not unusable
    report = json.loads(graded.stdout)
    assert report["verdict"] == "FAIL" and 0 < report["accuracy"] < 0.9
