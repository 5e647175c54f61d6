"""``python -m course grade`` as a real process: the answer and nothing else, real exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from course import data
from tests.test_grader import linear_model, save


def test_the_answer_and_nothing_else(tmp_path):
    """No TensorFlow start-up log (oneDNN, cuda drivers, cuInit) before or after the answer,
    from the command or from its worker process; the real exit code. The command's own process
    never imports TensorFlow (the sandbox's worker does the model's work): that would cost every
    grade about 5 s."""
    folder = data.data_dir()
    if folder is None or not (folder / "cifar100.npz").exists():
        if os.environ.get("CI"):
            raise AssertionError("CI must provide cifar100.npz in COURSE_DATA_DIR")
        pytest.skip("cifar100.npz not in COURSE_DATA_DIR")
    path = save(linear_model(), tmp_path / "untrained.keras")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "course", "grade",
                             "cifar100", str(path), "--json"],
                            capture_output=True, text=True, env=env, timeout=600)
    lines = result.stderr.splitlines()
    imported = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]
    assert "course.grading.cli" in imported and not {"tensorflow", "keras"} & set(imported)
    assert len(imported) == len(lines), "nothing but the import times on stderr"
    report = json.loads(result.stdout)  # the whole of stdout is the JSON document
    assert result.returncode == 1 and report["verdict"] == "FAIL"
    assert report["test_images"] == 10000
    assert report["data"] == {"name": "cifar100", "path": str(folder / "cifar100.npz"),
                              "sha256": data.KNOWN_NPZ_SHA256["cifar100"][184_449_628],
                              "verified": "matches the published sha256"}

