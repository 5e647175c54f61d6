"""Does the course resolve on another Python from wheels alone? ``make check-install``.

For each Python version given (default 3.13: what Colab runs, and where NumPy 1.x has no wheels)
and each of ``.``, ``.[student]``, ``.[dev]`` and ``.[jax]``, pip resolves the whole dependency set as
``pip install --dry-run --ignore-installed --python-version V --only-binary=:all:`` would for a
fresh environment of that Python: nothing is installed. Prints one line per resolution (how many
packages; the numpy, tensorflow, keras and jax it picked) or pip's reason, and exits 1 if any
fails.

``PURE_SDISTS`` are pure-Python packages published only as sdists, which ``--only-binary=:all:``
would refuse although every Python builds them without a compiler (``promise``, which
tensorflow-datasets requires). They are built into wheels here first and offered to pip with
``--find-links``; the check fails if one of them does not build into a ``py3-none-any`` wheel
(that one would need a compiler on the target Python).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PURE_SDISTS = ["promise"]
TARGETS = [".", ".[student]", ".[dev]", ".[jax]"]
SHOWN = ["numpy", "tensorflow", "keras", "jax"]


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, cwd=PROJECT, stdin=subprocess.DEVNULL)


def why(result: subprocess.CompletedProcess) -> str:
    lines = [ln.rstrip() for ln in result.stderr.splitlines()
             if ln.strip() and "is ignored: it is neither a file nor a directory" not in ln]
    return "\n    ".join(lines[-25:]) or f"pip exited with status {result.returncode}"


def build_pure_wheels(folder: Path) -> list[str]:
    """Problems building ``PURE_SDISTS`` into pure wheels in ``folder`` (none: empty list)."""
    result = pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), *PURE_SDISTS)
    if result.returncode != 0:
        return [f"could not build {', '.join(PURE_SDISTS)} into wheels:\n    {why(result)}"]
    return [f"{wheel.name} is not a pure-Python wheel (py3-none-any): it would need a compiler"
            for wheel in folder.glob("*.whl") if not wheel.name.endswith("-py3-none-any.whl")]


def resolve(python: str, target: str, links: Path) -> tuple[bool, str]:
    report = links / "report.json"
    start = time.monotonic()
    result = pip("install", "--dry-run", "--quiet", "--ignore-installed", "--python-version",
                 python, "--only-binary=:all:", "--find-links", str(links), "--report",
                 str(report), target)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        return False, f"Python {python}, wheels only: {target} does NOT resolve:\n    {why(result)}"
    picked = {item["metadata"]["name"].lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    shown = ", ".join(f"{name} {picked[name]}" for name in SHOWN if name in picked)
    return True, (f"Python {python}, wheels only: {target} resolves ({len(picked)} packages: "
                  f"{shown}; {seconds:.0f} s)")


def main(pythons: list[str]) -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="check-install-") as tmp:
        links = Path(tmp)
        for problem in build_pure_wheels(links):
            print(f"check-install: {problem}")
            ok = False
        for python in pythons:
            for target in TARGETS:
                resolved, line = resolve(python, target, links)
                print(line, flush=True)
                ok = ok and resolved
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["3.13"]))
