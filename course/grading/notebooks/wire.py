"""Plain data between the judge and a student's kernel: JSON for structure, ``.npy`` for arrays.

What crosses is data that runs no code when read: ``None``, booleans, numbers, strings, bytes,
ranges, lists, tuples and dicts of those, NumPy arrays and scalars of numeric or boolean dtype
(read with ``allow_pickle=False``), and three kinds of reference:

- ``{"__ref__": N}``: an object that stays in the kernel (a student's function, class or layer);
  the judge holds a ``Remote`` for it and asks the kernel to call it, read an attribute, ...;
- ``{"__keras__": FILE}``: a Keras model saved as a ``.keras`` file, which the judge loads in
  safe mode with the artifact grader's checks (no code from the file runs);
- ``{"__input__": SHAPE}`` / ``{"__graph__": FILE}``: a symbolic Keras input the judge passes to a
  function that builds layers, and the graph the function built on it, saved as a model.

``encode`` writes arrays next to the JSON; ``Decoder`` reads what the other side wrote and never
trusts it: only the markers above, bounded sizes and depth, regular files opened without
following links, exact builtin types out. Whatever a student's kernel writes, the judge gets plain
values (or a ``Remote``/model it loaded safely), never an object whose comparisons lie.
"""
from __future__ import annotations

import base64
import json
import math
import os
import stat
from dataclasses import dataclass, field

import numpy as np

#: Array dtype kinds that cross: booleans, integers, floats, complex numbers.
ARRAY_KINDS = "biufc"
MAX_DEPTH = 64


class WireError(ValueError):
    """What the other side wrote is not plain data this side accepts."""


@dataclass
class Limits:
    """Bounds on what one reply may hold (the judge's side of a hostile kernel)."""

    json_bytes: int = 64 << 20
    array_bytes: int = 1 << 30
    items: int = 1_000_000


def _special(value: float):
    if math.isnan(value):
        return {"__float__": "nan"}
    return {"__float__": "inf" if value > 0 else "-inf"}


@dataclass
class Encoder:
    """Turns a value into JSON-able data, writing arrays as ``PREFIX-aN.npy`` in ``folder``.

    ``other(value)`` is called for what is not plain data and returns the marker to send (a
    reference, a saved model) or raises ``WireError``."""

    folder: str
    prefix: str
    other: object = None
    files: list = field(default_factory=list)

    def __call__(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else _special(value)
        if kind in (bytes, bytearray):
            return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
        if kind is range:
            return {"__range__": [value.start, value.stop, value.step]}
        if kind is list:
            return [self(v, depth + 1) for v in value]
        if kind is tuple:
            return {"__tuple__": [self(v, depth + 1) for v in value]}
        if kind is dict:
            return {"__dict__": [[self(k, depth + 1), self(v, depth + 1)]
                                 for k, v in value.items()]}
        if isinstance(value, np.generic) and value.dtype.kind in ARRAY_KINDS:
            item = value.item()
            if isinstance(item, complex):
                item = [item.real, item.imag]
            elif isinstance(item, float) and not math.isfinite(item):
                item = _special(item)
            return {"__scalar__": value.dtype.str, "value": item}
        if kind is np.ndarray and value.dtype.kind in ARRAY_KINDS:
            name = f"{self.prefix}-a{len(self.files)}.npy"
            np.save(os.path.join(self.folder, name), np.ascontiguousarray(value),
                    allow_pickle=False)
            self.files.append(name)
            return {"__array__": name}
        if self.other is None:
            raise WireError(f"a {kind.__name__} is not plain data")
        return self.other(value)


def write_json(path, obj) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = f"{path}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, allow_nan=False)
    os.replace(tmp, path)


def open_regular(path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (never through a symbolic link, at most
    ``limit`` bytes); raises ``WireError``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise WireError(f"cannot open {os.path.basename(path)}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WireError(f"{os.path.basename(path)} is not a regular file")
        if info.st_size > limit:
            raise WireError(f"{os.path.basename(path)} is {info.st_size:,} bytes, over the "
                            f"limit of {limit:,}")
        chunks, total = [], 0
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            total += len(block)
            if total > limit:
                raise WireError(f"{os.path.basename(path)} grew past {limit:,} bytes")
            chunks.append(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_array(path, limit: int) -> np.ndarray:
    """A ``.npy`` file as an ndarray of a numeric or boolean dtype, no pickles."""
    import io

    raw = open_regular(path, limit)
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise WireError(f"{os.path.basename(path)} is not a plain array: {err}") from None
    if type(array) is not np.ndarray or array.dtype.kind not in ARRAY_KINDS:
        raise WireError(f"{os.path.basename(path)} holds {array.dtype} values, not numbers")
    return array


@dataclass
class Decoder:
    """Reads what ``Encoder`` wrote in ``folder``. ``ref``, ``keras``, ``graph`` and ``input``
    turn the reference markers into this side's objects (None: refused)."""

    folder: str
    limits: Limits = field(default_factory=Limits)
    ref: object = None
    keras: object = None
    graph: object = None
    input: object = None
    dataclass: object = None
    rng: object = None
    _items: int = 0
    _bytes: int = 0

    def load(self, name: str):
        raw = open_regular(os.path.join(self.folder, name), self.limits.json_bytes)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise WireError(f"{name} is not valid JSON: {err}") from None
        return data

    def _file(self, name) -> str:
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not name:
            raise WireError(f"a file name {name!r} outside the exchange folder")
        return os.path.join(self.folder, name)

    def __call__(self, data, depth: int = 0):
        self._items += 1
        if depth > MAX_DEPTH or self._items > self.limits.items:
            raise WireError("the reply is nested too deeply or holds too many items")
        kind = type(data)
        if data is None or kind in (bool, int, float, str):
            return data
        if kind is list:
            return [self(v, depth + 1) for v in data]
        if kind is not dict or len(data) not in (1, 2) or not all(type(k) is str for k in data):
            raise WireError(f"unexpected {kind.__name__} in the reply")
        (marker, value), *rest = data.items()
        extra = rest[0][1] if rest else None
        if marker == "__tuple__" and type(value) is list:
            return tuple(self(v, depth + 1) for v in value)
        if marker == "__dict__" and type(value) is list:
            out = {}
            for pair in value:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("a malformed dict in the reply")
                key = self(pair[0], depth + 1)
                try:
                    out[key] = self(pair[1], depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be hashed") from None
            return out
        if marker == "__float__" and value in ("nan", "inf", "-inf"):
            return float(value)
        if marker == "__bytes__" and type(value) is str:
            try:
                return base64.b64decode(value.encode("ascii"), validate=True)
            except ValueError:
                raise WireError("malformed bytes in the reply") from None
        if marker == "__range__" and type(value) is list and len(value) == 3 \
                and all(type(v) is int for v in value) and value[2] != 0:
            return range(*value)
        if marker == "__scalar__" and type(value) is str and rest and rest[0][0] == "value":
            try:
                dtype = np.dtype(value)
            except TypeError:
                raise WireError(f"unknown dtype {value!r}") from None
            if dtype.kind not in ARRAY_KINDS:
                raise WireError(f"a scalar of dtype {dtype} is not a number")
            if type(extra) is dict:
                extra = self(extra, depth + 1)
            if dtype.kind == "c" and type(extra) is list and len(extra) == 2:
                extra = complex(*extra)
            if type(extra) not in (bool, int, float, complex):
                raise WireError("a malformed scalar in the reply")
            try:
                return dtype.type(extra)
            except (OverflowError, ValueError, TypeError):
                raise WireError("a scalar out of its dtype's range") from None
        if marker == "__array__":
            array = read_array(self._file(value), self.limits.array_bytes)
            self._bytes += array.nbytes
            if self._bytes > self.limits.array_bytes:
                raise WireError("the reply's arrays are larger than the limit")
            return array
        handlers = {"__ref__": self.ref, "__keras__": self.keras, "__graph__": self.graph,
                    "__input__": self.input, "__dataclass__": self.dataclass,
                    "__rng__": self.rng}
        handler = handlers.get(marker)
        if handler is None:
            raise WireError(f"{marker!r} is not accepted here")
        return handler(value, extra, depth)
