"""Mixed precision: which dtype policy a recipe's ``mixed_precision`` setting means here.

bfloat16 keeps float32's exponent range, so it needs no loss scaling; on CPUs with native
bfloat16 arithmetic (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo) it trains faster. Where the
CPU lacks it, bfloat16 is emulated and slower, so ``"auto"`` stays in float32 there. Weights stay
float32 either way (``mixed_bfloat16``), and every course model computes its scores (the
``logits`` layer) in float32, so predictions are ordinary float32 arrays.
"""
from __future__ import annotations

from pathlib import Path

SETTINGS = ("off", "auto", "bfloat16")


def native_bfloat16() -> bool:
    """True when /proc/cpuinfo lists native bfloat16 instructions (``avx512_bf16``, ``amx_bf16``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def policy_name(setting: str | None) -> str:
    """The Keras dtype policy for ``"off"``, ``"auto"`` or ``"bfloat16"``."""
    if setting in ("off", "float32", None):
        return "float32"
    if setting == "bfloat16":
        return "mixed_bfloat16"
    if setting == "auto":
        return "mixed_bfloat16" if native_bfloat16() else "float32"
    raise ValueError(f"Unknown mixed_precision {setting!r}; use one of {', '.join(SETTINGS)}.")


def create(name: str, setting: str = "auto", **options):
    """``course.models.create(name, **options)`` under the dtype policy of ``setting``; the
    global policy is restored afterwards."""
    import keras

    from course import models

    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy_name(setting))
    try:
        return models.create(name, **options)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
