"""How confident a classifier is (course.evaluation: softmax, logit_gap, calibration), the logit
gap label smoothing prefers (course.losses.optimal_logit_gap), and the figures lessons 07 and 09
draw from them (course.visualize, course.experiments)."""
from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from course import evaluation, experiments, losses, visualize


@pytest.mark.parametrize("eps,classes", [(0.1, 10), (0.2, 100), (0.05, 5)])
def test_the_optimal_gap_minimises_keras_smoothed_crossentropy(eps, classes):
    gaps = np.arange(0.0, 25.0, 0.001)
    logits = np.zeros((len(gaps), classes), "float32")
    logits[:, 0] = gaps  # true class 0, every other logit equal
    target = np.zeros_like(logits)
    target[:, 0] = 1
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps,
                                                reduction=None)(target, logits)
    best = gaps[int(np.argmin(keras.ops.convert_to_numpy(loss)))]
    assert losses.optimal_logit_gap(eps, classes) == pytest.approx(best, abs=2e-3)


def test_without_smoothing_the_loss_keeps_falling():
    assert losses.optimal_logit_gap(0.0, 10) == float("inf")
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)
    values = [float(loss(np.eye(3)[:1], np.array([[g, 0, 0]], "float32"))[0]) for g in (5, 10)]
    assert values[1] < values[0]


def test_softmax_and_logit_gap():
    z = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(evaluation.softmax(z),
                               keras.ops.convert_to_numpy(keras.ops.softmax(z)), atol=1e-7)
    np.testing.assert_allclose(evaluation.logit_gap(z), [3 - 1.5, 0.0, 1000.0 - (-500.0)])


def test_calibration_of_a_hand_made_example():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = [0, 1, 1, 1]  # bin 0.9: confidence 0.9, accuracy 1/2; bin 0.6: 0.6 and 2/2
    cal = evaluation.calibration(np.log(p), labels, bins=10)
    assert cal["ece"] == pytest.approx(0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6))
    assert list(cal["count"]) == [0, 0, 0, 0, 0, 0, 2, 0, 0, 2]
    np.testing.assert_allclose(cal["accuracy"][[6, 9]], [1.0, 0.5])
    np.testing.assert_allclose(cal["confidence"][[6, 9]], [0.6, 0.9])
    assert cal["top1"] == 0.75 and cal["mean_confidence"] == pytest.approx(0.75)


def test_calibration_matches_a_loop_over_examples():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2000, 7))
    labels = rng.integers(0, 7, 2000)
    cal = evaluation.calibration(logits, labels, bins=15)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ece = 0.0
    for low in np.arange(15) / 15:
        inside = [i for i in range(2000)
                  if low <= p[i].max() < low + 1 / 15 or (low == 14 / 15 and p[i].max() == 1)]
        if inside:
            acc = np.mean([p[i].argmax() == labels[i] for i in inside])
            ece += len(inside) / 2000 * abs(acc - np.mean([p[i].max() for i in inside]))
    assert cal["ece"] == pytest.approx(ece, rel=1e-9)


def test_the_confidence_figure_and_the_curves_beside_a_table():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    logits = {"sharp": rng.normal(0, 5, (200, 10)), "soft": rng.normal(0, 1, (200, 10))}
    fig = visualize.compare_confidence(logits, rng.integers(0, 10, 200),
                                       optimum={"sharp": np.inf, "soft": 4.5})
    assert [a.get_title() for a in fig.axes] == ["logit gap", "confidence", "reliability"]
    assert any("ECE" in t.get_text() for t in fig.axes[2].get_legend().get_texts())
    table = ("paper", ["unit", "error"], [("(a)", "6.61%"), ("(e)", "6.37%")])
    fig = visualize.compare_histories({"run": {"loss": [2.0, 1.5]}}, metrics=("loss",),
                                      table=table)
    cells = fig.axes[1].tables[0].get_celld()
    assert cells[(0, 0)].get_text().get_text() == "unit"
    assert cells[(2, 1)].get_text().get_text() == "6.37%"


def test_the_variants_table_lists_all_five_with_the_papers_numbers():
    def result(accuracy):  # what the table reads of a TrainResult
        return SimpleNamespace(metrics={"test_accuracy": accuracy},
                               model=SimpleNamespace(name="preact_resnet20"))

    title, columns, rows = experiments.residual_variants_table({"a": result(0.6),
                                                                "e": result(0.625)})
    assert columns[-1] == "this run, ResNet-20"
    assert rows == [("(a) original", "6.61%", "40.00%"), ("(b) BN after addition", "8.17%", "-"),
                    ("(c) ReLU before addition", "7.84%", "-"),
                    ("(d) ReLU-only pre-activation", "6.71%", "-"),
                    ("(e) full pre-activation", "6.37%", "37.50%")]
