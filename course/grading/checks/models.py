"""Checks of models, layers and fine-tuning that the graded cells of exercises 04, 07 and 08 call
(through ``course.grading.checks``, which re-exports them).

- models: ``check_layers`` (output shapes and parameters of named layers), ``check_params``,
  ``check_accuracy``, ``check_small_resnet`` (exercise 04's bars);
- augmentation layers: ``check_inference_identity``, ``check_seeded``, ``check_crop_flip``,
  ``check_whitening``, ``check_config``;
- transfer learning: ``shared_layers`` (the new model shares no weights with the pretrained
  one: the kernel's word, see its docstring), ``check_discriminative_rates``, ``check_margin``.

Each raises ``GradingError`` with what is wrong and what to do, and prints one ``PASS`` line
otherwise. Importing this module does not import TensorFlow.
"""
from __future__ import annotations

import numpy as np

from course import config
from course.grading.checks.helpers import call_checked, check_array, kernel_side
from course.grading.contract import GradingError

# ---------------------------------------------------------------------------------------------
# Models


def _model(obj, what):
    import keras

    if not isinstance(obj, (keras.Model, keras.layers.Layer)):
        raise GradingError(f"{what} is a {type(obj).__name__}, expected a Keras model. Return "
                           "keras.Model(inputs, outputs).")
    return obj


def check_params(what: str, model, expected: int, hint: str = "") -> None:
    """``model.count_params()`` (weights, biases and batch-norm statistics) equals ``expected``."""
    got = call_checked(_model(model, what).count_params, what=f"{what}.count_params()")
    if got != expected:
        raise GradingError(f"{what} has {got:,} parameters, expected {expected:,} "
                           f"({got - expected:+,}). {hint}".strip())
    print(f"PASS: {what} has {got:,} parameters.")


def check_layers(model, expected: dict, hint: str = "") -> None:
    """Every named layer exists, has output shape ``shape`` and ``params`` parameters:
    ``expected = {name: (shape, params)}``, with ``None`` for the batch dimension."""
    model = _model(model, "the model")
    names = [layer.name for layer in model.layers]
    for name, (shape, params) in expected.items():
        if name not in names:
            raise GradingError(
                f"The model has no layer named {name!r}. Give your layers the names of the "
                f"instructions (name=...). Its layers: {', '.join(names)}.")
        layer = model.get_layer(name)
        out = getattr(layer.output, "shape", None)
        if out is not None and tuple(out) != tuple(shape):
            raise GradingError(f"Layer {name!r} outputs shape {tuple(out)}, expected "
                               f"{tuple(shape)}. {hint}".strip())
        if params is not None and layer.count_params() != params:
            raise GradingError(f"Layer {name!r} has {layer.count_params():,} parameters, "
                               f"expected {params:,}. {hint}".strip())
    print(f"PASS: {len(expected)} layers have the expected shapes and parameters.")


#: Exercise 04's small ResNet on CIFAR-10 (the suggested network: three basic blocks, about
#: 79,000 parameters; Adam at 3e-3, one-cycle, batch 64, flips): what the solution reaches in
#: fast and full mode, per seed, is measured by ``benchmarks/exercise_bars.py``
#: (``benchmarks/results/exercise_bars.md``), which the exercise quotes. Chance is 10%.
SMALL_RESNET_MIN_ACCURACY = 0.60
SMALL_RESNET_FAST_MIN_ACCURACY = 0.30


def check_accuracy(model, x, y, bar: float, what: str = "test accuracy",
                   hint: str = "") -> float:
    """Top-1 accuracy of ``model`` on raw images ``x`` is at least ``bar``."""
    from course.evaluation import evaluate_accuracy

    accuracy = call_checked(evaluate_accuracy, (_model(model, "model"), x, y),
                     what="evaluating your model")
    mode = " (fast mode)" if config.is_fast() else ""
    if accuracy < bar:
        raise GradingError(
            f"{what.capitalize()}{mode} is {accuracy:.2%} on {len(x):,} images, the bar is "
            f"{bar:.0%}. {hint}".strip())
    print(f"PASS: {what}{mode} {accuracy:.2%} >= {bar:.0%} ({len(x):,} images).")
    return accuracy


def check_small_resnet(model, x, y, hint: str = "") -> float:
    """Exercise 04: the trained small ResNet's test accuracy is at least
    ``SMALL_RESNET_MIN_ACCURACY`` (fast mode: ``SMALL_RESNET_FAST_MIN_ACCURACY``, a smoke bar);
    the bars are fixed here, not in the notebook."""
    bar = SMALL_RESNET_FAST_MIN_ACCURACY if config.is_fast() else SMALL_RESNET_MIN_ACCURACY
    return check_accuracy(model, x, y, bar, what="test accuracy", hint=hint)


# ---------------------------------------------------------------------------------------------
# Augmentation layers


def _numpy(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def check_inference_identity(layer, images) -> None:
    """``layer(images)`` and ``layer(images, training=False)`` return the images unchanged."""
    for kwargs in ({}, {"training": False}):
        out = _numpy(call_checked(layer, (images,), kwargs, what=f"{layer.name}(images, {kwargs})"))
        if out.shape != images.shape or not np.array_equal(out, images):
            raise GradingError(
                f"{layer.name}(images{', training=False' if kwargs else ''}) changed the images "
                f"(shape {out.shape}, input {images.shape}): augmentation happens only with "
                "training=True; at inference the layer returns its input as it is.")
    print(f"PASS: {layer.name} is the identity at inference.")


def check_seeded(make_layer, images) -> None:
    """Same seed, same augmentation; another seed or the next call, another one."""
    a, b, c = (call_checked(make_layer, (), {"seed": seed}, what=f"making the layer with seed={seed}")
               for seed in (1, 1, 2))
    out_a = _numpy(call_checked(a, (images,), {"training": True}, what="layer(images, training=True)"))
    out_b = _numpy(b(images, training=True))
    if not np.array_equal(out_a, out_b):
        raise GradingError("Two layers made with the same seed augment the same batch "
                           "differently. Draw every random number from one "
                           "keras.random.SeedGenerator(seed) created in __init__.")
    if np.array_equal(out_a, _numpy(c(images, training=True))):
        raise GradingError("Layers made with seeds 1 and 2 gave the same augmentation: the seed "
                           "is not used. Pass seed=self.seed_generator to keras.random calls.")
    if np.array_equal(out_a, _numpy(a(images, training=True))):
        raise GradingError("Calling the layer twice on the same batch gave the same augmentation: "
                           "a fixed seed number makes every batch alike. Use "
                           "seed=self.seed_generator (it advances after each call).")
    print("PASS: seeded layers repeat their augmentation; other seeds and later calls differ.")


def check_crop_flip(out, images, padding: int) -> dict:
    """Every output image is a crop of the zero-padded input, possibly mirrored; offsets and
    flips vary from image to image. Returns counts (flipped, offsets seen)."""
    out = _numpy(out)
    if out.shape != images.shape:
        raise GradingError(f"The augmented batch has shape {out.shape}, expected "
                           f"{images.shape}: pad, then crop back to the input size.")
    p = padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = images.shape[1:3]
    flips, offsets = 0, set()
    for i in range(len(images)):
        found = None
        for dy in range(2 * p + 1):
            for dx in range(2 * p + 1):
                crop = padded[i, dy:dy + h, dx:dx + w]
                if np.allclose(out[i], crop, atol=1e-4):
                    found = (dy, dx, False)
                elif np.allclose(out[i], crop[:, ::-1], atol=1e-4):
                    found = (dy, dx, True)
                if found:
                    break
            if found:
                break
        if found is None:
            raise GradingError(
                f"Augmented image {i} is not a {h}x{w} crop of the input padded with {p} zeros "
                "on each side, nor its mirror image. Pad with zeros, cut a window at a random "
                "offset in 0..2*padding, and flip left-right (the width axis).")
        offsets.add(found[:2])
        flips += found[2]
    n = len(images)
    low, high = n / 2 - 3 * np.sqrt(n) / 2, n / 2 + 3 * np.sqrt(n) / 2  # three sigmas
    if not low <= flips <= high:
        raise GradingError(f"{flips} of {n} images were mirrored, expected about half (between "
                           f"{low:.0f} and {high:.0f}). Flip each image with probability 0.5.")
    if len(offsets) < min(n, (2 * p + 1) ** 2) // 4:
        raise GradingError(f"Only {len(offsets)} different crop offsets in {n} images: draw "
                           "the offsets per image, uniformly in 0..2*padding.")
    print(f"PASS: every image is a crop (of {len(offsets)} different offsets) of the padded "
          f"input; {flips} of {n} mirrored.")
    return {"flipped": int(flips), "offsets": len(offsets)}


def check_whitening(out, images) -> None:
    """Per-image standardization: equal to ``tf.image.per_image_standardization``."""
    import tensorflow as tf

    expected = tf.image.per_image_standardization(np.asarray(images, np.float32)).numpy()
    check_array("the whitened images", out, expected, atol=1e-4, rtol=1e-4,
                hint="Subtract each image's mean over all its pixels and channels, divide by "
                     "max(std, 1/sqrt(number of values)).")


@kernel_side
def config_round_trip(layer) -> tuple:
    """``(layer.get_config(), type(layer).from_config(that).get_config())``."""
    config_ = call_checked(layer.get_config, what=f"{type(layer).__name__}.get_config()")
    again = call_checked(type(layer).from_config, (config_,), what="from_config(get_config())")
    return config_, again.get_config()


def check_config(layer, **expected) -> None:
    """``get_config`` holds the constructor arguments and ``from_config`` rebuilds the layer."""
    config_, again = config_round_trip(layer)
    if not isinstance(config_, dict):
        raise GradingError(f"get_config() returned a {type(config_).__name__}, expected a dict.")
    for key, value in expected.items():
        if config_.get(key) != value:
            raise GradingError(f"get_config() has {key}={config_.get(key)!r}, expected {value!r}. "
                               "Return {**super().get_config(), ...} with every __init__ "
                               "argument.")
    if again != config_:
        raise GradingError("from_config(layer.get_config()) builds a layer with another config.")
    print(f"PASS: {type(layer).__name__}.get_config() round-trips.")


@kernel_side
def layer_outputs(layer, images, training: bool = False):
    """``layer`` inside a compiled model: ``keras.Model(inputs, layer(inputs, training))``'s
    ``predict(images)``, as a NumPy array."""
    import keras

    images = np.asarray(images)

    def run():
        inputs = keras.Input(images.shape[1:])
        model = keras.Model(inputs, layer(inputs, training=training))
        return np.asarray(model.predict(images, verbose=0))

    return call_checked(run, what=f"{type(layer).__name__} inside a compiled model")


@kernel_side
def pipeline_batches(augment, images, labels, batch_size: int) -> list:
    """The ``(images, labels)`` batches of ``course.data.pipeline(images, labels, batch_size,
    augment=augment)``, as NumPy arrays: the layer inside a ``tf.data`` map."""
    from course import data

    def run():
        dataset = data.pipeline(images, labels, batch_size=batch_size, shuffle=False,
                                augment=augment)
        return [(np.asarray(x), np.asarray(y)) for x, y in dataset]

    return call_checked(run, what=f"data.pipeline with {type(augment).__name__}")


@kernel_side
def fit_one_epoch(stack, images, labels, batch_size: int = 32) -> float:
    """The layers of ``stack`` (in order) between an input and a 10-way dense head, trained one
    epoch with SGD (a compiled train step); returns the last loss."""
    import keras

    images = np.asarray(images)

    def run():
        inputs = keras.Input(images.shape[1:])
        x = inputs
        for layer in stack:
            x = layer(x)
        model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
        return float(history.history["loss"][-1])

    names = ", ".join(type(layer).__name__ for layer in stack)
    return call_checked(run, what=f"training a model with {names} for one epoch")


# ---------------------------------------------------------------------------------------------
# Transfer learning


@kernel_side
def shared_weights(make_model, pretrained) -> list[str]:
    """The names of the layers of ``make_model(pretrained)`` that hold one of ``pretrained``'s
    own weight variables (a layer object reused, or its variables): training the new model
    would change the pretrained one. Runs where the objects live (``kernel_side``)."""
    model = call_checked(make_model, (pretrained,))
    own = {id(variable) for variable in pretrained.weights}
    return [layer.name for layer in getattr(model, "layers", [])
            if any(id(variable) in own for variable in layer.weights)]


def shared_layers(make_model, pretrained) -> list[str]:
    """``shared_weights`` (the layers of ``make_model(pretrained)`` that share weights with
    ``pretrained``), as a list of names; any other answer from the kernel fails the check.

    When autograded, this is the one figure of the course's checks that the judge takes from the
    student's kernel: which objects share memory there is a fact of that process, which no data
    it sends can prove (a kernel that lies can load a second copy of what the judge sent and
    answer about that one). The judge checks the rest itself, on the model loaded from its
    ``.keras`` file: ``docs/instructors.md``, "Where the judge must trust the kernel"."""
    names = shared_weights(make_model, pretrained)
    if type(names) is not list or not all(type(name) is str for name in names):
        raise GradingError("Which layers share weights with `pretrained` could not be checked: "
                           "the kernel's answer is not a list of layer names.")
    return names


def check_discriminative_rates(recipe, model) -> list:
    """The recipe fine-tunes with discriminative rates: SGD, at least two groups, the earliest
    layers slower than the new head, every named layer present in ``model``. Returns the
    groups."""
    from course.recipes import Recipe

    if not isinstance(recipe, Recipe):
        raise GradingError(f"recipe is a {type(recipe).__name__}, expected a "
                           "course.recipes.Recipe.")
    groups = list(recipe.layer_lr_multipliers)
    if len(groups) < 2:
        raise GradingError(
            "The recipe has no discriminative learning rates: set layer_lr_multipliers="
            "((None, early), ('a middle layer', middle), ('new_logits', 1.0)) with early < "
            "middle < 1 (lesson 14).")
    names = {layer.name for layer in model.layers}
    for name, _ in groups:
        if name is not None and name not in names:
            raise GradingError(f"layer_lr_multipliers names the layer {name!r}, which the model "
                               "does not have; print [l.name for l in model.layers].")
    first, last = groups[0][1], groups[-1][1]
    if not first < last:
        raise GradingError(f"The earliest layers learn at {first}x and the last group at "
                           f"{last}x: early layers (generic features) should learn slower than "
                           "the new head.")
    shown = ", ".join(f"{name or 'first layer'} on: {mult:g}x" for name, mult in groups)
    print(f"PASS: discriminative rates ({shown}).")
    return groups


def check_margin(model, baseline, x, y, margin: float, floor: float = 0.0,
                 graded: bool = True) -> dict:
    """``model`` beats ``baseline`` by at least ``margin`` (accuracy on ``x``, ``y``) and reaches
    ``floor`` itself. With ``graded=False`` (fast mode) only the floor is checked; the margin is
    printed with a banner saying that it is not graded. Returns both accuracies."""
    from course.evaluation import evaluate_accuracy

    accuracy = call_checked(evaluate_accuracy, (_model(model, "the fine-tuned model"), x, y),
                     what="evaluating your fine-tuned model")
    base = evaluate_accuracy(baseline, x, y)
    gain = accuracy - base
    print(f"fine-tuned {accuracy:.2%}, from scratch {base:.2%}: margin {gain:+.2%} "
          f"({len(x):,} test images)")
    if accuracy < floor:
        raise GradingError(
            f"The fine-tuned model reaches {accuracy:.2%}, below {floor:.0%}: it did not learn "
            "the new task. Train it (training.train with your recipe) and check that the new "
            "head learns at the base rate (multiplier 1.0).")
    if not graded:
        print(config.banner(
            f"FAST MODE: the margin is printed, not graded (a fast run is too small to measure\n"
            f"it: it ranged from -4 to +10 points in measured runs). This cell grants no points\n"
            f"for the margin here; the full-mode check asks for {margin:+.0%} over the baseline."))
        return {"accuracy": accuracy, "baseline": base}
    if gain < margin:
        raise GradingError(
            f"Fine-tuning reaches {accuracy:.2%}, the from-scratch baseline {base:.2%}: a margin "
            f"of {gain:+.2%}, the bar is {margin:+.0%}. Keep the early layers slow (0.01x-0.1x), "
            "the new head at 1x, and check the learning rate and the number of epochs.")
    print(f"PASS: fine-tuning beats training from scratch by {gain:+.2%} (bar {margin:+.0%}).")
    return {"accuracy": accuracy, "baseline": base}
