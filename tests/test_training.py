"""course.training: schedules, loss, train() outputs, resume after interruption, seeds."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from course import training
from course.losses import SparseCategoricalCrossentropy
from course.models import Recipe


def test_one_cycle_rises_then_falls():
    schedule = training.OneCycle(0.1, total_steps=100, warmup=0.25, start_factor=0.1)
    values = [float(schedule(step)) for step in (0, 25, 50, 100)]
    assert values == pytest.approx([0.01, 0.1, 0.1 * (1 - 25 / 75), 0.0], abs=1e-6)
    again = training.OneCycle.from_config(schedule.get_config())
    assert float(again(60)) == pytest.approx(float(schedule(60)))


def test_step_and_cosine_schedules():
    step = training.make_schedule("step", 1.0, 100)
    assert [float(step(s)) for s in (0, 60, 90)] == pytest.approx([1.0, 0.1, 0.01])
    cosine = training.make_schedule("cosine", 1.0, 100)
    assert float(cosine(50)) == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ValueError, match="one_cycle"):
        training.make_schedule("warp", 1.0, 10)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sparse_loss_matches_keras_categorical_with_smoothing(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5)).astype("float32")
    labels = rng.integers(0, 5, 8)
    ours = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    expected = reference(keras.ops.one_hot(labels, 5), logits)
    assert float(ours(labels, logits)) == pytest.approx(float(expected), rel=1e-6)


def _tiny_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="tiny")


def test_train_writes_model_metrics_and_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    result = training.train("mnist_two_layer_cnn", out=tmp_path, verbose=0)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] == result.metrics["test_accuracy"]
    assert metrics["test_accuracy"] > 0.7  # one epoch on 2,048 real digits
    assert metrics["epochs"] == 1 and metrics["fast_mode"] is True
    assert metrics["parameters"] == 3_274_634
    assert (tmp_path / "history.png").stat().st_size > 1000
    assert not (tmp_path / "backup").exists()
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    (_, _), (x_test, _) = training.data.load("mnist")
    x = x_test[:16, ..., None].astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), result.model.predict(x, verbose=0),
                               atol=1e-5)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:  # two epochs finished and backed up: pull the plug
            raise KeyboardInterrupt


def test_fit_resumes_after_an_interruption(tmp_path, mnist):
    (x, y), _ = mnist
    ds = training.data.pipeline(x[:256], y[:256], batch_size=64)

    def fresh():
        training.set_seed(0)
        model = _tiny_model()
        training.compile_model(model, Recipe(learning_rate=1e-2), steps_per_epoch=4, epochs=4)
        return model

    with pytest.raises(KeyboardInterrupt):
        training.fit(fresh(), ds, epochs=4, out=tmp_path, callbacks=[_Interrupt()], verbose=0)
    assert len(training.read_history_csv(tmp_path / "history.csv")["loss"]) == 2
    assert (tmp_path / "backup").exists()

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    history = training.fit(fresh(), ds, epochs=4, out=tmp_path, callbacks=[Record()], verbose=0)
    assert seen == [2, 3]  # resumed after the two finished epochs
    assert len(history["loss"]) == 4
    assert history["loss"][3] < history["loss"][0]


def test_same_seed_same_weights(mnist):
    (x, y), _ = mnist

    def run():
        training.set_seed(7)
        model = _tiny_model()
        training.compile_model(model, Recipe(), steps_per_epoch=2, epochs=1)
        model.fit(training.data.pipeline(x[:128], y[:128], 64, shuffle=True, seed=7), verbose=0,
                  shuffle=False)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_evaluate_accuracy_with_flip_tta():
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Flatten()(keras.layers.Cropping2D(((0, 0), (0, 2)))(inputs))
    model = keras.Model(inputs, outputs)  # "scores" = left half of the image
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 3, 0] = 1  # bright pixel on the right: only the mirrored copy sees it
    assert training.predict_logits(model, x, tta_flip=True)[0, 0] == pytest.approx(0.5)


def test_precise_batch_norm_averages_batch_statistics():
    import tensorflow as tf

    inputs = keras.Input((3,))
    bn = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, bn(inputs))
    x = np.random.default_rng(0).normal(2.0, 3.0, (40, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(10)
    assert training.precise_batch_norm(model, ds) == 4
    batch_means = x.reshape(4, 10, 3).mean(1)
    batch_vars = x.reshape(4, 10, 3).var(1)
    np.testing.assert_allclose(bn.moving_mean.numpy(), batch_means.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), batch_vars.mean(0), rtol=1e-5)
    assert bn.momentum == 0.99  # restored
