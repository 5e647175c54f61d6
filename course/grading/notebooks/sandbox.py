"""A sandbox for a student's kernel: bubblewrap, cgroups, and the limits of one notebook.

``Sandbox`` builds the command that starts a student's IPython kernel inside ``bwrap``
(Debian/Ubuntu package ``bubblewrap``):

- no network (a namespace with only its own loopback), its own process ids (a student's process
  cannot see or signal the grader, and every process dies with the sandbox), no capabilities,
  a new session (no terminal injection);
- the system read-only, and of the rest only what the kernel needs: the Python installation and
  its packages, the ``course`` package itself (not the repository around it), the data sets
  (read-only); never the solutions, the nbgrader course folder, the gradebook or other students'
  submissions;
- a private home and ``/tmp`` in memory of bounded size (the student's writes), and one exchange
  folder shared with the judge (the kernel's sockets, requests and replies).

Limits: where the machine lets this process create cgroups (v1 ``memory``/``pids``, or v2), the
sandbox runs in its own: memory (tmpfs writes included) and the number of processes are capped by
the kernel, and every process of the notebook is killed at the end, detached ones included.
Elsewhere the judge polls the resident memory of the kernel's process tree (``ProcessTree``).
Without ``bwrap`` (``sandbox=False``, the ``--no-sandbox`` of the command line) the kernel runs as
the grading user with the same limits: fine for trusted notebooks only.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from course import config
from course.grading.processes import course_root

#: Folders of /etc a Python kernel reads (users, name service, shared libraries, time zone).
ETC_FILES = ("passwd", "group", "nsswitch.conf", "hosts", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "localtime", "mime.types", "ssl", "fonts")
#: Where the student's files live inside the sandbox.
HOME = "/home/student"
WORKDIR = f"{HOME}/work"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here; the message says what to do."""


@dataclass(frozen=True)
class NotebookLimits:
    """What one notebook may use."""

    #: Wall-clock seconds for the whole notebook (its cells and the judge's checks).
    time_s: float = 3600.0
    #: Memory of the kernel and everything it starts, files in its home and /tmp included.
    memory_mb: int = 4096
    #: Processes and threads at once (TensorFlow starts a few dozen threads).
    processes: int = 512
    #: Size of the private home (the notebook's work folder) and of /tmp.
    home_mb: int = 2048
    tmp_mb: int = 1024
    #: Size of the exchange folder (models the judge asked for) and of any one file.
    exchange_mb: int = 4096


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def bwrap_problem() -> str | None:
    """Why ``bwrap`` cannot make a sandbox here (missing, or no user namespaces), or None."""
    import subprocess

    path = bwrap_path()
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        run = subprocess.run([path, "--unshare-all", "--ro-bind", "/", "/", "true"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"bwrap could not run ({err})"
    if run.returncode != 0:
        return (f"bwrap cannot create a sandbox here ({run.stderr.strip()[:200]}): user "
                "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or a "
                "container that allows them)")
    return None


def install_hint() -> str:
    return ("Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf "
            "install bubblewrap), or pass --no-sandbox to grade trusted notebooks without it.")


def _private_ancestor(path: str, private: list[str]) -> bool:
    return any(p == path or p.startswith(path.rstrip("/") + "/") for p in private)


def _binds(private: list[str]) -> list[str]:
    """Read-only binds for the Python installation, its packages and the course package."""
    import course

    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    package = str(Path(course.__file__).resolve().parent)
    # the folder around the package (a repository with solutions/ and instructor/): only the
    # package itself is shown
    private = [*private, os.path.dirname(package)]
    args, done = [], []
    for path in sorted(p for p in paths if os.path.isdir(p)):
        real = os.path.realpath(path)
        if _private_ancestor(real, private) or real.startswith("/usr/"):
            continue  # the repository root (beside solutions/): only course/ below is bound
        if any(real == d or real.startswith(d + "/") for d in done):
            continue
        args += ["--ro-bind", real, real]
        done.append(real)
    args += ["--ro-bind", package, package]
    return args


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    if os.path.isdir("/sys/devices/system/cpu"):
        args += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return args


# ---------------------------------------------------------------------------------------------
# cgroups


class Cgroup:
    """A cgroup for one notebook (v2, or v1 ``memory`` and ``pids``), if this process may make
    one. ``join_command`` is the shell line a process runs to enter it."""

    def __init__(self, limits: NotebookLimits):
        self.dirs: list[Path] = []
        self.kind = None
        name = f"course-{uuid.uuid4().hex[:12]}"
        v2 = self._v2_parent()
        try:
            if v2 is not None:
                self._make(v2 / name, {"memory.max": limits.memory_mb << 20,
                                       "pids.max": limits.processes, "memory.swap.max": 0})
                self.kind = "v2"
            else:
                memory, pids = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids")
                if (memory / "memory.limit_in_bytes").exists() and os.access(memory, os.W_OK) \
                        and (pids / "cgroup.procs").exists() and os.access(pids, os.W_OK):
                    self._make(memory / name, {"memory.limit_in_bytes": limits.memory_mb << 20})
                    self._make(pids / name, {"pids.max": limits.processes})
                    self.kind = "v1"
        except OSError:
            self.remove()
            self.dirs, self.kind = [], None

    @staticmethod
    def _v2_parent() -> Path | None:
        root = Path("/sys/fs/cgroup")
        if not (root / "cgroup.controllers").exists():
            return None
        try:
            own = Path(open("/proc/self/cgroup").read().strip().split("::", 1)[1])
        except (OSError, IndexError):
            return None
        parent = root / str(own).lstrip("/")
        controllers = (parent / "cgroup.subtree_control")
        try:
            enabled = controllers.read_text().split()
        except OSError:
            return None
        if {"memory", "pids"} <= set(enabled) and os.access(parent, os.W_OK):
            return parent
        return None

    def _make(self, path: Path, settings: dict) -> None:
        path.mkdir()
        self.dirs.append(path)
        for key, value in settings.items():
            if (path / key).exists():
                (path / key).write_text(str(value))

    def join_command(self) -> str:
        return "; ".join(f"echo $$ > {d / 'cgroup.procs'}" for d in self.dirs)

    def pids(self) -> list[int]:
        out = set()
        for d in self.dirs:
            try:
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def memory_mb(self) -> tuple[float, float]:
        """``(current, peak)`` MiB, or zeros where unknown."""
        for d in self.dirs:
            for now, peak in (("memory.current", "memory.peak"),
                              ("memory.usage_in_bytes", "memory.max_usage_in_bytes")):
                try:
                    current = int((d / now).read_text())
                except (OSError, ValueError):
                    continue
                try:
                    top = int((d / peak).read_text())
                except (OSError, ValueError):
                    top = current
                return current / (1 << 20), top / (1 << 20)
        return 0.0, 0.0

    def hit_memory_limit(self) -> bool:
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill"),
                              ("memory.failcnt", None)):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                if key is None:
                    if int(text.strip() or 0) > 0:
                        return True
                    continue
                for line in text.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key and int(parts[1]) > 0:
                        return True
        return False

    def kill_all(self) -> None:
        for _ in range(20):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            import time

            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in reversed(self.dirs):
            try:
                d.rmdir()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# The kernel's command


class Sandbox:
    """Where one student's kernel runs: the exchange folder, the cgroup, the command."""

    def __init__(self, exchange: Path, limits: NotebookLimits, env: dict, private: list,
                 mounts: list, sandbox: bool = True, work: str | None = None):
        self.exchange, self.limits, self.env = Path(exchange), limits, dict(env)
        self.private = [os.path.realpath(p) for p in private]
        #: Read-only data folders: ``(host path, path inside)``.
        self.mounts = [(os.path.realpath(host), inside) for host, inside in mounts
                       if os.path.isdir(host)]
        self.bwrap = bwrap_path() if sandbox else None
        if sandbox and self.bwrap is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed, so a student's "
                                     "notebook cannot be isolated. " + install_hint())
        self.cgroup = Cgroup(limits)
        #: A host folder to work in (nbgrader's autograded copy), else a fresh one in memory.
        self.work = work
        self.workdir = WORKDIR if self.bwrap else (work or str(self.exchange.parent / "work"))

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None

    def kernel_argv(self) -> list[str]:
        """The kernelspec's ``argv`` (with jupyter's ``{connection_file}``)."""
        fsize = self.limits.exchange_mb << 20
        kernel = [sys.executable, "-c",
                  "import resource as r; "
                  f"r.setrlimit(r.RLIMIT_CORE, (0, 0)); r.setrlimit(r.RLIMIT_FSIZE, ({fsize}, "
                  f"{fsize})); from ipykernel import kernelapp; kernelapp.launch_new_instance()",
                  "-f", "{connection_file}"]
        if self.bwrap:
            kernel = [self.bwrap, *self.bwrap_args(), "--", *kernel]
        join = self.cgroup.join_command()
        if join:
            kernel = ["/bin/sh", "-c", f'{join}; exec "$@"', "sh", *kernel]
        return kernel

    def bwrap_args(self) -> list[str]:
        env = {"HOME": HOME, "TMPDIR": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin",
               "LANG": "C.UTF-8", **self.env}
        args = ["--unshare-all", "--die-with-parent", "--new-session",
                "--uid", "65534", "--gid", "65534", "--hostname", "grading",
                *_system(), *_binds(self.private),
                "--proc", "/proc", "--dev", "/dev",
                "--size", str(self.limits.tmp_mb << 20), "--tmpfs", "/dev/shm",
                "--size", str(self.limits.tmp_mb << 20), "--tmpfs", "/tmp",
                "--size", str(self.limits.home_mb << 20), "--tmpfs", HOME,
                "--dir", WORKDIR]
        if self.work:
            args += ["--bind", self.work, WORKDIR]
        args += ["--chdir", WORKDIR]
        for host, inside in self.mounts:
            args += ["--ro-bind", host, inside]
        args += ["--bind", str(self.exchange), str(self.exchange), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, str(value)]
        return args

    def usage(self, tree) -> tuple[float, float]:
        """``(memory now, peak)`` in MiB: the cgroup's where there is one, else the resident
        memory of the kernel's process tree (``ProcessTree``)."""
        if self.cgroup.kind:
            return self.cgroup.memory_mb()
        now = tree.poll() if tree is not None else 0.0
        return now, now

    def exchange_mb(self) -> float:
        total = 0
        try:
            with os.scandir(self.exchange) as entries:
                for entry in entries:
                    try:
                        total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
        except OSError:
            pass
        return total / (1 << 20)

    def close(self) -> None:
        self.cgroup.remove()


# ---------------------------------------------------------------------------------------------
# What the kernel sees and may use


def data_mounts() -> list[list[str]]:
    """The data folders the student's kernel may read, as ``[host, inside]`` pairs: the
    ``COURSE_DATA_DIR`` (same path inside), the course's own data cache (the offline MNIST),
    the Keras cache and TensorFlow Datasets' folder (where the course's loader looks for them
    in the kernel's home)."""
    mounts = []
    cached = config.cache_dir() / "data"
    if cached.is_dir():
        mounts.append([str(cached.resolve()), f"{HOME}/.cache/course/data"])
    folder = os.environ.get(config.DATA_DIR_ENV, "").strip()
    if folder and os.path.isdir(folder):
        mounts.append([os.path.realpath(folder), os.path.realpath(folder)])
    keras_home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    if os.path.isdir(os.path.join(keras_home, "datasets")):
        mounts.append([os.path.join(keras_home, "datasets"), f"{HOME}/.keras/datasets"])
    tfds = os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    if os.path.isdir(tfds):
        mounts.append([tfds, f"{HOME}/tensorflow_datasets"])
    return mounts


def kernel_env() -> dict:
    env = {}
    folder = os.environ.get(config.DATA_DIR_ENV, "").strip()
    if folder and os.path.isdir(folder):
        env[config.DATA_DIR_ENV] = os.path.realpath(folder)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = course_root()
    return env


def limits_for_notebook(notebook, base: NotebookLimits | None = None) -> NotebookLimits:
    """The notebook's limits: ``base``, with the time limit the exercise states
    (``metadata.course.time_limit_s``, written by ``exercises --write`` from the exercise's
    measured cost), scaled to this machine's speed (``speed.slowdown``), unless ``base`` set one
    of its own."""
    from course.grading.notebooks import speed

    base = base or NotebookLimits()
    stated = notebook.metadata.get("course", {})
    limit = stated.get("time_limit_s")
    if isinstance(limit, (int, float)) and limit > 0 and base.time_s == NotebookLimits().time_s:
        base = replace(base, time_s=round(float(limit) * speed.slowdown(stated)))
    return base
