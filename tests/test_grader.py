"""The CIFAR-100 artifact grader, on small fixtures in the real npz format."""
from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from course import grading
from course.__main__ import main


def _coded_images(labels, rng):
    """Images whose class is written as one bright pixel: a tiny model can learn them."""
    x = rng.integers(0, 8, (len(labels), 32, 32, 3), dtype=np.uint8)
    x[np.arange(len(labels)), labels // 32, labels % 32, 0] = 255
    return x


@pytest.fixture
def cifar100_fixture(small_cifar, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    n_train, n_test = small_cifar
    y_train, y_test = np.arange(n_train) % 100, rng.integers(0, 100, n_test)
    np.savez(tmp_path / "cifar100.npz",
             x_train=_coded_images(y_train, rng), y_train=y_train[:, None].astype(np.uint8),
             y_train_coarse=(y_train // 5)[:, None].astype(np.uint8),
             x_test=_coded_images(y_test, rng), y_test=y_test[:, None].astype(np.uint8),
             y_test_coarse=(y_test // 5)[:, None].astype(np.uint8))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def _linear_model(num_classes=100, input_shape=(32, 32, 3)):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def _trained_model():
    """Trained on images coded like the fixture's: it must pass the grader."""
    keras.utils.set_random_seed(0)
    labels = np.arange(2000) % 100
    x = _coded_images(labels, np.random.default_rng(1)).astype("float32")
    model = _linear_model()
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=20, batch_size=100, verbose=0)
    return model


def test_a_trained_model_passes(cifar100_fixture, tmp_path, capsys):
    path = grading.export_submission(_trained_model(), tmp_path / "good" / "model.keras")
    report = grading.grade_artifact(path)
    assert report.verdict == "PASS" and report.accuracy >= 0.6
    assert report.test_images == 20 and len(report.per_superclass) > 0
    assert main(["grade", "cifar100", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "per-superclass accuracy" in out and "safe_mode=True" in out


def test_a_random_model_fails(cifar100_fixture, tmp_path, capsys):
    path = tmp_path / "random.keras"
    _linear_model().save(path)
    assert main(["grade", "cifar100", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "FAIL" and report["exit_code"] == 1
    assert report["accuracy"] < 0.6 and "< 60%" in report["reason"]


def _lambda_model(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, keras.layers.Dense(100)(keras.layers.Flatten()(x))).save(path)


@keras.saving.register_keras_serializable(package="test_only")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2


def _custom_layer_model(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(Doubler()(inputs))
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(path)
    keras.saving.get_custom_objects().pop("test_only>Doubler")  # the grader has never seen it


def _nan_model(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(100)
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.full((3072, 100), np.nan, "float32"), np.zeros(100, "float32")])
    model.save(path)


@pytest.mark.parametrize("make, message", [
    (None, "file not found"),
    (lambda p: p.write_bytes(b"\x00garbage"), "not a .keras model file"),
    (lambda p: p.write_bytes(b"PK\x05\x06" + b"\x00" * 18), "corrupted or incomplete"),
    (lambda p: _linear_model(100, (28, 28, 1)).save(p), "inputs of shape"),
    (lambda p: _linear_model(10).save(p), "expected (None, 100)"),
    (_nan_model, "NaN"),
    (_lambda_model, "safe mode"),
    (_custom_layer_model, "custom objects"),
])
def test_bad_artifacts_get_a_verdict_and_exit_2(cifar100_fixture, tmp_path, capsys, make,
                                                message):
    path = tmp_path / "bad.keras"
    if make is not None:
        make(path)
    code = main(["grade", "cifar100", str(path)])
    out = capsys.readouterr()
    assert code == 2
    assert "UNUSABLE" in out.out and message in out.out
    assert "Traceback" not in out.out + out.err


def test_a_folder_of_submissions_becomes_one_csv(cifar100_fixture, tmp_path):
    folder = tmp_path / "submissions"
    for student in ("alice", "bob"):
        (folder / student).mkdir(parents=True)
    grading.export_submission(_trained_model(), folder / "alice" / "model.keras")
    (folder / "bob" / "model.keras").write_bytes(b"oops")
    assert main(["grade", "cifar100", str(folder), "--csv", str(tmp_path / "grades.csv")]) == 2
    rows = {r["path"].split("/")[-2]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["alice"]["verdict"] == "PASS" and rows["bob"]["verdict"] == "UNUSABLE"


def test_export_refuses_a_model_that_breaks_the_contract(tmp_path):
    with pytest.raises(grading.GradingError, match="expected \\(None, 100\\)"):
        grading.export_submission(_linear_model(10), tmp_path / "m.keras")


def test_grader_never_uses_stand_in_data(offline, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    path = tmp_path / "m.keras"
    _linear_model().save(path)
    with pytest.raises(Exception, match="cifar100 not found"):
        grading.grade_artifact(path)
