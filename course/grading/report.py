"""Grade reports and their output: text, JSON and CSV, with every untrusted string escaped.

File names and error messages come from students' files: a name may hold a newline (a forged
``PASS`` line in text mode), bytes that are not UTF-8, terminal escape sequences, or start with
``=``/``+``/``-``/``@`` (a formula when the CSV is opened in a spreadsheet). ``printable`` turns
any of them into one line of visible characters; ``csv_cell`` also defuses formulas.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import unicodedata
from dataclasses import asdict, dataclass, field

from course.grading.tasks import EXIT_CODES, ERROR

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
#: Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text) -> str:
    """``text`` as one line of visible characters: control, format (bidi overrides, zero-width)
    and separator characters become ``\\n``/``\\xNN``/``\\uNNNN`` escapes, bytes that were not
    UTF-8 (surrogate escapes) become ``\\xNN``, and a backslash is doubled."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def display_path(path) -> str:
    """A path as given (``str`` or ``bytes``), escaped with ``printable``."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return printable(os.fspath(path))


def csv_cell(value, escaped: bool = False) -> str:
    """A CSV cell: ``printable`` text (unless ``escaped`` says it already is), with a leading
    ``'`` if a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    raw = str(value)
    text = raw if escaped else printable(raw)
    return "'" + text if raw.startswith(FORMULA_START) or text.startswith(FORMULA_START) \
        else text


def summarize_error(text: str) -> str:
    """An exception message without the TensorFlow graph traceback that it may embed (the
    ``File ...`` lines), so the cause stays visible."""
    lines = [line for line in str(text).splitlines()
             if line.strip() and not line.lstrip().startswith("File ")
             and "defined at (most recent call last)" not in line]
    return "\n".join(lines)


def shorten(text: str, limit: int = 2000) -> str:
    """Keep the start and the end of a long message (the cause is often at the end)."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-limit // 3:]
    return f"{head} [... {len(text) - len(head) - len(tail):,} characters ...] {tail}"


@dataclass
class Report:
    """One artifact's grade. ``path`` and every text field are already escaped."""

    path: str
    task: str
    verdict: str
    reason: str
    cause: str = ""
    detail: str = ""
    accuracy: float | None = None
    threshold: float | None = None
    test_images: int = 0
    per_superclass: dict = field(default_factory=dict)
    consistency: dict | None = None
    integrity_flag: bool = False
    data: dict | None = None
    seconds: float | None = None
    limits: str = ""
    safe_mode: bool = True
    isolated: bool = True
    backend: str = field(default_factory=lambda: grading_backend())

    def __post_init__(self):
        self.path = display_path(self.path)
        self.reason = printable(self.reason)
        self.detail = printable(shorten(summarize_error(self.detail)))

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code}

    def line(self) -> str:
        """The one-line summary: ``PATH: VERDICT: reason`` (+ the integrity flag)."""
        text = f"{self.path}: {self.verdict}: {self.reason}"
        if self.integrity_flag:
            c = self.consistency
            text += (f" [INTEGRITY FLAG: on {c['images']:,} test images {c['plain']:.1%} plain, "
                     f"{c['mirror']:.1%} mirrored, {c['shift']:.1%} shifted 1 px]")
        return text

    def consistency_text(self) -> str | None:
        c = self.consistency
        if not c:
            return None
        verdict = ("FLAG for the instructor: accuracy collapses on mirrored or shifted images, "
                   "as a lookup of the test images would (not an automatic fail)"
                   if self.integrity_flag else "ok")
        return (f"consistency on {c['images']:,} test images: plain {c['plain']:.1%}, "
                f"mirrored {c['mirror']:.1%}, shifted 1 px {c['shift']:.1%} "
                f"(ratio {c['ratio']:.2f}): {verdict}")

    def to_text(self) -> str:
        lines = [self.line()]
        if self.detail:
            lines.append(f"  detail: {self.detail}")
        consistency = self.consistency_text()
        if consistency:
            lines.append(f"  {consistency}")
        if self.per_superclass:
            lines.append("  per-superclass accuracy:")
            width = max(len(k) for k in self.per_superclass)
            lines += [f"    {k:<{width}}  {v:6.1%}" for k, v in self.per_superclass.items()]
        if self.data:
            lines.append(f"  data: {data_line(self.data)}")
        if self.verdict != ERROR:
            lines.append(f"  (graded in a separate process with Keras safe_mode=True on the "
                         f"{self.backend} backend: no code in the file was executed; "
                         f"{self.limits})")
        return "\n".join(lines)


def grading_backend() -> str:
    """The Keras backend grading runs on (read without importing Keras if it is not loaded)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def data_line(copy: dict) -> str:
    digest = f"sha256 {copy['sha256']}" if copy.get("sha256") else "sha256 unknown"
    check = copy.get("verified") or "no published checksum: shapes, dtypes and labels checked"
    return printable(f"{copy['path']} ({digest}; {check})")


CSV_FIELDS = ("path", "verdict", "exit_code", "accuracy", "threshold", "integrity_flag",
              "consistency_ratio", "mirror_accuracy", "shift_accuracy", "cause", "reason",
              "detail", "seconds", "data_path", "data_sha256", "backend")


#: Report fields that ``Report`` has already escaped.
_ESCAPED_FIELDS = {"path", "verdict", "cause", "reason", "detail"}


def csv_rows(reports) -> list[list[str]]:
    rows = [list(CSV_FIELDS)]
    for r in reports:
        c = r.consistency or {}
        d = r.data or {}
        values = {**r.to_dict(), "consistency_ratio": c.get("ratio"),
                  "mirror_accuracy": c.get("mirror"), "shift_accuracy": c.get("shift"),
                  "data_path": d.get("path"), "data_sha256": d.get("sha256")}
        rows.append([csv_cell(values[k], escaped=k in _ESCAPED_FIELDS) for k in CSV_FIELDS])
    return rows


def write_csv(path, reports) -> None:
    """Write the grades to ``path`` atomically (a temporary file in the same folder, renamed)."""
    write_csv_rows(path, csv_rows(reports), prefix=".grades-")


def write_csv_rows(path, rows, prefix: str = ".csv-") -> None:
    """Write ``rows`` (cells already made with ``csv_cell``) as CSV to ``path`` atomically: a
    temporary file ``prefix...`` in the same folder, renamed over ``path``."""
    import tempfile

    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_json(obj) -> str:
    """JSON that is valid whatever the strings hold (ASCII only, no NaN)."""
    return json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False,
                      default=lambda o: printable(o))


def emit(text: str, stream=None) -> None:
    """Print ``text``; characters the stream cannot encode become escapes instead of an error."""
    stream = stream or sys.stdout
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    stream.flush()
