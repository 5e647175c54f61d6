"""The reference solution network of the CIFAR-100 assignment (instructor material)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import instructor.reference  # noqa: F401  (registers the answer keys)
from course import layers, models, recipes, training


def _expected_trainable(classes, whiten=24, widths=(64, 256, 256)):
    convs, c_in = 0, whiten
    for w in widths:
        convs += 9 * c_in * w + 9 * w * w
        c_in = w
    bn_shifts = 2 * sum(widths)  # batch norms learn only their shift (scale=False)
    return whiten + convs + bn_shifts + widths[-1] * classes  # + whitening bias


@pytest.mark.parametrize("classes, total", [(100, 1_996_985), (10, 1_973_945)])
def test_parameter_counts(classes, total):
    model = models.create("cifar100_reference", num_classes=classes)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == _expected_trainable(classes)
    # Frozen: the 2x2x3x24 whitening kernel and its "adapted" flag, BN moving mean/variance.
    assert model.count_params() - trainable == 288 + 1 + 4 * (64 + 256 + 256)
    assert model.count_params() == total
    assert model.output_shape == (None, classes)


def test_the_assignment_recipe_builds_the_narrow_relu_network():
    recipe = recipes.get("cifar100_reference")
    model = recipe.create()
    widths = recipe.model_args["widths"]
    assert widths == (64, 128, 256) and recipe.model_args["activation"] == "relu"
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == _expected_trainable(100, widths=widths) == 1_183_128
    assert model.count_params() - trainable == 288 + 1 + 4 * sum(widths)
    relus = [l.name for l in model.layers if l.name.startswith(("whiten_", "block"))
             and isinstance(l, keras.layers.Activation)]
    assert relus == ["whiten_relu"] + [f"block{b}_relu{i}" for b in (1, 2, 3) for i in (1, 2)]
    assert all(model.get_layer(n).get_config()["activation"] == "relu" for n in relus)
    # the long setting: airbench94's full widths with ReLU for 22 epochs of batch 512
    long = recipes.get("cifar100_long")
    assert (long.epochs, long.batch_size, long.model_args) == (22, 512, {"activation": "relu"})
    assert long.learning_rate / long.batch_size == recipe.learning_rate / recipe.batch_size
    # both build the same registered network; each recipe knows its own name (metrics.json)
    assert (recipe.name, long.name) == ("cifar100_reference", "cifar100_long")
    assert recipe.model == long.model == "cifar100_reference"


def test_stage_shapes():
    model = models.create("cifar100_reference")
    shapes = {name: tuple(model.get_layer(name).output.shape[1:])
              for name in ("whiten_gelu", "block1_gelu2", "block2_gelu2", "block3_gelu2")}
    assert shapes == {"whiten_gelu": (31, 31, 24), "block1_gelu2": (15, 15, 64),
                      "block2_gelu2": (7, 7, 256), "block3_gelu2": (3, 3, 256)}


def test_convolutions_start_as_partial_identities():
    model = models.create("cifar100_reference")
    x = np.random.default_rng(0).normal(size=(2, 15, 15, 64)).astype("float32")
    conv = model.get_layer("block1_conv2")  # 64 -> 64: a full identity
    np.testing.assert_allclose(conv(x), x, atol=1e-6)
    widen = model.get_layer("block2_conv1")  # 64 -> 256: first 64 channels copy the input
    out = np.asarray(widen(x))
    np.testing.assert_allclose(out[..., :64], x, atol=1e-6)
    assert np.abs(out[..., 64:]).mean() > 0.01


def test_raw_pixels_in_trains_without_nan_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.create("cifar100_reference", num_classes=100)
    recipe = recipes.get("cifar100_reference")
    assert recipe.tta == "flip_shift" and recipe.lookahead
    assert recipe.label_smoothing == 0.2 and "flip" in recipe.augment
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype("float32")
    assert layers.adapt_layers(model, x) == ["whiten"]
    y = np.arange(32) % 100
    training.compile_for(model, recipe, 4)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0),
                               atol=1e-4, equal_nan=False)


def test_rejects_greyscale_input():
    with pytest.raises(ValueError, match="3"):
        models.create("cifar100_reference", input_shape=(28, 28, 1))
