"""Weight penalties and transfer-learning helpers."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import regularization as reg
from course import transfer
from course.optimizers import DiscriminativeSGD


def _model():
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3, name="early")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(4, name="middle")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


@pytest.mark.parametrize("regularizer, formula", [
    (reg.l2(0.01), lambda w: 0.01 * np.sum(w ** 2)),
    (reg.l1(0.01), lambda w: 0.01 * np.sum(np.abs(w))),
    (reg.elastic_net(0.01, 0.02), lambda w: 0.01 * np.sum(np.abs(w)) + 0.02 * np.sum(w ** 2)),
])
def test_penalty_on_every_kernel(regularizer, formula):
    base = _model()
    model = reg.with_regularizer(base, regularizer)
    x = np.zeros((1, 6, 6, 1), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), base.predict(x, verbose=0),
                               equal_nan=False)
    kernels = [np.asarray(l.kernel) for l in model.layers if hasattr(l, "kernel")]
    assert reg.penalty(model) == pytest.approx(sum(formula(k) for k in kernels), rel=1e-5)
    assert reg.penalty(base) == 0


def test_freeze_and_unfreeze():
    model = transfer.freeze(_model(), up_to="middle")
    assert [l.trainable for l in model.layers[1:]] == [False, False, True, True]
    assert len(model.trainable_weights) == 4
    transfer.unfreeze(model)
    assert len(model.trainable_weights) == 6
    with pytest.raises(ValueError, match="No layer named 'nope'"):
        transfer.freeze(model, up_to="nope")


def test_discriminative_rates_move_groups_1x_01x_001x(tmp_path):
    keras.utils.set_random_seed(0)
    model = _model()
    multipliers = transfer.layer_multipliers(
        model, [(None, 0.01), ("middle", 0.1), ("head", 1.0)])
    optimizer = DiscriminativeSGD(multipliers=multipliers, learning_rate=0.1)
    plain = keras.optimizers.SGD(learning_rate=0.1)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.compile(plain, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 1)).astype("float32")
    y = np.arange(8) % 3
    before = model.get_weights()
    model.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    for layer, mult in (("early", 0.01), ("middle", 0.1), ("head", 1.0)):
        i = [v.path for v in model.weights].index(model.get_layer(layer).kernel.path)
        ours = model.get_weights()[i] - before[i]
        full = twin.get_weights()[i] - before[i]
        np.testing.assert_allclose(ours, mult * full, rtol=1e-4, atol=1e-7)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.optimizer.multipliers == multipliers
