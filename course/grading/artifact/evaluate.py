"""Evaluating one artifact, as the grader's worker runs it (in a forked child with limits):
load it with the checks and safe mode, check the contract, and write its scores on the plain,
mirrored and shifted test images. The verdict is decided by the parent (``grader``)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from course.grading.artifact import consistency
from course.grading.artifact.load import MEMORY_WORDS, load_checked
from course.grading.contract import Limits, Refusal, io_problem


class Predictor:
    """Batched prediction that watches the clock: after each batch it projects the total time
    from the measured speed and stops with a verdict if the projection passes the limit."""

    def __init__(self, model, num_classes: int, batch_size: int, time_limit: float,
                 total_images: int, started: float):
        self.model, self.classes, self.batch = model, num_classes, batch_size
        self.limit, self.total, self.started = time_limit, total_images, started
        self.done = 0
        self.batch_times: list[float] = []

    def _check_clock(self):
        remaining = self.total - self.done
        elapsed = time.monotonic() - self.started
        if len(self.batch_times) == 1:  # includes tracing: only stop if hopeless
            projected = elapsed + remaining / self.batch * self.batch_times[0]
            hopeless = projected > 3 * self.limit
        else:
            per_batch = float(np.mean(self.batch_times[1:]))
            projected = elapsed + remaining / self.batch * per_batch
            hopeless = projected > self.limit
        if hopeless:
            raise Refusal("too_slow",
                        f"evaluating it would take about {projected / 60:,.1f} min for "
                        f"{self.total:,} images (measured {self.done:,} images in "
                        f"{elapsed:,.1f} s); the limit is {self.limit:g} s per artifact.")

    def run(self, x) -> np.ndarray:
        n = len(x)
        scores = np.empty((n, self.classes), np.float32)
        for start in range(0, n, self.batch):
            chunk = np.asarray(x[start:start + self.batch], dtype=np.float32)
            size = len(chunk)
            if size < self.batch:  # keep one batch shape: no retracing
                chunk = np.concatenate([chunk, np.zeros((self.batch - size, *chunk.shape[1:]),
                                                        np.float32)])
            began = time.monotonic()
            try:
                out = self.model.predict_on_batch(chunk)
            except Exception as err:  # noqa: BLE001 - the model's failure: a verdict
                text = f"{type(err).__name__}: {err}"
                if isinstance(err, MemoryError) or any(w in text for w in MEMORY_WORDS):
                    raise Refusal("memory", "evaluating it exceeded the grader's memory limit.",
                                text) from None
                raise Refusal("predict_error", "the model failed on raw test images.",
                            text) from None
            self.batch_times.append(time.monotonic() - began)
            if isinstance(out, (list, tuple, dict)):
                raise Refusal("bad_scores", f"it returned a {type(out).__name__} of outputs, "
                                          "expected one array of scores.")
            try:
                out = np.asarray(out)
            except Exception as err:  # noqa: BLE001 - the model's failure: a verdict
                raise Refusal("bad_scores", "its output is not an array of numbers.",
                            f"{type(err).__name__}: {err}") from None
            if out.dtype.kind not in "fiu":
                raise Refusal("bad_scores", f"it returned {out.dtype} values "
                                          f"({out.dtype.kind!r} kind), expected numbers: one "
                                          "score per class.")
            if out.shape != (self.batch, self.classes):
                shape = (self.batch, *out.shape[1:]) if out.ndim else out.shape
                raise Refusal("bad_shape", f"it returned shape {shape} for {self.batch} images, "
                                         f"expected exactly {(self.batch, self.classes)}: one "
                                         "score per class per image.")
            scores[start:start + size] = out[:size]
            self.done += size
            self._check_clock()
        return scores


def evaluate_job(job: dict, status=lambda stage: None) -> dict:
    """Load, check and evaluate one artifact as a worker does; returns a JSON-able result.

    ``job`` holds paths (``artifact``, ``x``, ``subset``, ``out_dir``) and settings
    (``num_classes``, ``input_shape``, ``batch_size``, ``time_limit``). Scores are written to
    ``out_dir`` as ``plain.npy``, ``mirror.npy``, ``shift.npy``; the verdict is decided by the
    parent from them.
    """
    started = time.monotonic()
    limits = Limits(**job.get("limits", {}))
    try:
        status("loading the model")
        model = load_checked(job["artifact"], limits)
        status("checking the contract")
        problem = io_problem(model, tuple(job["input_shape"]), job["num_classes"])
        if problem:
            return {"cause": "contract", "reason": problem}
        x = np.load(job["x"], mmap_mode="r")
        index = np.load(job["subset"])
        total = len(x) + len(consistency.VIEWS) * len(index)
        predictor = Predictor(model, job["num_classes"], job["batch_size"], job["time_limit"],
                              total, started)
        out = Path(job["out_dir"])
        status("predicting the test images")
        np.save(out / "plain.npy", predictor.run(x))
        for name in consistency.VIEWS:
            status(f"predicting {name} views")
            np.save(out / f"{name}.npy", predictor.run(consistency.view(name, x[index])))
        try:
            params = int(model.count_params())
        except Exception:  # noqa: BLE001 - the model's failure: a verdict
            params = None
        return {"cause": "", "params": params, "seconds": round(time.monotonic() - started, 2)}
    except Refusal as refusal:
        return {"cause": refusal.cause, "reason": refusal.reason, "detail": refusal.detail}
    except MemoryError as err:
        return {"cause": "memory", "reason": "it exceeded the grader's memory limit.",
                "detail": f"MemoryError: {err}"}


def write_json(path, obj) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
