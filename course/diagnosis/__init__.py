"""``python -m course doctor`` and ``course.doctor()``: is this environment ready for the course?

One line per check, ok / warning / problem, with the fix for anything not ok:

- ``install``: Python, course, Keras, TensorFlow, JAX and the other dependencies against the
  ranges the installed course declares; whether ``pip`` installs into this interpreter; whether
  a Jupyter kernel runs it;
- ``runtime``: the Keras backend (asked for and in effect), the devices, native bfloat16 and the
  precision the recipes will use, and one timed training step (``quick=True`` skips it);
- ``storage``: each data set's local copy (where, checksum) or how to get it, and whether the
  caches can be written.

Exit status 1 when a check finds a problem, 0 otherwise (warnings included). Nothing here
downloads anything. The training step starts TensorFlow's runtime: a notebook that splits the CPU
into devices (lesson 17) does that first, or runs the doctor with ``quick=True``.
"""
from __future__ import annotations

import json
import sys

from course.diagnosis.check import STATUSES, Check

#: Every check, in the order they run and print.
CHECK_NAMES = ("python", "course", "keras", "tensorflow", "jax", "packages", "interpreter",
               "jupyter", "backend", "devices", "precision", "mnist", "cifar10", "cifar100",
               "cache", "train step")
WIDTH = max(len(name) for name in CHECK_NAMES)


class Report(list):
    """The checks, in order; ``problems``, ``warnings``, ``exit_code``, ``to_json()``."""

    def named(self, name: str) -> Check:
        return next(c for c in self if c.name == name)

    @property
    def problems(self) -> list:
        return [c for c in self if c.status == "problem"]

    @property
    def warnings(self) -> list:
        return [c for c in self if c.status == "warning"]

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_json(self) -> str:
        return json.dumps([c.to_dict() for c in self], indent=2, default=str)

    def summary(self) -> str:
        def count(items, word):
            return f"{len(items)} {word}{'s' if len(items) != 1 else ''}"

        names = f": {', '.join(c.name for c in self.problems)}" if self.problems else ""
        return (f"{count(self.problems, 'problem')}{names}, {count(self.warnings, 'warning')} "
                f"({len(self)} checks)")

    def __repr__(self) -> str:
        return f"<doctor: {self.summary()}>"


def checks(quick: bool = False):
    """The checks, one at a time, in ``CHECK_NAMES`` order."""
    from course.diagnosis import install, runtime, storage

    yield install.check_python()
    yield install.check_course()
    yield from install.check_versions()
    yield install.check_interpreter()
    yield install.check_jupyter()
    backend = runtime.check_backend()
    yield backend
    keras_imports = "active" in backend.facts  # else each Keras check would fail the same way
    no_keras = "skipped: Keras does not import (see backend)"
    yield runtime.check_devices() if keras_imports else Check("devices", "skipped", no_keras)
    yield runtime.check_precision() if keras_imports else Check("precision", "skipped", no_keras)
    for name in ("mnist", "cifar10", "cifar100"):
        yield storage.check_data(name)
    yield storage.check_cache()
    if quick or not keras_imports:
        yield Check("train step", "skipped", "skipped (--quick, quick=True)" if quick else no_keras)
    else:
        yield runtime.check_step()


def line(check: Check) -> str:
    """``status  name  detail; fix: ...``, aligned."""
    width = max(len(s) for s in STATUSES)
    fix = f"; fix: {check.fix}" if check.fix else ""
    return f"{check.status:<{width}}  {check.name:<{WIDTH}}  {check.detail}{fix}"


def doctor(quick: bool = False, as_json: bool = False, file=None) -> Report:
    """Run every check, print one line each as it finishes (or, with ``as_json``, the JSON list
    at the end) and return the ``Report``, which a notebook shows as its summary."""
    file = file or sys.stdout
    report = Report()
    for check in checks(quick):
        report.append(check)
        if not as_json:
            print(line(check), file=file, flush=True)
    if as_json:
        print(report.to_json(), file=file)
    return report


def add_doctor(sub):
    p = sub.add_parser(
        "doctor", help="check this environment: versions, interpreter, backend, devices, data, "
                       "cache (start here when something is wrong)",
        description="One line per check: ok, warning or problem, with the fix. Exit status 1 "
                    "when there is a problem, 0 otherwise. Nothing is downloaded.")
    p.add_argument("--quick", action="store_true", help="skip the timed training step")
    p.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    p.set_defaults(func=_doctor)


def _doctor(args) -> int:
    report = doctor(quick=args.quick, as_json=args.json)
    if not args.json:
        print(f"doctor: {report.summary()}")
    return report.exit_code
