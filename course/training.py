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


def make_schedule(name: str, learning_rate: float, total_steps: int):
    """A learning rate or schedule: ``constant``, ``cosine``, ``one_cycle`` or ``step``.

    ``step`` divides the rate by 10 at 50% and 75% of training (He et al. 2015).
    """
    total_steps = max(1, int(total_steps))
    if name == "constant":
        return learning_rate
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "one_cycle":
        return OneCycle(learning_rate, total_steps)
    if name == "step":
        bounds = [int(total_steps * 0.5), int(total_steps * 0.75)]
        values = [learning_rate, learning_rate / 10, learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    raise ValueError(f"Unknown schedule {name!r}; use one of {', '.join(SCHEDULES)}.")


def make_optimizer(recipe: Recipe, total_steps: int):
    """The recipe's optimizer (``adam``, ``adamw``, ``sgd`` with Nesterov momentum 0.9)."""
    lr = make_schedule(recipe.schedule, recipe.learning_rate, total_steps)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True,
                                    weight_decay=recipe.weight_decay or None)
    raise ValueError(f"Unknown optimizer {recipe.optimizer!r}; use adam, adamw or sgd.")


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int, epochs: int):
    """Compile with the recipe's optimizer and schedule, cross-entropy on logits, accuracy."""
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch * epochs),
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


def predict_logits(model, x, batch_size: int = 256, tta_flip: bool = False) -> np.ndarray:
    """Model scores for ``x`` (raw pixels); ``tta_flip`` averages with the mirrored images."""
    images = data.as_images(x).astype("float32")
    scores = model.predict(images, batch_size=batch_size, verbose=0)
    if tta_flip:
        scores = (scores + model.predict(images[:, :, ::-1], batch_size=batch_size,
                                         verbose=0)) / 2
    return np.asarray(scores)


def evaluate_accuracy(model, x, y, batch_size: int = 256, tta_flip: bool = False) -> float:
    """Top-1 accuracy on raw-pixel images ``x`` and integer labels ``y``."""
    scores = predict_logits(model, x, batch_size, tta_flip)
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


def _augmentation(names, seed):
    if not names:
        return None
    from course import preprocessing

    return preprocessing.batch_augmentation(names, seed=seed)


def train(model_or_name, data_name: str | None = None, epochs: int | None = None,
          batch_size: int | None = None, out=None, seed: int = 0, fast: bool | None = None,
          recipe: Recipe | None = None, verbose: int = 1, validation_split: float | None = None,
          callbacks=(), **model_kwargs) -> TrainResult:
    """Train a registered model (or a built one) on a data set with its recipe; evaluate on test.

    ``data_name`` defaults to the recipe's data set. In fast mode (``COURSE_FAST=1`` or
    ``fast=True``) the data are a small subset and epochs are capped at ``config.FAST_EPOCHS``.
    With ``out``, writes ``model.keras``, ``metrics.json``, ``history.csv`` and ``history.png``.
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
    if isinstance(model_or_name, str):
        input_shape = data.as_images(x_train[:1]).shape[1:]
        model = create(name, input_shape=input_shape, num_classes=spec.num_classes,
                       **model_kwargs)
    else:
        model = model_or_name
    val_ds = None
    if recipe.validation_split:
        (x_train, y_train), (x_val, y_val) = data.train_val_split(
            x_train, y_train, recipe.validation_split, seed=seed)
        val_ds = data.pipeline(x_val, y_val, batch_size=256)
    train_ds = data.pipeline(x_train, y_train, batch_size=recipe.batch_size, shuffle=True,
                             seed=seed, augment=_augmentation(recipe.augment, seed))
    steps = math.ceil(len(x_train) / recipe.batch_size)
    compile_model(model, recipe, steps, epochs)

    if verbose:
        mode = "FAST MODE (COURSE_FAST=1): subset, capped epochs; " if fast else ""
        print(f"Training {name} on {data_name}: {len(x_train):,} images, {epochs} epochs, "
              f"batch {recipe.batch_size}, {model.count_params():,} parameters. {mode}")
    start = time.perf_counter()
    history = fit(model, train_ds, epochs, validation_data=val_ds, out=out, callbacks=callbacks,
                  verbose=verbose)
    if recipe.precise_bn:
        precise_batch_norm(model, train_ds)
    wall = time.perf_counter() - start
    test_accuracy = evaluate_accuracy(model, x_test, y_test, tta_flip=recipe.tta_flip)

    import tensorflow as tf

    metrics = {
        "model": name,
        "data": data_name,
        "test_accuracy": round(test_accuracy, 5),
        "test_error": round(1 - test_accuracy, 5),
        "test_images": int(len(x_test)),
        "train_images": int(len(x_train)),
        "epochs": int(epochs),
        "batch_size": int(recipe.batch_size),
        "tta_flip": bool(recipe.tta_flip),
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
        model.save(out / "model.keras")
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
