"""Keras callbacks the course's training uses: progress, Lookahead, freezing, progressive
resizing, learned strides."""
from __future__ import annotations

import time

import keras
import numpy as np

# The one terminal/notebook detection of the package lives in the light course.progress (no
# Keras import); re-exported here, where training's progress bar uses it.
from course.progress import in_notebook, live_display  # noqa: F401 - re-exported


def format_logs(logs: dict) -> str:
    """``loss 0.1234, accuracy 97.50%, val_loss ...`` from a Keras ``logs`` dict."""
    parts = []
    order = ("loss", "accuracy", "val_loss", "val_accuracy")
    keys = sorted(logs or {}, key=lambda k: (order.index(k) if k in order else len(order), k))
    for key, value in ((k, logs[k]) for k in keys):
        if key == "learning_rate" or value is None:
            continue
        value = float(value)
        parts.append(f"{key} {value:.2%}" if key.endswith("accuracy") else f"{key} {value:.4f}")
    return ", ".join(parts)


class Progress(keras.callbacks.Callback):
    """Progress of ``model.fit`` for people and for logs.

    Where someone is watching (``live_display()``: a terminal or a notebook) one live tqdm bar
    runs over all remaining training steps. In every case one line is printed per epoch
    (``epoch 3/12: loss ..., accuracy ... (41 s)``), so a log or an executed notebook holds one
    line per epoch rather than thousands of bar redraws.
    """

    def __init__(self, live: bool | None = None, prefix: str = ""):
        super().__init__()
        self.live = live_display() if live is None else live
        self.prefix = prefix
        self.bar = None
        self.epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        if self.live and self.bar is None:
            from tqdm.auto import tqdm

            steps, epochs = self.params.get("steps"), self.params.get("epochs", 1)
            total = None if steps is None else steps * (epochs - epoch)
            self.bar = tqdm(total=total, desc=self.prefix or "training", unit="step",
                            leave=False, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if batch % 10 == 0 and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.epoch_start
        line = (f"{self.prefix}epoch {epoch + 1}/{self.params.get('epochs', '?')}: "
                f"{format_logs(logs)} ({seconds:.0f} s)")
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
            # the averages live beside the weights (no copies to and from NumPy), and the
            # step is read once and then counted here: reading the optimizer's counter after
            # every batch would wait for each step to finish before the next could start
            self.average = [keras.Variable(v, trainable=False, name="lookahead_average")
                            for v in self._variables()]
            self.step = int(np.asarray(self.model.optimizer.iterations))
            self._blend = compiled(self._blend_weights)

    def _blend_weights(self, decay):
        for average, variable in zip(self.average, self._variables()):
            average.assign(decay * average + (1 - decay) * variable)
            variable.assign(average)

    def _update(self, decay: float):
        self._blend(keras.ops.convert_to_tensor(decay, "float32"))

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self._update(0.95 ** self.every * min(1.0, self.step / self.total_steps) ** 3)

    def on_train_end(self, logs=None):
        if self.average is not None:
            self._update(1.0)


def compiled(function, **options):
    """``function`` as one TensorFlow graph on that backend (``tf.function(function,
    **options)``: one call, not one op at a time); as is elsewhere."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, **options)
    return function


class FreezeAfter(keras.callbacks.Callback):
    """Stop training some layers after a number of epochs: ``FreezeAfter({"whiten": 2})``.

    airbench's "progressive freezing" (Jordan 2024): the whitening layer's bias trains for the
    first epochs only; afterwards its gradient, and the backward pass through the first
    convolution that only it needed, are no longer computed. At the epoch's start the layers
    become non-trainable and the training step is rebuilt (one new trace); at the end of
    training they are trainable again, so the saved model looks like the one that was built.
    TensorFlow backend only (a clear error elsewhere).
    """

    def __init__(self, epochs_by_layer: dict):
        super().__init__()
        self.epochs_by_layer = {str(name): int(epochs) for name, epochs in
                                dict(epochs_by_layer).items()}
        self.frozen: list = []

    def on_train_begin(self, logs=None):
        from course.layers.walk import walk

        if keras.backend.backend() != "tensorflow":
            # measured: Keras' JAX trainer keeps the variable lists it started fit with
            raise ValueError("freeze_after needs the TensorFlow backend (on "
                             f"{keras.backend.backend()}, Keras' trainer fixes the trainable "
                             "variables when fit starts): drop freeze_after from the recipe.")
        by_name = {layer.name: layer for layer in walk(self.model)}
        missing = sorted(set(self.epochs_by_layer) - set(by_name))
        if missing:
            raise ValueError(f"freeze_after names no layer of {self.model.name!r}: "
                             f"{', '.join(missing)} (its layers: {', '.join(by_name)}).")
        self.layers = {name: by_name[name] for name in self.epochs_by_layer}

    def on_epoch_begin(self, epoch, logs=None):
        due = [layer for name, layer in self.layers.items()
               if epoch >= self.epochs_by_layer[name] and layer not in self.frozen]
        for layer in due:  # ">=": a run resumed after the freezing epoch freezes at once
            layer.trainable = False
            self.frozen.append(layer)
        if due:
            self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        for layer in self.frozen:
            layer.trainable = True
        self.frozen = []


class ProgressiveResizing(keras.callbacks.Callback):
    """Train the first epochs on smaller images: ``ProgressiveResizing(((16, 2), (24, 2)), 32)``
    trains epochs 1-2 at 16x16 pixels, 3-4 at 24x24 and the rest at the full 32x32.

    Progressive resizing (fast.ai's DAWNBench ImageNet runs, 2018; the CIFAR speedruns): an
    early epoch on images half the side costs about a quarter of the multiply-adds, and the
    coarse shapes it learns carry over; the last epochs at full size fit the network to the size
    it is tested at. ``side`` is a ``tf.Variable`` that the training pipeline
    (``course.data.pipeline(..., side=...)``) resizes each batch to; the callback sets it at the
    start of every epoch (a resumed run starts at the right size). The network must accept
    any image size (``course.training`` trains a copy with a ``(None, None, channels)`` input).
    """

    def __init__(self, stages, full_side: int):
        import tensorflow as tf

        super().__init__()
        self.sides = [side for side, epochs in stages for _ in range(epochs)]
        self.full_side = int(full_side)
        self.side = tf.Variable(self.side_at(0), trainable=False, dtype=tf.int32)

    def side_at(self, epoch: int) -> int:
        """The image side of (0-based) ``epoch``."""
        return self.sides[epoch] if epoch < len(self.sides) else self.full_side

    def on_epoch_begin(self, epoch, logs=None):
        self.side.assign(self.side_at(epoch))

    def on_train_end(self, logs=None):
        self.side.assign(self.full_side)


class StrideHistory(keras.callbacks.Callback):
    """Record every ``DiffStride`` layer's stride every ``every`` training batches.

    After training, ``self.steps`` is the list of global steps and ``self.strides`` maps each
    layer name to its stride at those steps (the first entry is the value before training).
    """

    def __init__(self, every: int = 1):
        super().__init__()
        self.every = max(1, int(every))
        self.steps: list[int] = []
        self.strides: dict[str, list[float]] = {}
        self._step = 0

    def _record(self):
        from course.layers.spectral import diffstride_layers

        self.steps.append(self._step)
        for layer in diffstride_layers(self.model):
            self.strides.setdefault(layer.name, []).append(
                float(np.asarray(layer.stride)))

    def on_train_begin(self, logs=None):
        if not self.steps:
            self._record()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self._record()

    def plot(self, ax=None, title="Learned strides"):
        """Stride of each layer against the training step."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        for name, values in self.strides.items():
            ax.plot(self.steps, values, label=name)
        ax.set_xlabel("training step")
        ax.set_ylabel("stride")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        return ax
