"""Data-parallel training on several devices, with the engines Keras and TensorFlow ship.

``course.training.train(recipe, devices=N)`` (``python -m course train RECIPE --devices N|all``)
trains one copy of the model on each of N devices: every step splits the global batch into N
per-replica batches, each replica computes its gradients, an all-reduce sums them, and every
replica applies the same update, so the weights stay identical. With the same global batch this
is the same mathematics as one device (up to float rounding and batch norm, whose statistics are
per replica unless the layer is synchronised).

- TensorFlow backend: ``tf.distribute.MirroredStrategy`` over all GPUs, or over N *logical* CPU
  devices (for teaching and tests: one CPU split into N devices; it shows the mechanics, not a
  speed-up, since the replicas share the same cores).
- JAX backend: ``keras.distribution.DataParallel`` over the visible devices.

Logical CPU devices must be configured before TensorFlow starts its runtime, so call
``use_cpu_devices(n)`` (or ``train(..., devices=n)``) before any other TensorFlow work.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


class DeviceError(ValueError):
    """A device request the machine cannot satisfy; the message says what it has."""


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _backend() -> str:
    import keras

    return keras.backend.backend()


def gpus() -> list[str]:
    """Names of the visible GPUs (empty on a CPU-only machine)."""
    if _backend() == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    import tensorflow as tf

    # physical devices: listing them does not start the runtime (logical ones would)
    found = tf.config.list_physical_devices("GPU")
    return [f"/device:GPU:{i}" for i in range(len(found))]


def use_cpu_devices(n: int) -> list[str]:
    """Split the CPU into ``n`` logical devices (TensorFlow); returns their names.

    Must run before TensorFlow initialises its runtime; afterwards the existing split is kept,
    and a request for more devices than it has is a ``DeviceError``.
    """
    import tensorflow as tf

    if n > cpu_cores():
        raise DeviceError(f"{n} CPU devices requested, but this machine has {cpu_cores()} CPU "
                          f"cores; ask for at most {cpu_cores()} (or use GPUs).")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:  # the runtime has started: keep what it has
        pass
    names = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(names) < n:
        raise DeviceError(
            f"TensorFlow already started with {len(names)} CPU device(s), so {n} cannot be made "
            "now: ask for devices before any other TensorFlow work (a fresh process or kernel).")
    return names[:n]


@dataclass
class Plan:
    """What a data-parallel run will do; ``describe()`` is printed and saved in metrics.json."""

    replicas: int
    devices: list
    global_batch: int
    engine: str
    strategy: object = None  # tf.distribute.Strategy or keras.distribution.DataParallel

    @property
    def per_replica_batch(self) -> int:
        return self.global_batch // self.replicas

    def describe(self) -> dict:
        return {"replicas": self.replicas, "devices": list(self.devices), "engine": self.engine,
                "global_batch": self.global_batch, "per_replica_batch": self.per_replica_batch,
                "learning_rate_rule": "unchanged: the recipe's rate is for its global batch, "
                                      "which stays the same on any number of devices"}

    def scope(self):
        """The context in which the model is built and compiled."""
        if self.strategy is None or self.engine != "tf.distribute.MirroredStrategy":
            return contextlib.nullcontext()
        return self.strategy.scope()


def plan(devices, global_batch: int) -> Plan | None:
    """The data-parallel plan for ``devices`` (None or 1: one device; N; ``"all"``)."""
    if devices in (None, 1, "1"):
        return None
    available_gpus = gpus()
    if devices == "all":
        count = len(available_gpus) or cpu_cores()
    else:
        try:
            count = int(devices)
        except (TypeError, ValueError):
            raise DeviceError(f"devices must be a number or 'all', got {devices!r}.") from None
        if count < 1:
            raise DeviceError(f"devices must be at least 1, got {count}.")
        if available_gpus and count > len(available_gpus):
            raise DeviceError(f"{count} devices requested, but this machine has "
                              f"{len(available_gpus)} GPU(s): {', '.join(available_gpus)}.")
    if count == 1:
        return None
    if global_batch % count:
        raise DeviceError(f"The global batch {global_batch} does not split evenly over {count} "
                          f"devices; choose a batch size divisible by {count}.")
    names = available_gpus[:count] if available_gpus else None
    if _backend() == "jax":
        import jax
        import keras

        jax_devices = jax.devices()
        if count > len(jax_devices):
            raise DeviceError(f"{count} devices requested, but JAX sees {len(jax_devices)}; on a "
                              "CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N before "
                              "JAX starts.")
        chosen = [f"{d.platform}:{d.id}" for d in jax_devices[:count]]
        return Plan(count, chosen, global_batch, "keras.distribution.DataParallel",
                    keras.distribution.DataParallel(devices=chosen))
    import tensorflow as tf

    names = tuple(names or use_cpu_devices(count))
    if names not in _STRATEGIES:  # one strategy per device set: a second one in the same
        _STRATEGIES[names] = tf.distribute.MirroredStrategy(list(names))  # process clashes
    return Plan(count, list(names), global_batch, "tf.distribute.MirroredStrategy",
                _STRATEGIES[names])


_STRATEGIES: dict = {}


@contextlib.contextmanager
def activated(p: Plan | None):
    """Run the body under plan ``p`` (a no-op for ``None``)."""
    if p is None:
        yield
        return
    if p.engine == "keras.distribution.DataParallel":
        import keras

        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(p.strategy)
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)
        return
    with p.scope():
        yield
