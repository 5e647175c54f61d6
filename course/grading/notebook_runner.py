"""Running one submitted notebook in isolation, with a wall-clock and a memory limit.

``run_isolated`` starts a runner process (``python -c RUNNER_COMMAND``, in its own session) that
executes the notebook with nbclient in a fresh folder (``run_job``) and records each cell's
outcome as it finishes. The parent polls the runner's process tree (the kernel and whatever it
starts) from ``/proc``: past the wall-clock limit, or above the memory limit (the resident
memory of all of them), it kills the kernel, lets the runner save what ran, then kills what is
left. A ``Run`` says how the notebook ended and which cells passed.

The limits are of processes (time, memory, crashes), not a security boundary. The generic
process helpers (``/proc`` status figures, killing a process group, the child's environment)
are shared with ``sandbox``; ``autograde`` sanitizes, runs and scores with this module.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course.grading.sandbox import kill_group, proc_status_kb

#: Default limits per notebook: full-mode training of an exercise takes hours on a laptop CPU.
TIME_LIMIT_S = 3 * 60 * 60
MEMORY_LIMIT_MB = 8192
#: Notebooks larger than this are not read (a grader must not run out of memory reading one).
MAX_NOTEBOOK_MB = 64
#: Seconds the runner gets to save the executed notebook after its kernel was stopped.
SAVE_GRACE_S = 20.0
POLL_S = 0.2
#: How the runner process starts (``import course`` first keeps TensorFlow's log quiet).
RUNNER_COMMAND = ("import sys; from course.grading.notebook_runner import run_job; "
                  "run_job(sys.argv[1])")


# ---------------------------------------------------------------------------------------------
# The runner process


def kernel_encryption() -> str | None:
    """``"auto"`` where jupyter_client (8.10 or later) can encrypt a kernel's channels with
    CurveZMQ and libzmq was built with it, else None. Without it ipykernel (7.4 or later) warns on
    every start that its TCP channels are plain text (other users of the machine can subscribe
    to a kernel's output channel)."""
    try:
        import zmq
        from jupyter_client.manager import KernelManager
    except ImportError:
        return None
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        return "auto"  # the kernelspec says whether the kernel supports it
    return None


def kernel_config():
    """Configuration for ``nbclient.NotebookClient(config=...)``: encrypted kernel channels
    where possible (``kernel_encryption``)."""
    from traitlets.config import Config

    config, policy = Config(), kernel_encryption()
    if policy:
        config.KernelManager.transport_encryption = policy
    return config


def run_job(job_path) -> None:
    """In the runner process: execute the notebook of ``job_path`` with nbclient, appending one
    JSON line per finished cell to the progress file, and save the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    job = json.loads(Path(job_path).read_text())
    notebook = nbformat.read(job["notebook"], as_version=4)
    progress = open(job["progress"], "a", buffering=1)

    def executed(cell, cell_index, execute_reply):
        content = execute_reply.get("content", {}) if execute_reply else {}
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"),
                     None)
        status = "error" if content.get("status") == "error" or error else "ok"
        record = {"index": cell_index, "status": status}
        if status == "error":
            record["ename"] = content.get("ename") or (error or {}).get("ename", "")
            record["evalue"] = content.get("evalue") or (error or {}).get("evalue", "")
        progress.write(json.dumps(record) + "\n")

    client = NotebookClient(
        notebook, timeout=job["cell_timeout"], kernel_name=job["kernel"], allow_errors=True,
        interrupt_on_timeout=True, record_timing=False, on_cell_executed=executed,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran past the time "
                          "limit", "traceback": []},
        resources={"metadata": {"path": job["cwd"]}}, config=kernel_config())
    outcome = "completed"
    try:
        client.execute()
    except DeadKernelError:
        outcome = "kernel_died"
    except Exception as err:  # noqa: BLE001 - recorded; the parent decides
        outcome = f"runner_error: {type(err).__name__}: {err}"
    finally:
        progress.write(json.dumps({"outcome": outcome}) + "\n")
        progress.close()
        nbformat.write(notebook, job["executed"])


# ---------------------------------------------------------------------------------------------
# The parent's side: the runner's process tree, the limits


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info:
                children.setdefault(info[0], []).append(int(entry))
    return children


def _stat(pid: int):
    """``(ppid, start time)`` of ``pid`` from /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _rss_mb(pid: int) -> float:
    return (proc_status_kb("VmRSS", pid) or 0) / 1024


class _Tree:
    """The runner's descendants (the kernel and anything it starts), remembered with their start
    times so that a process is never confused with a later one that reuses its pid."""

    def __init__(self, root: int):
        self.root = root
        self.seen: dict[int, int] = {}
        self.linux = os.path.isdir("/proc")

    def poll(self) -> float:
        """Refresh the descendants; returns their total resident memory (MiB)."""
        if not self.linux:
            return 0.0
        children = _proc_children()
        stack, total = list(children.get(self.root, [])), 0.0
        while stack:
            pid = stack.pop()
            info = _stat(pid)
            if info is None:
                continue
            self.seen.setdefault(pid, info[1])
            total += _rss_mb(pid)
            stack += children.get(pid, [])
        return total

    def kill_descendants(self) -> None:
        for pid, start in list(self.seen.items()):
            info = _stat(pid)
            if info is not None and info[1] == start:
                kill_group(pid)


@dataclass
class Run:
    outcome: str  # completed, timeout, memory, kernel_died, crashed
    seconds: float
    peak_mb: float
    cells: dict = field(default_factory=dict)  # index -> {"status", "ename", "evalue"}
    executed: Path | None = None


def run_isolated(notebook, workdir: Path, private: Path, time_limit: float, memory_mb: float,
                 env: dict, kernel: str = "python3") -> Run:
    """Execute ``notebook`` in ``workdir`` in a runner process under the limits."""
    import nbformat

    private.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    job = {"notebook": str(private / "in.ipynb"), "executed": str(private / "out.ipynb"),
           "progress": str(private / "progress.jsonl"), "cwd": str(workdir),
           "cell_timeout": int(time_limit) + 1, "kernel": kernel}
    nbformat.write(notebook, job["notebook"])
    (private / "job.json").write_text(json.dumps(job))
    started = time.monotonic()
    with open(private / "runner.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", RUNNER_COMMAND, str(private / "job.json")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                cwd=str(workdir), start_new_session=True)
    tree, peak, outcome = _Tree(proc.pid), 0.0, None
    try:
        while proc.poll() is None:
            peak = max(peak, tree.poll())
            if outcome is None and time.monotonic() - started > time_limit:
                outcome = "timeout"
            elif outcome is None and peak > memory_mb:
                outcome = "memory"
            if outcome in ("timeout", "memory"):
                tree.kill_descendants()  # the kernel: the runner saves what ran, then exits
                try:
                    proc.wait(timeout=SAVE_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
                break
            time.sleep(POLL_S)
    finally:
        for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
            try:
                kill()
            except OSError:
                pass
        proc.wait()
        tree.poll()
        tree.kill_descendants()
    cells, ended = {}, None
    progress = Path(job["progress"])
    if progress.exists():
        for line in progress.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "outcome" in record:
                ended = record["outcome"]
            elif isinstance(record.get("index"), int):
                cells[record["index"]] = record
    if outcome is None:
        outcome = "completed" if ended == "completed" else \
            "kernel_died" if ended == "kernel_died" else "crashed"
    executed = Path(job["executed"])
    return Run(outcome, round(time.monotonic() - started, 1), round(peak, 1), cells,
               executed if executed.exists() else None)
