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


def test_help_models_and_recipes():
    result = run("--help")
    assert result.returncode == 0 and "train" in result.stdout
    result = run("models", "--family", "resnet")
    assert result.returncode == 0
    assert "cifar_resnet20" in result.stdout and "mnist_two_layer_cnn" not in result.stdout
    result = run("recipes")
    assert result.returncode == 0 and "mnist_two_layer_cnn" in result.stdout
    assert "resnet50" not in result.stdout  # ImageNet models have no recipe here
    assert "cifar100_reference" not in result.stdout  # the answer key is not in the package


def test_train_fast_writes_outputs(tmp_path):
    result = run("train", "mnist_two_layer_cnn", "--out", str(tmp_path), "--fast")
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
