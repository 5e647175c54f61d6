"""The judge: runs one submitted notebook and decides its points outside the student's process.

The sanitized notebook (``submissions.sanitize``: the source's locked and check cells restored)
runs cell by cell. Each kind of cell runs where it belongs:

- the student's answer cells and extra cells run in the student's kernel only (in the sandbox);
- the locked set-up cells run in the kernel (so the student's code has its context) and again
  here, in the judge's own namespace: the judge's data and references are its own, whatever the
  student's cells did to theirs;
- the check cells (visible and hidden tests) run here only. The names they use that the judge
  does not own (the student's functions, classes, models) are asked of the kernel just before the
  cell (``remote.Channel``): plain values and arrays come back as themselves, models as files the
  judge loads in safe mode, everything else as a ``Remote`` whose calls run in the kernel.

So whatever the student's code patches in its kernel (the check helpers, NumPy, builtins,
exceptions, the import machinery, an input transformer), it can change what the student's own
functions return, never how the judge compares: the comparison code, the references and the
points are here. A check cell earns its points when it runs without an error, as in nbgrader.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import io
import signal
import symtable
import time
from dataclasses import dataclass, field

from course.grading.notebooks.remote import Channel, KernelGone, Remote, StudentError

#: Printed output kept per cell and per notebook (a flood is cut, never kept in memory).
CELL_OUTPUT_CHARS = 20_000
NOTEBOOK_OUTPUT_CHARS = 2_000_000


class JudgeTimeout(Exception):
    """The notebook's time ran out while the judge was checking a cell."""


def needed_names(source: str) -> set[str]:
    """The names a cell reads that it does not define first: the free names of its top level
    and of its functions, and the strings of ``globals().get("name")`` / ``globals()["name"]``."""
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "cell", "exec")
    except SyntaxError:
        return set()
    stored_first = _stored_before_read(tree)
    names = set()
    for symbol in table.get_symbols():
        if symbol.is_referenced() and symbol.get_name() not in stored_first:
            names.add(symbol.get_name())
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack += child.get_children()
        for symbol in child.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                names.add(symbol.get_name())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_globals(node.func, "get") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "globals" \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            names.add(node.slice.value)
    return {n for n in names if not hasattr(builtins, n) or n in ("copyright", "credits")}


def _is_globals(func, method: str) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == method \
        and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name) \
        and func.value.func.id == "globals"


def _stored_before_read(tree) -> set[str]:
    """Top-level names whose first use (in statement order) stores them."""
    first: dict[str, str] = {}
    for statement in tree.body:
        loads, stores = set(), set()
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                (stores if isinstance(node.ctx, ast.Store) else loads).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                stores.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                stores.update((a.asname or a.name).split(".")[0] for a in node.names)
        for name in loads:
            first.setdefault(name, "load")
        for name in stores:
            first.setdefault(name, "store")
    return {name for name, kind in first.items() if kind == "store"}


@dataclass
class CellResult:
    """What a cell did: ``ok``, ``error`` (with a message) or ``not run``."""

    status: str
    message: str = ""
    output: str = ""


@dataclass
class Deadline:
    end: float

    def left(self) -> float:
        return self.end - time.monotonic()


@contextlib.contextmanager
def _alarm(deadline: Deadline):
    """Raise ``JudgeTimeout`` in the judge's own code once the deadline passes."""
    def ring(_signum, _frame):
        raise JudgeTimeout("the notebook's time limit passed during this check")

    left = deadline.left()
    if left <= 0:
        raise JudgeTimeout("the notebook's time limit passed before this check")
    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Capture(io.StringIO):
    """stdout for a judged cell: keeps the first ``CELL_OUTPUT_CHARS`` characters."""

    def write(self, text):
        if self.tell() < CELL_OUTPUT_CHARS:
            super().write(text[:CELL_OUTPUT_CHARS - self.tell()])
        return len(text)


@dataclass
class JudgeNamespace:
    """The judge's globals for the notebook's locked and check cells, and who owns each name."""

    channel: Channel
    values: dict = field(default_factory=lambda: {"__name__": "__main__",
                                                  "__builtins__": builtins})
    owned: set = field(default_factory=set)

    def _resolve(self, source: str) -> None:
        wanted = sorted(n for n in needed_names(source) if n not in self.owned)
        if not wanted:
            return
        found = self.channel.request("resolve", names=wanted)
        if type(found) is dict:
            for name, value in found.items():
                if type(name) is str and name not in self.owned:
                    self.values[name] = value

    def run(self, source: str, deadline: Deadline, owner: bool) -> CellResult:
        """Execute ``source`` here; ``owner``: the names it assigns are the judge's from now
        (locked cells), else they may be replaced by the student's (check cells)."""
        out = _Capture()
        before = set(self.values)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), \
                    _alarm(deadline):
                self._resolve(source)
                code = compile(source, "<check cell>" if not owner else "<set-up cell>", "exec")
                exec(code, self.values)  # noqa: S102 - the instructor's own cell, never a student's
            status, message = "ok", ""
        except KernelGone as err:
            status, message = "error", str(err)
        except JudgeTimeout as err:
            status, message = "timeout", str(err)
        except Exception as err:  # noqa: BLE001 - a failing check is a verdict
            status, message = "error", _message(err)
        finally:
            _close_figures()
        if owner:
            self.owned |= {n for n in self.values if n not in before or n in _assigned(source)}
        return CellResult(status, message, out.getvalue())


def _assigned(source: str) -> set[str]:
    try:
        table = symtable.symtable(source, "cell", "exec")
    except SyntaxError:
        return set()
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


def _message(err: BaseException) -> str:
    from course.grading.text import summarize_error

    name = type(err).__name__
    text = summarize_error(str(err))
    if isinstance(err, StudentError) and err.trace:
        text += f"\n(in your code: {err.trace.strip().splitlines()[-1][:300]})"
    return f"{name}: {text}" if text else name


def _close_figures() -> None:
    """Close the figures a cell left open. ``matplotlib.pyplot`` may be half imported (by the
    thread that imports TensorFlow ahead, ``job._warm_up``): then there is nothing to close."""
    import sys

    close = getattr(sys.modules.get("matplotlib.pyplot"), "close", None)
    if close is not None:
        try:
            close("all")
        except Exception:  # noqa: BLE001 - a figure that will not close costs no verdict
            pass


def describe_remote(value) -> str | None:
    """Why a value the kernel sent stayed there, for a check's message."""
    if isinstance(value, Remote):
        return value.__course_remote__.get("why")
    return None
