"""What the accuracy bars of exercises 04 and 08 rest on: each solution run as a student runs it.

    python benchmarks/exercise_bars.py                          # both, fast seeds 0-2, full seed 0
    python benchmarks/exercise_bars.py --exercises 04_build_the_classics --modes fast

Each solution notebook is executed top to bottom in a kernel of its own (nbclient; the checks
run in that kernel, as in a student's own run, not in the grader's sandbox), in fast mode
(``COURSE_FAST=1``) and in full mode, once per seed. Seed 0 is the notebook as shipped; seed
``s`` also starts with ``keras.utils.set_random_seed(s)`` and adds ``100 s`` to every
``seed=N`` and ``set_seed(N)`` of its code. What the check cells print is read back: exercise
04's test accuracy (``check_small_resnet``), exercise 08's fine-tuned and from-scratch accuracies
(``check_margin``). Results go into ``benchmarks/results/exercise_bars.json`` (the other
exercises' and modes' results kept), which the exercises' prose quotes
(``python -m course prose --write``), and ``exercise_bars.md``. The bars themselves are
constants of ``course.grading.checks.models``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "exercise_bars.json"

#: What each exercise's check cells print, and the fields read from it (percentages).
PRINTED = {
    "04_build_the_classics": (
        re.compile(r"(?:PASS: test accuracy(?: \(fast mode\))? ([\d.]+)% >=|"
                   r"Test accuracy(?: \(fast mode\))? is ([\d.]+)% on)"), ("accuracy",)),
    "08_transfer_learning": (
        re.compile(r"fine-tuned ([\d.]+)%, from scratch ([\d.]+)%"), ("fine_tuned", "scratch")),
}


def seeded(notebook, seed: int):
    """``notebook`` with its seeds moved by ``100 * seed`` (seed 0: unchanged but for the first
    line that seeds Keras)."""
    import nbformat

    for cell in notebook.cells:
        if cell.cell_type == "code" and seed:
            cell.source = re.sub(r"\bseed=(\d+)", lambda m: f"seed={int(m[1]) + 100 * seed}",
                                 cell.source)
            cell.source = re.sub(r"\bset_seed\((\d+)\)",
                                 lambda m: f"set_seed({int(m[1]) + 100 * seed})", cell.source)
    first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells.insert(first + 1, nbformat.v4.new_code_cell(
        f"import keras\nkeras.utils.set_random_seed({seed})  # exercise_bars.py"))
    return notebook


def measure(name: str, mode: str, seed: int, workdir: Path) -> dict:
    """Run solution ``name`` in ``mode`` with ``seed``; what its checks printed, in [0, 1]."""
    import nbformat
    from nbclient import NotebookClient

    notebook = seeded(nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4), seed)
    folder = workdir / f"{name}_{mode}_{seed}"
    folder.mkdir(parents=True)
    environ = {k: v for k, v in os.environ.items() if k != "COURSE_FAST"}
    if mode == "fast":
        environ["COURSE_FAST"] = "1"
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)  # the kernel inherits this process's environment
    started = time.perf_counter()
    try:
        NotebookClient(notebook, timeout=3600, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - started
    text = "\n".join("".join(output.get("text", "")) for cell in notebook.cells
                     if cell.cell_type == "code" for output in cell.get("outputs", []))
    pattern, fields = PRINTED[name]
    found = pattern.search(text)
    if found is None:
        raise RuntimeError(f"{name} ({mode}, seed {seed}) printed no result of its check: "
                           f"{text[-2000:]}")
    values = [float(v) / 100 for v in found.groups() if v is not None]
    return {**dict(zip(fields, values)), "seconds": round(seconds, 1)}


def table(results: dict) -> str:
    lines = ["# What the accuracy bars of exercises 04 and 08 rest on", "",
             "Written by `benchmarks/exercise_bars.py`: each solution executed as a student runs "
             "it, per mode and seed (seed 0: the notebook as shipped). The values are in "
             "`exercise_bars.json`; the exercises quote them.", ""]
    for name, modes in sorted(results.get("exercises", {}).items()):
        lines += [f"## {name}", "", "| mode | seed | " + " | ".join(PRINTED[name][1]) +
                  " | seconds | machine | date |",
                  "| --- | --- | " + " | ".join("---" for _ in PRINTED[name][1]) +
                  " | --- | --- | --- |"]
        for mode, seeds in sorted(modes.items()):
            for seed, run in sorted(seeds.items(), key=lambda kv: int(kv[0])):
                values = " | ".join(f"{run[f]:.2%}" for f in PRINTED[name][1])
                lines.append(f"| {mode} | {seed} | {values} | {run['seconds']:.0f} | "
                             f"{run['machine']} | {run['date']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercises", default=",".join(PRINTED))
    parser.add_argument("--modes", default="fast,full")
    parser.add_argument("--fast-seeds", default="0,1,2")
    parser.add_argument("--full-seeds", default="0")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import tempfile

    import machine

    facts = machine.describe()
    machine.print_facts(facts)
    stored = json.loads(args.results.read_text()) if args.results.exists() else {}
    workdir = Path(tempfile.mkdtemp(prefix="exercise-bars-"))
    for name in [n for n in args.exercises.split(",") if n]:
        if name not in PRINTED:
            parser.error(f"no bars measured for {name!r}: choose from {', '.join(PRINTED)}")
        for mode in [m for m in args.modes.split(",") if m]:
            seeds = args.fast_seeds if mode == "fast" else args.full_seeds
            for seed in [int(s) for s in seeds.split(",") if s]:
                run = measure(name, mode, seed, workdir)
                run.update(machine=facts["cpu"], date=time.strftime("%Y-%m-%d"),
                           load=round(machine.load_average(), 2))
                print(f"{name} {mode} seed {seed}: " + ", ".join(
                    f"{k} {v:.2%}" for k, v in run.items() if k in PRINTED[name][1]) +
                    f" ({run['seconds']:.0f} s)", flush=True)
                modes = stored.setdefault("exercises", {}).setdefault(name, {})
                modes.setdefault(mode, {})[str(seed)] = run
                args.results.write_text(json.dumps(stored, indent=1) + "\n")
    args.results.with_suffix(".md").write_text(table(stored) + "\n")
    print(f"(written to {args.results} and its .md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
