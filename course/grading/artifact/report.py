"""An artifact's grade (``Report``) as text, JSON and CSV, every untrusted string escaped with
``course.grading.text``."""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field

from course.grading.contract import ERROR, EXIT_CODES
from course.grading.text import (
    csv_cell,
    display_path,
    printable,
    shorten,
    summarize_error,
    write_csv_rows,
)


@dataclass
class Report:
    """One artifact's grade. ``path`` and every text field are already escaped."""

    path: str
    task: str
    verdict: str
    reason: str
    cause: str = ""
    detail: str = ""
    accuracy: float | None = None
    threshold: float | None = None
    test_images: int = 0
    per_superclass: dict = field(default_factory=dict)
    consistency: dict | None = None
    integrity_flag: bool = False
    data: dict | None = None
    seconds: float | None = None
    limits: str = ""
    safe_mode: bool = True
    isolated: bool = True
    backend: str = field(default_factory=lambda: grading_backend())

    def __post_init__(self):
        self.path = display_path(self.path)
        self.reason = printable(self.reason)
        self.detail = printable(shorten(summarize_error(self.detail)))

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code}

    def line(self) -> str:
        """The one-line summary: ``PATH: VERDICT: reason`` (+ the integrity flag)."""
        text = f"{self.path}: {self.verdict}: {self.reason}"
        if self.integrity_flag:
            c = self.consistency
            text += (f" [INTEGRITY FLAG: on {c['images']:,} test images {c['plain']:.1%} plain, "
                     f"{c['mirror']:.1%} mirrored, {c['shift']:.1%} shifted 1 px]")
        return text

    def consistency_text(self) -> str | None:
        c = self.consistency
        if not c:
            return None
        verdict = ("FLAG for the instructor: accuracy collapses on mirrored or shifted images, "
                   "as a lookup of the test images would (not an automatic fail)"
                   if self.integrity_flag else "ok")
        return (f"consistency on {c['images']:,} test images: plain {c['plain']:.1%}, "
                f"mirrored {c['mirror']:.1%}, shifted 1 px {c['shift']:.1%} "
                f"(ratio {c['ratio']:.2f}): {verdict}")

    def to_text(self) -> str:
        lines = [self.line()]
        if self.detail:
            lines.append(f"  detail: {self.detail}")
        consistency = self.consistency_text()
        if consistency:
            lines.append(f"  {consistency}")
        if self.per_superclass:
            lines.append("  per-superclass accuracy:")
            width = max(len(k) for k in self.per_superclass)
            lines += [f"    {k:<{width}}  {v:6.1%}" for k, v in self.per_superclass.items()]
        if self.data:
            lines.append(f"  data: {data_line(self.data)}")
        if self.verdict != ERROR:
            lines.append(f"  (graded in a separate process with Keras safe_mode=True on the "
                         f"{self.backend} backend: no code in the file was executed; "
                         f"{self.limits})")
        return "\n".join(lines)


def grading_backend() -> str:
    """The Keras backend grading runs on (read without importing Keras if it is not loaded)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def data_line(copy: dict) -> str:
    digest = f"sha256 {copy['sha256']}" if copy.get("sha256") else "sha256 unknown"
    check = copy.get("verified") or "no published checksum: shapes, dtypes and labels checked"
    return printable(f"{copy['path']} ({digest}; {check})")


CSV_FIELDS = ("path", "verdict", "exit_code", "accuracy", "threshold", "integrity_flag",
              "consistency_ratio", "mirror_accuracy", "shift_accuracy", "cause", "reason",
              "detail", "seconds", "data_path", "data_sha256", "backend")


#: Report fields that ``Report`` has already escaped.
_ESCAPED_FIELDS = {"path", "verdict", "cause", "reason", "detail"}


def csv_rows(reports) -> list[list[str]]:
    rows = [list(CSV_FIELDS)]
    for r in reports:
        c = r.consistency or {}
        d = r.data or {}
        values = {**r.to_dict(), "consistency_ratio": c.get("ratio"),
                  "mirror_accuracy": c.get("mirror"), "shift_accuracy": c.get("shift"),
                  "data_path": d.get("path"), "data_sha256": d.get("sha256")}
        rows.append([csv_cell(values[k], escaped=k in _ESCAPED_FIELDS) for k in CSV_FIELDS])
    return rows


def write_csv(path, reports) -> None:
    """Write the grades to ``path`` atomically (a temporary file in the same folder, renamed)."""
    write_csv_rows(path, csv_rows(reports), prefix=".grades-")


