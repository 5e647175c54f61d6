"""The student's kernel, started in its sandbox, driven cell by cell with nbclient.

``KernelSession`` starts an IPython kernel with the sandbox's command (a kernelspec of its own
in the judge's private folder), over Unix sockets in the exchange folder (so the judge reaches
a kernel that has no network), runs cells with ``nbclient`` under the notebook's deadline, and
runs the judge's requests (``run_line``). A ``Watchdog`` thread stops the whole sandbox when it
passes the memory limit, fills the exchange folder, or outlives the deadline.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

from course.grading.notebooks.sandbox import Sandbox

#: Seconds a kernel may take to start (it imports nothing heavy until the first cell).
START_TIMEOUT_S = 120
POLL_S = 0.25


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


def _client_class():
    from nbclient import NotebookClient

    class LimitedClient(NotebookClient):
        """nbclient that keeps at most ``budget`` characters of output for the notebook."""

        budget = 2_000_000

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.budget:
                if self.budget > 0:
                    self.budget = 0
                    from nbformat.v4 import new_output

                    outs.append(new_output("stream", name="stderr", text=(
                        "[the grader stopped recording this notebook's output: too much]\n")))
                return None
            self.budget -= size
            return super().output(outs, msg, display_id, cell_index)

    return LimitedClient


class ProcessTree:
    """A process and its descendants, read from /proc (remembered with their start times, so a
    reused pid is never taken for one of them)."""

    def __init__(self, root: int):
        self.root, self.seen = root, {}

    @staticmethod
    def _stat(pid: int):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[1]), int(fields[19])
        except (OSError, IndexError, ValueError):
            return None

    def poll(self) -> float:
        """Refresh the descendants; their total resident memory (MiB)."""
        children: dict[int, list[int]] = {}
        try:
            entries = os.listdir("/proc")
        except OSError:
            return 0.0
        for entry in entries:
            if entry.isdigit():
                info = self._stat(int(entry))
                if info:
                    children.setdefault(info[0], []).append(int(entry))
        stack, total = [self.root], 0.0
        while stack:
            pid = stack.pop()
            info = self._stat(pid)
            if info is None:
                continue
            self.seen.setdefault(pid, info[1])
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
            except (OSError, ValueError):
                pass
            stack += children.get(pid, [])
        return total

    def kill(self) -> None:
        import signal

        for pid, start in list(self.seen.items()):
            info = self._stat(pid)
            if info is not None and info[1] == start:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass


class Watchdog(threading.Thread):
    """Stops the sandbox at the memory limit, a full exchange folder or the hard deadline:
    ``kill()`` is called once, and ``reason`` says why."""

    def __init__(self, sandbox: Sandbox, tree, kill, hard_end: float):
        super().__init__(daemon=True)
        self.sandbox, self.tree, self.kill, self.hard_end = sandbox, tree, kill, hard_end
        self.stop_event = threading.Event()
        self.reason: str | None = None
        self.peak_mb = 0.0

    def run(self):
        box, limits = self.sandbox, self.sandbox.limits
        while not self.stop_event.wait(POLL_S):
            now, peak = box.usage(self.tree)
            self.peak_mb = max(self.peak_mb, peak, now)
            if now > limits.memory_mb or box.cgroup.hit_memory_limit():
                self.reason = "memory"
            elif box.exchange_mb() > limits.exchange_mb:
                self.reason = "disk"
            elif time.monotonic() > self.hard_end:
                self.reason = "timeout"
            if self.reason:
                self.kill()
                return


def kernel_manager(sandbox: Sandbox, private: Path):
    """An ``AsyncKernelManager`` that starts the kernel with the sandbox's command, over Unix
    sockets in the exchange folder (the kernel has no network), from a kernelspec written in
    the judge's ``private`` folder."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec_dir = Path(private) / "kernels" / "course-sandbox"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": sandbox.kernel_argv(), "display_name": "course sandbox",
        "language": "python", "interrupt_mode": "message", "env": {}}))
    km = AsyncKernelManager(
        kernel_name="course-sandbox",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]))
    km.transport = "ipc"
    km.ip = str(sandbox.exchange / "k")
    km.connection_file = str(sandbox.exchange / "connection.json")
    return km


def start_options(sandbox: Sandbox, cwd) -> dict:
    """``start_kernel`` options: the environment (inside bwrap the sandbox sets its own) and
    the working folder."""
    if sandbox.isolated:
        return {"cwd": str(sandbox.exchange), "env": {"PATH": os.environ.get("PATH", "")}}
    Path(cwd).mkdir(parents=True, exist_ok=True)
    return {"cwd": str(cwd), "env": {**os.environ, **sandbox.env, "HOME": str(cwd)}}


def process_tree(km) -> "ProcessTree | None":
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return ProcessTree(process.pid) if process is not None else None


class KernelSession:
    """One sandboxed kernel for one notebook."""

    def __init__(self, sandbox: Sandbox, notebook, private: Path):
        self.sandbox, self.notebook = sandbox, notebook
        self.km = kernel_manager(sandbox, private)
        self.client = _client_class()(
            notebook, km=self.km, allow_errors=True, record_timing=False,
            interrupt_on_timeout=False, startup_timeout=START_TIMEOUT_S, timeout=60,
            shutdown_kernel="immediate")
        self.tree = None
        self.dead = self.timed_out = False
        self.watchdog: Watchdog | None = None

    @contextlib.contextmanager
    def running(self, hard_end: float, log: Path):
        """Start the kernel (and the watchdog); stop both, and every process of the sandbox,
        on the way out."""
        options = start_options(self.sandbox, self.sandbox.workdir)
        with open(log, "ab") as output, self.client.setup_kernel(
                stdout=output, stderr=output, **options):
            self.tree = process_tree(self.km)
            self.watchdog = Watchdog(self.sandbox, self.tree, self.kill, hard_end)
            self.watchdog.start()
            try:
                yield self
            finally:
                self.watchdog.stop_event.set()
                self.kill()

    def run_cell(self, cell, index: int, left: float, history: bool = True) -> str:
        """Run a notebook cell: ``ok``, ``error``, ``timeout`` or ``dead``."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if self.dead:
            return "dead"
        self.client.timeout = max(1, int(left))
        try:
            self.client.execute_cell(cell, index, store_history=history)
        except CellTimeoutError:
            self.timed_out = True
            self.kill()
            return "timeout"
        except (DeadKernelError, RuntimeError, OSError):
            self.dead = True
            return "dead"
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return "error"
        return "ok"

    def run_line(self, code: str, left: float) -> str | None:
        """Run the judge's line of code (outside the notebook); the text it printed to stdout,
        or None if the kernel is gone."""
        from nbformat.v4 import new_code_cell, new_notebook

        cell = new_code_cell(code)
        notebook = self.client.nb
        self.client.nb = new_notebook(cells=[cell])  # nbclient writes the cell back by index
        try:
            status = self.run_cell(cell, 0, left, history=False)
        finally:
            self.client.nb = notebook
        if status in ("dead", "timeout"):
            return None
        text = "".join(o.get("text", "") for o in cell.outputs
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        return text[-20_000:]

    def kill(self) -> None:
        self.dead = True
        self.sandbox.cgroup.kill_all()
        if self.tree is not None:
            self.tree.poll()
            self.tree.kill()

