"""Text that came from a student's file, made safe to show: one line, escaped, bounded.

File names and error messages come from students' files: a name may hold a newline (a forged
``PASS`` line in text mode), bytes that are not UTF-8, terminal escape sequences, or start with
``=``/``+``/``-``/``@`` (a formula when the CSV is opened in a spreadsheet). ``printable`` turns
any of them into one line of visible characters; ``csv_cell`` also defuses formulas;
``write_csv_rows`` writes a CSV atomically; ``to_json`` and ``emit`` print whatever the strings
hold. Shared by the artifact grader's reports and the notebooks' gradebook.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import unicodedata

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
