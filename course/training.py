"""Training: ``train(recipe)`` runs the one path create -> adapt -> fit -> evaluate -> save.

``train`` takes a recipe (``course.recipes``; a name or a ``Recipe``) and, optionally, a model you
built and data arrays; every notebook, solution, benchmark and ``python -m course train`` trains
through it. What a run gives you: reproducible seeds, progress (a live bar where someone watches,
one line per epoch in logs), resume after an interruption (``keras.callbacks.BackupAndRestore``
in ``OUT/backup``), and in ``OUT`` the trained ``model.keras`` (with the recipe's test-time
augmentation built in, so grading the file reproduces the reported accuracy), ``history.csv``,
``history.png`` and ``metrics.json``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from course import analysis, augment, config, distribute, evaluation, inputs, recipes
from course import data as datasets
from course.callbacks import FreezeAfter, Lookahead, Progress, ProgressiveResizing, compiled
from course.layers.adapt import adapt_layers, require_adapted
from course.layers.walk import layers_of_type
from course.losses import SmoothedSparseCrossentropy
from course.optimizers import make_optimizer


@dataclass
class TrainResult:
    model: keras.Model  # the trained network
    exported: keras.Model  # what was evaluated and saved: the model with its test-time views
    history: dict  # per-epoch metrics: loss, accuracy, val_loss, val_accuracy
    metrics: dict  # what metrics.json holds
    out: Path | None


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and the backend so runs repeat."""
    keras.utils.set_random_seed(seed)


def compile_for(model: keras.Model, recipe: recipes.Recipe, total_steps: int) -> keras.Model:
    """Compile with the recipe's optimizer and schedule, cross-entropy on logits, accuracy."""
    model.compile(
        optimizer=make_optimizer(recipe, total_steps, model),
        loss=SmoothedSparseCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    _build_optimizer_and_metrics(model)
    return model


def _build_optimizer_and_metrics(model) -> None:
    """Create the optimizer's slots and the metrics' variables now, not in the first step.

    Variables created inside a ``tf.function`` make TensorFlow trace the training step twice;
    built beforehand, it is traced once (2-3 s saved per ``fit`` of a small CIFAR ResNet, the
    bulk of a fast-mode run). The metrics are built by one update on a dummy prediction, then
    reset. Only an optimisation: a model it does not suit trains as before.
    """
    try:
        model.optimizer.build(model.trainable_variables)
        scores = keras.ops.zeros((1, *model.output_shape[1:]))
        model.compute_metrics(None, keras.ops.zeros((1,), "int32"), scores, sample_weight=None)
        model.reset_metrics()
    except (ValueError, TypeError, AttributeError):
        pass


def precise_batch_norm(model, dataset, batches: int = 50) -> int:
    """Re-estimate every BatchNormalization layer's moving statistics on training batches.

    The moving averages lag behind weights that change quickly (short or fast-mode runs), so
    inference can be far worse than training. This replaces them with the plain average of
    ``batches`` batch statistics under the final weights ("precise BN", Wu & Johnson 2021,
    *Rethinking "Batch" in BatchNorm*). Returns the number of batches used.

    Each batch runs the network in training mode with momentum 0, so that every layer's
    moving statistics become that batch's; their sum is kept here and its mean written back at
    the end. On TensorFlow the forward pass is one compiled function (eagerly, 50 batches of a
    ResNet-14 took 12 s; compiled, under 2 s).
    """
    bn_layers = layers_of_type(model, keras.layers.BatchNormalization)
    if not bn_layers:
        return 0
    momenta = [layer.momentum for layer in bn_layers]
    sums = [[0.0, 0.0] for _ in bn_layers]
    forward = _training_forward(model)
    used = 0
    try:
        for layer in bn_layers:
            layer.momentum = 0.0  # moving statistics := this batch's statistics
        for images, *_ in dataset.take(batches):
            forward(images)
            for layer, total in zip(bn_layers, sums):
                total[0] = total[0] + np.asarray(layer.moving_mean)
                total[1] = total[1] + np.asarray(layer.moving_variance)
            used += 1
        for layer, (mean, variance) in zip(bn_layers, sums if used else ()):
            layer.moving_mean.assign(mean / used)
            layer.moving_variance.assign(variance / used)
    finally:
        for layer, momentum in zip(bn_layers, momenta):
            layer.momentum = momentum
    return used


def _training_forward(model):
    """``images -> model(images, training=True)``, compiled once where the backend allows."""
    return compiled(lambda images: model(images, training=True), reduce_retracing=True)


def read_history_csv(path) -> dict:
    """The per-epoch metrics that ``keras.callbacks.CSVLogger`` wrote, as lists."""
    history: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch" and value not in ("", "NA"):  # NA: no validation that epoch
                    history.setdefault(key, []).append(float(value))
    return history


def fit(model, train_ds, epochs: int, validation_data=None, out=None, callbacks=(),
        verbose: int = 1) -> dict:
    """``model.fit`` with progress, resume-after-interruption and a CSV log in ``out``.

    Run it again with the same ``out`` after an interruption (Ctrl-C, a crash, a closed laptop)
    and it continues from the last finished epoch. Returns the history of *all* epochs.
    """
    require_adapted(model)
    callbacks = list(callbacks) + ([Progress()] if verbose else [])
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "backup").exists() and (out / "history.csv").exists():
            (out / "history.csv").unlink()  # a fresh run: don't append to an old log
        callbacks += [keras.callbacks.BackupAndRestore(str(out / "backup")),
                      keras.callbacks.CSVLogger(str(out / "history.csv"), append=True)]
    result = model.fit(train_ds, epochs=epochs, validation_data=validation_data,
                       callbacks=callbacks, verbose=0, shuffle=False)
    history = dict(result.history) if out is None else read_history_csv(out / "history.csv")
    history.pop("learning_rate", None)
    if out is not None:
        from course.visualize import plot_history

        plot_history(history, out / "history.png")
    return history


def _fit_recipe(model, recipe, train, epochs, validation, out, seed, callbacks, verbose,
                plan=None) -> dict:
    """Pipeline, compile, adapt, fit, precise BN: everything the recipe asks for. ``train`` is
    ``(x, y)`` arrays or the caller's ``tf.data`` pipeline (``course.inputs``), used as it is
    (the augmentation then runs in the model)."""
    resizing = _progressive_resizing(recipe, train)
    if inputs.is_pipeline(train):
        train_ds, steps, in_pipeline = train, inputs.steps(train), False
    else:
        # Training batches are all whole (the remainder of a shuffled epoch is dropped, a
        # different one each epoch): one batch shape means one compiled step (a last, smaller
        # batch costs a second trace of a few seconds), and distributed batches need a static
        # size anyway.
        x_train, y_train = train
        whole = len(x_train) >= recipe.batch_size
        in_pipeline = augment.runs_in_tf_data(recipe.augment)
        train_ds = datasets.pipeline(x_train, y_train, batch_size=recipe.batch_size,
                                     shuffle=True, seed=seed,
                                     augment=recipe.augment if in_pipeline else (),
                                     drop_remainder=whole,
                                     side=None if resizing is None else resizing.side)
        steps = (len(x_train) // recipe.batch_size if whole
                 else math.ceil(len(x_train) / recipe.batch_size))
    distributed = plan is not None  # validation batches too must be whole under a strategy
    val_ds = validation if validation is None or inputs.is_pipeline(validation) else \
        datasets.pipeline(*validation, batch_size=recipe.batch_size if distributed else 500,
                          drop_remainder=distributed)
    adapt_layers(model, inputs.sample_images(train))
    if resizing is not None:
        trained = _any_size(model)
    elif in_pipeline or not recipe.augment:
        trained = model
    else:
        trained = _with_augmentation(model, recipe.augment, seed)
    compile_for(trained, recipe, steps * epochs)
    callbacks = list(callbacks) + ([Lookahead(steps * epochs)] if recipe.lookahead else [])
    if recipe.freeze_after:
        callbacks.append(FreezeAfter(recipe.freeze_after))
    if resizing is not None:
        callbacks.append(resizing)
    history = fit(trained, train_ds, epochs, validation_data=val_ds, out=out,
                  callbacks=callbacks, verbose=verbose)
    if resizing is not None:
        model.set_weights(trained.get_weights())
    if recipe.precise_bn:
        precise_batch_norm(model, train_ds)
    return history


def _stages_within(stages, epochs: int) -> tuple:
    """The first progressive stages that leave at least the last of ``epochs`` at full size
    (shorter runs keep the start of the schedule)."""
    kept, used = [], 0
    for side, count in stages:
        count = min(count, epochs - 1 - used)
        if count < 1:
            break
        kept.append((side, count))
        used += count
    return tuple(kept)


def _progressive_resizing(recipe, train):
    """The recipe's ``ProgressiveResizing`` callback, or None; a ValueError where it cannot run."""
    if not recipe.progressive:
        return None
    if inputs.is_pipeline(train):
        raise ValueError("progressive resizing resizes the course's own pipeline: pass arrays, "
                         "or resize in your tf.data pipeline and drop progressive.")
    if recipe.augment and not augment.runs_in_tf_data(recipe.augment):
        raise ValueError(f"progressive resizing resizes batches after their augmentation in "
                         f"tf.data, where {', '.join(recipe.augment)} cannot run on the "
                         f"{keras.backend.backend()} backend: use the TensorFlow backend or "
                         "drop progressive.")
    height, width = datasets.as_images(train[0]).shape[1:3]
    if height != width:
        raise ValueError(f"progressive resizing needs square images, got {height}x{width}.")
    return ProgressiveResizing(recipe.progressive, height)


def _any_size(model):
    """A copy of ``model`` that takes images of any size (its input ``(None, None, channels)``),
    with ``model``'s weights: what trains on progressive resizing's smaller images (the model
    keeps its fixed input, which graders check, and gets the weights back)."""
    try:
        flexible = keras.models.clone_model(
            model, input_tensors=keras.Input((None, None, model.input_shape[-1]), name="image"))
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"Progressive resizing trains a copy of {model.name!r} that takes "
                         f"images of any size, and this model cannot be copied so ({err}). "
                         "Build it with keras.Input and layers (the functional API) or "
                         "keras.Sequential, or drop progressive from the recipe.") from err
    flexible.set_weights(model.get_weights())
    return flexible


def _with_augmentation(model, specs, seed):
    """``model`` behind the recipe's augmentation layers (random while training, identity at
    inference): where the backend cannot run them inside ``tf.data``. Shares ``model``'s
    weights, so training it trains ``model``."""
    inputs = keras.Input(model.input_shape[1:], name="image")
    outputs = model(augment.sequential(specs, seed=seed)(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_augmented")


def train(recipe, data=None, *, model: keras.Model | None = None, epochs: int | None = None,
          batch_size: int | None = None, out=None, seed: int = 0, fast: bool | None = None,
          validation_split: float | None = None, validation_data=None, callbacks=(),
          devices=None, verbose: int = 1) -> TrainResult:
    """Train with a recipe (a ``Recipe`` or a registered name); evaluate on the test set.

    - ``data``: a data set name (default: the recipe's) or ``((x_train, y_train), (x_test,
      y_test))`` arrays of raw pixels and integer labels; the test split may be ``None`` (no
      test accuracy: an exercise keeps the test set for grading); or a ``tf.data.Dataset`` of
      ``(images, labels)`` batches, alone or as ``(train_batches, test)`` (``course.inputs``).
      A recipe with ``data=None`` trains only on data passed here;
    - ``model``: a model you built (default: the recipe's, built for its data set, or for the
      image size and classes of your data);
    - ``epochs``, ``batch_size``, ``validation_split``: override the recipe;
      ``validation_data=(x_val, y_val)`` gives a validation set of your own;
    - fast mode (``COURSE_FAST=1`` or ``fast=True``): a data subset (for a data set name) and
      at most ``config.FAST_EPOCHS`` epochs unless ``epochs`` is given;
    - ``out``: folder for ``model.keras``, ``metrics.json``, ``history.csv``, ``history.png``;
    - ``devices``: data-parallel training on N devices or ``"all"`` (``course.distribute``);
      the recipe's batch is the global batch, split over the replicas.
    """
    recipe = recipes.get(recipe) if isinstance(recipe, str) else recipe
    fast = config.is_fast() if fast is None else fast
    if fast and epochs is None:  # the recipe's own epochs are capped; explicit ones are kept
        epochs = min(recipe.epochs, config.FAST_EPOCHS)
    overrides = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size,
                                   "validation_split": validation_split}.items() if v is not None}
    if epochs is not None:
        overrides["progressive"] = _stages_within(recipe.progressive, epochs)
    recipe = recipe.replace(**overrides)
    epochs = recipe.epochs

    set_seed(seed)
    plan = distribute.plan(devices, recipe.batch_size)
    data_name, train_split, test = inputs.resolve(data, recipe, fast)
    if plan is not None and inputs.is_pipeline(train_split):
        raise ValueError("devices= splits the recipe's batches over the replicas: pass arrays, "
                         "not a tf.data pipeline, to train on several devices.")
    with distribute.activated(plan):
        model = _create(recipe, train_split, test) if model is None else _on_devices(model, plan)
    validation = inputs.as_split(validation_data)
    if validation is None and recipe.validation_split:
        if inputs.is_pipeline(train_split):
            raise ValueError("validation_split cannot split a tf.data pipeline: pass "
                             "validation_data=(x_val, y_val) or a pipeline of your own.")
        train_split, validation = datasets.train_val_split(
            *train_split, recipe.validation_split, seed=seed)
    policy = model.dtype_policy.name
    if verbose:
        mode = " FAST MODE (COURSE_FAST=1): data subset, capped epochs." if fast else ""
        called = model.name if recipe.name in ("", model.name) else f"{recipe.name} ({model.name})"
        print(f"Training {called} on {data_name}: {inputs.describe(train_split)}, {epochs} epochs, "
              f"batch {recipe.batch_size}, {model.count_params():,} parameters, {policy}, "
              f"{keras.backend.backend()} backend.{mode}", flush=True)
        if plan is not None:
            print(f"Data parallel ({plan.engine}) on {plan.replicas} devices "
                  f"({', '.join(plan.devices)}): global batch {plan.global_batch} = "
                  f"{plan.replicas} x {plan.per_replica_batch} per replica; learning rate "
                  f"{recipe.learning_rate} unchanged (same global batch).", flush=True)

    start = time.perf_counter()
    with distribute.activated(plan):
        history = _fit_recipe(model, recipe, train_split, epochs, validation, out, seed,
                              callbacks, verbose, plan)
    wall = time.perf_counter() - start
    exported = evaluation.with_test_time_augmentation(model, recipe.tta)
    test_accuracy = inputs.accuracy(exported, test)
    val_accuracy = inputs.accuracy(exported, validation)
    metrics = {
        "model": model.name, "recipe": recipe.name or recipe.model or "custom",
        "data": data_name,
        "test_accuracy": _rounded(test_accuracy),
        "test_error": None if test_accuracy is None else round(1 - test_accuracy, 5),
        "validation_accuracy": _rounded(val_accuracy),
        "test_images": _count(test), "train_images": inputs.count(train_split),
        "epochs": int(epochs), "batch_size": int(recipe.batch_size), "tta": recipe.tta,
        "dtype_policy": policy, "parameters": int(model.count_params()),
        "wall_time_s": round(wall, 1), "fast_mode": bool(fast), "seed": int(seed),
        "training_flops": _training_flops(model, recipe, train_split),
        "final_train_accuracy": history.get("accuracy", [None])[-1],
        "backend": keras.backend.backend(), "versions": _versions(),
        "devices": {"replicas": 1} if plan is None else plan.describe(),
        "machine": f"{platform.machine()}, {_cpu_count()} CPU cores",
    }
    if out is not None:
        out = Path(out)
        exported.save(out / "model.keras")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        shutil.rmtree(out / "backup", ignore_errors=True)
    if verbose:
        scores = [f"{label} accuracy {value:.2%}" for label, value in
                  (("validation", val_accuracy), ("test", test_accuracy)) if value is not None]
        print(f"{model.name} on {data_name}: {', '.join(scores) or 'no held-out data'} after "
              f"{epochs} epochs; training took {_duration(wall)}.")
        if out is not None:
            print(f"Saved {out / 'model.keras'}, {out / 'metrics.json'}, {out / 'history.png'}")
    return TrainResult(model, exported, history, metrics, None if out is None else Path(out))


def _training_flops(model, recipe, train) -> list[int] | None:
    """Floating-point operations of each epoch (``course.analysis.training_flops``) over the
    images an epoch trains on (whole batches), at each epoch's image side; None where they
    cannot be counted (a tf.data pipeline of unknown length, a model of unknown shapes)."""
    images = inputs.count(train)
    if images is None:
        return None
    if images >= recipe.batch_size:
        images -= images % recipe.batch_size  # the remainder of a shuffled epoch is dropped
    sides = [side for side, epochs in recipe.progressive for _ in range(epochs)]
    return analysis.training_flops(model, images, sides + [None] * (recipe.epochs - len(sides)))


def _create(recipe, train, test):
    """The recipe's model for its data set, or for the image size and classes of ``train``."""
    if recipe.data is not None:
        return recipe.create()
    return recipe.create(inputs.input_shape(train), inputs.num_classes(train, test))


def _on_devices(model, plan):
    """``model`` itself on one device; under a data-parallel plan, a copy built in its scope
    (so its variables are mirrored on every device) with the same weights."""
    if plan is None:
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _count(split):
    if split is None:
        return 0
    return None if inputs.is_pipeline(split) else int(len(split[0]))


def _rounded(value):
    return None if value is None else round(value, 5)


def _versions() -> dict:
    import importlib.metadata as metadata

    found = {"keras": keras.__version__, "python": platform.python_version()}
    for package in ("tensorflow", "jax"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s ({seconds:.0f} s)" if minutes else f"{seconds:.1f} s"
