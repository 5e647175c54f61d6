"""Learning-rate schedules and optimizers: what a recipe's ``optimizer`` and ``schedule`` mean.

- ``make_schedule(name, rate, steps)``: ``constant``, ``cosine``, ``one_cycle`` (``OneCycle``) or
  ``step`` (divide by 10 at 50% and 75%, He et al. 2015);
- ``make_optimizer(recipe, steps, model)``: Adam, AdamW or SGD with Nesterov momentum;
- ``DiscriminativeSGD``: SGD with a learning-rate multiplier per variable, used for fine-tuning
  (lower rates for early layers, Howard & Ruder 2018) and for airbench's 64x rate on batch-norm
  shifts;
- ``MuonSGD``: that SGD for everything but the convolution kernels, which take Muon's
  orthogonalized steps (``orthogonalized``; Jordan et al. 2024, as airbench94_muon uses it).
  Keras' own ``keras.optimizers.Muon`` gives every variable that is not 2-D (so every
  convolution kernel) to AdamW instead.
"""
from __future__ import annotations

import keras
from keras import ops

from course.layers.walk import layers_of_type
from course.transfer import layer_multipliers


@keras.saving.register_keras_serializable(package="course")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle schedule (Smith & Topin 2018): linear warm-up to ``peak``, then linear decay.

    ``warmup`` is the fraction of ``total_steps`` spent rising from ``peak * start_factor``; the
    rate then falls linearly to ``peak * end_factor`` at the last step.
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
OPTIMIZERS = ("adam", "adamw", "sgd", "muon")


def make_schedule(name: str, learning_rate: float, total_steps: int, **args):
    """A learning rate or schedule: ``constant``, ``cosine``, ``one_cycle`` or ``step``.

    ``args`` go to the schedule: ``OneCycle``'s ``warmup``, ``start_factor``, ``end_factor``;
    ``cosine``'s ``warmup`` (a fraction of the steps spent rising linearly from 0).
    """
    total_steps = max(1, int(total_steps))
    if name == "constant":
        return learning_rate
    if name == "cosine":  # optional linear warm-up from 0 over a fraction of the steps
        warmup = int(args.get("warmup", 0.0) * total_steps)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, max(1, total_steps - warmup), warmup_target=learning_rate,
                warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "one_cycle":
        return OneCycle(learning_rate, total_steps, **args)
    if name == "step":
        bounds = [int(total_steps * 0.5), int(total_steps * 0.75)]
        values = [learning_rate, learning_rate / 10, learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    raise ValueError(f"Unknown schedule {name!r}; use one of {', '.join(SCHEDULES)}.")


@keras.saving.register_keras_serializable(package="course")
class DiscriminativeSGD(keras.optimizers.SGD):
    """SGD whose learning rate is multiplied, per variable, by ``multipliers[variable.path]``.

    For SGD with (Nesterov) momentum, multiplying a variable's learning rate by ``f`` is the same
    as multiplying its gradient by ``f`` (the update is linear in both), so that is how it is
    done: the gradients are scaled before the usual SGD step. Decoupled weight decay stays at
    the base rate. (For adaptive optimizers such as Adam, scaling the gradient would not change
    the step; use separate optimizers there.)
    """

    def __init__(self, multipliers=None, **kwargs):
        super().__init__(**kwargs)
        self.multipliers = {str(k): float(v) for k, v in (multipliers or {}).items()}
        self.built_factors = None

    def build(self, variables):
        self.built_factors = [self.multipliers.get(v.path, 1.0) for v in variables]
        super().build(variables)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:  # stateless (JAX) path: variables in build order
            factors = self.built_factors
        else:
            factors = [self.multipliers.get(v.path, 1.0) for v in trainable_variables]
        grads = [g if g is None or f == 1.0 else g * f for g, f in zip(grads, factors)]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "multipliers": self.multipliers}


#: Newton-Schulz quintic coefficients (Jordan et al. 2024): five steps take every singular value
#: of a matrix scaled to norm 1 into roughly [0.7, 1.2], near the orthogonal factor U V^T.
NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)


def orthogonalized(matrix, steps: int = 5):
    """About ``U V^T`` of ``matrix = U S V^T`` (its singular values all set near 1), by
    ``steps`` Newton-Schulz iterations, matmuls only: Muon's step direction."""
    a, b, c = NEWTON_SCHULZ
    x = matrix / (ops.sqrt(ops.sum(ops.square(matrix))) + 1e-7)
    wide = matrix.shape[0] <= matrix.shape[1]
    x = x if wide else ops.transpose(x)
    for _ in range(steps):
        gram = ops.matmul(x, ops.transpose(x))
        x = a * x + ops.matmul(b * gram + c * ops.matmul(gram, gram), x)
    return x if wide else ops.transpose(x)


def _forms(variable) -> list:
    """``variable`` as an optimizer's ``update_step`` may be given it: the Keras variable; on
    TensorFlow its ``tf.Variable``, and under a tf.distribute strategy each replica's copy."""
    forms = [variable]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        forms.append(variable.value)
        forms.extend(tf.distribute.get_strategy().experimental_local_results(variable.value))
    return forms


@keras.saving.register_keras_serializable(package="course")
class MuonSGD(DiscriminativeSGD):
    """airbench94_muon's optimizer: Muon for convolution kernels, SGD for the rest.

    A kernel (any 4-D variable, ``(kh, kw, in, out)``) keeps its own Nesterov momentum buffer
    (``kernel_momentum``); its step is that direction as an ``(kh * kw * in, out)`` matrix
    ``orthogonalized``, times the learning rate times ``kernel_rate_factor``; before the step
    the kernel is rescaled to a norm of ``sqrt(out)`` (each filter about unit norm: the batch norm
    after it makes the scale irrelevant, and a fixed scale keeps the step's relative size fixed).
    Every other variable takes ``DiscriminativeSGD``'s step.
    """

    def __init__(self, kernel_rate_factor: float = 1.0, kernel_momentum: float = 0.6, **kwargs):
        super().__init__(**kwargs)
        if not self.momentum:
            raise ValueError("MuonSGD keeps the kernels' momentum in SGD's buffers: give it "
                             "momentum > 0 (the rest's SGD momentum; the kernels use "
                             "kernel_momentum).")
        self.kernel_rate_factor = float(kernel_rate_factor)
        self.kernel_momentum = float(kernel_momentum)
        self.kernel_buffers = {}

    def build(self, variables):
        super().build(variables)
        # SGD's ``momentums`` follow ``variables`` one to one. ``update_step`` is given the Keras
        # variable; on TensorFlow its ``tf.Variable`` (``.value``), and under a tf.distribute
        # strategy each replica's copy of it: each finds the buffer.
        self.kernel_buffers = {}
        for variable, buffer in zip(variables, self.momentums):
            if len(variable.shape) == 4:
                self.kernel_buffers.update(dict.fromkeys(map(id, _forms(variable)), buffer))

    def update_step(self, gradient, variable, learning_rate):
        if len(variable.shape) != 4:
            return super().update_step(gradient, variable, learning_rate)
        buffer = self.kernel_buffers.get(id(variable))
        if buffer is None:
            raise ValueError(f"MuonSGD was not built with the kernel {variable.name!r}: build it "
                             "with every variable it updates (model.compile does).")
        kh, kw, c_in, c_out = variable.shape
        gradient = ops.cast(gradient, variable.dtype)
        self.assign(buffer, buffer * self.kernel_momentum + gradient)
        direction = gradient + buffer * self.kernel_momentum  # Nesterov
        norm = ops.sqrt(ops.sum(ops.square(variable)))
        self.assign(variable, variable * (c_out ** 0.5 / (norm + 1e-7)))
        step = orthogonalized(ops.reshape(direction, (kh * kw * c_in, c_out)))
        rate = ops.cast(learning_rate, variable.dtype) * self.kernel_rate_factor
        self.assign_sub(variable, rate * ops.reshape(step, variable.shape))

    def get_config(self):
        return {**super().get_config(), "kernel_rate_factor": self.kernel_rate_factor,
                "kernel_momentum": self.kernel_momentum}


def batch_norm_shift_multipliers(model, factor: float) -> dict:
    """``{variable path: factor}`` for the shift (``beta``) of every BatchNormalization layer."""
    return {layer.beta.path: float(factor)
            for layer in layers_of_type(model, keras.layers.BatchNormalization) if layer.center}


def make_optimizer(recipe, total_steps: int, model=None):
    """The optimizer a recipe names (``adam``, ``adamw``, ``sgd`` with Nesterov momentum,
    ``muon``: ``MuonSGD`` with the recipe's ``optimizer_args``).

    With a ``model``, SGD applies the recipe's learning-rate multipliers: per layer group
    (``layer_lr_multipliers``, for fine-tuning) and for the batch-norm shifts
    (``bn_shift_lr_multiplier``, airbench's "bias scaler").
    """
    lr = make_schedule(recipe.schedule, recipe.learning_rate, total_steps, **recipe.schedule_args)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    if recipe.optimizer not in ("sgd", "muon"):
        raise ValueError(f"Unknown optimizer {recipe.optimizer!r}; use one of "
                         f"{', '.join(OPTIMIZERS)}.")
    kwargs = dict(learning_rate=lr, momentum=recipe.momentum, nesterov=True,
                  weight_decay=recipe.weight_decay or None)
    multipliers = {}
    if model is not None and recipe.layer_lr_multipliers:
        multipliers.update(layer_multipliers(model, recipe.layer_lr_multipliers))
    if model is not None and recipe.bn_shift_lr_multiplier != 1:
        for path, factor in batch_norm_shift_multipliers(
                model, recipe.bn_shift_lr_multiplier).items():
            multipliers[path] = multipliers.get(path, 1.0) * factor
    if recipe.optimizer == "muon":
        return MuonSGD(multipliers=multipliers, **recipe.optimizer_args, **kwargs)
    if multipliers:
        return DiscriminativeSGD(multipliers=multipliers, **kwargs)
    return keras.optimizers.SGD(**kwargs)
