"""``python -m course autograde SUBMITTED --out DIR``: the command line of notebook autograding.

The work is ``course.grading.notebooks`` (``batch``: the folder; ``job``: one notebook in its
sandbox with the judge). This module parses the command, prints one line per notebook as it is
graded, and ends with every submission that needs the instructor's eye (skipped, renamed,
unreadable, stopped at a limit, with edited check cells, graded without a sandbox), each with
what happened and the fix.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from course.grading.gradebook import num
from course.grading.report import printable

#: How a run ended, for the instructor, and which endings need a look.
ATTENTION = {"skipped", "unreadable", "timeout", "memory", "disk", "kernel_died",
             "grader_error"}


def add_autograde(sub):
    from course.grading.notebooks.sandbox import Limits

    p = sub.add_parser(
        "autograde", help="grade a folder of submitted notebooks: gradebook CSV and feedback",
        description="Grade every submitted exercise notebook under SUBMITTED (STUDENT/.../"
                    "NN_topic.ipynb, e.g. nbgrader's submitted/ folder) against the exercise "
                    "sources (ROOT/solutions/ or an nbgrader course folder's source/). Each "
                    "notebook runs in a bubblewrap sandbox (no network, none of your files) "
                    "with time, memory and process limits; its check cells run in a separate "
                    "judge process, so nothing the student's code does in its kernel can "
                    "change a verdict. Writes OUT/gradebook.csv, OUT/feedback/STUDENT/"
                    "NN_topic.txt and OUT/autograded/ after each notebook. Refuses "
                    "COURSE_FAST=1 unless --dry-run. Details: docs/instructors.md")
    p.add_argument("submitted", help="folder of submissions, one sub-folder per student")
    p.add_argument("--out", required=True, help="folder for gradebook.csv, feedback/ and "
                                                "autograded/")
    p.add_argument("--exercise", default=None, metavar="NN_topic",
                   help="grade only this exercise (then SUBMITTED/STUDENT.ipynb works too)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit per notebook (default: the exercise's own, from its "
                        "measured cost)")
    p.add_argument("--memory-limit", type=int, default=Limits.memory_mb, metavar="MIB",
                   help="memory of a notebook's kernel and its files (default %(default)d)")
    p.add_argument("--dry-run", action="store_true",
                   help="run in fast mode to try the pipeline; every score is marked as not "
                        "counting")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run notebooks without bubblewrap (trusted notebooks only: a student's "
                        "code could then read your files and change the gradebook)")
    p.add_argument("--nbgrader", action="store_true",
                   help="also write the scores into ROOT/gradebook.db and the graded notebooks "
                        "into ROOT/autograded/ (ROOT: an nbgrader course folder), for "
                        "formgrader, generate_feedback and export")
    p.add_argument("--root", default=".", help="the repository root (solutions/) or the nbgrader "
                                               "course folder (source/) (default: .)")
    p.set_defaults(func=_autograde)


def _line(g) -> str:
    counts = "" if g.counts else ", DRY RUN: does not count"
    return (f"{printable(g.student)} {g.exercise}: {num(g.points)}/{num(g.max_points)} "
            f"({g.status}{counts})")


def attention(grades) -> list[str]:
    """One line per submission the instructor should look at, with why."""
    lines = []
    for g in grades:
        notes = [n for n in g.notes if not n.startswith("graded WITHOUT")]
        if g.status in ATTENTION or notes:
            why = "; ".join([g.status] * (g.status in ATTENTION) + notes)
            lines.append(f"  {printable(g.student)} {g.exercise}: {printable(why)}")
    return lines


def _autograde(args) -> int:
    from course import exercises
    from course.grading.notebooks.batch import AutogradeError, Batch, autograde
    from course.grading.notebooks.sandbox import Limits

    if (args.time_limit is not None and args.time_limit <= 0) or args.memory_limit <= 0:
        print("error: --time-limit and --memory-limit must be positive", file=sys.stderr)
        return 3
    limits = replace(Limits(), memory_mb=args.memory_limit)
    if args.time_limit is not None:
        limits = replace(limits, time_s=args.time_limit)
    batch = Batch(Path(args.submitted), Path(args.out), Path(args.root), args.exercise, limits,
                  args.dry_run, sandbox=not args.no_sandbox, nbgrader=args.nbgrader)
    if args.no_sandbox:
        print("warning: --no-sandbox: every notebook runs as you, with your files in reach",
              file=sys.stderr)
    try:
        grades = autograde(batch, on_grade=lambda g: print(_line(g), flush=True))
    except AutogradeError as err:
        print(f"error: autograde refused: {err}", file=sys.stderr)
        return err.exit_code
    except exercises.SolutionMarkerError as err:
        print(f"error: a solution notebook is malformed: {err}", file=sys.stderr)
        return 3
    look = attention(grades)
    print(f"{len(grades)} notebook(s) graded"
          f"{' (DRY RUN: no score counts)' if args.dry_run else ''}; wrote "
          f"{Path(args.out) / 'gradebook.csv'} and feedback in {Path(args.out) / 'feedback'}")
    if look:
        print(f"{len(look)} need(s) your attention:")
        print("\n".join(look))
    return 0
