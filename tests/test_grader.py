"""The CIFAR-100 artifact grader on small fixtures in the real npz format.

The fixture's classes are colours (each image is its class's colour plus noise), so a model can
be written down instead of trained: ``colour_model`` classifies by the mean colour, keeps its
accuracy on mirrored and shifted images, and passes. The hostile cases live in
``test_grader_hostile.py``, output escaping in ``test_grader_output.py``, the integrity flag in
``test_grader_integrity.py``, every course layer in ``test_grader_registry.py``.
"""
from __future__ import annotations

import csv
import hashlib
import json
import types

import keras
import numpy as np
import pytest

from course import data, grading
from course.__main__ import main

N_TRAIN, N_TEST = 100, 200


def palette() -> np.ndarray:
    """100 distinct RGB colours, at least 50 grey levels apart in some channel."""
    r, g, b = np.meshgrid([25, 75, 125, 175, 225], [25, 75, 125, 175, 225], [40, 100, 160, 220],
                          indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], 1).astype(np.float32)


def colour_images(labels, rng) -> np.ndarray:
    """Each image is its label's colour plus uniform noise of +-12 grey levels."""
    noise = rng.integers(-12, 13, (len(labels), 32, 32, 3))
    return np.clip(palette()[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def colour_model(num_classes: int = 100) -> keras.Model:
    """Nearest palette colour to the image's mean colour: 2 c.m - |c|^2, written down."""
    inputs = keras.Input((32, 32, 3), name="image")
    mean = keras.layers.GlobalAveragePooling2D(name="mean_colour")(inputs)
    logits = keras.layers.Dense(num_classes, name="logits")
    model = keras.Model(inputs, logits(mean))
    colours = palette()[:num_classes]
    logits.set_weights([2 * colours.T, -(colours ** 2).sum(1)])
    return model


def linear_model(num_classes=100, input_shape=(32, 32, 3)) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def write_fixture(folder, monkeypatch, n_train=N_TRAIN, n_test=N_TEST, seed=0, **overrides):
    """``folder/cifar100.npz`` with colour-coded images; the expected sizes shrink to match."""
    import dataclasses

    monkeypatch.setitem(data.DATASETS, "cifar100", dataclasses.replace(
        data.DATASETS["cifar100"], train_size=n_train, test_size=n_test))
    rng = np.random.default_rng(seed)
    y_train, y_test = np.arange(n_train) % 100, rng.permutation(np.arange(n_test) % 100)
    arrays = {"x_train": colour_images(y_train, rng), "y_train": y_train[:, None].astype(np.uint8),
              "y_train_coarse": (y_train // 5)[:, None].astype(np.uint8),
              "x_test": colour_images(y_test, rng), "y_test": y_test[:, None].astype(np.uint8),
              "y_test_coarse": (y_test // 5)[:, None].astype(np.uint8), **overrides}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "cifar100.npz", **arrays)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return types.SimpleNamespace(path=folder / "cifar100.npz", x=arrays["x_test"],
                                 y=arrays["y_test"].reshape(-1), **arrays)


@pytest.fixture
def cifar100_fixture(monkeypatch, tmp_path):
    return write_fixture(tmp_path / "data", monkeypatch)


def save(model, path):
    model.save(path)
    return path


# --- verdicts -------------------------------------------------------------------------------


def test_a_good_model_passes_and_the_report_names_the_data_copy(cifar100_fixture, tmp_path,
                                                                 capsys):
    path = grading.export_submission(colour_model(), tmp_path / "good" / "model.keras")
    report = grading.grade_artifact(path)
    assert report.verdict == "PASS" and report.accuracy == 1.0 and report.exit_code == 0
    assert report.test_images == N_TEST and len(report.per_superclass) == 20
    assert report.consistency == {"images": N_TEST, "plain": 1.0, "mirror": 1.0, "shift": 1.0,
                                  "ratio": 1.0, "flagged": False}
    assert not report.integrity_flag
    digest = hashlib.sha256(cifar100_fixture.path.read_bytes()).hexdigest()
    assert report.data == {"name": "cifar100", "path": str(cifar100_fixture.path),
                           "sha256": digest, "verified": None}
    capsys.readouterr()
    assert main(["grade", "cifar100", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: PASS: test accuracy 100.00% on 200 cifar100 test images")
    for part in ("per-superclass accuracy", "safe_mode=True", "separate process",
                 f"data: {cifar100_fixture.path} (sha256 {digest}; no published checksum",
                 "mirrored 100.0%, shifted 1 px 100.0% (ratio 1.00): ok"):
        assert part in out


def test_a_random_model_fails(cifar100_fixture, tmp_path, capsys):
    path = save(linear_model(), tmp_path / "random.keras")
    assert main(["grade", "cifar100", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "FAIL" and report["exit_code"] == 1
    assert report["accuracy"] < 0.6 and "< 60%" in report["reason"]
    assert report["data"]["path"] == str(cifar100_fixture.path)


def _nan_model(path):
    model = linear_model()
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    model.save(path)


def _five_by_hundred(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Reshape((5, -1))(keras.layers.Cropping2D(((0, 2), (0, 0)))(inputs))
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(path)


def _two_outputs(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(inputs)
    keras.Model(inputs, [keras.layers.Dense(100)(x), keras.layers.Dense(100)(x)]).save(path)


def _string_outputs(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Dense(100)(keras.layers.Flatten()(inputs))
    x = keras.layers.Discretization(bin_boundaries=[0.0], output_mode="int")(x)
    x = keras.layers.StringLookup(vocabulary=["low", "high"], invert=True)(x)
    keras.Model(inputs, x).save(path)


def _unbuilt(path):
    with pytest.warns(UserWarning, match="not yet been built"):  # expected: the point of it
        keras.Sequential([keras.layers.Dense(100)]).save(path)


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


def _h5_renamed(path):
    linear_model().save(path.with_suffix(".h5"))
    path.with_suffix(".h5").rename(path)


def _truncated(path):
    linear_model().save(path)
    path.write_bytes(path.read_bytes()[:20_000])


def _weights_bit_flip(path):
    linear_model().save(path)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x04  # inside model.weights.h5 (stored, not compressed)
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("make, cause, message", [
    (None, "missing", "file not found"),
    (lambda p: p.write_bytes(b"\x00garbage"), "not_zip", "not a zip archive"),
    (lambda p: p.write_bytes(b"PK\x05\x06" + b"\x00" * 18), "not_keras", "no config.json"),
    (_truncated, "bad_zip", "cut short"),
    (_weights_bit_flip, "bad_zip", "damaged"),
    (_h5_renamed, "hdf5", "HDF5 (.h5) file renamed"),
    (lambda p: linear_model(100, (28, 28, 1)).save(p), "contract", "inputs of shape"),
    (lambda p: linear_model(10).save(p), "contract", "expected (None, 100)"),
    (_five_by_hundred, "contract", "output shape is (None, 5, 100), expected (None, 100)"),
    (_two_outputs, "contract", "2 outputs"),
    (_unbuilt, "contract", "never built"),
    (_string_outputs, "bad_scores", "expected numbers"),
    (_nan_model, "nonfinite", f"NaN or infinite scores for {N_TEST} of {N_TEST} images"),
    (_lambda_model, "code", "Lambda layer"),
    (_custom_layer_model, "unregistered", "test_only>Doubler"),
])
def test_bad_artifacts_get_a_verdict_and_exit_2(cifar100_fixture, tmp_path, capsys, make, cause,
                                                message):
    path = tmp_path / "bad.keras"
    if make is not None:
        make(path)
    code = main(["grade", "cifar100", str(path), "--json"])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 2 and report["exit_code"] == 2
    assert report["verdict"] == "UNUSABLE" and report["cause"] == cause
    assert message in report["reason"], report
    assert "Traceback" not in out.out + out.err


def test_one_infinite_score_is_one_image(monkeypatch, tmp_path):
    """Item 7: the count is of images with any non-finite score (it used to say 0)."""
    x_test = colour_images(np.arange(N_TEST) % 100, np.random.default_rng(0))
    x_test[:, 0, 0, 0] = 50
    x_test[7, 0, 0, 0] = 255  # 255 * 2e36 overflows float32; 50 * 2e36 does not
    write_fixture(tmp_path / "data", monkeypatch, x_test=x_test)
    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(100)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((3072, 100), np.float32)
    kernel[0, 3] = 2e36
    dense.set_weights([kernel, np.zeros(100, np.float32)])
    report = grading.grade_artifact(save(model, tmp_path / "inf.keras"))
    assert report.cause == "nonfinite"
    assert report.reason == f"it returned NaN or infinite scores for 1 of {N_TEST} images."


def test_a_long_error_keeps_its_cause(cifar100_fixture, tmp_path):
    """Item 7: the detail is not cut at 300 characters; head and tail (the cause) are kept."""
    from tests.test_grader_hostile import edit_config

    def call_eval(config):
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Dense":
                layer["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                                 "config": "eval", "registered_name": "function"}

    path = edit_config(save(linear_model(), tmp_path / "m.keras"), tmp_path / "eval.keras",
                       call_eval)
    report = grading.grade_artifact(path)
    assert report.cause == "unknown_object"
    assert "the function 'eval'" in report.reason
    assert len(report.detail) > 300 and "Could not locate function 'eval'" in report.detail


def test_a_folder_of_submissions_becomes_one_csv(cifar100_fixture, tmp_path):
    folder = tmp_path / "submissions"
    for student in ("alice", "bob", "carol"):
        (folder / student).mkdir(parents=True)
    grading.export_submission(colour_model(), folder / "alice" / "model.keras")
    (folder / "bob" / "model.keras").write_bytes(b"oops")
    _string_outputs(folder / "carol" / "model.keras")  # used to kill the whole run
    assert main(["grade", "cifar100", str(folder), "--csv", str(tmp_path / "grades.csv")]) == 2
    rows = {r["path"].split("/")[-2]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["alice"]["verdict"] == "PASS" and rows["alice"]["exit_code"] == "0"
    assert rows["bob"]["verdict"] == "UNUSABLE" and rows["bob"]["cause"] == "not_zip"
    assert rows["carol"]["verdict"] == "UNUSABLE" and rows["carol"]["cause"] == "bad_scores"
    assert {r["data_path"] for r in rows.values()} == {str(cifar100_fixture.path)}


def test_export_refuses_a_model_that_breaks_the_contract(tmp_path):
    with pytest.raises(grading.GradingError, match="expected \\(None, 100\\)"):
        grading.export_submission(linear_model(10), tmp_path / "m.keras")
    with pytest.raises(grading.GradingError, match="Lambda layer"):
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Lambda(lambda t: t * 2)(inputs)
        grading.export_submission(
            keras.Model(inputs, keras.layers.Dense(100)(keras.layers.Flatten()(x))),
            tmp_path / "lambda.keras")


def test_grader_never_uses_stand_in_data(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # exists, but holds no data
    path = save(linear_model(), tmp_path / "m.keras")
    with pytest.raises(data.DatasetNotFoundError, match="cifar100 not found"):
        grading.grade_artifact(path)


def test_grading_ignores_fast_mode(monkeypatch, tmp_path):
    """COURSE_FAST cuts data.load to 512 test images; the grader always grades them all."""
    write_fixture(tmp_path / "data", monkeypatch, n_test=600)
    monkeypatch.setenv("COURSE_FAST", "1")
    assert len(data.load("cifar100")[1][0]) == 512
    report = grading.grade_artifact(save(colour_model(), tmp_path / "m.keras"))
    assert report.test_images == 600 and report.verdict == "PASS"
