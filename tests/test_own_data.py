"""Recipes on data the caller brings (course.inputs): arrays or a tf.data pipeline, with a recipe
that names no built-in data set (``data=None``), and the errors when no data is given."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course import evaluation, recipes, training
from course.recipes import Recipe

#: a small registered architecture that takes any image size and number of classes
OWN = Recipe(model="cifar_strided", data=None, model_args={"widths": (8, 8, 8)}, epochs=4,
             batch_size=16, learning_rate=1e-2, schedule="constant")


def _colours(n, seed):
    """16x16 RGB noise; class k (of 3) has channel k brighter: a task of our own."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 160, (n, 16, 16, 3))
    x[np.arange(n), :, :, y] += 90
    return x.astype("uint8"), y


def test_a_recipe_without_a_data_set_trains_a_named_model_on_arrays():
    train, test = _colours(192, 0), _colours(96, 1)
    result = training.train(OWN, (train, test), fast=False, verbose=0)
    assert result.model.input_shape == (None, 16, 16, 3)  # read off the arrays,
    assert result.model.output_shape == (None, 3)  # and the classes off the labels
    assert result.metrics["data"] == "arrays" and result.metrics["train_images"] == 192
    assert result.metrics["test_accuracy"] > 0.8  # chance: 1/3


def _pipeline(split, batch):
    return tf.data.Dataset.from_tensor_slices(split).batch(batch)


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def on_train_batch_begin(self, batch, logs=None):
        self.sizes.append(batch)


def test_a_recipe_trains_on_a_tf_data_pipeline_as_it_is():
    train, test = _colours(200, 0), _colours(96, 1)
    counted = _Batches()
    recipe = OWN.replace(model_args={"num_classes": 3}, augment=("flip",))
    result = training.train(recipe, (_pipeline(train, 32), _pipeline(test, 40)),
                            validation_data=_pipeline(test, 50), callbacks=[counted],
                            fast=False, verbose=0)
    assert counted.sizes == list(range(7)) * 4  # its own 7 batches of 32 (the last 8), 4 epochs
    assert result.metrics["data"] == "a tf.data pipeline"
    assert result.model.output_shape == (None, 3)
    assert len(result.history["val_accuracy"]) == 4
    on_arrays = evaluation.evaluate_accuracy(result.exported, *test)
    assert result.metrics["test_accuracy"] == pytest.approx(on_arrays)
    assert result.metrics["test_accuracy"] > 0.8


def test_greyscale_batches_get_their_channel_axis():
    x = np.random.default_rng(0).uniform(0, 255, (64, 8, 8)).astype("float32")
    y = (x.mean((1, 2)) > 127).astype("int64")
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten(name="features")(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(flat))
    result = training.train(OWN.replace(epochs=1), _pipeline((x, y), 16), model=model,
                            fast=False, verbose=0)
    assert result.metrics["test_accuracy"] is None and len(result.history["loss"]) == 1


def test_no_data_anywhere_says_what_to_pass():
    with pytest.raises(ValueError, match=r"names no data set \(data=None\) and train\(\) got no "
                                         r"data.*tf\.data\.Dataset"):
        training.train(OWN, verbose=0)
    with pytest.raises(ValueError, match="cannot tell the model's input_shape and num_classes"):
        OWN.create()
    with pytest.raises(ValueError, match="names no data set"):
        OWN.input_shape()
    with pytest.raises(ValueError, match="python -m course train` needs one"):
        recipes.register("own_colours", OWN)
    assert "own_colours" not in recipes.names()


def test_pipelines_train_cannot_use_are_refused_with_the_fix():
    train = _colours(64, 0)
    single = tf.data.Dataset.from_tensor_slices(train)
    with pytest.raises(ValueError, match=r"single examples.*dataset\.batch"):
        training.train(OWN, single, verbose=0)
    with pytest.raises(ValueError, match=r"infinite \(remove \.repeat\(\)\)"):
        training.train(OWN.replace(model_args={"num_classes": 3}),
                       _pipeline(train, 16).repeat(), verbose=0)
    with pytest.raises(ValueError, match="num_classes"):  # a pipeline's labels are not read
        training.train(OWN, _pipeline(train, 16), verbose=0)
    with pytest.raises(ValueError, match="validation_split cannot split a tf.data pipeline"):
        training.train(OWN.replace(validation_split=0.1, model_args={"num_classes": 3}),
                       _pipeline(train, 16), verbose=0)
