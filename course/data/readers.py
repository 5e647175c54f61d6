"""Reading the real file formats, safely: checksums, the restricted unpickler, ``NAME.npz``,
the original CIFAR python pickles (folder or ``.tar.gz``), ``mnist.pkl.gz``, and ``validate``,
the shape/dtype/label check every source's arrays pass before ``load`` returns them.

Loading never runs code from a data file and never accepts a damaged copy silently:

- ``NAME.npz`` is read with ``allow_pickle=False``; a file with the size of a published copy must
  have its sha256 (``KNOWN_NPZ_SHA256``), so a flipped bit is caught; any other copy is checked
  for shapes, dtypes and label ranges.
- The original CIFAR pickles are unpickled only if their md5 is the official release's
  (``CIFAR_MD5``), and then with ``RestrictedUnpickler``, which rebuilds NumPy arrays and nothing
  else.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import stat as stat_module
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from course import progress
from course.data.specs import (
    CIFAR_ARCHIVES,
    CIFAR_FOLDERS,
    CIFAR_MD5,
    DOCTOR,
    KNOWN_NPZ_SHA256,
    DataCopy,
    DatasetCorruptedError,
    DatasetNotFoundError,
    num_labels,
    spec,
)

#: Pickle globals the official CIFAR batches (and mnist.pkl.gz) need: NumPy array
#: reconstruction, nothing else. ``numpy._core`` is NumPy 2's spelling of ``numpy.core``.
ALLOWED_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})
#: Largest member read from a CIFAR archive (the CIFAR-100 train pickle is 155 MB).
MAX_PICKLE_BYTES = 256 << 20

_DIGESTS: dict = {}


def file_digest(path, algorithm: str = "sha256") -> str:
    """Hex digest of a file (cached per process by inode, size and modification time)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, algorithm)
    if key not in _DIGESTS:
        digest = hashlib.new(algorithm)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def sha256(path) -> str:
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, dicts, lists, strings and numbers, and nothing that runs code:
    any global outside ``ALLOWED_PICKLE_GLOBALS`` (``os.system``, ``builtins.eval``, ...) is
    refused with ``pickle.UnpicklingError``."""

    def find_class(self, module, name):
        if (module, name) in ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load the global {module}.{name}: a data file may only contain NumPy "
            "arrays, lists, dicts, strings and numbers"
        )


def safe_unpickle(fileobj, encoding: str = "bytes"):
    """``pickle.load`` with ``RestrictedUnpickler``; object arrays are refused too."""
    obj = RestrictedUnpickler(fileobj, encoding=encoding).load()
    stack = [obj]
    while stack:  # an object-dtype array could smuggle arbitrary Python values
        item = stack.pop()
        if isinstance(item, np.ndarray) and item.dtype.hasobject:
            raise pickle.UnpicklingError("refusing an object array (dtype=object) in a data file")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(i for i in item if isinstance(i, (np.ndarray, list, tuple, dict)))
    return obj


def _regular_file(path, name: str) -> os.stat_result:
    """``stat`` of ``path``; a FIFO, device or folder where a data file belongs is an error."""
    try:
        st = os.stat(path)
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} exists but cannot be read ({err.strerror}). Fix its permissions."
        ) from err
    if not stat_module.S_ISREG(st.st_mode):
        raise DatasetCorruptedError(
            f"{path} is not a regular file (it is a FIFO, device or folder). Put the real "
            f"{name} data file there."
        )
    return st


def check_npz(path, name: str) -> DataCopy:
    """The sha256 of ``NAME.npz`` checked against ``KNOWN_NPZ_SHA256``: a file with the size
    of a published copy must have its digest. Returns the ``DataCopy`` describing it."""
    st = _regular_file(path, name)
    try:
        digest = sha256(path)
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} exists but cannot be read ({err.strerror}). Fix its permissions."
        ) from err
    known = KNOWN_NPZ_SHA256.get(name, {})
    if st.st_size in known:
        if digest != known[st.st_size]:
            raise DatasetCorruptedError(
                f"{path} has the size of the published {name}.npz ({st.st_size:,} bytes) but "
                f"sha256 {digest}, expected {known[st.st_size]}: the file is damaged (a flipped "
                f"bit, or partly overwritten). Delete it: the next load downloads {name} again "
                f"once you can connect to the internet (python -m course data {name}); or put a "
                f"fresh copy there. {DOCTOR}"
            )
        return DataCopy(name, str(path), digest, "matches the published sha256")
    return DataCopy(name, str(path), digest, None)


def _npz_limit(name: str, key: str) -> int:
    """Largest plausible uncompressed size of an ``.npy`` member (labels of any int type)."""
    s = spec(name)
    n = s.train_size if "train" in key else s.test_size
    per_item = int(np.prod(s.image_shape)) if key.startswith("x_") else 8
    return n * per_item + (1 << 16)


def read_npz(path, name: str, label_mode: str = "fine"):
    """Read ``NAME.npz`` in the ``keras.datasets`` layout (``docs/data.md``).

    Pickles are never loaded (``allow_pickle=False``), and members larger than the data set's
    arrays can be are refused before they are decompressed. Every failure is a
    ``DatasetCorruptedError`` that names the file and says what to do.
    """
    suffix = "_coarse" if label_mode == "coarse" else ""
    keys = ("x_train", f"y_train{suffix}", "x_test", f"y_test{suffix}")
    sizes = KNOWN_NPZ_SHA256.get(name, {})
    hint = (f" (the published {name}.npz is {', '.join(f'{s:,}' for s in sizes)} bytes)"
            if sizes else "")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for key in keys:
                info = members.get(f"{key}.npy")
                if info is not None and info.file_size > _npz_limit(name, key):
                    raise DatasetCorruptedError(
                        f"{path}: {key} is {info.file_size:,} bytes uncompressed, more than a "
                        f"{name} array can be ({_npz_limit(name, key):,}). Replace the file "
                        "with a complete copy."
                    )
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DatasetCorruptedError(
                    f"{path} has no {', '.join(missing)} (it has {', '.join(f.files)}). "
                    f"Expected keys x_train, y_train{suffix}, x_test, y_test{suffix}. "
                    "Replace the file with a complete copy."
                )
            return (f["x_train"], f[f"y_train{suffix}"]), (f["x_test"], f[f"y_test{suffix}"])
    except DatasetCorruptedError:
        raise
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} exists but cannot be read ({err.strerror}). Fix its permissions."
        ) from err
    except Exception as err:  # noqa: BLE001 - zipfile, zlib and numpy raise many types here
        raise DatasetCorruptedError(
            f"{path} is not a readable .npz file ({type(err).__name__}: {err}); it may be "
            f"truncated or damaged{hint}. Delete it and put a fresh copy there."
        ) from err


def cifar_members(name: str, label_mode: str):
    """(file names, label key) of the original CIFAR python pickles."""
    if name == "cifar10":
        return [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"
    return ["train"], ["test"], f"{label_mode}_labels"


def _decode_batch(obj, member: str, label_key: str) -> dict:
    """Check one unpickled CIFAR batch: a dict with ``data`` (N, 3072) uint8 and N labels."""
    if not isinstance(obj, dict):
        raise DatasetCorruptedError(
            f"{member} holds a {type(obj).__name__}, expected a dict with data and labels")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise DatasetCorruptedError(
                f"{member} has no {key!r} entry (it has {', '.join(map(str, batch))})")
    images = batch["data"]
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
            or images.shape[1] != 3072:
        raise DatasetCorruptedError(
            f"{member}: 'data' is {type(images).__name__} "
            f"{getattr(images, 'shape', '')} {getattr(images, 'dtype', '')}, "
            "expected a (N, 3072) uint8 array")
    labels = batch[label_key]
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(images):
        raise DatasetCorruptedError(
            f"{member}: {label_key!r} must be a list of {len(images)} labels")
    return batch


def _cifar_arrays(batches, label_key):
    images = np.concatenate([b["data"] for b in batches])
    labels = []
    for b in batches:
        values = b[label_key]
        if isinstance(values, list) and not all(type(v) is int for v in values):
            kinds = sorted({type(v).__name__ for v in values if type(v) is not int})
            raise DatasetCorruptedError(f"{label_key} holds {', '.join(kinds)} values, "
                                        "expected integer class labels")
        labels.append(np.asarray(values))
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.concatenate(labels)


def _check_md5(name: str, member: str, digest: str, where) -> None:
    expected = CIFAR_MD5[name].get(member)
    if digest != expected:
        raise DatasetCorruptedError(
            f"{where} has md5 {digest}, but the official {CIFAR_FOLDERS[name]} release's "
            f"{member} has md5 {expected}: it is damaged or not the official file, so it is not "
            "unpickled (a pickle can run code). Download the official archive again from "
            f"{spec(name).origin}, or use {name}.npz."
        )


def check_cifar(path, name: str) -> None:
    """Check a CIFAR folder (every batch) or ``.tar.gz`` against the official release's md5,
    reading no pickle: ``DatasetCorruptedError`` names the damaged file."""
    path = Path(path)
    if not path.is_dir():
        _regular_file(path, name)
        _check_md5(name, CIFAR_ARCHIVES[name], file_digest(path, "md5"), path)
        return
    train, test, _ = cifar_members(name, "fine")
    for member in train + test:
        _check_md5(name, member, file_digest(path / member, "md5"), path / member)


def _read_member(read, limit: int = MAX_PICKLE_BYTES) -> bytes:
    content = read(limit + 1)
    if len(content) > limit:
        raise DatasetCorruptedError(f"a member is larger than {limit >> 20} MB")
    return content


def read_cifar_python(path, name: str, label_mode: str = "fine"):
    """Read the original ``cifar-10-batches-py`` / ``cifar-100-python`` folder or ``.tar.gz``.

    Nothing is unpickled unless its md5 is the official release's (``CIFAR_MD5``): an archive
    is checked as a whole before it is opened, and every batch before it is read. The batches
    are then read with ``RestrictedUnpickler``, which only rebuilds NumPy arrays.
    """
    train_files, test_files, label_key = cifar_members(name, label_mode)
    path = Path(path)
    archive = None
    try:
        if path.is_dir():
            def member_bytes(member):
                with open(path / member, "rb") as f:
                    return _read_member(f.read)
        else:
            _regular_file(path, name)
            _check_md5(name, CIFAR_ARCHIVES[name], file_digest(path, "md5"), path)
            archive = tarfile.open(path, "r:gz")

            def member_bytes(member):
                f = archive.extractfile(f"{CIFAR_FOLDERS[name]}/{member}")
                if f is None:
                    raise DatasetCorruptedError(f"{member} in {path} is not a regular file")
                with f:
                    return _read_member(f.read)
        batches = {}
        # Unpacking and converting takes seconds (the CIFAR-100 train pickle is 155 MB): progress
        # per batch file, a bar where someone watches and one line per file in logs (stderr).
        for member in progress.track(train_files + test_files, unit="batch",
                                     description=f"reading {name} from {path.name}"):
            content = member_bytes(member)
            _check_md5(name, member, hashlib.md5(content).hexdigest(), path / member
                       if path.is_dir() else f"{path}:{member}")
            obj = safe_unpickle(io.BytesIO(content), encoding="bytes")
            batches[member] = _decode_batch(obj, member, label_key)
        return tuple(_cifar_arrays([batches[m] for m in members], label_key)
                     for members in (train_files, test_files))
    except DatasetCorruptedError as err:
        if str(path) in str(err):
            raise
        raise DatasetCorruptedError(f"{path}: {err}") from err
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} exists but cannot be read ({err.strerror}). Fix its permissions.") from err
    except (OSError, KeyError, EOFError, pickle.UnpicklingError, ValueError, TypeError,
            tarfile.TarError, MemoryError) as err:
        raise DatasetCorruptedError(
            f"{path} is not a complete {CIFAR_FOLDERS[name]} copy ({type(err).__name__}: {err}). "
            "Download the archive again and extract it, or delete it so the next source is used."
        ) from err
    finally:
        if archive is not None:
            archive.close()


def read_mnist_pkl_gz(path):
    """Read the classic ``mnist.pkl.gz`` (50k train + 10k valid + 10k test, float32 = value/256).

    Train and valid are concatenated back into the standard 60,000-image training set, and the
    pixels are converted back to the exact uint8 values. Read with ``RestrictedUnpickler``.
    """
    with gzip.open(path, "rb") as f:
        train, valid, test = safe_unpickle(f, encoding="latin1")

    def to_uint8(x):
        return np.rint(np.asarray(x, np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    x_train = np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return (x_train, y_train), (to_uint8(test[0]), np.asarray(test[1], np.uint8))


def _label_problem(split: str, y, size: int, classes: int) -> str | None:
    """Why ``y`` is not ``size`` integer labels in 0..classes-1 (or None)."""
    if y.reshape(-1).shape != (size,):
        return f"y_{split} has shape {y.shape}, expected ({size},) or ({size}, 1)"
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f":
            flat = y.reshape(-1)
            fractional = int(np.sum(np.isfinite(flat) & (flat != np.round(flat))))
            nonfinite = int(np.sum(~np.isfinite(flat)))
            what = ", ".join(part for part in (
                f"{fractional:,} fractional" if fractional else "",
                f"{nonfinite:,} NaN or infinite" if nonfinite else "") if part)
            return (f"y_{split} has float labels ({y.dtype}{', ' + what if what else ''}), "
                    "expected integer class labels")
        return f"y_{split} has dtype {y.dtype}, expected integer class labels"
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = int(np.sum((y < 0) | (y >= classes)))
        return (f"y_{split} has {bad:,} labels outside 0..{classes - 1} "
                f"(min {y.min()}, max {y.max()})")
    return None


def validate(name: str, arrays, source: str, label_mode: str = "fine"):
    """Check shapes, dtypes and label ranges; return the arrays with labels flattened to (N,).

    Labels must be integers in ``0..classes-1`` (``0..19`` for CIFAR-100's coarse labels):
    string, fractional or out-of-range labels make the copy a ``DatasetCorruptedError``.
    """
    s = spec(name)
    classes = num_labels(name, label_mode)
    try:
        (x_train, y_train), (x_test, y_test) = arrays
    except (TypeError, ValueError) as err:
        raise DatasetCorruptedError(f"{name} from {source} is not two (images, labels) splits "
                                    f"({err}). Replace that copy.") from err
    problems = []
    out = []
    for split, x, y, size in (("train", x_train, y_train, s.train_size),
                              ("test", x_test, y_test, s.test_size)):
        try:
            x = np.asarray(x)
            y = np.asarray(y)
        except (TypeError, ValueError) as err:
            problems.append(f"the {split} split is not arrays ({err})")
            continue
        if x.shape != (size, *s.image_shape):
            problems.append(f"x_{split} has shape {x.shape}, expected {(size, *s.image_shape)}")
        if x.dtype != np.uint8:
            problems.append(f"x_{split} has dtype {x.dtype}, expected uint8")
        why = _label_problem(split, y, len(x), classes)
        if why:
            problems.append(why)
        out.append((x, y.reshape(-1)))
    if problems:
        raise DatasetCorruptedError(
            f"{name} ({label_mode} labels) from {source} is damaged: " + "; ".join(problems)
            + ". Replace that copy (or delete it so the next source is used)."
        )
    return tuple(out)


