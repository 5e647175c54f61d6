"""What grading each exercise costs: every solution autograded for real, as a student's notebook.

    python benchmarks/grade_exercises.py                       # all eight, full mode
    python benchmarks/grade_exercises.py --exercises 03_convolution_arithmetic,05_batch_norm_backward

Each solution is handed to ``python -m course autograde``'s batch as a student's submission: its
kernel in the bubblewrap sandbox (with the answer keys of ``instructor/`` lent read-only, which
``02_cifar100``'s solution imports), its check cells in the judge. The seconds and peak memory of
each notebook, its score, and the machine (CPU, matmul peak, load) go to
``benchmarks/results/exercise_costs.json``; ``python -m course exercises --write`` derives each
exercise's time limit from them (``course.exercises.time_limit``: 3x the measured seconds plus
two minutes) and writes it into the exercise's metadata, which both autograders read.
"""
from __future__ import annotations

import argparse
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
RESULTS = ROOT / "benchmarks" / "results" / "exercise_costs.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercises", default="", help="comma-separated names (default: all)")
    parser.add_argument("--time-limit", type=float, default=3 * 3600,
                        help="per notebook, while measuring (default 3 h)")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)

    import machine

    from course.grading.notebooks.batch import Batch, autograde, sources
    from course.grading.notebooks.sandbox import WORKDIR, NotebookLimits

    facts = machine.describe()
    machine.print_facts(facts)
    known = sources(ROOT)
    names = [n for n in args.exercises.split(",") if n] or list(known)
    results = json.loads(Path(args.results).read_text()) if Path(args.results).exists() else {}
    work = Path(tempfile.mkdtemp(prefix="grade-exercises-"))
    try:
        for name in names:
            submitted = work / name / "submitted" / "solution"
            submitted.mkdir(parents=True)
            shutil.copy(known[name], submitted / f"{name}.ipynb")
            started = time.monotonic()
            [grade] = autograde(Batch(
                submitted.parent, work / name / "out", ROOT, name,
                NotebookLimits(time_s=args.time_limit), extra_mounts=[
                    [str(ROOT / "instructor"), f"{WORKDIR}/instructor"]]))
            wall = time.monotonic() - started
            print(f"{name}: {grade.points:g}/{grade.max_points:g} ({grade.status}) in "
                  f"{grade.seconds:.0f} s (wall {wall:.0f} s), peak {grade.peak_mb:,.0f} MiB",
                  flush=True)
            results[name] = {"seconds": grade.seconds, "peak_mb": grade.peak_mb,
                             "points": grade.points, "max_points": grade.max_points,
                             "status": grade.status, "mode": "full", "machine": facts,
                             "load": os.getloadavg()[0], "notes": grade.notes,
                             "date": time.strftime("%Y-%m-%d")}
            Path(args.results).write_text(json.dumps(results, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
