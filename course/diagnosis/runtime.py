"""What runs: the Keras backend (asked for and in effect, and whether its package imports), the
devices, native bfloat16 and the precision the recipes will use, and the time of one training
step of the lecture's network."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from course.diagnosis.check import guarded, ok, problem, warning
from course.diagnosis.install import PIP, requirements, supported

#: The package each Keras backend needs.
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy",
                    "openvino": "openvino"}
#: The backends the course runs on (JAX for the backend-neutral lessons and tests).
SUPPORTED_BACKENDS = ("tensorflow", "jax")
#: The recipe whose step is timed (the lecture's network, ``make main``), and the steps timed.
STEP_RECIPE = "mnist_two_layer_cnn"
TIMED_STEPS = 3


def asked_backend() -> tuple[str, str]:
    """``(backend, where that choice comes from)``, as Keras decides it on its first import."""
    value = os.environ.get("KERAS_BACKEND", "").strip()
    if value:
        return value, "set by KERAS_BACKEND"
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        value = json.loads((home / "keras.json").read_text()).get("backend", "")
    except (OSError, ValueError, AttributeError):
        value = ""
    if value:
        return value, f"set in {home / 'keras.json'}"
    return "tensorflow", "Keras' default"


def _version(module) -> str:
    return getattr(module, "__version__", "")


@guarded("backend")
def check_backend():
    asked, origin = asked_backend()
    restart = ("restart the kernel (or the program) with KERAS_BACKEND set before anything "
               "imports Keras, or unset it")
    try:
        import keras
    except Exception as err:  # noqa: BLE001 - e.g. ModuleNotFoundError: jax
        package = BACKEND_PACKAGES.get(asked, asked)
        req = requirements().get(package)
        return problem("backend", f"Keras does not import with backend {asked} ({origin}): "
                       f"{type(err).__name__}: {err}", f'{PIP} install "{package}'
                       f'{supported(req) if req else ""}", or unset KERAS_BACKEND', asked=asked)
    active = keras.backend.backend()
    facts = dict(asked=asked, origin=origin, active=active)
    if asked != active:
        return problem("backend", f"{asked} ({origin}), but Keras was imported earlier in this "
                       f"process with {active}, which stays until a restart", restart,
                       **facts)
    package = BACKEND_PACKAGES.get(active, active)
    try:
        module = importlib.import_module(package)
        if active != "tensorflow":  # the input pipelines are tf.data on every backend
            importlib.import_module("tensorflow")
    except Exception as err:  # noqa: BLE001 - a broken install says so in any way
        return problem("backend", f"{active}: {type(err).__name__}: {err}",
                       f"reinstall it: {PIP} install --force-reinstall {package}",
                       **facts)
    if active not in SUPPORTED_BACKENDS:
        return warning("backend", f"{active} ({origin}): the course runs on "
                       f"{' and '.join(SUPPORTED_BACKENDS)} only", restart.replace(
                           "set before", "set to tensorflow before"), **facts)
    return ok("backend", f"{active} ({origin}); {package} {_version(module)} imports", **facts)


@guarded("devices")
def check_devices():
    import keras

    from course import distribute

    active = keras.backend.backend()
    gpus = distribute.gpus()
    if active == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")  # neither of these starts the runtime
        split = tf.config.get_logical_device_configuration(cpus[0]) if cpus else None
        logical = len(split) if split else len(cpus)
    elif active == "jax":
        import jax

        logical = len(jax.devices("cpu"))
    else:
        logical = 1
    cores = distribute.cpu_cores()
    facts = dict(gpus=gpus, logical_cpu_devices=logical, cpu_cores=cores)
    cpu = f"{logical} logical CPU device{'s' if logical != 1 else ''} on {cores} cores"
    if gpus:
        return ok("devices", f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''} "
                  f"({', '.join(gpus)}); {cpu}", **facts)
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        fix = (f'{PIP} install "tensorflow[and-cuda]" (Linux)' if active == "tensorflow"
               else f'{PIP} install -U "jax[cuda12]"')
        return warning("devices", f"an NVIDIA driver is here, but {active} sees no GPU; {cpu}",
                       f"{fix}, then restart", **facts)
    return ok("devices", f"no GPU (training runs on the CPU); {cpu}", **facts)


@guarded("precision")
def check_precision():
    from course import precision, recipes

    native = precision.native_bfloat16()
    auto = precision.policy_name("auto")
    settings = {name: recipes.get(name).mixed_precision for name in recipes.names()}
    on_auto = sorted(n for n, s in settings.items() if s == "auto")
    forced = sorted(n for n, s in settings.items() if s == "bfloat16")
    facts = dict(native_bfloat16=native, auto_policy=auto, auto_recipes=on_auto)
    cpu = ("native bfloat16 (avx512_bf16 or amx_bf16)" if native
           else "no native bfloat16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo)")
    if auto == "float32":
        detail = (f"{cpu}: every recipe trains in float32 ({', '.join(on_auto) or 'none'} "
                  "would use bfloat16 on a CPU that has it)")
    else:
        detail = (f"{cpu}: {', '.join(on_auto) or 'no recipe'} train"
                  f"{'s' if len(on_auto) == 1 else ''} in {auto}, the other recipes in float32")
    if forced and not native:
        return warning("precision", f"{detail}; {', '.join(forced)} force bfloat16, emulated "
                       "here (slower)", "recipe.replace(mixed_precision='auto')", **facts)
    return ok("precision", detail, **facts)


@guarded("train step")
def check_step():
    """One training step of the lecture's network on a batch of random pixels (no data set
    needed), under the recipe's precision; the median of a few steps after the first."""
    import keras
    import numpy as np

    from course import precision, recipes

    recipe = recipes.get(STEP_RECIPE)
    policy = precision.policy_name(recipe.mixed_precision)
    model = precision.create(recipe.model, recipe.mixed_precision)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (recipe.batch_size, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 10, recipe.batch_size)
    start = time.perf_counter()
    loss = model.train_on_batch(x, y)
    first = time.perf_counter() - start
    steps = []
    for _ in range(TIMED_STEPS):
        start = time.perf_counter()
        loss = model.train_on_batch(x, y)
        steps.append(time.perf_counter() - start)
    step = statistics.median(steps)
    loss = float(np.asarray(loss).reshape(-1)[0])
    epoch = step * -(-60000 // recipe.batch_size)
    facts = dict(model=recipe.model, batch=recipe.batch_size, policy=policy,
                 first_step_s=round(first, 3), step_s=round(step, 4), loss=loss)
    if not np.isfinite(loss):
        return problem("train step", f"{recipe.model} gave a loss of {loss} on one step",
                       "report it with the output of python -m course doctor --json", **facts)
    return ok("train step", f"{recipe.model}, batch {recipe.batch_size}, {policy}: "
              f"{step * 1000:.0f} ms a step after {first:.1f} s of tracing "
              f"(an MNIST epoch: about {epoch:.0f} s)", **facts)
