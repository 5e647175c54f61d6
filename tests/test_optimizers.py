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
