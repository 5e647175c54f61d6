"""Checks of a submitted file that need neither Keras nor TensorFlow and never run its content.

``take_file`` decides whether a path is a readable regular file of sane size and copies it into
the grader's private folder (so what is graded cannot change under the grader, and a FIFO or a
device file is never opened for reading). ``inspect_archive`` checks the zip (bombs, unsafe
entries, the members a ``.keras`` file needs) and ``scan_config`` reads ``config.json`` for
things the grader refuses by name: Lambda layers and serialized functions (code), and references
to Python objects that are neither Keras's nor the course's (``os.system``, ...).

Each refusal is a ``Refusal(cause, reason)``: ``cause`` is a short machine-readable word, the
reason says what is wrong and what to do.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field

from course.grading.contract import Limits, Refusal

MIB = 1 << 20
HOW_TO_SAVE = ("Save with model.save('model.keras') or "
               "course.grading.export_submission(model).")
#: Packages whose objects Keras itself resolves (and checks) when loading.
KERAS_PACKAGES = {"keras", "keras_hub", "keras_cv", "keras_nlp"}
#: Keras's own markers for serialized values (tensors, arrays, bytes, ...), not objects.
KERAS_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__typespec__",
                 "__slice__", "__ellipsis__"}


@dataclass
class ArchiveInfo:
    """What the grader learned from the zip without running anything."""

    members: list = field(default_factory=list)
    unpacked_bytes: int = 0
    #: Registered names (``package>Name``) the config refers to; checked against the registry
    #: where Keras is imported.
    registered_names: set = field(default_factory=set)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder (a SavedModel or an unzipped model?)"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MIB:,.1f} MiB" if n >= MIB else f"{n:,} bytes"


def take_file(path, dest, limits: Limits = Limits(), what: str = ".keras file",
              how: str = HOW_TO_SAVE) -> int:
    """Copy the regular file at ``path`` to ``dest``; return its size or raise ``Refusal``.

    The last path component is never followed if it is a symbolic link (a link in a folder of
    submissions could point at another student's file), and nothing but a regular file is
    opened: ``lstat`` first, then ``open(O_NOFOLLOW | O_NONBLOCK)`` and ``fstat`` to catch a
    swap in between. ``what`` and ``how`` name the expected file and how to make one, for the
    messages.
    """
    name = os.path.basename(os.fsdecode(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise Refusal("missing", f"file not found. {how}") from None
    except OSError as err:
        raise Refusal("unreadable", f"cannot read {name}: {err.strerror}.") from None
    if stat.S_ISLNK(st.st_mode):
        raise Refusal("symlink", f"{name} is a symbolic link; the grader does not follow links "
                                 "(one could point at another student's file). Submit the file "
                                 "itself.")
    if not stat.S_ISREG(st.st_mode):
        raise Refusal("not_regular", f"{name} is {_kind(st.st_mode)}, not a {what}. " + how)
    if st.st_size == 0:
        raise Refusal("empty", f"{name} is empty (0 bytes). " + how)
    if st.st_size > limits.file_mb * MIB:
        raise Refusal("too_large", f"{name} is {_size(st.st_size)}; the grader's limit is "
                                   f"{limits.file_mb:,} MiB. Submit a smaller {what}.")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refusal("symlink", f"{name} became a symbolic link while being read.") from None
        raise Refusal("unreadable", f"cannot read {name}: {err.strerror} "
                                    "(check the file's permissions).") from None
    try:
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or (st2.st_ino, st2.st_dev) != (st.st_ino, st.st_dev):
            raise Refusal("not_regular", f"{name} changed while being read; not graded.")
        copied = 0
        with open(dest, "wb") as out:
            while True:
                try:
                    block = os.read(fd, MIB)
                except OSError as err:
                    raise Refusal("unreadable", f"cannot read {name}: {err.strerror}.") from None
                if not block:
                    break
                copied += len(block)
                if copied > limits.file_mb * MIB:
                    raise Refusal("too_large", f"{name} grew past the {limits.file_mb:,} MiB "
                                               "limit while being read.")
                out.write(block)
        return copied
    finally:
        os.close(fd)


def _unsafe_name(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "has a backslash or NUL byte"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "climbs out of the archive (..)"
    return None


def inspect_archive(path, limits: Limits = Limits()) -> tuple[ArchiveInfo, dict]:
    """Check the zip structure of a ``.keras`` file and parse its ``config.json``.

    Returns ``(ArchiveInfo, config)``; raises ``Refusal`` for anything the grader will not load.
    Member sizes are the ones the zip declares; Python's zipfile never inflates a member past
    its declared size, so checking them bounds what loading can unpack.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise Refusal("unreadable", f"cannot read the file: {err.strerror}.") from None
    if not zipfile.is_zipfile(path):
        if head.startswith(b"\x89HDF\r\n\x1a\n"):
            raise Refusal("hdf5", "it is an HDF5 (.h5) file renamed to .keras; the grader only "
                                  "reads the Keras 3 format (a zip archive). " + HOW_TO_SAVE)
        if head.startswith(b"PK\x03\x04"):
            raise Refusal("bad_zip", "it starts like a zip archive but its directory is missing: "
                                     "the file was cut short (an interrupted upload or save?). "
                          + HOW_TO_SAVE)
        raise Refusal("not_zip", "it is not a zip archive, so not a .keras model file (a .keras "
                                 "file is a zip of config.json and model.weights.h5). "
                      + HOW_TO_SAVE)
    info = ArchiveInfo()
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > limits.members:
                raise Refusal("zip_bomb", f"the archive has {len(entries):,} members; a .keras "
                                          f"file has a handful (limit {limits.members:,}).")
            seen = set()
            for entry in entries:
                problem = _unsafe_name(entry.filename)
                if problem:
                    raise Refusal("unsafe_entry", f"the archive member {entry.filename!r} "
                                                  f"{problem}; refused.")
                if entry.filename in seen:
                    raise Refusal("unsafe_entry", f"the archive has two members named "
                                                  f"{entry.filename!r}; refused.")
                seen.add(entry.filename)
                if stat.S_ISLNK(entry.external_attr >> 16):
                    raise Refusal("unsafe_entry", f"the archive member {entry.filename!r} is a "
                                                  "symbolic link; refused.")
                if entry.flag_bits & 0x1:
                    raise Refusal("unsafe_entry", f"the archive member {entry.filename!r} is "
                                                  "encrypted; refused.")
                if entry.file_size > MIB and \
                        entry.file_size > limits.expansion * max(entry.compress_size, 1):
                    raise Refusal("zip_bomb", f"the archive member {entry.filename!r} inflates "
                                              f"from {_size(entry.compress_size)} to "
                                              f"{_size(entry.file_size)} (more than "
                                              f"{limits.expansion}x): a zip bomb; refused.")
                info.unpacked_bytes += entry.file_size
                info.members.append(entry.filename)
            if info.unpacked_bytes > limits.unpacked_mb * MIB:
                raise Refusal("zip_bomb", f"the archive unpacks to {_size(info.unpacked_bytes)}; "
                                          f"the limit is {limits.unpacked_mb:,} MiB.")
            if "config.json" not in seen:
                raise Refusal("not_keras", "the archive has no config.json, so it is not a "
                                           "Keras 3 model file (a SavedModel or weights-only "
                                           "file?). " + HOW_TO_SAVE)
            if not ({"model.weights.h5", "model.weights.npz"} & seen):
                raise Refusal("not_keras", "the archive has no model.weights.h5: the file holds "
                                           "no weights. " + HOW_TO_SAVE)
            config_entry = archive.getinfo("config.json")
            if config_entry.file_size > limits.config_mb * MIB:
                raise Refusal("zip_bomb", f"config.json is {_size(config_entry.file_size)}; "
                                          f"the limit is {limits.config_mb} MiB.")
            raw = archive.read("config.json")
    except Refusal:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError) as err:
        raise Refusal("bad_zip", "the zip archive is damaged or incomplete (was the upload cut "
                                 "short?). " + HOW_TO_SAVE,
                      f"{type(err).__name__}: {err}") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise Refusal("bad_config", "its config.json is not valid JSON. " + HOW_TO_SAVE,
                      f"{type(err).__name__}: {err}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise Refusal("bad_config", "its config.json does not describe a Keras model. "
                      + HOW_TO_SAVE)
    info.registered_names = scan_config(config)
    return info, config


def _where(trail) -> str:
    return f" (in {' > '.join(trail[-3:])})" if trail else ""


def scan_config(config: dict) -> set:
    """Refuse code and foreign objects named in a model config; return the registered names
    (``package>Name``) it uses. ``compile_config`` is skipped: the grader never compiles."""
    registered = set()
    stack = [(config, ())]
    while stack:
        node, trail = stack.pop()
        if isinstance(node, list):
            stack.extend((item, trail) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        inner = node.get("config")
        own = inner.get("name") if isinstance(inner, dict) else None
        here = trail + (str(own),) if isinstance(own, str) and own else trail
        for key, value in node.items():
            if key == "compile_config" and node is config:
                continue
            if isinstance(value, (dict, list)):
                stack.append((value, here))
        cls = node.get("class_name")
        if not isinstance(cls, str):
            continue
        module = node.get("module") or ""
        if not isinstance(module, str):
            raise Refusal("bad_config", "its config.json has a module name that is not text.")
        reg = node.get("registered_name")
        package = module.split(".", 1)[0]
        where = _where(here)
        if cls in ("Lambda", "__lambda__"):
            what = "a Lambda layer" if cls == "Lambda" else "a serialized Python function"
            raise Refusal("code", f"it contains {what}{where}: Python code, which the grader "
                                  "never runs (Keras safe mode). Replace it with built-in or "
                                  "registered course layers.")
        if cls in KERAS_MARKERS and not module:
            continue
        if cls == "function":
            if not isinstance(inner, str):
                raise Refusal("bad_config", f"its config.json names a function without a "
                                            f"name{where}.")
            if ">" in inner:
                registered.add(inner)
            elif module not in ("builtins", "") and package not in KERAS_PACKAGES:
                raise Refusal("foreign_object",
                              f"it refers to the Python function {module}.{inner}{where}, which "
                              "is neither a Keras nor a course function; the grader never "
                              "imports it. Use Keras or course functions.")
            continue
        if package in KERAS_PACKAGES:
            continue  # Keras resolves and checks its own objects
        if isinstance(reg, str) and ">" in reg:
            registered.add(reg)
            continue
        raise Refusal("foreign_object",
                      f"it refers to the Python object {module or '?'}.{cls}{where}, which is "
                      "neither a Keras nor a registered course object; the grader never "
                      "imports it. Use Keras or course layers.")
    return registered
