"""Learning-rate schedules and optimizers: what a recipe's ``optimizer`` and ``schedule`` mean.

- ``make_schedule(name, rate, steps)``: ``constant``, ``cosine``, ``one_cycle`` (``OneCycle``) or
  ``step`` (divide by 10 at 50% and 75%, He et al. 2015);
- ``make_optimizer(recipe, steps, model)``: Adam, AdamW or SGD with Nesterov momentum;
- ``DiscriminativeSGD``: SGD with a learning-rate multiplier per variable, used for fine-tuning
  (lower rates for early layers, Howard & Ruder 2018) and for airbench's 64x rate on batch-norm
  shifts.
"""
from __future__ import annotations

import keras

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
OPTIMIZERS = ("adam", "adamw", "sgd")


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


def batch_norm_shift_multipliers(model, factor: float) -> dict:
    """``{variable path: factor}`` for the shift (``beta``) of every BatchNormalization layer."""
    return {layer.beta.path: float(factor)
            for layer in layers_of_type(model, keras.layers.BatchNormalization) if layer.center}


def make_optimizer(recipe, total_steps: int, model=None):
    """The optimizer a recipe names (``adam``, ``adamw``, ``sgd`` with Nesterov momentum).

    With a ``model``, SGD applies the recipe's learning-rate multipliers: per layer group
    (``layer_lr_multipliers``, for fine-tuning) and for the batch-norm shifts
    (``bn_shift_lr_multiplier``, airbench's "bias scaler").
    """
    lr = make_schedule(recipe.schedule, recipe.learning_rate, total_steps, **recipe.schedule_args)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    if recipe.optimizer != "sgd":
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
    if multipliers:
        return DiscriminativeSGD(multipliers=multipliers, **kwargs)
    return keras.optimizers.SGD(**kwargs)
