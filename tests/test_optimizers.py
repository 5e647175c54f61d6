"""course.optimizers and course.precision: schedules, discriminative SGD, dtype policies."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import optimizers, precision
from course.recipes import Recipe


def test_one_cycle_rises_then_falls():
    schedule = optimizers.OneCycle(0.1, total_steps=100, warmup=0.25, start_factor=0.1)
    values = [float(schedule(step)) for step in (0, 25, 50, 100)]
    assert values == pytest.approx([0.01, 0.1, 0.1 * (1 - 25 / 75), 0.0], abs=1e-6)
    again = optimizers.OneCycle.from_config(schedule.get_config())
    assert float(again(60)) == pytest.approx(float(schedule(60)))


def test_one_cycle_schedule_args_shape_the_curve():
    schedule = optimizers.make_schedule("one_cycle", 1.0, 100, warmup=0.2, start_factor=0.2,
                                        end_factor=0.07)
    values = [float(schedule(step)) for step in (0, 20, 100)]
    np.testing.assert_allclose(values, [0.2, 1.0, 0.07], rtol=1e-6)


def test_step_and_cosine_schedules():
    step = optimizers.make_schedule("step", 1.0, 100)
    assert [float(step(s)) for s in (0, 60, 90)] == pytest.approx([1.0, 0.1, 0.01])
    cosine = optimizers.make_schedule("cosine", 1.0, 100)
    assert float(cosine(50)) == pytest.approx(0.5, abs=1e-6)
    warm = optimizers.make_schedule("cosine", 1.0, 100, warmup=0.2)
    assert [float(warm(s)) for s in (0, 10, 20, 60, 100)] == pytest.approx(
        [0.0, 0.5, 1.0, 0.5, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="one_cycle"):
        optimizers.make_schedule("warp", 1.0, 10)


def _bn_model():
    inputs = keras.Input((2,))
    bn = keras.layers.BatchNormalization(scale=False)
    return keras.Model(inputs, keras.layers.Dense(1)(bn(inputs))), bn


def test_sgd_gives_batch_norm_shifts_their_learning_rate_multiplier():
    model, bn = _bn_model()
    recipe = Recipe(optimizer="sgd", learning_rate=0.1, schedule="constant",
                    bn_shift_lr_multiplier=64.0, momentum=0.0)
    optimizer = optimizers.make_optimizer(recipe, 10, model)
    assert optimizer.multipliers == {bn.beta.path: 64.0}
    dense = model.layers[-1]
    before = {v.path: np.asarray(v).copy() for v in model.trainable_variables}
    optimizer.apply([keras.ops.ones(v.shape, v.dtype) for v in model.trainable_variables],
                    model.trainable_variables)
    assert np.allclose(before[bn.beta.path] - np.asarray(bn.beta), 6.4)
    assert np.allclose(before[dense.bias.path] - np.asarray(dense.bias), 0.1)


def test_discriminative_sgd_equals_sgd_with_a_scaled_rate_including_momentum():
    keras.utils.set_random_seed(0)
    model, _ = _bn_model()
    kernel = model.layers[-1].kernel
    start = [np.asarray(v).copy() for v in model.trainable_variables]
    grads = [np.random.default_rng(i).normal(size=v.shape).astype("float32")
             for i, v in enumerate(model.trainable_variables)]

    index = [v.path for v in model.trainable_variables].index(kernel.path)

    def run(optimizer, variables, gradients):
        for _ in range(3):
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in gradients], variables)
        return [np.asarray(v).copy() for v in variables]

    ours = run(optimizers.DiscriminativeSGD({kernel.path: 0.25}, learning_rate=0.1, momentum=0.9,
                                            nesterov=True), model.trainable_variables, grads)
    for v, s in zip(model.trainable_variables, start):
        v.assign(s)
    plain = keras.optimizers.SGD(0.1 * 0.25, momentum=0.9, nesterov=True)
    reference = run(plain, [kernel], [grads[index]])
    np.testing.assert_allclose(ours[index], reference[0], rtol=1e-6)
    clone = optimizers.DiscriminativeSGD.from_config(
        optimizers.DiscriminativeSGD({kernel.path: 0.25}).get_config())
    assert clone.multipliers == {kernel.path: 0.25}


def test_multipliers_need_sgd():
    with pytest.raises(ValueError, match="sgd"):
        Recipe(optimizer="adam", bn_shift_lr_multiplier=2.0)


def test_auto_precision_follows_the_cpu_flags(monkeypatch):
    assert precision.policy_name("off") == "float32"
    assert precision.policy_name("bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "native_bfloat16", lambda: True)
    assert precision.policy_name("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    assert precision.policy_name("auto") == "float32"
    with pytest.raises(ValueError, match="auto"):
        precision.policy_name("fp8")


def test_native_bfloat16_reads_cpu_flags(monkeypatch, tmp_path):
    from pathlib import Path

    fake = tmp_path / "cpuinfo"
    real_read = Path.read_text

    def read_text(self, *args, **kwargs):
        return real_read(fake) if str(self) == "/proc/cpuinfo" else real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    fake.write_text("flags : fpu avx2 avx512f\n")
    assert precision.native_bfloat16() is False
    fake.write_text("flags : fpu avx2 avx512f avx512_bf16\n")
    assert precision.native_bfloat16() is True


def test_create_in_bfloat16_restores_the_global_policy():
    model = precision.create("cifar_strided", "bfloat16", widths=(8, 8, 8))
    conv = model.get_layer("stage1_conv1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert keras.mixed_precision.dtype_policy().name == "float32"


@pytest.mark.parametrize("shape", [(64, 200), (300, 32)])
def test_orthogonalized_is_near_the_orthogonal_factor_of_the_svd(shape):
    matrix = np.random.default_rng(0).normal(size=shape).astype("float32")
    u, _, vt = np.linalg.svd(matrix, full_matrices=False)
    ours = keras.ops.convert_to_numpy(optimizers.orthogonalized(keras.ops.convert_to_tensor(matrix)))
    singular = np.linalg.svd(ours, compute_uv=False)
    assert singular.min() > 0.6 and singular.max() < 1.25  # all near 1 (Newton-Schulz's band)
    cosine = np.sum(ours * (u @ vt)) / np.linalg.norm(ours) / np.linalg.norm(u @ vt)
    assert cosine > 0.95


def test_muon_sgd_orthogonalizes_kernel_steps_and_is_sgd_elsewhere():
    rng = np.random.default_rng(0)
    kernel = keras.Variable(rng.normal(size=(3, 3, 8, 16)).astype("float32"))
    bias = keras.Variable(rng.normal(size=(16,)).astype("float32"))
    start = [np.asarray(kernel).copy(), np.asarray(bias).copy()]
    grads = [rng.normal(size=v.shape).astype("float32") for v in (kernel, bias)]
    muon = optimizers.MuonSGD(kernel_rate_factor=2.0, kernel_momentum=0.5, learning_rate=0.1,
                              momentum=0.9, nesterov=True)
    muon.apply([keras.ops.convert_to_tensor(g) for g in grads], [kernel, bias])
    plain = keras.Variable(start[1])
    keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True).apply(
        [keras.ops.convert_to_tensor(grads[1])], [plain])
    np.testing.assert_allclose(np.asarray(bias), np.asarray(plain), rtol=1e-6)
    rescaled = start[0] * 4 / np.linalg.norm(start[0])  # norm sqrt(16 filters)
    step = ((rescaled - np.asarray(kernel)) / (0.1 * 2.0)).reshape(72, 16)
    singular = np.linalg.svd(step, compute_uv=False)
    assert singular.min() > 0.6 and singular.max() < 1.25
    u, _, vt = np.linalg.svd(grads[0].reshape(72, 16), full_matrices=False)  # first step: 1.5 g
    assert np.sum(step * (u @ vt)) / np.linalg.norm(step) / np.linalg.norm(u @ vt) > 0.95
    clone = optimizers.MuonSGD.from_config(muon.get_config())
    assert (clone.kernel_rate_factor, clone.kernel_momentum) == (2.0, 0.5)


def test_optimizer_args_are_for_muon_only():
    with pytest.raises(ValueError, match="optimizer='muon'"):
        Recipe(optimizer="sgd", optimizer_args={"kernel_momentum": 0.5})
    with pytest.raises(ValueError, match="kernel_rate_factor"):
        Recipe(optimizer="muon", optimizer_args={"rate": 0.5})


def test_a_muon_recipe_trains_a_conv_net(mnist):
    from course import training

    (x, y), (x_test, y_test) = mnist
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Rescaling(1 / 255)(inputs)
    h = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(scale=False)(h))
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(
        keras.layers.Flatten(name="features")(h)))
    recipe = Recipe(data=None, optimizer="muon", learning_rate=0.05, batch_size=64, epochs=2,
                    momentum=0.85, bn_shift_lr_multiplier=16.0, precise_bn=False,
                    optimizer_args={"kernel_rate_factor": 1.0})
    result = training.train(recipe, ((x[:2048], y[:2048]), (x_test[:500], y_test[:500])),
                            model=model, verbose=0)
    assert isinstance(model.optimizer, optimizers.MuonSGD)
    assert result.metrics["test_accuracy"] > 0.75  # chance: 0.1; measured 0.87 (SGD: 0.86)
