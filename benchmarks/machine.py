"""Machine facts every benchmark prints with its times: CPU model, native bfloat16, the measured
matmul GFLOP/s (float32 and bfloat16), load (is anything else running?), versions."""
from __future__ import annotations

import os
import platform
import subprocess
import time


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {key.strip(): value.strip() for key, value in fields.items()}
        if "Model name" in fields:
            # a virtual CPU may say only "AMD EPYC": family and model tell the generation
            # (AMD family 25 model 17 is Zen 4, family 26 is Zen 5)
            return (f"{fields['Model name']} (family {fields.get('CPU family', '?')}, "
                    f"model {fields.get('Model', '?')})")
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average() -> float:
    """1-minute load average (about 0 on an idle machine, ~cores when something else runs)."""
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return float("nan")


def describe(measure_peaks: bool = True) -> dict:
    from course import precision
    from course.grading.notebooks.speed import matmul_gflops

    facts = {"cpu": cpu_model(), "cores": cores(), "native_bfloat16": precision.native_bfloat16(),
             "load_average_1min": load_average(), "python": platform.python_version()}
    import keras
    import tensorflow as tf

    facts.update(keras=keras.__version__, tensorflow=tf.__version__)
    if measure_peaks:
        facts["matmul_gflops_float32"] = round(matmul_gflops("float32"), 1)
        if facts["native_bfloat16"]:
            facts["matmul_gflops_bfloat16"] = round(matmul_gflops("bfloat16"), 1)
    return facts


def print_facts(facts: dict) -> None:
    peaks = ", ".join(f"{k.split('_')[-1]} {v} GFLOP/s" for k, v in facts.items()
                      if k.startswith("matmul_gflops"))
    print(f"machine: {facts['cpu']}, {facts['cores']} cores, native bfloat16 "
          f"{'yes' if facts['native_bfloat16'] else 'no'}; matmul {peaks or 'not measured'}; "
          f"load average {facts['load_average_1min']:.2f} "
          f"({'idle' if facts['load_average_1min'] < 0.5 else 'shared: other work running'}); "
          f"TensorFlow {facts['tensorflow']}, Keras {facts['keras']}", flush=True)


def step_timer():
    """A Keras callback that records each training step's seconds (``.times``).

    Benchmarks report the median step, not one ``fit`` timed from the outside: a whole ``fit``
    also holds its start-up and its end (with tf.data's autotuner on, deleting the iterator once
    waited 16-19 s for the tuner's thread to wake: a 40% error in a 10-step measurement)."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []
            self._began = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            self._began = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if logs:  # Keras' logs hold the step's tensors: reading one waits for the step
                float(next(iter(logs.values())))
            self.times.append(time.perf_counter() - self._began)

    return StepTimes()


def median_ms(call, repeats: int = 50) -> float:
    """Median milliseconds of ``repeats`` calls of ``call()``, after one call to trace and warm
    up (``call`` must wait for its result, e.g. end in ``.numpy()``)."""
    import statistics

    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def images_per_s(step_seconds, batch_size: int) -> float:
    """Training images per second from the median step time."""
    import statistics

    return batch_size / statistics.median(step_seconds)
