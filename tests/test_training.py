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


def test_translate_tta_weights_the_six_views_like_airbench():
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Flatten()(inputs))  # scores = the pixels
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype("float32")

    def mirror_mean(view):
        return (view + view[:, :, ::-1]).reshape(2, -1) / 2

    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = (0.5 * mirror_mean(x) + 0.25 * mirror_mean(padded[:, :4, :4])
                + 0.25 * mirror_mean(padded[:, 2:, 2:]))
    got = training.predict_logits(model, x, tta_flip=True, tta_translate=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_lookahead_moves_weights_to_the_running_average():
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(inputs))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    kernel = model.layers[-1].kernel
    kernel.assign([[1.0]])
    lookahead = training.Lookahead(total_steps=10, every=5)
    lookahead.set_model(model)
    lookahead.on_train_begin()
    model.optimizer.build(model.trainable_variables)
    for step in range(5):
        lookahead.on_train_batch_begin(step)
        kernel.assign([[3.0]])  # the optimizer moved the weight
        model.optimizer.iterations.assign_add(1)
        lookahead.on_train_batch_end(step)
    decay = 0.95 ** 5 * 0.5 ** 3  # 5 of 10 steps done
    assert float(kernel.numpy()[0, 0]) == pytest.approx(decay * 1 + (1 - decay) * 3)
    kernel.assign([[5.0]])
    lookahead.on_train_end()  # decay 1: back to the average
    assert float(kernel.numpy()[0, 0]) == pytest.approx(decay * 1 + (1 - decay) * 3)


def test_sgd_gives_batch_norm_shifts_their_learning_rate_multiplier():
    inputs = keras.Input((2,))
    bn = keras.layers.BatchNormalization(scale=False)
    model = keras.Model(inputs, keras.layers.Dense(1)(bn(inputs)))
    recipe = Recipe(optimizer="sgd", learning_rate=0.1, schedule="constant",
                    bn_bias_lr_multiplier=64.0, momentum=0.0)
    optimizer = training.make_optimizer(recipe, 10, model)
    assert optimizer.multipliers == {bn.beta.path: 64.0}
    dense = model.layers[-1]
    optimizer.build(model.trainable_variables)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    optimizer.apply([keras.ops.ones_like(v) for v in model.trainable_variables],
                    model.trainable_variables)
    assert np.allclose(before[bn.beta.path] - bn.beta.numpy(), 6.4)
    assert np.allclose(before[dense.bias.path] - dense.bias.numpy(), 0.1)


def test_mixed_precision_settings():
    assert training.mixed_precision_policy("off") == "float32"
    assert training.mixed_precision_policy("bfloat16") == "mixed_bfloat16"
    assert training.mixed_precision_policy("auto") in ("float32", "mixed_bfloat16")
    with pytest.raises(ValueError, match="auto"):
        training.mixed_precision_policy("fp8")


def test_one_cycle_schedule_args_shape_the_curve():
    schedule = training.make_schedule("one_cycle", 1.0, 100, warmup=0.2, start_factor=0.2,
                                      end_factor=0.07)
    values = [float(schedule(step)) for step in (0, 20, 100)]
    np.testing.assert_allclose(values, [0.2, 1.0, 0.07], rtol=1e-6)


def test_test_time_augmentation_model_saves_and_grades_like_predict_logits(tmp_path):
    from course import grading

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
    images = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    wrapped = training.with_test_time_augmentation(model, translate=True)
    assert wrapped.input_shape == (None, 32, 32, 3) and wrapped.output_shape == (None, 10)
    path = grading.export_submission(wrapped, tmp_path / "model.keras", task_name="cifar10")
    loaded, problem = grading.load_submission(path)
    assert problem is None
    expected = training.predict_logits(model, images, tta_flip=True, tta_translate=True)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(expected, model.predict(images, verbose=0), atol=1e-3)


def test_create_in_precision_builds_bfloat16_and_restores_the_global_policy():
    model = training.create_in_precision("cifar100_reference", "bfloat16", num_classes=10)
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("block1_conv1").kernel.dtype == "float32"  # weights stay float32
    assert model.get_layer("logits").compute_dtype == "float32"  # scores for the loss
    assert keras.mixed_precision.dtype_policy().name == "float32"
