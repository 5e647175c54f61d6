"""Progressive resizing (``Recipe.progressive``) and the work a training run counts: each epoch
trains at its image side, a resumed run at the right one, the model keeps its fixed input and
gets the weights, and the FLOPs follow the multiply-adds of a convolution written out by hand."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from course import analysis, training
from course.recipes import Recipe


class SeenSide(keras.layers.Layer):
    """Remembers the height of the last training batch it saw."""

    def build(self, input_shape):
        self.side = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                    trainable=False, name="side")

    def call(self, x, training=False):
        if training:
            self.side.assign(keras.ops.cast(keras.ops.shape(x)[1], "int32"))
        return x


def _model():
    inputs = keras.Input((8, 8, 1), name="image")
    x = SeenSide(name="seen")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    x = keras.layers.GlobalMaxPooling2D(name="features")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="sided")


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(n, 8, 8, 1)).astype("float32")
    return (x, rng.integers(0, 3, n)), (x[:8], rng.integers(0, 3, 8))


class _Sides(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sides = []

    def on_epoch_end(self, epoch, logs=None):
        self.sides.append(int(keras.ops.convert_to_numpy(self.model.get_layer("seen").side)))


def _conv_macs(side):  # Conv2D(2, 3), valid: (side - 2)^2 positions x 3 x 3 x 1 input x 2 filters
    return (side - 2) ** 2 * 9 * 2 + 2 * 3  # + the dense layer, 2 x 3


RECIPE = Recipe(data=None, epochs=4, batch_size=16, learning_rate=1e-2,
                progressive=((4, 1), (6, 2)), precise_bn=False)


def test_each_epoch_trains_at_its_side_and_the_model_keeps_its_input_and_gets_the_weights():
    model, sides = _model(), _Sides()
    before = [w.copy() for w in model.get_weights()]
    result = training.train(RECIPE, _data(), model=model, callbacks=[sides], verbose=0,
                            fast=False)
    assert sides.sides == [4, 6, 6, 8]  # then the full side
    assert result.model is model and model.input_shape == (None, 8, 8, 1)
    assert not np.array_equal(model.get_layer("conv").kernel.numpy(), before[1])
    assert result.exported.input_shape == (None, 8, 8, 1)  # what a grader checks
    # 40 images in batches of 16: 32 trained per epoch (the shuffled remainder is dropped)
    assert result.metrics["training_flops"] == [6 * _conv_macs(s) * 32 for s in (4, 6, 6, 8)]


def test_a_resumed_run_continues_at_the_side_of_its_epoch(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train(RECIPE, _data(), model=_model(), out=tmp_path, callbacks=[Interrupt()],
                       verbose=0, fast=False)
    sides = _Sides()
    training.train(RECIPE, _data(), model=_model(), out=tmp_path, callbacks=[sides], verbose=0,
                   fast=False)
    assert sides.sides == [6, 8]  # epochs 3 and 4, not the schedule's start


def test_shorter_runs_keep_the_start_of_the_schedule_and_end_at_full_size():
    sides = _Sides()
    result = training.train(RECIPE, _data(), model=_model(), epochs=3, callbacks=[sides],
                            verbose=0, fast=False)
    assert sides.sides == [4, 6, 8] and result.metrics["epochs"] == 3
    sides = _Sides()
    training.train(RECIPE, _data(), model=_model(), epochs=1, callbacks=[sides], verbose=0,
                   fast=False)
    assert sides.sides == [8]
    sides = _Sides()  # fast mode (COURSE_FAST=1): one epoch, so at full size
    training.train(RECIPE, _data(), model=_model(), callbacks=[sides], verbose=0, fast=True)
    assert sides.sides == [8]


@pytest.mark.parametrize("stages, problem", [
    (((16, 2), (24, 3)), "last 5 epochs, more than the recipe's 4"),
    ((16, 24), "pairs"),
    (((0, 1),), ">= 1"),
])
def test_a_wrong_schedule_is_refused_when_the_recipe_is_made(stages, problem):
    with pytest.raises(ValueError, match=problem):
        Recipe(epochs=4, progressive=stages)


def test_it_refuses_what_it_cannot_resize():
    (x, y), test = _data()
    with pytest.raises(ValueError, match="square images"):
        training.train(RECIPE, ((x[:, :, :6], y), None), model=_model(), verbose=0, fast=False)
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, images):
            return self.dense(keras.ops.mean(images, axis=(1, 2)))

    subclassed = Subclassed()
    subclassed(x[:1])
    with pytest.raises(ValueError, match="functional API"):
        training.train(RECIPE, ((x, y), None), model=subclassed, verbose=0, fast=False)
    pipeline = __import__("course").data.pipeline(x, y, batch_size=16)
    with pytest.raises(ValueError, match="your tf.data pipeline"):
        training.train(RECIPE, (pipeline, test), model=_model(), verbose=0, fast=False)


def test_multiply_adds_at_another_side_match_the_hand_count_and_unknown_shapes_give_none():
    model = _model()
    assert analysis.multiply_adds(model) == _conv_macs(8)
    assert analysis.multiply_adds(model, 5) == _conv_macs(5)
    assert analysis.training_flops(model, 10, [5, None]) == [60 * _conv_macs(5),
                                                             60 * _conv_macs(8)]
    inputs = keras.Input((None, None, 1))
    flexible = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    assert analysis.multiply_adds(flexible) is None
    assert analysis.training_flops(flexible, 10, [None]) is None
