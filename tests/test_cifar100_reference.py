"""The reference solution network of the CIFAR-100 assignment."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import models, training


def _expected_trainable(classes, stem=24, widths=(48, 192, 192)):
    convs, c_in = 9 * 3 * stem, stem
    for w in widths:
        convs += 9 * c_in * w + 9 * w * w
        c_in = w
    bn = 2 * (stem + 2 * sum(widths))
    return convs + bn + widths[-1] * classes


@pytest.mark.parametrize("classes, total", [(100, 1_132_776), (10, 1_115_496)])
def test_parameter_counts(classes, total):
    model = models.create("cifar100_reference", num_classes=classes)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == _expected_trainable(classes)
    assert model.count_params() == total
    assert model.output_shape == (None, classes)


def test_stage_shapes():
    model = models.create("cifar100_reference")
    shapes = {name: tuple(model.get_layer(name).output.shape[1:])
              for name in ("stem_gelu", "block1_b_gelu", "block2_b_gelu", "block3_b_gelu")}
    assert shapes == {"stem_gelu": (32, 32, 24), "block1_b_gelu": (16, 16, 48),
                      "block2_b_gelu": (8, 8, 192), "block3_b_gelu": (4, 4, 192)}


def test_raw_pixels_in_trains_without_nan_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.create("cifar100_reference", num_classes=100)
    recipe = models.recipe("cifar100_reference")
    assert recipe.tta_flip and recipe.label_smoothing == 0.2 and "flip" in recipe.augment
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype("float32")
    y = np.arange(32) % 100
    training.compile_model(model, recipe, steps_per_epoch=4, epochs=1)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0),
                               atol=1e-4)


def test_rejects_greyscale_input():
    with pytest.raises(ValueError, match="3"):
        models.create("cifar100_reference", input_shape=(28, 28, 1))
