"""Per-artifact isolation: each artifact is evaluated in its own process, with limits.

A worker (``serve()``, in a new Python process) starts once per grading run (or once per Python
process for the API), imports ``course`` (which keeps TensorFlow's start-up log quiet), Keras
and every registered course object, and then waits for jobs on its stdin. For each job it forks
a child that

- becomes its own process group, sends its stdout/stderr to a log file (nothing a model does
  reaches the grader's output), and works in the job's private folder (``TMPDIR`` too);
- sets ``RLIMIT_AS`` to the worker's start-up address space plus ``Limits.memory_mb``, a CPU-time
  limit, a file-size limit and no core dumps;
- runs ``artifact.evaluate_job`` and writes ``result.json``.

The worker kills the child's process group when the wall-clock limit passes and reports how the
child ended (exit code, signal, timeout, peak memory). Forking from a worker that has imported
TensorFlow but never run an op costs milliseconds, so a folder of submissions pays TensorFlow's
start-up once, yet no artifact can disturb another's grade or the grader.

A notebook's kernel is watched in another way (``course.grading.notebooks``: a cgroup, or its
process tree's resident memory polled): a kernel is not a forked child an ``RLIMIT_AS`` caps.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from course.grading.processes import course_env, course_root, kill_group, proc_status_kb

#: Extra seconds the worker allows a child past the time limit before killing it (the child's
#: own projection stops a slow model earlier, with a better message).
GRACE_S = 5.0
#: Seconds the parent waits for a worker to start (imports TensorFlow).
START_TIMEOUT_S = 120.0


class SandboxError(RuntimeError):
    """The worker process failed (a grader-side problem, not the artifact's)."""


def _vm_kb() -> int:
    kb = proc_status_kb("VmSize")
    if kb is not None:
        return kb
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 4  # a rough fallback


# ---------------------------------------------------------------------------------------------
# The worker (runs in its own Python process)


def _set_limits(job: dict, baseline_kb: int) -> None:
    import resource

    memory = (baseline_kb * 1024) + int(job["limits"]["memory_mb"]) * (1 << 20)
    cpu = int(job["time_limit"] * max(os.cpu_count() or 1, 1) + 60)
    fsize = int(job["limits"]["unpacked_mb"]) * (1 << 20) + (256 << 20)
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
        try:
            soft, hard = resource.getrlimit(which)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (cap, hard))
        except (ValueError, OSError):
            pass


def _child(job: dict, baseline_kb: int) -> None:
    """In the forked child: isolate, limit, evaluate, write the result, exit."""
    code = 0
    try:
        os.setpgid(0, 0)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        import tempfile

        os.environ["TMPDIR"] = job["out_dir"]
        tempfile.tempdir = job["out_dir"]
        os.chdir(job["out_dir"])
        _set_limits(job, baseline_kb)
        from course.grading.artifact import evaluate

        def status(stage):
            with open(job["status"], "w") as f:
                f.write(stage)

        try:
            result = evaluate.evaluate_job(job, status)
        except BaseException as err:  # noqa: BLE001 - reported, never raised into the worker
            import traceback

            traceback.print_exc()
            result = {"cause": "internal", "reason": "the grader failed on this model",
                      "detail": f"{type(err).__name__}: {err}"}
        evaluate.write_json(job["result"], result)
    except BaseException:  # noqa: BLE001 - the child exits with a code, whatever happened
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, deadline: float) -> dict:
    """Wait for the child until ``deadline``; kill its process group after that."""
    timed_out = False
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            kill_group(pid)
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.01)
    try:
        os.killpg(pid, signal.SIGKILL)  # anything the child left behind
    except OSError:
        pass
    return {"timed_out": timed_out,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1)}


#: How the parent starts a worker (``import course`` first: it keeps TensorFlow's start-up log
#: quiet).
WORKER_COMMAND = "import course; from course.grading.artifact.worker import serve; serve()"


def serve() -> None:
    """The worker's loop: one JSON job per stdin line, one JSON answer per stdout line."""
    import course  # noqa: F401  (first: keeps TensorFlow's start-up log quiet)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    import keras  # noqa: F401 - imported once, before any fork
    import numpy  # noqa: F401 - imported once, before any fork

    from course.grading.artifact import evaluate  # noqa: F401  (imported before any fork)
    from course.saving import register_all

    register_all()
    control = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints from imports go to the worker's log, not the control pipe
    baseline = _vm_kb()
    control.write(json.dumps({"ready": True, "pid": os.getpid(), "vm_kb": baseline}) + "\n")
    control.flush()
    for line in sys.stdin:
        job = json.loads(line)
        if job.get("quit"):
            break
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            control.close()
            _child(job, baseline)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        outcome = _wait(pid, started + job["time_limit"] + job.get("grace_s", GRACE_S))
        outcome["seconds"] = round(time.monotonic() - started, 2)
        control.write(json.dumps(outcome) + "\n")
        control.flush()


# ---------------------------------------------------------------------------------------------
# The parent's side


class Sandbox:
    """A running worker; ``run(job)`` evaluates one artifact in a fresh child process."""

    def __init__(self, log_dir):
        self.log_path = Path(log_dir) / "worker.log"
        self.proc = None
        self.vm_kb = None

    def spawn(self) -> None:
        """Start the worker process without waiting for it (it imports TensorFlow meanwhile)."""
        if self.proc is not None:
            return
        env, root = course_env(), course_root()
        env.setdefault("MALLOC_ARENA_MAX", "2")  # glibc arenas reserve 64 MiB of address each
        # oneDNN's default allocator waits 10 s for memory after a failed allocation; the
        # system allocator fails at once, so an over-limit model gets its verdict at once.
        env.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")
        env.setdefault("CUDA_VISIBLE_DEVICES", "")
        env.pop("COURSE_FAST", None)  # grading is never a fast-mode subset
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WORKER_COMMAND], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env=env, cwd=root, close_fds=True)
        self.vm_kb = None

    def start(self) -> None:
        """Start the worker (if needed) and wait until it is ready for jobs."""
        if self.alive() and self.vm_kb is not None:
            return
        if not self.alive():
            self.close()
            self.spawn()
        hello = self._read_line(START_TIMEOUT_S)
        if not hello or not hello.get("ready"):
            self.close()
            try:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            except OSError:
                tail = []
            raise SandboxError("the grading worker did not start"
                               + (f": {' / '.join(tail)}" if tail else ""))
        self.vm_kb = hello["vm_kb"]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _read_line(self, timeout: float):
        fd = self.proc.stdout
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        line = fd.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(self, job: dict) -> dict:
        """Send one job; returns the worker's outcome or raises ``SandboxError``."""
        self.start()
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as err:
            self.close()
            raise SandboxError(f"the grading worker is gone ({err})") from err
        outcome = self._read_line(job["time_limit"] + job.get("grace_s", GRACE_S) + 60)
        if outcome is None:
            self.close()
            raise SandboxError(f"the grading worker stopped answering (see {self.log_path})")
        return outcome

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None and self.vm_kb is None:
                raise OSError("still starting")  # no need to wait for its imports
            if self.proc.poll() is None:
                self.proc.stdin.write(b'{"quit": true}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()
        finally:
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None


_SHARED: dict = {}


def shared() -> Sandbox:
    """One worker per Python process, started on first use and closed at exit."""
    box = _SHARED.get("box")
    if box is None:
        import tempfile

        _SHARED["dir"] = tempfile.mkdtemp(prefix="course-grader-worker-")
        box = Sandbox(_SHARED["dir"])
        _SHARED["box"] = box
        atexit.register(close_shared)
    return box


def close_shared() -> None:
    import shutil

    box = _SHARED.pop("box", None)
    if box is not None:
        box.close()
    folder = _SHARED.pop("dir", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)

