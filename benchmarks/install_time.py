"""How long `make install` takes: a fresh venv, then the course with its `[dev]` extra, through uv
(what the Makefile uses) and through pip (what it falls back to), each with its cache warm.

    python benchmarks/install_time.py [--repeats 2] [--out benchmarks/results/install.json]

Each way runs ``--repeats`` times in a new temporary venv (the venv's creation and the upgrade
of pip are not counted; the install command is, with the bytecode compiled as the Makefile
asks). The first pass fills the caches and is not counted either. The README's install line is
rendered from the medians (``python -m course prose --write``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]


def venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "uv"],
                   check=True, capture_output=True)
    return python


def install_seconds(way: str) -> float:
    """Seconds of ``way`` ("uv" or "pip") installing ``-e .[dev]`` into a new venv."""
    with tempfile.TemporaryDirectory(prefix="course-install-") as tmp:
        python = venv(Path(tmp) / "venv")
        if way == "uv":
            command = [python, "-m", "uv", "pip", "install", "--quiet", "--compile-bytecode",
                       "--python", python, "-e", ".[dev]"]
        else:
            command = [python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"]
        start = time.perf_counter()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode:  # the build backend's warnings are shown only when it fails
            raise SystemExit(f"{way} could not install the course:\n{run.stdout}{run.stderr}")
        return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/install.json"))
    args = parser.parse_args(argv)
    import machine

    facts = {"cpu": machine.cpu_model(), "cores": machine.cores(),
             "python": sys.version.split()[0], "load_start": machine.load_average(),
             "date": time.strftime("%Y-%m-%d")}
    runs = {}
    for way in ("uv", "pip"):
        install_seconds(way)  # fills the cache
        seconds = [install_seconds(way) for _ in range(args.repeats)]
        runs[way] = {"seconds": [round(s, 1) for s in seconds],
                     "median_s": round(statistics.median(seconds), 1)}
        print(f"{way}: install -e .[dev] in {', '.join(f'{s:.1f}' for s in seconds)} s "
              f"(cache warm)", flush=True)
    facts["load_end"] = machine.load_average()
    Path(args.out).write_text(json.dumps({**facts, **runs}, indent=1) + "\n")
    print(f"(saved {args.out}; {facts['cpu']}, load {facts['load_start']:.1f}-"
          f"{facts['load_end']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
