"""The check every architecture test shares: one training step changes the weights and gives a
finite loss and finite predictions, and the saved ``.keras`` file reloads (safe mode) to the same
predictions.

The step runs eagerly and predictions are plain calls: tracing a train function costs several
times the step itself (Inception-v3 at 75x75, batch 2: 6.6 s traced vs 1.2 s eager, and 1.0 s
for ``predict``'s trace vs 0.3 s per call). The layers' graph path is not lost: building a
functional model already runs every layer's ``call`` symbolically, and the lessons and
``test_training.py`` train with traced steps."""
from __future__ import annotations

import keras
import numpy as np


def trains_a_step_and_round_trips(model, x, y, tmp_path):
    # SGD with the gradient's global norm clipped to 1: batch norm over the 2 values of a 1x1
    # grid at batch 2 multiplies gradients by up to 1e7 in the deep Inceptions (in
    # keras.applications.InceptionV3 too), and one plain step then sends their predictions to
    # NaN. A NaN gradient still makes NaN weights.
    model.compile(keras.optimizers.SGD(0.01, global_clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss), f"{model.name}: loss {loss} after one step"
    moved = sum(not np.array_equal(keras.ops.convert_to_numpy(w), b)
                for w, b in zip(model.trainable_weights, before))
    assert moved == len(before), f"{model.name}: {len(before) - moved} weights did not move"
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    # assert_allclose counts NaN == NaN as equal: without this a model that breaks passes
    assert np.isfinite(expected).all(), f"{model.name}: predictions not finite after one step"
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x, training=False)), expected,
                               atol=1e-4)
