"""Grading a synthetic class, serially, with two local workers and on a two-worker Dask cluster.

    python benchmarks/grade_class.py                      # 40 students x 3 exercises, 3 ways
    python benchmarks/grade_class.py --students 12 --ways serial,workers2

Every student hands in exercises 03, 05 and 06 in one of seven ways whose score is known in
advance, from the exercise's own solution and release: ``solved`` (full marks), ``blank`` (the
release: zero), ``edited`` (solved, every check cell edited to ``pass``: restored, full marks),
``forging`` (unsolved, with the check helpers, ``AssertionError`` and ``print`` patched in the
first answer cell: zero), ``wrong`` (solved but the last answer cell left as the placeholder:
the points of the check cells after it lost), ``hanging`` and ``hungry`` (solved, then an
endless loop or an allocation without end in the last answer cell: the same points lost, stopped
at the time or memory limit). The class is graded each way (``--ways``); the script checks that
every score equals the expected one and that the gradebooks are equal, and reports notebooks
per hour with the machine, into ``benchmarks/results/grade_class.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"
EXERCISES = ("03_convolution_arithmetic", "05_batch_norm_backward", "06_computing_convolutions")
#: How many of every 20 students hand in each way (40 students: twice this).
MIX = {"solved": 8, "blank": 3, "edited": 2, "forging": 3, "wrong": 2, "hanging": 1, "hungry": 1}
FORGERY = ("import builtins\nfrom course.grading import checks\n"
           "checks.check_array = checks.check_cases = lambda *a, **k: print('PASS')\n"
           "builtins.AssertionError = KeyError\nbuiltins.print = lambda *a, **k: None\n")


def variants(name: str):
    """``{way: (notebook, expected points)}`` for exercise ``name``."""
    import nbformat

    from course import exercises

    solution = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
    roles = exercises.roles(solution, name)
    answers = [i for i, r in enumerate(roles) if r.kind == "solution"]
    total = sum(r.points for r in roles if r.kind == "grade")
    after_last = sum(r.points for r in roles[answers[-1]:] if r.kind == "grade")
    solved = release.copy()
    solved.cells = [c.copy() for c in release.cells]
    for i in answers:
        solved.cells[i].source = "\n".join(
            line for line in solution.cells[i].source.splitlines()
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)

    def changed(base, index, source):
        nb = base.copy()
        nb.cells = [c.copy() for c in base.cells]
        nb.cells[index].source = source
        return nb

    edited = solved.copy()
    edited.cells = [c.copy() for c in solved.cells]
    for cell, role in zip(edited.cells, roles):
        if role.kind == "grade":
            cell.source = f"# GRADED: {role.grade_id}, {role.points:g} points\npass"
    last = answers[-1]
    return {
        "solved": (solved, total), "blank": (release, 0), "edited": (edited, total),
        "forging": (changed(release, answers[0], release.cells[answers[0]].source + "\n"
                            + FORGERY), 0),
        "wrong": (changed(solved, last, release.cells[last].source), total - after_last),
        "hanging": (changed(solved, last, solved.cells[last].source + "\nwhile True:\n    pass"),
                    total - after_last),
        "hungry": (changed(solved, last, solved.cells[last].source
                           + "\nhog = []\nwhile True:\n    hog.append(bytearray(1 << 26))"),
                   total - after_last),
    }


def build_class(folder: Path, students: int) -> dict:
    """Write the submissions; ``{(student, exercise): (way, expected)}``."""
    import nbformat

    ways = [way for i in range(max(MIX.values())) for way, count in MIX.items() if i < count]
    expected = {}
    for name in EXERCISES:
        notebooks = variants(name)
        for number in range(students):
            way = ways[number % len(ways)]
            nb, points = notebooks[way]
            student = f"student{number:02d}"
            target = folder / student / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
            expected[(student, name)] = (way, points)
    return expected


def gradebook(out: Path) -> list[tuple]:
    with open(out / "gradebook.csv", newline="") as f:
        return sorted((r["student"], r["exercise"], r["points"], r["cells"], r["status"])
                      for r in csv.DictReader(f))


def table(report: dict) -> str:
    """The run as Markdown: the machine, then one row per way."""
    m = report["machine"]
    serial = report["ways"].get("serial", {}).get("notebooks_per_hour")
    lines = [f"# Grading a class: {report['students']} students x {len(report['exercises'])} "
             f"exercises ({', '.join(report['exercises'])})", "",
             f"Written by `benchmarks/grade_class.py` on {report['date']} UTC: {m.get('cpu')}, "
             f"{m.get('cores')} cores, matmul {m.get('matmul_gflops_float32')} GFLOP/s float32; "
             f"limits {report['time_limit_s']:g} s and {report['memory_limit_mb']} MB per "
             f"notebook; mix per 20 students {report['mix']}.", "",
             "| way | notebooks | seconds | notebooks/hour | x serial | every score as expected "
             "| statuses | load before / after |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for way, w in report["ways"].items():
        speed = f"{w['notebooks_per_hour'] / serial:.2f}" if serial else "-"
        lines.append(f"| {way} | {w['notebooks']} | {w['seconds']:.0f} | "
                     f"{w['notebooks_per_hour']:.0f} | {speed} | {w['scores_as_expected']} | "
                     f"{w['statuses']} | {w['load_average_before']:.1f} / "
                     f"{w['load_average_after']:.1f} |")
    lines += ["", f"Gradebooks equal across the ways: {report.get('gradebooks_equal')}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--ways", default="serial,workers2,dask2")
    parser.add_argument("--time-limit", type=float, default=90.0,
                        help="per notebook (the hanging ones cost all of it)")
    parser.add_argument("--memory-limit", type=int, default=2048)
    parser.add_argument("--results", default=str(RESULTS / "grade_class.json"))
    args = parser.parse_args(argv)

    import machine

    from course.grading.notebooks.batch import Batch, autograde
    from course.grading.notebooks.sandbox import NotebookLimits

    facts = machine.describe()
    machine.print_facts(facts)
    work = Path(tempfile.mkdtemp(prefix="grade-class-"))
    limits = NotebookLimits(time_s=args.time_limit, memory_mb=args.memory_limit)
    report = {"machine": facts, "students": args.students, "exercises": list(EXERCISES),
              "mix": MIX, "time_limit_s": args.time_limit, "memory_limit_mb": args.memory_limit,
              "date": time.strftime("%Y-%m-%d %H:%M"), "ways": {}}
    try:
        submitted = work / "submitted"
        expected = build_class(submitted, args.students)
        books = {}
        for way in [w for w in args.ways.split(",") if w]:
            out = work / way
            started = time.monotonic()
            load_before = os.getloadavg()[0]
            if way.startswith("dask"):
                from distributed import Client, LocalCluster

                with LocalCluster(n_workers=int(way[4:]), threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, Client(cluster) as client:
                    from course.grading.notebooks.runners import DaskRunner

                    grades = autograde(Batch(submitted, out, ROOT, limits=limits,
                                             runner=DaskRunner(client)))
            else:
                workers = 1 if way == "serial" else int(way[len("workers"):])
                grades = autograde(Batch(submitted, out, ROOT, limits=limits, workers=workers))
            seconds = time.monotonic() - started
            wrong = [(g.student, g.exercise, g.points, expected[(g.student, g.exercise)],
                      g.status, g.notes[-3:])
                     for g in grades if g.points != expected[(g.student, g.exercise)][1]]
            books[way] = gradebook(out)
            report["ways"][way] = {
                "notebooks": len(grades), "seconds": round(seconds, 1),
                "notebooks_per_hour": round(len(grades) / seconds * 3600, 1),
                "scores_as_expected": not wrong, "unexpected": wrong[:20],
                "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
                "statuses": {s: sum(g.status == s for g in grades)
                             for s in sorted({g.status for g in grades})}}
            print(f"{way}: {len(grades)} notebooks in {seconds:.0f} s "
                  f"({len(grades) / seconds * 3600:.0f}/hour); every score as expected: "
                  f"{not wrong} {wrong[:3]}", flush=True)
        first = next(iter(books.values()), None)
        report["gradebooks_equal"] = all(book == first for book in books.values())
        print(f"gradebooks equal: {report['gradebooks_equal']}")
        Path(args.results).write_text(json.dumps(report, indent=1) + "\n")
        Path(args.results).with_suffix(".md").write_text(table(report))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report.get("gradebooks_equal") and all(
        w["scores_as_expected"] for w in report["ways"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
