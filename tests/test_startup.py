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


#: Modules whose first import starts TensorFlow (its notices go to the cell's output unless
#: ``course`` was imported before them and installed its quiet import hook).
STARTS_TENSORFLOW = {"keras", "tensorflow", "tensorflow_datasets"}


def _first_import_of_tensorflow_before_course(path):
    """(cell number, module) of the first import that starts TensorFlow before any import of
    ``course``, or None."""
    import ast

    import nbformat

    nb = nbformat.read(path, as_version=4)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines()
                 if not line.lstrip().startswith(("%", "!"))]  # IPython magics
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in (name.split(".")[0] for name in modules):
                if module in ("course", "instructor"):
                    return None
                if module in STARTS_TENSORFLOW:
                    return number, module
    return None


def test_every_notebook_imports_course_before_tensorflow():
    """A lesson that imports Keras first shows TensorFlow's start-up notices and a red
    "failed call to cuInit" line in its first cells (lessons 01 and 10 did)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    notebooks = [p for folder in ("notebooks", "solutions", "exercises")
                 for p in sorted((root / folder).glob("*.ipynb"))]
    assert len(notebooks) >= 30
    found = {p.relative_to(root).as_posix(): _first_import_of_tensorflow_before_course(p)
             for p in notebooks}
    assert {name: where for name, where in found.items() if where} == {}, \
        "put `import course  # first, so TensorFlow starts quietly` at the top"


def test_under_an_autograder_tensorflows_log_stays_quiet_whatever_the_user_set():
    """nbgrader zeroes a check cell that writes to stderr: with TF_CPP_MIN_LOG_LEVEL=2 in the
    instructor's environment, TensorFlow's "failed call to cuInit" cost checks their points."""
    import os

    code = "import os, course; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    for grading, expected in (("autograde", "3"), ("", "2")):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "NBGRADER_EXECUTION": grading}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=120).stdout.strip()
        assert out == expected, (grading, out)
