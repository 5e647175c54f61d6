"""What a notebook's set-up cell calls after it installed the course on a hosted kernel.

``installed(version, data)`` (``course.notebook_setup`` writes the call) says which course it
installed, tells the student to restart the kernel only when pip replaced a module the kernel
had already loaded (``stale_modules``: NumPy on Colab, say, whose old copy stays in memory and
breaks what was built for the new one), and otherwise fetches the data sets the notebook uses,
so that a missing or unreachable file shows up here, with its fix, rather than halfway through.
"""
from __future__ import annotations

import importlib
import sys


class RestartRequired(RuntimeError):
    """pip replaced a module the kernel had loaded; the kernel must be restarted."""


def _distributions() -> dict[str, list[str]]:
    from importlib import metadata

    return metadata.packages_distributions()


def stale_modules(modules=None) -> list[tuple[str, str, str]]:
    """``(module, loaded version, installed version)`` for every top-level module loaded in this
    process whose distribution on disk now has another version (pip replaced it after the
    import). ``modules``: a ``sys.modules``-like mapping (default: this process's)."""
    from importlib import metadata

    modules = sys.modules if modules is None else modules
    importlib.invalidate_caches()
    owners = _distributions()
    out = []
    for name, module in sorted(modules.items()):
        if "." in name or module is None:
            continue
        loaded = getattr(module, "__version__", None)
        if not isinstance(loaded, str):
            continue
        for dist in owners.get(name, ()):
            try:
                on_disk = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            if on_disk != loaded and _release(on_disk) != _release(loaded):
                out.append((name, loaded, on_disk))
                break
    return out


def _release(version: str) -> str:
    """``2.1.0`` for ``2.1.0`` and ``2.1.0+cpu``: a local label is the same release."""
    return version.split("+")[0]


def installed(version: str, data=(), modules=None) -> None:
    """After the set-up cell's ``pip install``: report, check for a restart, fetch ``data``.
    Raises ``RestartRequired`` (stopping "Run all") when a loaded module was replaced."""
    import course

    where = f"course {course.__version__} installed"
    if course.__version__ != version:
        where += (f" (this notebook was written for {version}: ask for the matching release, or "
                  "set COURSE_INSTALL_SOURCE to it)")
    print(where)
    replaced = stale_modules(modules)
    if replaced:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame from the traceback
        listed = ", ".join(f"{name} {old} -> {new}" for name, old, new in replaced)
        raise RestartRequired(
            f"Restart the kernel now (Colab: Runtime > Restart session; Jupyter: Kernel > "
            f"Restart), then run this notebook again from the top. pip replaced modules this "
            f"kernel had already loaded: {listed}. After the restart this cell does nothing.")
    for name in data:
        fetch(name)


def fetch(name: str) -> None:
    """Load data set ``name`` once (downloading it if no copy is found) and say where from."""
    from course import data

    if name in data.TFDS_ONLY:
        data.load_tfds(name, fast=False)
    else:
        data.load(name, fast=False)
    copy = data.COPIES_USED.get(name)
    print(f"{name}: ready ({copy.source if copy else 'found'})")
