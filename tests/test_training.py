"""course.training: the one path (train), resume after interruption, seeds, precise BN,
Lookahead, the adapt check, and the loss."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from course import data, recipes, training
from course.callbacks import Lookahead
from course.losses import SmoothedSparseCrossentropy
from course.recipes import Recipe


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sparse_loss_matches_keras_categorical_with_smoothing(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5)).astype("float32")
    labels = rng.integers(0, 5, 8)
    ours = SmoothedSparseCrossentropy(from_logits=True, label_smoothing=smoothing)
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    expected = reference(keras.ops.one_hot(labels, 5), logits)
    assert float(ours(labels, logits)) == pytest.approx(float(expected), rel=1e-6)
    if smoothing == 0:
        plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        assert float(ours(labels, logits)) == pytest.approx(float(plain), rel=1e-6)


def _tiny_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten(name="features")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="tiny")


def test_train_writes_model_metrics_and_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    result = training.train("mnist_two_layer_cnn", out=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] == result.metrics["test_accuracy"]
    assert metrics["test_accuracy"] > 0.7  # one epoch on 2,048 real digits
    assert metrics["epochs"] == 1 and metrics["fast_mode"] is True
    assert metrics["parameters"] == 3_274_634 and metrics["backend"] == keras.backend.backend()
    assert (tmp_path / "history.png").stat().st_size > 1000
    assert not (tmp_path / "backup").exists()
    printed = capsys.readouterr().out
    assert "epoch 1/1: loss" in printed and "\r" not in printed  # one line per epoch in logs
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    (_, _), (x_test, _) = data.load("mnist")
    x = x_test[:16, ..., None].astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), result.model.predict(x, verbose=0),
                               atol=1e-5, equal_nan=False)


def test_train_takes_arrays_a_built_model_and_a_validation_set(mnist):
    (x, y), (x_test, y_test) = mnist
    recipe = Recipe(epochs=3, batch_size=64, learning_rate=3e-3)
    training.set_seed(0)
    result = training.train(recipe, ((x[:512], y[:512]), (x_test[:256], y_test[:256])),
                            model=_tiny_model(), validation_data=(x[1000:1256], y[1000:1256]),
                            fast=False, verbose=0)
    assert len(result.history["val_accuracy"]) == 3
    assert result.metrics["data"] == "arrays" and result.metrics["test_images"] == 256
    assert result.metrics["validation_accuracy"] > 0.4  # chance: 0.1


def test_train_refuses_bad_data_and_unknown_recipes():
    with pytest.raises(ValueError, match="data must be"):
        training.train(Recipe(), data=[1, 2, 3], model=_tiny_model(), verbose=0)
    with pytest.raises(recipes.UnknownRecipeError, match="mnist_two_layer_cnn"):
        training.train("mnist_two_layer_cn")


def test_recipe_fields_are_checked_when_made():
    for bad in ({"optimizer": "adagrad"}, {"schedule": "warp"}, {"tta": "rotate"},
                {"augment": ("crop90",)}, {"data": "imagenet"}, {"model": "resnet19"},
                {"epochs": 0}, {"mixed_precision": "fp8"}):
        with pytest.raises((ValueError, KeyError)):
            Recipe(**bad)
    recipe = recipes.get("cifar_strided").replace(model_args={"widths": (8, 8, 8)}, epochs=2)
    assert recipe.model_args == {"widths": (8, 8, 8)} and recipe.epochs == 2
    assert recipe.create().count_params() < 10_000


def test_fit_refuses_a_model_with_unadapted_layers():
    from course.layers import PatchWhitening

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten(name="features")(PatchWhitening(name="whiten")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="whiten.*adapt_layers"):
        training.fit(model, data.pipeline(np.zeros((4, 8, 8, 3)), [0, 1, 0, 1]), 1,
                     verbose=0)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:  # two epochs finished and backed up: pull the plug
            raise KeyboardInterrupt


def test_fit_resumes_after_an_interruption(tmp_path, mnist):
    (x, y), _ = mnist
    ds = data.pipeline(x[:256], y[:256], batch_size=64)

    def fresh():
        training.set_seed(0)
        return training.compile_for(_tiny_model(), Recipe(learning_rate=1e-2), 16)

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
        model = training.compile_for(_tiny_model(), Recipe(), 2)
        model.fit(data.pipeline(x[:128], y[:128], 64, shuffle=True, seed=7),
                  verbose=0, shuffle=False)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_allclose(a, b, atol=1e-6)


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
    np.testing.assert_allclose(np.asarray(bn.moving_mean), batch_means.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), batch_vars.mean(0), rtol=1e-5)
    assert bn.momentum == 0.99  # restored


def _airbench_lookahead(moves, total_steps, every=5, start=1.0):
    """The weight after each step, and after training, under airbench94's Lookahead (Jordan
    2024, ``airbench94.py``): every ``every`` steps ``rho = decay_base ** every * (step /
    total) ** decay_pow`` with ``decay_base=0.95``, ``decay_pow=3``, then ``ema.lerp_(w, 1 - rho)``
    and ``w.copy_(ema)``; after training ``update(decay=1.0)``. Here the average starts from the
    weights before the first step (airbench's starts at its first update)."""
    w = ema = start
    after = []
    for step, move in enumerate(moves, 1):
        w += move  # the optimizer's step
        if step % every == 0:
            rho = 0.95 ** every * (step / total_steps) ** 3
            ema += (1 - rho) * (w - ema)  # torch's lerp_
            w = ema
        after.append(w)
    return after, ema


def test_lookahead_follows_airbench_reference():
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(inputs))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.optimizer.build(model.trainable_variables)
    kernel = model.layers[-1].kernel
    kernel.assign([[1.0]])
    moves = np.random.default_rng(0).uniform(-1.0, 2.0, 22)  # 2 steps past the last average
    lookahead = Lookahead(total_steps=20, every=5)
    lookahead.set_model(model)
    lookahead.on_train_begin()
    weight = []
    for step, move in enumerate(moves):
        lookahead.on_train_batch_begin(step)
        kernel.assign(keras.ops.convert_to_numpy(kernel) + move)  # the optimizer moved it
        model.optimizer.iterations.assign_add(1)
        lookahead.on_train_batch_end(step)
        weight.append(float(keras.ops.convert_to_numpy(kernel)[0, 0]))
    lookahead.on_train_end()
    expected, average = _airbench_lookahead(moves, total_steps=20)
    np.testing.assert_allclose(weight, expected, rtol=1e-5, atol=1e-5)
    assert float(keras.ops.convert_to_numpy(kernel)[0, 0]) == pytest.approx(average, abs=1e-5)
    assert weight[-1] != pytest.approx(average, abs=1e-2)  # so the end did move it back


def test_progress_prints_one_line_per_epoch_without_a_live_display(capsys):
    from course.callbacks import Progress

    progress = Progress(live=False)
    progress.set_params({"epochs": 3, "steps": 5})
    for epoch in range(3):
        progress.on_epoch_begin(epoch)
        for batch in range(5):
            progress.on_train_batch_end(batch, {"loss": 1.0})
        progress.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.75, "val_accuracy": 0.7})
    progress.on_train_end()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("epoch 3/3: loss 0.5000, accuracy 75.00%, val_accuracy 70.00%")


def _freezable():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="first")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="last")(hidden))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's trainer only")
def test_freeze_after_stops_a_layer_training_from_that_epoch_and_restores_it():
    from course.callbacks import FreezeAfter

    model = _freezable()
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    after_epoch = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            after_epoch.append([keras.ops.convert_to_numpy(v).copy()
                                for v in (model.get_layer("first").kernel,
                                          model.get_layer("last").kernel)])

    model.fit(x, x.sum(1, keepdims=True), epochs=4, batch_size=8, verbose=0,
              callbacks=[FreezeAfter({"first": 2}), Record()])
    moved = [[not np.array_equal(a, b) for a, b in zip(after_epoch[i], after_epoch[i + 1])]
             for i in range(3)]
    assert moved == [[True, True], [False, True], [False, True]]  # epochs 2 and 3: first frozen
    assert model.get_layer("first").trainable  # as built, for saving


def test_freeze_after_names_the_missing_layer_or_the_backend_it_needs():
    from course.callbacks import FreezeAfter

    problem = ("freeze_after names no layer.*whiten.*first, last"
               if keras.backend.backend() == "tensorflow" else "needs the TensorFlow backend")
    with pytest.raises(ValueError, match=problem):
        _freezable().fit(np.zeros((4, 4)), np.zeros((4, 1)), epochs=1, verbose=0,
                         callbacks=[FreezeAfter({"whiten": 1})])
