"""``import course`` keeps TensorFlow's noise out of a student's output, and nothing else
(course/_startup.py). Runs in a fresh process: the start-up notices are written once, at
TensorFlow's first import."""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import course, keras, numpy as np
    import tensorflow as tf

    x = np.zeros((300, 8), "float32")
    for _ in range(8):  # eight fresh models, each traced for batches of 256 and 44
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        model.predict(x, batch_size=256, verbose=0)
    print("predicted", flush=True)

    @tf.function
    def doubled(a):
        return a * 2

    for n in range(1, 9):  # the user's own function, really retraced for every shape
        doubled(tf.zeros((n,)))
""")


def test_keras_per_model_traces_are_quiet_and_real_retracing_still_warns():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "predicted" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "retracing" in line]
    assert warnings, "the user's own tf.function lost TensorFlow's retracing warning"
    assert all("doubled" in line for line in warnings), warnings  # none about Keras' steps
    for notice in ("oneDNN custom operations", "cpu_feature_guard", "cuda drivers"):
        assert notice not in result.stderr
