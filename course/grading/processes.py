"""Process helpers the graders share: ``/proc`` figures, killing a process group, and the
environment of a child Python process that imports ``course``."""
from __future__ import annotations

import os
import signal
from pathlib import Path


def proc_status_kb(key: str, pid="self") -> int | None:
    """A figure of ``/proc/PID/status`` in KiB (``VmSize``, ``VmRSS``), or None where there is
    no such line or file (not Linux, a process that has ended)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads, then the process itself; gone is fine."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def course_root() -> str:
    """The folder that holds the ``course`` package (the repository root when run from one)."""
    import course

    return str(Path(course.__file__).resolve().parents[1])


def course_env() -> dict:
    """The environment for a child Python process that imports ``course``: this process's, with
    the course importable and TensorFlow's C++ log quiet (unless set)."""
    env = dict(os.environ)
    root = course_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env
