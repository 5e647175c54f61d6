"""One ``.keras`` artifact: load it safely, check the contract, evaluate it, export it.

``load_submission`` is what a notebook (and ``export_submission``) calls in its own process;
``evaluate_job`` is what the grader's worker runs, in a separate process with resource limits
(``course.grading.sandbox``), to produce the model's scores on the test images. Both load with
``keras.saving.load_model(..., safe_mode=True, compile=False)`` after the checks of
``course.grading.precheck`` and after ``course.saving.register_all()``, so whatever
``export_submission`` accepts, the grader accepts, and no code from the file ever runs.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from course.grading import consistency
from course.grading.checks import GradingError, io_problem
from course.grading.precheck import Refusal, inspect_archive, take_file
from course.grading.tasks import TASKS, Limits, Task

_MEMORY_WORDS = ("ResourceExhausted", "MemoryError", "OOM when allocating", "bad_alloc",
                 "Cannot allocate memory", "failed to allocate", "Unable to allocate")


def registration_problem(names) -> Refusal | None:
    """A ``Refusal`` if the config names ``package>Name`` objects that are not registered."""
    import keras

    from course.saving import register_all

    register_all()
    known = keras.saving.get_custom_objects()
    missing = sorted(n for n in names if n not in known)
    if not missing:
        return None
    course_names = [n for n in missing if n.startswith("course>")]
    if course_names:
        return Refusal("unregistered",
                       f"it uses {', '.join(course_names)}, which this version of the course "
                       "package does not define. Use the course package the grader uses "
                       "(or Keras layers).")
    return Refusal("unregistered",
                   f"it needs custom objects that are not registered here: "
                   f"{', '.join(missing)}. The grader only knows Keras layers and the course's "
                   "registered layers; rewrite your own layer with those.")


def classify_load_error(err: BaseException) -> Refusal:
    """A ``Refusal`` for an exception from ``keras.saving.load_model`` (after the prechecks)."""
    import re
    import zipfile

    text = f"{type(err).__name__}: {err}"
    if isinstance(err, zipfile.BadZipFile) or "CRC-32" in text:
        return Refusal("bad_zip", "a member of the zip archive is damaged (its checksum does "
                                  "not match): the file was altered or cut short. "
                                  "Re-export it with course.grading.export_submission().", text)
    if isinstance(err, MemoryError) or any(word in text for word in _MEMORY_WORDS):
        return Refusal("memory", "loading the model exceeded the grader's memory limit.", text)
    if "safe_mode" in text:
        return Refusal("code", "Keras safe mode refused it: it contains Python code. Replace "
                               "Lambda layers and Python functions with Keras or course layers.",
                       text)
    if "not a modeling function" in text or "Non-modeling APIs" in text \
            or "not a KerasSaveable" in text:
        return Refusal("foreign_object", "it refers to a Python object that is not a model "
                                         "part (Keras refused it). Use Keras or course layers.",
                       text)
    if "Could not locate" in text or "cannot be imported" in text:
        named = re.search(r"Could not (?:locate|deserialize) (class|function) '([^']{1,200})'",
                          text)
        what = f"the {named.group(1)} '{named.group(2)}'" if named else "a class or function"
        return Refusal("unknown_object", f"it uses {what}, which neither Keras nor the course "
                                         "defines. Use Keras or course layers and functions.",
                       text)
    return Refusal("keras_load", "Keras could not rebuild the model from the file (see detail: "
                                 "weights that do not match the layers, or a layer config this "
                                 "Keras version rejects). Re-export it with "
                                 "course.grading.export_submission().", text)


def load_checked(path, limits: Limits = Limits()):
    """Load an already-copied ``.keras`` file after every check; returns the model or raises
    ``Refusal``."""
    import keras

    info, _ = inspect_archive(path, limits)
    problem = registration_problem(info.registered_names)
    if problem:
        raise problem
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - every failure becomes a verdict, not a traceback
        raise classify_load_error(err) from None
    if not isinstance(model, keras.Model):
        raise Refusal("not_model", f"it holds a {type(model).__name__}, not a keras.Model.")
    return model


def load_submission(path, limits: Limits = Limits()):
    """Load a ``.keras`` file in this process with the grader's checks; returns ``(model,
    None)`` or ``(None, why)``.

    The same refusals as the grader (code, foreign objects, unregistered objects, damaged or
    oversized archives, FIFOs and devices), so what this accepts the grader accepts. Course
    layers load because ``course.saving.register_all()`` is called.
    """
    import tempfile

    path = Path(path)
    name = path.name
    try:
        with tempfile.TemporaryDirectory(prefix="course-load-") as tmp:
            copy = Path(tmp) / "model.keras"
            take_file(path, copy, limits)
            if path.suffix != ".keras":
                raise Refusal("not_keras", f"{name} does not end in .keras. Save with "
                                           "model.save('model.keras').")
            model = load_checked(copy, limits)
    except Refusal as refusal:
        why = f"cannot load {name}: {refusal.reason}"
        if refusal.cause == "missing":
            why = f"file not found: {path}. Export with course.grading.export_submission()."
        return None, why + (f" [{refusal.detail}]" if refusal.detail else "")
    return model, None


def contract_problem(model, task: Task) -> str | None:
    """Why ``model`` breaks the artifact contract (raw (N,32,32,3) in, classes out), or None."""
    return io_problem(model, task.input_shape, task.num_classes)


def export_submission(model, path="submission/model.keras", task_name: str = "cifar100"):
    """Check ``model`` against the artifact contract, save it, and check the file reloads the
    way the grader loads it."""
    task = TASKS[task_name]
    problem = contract_problem(model, task)
    if problem:
        raise GradingError(problem)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    _, why = load_submission(path)
    if why:
        raise GradingError(why)
    print(f"Saved {path}: raw (N, 32, 32, 3) images in, {task.num_classes} scores out. "
          f"Grade it with: python -m course grade {task_name} {path}")
    return path


# ---------------------------------------------------------------------------------------------
# Evaluation, as the worker runs it


class _Stop(Exception):
    def __init__(self, cause, reason, detail=""):
        super().__init__(reason)
        self.cause, self.reason, self.detail = cause, reason, detail


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
            raise _Stop("too_slow",
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
            except Exception as err:  # noqa: BLE001
                text = f"{type(err).__name__}: {err}"
                if isinstance(err, MemoryError) or any(w in text for w in _MEMORY_WORDS):
                    raise _Stop("memory", "evaluating it exceeded the grader's memory limit.",
                                text) from None
                raise _Stop("predict_error", "the model failed on raw test images.",
                            text) from None
            self.batch_times.append(time.monotonic() - began)
            if isinstance(out, (list, tuple, dict)):
                raise _Stop("bad_scores", f"it returned a {type(out).__name__} of outputs, "
                                          "expected one array of scores.")
            try:
                out = np.asarray(out)
            except Exception as err:  # noqa: BLE001
                raise _Stop("bad_scores", "its output is not an array of numbers.",
                            f"{type(err).__name__}: {err}") from None
            if out.dtype.kind not in "fiu":
                raise _Stop("bad_scores", f"it returned {out.dtype} values "
                                          f"({out.dtype.kind!r} kind), expected numbers: one "
                                          "score per class.")
            if out.shape != (self.batch, self.classes):
                shape = (self.batch, *out.shape[1:]) if out.ndim else out.shape
                raise _Stop("bad_shape", f"it returned shape {shape} for {self.batch} images, "
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
        except Exception:  # noqa: BLE001
            params = None
        return {"cause": "", "params": params, "seconds": round(time.monotonic() - started, 2)}
    except Refusal as refusal:
        return {"cause": refusal.cause, "reason": refusal.reason, "detail": refusal.detail}
    except _Stop as stop:
        return {"cause": stop.cause, "reason": stop.reason, "detail": stop.detail}
    except MemoryError as err:
        return {"cause": "memory", "reason": "it exceeded the grader's memory limit.",
                "detail": f"MemoryError: {err}"}


def write_json(path, obj) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
