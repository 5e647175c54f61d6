"""The artifact grader: every ``.keras`` file gets a row, whatever it holds or does.

``Grader`` loads the task's official test set once (``course.data.load_test_set``: checksummed
where a digest is published, never a stand-in or a fast-mode subset), writes it to a private
folder for the workers, and grades each artifact in four steps:

1. ``precheck.take_file``: a readable regular file of sane size, copied into the private folder
   (symbolic links, FIFOs, devices, folders and oversized files are verdicts, at once);
2. ``precheck.inspect_archive``: zip bombs, unsafe members, Lambda layers, foreign objects;
3. the sandbox: a forked worker process with time and memory limits loads the copy with Keras
   safe mode, checks the contract and writes the scores on the plain, mirrored and shifted test
   images (``artifact.evaluate_job``);
4. here: the verdict from the scores (shape, finiteness, accuracy against the task's bar), the
   per-superclass accuracy and the integrity figure (``consistency``).
"""
from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from course import data
from course.grading.artifact import consistency
from course.grading.artifact import worker as sandbox
from course.grading.artifact.precheck import inspect_archive, take_file
from course.grading.artifact.report import Report
from course.grading.artifact.worker import Sandbox, SandboxError, shared
from course.grading.contract import ERROR, FAIL, PASS, TASKS, UNUSABLE, Limits, Refusal, Task
from course.grading.processes import private_folder, remove_private

#: Signals that usually mean the child ran out of memory (an allocation failed or the kernel
#: stopped it) rather than a bug in the model.
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS}


@dataclass
class TestSet:
    """The images, labels and (CIFAR-100) superclass labels an artifact is graded on."""

    x: np.ndarray
    y: np.ndarray
    coarse: np.ndarray | None = None
    copy: dict | None = None

    __test__ = False  # not a pytest class


def load_test_set(task: Task) -> TestSet:
    """The task's official test split; raises ``DatasetNotFoundError``/``DatasetCorruptedError``."""
    x, labels, copy = data.load_test_set(task.data)
    return TestSet(x, labels["fine"], labels.get("coarse"), copy.to_dict())


def as_test_set(test_set, task: Task) -> TestSet:
    """Accept a ``TestSet`` or the ``(x, y, coarse)`` tuple of earlier versions."""
    if test_set is None:
        return load_test_set(task)
    if isinstance(test_set, TestSet):
        return test_set
    x, y, *rest = test_set
    coarse = rest[0] if rest else None
    return TestSet(np.asarray(x), np.asarray(y).reshape(-1), coarse,
                   {"name": task.data, "path": "(arrays passed by the caller)", "sha256": None,
                    "verified": None})


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Grader:
    """Grades artifacts for one task on one test set; use as a context manager."""

    def __init__(self, task_name: str = "cifar100", limits: Limits | None = None,
                 test_set=None, sandbox: Sandbox | None = None):
        if task_name not in TASKS:
            raise KeyError(f"Unknown task {task_name!r}; known tasks: {', '.join(sorted(TASKS))}")
        self.task_name, self.task = task_name, TASKS[task_name]
        self.limits = limits or Limits()
        self.test = as_test_set(test_set, self.task)
        self.sandbox = sandbox
        self.workdir = None
        self.count = 0

    def __enter__(self):
        self.workdir = private_folder("grade")
        x = np.ascontiguousarray(self.test.x)
        if x.ndim == 3:
            x = x[..., None]
        np.save(self.workdir / "x.npy", x)
        self.index = consistency.subset(len(x), self.limits.consistency_images)
        np.save(self.workdir / "subset.npy", self.index)
        if self.sandbox is None:
            self.sandbox = shared()
        try:
            self.sandbox.start()  # TensorFlow's start-up is not any artifact's time
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.workdir is not None:
            remove_private(self.workdir)
            self.workdir = None

    # -- one artifact ------------------------------------------------------------------------

    def _report(self, path, verdict, reason, cause="", detail="", **fields) -> Report:
        return Report(path=path, task=self.task_name, verdict=verdict, reason=reason,
                      cause=cause, detail=detail, data=self.test.copy,
                      limits=self.limits.describe(), **fields)

    def grade(self, path) -> Report:
        """Grade one artifact; never raises for anything the artifact is or does."""
        started = time.monotonic()
        self.count += 1
        job_dir = self.workdir / f"job{self.count}"
        job_dir.mkdir()
        try:
            report = self._grade(path, job_dir)
        except Refusal as refusal:
            verdict = UNUSABLE
            reason = refusal.reason
            if refusal.cause == "missing":
                reason = f"file not found: {os.fsdecode(path)}. " \
                         "Export with course.grading.export_submission()."
            report = self._report(path, verdict, reason, refusal.cause, refusal.detail)
        except SandboxError as err:
            report = self._report(path, ERROR, f"the grader's worker failed: {err}", "grader")
        except Exception as err:  # noqa: BLE001 - a grader bug must not cost the other rows
            report = self._report(path, ERROR, "the grader failed on this file (a grader bug; "
                                               "please report it)", "internal",
                                  f"{type(err).__name__}: {err}")
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)
        report.seconds = round(time.monotonic() - started, 2)
        return report

    def _grade(self, path, job_dir: Path) -> Report:
        copy = job_dir / "model.keras"
        take_file(path, copy, self.limits)
        if not os.fsdecode(path).endswith(".keras"):
            raise Refusal("not_keras", f"{os.path.basename(os.fsdecode(path))} does not end in "
                                       ".keras; submit the file model.save('model.keras') wrote.")
        inspect_archive(copy, self.limits)  # fast refusals without starting anything
        job = {
            "artifact": str(copy), "x": str(self.workdir / "x.npy"),
            "subset": str(self.workdir / "subset.npy"), "out_dir": str(job_dir),
            "result": str(job_dir / "result.json"), "status": str(job_dir / "status"),
            "log": str(job_dir / "child.log"), "num_classes": self.task.num_classes,
            "input_shape": list(self.task.input_shape), "batch_size": self.limits.batch_size,
            "time_limit": self.limits.time_s, "limits": vars(self.limits),
            "grace_s": sandbox.GRACE_S,
        }
        outcome = self.sandbox.run(job)
        result_path = job_dir / "result.json"
        if result_path.exists():
            import json

            result = json.loads(result_path.read_text())
            cause = result.get("cause", "")
            if cause == "internal":
                return self._report(path, ERROR, "the grader failed on this model (a grader "
                                                 "bug; please report it)", cause,
                                    result.get("detail", ""))
            if cause:
                reason = result["reason"]
                if cause == "memory":
                    reason = reason.replace("memory limit.", (
                        f"memory limit of {self.limits.memory_mb:,} MiB (above the worker's "
                        "start-up size)."))
                return self._report(path, UNUSABLE, reason, cause, result.get("detail", ""))
            return self._verdict(path, job_dir)
        return self._died(path, job_dir, outcome)

    def _died(self, path, job_dir: Path, outcome: dict) -> Report:
        status = job_dir / "status"
        stage = status.read_text().strip() if status.exists() else "starting"
        log = job_dir / "child.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        if outcome.get("timed_out"):
            return self._report(path, UNUSABLE, f"it did not finish within the time limit of "
                                                f"{self.limits.time_s:g} s (stopped while "
                                                f"{stage}).", "timeout", tail)
        number = outcome.get("signal")
        if number is not None:
            name = _signal_name(number)
            if number == getattr(signal, "SIGXCPU", -1):
                return self._report(path, UNUSABLE, f"it used up the CPU-time limit while "
                                                    f"{stage}.", "timeout", tail)
            if number in _MEMORY_SIGNALS:
                return self._report(path, UNUSABLE,
                                    f"the evaluating process died ({name}) while {stage}: it "
                                    f"most likely needs more than the memory limit of "
                                    f"{self.limits.memory_mb:,} MiB.", "memory", tail)
            return self._report(path, UNUSABLE, f"the evaluating process died ({name}) while "
                                                f"{stage}.", "crashed", tail)
        return self._report(path, UNUSABLE, f"the evaluating process exited with code "
                                            f"{outcome.get('exit_code')} while {stage} without a "
                                            "result.", "crashed", tail)

    def _verdict(self, path, job_dir: Path) -> Report:
        task, test = self.task, self.test
        scores = np.load(job_dir / "plain.npy")
        n = len(test.x)
        if scores.shape != (n, task.num_classes):
            return self._report(path, UNUSABLE, f"it returned shape {scores.shape} for {n:,} "
                                                f"images, expected exactly "
                                                f"{(n, task.num_classes)}.", "bad_shape")
        bad_rows = int((~np.isfinite(scores)).any(axis=1).sum())
        if bad_rows:
            return self._report(path, UNUSABLE, f"it returned NaN or infinite scores for "
                                                f"{bad_rows:,} of {n:,} images.", "nonfinite")
        correct = scores.argmax(-1) == test.y
        accuracy = float(correct.mean())
        per_superclass = {}
        if test.coarse is not None and task.data == "cifar100":
            for index, name in enumerate(data.CIFAR100_SUPERCLASSES):
                members = test.coarse == index
                if members.any():
                    per_superclass[name] = float(correct[members].mean())
        views = {name: np.load(job_dir / f"{name}.npy") for name in consistency.VIEWS}
        figure = consistency.figure(test.y[self.index], scores[self.index], views["mirror"],
                                    views["shift"])
        verdict = PASS if accuracy >= task.threshold else FAIL
        relation = ">=" if verdict == PASS else "<"
        reason = (f"test accuracy {accuracy:.2%} on {n:,} {task.data} test images "
                  f"{relation} {task.threshold:.0%}")
        return self._report(path, verdict, reason, accuracy=accuracy, threshold=task.threshold,
                            test_images=n, per_superclass=per_superclass, consistency=figure,
                            integrity_flag=figure["flagged"])


# ---------------------------------------------------------------------------------------------
# Finding artifacts


def collect(folder) -> tuple[list, list]:
    """``(artifacts, unreadable)``: every entry named ``*.keras`` under ``folder`` (files, links,
    FIFOs, devices and folders alike: each gets a row), without following symbolic links; and
    the sub-folders that could not be listed."""
    found, unreadable = [], []

    def onerror(err):
        unreadable.append((err.filename, err.strerror))

    for root, dirs, files in os.walk(folder, onerror=onerror, followlinks=False):
        for name in list(dirs):
            if name.endswith(".keras"):
                found.append(os.path.join(root, name))
                dirs.remove(name)  # a folder named *.keras is a verdict, not a place to look
        found += [os.path.join(root, name) for name in files if name.endswith(".keras")]
    found.sort(key=os.fsencode)
    return found, unreadable


def grade_paths(paths, task_name: str = "cifar100", limits: Limits | None = None,
                test_set=None, on_report=None) -> list[Report]:
    """Grade each path (one worker, one test set); ``on_report(report)`` after each."""
    reports = []
    with Grader(task_name, limits, test_set) as grader:
        for path in paths:
            report = grader.grade(path)
            reports.append(report)
            if on_report:
                on_report(report)
    return reports


def grade_artifact(path, task_name: str = "cifar100", test_set=None, batch_size: int | None = None,
                   limits: Limits | None = None) -> Report:
    """Grade one ``.keras`` file on the task's official test set, in an isolated process.

    Never raises for anything the file is or does (the ``Report`` says); raises
    ``DatasetNotFoundError``/``DatasetCorruptedError`` if the test set is missing or damaged.
    """
    limits = limits or Limits()
    if batch_size:
        limits = replace(limits, batch_size=batch_size)
    return grade_paths([path], task_name, limits, test_set)[0]
