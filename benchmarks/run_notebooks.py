"""Execute the lesson notebooks in full mode, one at a time, and record what each one costs.

For every notebook: wall time, the kernel's peak memory (resident set of the kernel process and
its children, sampled every 0.2 s) and pass/fail, into ``benchmarks/results/lessons.json``
(merged with earlier runs, one row per notebook, mode and CPU) and the table
``benchmarks/results/lessons.md`` that the README's lesson list links. The lessons' own "Full
mode" lines are rendered from it: run ``python -m course prose --write`` afterwards.

    COURSE_DATA_DIR=/work/shared/datasets python benchmarks/run_notebooks.py            # all 16
    python benchmarks/run_notebooks.py notebooks/08_resnet.ipynb --timeout 1800         # one
    python benchmarks/run_notebooks.py --table                                          # rewrite the table

A notebook that passes is also stored in the course site's jupyter cache for its mode
(``docs/_build/.jupyter_cache_full``), so ``make site`` afterwards shows this very run.

Each notebook runs in a fresh temporary folder (a copy of the notebook), so ``runs/`` left by an
earlier run cannot make a lesson resume instead of train. Full mode is the default
(``COURSE_FAST`` is removed from the kernel's environment); ``--fast`` measures fast mode. The
budget a lesson must meet is 20 minutes on a 2-core laptop CPU; the table says whether the
machine was shared (its load average when each notebook started and ended).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"
BUDGET_MIN = 20.0


def _load():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return float("nan")


class PeakMemory:
    """Samples the resident memory of a process tree (the kernel) until stopped."""

    def __init__(self, pid: int, every: float = 0.2):
        import psutil

        self.process = psutil.Process(pid)
        self.every, self.peak, self.cpu = every, 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
                times = [p.cpu_times() for p in procs]
                self.cpu = max(self.cpu, sum(t.user + t.system for t in times))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cache_for_site(nb, path: Path, seconds: float, fast: bool) -> None:
    """Store an executed notebook in the course site's jupyter cache (docs/conf.py uses one per
    mode), so ``make site`` reuses this run instead of executing the lesson again."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    for cell in nb.cells:  # jupyter-cache hashes code cells with their metadata: keep the
        cell.metadata.pop("execution", None)  # notebook's own, as the site build reads it
    cache = get_cache(ROOT / "docs" / "_build" / f".jupyter_cache_{'fast' if fast else 'full'}")
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
                                check_validity=False, overwrite=True)


def run_one(path: Path, timeout: float, fast: bool, site_cache: bool = True) -> dict:
    """Execute one notebook in a temporary copy; return its row for the table."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from course.grading.notebooks.kernel import kernel_config

    env_fast = os.environ.pop("COURSE_FAST", None)
    if fast:
        os.environ["COURSE_FAST"] = "1"
    os.environ.setdefault("COURSE_DATA_DIR", "/work/shared/datasets")
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so figures are kept
    row = {"notebook": path.stem, "mode": "fast" if fast else "full",
           "date": dt.datetime.now().isoformat(timespec="minutes"), "load_start": _load()}
    with tempfile.TemporaryDirectory(prefix=f"lesson_{path.stem}_") as work:
        copy = Path(work) / path.name
        shutil.copy(path, copy)
        nb = nbformat.read(copy, as_version=4)
        client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3",
                                resources={"metadata": {"path": work}}, config=kernel_config())
        start = time.perf_counter()
        status, error = "pass", ""
        timer = None
        try:
            with client.setup_kernel():
                pid = client.km.provisioner.process.pid
                # the whole notebook's deadline: interrupt the kernel when it is reached
                timer = threading.Timer(timeout, client.km.interrupt_kernel)
                timer.start()
                with PeakMemory(pid) as memory:
                    try:
                        for index, cell in enumerate(nb.cells):
                            client.execute_cell(cell, index)
                    finally:
                        row["peak_rss_mib"] = round(memory.peak / 2 ** 20)
                        row["cpu_s"] = round(memory.cpu, 1)
        except CellTimeoutError:
            status, error = "timeout", f"a cell ran past {timeout:.0f} s"
        except CellExecutionError as exc:
            status = "timeout" if "KeyboardInterrupt" in str(exc) else "fail"
            error = (f"interrupted after {timeout:.0f} s" if status == "timeout"
                     else str(exc).strip().splitlines()[-1][:200])
        except DeadKernelError as exc:
            status, error = "fail", f"kernel died: {exc}"[:200]
        finally:
            if timer is not None:
                timer.cancel()
        row["wall_s"] = round(time.perf_counter() - start, 1)
        if status == "pass":  # an error shown without failing the cell (e.g. while drawing)
            shown = [(i, o.get("ename", "")) for i, cell in enumerate(nb.cells)
                     for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if shown:
                status = "fail"
                error = "error output in cell " + ", ".join(f"{i} ({name})" for i, name in shown)
        if status == "pass" and site_cache:
            try:
                cache_for_site(nb, path, row["wall_s"], fast)
            except ImportError:  # jupyter-cache comes with the site extra
                pass
    row.update(status=status, error=error, load_end=_load())
    os.environ.pop("COURSE_FAST", None)
    if env_fast is not None:
        os.environ["COURSE_FAST"] = env_fast
    return row


def row_key(row: dict) -> str:
    """One row per notebook, mode and CPU: a run on another CPU adds a row, not replaces one."""
    return f"{row['notebook']}@{row['mode']}@{row.get('cpu', 'AMD EPYC')}"


def write_table(rows: dict, machine: dict, path: Path) -> None:
    lines = [
        "# What each lesson costs in full mode",
        "",
        "Measured by `python benchmarks/run_notebooks.py` (nbclient, one notebook at a time, each "
        "in a fresh folder, `COURSE_DATA_DIR` set to the real data sets). Budget: "
        f"{BUDGET_MIN:.0f} minutes per lesson on a 2-core laptop CPU.",
        "",
        f"Machines: {machine.get('cores', '?')} cores, TensorFlow {machine.get('tensorflow', '?')}, "
        f"Keras {machine.get('keras', '?')}, no GPU; one row per lesson and CPU. The load "
        "average (1 min, at the start and the end of each notebook) says whether other jobs shared the two "
        "cores: about 2 is the lesson's own threads, more is other work, and on an idle machine "
        "the times are shorter. The kernel's CPU time (user + system, all its threads) depends "
        "much less on the load: on an idle 2-core CPU a lesson's wall time lies between half its "
        "CPU time (both cores busy) and its CPU time.",
        "",
        "| lesson | mode | wall time | kernel CPU time | peak memory | result | load avg (start / end) | CPU | date |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows.values(), key=lambda r: (r["notebook"], r["mode"], r["date"])):
        name = r["notebook"]
        minutes = r["wall_s"] / 60
        over = " (over budget)" if r["mode"] == "full" and minutes > BUDGET_MIN else ""
        result = r["status"] + (f": {r['error']}" if r.get("error") else "")
        cpu = f"{r['cpu_s'] / 60:.1f} min" if "cpu_s" in r else "-"
        lines.append(
            f"| `{name}` | {r['mode']} | {minutes:.1f} min{over} | {cpu} | "
            f"{r.get('peak_rss_mib', 0) / 1024:.1f} GiB | {result} | "
            f"{r['load_start']:.1f} / {r['load_end']:.1f} | {r.get('cpu', 'AMD EPYC')} | "
            f"{r['date']} |")
    notes = machine.get("notes")
    if notes:
        lines += ["", notes]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--timeout", type=float, default=2 * BUDGET_MIN * 60,
                        help="seconds before a notebook is interrupted (default: twice the budget)")
    parser.add_argument("--fast", action="store_true", help="measure fast mode instead")
    parser.add_argument("--table", action="store_true",
                        help="only rewrite lessons.md from lessons.json")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-site-cache", action="store_true",
                        help="do not store the executed notebooks in the site's jupyter cache")
    args = parser.parse_args(argv)

    store = args.results / "lessons.json"
    data = json.loads(store.read_text()) if store.exists() else {"machine": {}, "rows": {}}
    if not args.table:
        from machine import describe, print_facts

        facts = describe(measure_peaks=False)
        print_facts(facts)
        data["machine"].update({k: facts[k] for k in ("cpu", "cores", "tensorflow", "keras")})
        paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        mine = {}
        for path in paths:
            print(f"{path.stem}: running ({'fast' if args.fast else 'full'} mode, timeout "
                  f"{args.timeout:.0f} s) ...", flush=True)
            row = run_one(path.resolve(), args.timeout, args.fast, not args.no_site_cache)
            row["cpu"] = facts["cpu"]
            print(f"{path.stem}: {row['status']} in {row['wall_s'] / 60:.1f} min, peak "
                  f"{row.get('peak_rss_mib', 0)} MiB, load {row['load_start']:.1f} -> "
                  f"{row['load_end']:.1f} {row['error']}", flush=True)
            mine[row_key(row)] = row
            if store.exists():  # another run may have added rows meanwhile: merge, not replace
                data["rows"] = json.loads(store.read_text())["rows"]
            data["rows"].update(mine)
            args.results.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps(data, indent=1) + "\n")
            write_table(data["rows"], data["machine"], args.results / "lessons.md")
    write_table(data["rows"], data["machine"], args.results / "lessons.md")
    failed = [r for r in data["rows"].values() if r["status"] != "pass"]
    return 1 if failed and not args.table else 0


if __name__ == "__main__":
    sys.exit(main())
