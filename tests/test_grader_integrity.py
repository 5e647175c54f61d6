"""The integrity figure: a lookup of the test images passes on accuracy but is flagged.

The memoriser is a Flatten/Dense lookup like the one in the issue, built small: each test image
(standardised and unit-normalised) is a template in a Dense layer, a ReLU lets only a near-exact
match (cosine > 0.999) through, and a second Dense maps the matched template to its label. It
scores 100% on the images it memorised, and collapses on mirrored and shifted ones.
"""
from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from course import data, grading
from course.grading.artifact import consistency
from course.grading.artifact.grader import TestSet
from course.preprocessing import PerImageStandardization
from tests.test_grader import colour_model, save, write_fixture


def memoriser(x_test, y_test, num_classes=100, threshold=0.999) -> keras.Model:
    x = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    x = x - x.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Flatten()(PerImageStandardization()(inputs))
    h = keras.layers.UnitNormalization()(h)
    match = keras.layers.Dense(len(x), activation="relu", name="templates")
    lookup = keras.layers.Dense(num_classes, use_bias=False, name="labels")
    model = keras.Model(inputs, lookup(match(h)))
    match.set_weights([x.T.astype(np.float32), np.full(len(x), -threshold, np.float32)])
    one_hot = np.zeros((len(x), num_classes), np.float32)
    one_hot[np.arange(len(x)), np.asarray(y_test).reshape(-1)] = 1000.0
    lookup.set_weights([one_hot])
    return model


def test_a_memoriser_passes_but_is_flagged(monkeypatch, tmp_path, capsys):
    fixture = write_fixture(tmp_path / "data", monkeypatch)
    path = grading.export_submission(memoriser(fixture.x, fixture.y), tmp_path / "m.keras")
    report = grading.grade_artifact(path)
    assert report.verdict == "PASS" and report.accuracy == 1.0  # accuracy alone cannot tell
    assert report.integrity_flag and report.consistency["flagged"]
    assert report.consistency["plain"] == 1.0
    assert report.consistency["mirror"] < 0.1 and report.consistency["shift"] < 0.1
    assert report.exit_code == 0  # a flag for the instructor, not an automatic fail
    assert "INTEGRITY FLAG" in report.line() and "FLAG for the instructor" in report.to_text()


def test_a_real_classifier_is_not_flagged(monkeypatch, tmp_path):
    write_fixture(tmp_path / "data", monkeypatch)
    report = grading.grade_artifact(save(colour_model(), tmp_path / "m.keras"))
    assert report.verdict == "PASS" and not report.integrity_flag


def test_a_memoriser_of_real_test_images_is_flagged(tmp_path):
    """On 300 real CIFAR-100 test images (neighbouring pixels correlate, unlike noise)."""
    folder = data.data_dir()
    if folder is None or not (folder / "cifar100.npz").exists():
        if os.environ.get("CI"):
            raise AssertionError("CI must provide cifar100.npz in COURSE_DATA_DIR")
        pytest.skip("cifar100.npz not in COURSE_DATA_DIR")
    x, labels, copy = data.load_test_set("cifar100")
    test_set = TestSet(x[:300], labels["fine"][:300], labels["coarse"][:300], copy.to_dict())
    model = memoriser(test_set.x, test_set.y)
    report = grading.grade_artifact(save(model, tmp_path / "memoriser.keras"), test_set=test_set)
    assert report.verdict == "PASS" and report.accuracy == 1.0
    assert report.integrity_flag, report.consistency
    assert report.data["verified"] == "matches the published sha256"


def test_views_and_the_flag_rule():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    np.testing.assert_array_equal(consistency.mirror(x)[:, :, 0], x[:, :, 3])
    shifted = consistency.shift(x)
    np.testing.assert_array_equal(shifted[:, 1:, 1:], x[:, :3, :3])
    np.testing.assert_array_equal(shifted[:, 0, 1:], x[:, 0, :3])  # the edge repeats
    labels = np.arange(10)
    right, wrong = np.eye(10), np.roll(np.eye(10), 1, axis=1)
    half = np.concatenate([right[:5], wrong[5:]])
    flagged = consistency.figure(labels, right, wrong, right)
    assert flagged["flagged"] and flagged["ratio"] == 0.0
    assert not consistency.figure(labels, right, right, right)["flagged"]
    assert consistency.figure(labels, right, half, right) == {
        "images": 10, "plain": 1.0, "mirror": 0.5, "shift": 1.0, "ratio": 0.5, "flagged": True}
    assert not consistency.figure(labels, wrong, wrong, wrong)["flagged"]  # nothing to lose
    assert list(consistency.subset(10, 20)) == list(range(10))
    assert len(set(consistency.subset(10_000, 1000))) == 1000
