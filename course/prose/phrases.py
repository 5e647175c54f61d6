"""Numbers and recipes in words: a learning rate, a long time, a CPU, a recipe and its fields."""
from __future__ import annotations

import re

from course.prose.arithmetic import formatted
from course.prose.errors import ProseError

#: What ``lscpu`` calls a CPU (family, model) -> the name prose uses (benchmarks/machine.py).
CPU_NAMES = {(25, 1): "Zen 3", (25, 17): "Zen 4", (26, 2): "Zen 5"}

_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with Nesterov momentum",
               "muon": "Muon on the convolution kernels and SGD with Nesterov momentum elsewhere"}
_PRECISION = {"off": "float32", "auto": "bfloat16 where the CPU has it natively, else float32",
              "bfloat16": "mixed bfloat16"}


def rate(value: float) -> str:
    """A learning rate as people write it: 3e-3, 0.05, 0.1."""
    if 0 < value < 0.01:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def duration(seconds: float) -> str:
    """A long time as people say it: ``55 minutes``, ``2.2 hours``, ``11 hours``."""
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} minutes"
    hours = minutes / 60
    return f"{hours:.1f} hours" if hours < 10 else f"{hours:.0f} hours"


def cpu_name(cpu: str) -> str:
    """``AMD EPYC (family 25, model 17)`` -> ``AMD EPYC Zen 4``; unknown CPUs as they are."""
    match = re.fullmatch(r"(.*?) \(family (\d+), model (\d+)\)", cpu or "")
    if match and (int(match[2]), int(match[3])) in CPU_NAMES:
        return f"{match[1]} {CPU_NAMES[int(match[2]), int(match[3])]}"
    return cpu or "an unnamed CPU"


def schedule_phrase(recipe) -> str:
    """The schedule in words: ``cosine decay after a 20% linear warm-up``."""
    args = recipe.schedule_args
    if recipe.schedule == "cosine":
        warmup = args.get("warmup", 0)
        return f"a {warmup:.0%} linear warm-up, then cosine decay" if warmup else "cosine decay"
    if recipe.schedule == "one_cycle":
        return f"a one-cycle schedule ({args.get('warmup', 0.25):.0%} warm-up)"
    if recipe.schedule == "step":
        return "a step schedule (divided by 10 at 50% and 75% of the steps)"
    return "constant"


def recipe_field(recipe, name: str) -> str:
    """One field of a recipe, as prose quotes it."""
    if name == "optimizer":
        return _OPTIMIZERS[recipe.optimizer]
    if name == "learning_rate":
        return rate(recipe.learning_rate)
    if name == "schedule":
        return schedule_phrase(recipe)
    if name == "mixed_precision":
        return _PRECISION[recipe.mixed_precision]
    if name == "augment":
        return ", ".join(recipe.augment) or "none"
    if not hasattr(recipe, name) or name.startswith("_"):
        raise ProseError(f"a Recipe has no field {name!r}")
    value = getattr(recipe, name)
    return formatted(value, "," if isinstance(value, int) and not isinstance(value, bool) else None)


def recipe_phrase(recipe) -> str:
    """The recipe in one phrase: optimizer, rate and schedule, batch, epochs, precision."""
    optimizer, lr, warmup = (_OPTIMIZERS[recipe.optimizer], rate(recipe.learning_rate),
                             recipe.schedule_args.get("warmup", 0))
    if recipe.schedule == "cosine" and warmup:
        parts = [f"{optimizer}, learning rate rising linearly to {lr} over the first "
                 f"{warmup:.0%} of the steps, then cosine decay"]
    elif recipe.schedule == "constant":
        parts = [f"{optimizer} at a constant learning rate {lr}"]
    else:
        parts = [f"{optimizer} at learning rate {lr} with {schedule_phrase(recipe)}"]
    if recipe.weight_decay:
        parts.append(f"weight decay {rate(recipe.weight_decay)}")
    if recipe.augment:
        parts.append(f"augmentation ({', '.join(recipe.augment)})")
    if recipe.label_smoothing:
        parts.append(f"label smoothing {recipe.label_smoothing:g}")
    if recipe.lookahead:
        parts.append("Lookahead")
    epochs = "epoch" if recipe.epochs == 1 else "epochs"
    parts += [f"batch {recipe.batch_size:,}", f"{recipe.epochs} {epochs}"]
    if recipe.progressive:
        stages = ", ".join(f"{count} at {side} pixels" for side, count in recipe.progressive)
        parts[-1] += f" ({stages}, the rest at full size)"
    if recipe.mixed_precision != "off":
        parts.append(_PRECISION[recipe.mixed_precision])
    return ", ".join(parts)
