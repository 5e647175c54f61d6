"""The grading commands: ``python -m course grade TASK PATH`` (artifacts) and ``python -m
course autograde SUBMITTED --out DIR`` (notebooks).

``grade`` exits (a folder exits with the largest of its rows):

- 0 every artifact passed; 1 at least one failed the accuracy bar;
- 2 at least one artifact is unusable (missing, refused, broken contract, over a limit, crashed);
- 3 the grader could not do its job: the data set is missing or damaged, ``--csv`` cannot be
  written, the folder holds no ``*.keras`` entry or cannot be read, the command line is wrong,
  or the grader itself failed. Nothing is blamed on a student.

``--json`` prints one JSON document in every case (a report, a folder summary, or an error).
Grading a folder shows progress (``course.progress``) on stderr only: a live bar in a terminal,
one line per file in logs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from course import progress
from course.grading.artifact.report import Report, data_line
from course.grading.contract import EXIT_GRADER_ERROR, TASKS, Limits
from course.grading.notebooks.gradebook import num
from course.grading.text import display_path, emit, printable, to_json

DESCRIPTION = """\
Grade a submitted model.keras (or every *.keras under a folder) on the task's official test set.
Each file is checked without running anything in it (zip bombs, Lambda layers, references to
Python objects are refused), then loaded with Keras safe mode and evaluated in its own process
with a time and a memory limit. Every file gets a row. The report names the data copy graded on
(path and sha256) and an integrity figure: accuracy on mirrored and 1-pixel-shifted test images,
flagged for the instructor when it collapses (a flag, not a fail).

exit codes: 0 all pass, 1 some fail, 2 some unusable artifact, 3 grader-side problem
(data set missing or damaged, --csv not writable, empty or unreadable folder, bad arguments).
Details: docs/grading.md in the course's repository (not in the student edition)."""


class GraderFailure(Exception):
    """A grader-side problem (exit code 3)."""


def add_grade(sub):
    p = sub.add_parser("grade", help="grade a submitted model.keras (or a folder of them) on "
                                     "the test set", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=sorted(TASKS), help="cifar100 (the assignment) or cifar10")
    p.add_argument("path", help="a .keras file, or a folder whose *.keras entries are graded")
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON document")
    p.add_argument("--csv", default=None, help="write one row per artifact to this file "
                                               "(checked to be writable before grading)")
    p.add_argument("--time-limit", type=float, default=Limits.time_s, metavar="SECONDS",
                   help="wall-clock limit per artifact (default %(default)g)")
    p.add_argument("--memory-limit", type=int, default=Limits.memory_mb, metavar="MIB",
                   help="address space per artifact above the worker's start-up size "
                        "(default %(default)d)")
    _json_errors(p)
    p.set_defaults(func=run)


def _json_errors(p: argparse.ArgumentParser) -> None:
    """Usage errors exit 3 (not argparse's 2, which means an unusable artifact here), as JSON
    when ``--json`` is on the command line."""
    parse_known_args = p.parse_known_args

    def parse(args=None, namespace=None):
        p.json_requested = "--json" in (sys.argv[1:] if args is None else list(args))
        return parse_known_args(args, namespace)

    def error(message):
        if getattr(p, "json_requested", False):
            emit(to_json({"error": printable(message), "error_type": "usage",
                          "exit_code": EXIT_GRADER_ERROR}))
        else:
            p.print_usage(sys.stderr)
            emit(f"{p.prog}: error: {printable(message)}", sys.stderr)
        sys.exit(EXIT_GRADER_ERROR)

    p.parse_known_args = parse
    p.error = error


def check_writable(path) -> None:
    """Raise ``GraderFailure`` unless a file can be written at ``path`` (tried for real)."""
    target = Path(path)
    shown = display_path(path)
    if target.is_dir():
        raise GraderFailure(f"--csv {shown} is a folder; give a file name.")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GraderFailure(f"--csv {shown}: the folder {display_path(folder)} does not exist.")
    if target.exists() and not os.access(target, os.W_OK):
        raise GraderFailure(f"--csv {shown} is not writable.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".grades-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise GraderFailure(f"--csv {shown}: cannot write in {display_path(folder)} "
                            f"({err.strerror}).") from None


def _error(message: str, kind: str, as_json: bool) -> int:
    if as_json:
        emit(to_json({"error": printable(message), "error_type": kind,
                      "exit_code": EXIT_GRADER_ERROR}))
    else:
        emit(f"error: {kind}: {printable(message)}", sys.stderr)
    return EXIT_GRADER_ERROR


def run(args) -> int:
    from course.data import DatasetCorruptedError, DatasetNotFoundError
    from course.grading.artifact import grader
    from course.grading.artifact.report import write_csv
    from course.grading.artifact.worker import SandboxError

    as_json = args.json
    try:
        if args.time_limit <= 0 or args.memory_limit <= 0:
            raise GraderFailure("--time-limit and --memory-limit must be positive.")
        limits = Limits(time_s=args.time_limit, memory_mb=args.memory_limit)
        if args.csv:
            check_writable(args.csv)
        folder_mode = os.path.isdir(args.path)
        if folder_mode:
            paths, unreadable = grader.collect(args.path)
            if not paths and not unreadable:
                raise GraderFailure(f"no *.keras files under {display_path(args.path)}.")
        else:
            paths, unreadable = [args.path], []
        if folder_mode:  # minutes for a class: a bar where someone watches, a line per file in
            # logs, both on stderr (stdout keeps the report, the JSON or the CSV intact)
            progress.line(f"grading {len(paths)} file(s) under {display_path(args.path)}: "
                          "loading the test set and starting the grader's worker")
            paths = progress.track(paths, description=f"grading {args.task}", unit="file",
                                   label=display_path)
        test_set = grader.load_test_set(TASKS[args.task])
        reports = grader.grade_paths(paths, args.task, limits, test_set)
    except GraderFailure as err:
        return _error(str(err), "grader", as_json)
    except (DatasetNotFoundError, DatasetCorruptedError) as err:
        return _error(str(err), type(err).__name__, as_json)
    except SandboxError as err:
        return _error(str(err), "SandboxError", as_json)
    reports += [Report(path=p, task=args.task, verdict="ERROR", cause="unreadable_folder",
                       reason=f"the grader cannot list this folder ({why}); submissions in it "
                              "were not graded.", data=test_set.copy)
                for p, why in unreadable]
    code = max(r.exit_code for r in reports)
    if args.csv:
        try:
            write_csv(args.csv, reports)
        except OSError as err:
            return _error(f"--csv {display_path(args.csv)}: {err.strerror}", "grader", as_json)
    if as_json:
        if folder_mode:
            emit(to_json({"task": args.task, "folder": display_path(args.path),
                          "data": test_set.copy, "exit_code": code,
                          "counts": _counts(reports),
                          "reports": [r.to_dict() for r in reports]}))
        else:
            emit(to_json(reports[0].to_dict()))
    elif folder_mode:
        for r in reports:
            emit(r.line())
        counts = ", ".join(f"{n} {v}" for v, n in _counts(reports).items() if n)
        flags = sum(r.integrity_flag for r in reports)
        emit(f"{len(reports)} graded: {counts}; {flags} integrity flag(s). "
             f"Data: {data_line(test_set.copy)}")
    else:
        emit(reports[0].to_text())
    if args.csv:
        emit(f"wrote {len(reports)} grades to {display_path(args.csv)}",
             sys.stderr if as_json else sys.stdout)
    return code


def _counts(reports) -> dict:
    counts = {"PASS": 0, "FAIL": 0, "UNUSABLE": 0, "ERROR": 0}
    for r in reports:
        counts[r.verdict] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# python -m course autograde: prints one line per notebook as it is graded, and ends with every
# submission that needs the instructor's eye (skipped, renamed, unreadable, stopped at a limit,
# with edited check cells), each with what happened and the fix.

#: How a run ended, for the instructor, and which endings need a look.
ATTENTION = {"skipped", "unreadable", "timeout", "memory", "disk", "kernel_died",
             "grader_error"}


def add_autograde(sub):
    from course.grading.notebooks.sandbox import NotebookLimits

    p = sub.add_parser(
        "autograde", help="instructors: grade a folder of submitted notebooks (gradebook, "
                          "feedback)",
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
    p.add_argument("--memory-limit", type=int, default=NotebookLimits.memory_mb, metavar="MIB",
                   help="memory of a notebook's kernel and its files (default %(default)d)")
    p.add_argument("--dry-run", action="store_true",
                   help="run in fast mode to try the pipeline; every score is marked as not "
                        "counting")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run notebooks without bubblewrap (trusted notebooks only: a student's "
                        "code could then read your files and change the gradebook)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="grade N notebooks at once on this machine, each with cores/N threads "
                        "(default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on the workers of the Dask cluster at ADDRESS (tcp://host:8786; "
                        "pip install 'course[cluster]'); see docs/instructors.md")
    p.add_argument("--regrade", action="store_true",
                   help="grade again the notebooks OUT/results.jsonl already holds (by "
                        "default a run grades only what is missing: run it again after an "
                        "interruption)")
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
    from course.grading.notebooks.sandbox import NotebookLimits

    if (args.time_limit is not None and args.time_limit <= 0) or args.memory_limit <= 0:
        print("error: --time-limit and --memory-limit must be positive", file=sys.stderr)
        return EXIT_GRADER_ERROR
    limits = replace(NotebookLimits(), memory_mb=args.memory_limit)
    if args.time_limit is not None:
        limits = replace(limits, time_s=args.time_limit)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return EXIT_GRADER_ERROR
    runner = None
    if args.scheduler:
        try:
            from course.grading.notebooks.runners import DaskRunner

            runner = DaskRunner(args.scheduler)
        except ImportError:
            print("error: --scheduler needs dask.distributed: pip install 'course[cluster]'",
                  file=sys.stderr)
            return EXIT_GRADER_ERROR
        except OSError as err:
            print(f"error: no Dask scheduler at {args.scheduler}: {err}", file=sys.stderr)
            return EXIT_GRADER_ERROR
    batch = Batch(Path(args.submitted), Path(args.out), Path(args.root), args.exercise, limits,
                  args.dry_run, sandbox=not args.no_sandbox, nbgrader=args.nbgrader,
                  workers=args.workers, runner=runner, regrade=args.regrade)
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
