"""Progress on long jobs: one helper for the whole package, built on tqdm. In use::

    from course import progress

    for path in progress.track(paths, description="grading", unit="file"):
        grade(path)
    progress.line("wrote grades.csv")

    with progress.transfer("downloading mnist.npz", total=11_490_434, done=partial_size):
        download()  # another call writes the file; ``done()`` says how many bytes are there

Where it shows, chosen once per job by ``mode()``:

- ``"bar"``: one live tqdm bar where someone watches (``live_display()``: stderr is a
  terminal, or a Jupyter kernel with ipywidgets, where tqdm draws a widget);
- ``"lines"``: elsewhere (logs, pipes, CI, executed notebooks without widgets), one line per
  item, ``grading 3/12: alice.keras (41 s)``, and a last line with the total time;
- ``"off"``: nothing.

Bars and lines always go to **stderr**, never stdout, so ``--json`` or a CSV written to stdout
stays intact. ``COURSE_PROGRESS=auto|bar|lines|off`` overrides the choice (default ``auto``).
This module imports nothing heavy (no Keras, no TensorFlow): scripts that only run notebooks
or grade can use it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import time
import warnings

MODE_ENV = "COURSE_PROGRESS"
MODES = ("auto", "bar", "lines", "off")

#: Live bars currently shown; ``line`` writes above them instead of through them.
_BARS: list = []


def in_notebook() -> bool:
    """True inside a running Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def live_display() -> bool:
    """True where someone watches the output live: a terminal, or a Jupyter kernel with
    ipywidgets (where tqdm draws a widget). False in logs, pipes and CI."""
    if in_notebook():
        return importlib.util.find_spec("ipywidgets") is not None
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def mode() -> str:
    """``"bar"``, ``"lines"`` or ``"off"``: ``$COURSE_PROGRESS``, or for ``auto`` (the
    default) a bar where ``live_display()`` and lines elsewhere."""
    value = os.environ.get(MODE_ENV, "").strip().lower() or "auto"
    if value not in MODES:
        warnings.warn(f"{MODE_ENV}={value!r} is not one of {', '.join(MODES)}; using auto.",
                      stacklevel=3)
        value = "auto"
    if value == "auto":
        return "bar" if live_display() else "lines"
    return value


def _plural(unit: str, count) -> str:
    if count == 1 or unit.endswith("s") or unit in ("B", "kB", "MB", "GB"):
        return unit
    return f"{unit}es" if unit.endswith(("ch", "sh", "x")) else f"{unit}s"


def _name(item) -> str:
    """What a per-item line says about an item: the file name of a path, a short string."""
    if isinstance(item, os.PathLike) or isinstance(item, str):
        text = os.path.basename(os.fspath(item).rstrip("/\\")) or os.fspath(item)
        return text if len(text) <= 80 else text[:77] + "..."
    return ""


def _visible(text) -> str:
    """``text`` as visible characters: a file name may hold a newline (a forged log line) or a
    terminal escape sequence; those become ``\\xNN`` escapes."""
    return "".join(ch if ch.isprintable() else
                   (f"\\x{ord(ch) & 0xFF:02x}" if ord(ch) < 0x100 or 0xDC80 <= ord(ch) <= 0xDCFF
                    else f"\\u{ord(ch):04x}") for ch in str(text))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def line(message: str) -> None:
    """One progress line on stderr (above a live bar if one is shown; nothing when off)."""
    if mode() == "off":
        return
    if _BARS:
        _BARS[-1].write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


def track(iterable, total: int | None = None, description: str = "working",
          unit: str = "item", label=None):
    """Yield the items of ``iterable`` while showing progress on stderr.

    ``total`` defaults to ``len(iterable)`` when it has one. ``label(item)`` names an item in
    its line (default: the file name of a path or string item, nothing for other items).
    """
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    how = mode()
    if how == "off":
        yield from iterable
        return
    name_of = label or _name
    if how == "bar":
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr,
                   dynamic_ncols=True, leave=True)
        _BARS.append(bar)
        try:
            for item in iterable:
                name = _visible(name_of(item))
                if name:
                    bar.set_postfix_str(name, refresh=False)
                yield item
                bar.update(1)
        finally:
            _BARS.remove(bar)
            bar.close()
        return
    start = time.monotonic()
    count = 0
    of = f"/{total}" if total is not None else ""
    for item in iterable:
        count += 1
        name = _visible(name_of(item))
        elapsed = _duration(time.monotonic() - start)
        line(f"{description} {count}{of}{': ' + name if name else ''} ({elapsed})")
        yield item
    line(f"{description}: {count:,} {_plural(unit, count)} in "
         f"{_duration(time.monotonic() - start)}")


def _bytes(count: int | None) -> str:
    if count is None:
        return "size unknown"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


@contextlib.contextmanager
def transfer(description: str, total: int | None, done, label: str | None = None,
             interval: float = 0.1):
    """Progress of a transfer that another call performs (a download into a file) while the
    ``with`` block runs: ``done()`` returns the bytes transferred so far, ``total`` the bytes
    expected (None if unknown).

    A line ``description (size)`` when it starts, then ``"bar"``: a byte bar named ``label``
    (size, rate, time left), updated from a thread every ``interval`` seconds; ``"lines"``: one
    more line when it ends (size and time), never a line per chunk; ``"off"``: nothing at all.
    A transfer that raises ends without a last line (its error says what happened).
    """
    how = mode()
    start = time.monotonic()
    if how == "off":
        yield
        return
    line(f"{description} ({_bytes(total)})")
    if how == "lines":
        yield
        line(f"{description}: {_bytes(done())} in {_duration(time.monotonic() - start)}")
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label or description, unit="B", unit_scale=True, unit_divisor=1024,
               file=sys.stderr, dynamic_ncols=True, leave=True)
    _BARS.append(bar)
    stop = threading.Event()

    def follow():
        while not stop.wait(interval):
            bar.update(max(0, done() - bar.n))

    watcher = threading.Thread(target=follow, name="course-progress-transfer", daemon=True)
    watcher.start()
    try:
        yield
        bar.update(max(0, done() - bar.n))
    finally:
        stop.set()
        watcher.join()
        _BARS.remove(bar)
        bar.close()
