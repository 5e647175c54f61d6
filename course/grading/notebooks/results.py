"""The batch's results, committed the moment each is known: an append-only log.

``OUT/results.jsonl`` gets one line per graded notebook (its key, the grade), written and
flushed to disk before anything else is done with it; ``gradebook.csv`` is rebuilt from it.
A grader killed mid-batch (``kill -9``, a machine that dies) loses at most the notebooks in
flight; the same command run again reads the log and grades only what is missing. The key of a
notebook is a hash of the student, the exercise, the submitted file, the exercise's source and
whether it is a dry run: a new submission, or a changed exercise, is graded again by itself.
A line cut short by a crash is ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from course.grading.notebooks.job import grade_from_dict, grade_to_dict

LOG = "results.jsonl"


def key(student: str, exercise: str, submission: bytes, source: bytes, dry_run: bool) -> str:
    digest = hashlib.sha256()
    for part in (student.encode("utf-8", "surrogateescape"), exercise.encode(), submission,
                 source, b"dry" if dry_run else b"real"):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:32]


class ResultLog:
    """``OUT/results.jsonl``: ``{key: grade}`` of what earlier runs graded, and ``append``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOG
        self.done: dict = {}
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:  # a line cut short must not swallow the next one
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                        self.done[record["key"]] = grade_from_dict(dict(record["grade"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a crash: that notebook is graded again

    def append(self, key_: str, grade) -> None:
        line = json.dumps({"key": key_, "grade": grade_to_dict(grade)}) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.done[key_] = grade
