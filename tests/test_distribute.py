"""Data-parallel training (course.distribute): a model trained on 2 replicas saves and grades on
one device, clear errors. The training case runs in a fresh process, because logical CPU devices
must be configured before TensorFlow starts; grading runs in this one (one device).

That one SGD step on two replicas gives the weights of one step on one device is checked by
lesson 17 itself (``assert difference < 1e-5 < moved``), which ``make test`` runs under nbval:
the same code, so it is not run twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.skipif(os.cpu_count() < 2, reason="needs 2 CPU cores for 2 logical devices")
def test_training_on_two_devices_saves_a_model_that_grades_on_one(tmp_path):
    result = run_cli("train", "cifar_strided", "--fast", "--devices", "2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "global batch 128 = 2 x 64 per replica" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["devices"]["replicas"] == 2 and metrics["devices"]["global_batch"] == 128
    # graded here, on one device, by the grader's sandbox (the CLI's path) on 1,000 test images
    from course import data, grading

    _, (x_test, y_test) = data.load("cifar10")
    report = grading.grade_artifact(tmp_path / "model.keras", "cifar10",
                                    test_set=(x_test[:1000], y_test[:1000]))
    assert report.verdict == "FAIL" and 0.15 < report.accuracy < 0.9  # loads, runs, learned


def test_more_devices_than_the_machine_has_is_a_clear_error(capsys):
    from course.__main__ import main

    # refused before TensorFlow's runtime is touched, so this process can ask
    code = main(["train", "cifar_strided", "--fast", "--devices", str(2 * os.cpu_count())])
    err = capsys.readouterr().err
    assert code == 2
    assert "DeviceError" in err and "CPU cores" in err
    assert "Traceback" not in err


def test_batch_must_split_evenly_over_devices():
    from course import distribute

    with pytest.raises(distribute.DeviceError, match="divisible by 3"):
        distribute.plan(3, 128)
    assert distribute.plan(1, 128) is None and distribute.plan(None, 128) is None


MUON_ON_TWO_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from course import optimizers

def trained(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.Flatten(), keras.layers.Dense(2)])
        model.compile(optimizers.MuonSGD(learning_rate=0.1, momentum=0.9, nesterov=True),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = model.layers[0].kernel.numpy().copy()
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 8, 8, 3), dtype="float32"), rng.integers(0, 2, 16)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return start, model.layers[0].kernel.numpy()

start, one = trained(tf.distribute.get_strategy())
_, two = trained(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(float(np.abs(one - two).max()), float(np.abs(one - start).max()),
      float(np.linalg.norm(one)))
"""


@pytest.mark.skipif(os.cpu_count() < 2, reason="needs 2 CPU cores for 2 logical devices")
def test_muon_takes_the_same_kernel_steps_on_two_replicas_as_on_one():
    """MuonSGD finds each kernel's momentum from the per-replica copy tf.distribute hands its
    update_step: two replicas train the kernel as one device does (and it is Muon's step: the
    kernel is kept at norm sqrt(4 filters) = 2 before each step)."""
    result = subprocess.run([sys.executable, "-c", MUON_ON_TWO_REPLICAS], capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    difference, moved, norm = map(float, result.stdout.split()[-3:])
    assert difference < 1e-5 < moved
    assert 1.5 < norm < 2.5
