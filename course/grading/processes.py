"""Process helpers the graders share: ``/proc`` figures, killing a process group, the
environment of a child Python process that imports ``course``, and private folders that do not
outlive a killed grader."""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

#: Every grader's private folder (hidden tests, the judge's files) starts with this.
PRIVATE_PREFIX = "course-private-"
#: An unlocked private folder younger than this may be one being made: left alone.
ORPHAN_AGE_S = 60.0


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


def private_folder(kind: str) -> Path:
    """A new folder only this user can read (``0700``), in the temporary folder, locked for the
    life of this process. Folders of earlier graders that died without removing theirs (a
    ``kill -9``, a machine that went down mid-batch) are removed first: their lock is free once
    their process is gone. ``remove_private(folder)`` removes it and releases its lock."""
    remove_orphans()
    folder = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{kind}-"))
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel when this process ends, however
    _HELD[str(folder)] = fd
    return folder


_HELD: dict[str, int] = {}  # private folder -> the descriptor holding its lock


def remove_private(folder) -> None:
    """Remove a folder of ``private_folder`` and release its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _HELD.pop(str(folder), None)
    if fd is not None:
        os.close(fd)


def remove_orphans(root=None) -> list[Path]:
    """Remove the private folders in ``root`` (the temporary folder) whose owner is gone; return
    them."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(PRIVATE_PREFIX + "*"):
        try:
            if time.time() - folder.stat().st_mtime < ORPHAN_AGE_S:
                continue
            fd = os.open(folder / ".lock", os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # gone, not ours, or not locked yet
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its grader is alive
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
