"""Training: ``train(name)`` runs a registered model's recipe end to end; ``fit`` is the loop.

What a run gives you: reproducible seeds, Keras' progress bar, resume after an interruption
(``keras.callbacks.BackupAndRestore`` in ``OUT/backup``), learning-rate schedules, and in ``OUT``
the trained ``model.keras``, ``history.csv``, ``history.png`` and ``metrics.json``.
"""
from __future__ import annotations

import csv
import json
import math
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from course import config, data
from course.losses import SparseCategoricalCrossentropy
from course.models import Recipe, create, entry


@dataclass
class TrainResult:
    model: keras.Model
    history: dict
    metrics: dict
    out: Path | None


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and the backend (TensorFlow) so runs repeat."""
    keras.utils.set_random_seed(seed)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules


@keras.saving.register_keras_serializable(package="course")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle schedule (Smith & Topin 2018): linear warm-up to ``peak``, then linear decay.

    ``warmup`` is the fraction of ``total_steps`` spent rising from ``peak * start_factor``.
    """

    def __init__(self, peak, total_steps, warmup=0.25, start_factor=0.1, end_factor=0.0):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup = float(warmup)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        up = max(1.0, self.warmup * self.total_steps)
        down = max(1.0, self.total_steps - up)
        rising = self.start_factor + (1 - self.start_factor) * step / up
        falling = 1 - (1 - self.end_factor) * (step - up) / down
        factor = keras.ops.where(step < up, rising, keras.ops.maximum(falling, self.end_factor))
        return self.peak * factor

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup": self.warmup,
                "start_factor": self.start_factor, "end_factor": self.end_factor}


SCHEDULES = ("constant", "cosine", "one_cycle", "step")


def make_schedule(name: str, learning_rate: float, total_steps: int, **args):
    """A learning rate or schedule: ``constant``, ``cosine``, ``one_cycle`` or ``step``.

    ``step`` divides the rate by 10 at 50% and 75% of training (He et al. 2015). ``args`` go to
    the schedule (e.g. ``OneCycle``'s ``warmup``, ``start_factor``, ``end_factor``).
    """
    total_steps = max(1, int(total_steps))
    if name == "constant":
        return learning_rate
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "one_cycle":
        return OneCycle(learning_rate, total_steps, **args)
    if name == "step":
        bounds = [int(total_steps * 0.5), int(total_steps * 0.75)]
        values = [learning_rate, learning_rate / 10, learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    raise ValueError(f"Unknown schedule {name!r}; use one of {', '.join(SCHEDULES)}.")


def make_optimizer(recipe: Recipe, total_steps: int, model: keras.Model | None = None):
    """The recipe's optimizer (``adam``, ``adamw``, ``sgd`` with Nesterov momentum).

    With ``recipe.bn_bias_lr_multiplier != 1`` and a ``model``, SGD gives the batch-norm shifts
    (``beta``) that multiple of the learning rate (airbench's "bias scaler"); weight decay stays
    relative to the base rate.
    """
    lr = make_schedule(recipe.schedule, recipe.learning_rate, total_steps, **recipe.schedule_args)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    if recipe.optimizer == "sgd":
        kwargs = dict(learning_rate=lr, momentum=recipe.momentum, nesterov=True,
                      weight_decay=recipe.weight_decay or None)
        if recipe.bn_bias_lr_multiplier != 1 and model is not None:
            from course.transfer import DiscriminativeSGD

            return DiscriminativeSGD(multipliers=batch_norm_shift_multipliers(
                model, recipe.bn_bias_lr_multiplier), **kwargs)
        return keras.optimizers.SGD(**kwargs)
    raise ValueError(f"Unknown optimizer {recipe.optimizer!r}; use adam, adamw or sgd.")


def batch_norm_shift_multipliers(model: keras.Model, factor: float) -> dict:
    """``{variable path: factor}`` for the shift (``beta``) of every BatchNormalization layer."""
    return {layer.beta.path: float(factor) for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization) and layer.center}


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int, epochs: int):
    """Compile with the recipe's optimizer and schedule, cross-entropy on logits, accuracy."""
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch * epochs, model),
        loss=SparseCategoricalCrossentropy(from_logits=True,
                                           label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    return model


# ---------------------------------------------------------------------------------------------
# The loop


def read_history_csv(path) -> dict:
    """The per-epoch metrics that ``keras.callbacks.CSVLogger`` wrote, as lists."""
    history: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if value not in ("", "NA"):  # CSVLogger writes NA for absent validation
                    history.setdefault(key, []).append(float(value))
    return history


def fit(model, train_ds, epochs: int, validation_data=None, out=None, callbacks=(), verbose=1):
    """``model.fit`` with resume-after-interruption, a CSV log and a history plot in ``out``.

    Run it again with the same ``out`` after an interruption (Ctrl-C, a crash, a closed laptop)
    and it continues from the last finished epoch. Returns the history of *all* epochs.
    """
    unadapted = [layer.name for layer in unadapted_layers(model)]
    if unadapted:
        raise ValueError(f"Layer(s) {', '.join(unadapted)} learn their weights from data and have "
                         "not seen any: call course.training.adapt_layers(model, x_train[:5000]) "
                         "before fitting (training.fit_recipe does it for you).")
    callbacks = list(callbacks)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        resuming = (out / "backup").exists()
        if not resuming and (out / "history.csv").exists():
            (out / "history.csv").unlink()  # a fresh run: don't append to an old log
        callbacks += [
            keras.callbacks.BackupAndRestore(str(out / "backup")),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        ]
    result = model.fit(train_ds, epochs=epochs, validation_data=validation_data,
                       callbacks=callbacks, verbose=verbose, shuffle=False)
    if out is None:
        return dict(result.history)
    history = read_history_csv(out / "history.csv")
    history.pop("epoch", None)
    plot_history(history, out / "history.png")
    return history


def plot_history(history: dict, path=None, ax=None, title=None):
    """Loss and accuracy per epoch (train and validation) side by side; saved if ``path``."""
    import matplotlib

    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = ax[0].figure
    for i, metric in enumerate(("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                epochs = range(1, len(values) + 1)
                ax[i].plot(epochs, values, style, marker="o", ms=3,
                           label=("validation " if prefix else "train ") + metric)
        ax[i].set_xlabel("epoch")
        ax[i].set_ylabel(metric)
        ax[i].grid(alpha=0.3)
        ax[i].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def with_test_time_augmentation(model: keras.Model, translate: bool = False) -> keras.Model:
    """A model that averages ``model``'s scores over mirrored (and shifted) copies of its input.

    Mirror only: the image and its mirror image, 1/2 each. With ``translate`` (airbench's
    level 2): 1/4 each for the image and its mirror, 1/8 each for the mirror pair of the image
    shifted one pixel up-left and of the image shifted one pixel down-right (reflect padding).
    The result saves and loads as one ``.keras`` file, so a grader sees the averaged scores.
    """
    from course.layers.test_time import ShiftMirror

    views = [(0, 0.5)] if not translate else [(0, 0.25), (-1, 0.125), (1, 0.125)]
    inputs = keras.Input(model.input_shape[1:], name="image")
    scores = []
    for shift, weight in views:
        for mirror in (False, True):
            view = ShiftMirror(shift, mirror, name=f"view_shift{shift}_mirror{int(mirror)}")
            score = model(view(inputs))
            scores.append(keras.layers.Rescaling(weight, dtype="float32")(score))
    outputs = keras.layers.Add(dtype="float32", name="averaged_scores")(scores)
    return keras.Model(inputs, outputs, name=f"{model.name}_tta")


def predict_logits(model, x, batch_size: int = 256, tta_flip: bool = False,
                   tta_translate: bool = False) -> np.ndarray:
    """Model scores for ``x`` (raw pixels), optionally averaged over test-time views.

    ``tta_flip`` averages with the mirrored images; ``tta_translate`` adds one-pixel shifts
    (see ``with_test_time_augmentation``).
    """
    images = data.as_images(x).astype("float32")
    if tta_flip or tta_translate:
        model = with_test_time_augmentation(model, translate=tta_translate)
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0))


def evaluate_accuracy(model, x, y, batch_size: int = 256, tta_flip: bool = False,
                      tta_translate: bool = False) -> float:
    """Top-1 accuracy on raw-pixel images ``x`` and integer labels ``y``."""
    scores = predict_logits(model, x, batch_size, tta_flip, tta_translate)
    return float(np.mean(np.argmax(scores, axis=-1) == np.asarray(y).reshape(-1)))


def precise_batch_norm(model, dataset, batches: int = 50) -> int:
    """Re-estimate every BatchNormalization layer's moving statistics on training batches.

    The moving averages lag behind weights that change quickly (short or fast-mode runs), so
    inference can be far worse than training. This replaces them with the plain average of
    ``batches`` batch statistics under the final weights ("precise BN", Wu & Johnson 2021,
    *Rethinking "Batch" in BatchNorm*). Returns the number of batches used.
    """
    bn_layers = [layer for layer in model._flatten_layers()
                 if isinstance(layer, keras.layers.BatchNormalization)]
    if not bn_layers:
        return 0
    momenta = [layer.momentum for layer in bn_layers]
    used = 0
    try:
        for images, *_ in dataset.take(batches):
            for layer in bn_layers:  # momentum i/(i+1): a running mean of the batch statistics
                layer.momentum = used / (used + 1)
            model(images, training=True)
            used += 1
    finally:
        for layer, momentum in zip(bn_layers, momenta):
            layer.momentum = momentum
    return used


class Lookahead(keras.callbacks.Callback):
    """Lookahead weight averaging (Zhang et al. 2019, "Lookahead Optimizer: k steps forward,
    1 step back") in airbench's form: every ``every`` steps the weights move to an exponential
    average ``avg <- decay * avg + (1 - decay) * weights`` with ``decay = 0.95**every * t**3``
    (``t`` = fraction of training done), so averaging is light early and strong late; at the end
    the weights become the average. Covers all float weights, batch-norm statistics included.
    """

    def __init__(self, total_steps: int, every: int = 5):
        super().__init__()
        self.total_steps, self.every = max(1, int(total_steps)), int(every)
        self.average = None

    def _variables(self):
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def on_train_begin(self, logs=None):
        self.average = None  # snapshot at the first batch, after BackupAndRestore has restored

    def on_train_batch_begin(self, batch, logs=None):
        if self.average is None:
            self.average = [keras.ops.convert_to_numpy(v) for v in self._variables()]

    def _update(self, decay: float):
        for average, variable in zip(self.average, self._variables()):
            average *= decay
            average += (1 - decay) * keras.ops.convert_to_numpy(variable)
            variable.assign(average)

    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step % self.every == 0:
            self._update(0.95 ** self.every * min(1.0, step / self.total_steps) ** 3)

    def on_train_end(self, logs=None):
        if self.average is not None:
            self._update(1.0)


def unadapted_layers(model: keras.Model) -> list:
    """Layers that learn their weights from data (``adapt``) and have not yet
    (``is_adapted`` is False), e.g. ``course.layers.PatchWhitening``."""
    return [layer for layer in model.layers
            if hasattr(layer, "adapt") and getattr(layer, "is_adapted", True) is False]


def adapt_layers(model: keras.Model, images) -> list:
    """Adapt every layer that learns from data before training (``adapt`` and not yet
    ``is_adapted``, e.g. ``course.layers.PatchWhitening``), feeding it ``images`` (raw pixels)
    through the layers before it. Returns the names of the adapted layers."""
    adapted = []
    for layer in unadapted_layers(model):
        features = keras.Model(model.inputs, layer.input).predict(
            np.asarray(images, dtype="float32"), batch_size=500, verbose=0)
        layer.adapt(features)
        adapted.append(layer.name)
    return adapted


def mixed_precision_policy(setting: str) -> str:
    """The Keras dtype policy for a recipe's ``mixed_precision`` setting.

    ``"auto"`` picks ``mixed_bfloat16`` only on CPUs with native bfloat16 arithmetic
    (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo), where it trains about 1.25x faster here;
    elsewhere bfloat16 is emulated and slower, so it stays ``float32``.
    """
    if setting in ("off", "float32", None):
        return "float32"
    if setting == "bfloat16":
        return "mixed_bfloat16"
    if setting == "auto":
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "float32"
        return "mixed_bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"
    raise ValueError(f"Unknown mixed_precision {setting!r}; use 'off', 'auto' or 'bfloat16'.")


def create_in_precision(name: str, mixed_precision: str = "auto", **kwargs) -> keras.Model:
    """``models.create(name, **kwargs)`` under the dtype policy of ``mixed_precision`` (see
    ``mixed_precision_policy``); the global policy is restored afterwards."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(mixed_precision_policy(mixed_precision))
    try:
        return create(name, **kwargs)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def _augmentation(names, seed):
    if not names:
        return None
    from course import preprocessing

    return preprocessing.batch_augmentation(names, seed=seed)


def fit_recipe(model: keras.Model, recipe: Recipe, x_train, y_train, epochs: int | None = None,
               validation_data=None, out=None, seed: int = 0, callbacks=(),
               verbose: int = 1) -> dict:
    """Train a built ``model`` on arrays with everything its ``recipe`` asks for.

    Adapts data-initialised layers, builds the augmented ``tf.data`` pipeline, compiles with the
    recipe's optimizer and schedule, adds Lookahead if asked, fits (see ``fit``) and re-estimates
    batch-norm statistics if asked. ``validation_data`` is ``(x_val, y_val)``. Returns the
    history.
    """
    epochs = recipe.epochs if epochs is None else epochs
    train_ds = data.pipeline(x_train, y_train, batch_size=recipe.batch_size, shuffle=True,
                             seed=seed, augment=_augmentation(recipe.augment, seed))
    val_ds = None if validation_data is None else data.pipeline(*validation_data, batch_size=500)
    steps = math.ceil(len(x_train) / recipe.batch_size)
    compile_model(model, recipe, steps, epochs)
    callbacks = list(callbacks) + ([Lookahead(steps * epochs)] if recipe.lookahead else [])
    adapt_layers(model, x_train[:5000])
    history = fit(model, train_ds, epochs, validation_data=val_ds, out=out, callbacks=callbacks,
                  verbose=verbose)
    if recipe.precise_bn:
        precise_batch_norm(model, train_ds)
    return history


def train(model_or_name, data_name: str | None = None, epochs: int | None = None,
          batch_size: int | None = None, out=None, seed: int = 0, fast: bool | None = None,
          recipe: Recipe | None = None, verbose: int = 1, validation_split: float | None = None,
          callbacks=(), **model_kwargs) -> TrainResult:
    """Train a registered model (or a built one) on a data set with its recipe; evaluate on test.

    ``data_name`` defaults to the recipe's data set. In fast mode (``COURSE_FAST=1`` or
    ``fast=True``) the data are a small subset and epochs are capped at ``config.FAST_EPOCHS``.
    With ``out``, writes ``model.keras``, ``metrics.json``, ``history.csv`` and ``history.png``;
    when the recipe uses test-time augmentation, ``model.keras`` includes it (see
    ``with_test_time_augmentation``), so grading the file reproduces ``test_accuracy``.
    ``callbacks`` are extra Keras callbacks for ``model.fit``.
    """
    fast = config.is_fast() if fast is None else fast
    name = model_or_name if isinstance(model_or_name, str) else model_or_name.name
    if recipe is None:
        recipe = entry(name).recipe if isinstance(model_or_name, str) else Recipe()
    overrides = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size,
                                   "validation_split": validation_split}.items() if v is not None}
    recipe = replace(recipe, **overrides)
    if data_name is None:
        data_name = recipe.data
    epochs = min(recipe.epochs, config.FAST_EPOCHS) if fast else recipe.epochs

    set_seed(seed)
    (x_train, y_train), (x_test, y_test) = data.load(data_name, fast=fast)
    spec = data.spec(data_name)
    policy = keras.mixed_precision.dtype_policy().name
    if isinstance(model_or_name, str):
        input_shape = data.as_images(x_train[:1]).shape[1:]
        policy = mixed_precision_policy(recipe.mixed_precision)
        model = create_in_precision(name, recipe.mixed_precision, input_shape=input_shape,
                                    num_classes=spec.num_classes, **model_kwargs)
    else:
        model = model_or_name
    validation = None
    if recipe.validation_split:
        (x_train, y_train), validation = data.train_val_split(
            x_train, y_train, recipe.validation_split, seed=seed)

    if verbose:
        mode = "FAST MODE (COURSE_FAST=1): subset, capped epochs; " if fast else ""
        print(f"Training {name} on {data_name}: {len(x_train):,} images, {epochs} epochs, "
              f"batch {recipe.batch_size}, {model.count_params():,} parameters, "
              f"{policy}. {mode}")
    start = time.perf_counter()
    history = fit_recipe(model, recipe, x_train, y_train, epochs, validation_data=validation,
                         out=out, seed=seed, callbacks=callbacks, verbose=verbose)
    wall = time.perf_counter() - start
    evaluated = model
    if recipe.tta_flip or recipe.tta_translate:
        evaluated = with_test_time_augmentation(model, translate=recipe.tta_translate)
    test_accuracy = evaluate_accuracy(evaluated, x_test, y_test)
    val_accuracy = None if validation is None else evaluate_accuracy(evaluated, *validation)

    import tensorflow as tf

    metrics = {
        "model": name,
        "data": data_name,
        "test_accuracy": round(test_accuracy, 5),
        "test_error": round(1 - test_accuracy, 5),
        "validation_accuracy": None if val_accuracy is None else round(val_accuracy, 5),
        "test_images": int(len(x_test)),
        "train_images": int(len(x_train)),
        "epochs": int(epochs),
        "batch_size": int(recipe.batch_size),
        "tta_flip": bool(recipe.tta_flip),
        "tta_translate": bool(recipe.tta_translate),
        "dtype_policy": policy,
        "parameters": int(model.count_params()),
        "wall_time_s": round(wall, 1),
        "fast_mode": bool(fast),
        "seed": int(seed),
        "final_train_accuracy": history.get("accuracy", [None])[-1],
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {_cpu_count()} CPU cores",
    }
    if out is not None:
        out = Path(out)
        evaluated.save(out / "model.keras")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        _remove_backup(out)
    if verbose:
        print(f"{name} on {data_name}: test accuracy {test_accuracy:.2%} "
              f"(error {1 - test_accuracy:.2%}) after {epochs} epochs; "
              f"training took {_duration(wall)}.")
        if out is not None:
            print(f"Saved {out / 'model.keras'}, {out / 'metrics.json'}, {out / 'history.png'}")
    return TrainResult(model, history, metrics, Path(out) if out is not None else None)


def _remove_backup(out: Path) -> None:
    import shutil

    shutil.rmtree(out / "backup", ignore_errors=True)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s ({seconds:.0f} s)" if minutes else f"{seconds:.1f} s"
