"""Recipes: how to train an architecture on a data set the course has, or on data you bring.

A ``Recipe`` names a model of ``course.models`` (or none, for a model you build yourself), a data
set (``mnist``, ``cifar10``, ``cifar100``; or none, ``data=None``, for arrays or a ``tf.data``
pipeline you pass to ``train``: ``course.inputs``) and the training: optimizer, schedule,
epochs, batch size, augmentation (``course.augment`` names), label smoothing, test-time
augmentation (``course.evaluation``), mixed precision. ``course.training.train(recipe)`` runs
one end to end; ``python -m course recipes`` lists the registered ones and ``python -m course
train NAME`` trains one. Every field is checked when the recipe is made, so a typo fails at once.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

from course import augment, data, precision


@dataclass(frozen=True)
class Recipe:
    """Everything ``course.training.train`` needs besides the data arrays."""

    model: str | None = None  # a name from course.models; None: pass your own model to train()
    data: str | None = "mnist"  # mnist, cifar10, cifar100; None: data you pass to train()
    model_args: dict = field(default_factory=dict)  # options for course.models.create
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"  # adam, adamw, sgd (Nesterov), muon (conv kernels; sgd for the rest)
    optimizer_args: dict = field(default_factory=dict)  # muon: kernel_rate_factor, kernel_momentum
    learning_rate: float = 1e-3
    momentum: float = 0.9  # SGD momentum
    schedule: str = "cosine"  # constant, cosine, one_cycle, step
    schedule_args: dict = field(default_factory=dict)  # OneCycle's warmup/start/end factors
    weight_decay: float = 0.0  # decoupled: each step multiplies weights by 1 - lr * weight_decay
    bn_shift_lr_multiplier: float = 1.0  # learning-rate factor for batch-norm shifts (airbench)
    layer_lr_multipliers: tuple = ()  # ((first layer name or None, factor), ...): fine-tuning
    lookahead: bool = False  # Lookahead weight averaging (course.callbacks.Lookahead)
    freeze_after: dict = field(default_factory=dict)  # {layer name: epochs it trains}
    progressive: tuple = ()  # ((side, epochs), ...): first epochs on smaller images, then full
    label_smoothing: float = 0.0
    augment: tuple = ()  # course.augment names, e.g. ("flip", "pad_crop:4")
    validation_split: float = 0.0  # hold out this fraction of the training set
    tta: str = "none"  # test-time augmentation: none, flip, flip_shift (course.evaluation)
    precise_bn: bool = True  # re-estimate batch-norm statistics after training
    mixed_precision: str = "off"  # off, auto (bfloat16 where the CPU has it), bfloat16
    summary: str = ""
    name: str = ""  # set by register(): what metrics.json and the start line call the recipe

    def __post_init__(self):
        from course.evaluation import TTA_VIEWS
        from course.optimizers import OPTIMIZERS, SCHEDULES

        object.__setattr__(self, "augment", augment.check(self.augment))
        if self.data is not None:
            data.spec(self.data)
        checks = [("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                  ("tta", self.tta, TTA_VIEWS[:3]),
                  ("mixed_precision", self.mixed_precision, precision.SETTINGS)]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"Recipe {name}={value!r}; use one of {', '.join(allowed)}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"Recipe needs epochs >= 1 and batch_size >= 1, got {self.epochs} "
                             f"and {self.batch_size}.")
        needs_sgd = self.layer_lr_multipliers or self.bn_shift_lr_multiplier != 1
        if needs_sgd and self.optimizer not in ("sgd", "muon"):
            raise ValueError("Per-layer learning-rate multipliers need optimizer='sgd' (see "
                             "course.optimizers.DiscriminativeSGD).")
        object.__setattr__(self, "layer_lr_multipliers",
                           tuple(tuple(group) for group in self.layer_lr_multipliers))
        object.__setattr__(self, "progressive", _checked_stages(self.progressive, self.epochs))
        unknown = set(self.optimizer_args) - {"kernel_rate_factor", "kernel_momentum"}
        if unknown or (self.optimizer_args and self.optimizer != "muon"):
            raise ValueError(f"optimizer_args {sorted(self.optimizer_args)} are for "
                             "optimizer='muon': kernel_rate_factor, kernel_momentum.")
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split}.")
        if self.model is not None:
            from course import models

            models.entry(self.model)

    def replace(self, **changes) -> "Recipe":
        """A copy with ``changes``; ``model_args`` are merged into the current ones."""
        if "model_args" in changes:
            changes["model_args"] = {**self.model_args, **changes["model_args"]}
        return dataclasses.replace(self, **changes)

    def input_shape(self) -> tuple:
        """(height, width, channels) of the recipe's data set."""
        if self.data is None:
            raise ValueError("This recipe names no data set (data=None): the input shape is "
                             "that of the data you pass to course.training.train.")
        shape = data.spec(self.data).image_shape
        return shape if len(shape) == 3 else (*shape, 1)

    def create(self, input_shape=None, num_classes=None):
        """Build the recipe's model, in its precision, for its data set; with ``data=None``,
        for ``input_shape`` and ``num_classes`` (``train`` reads them off your data).
        ``model_args`` win over both."""
        if self.model is None:
            raise ValueError("This recipe names no model: build one and pass it to "
                             "course.training.train(recipe, model=...).")
        if self.data is not None:
            input_shape, num_classes = self.input_shape(), data.spec(self.data).num_classes
        options = {"input_shape": input_shape, "num_classes": num_classes, **self.model_args}
        missing = [key for key in ("input_shape", "num_classes") if options[key] is None]
        if missing:
            raise ValueError(f"Recipe {self.model!r} with data=None cannot tell the model's "
                             f"{' and '.join(missing)}: pass your data to course.training.train"
                             f"(recipe, data), give them in model_args (e.g. model_args="
                             f"{{'num_classes': 5}} for a tf.data pipeline), or pass model=.")
        return precision.create(self.model, self.mixed_precision, **options)


def _checked_stages(stages, epochs: int) -> tuple:
    """``progressive`` as ``((side, epochs), ...)`` of positive integers, or a ValueError."""
    try:
        stages = tuple((int(side), int(count)) for side, count in stages)
    except (TypeError, ValueError):
        raise ValueError(f"progressive must be pairs (side in pixels, epochs), e.g. ((16, 2), "
                         f"(24, 2)), got {stages!r}.") from None
    if any(side < 1 or count < 1 for side, count in stages):
        raise ValueError(f"progressive needs sides and epochs >= 1, got {stages}.")
    if sum(count for _, count in stages) > epochs:
        raise ValueError(f"progressive's stages last {sum(c for _, c in stages)} epochs, more "
                         f"than the recipe's {epochs}: shorten them or raise epochs.")
    return stages


class UnknownRecipeError(KeyError):
    """A recipe name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


RECIPES: dict[str, Recipe] = {}


def register(name: str, recipe: Recipe) -> Recipe:
    """Add ``recipe`` under ``name`` (a recipe package outside ``course`` may add its own)."""
    if recipe.data is None:
        raise ValueError(f"Recipe {name!r} names no data set: `python -m course train` needs "
                         "one (mnist, cifar10, cifar100). Keep a recipe for your own data "
                         "unregistered and pass the data to course.training.train.")
    recipe = dataclasses.replace(recipe, name=name)
    if name in RECIPES and RECIPES[name] != recipe:
        raise ValueError(f"recipe {name!r} is registered twice")
    RECIPES[name] = recipe
    return recipe


def get(name: str) -> Recipe:
    """The registered recipe ``name``."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, RECIPES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownRecipeError(
            f"Unknown recipe {name!r}.{hint} List them with `python -m course recipes`; "
            "architectures without a recipe (ImageNet models) can be built and inspected with "
            "course.models.create, not trained here.")
    return RECIPES[name]


def names() -> list[str]:
    return sorted(RECIPES)


# ---------------------------------------------------------------------------------------------
# The course's recipes (architecture name = recipe name)

# Two epochs at batch 128 with a warm-up and cosine decay reach >= 99.2% (measured in
# benchmarks/results/main_job.md); bfloat16 where the CPU has it natively.
register("mnist_two_layer_cnn", Recipe(
    "mnist_two_layer_cnn", "mnist", epochs=1, batch_size=64, learning_rate=3e-3,
    schedule_args={"warmup": 0.2}, label_smoothing=0.1, mixed_precision="auto",
    summary="the lecture's two-layer CNN (the README's main job)"))
register("lenet5", Recipe("lenet5", "mnist", epochs=10, batch_size=64, learning_rate=1e-3,
                          summary="LeNet-5 on MNIST (lesson 03)"))
register("cifar10_cnn", Recipe("cifar10_cnn", "cifar10", epochs=30, batch_size=128,
                               summary="the TensorFlow tutorial CNN, augmentation in the model"))
register("nin", Recipe("nin", "cifar10", epochs=40, optimizer="sgd", learning_rate=0.05,
                       weight_decay=1e-4, augment=("flip", "pad_crop:4"),
                       summary="Network in Network on CIFAR-10"))
_CIFAR_RESNET = Recipe(data="cifar10", epochs=60, optimizer="sgd", learning_rate=0.1,
                       schedule="step", weight_decay=1e-4, augment=("flip", "pad_crop:4"))
for _depth in (20, 32, 44, 56, 110):
    for _kind in ("resnet", "plain"):
        register(f"cifar_{_kind}{_depth}", _CIFAR_RESNET.replace(
            model=f"cifar_{_kind}{_depth}", summary="He et al. 2015, sec. 4.2 schedule"))
for _depth in (110, 164):
    register(f"preact_resnet{_depth}", _CIFAR_RESNET.replace(
        model=f"preact_resnet{_depth}", summary="He et al. 2016 on CIFAR-10"))
for _name in ("cifar_strided", "cifar_diffstride"):
    register(_name, Recipe(_name, "cifar10", epochs=20, learning_rate=2e-3,
                           augment=("flip", "pad_crop:4"), summary="lesson 16's pair"))
