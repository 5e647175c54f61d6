"""How much slower this machine trains than the one an exercise's time limit was measured on.

An exercise's time limit (``metadata.course.time_limit_s``, ``course.exercises.time_limit``) is
3x the solution's measured grading time plus two minutes, measured on one machine
(``benchmarks/grade_exercises.py``). An exercise that trains (01, 02, 04, 08) takes longer on a
slower CPU, and much longer on one without native bfloat16 when the measuring machine had it (the
recipes train in bfloat16 there, in float32 here): a fixed limit would fail an honest student's
notebook on a slow grading machine. So the limit is scaled by ``slowdown``, the ratio of the
measuring machine's training rate (its float32 matmul GFLOP/s, times its bfloat16 speed-up where
it had native bfloat16 and this machine has not) to this machine's, never below 1. The rates
are measured the same way on both (``matmul_gflops``: TensorFlow, all cores, best of five).
"""
from __future__ import annotations

import functools
import time

#: The most a stated limit is stretched: a grading machine this much slower than the measuring
#: one, or a rate that was not measured but written by hand, stops there.
MAX_SLOWDOWN = 8.0


def matmul_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 5) -> float:
    """Best of ``repeats`` n x n matmuls, in GFLOP/s (2 n^3 FLOPs each), TensorFlow, all
    cores."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n), dtype=tf.float32), dtype)
    b = tf.cast(tf.random.normal((n, n), dtype=tf.float32), dtype)
    (a @ b).numpy()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        (a @ b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


@functools.cache
def local_float32_gflops() -> float:
    """This machine's ``matmul_gflops("float32")``, measured once per process (about a second
    after TensorFlow's import)."""
    return matmul_gflops("float32")


def rates(facts: dict) -> dict:
    """What ``metadata.course`` keeps of the measuring machine (``benchmarks/machine.py``'s
    facts) for ``slowdown``: its float32 matmul rate and, where it has native bfloat16, the
    bfloat16 rate's speed-up over float32."""
    out = {}
    f32 = facts.get("matmul_gflops_float32")
    if isinstance(f32, (int, float)) and f32 > 0:
        out["measured_gflops_float32"] = float(f32)
        bf16 = facts.get("matmul_gflops_bfloat16")
        if facts.get("native_bfloat16") and isinstance(bf16, (int, float)) and bf16 > f32:
            out["measured_bfloat16_speedup"] = round(bf16 / f32, 2)
    return out


def slowdown(course_metadata: dict, local_gflops: float | None = None,
             native_bfloat16: bool | None = None) -> float:
    """How many times longer this machine needs than the measuring one: at least 1, at most
    ``MAX_SLOWDOWN``, and 1 where the metadata records no rate. ``local_gflops`` and
    ``native_bfloat16`` default to this machine's, measured."""
    measured = course_metadata.get("measured_gflops_float32")
    if not isinstance(measured, (int, float)) or measured <= 0:
        return 1.0
    if native_bfloat16 is None:
        from course import precision

        native_bfloat16 = precision.native_bfloat16()
    speedup = course_metadata.get("measured_bfloat16_speedup", 1.0)
    if native_bfloat16 or not isinstance(speedup, (int, float)):
        speedup = 1.0
    local = local_float32_gflops() if local_gflops is None else local_gflops
    return min(MAX_SLOWDOWN, max(1.0, measured * max(1.0, speedup) / local))
