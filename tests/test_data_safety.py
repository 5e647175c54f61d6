"""course.data under attack: tampered pickles never run, damaged copies are clear errors.

Every case is a small file made in the test; real data only where COURSE_DATA_DIR has it.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import time

import numpy as np
import pytest

from course import data
from tests.test_data import _cifar100_arrays, _write_cifar100_python, trust


class _RunsCode:
    """Pickles to ``os.system("touch MARKER")``: what a tampered CIFAR batch would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_pickle(marker) -> bytes:
    return pickle.dumps({b"data": _RunsCode(marker), b"fine_labels": [0]}, protocol=3)


def _cifar100_folder(tmp_path, train_bytes=None, test_bytes=None):
    """A cifar-100-python folder of small real-format batches; either one may be replaced."""
    folder = _write_cifar100_python(tmp_path / "data" / "cifar-100-python", _cifar100_arrays())
    if train_bytes is not None:
        (folder / "train").write_bytes(train_bytes)
    if test_bytes is not None:
        (folder / "test").write_bytes(test_bytes)
    return folder


# --- pickles: checksum first, then an unpickler that only rebuilds NumPy arrays -------------


def test_a_tampered_batch_is_refused_by_its_checksum_and_never_runs(small_cifar, offline,
                                                                    monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    folder = _cifar100_folder(tmp_path, train_bytes=_evil_pickle(marker))
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder.parent))
    with pytest.raises(data.DatasetCorruptedError) as err:
        data.load("cifar100", fast=False)
    assert "md5" in str(err.value) and "not the official file" in str(err.value)
    assert "16019d7e3df5f24257cddd939b257f8d" in str(err.value)  # the official digest
    assert not marker.exists()


@pytest.mark.parametrize("payload, message", [
    (lambda m: _evil_pickle(m), "posix.system"),
    (lambda m: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2), "_codecs"),
    (lambda m: pickle.dumps({b"data": np.array([None], dtype=object), b"fine_labels": [0]},
                            protocol=3), "object array"),
    (lambda m: pickle.dumps([1, 2, 3], protocol=3), "holds a list"),
    (lambda m: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8),
                             b"fine_labels": ["cat"]}, protocol=3), "holds str values"),
    (lambda m: b"\x80\x03}q\x00(X", "truncated"),
])
def test_even_a_trusted_checksum_never_unpickles_code(small_cifar, offline, monkeypatch,
                                                      tmp_path, payload, message):
    """Defence in depth: if the digests matched, the restricted unpickler still holds."""
    marker = tmp_path / "pwned"
    folder = _cifar100_folder(tmp_path, train_bytes=payload(marker))
    trust(monkeypatch, "cifar100", folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder.parent))
    with pytest.raises(data.DatasetCorruptedError) as err:
        data.load("cifar100", fast=False)
    assert message in str(err.value)
    assert not marker.exists()


def test_an_archive_is_checked_before_it_is_opened(small_cifar, offline, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    folder = _cifar100_folder(tmp_path / "src", train_bytes=_evil_pickle(marker))
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
    monkeypatch.setenv("COURSE_DATA_DIR", str(archive_dir))
    with pytest.raises(data.DatasetCorruptedError,
                       match="eb9058c3a382ffc7106e4002c42a8d85"):  # the official archive md5
        data.load("cifar100", fast=False)
    # Trusting the archive is not enough: its batches are checked and unpickled safely too.
    trust(monkeypatch, "cifar100", archive_dir / "cifar-100-python.tar.gz")
    with pytest.raises(data.DatasetCorruptedError, match="md5"):
        data.load("cifar100", fast=False)
    assert not marker.exists()


def test_a_tampered_keras_cache_never_runs_code(small_cifar, offline, tmp_path):
    marker = tmp_path / "pwned"
    cache = offline / "keras_home" / "datasets" / "cifar-100-python-target_extracted"
    folder = _write_cifar100_python(cache / "cifar-100-python", _cifar100_arrays())
    (folder / "test").write_bytes(_evil_pickle(marker))
    with pytest.raises(data.DatasetCorruptedError, match="not the official file"):
        data.load("cifar100", fast=False)
    assert not marker.exists()


def test_restricted_unpickler_admits_only_numpy_reconstruction():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    back = data.safe_unpickle(io.BytesIO(pickle.dumps({b"data": array}, protocol=3)))
    np.testing.assert_array_equal(back[b"data"], array)
    for evil in (pickle.dumps(eval, protocol=3), pickle.dumps(os.system, protocol=3)):
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            data.safe_unpickle(io.BytesIO(evil))


# --- npz: checksums where published, structure and labels everywhere ------------------------


def _save_cifar100_npz(path, compressed=False, **overrides):
    arrays = {**_cifar100_arrays(), **overrides}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def test_a_bit_flip_in_a_published_copy_is_caught_by_its_sha256(small_cifar, offline,
                                                                 monkeypatch, tmp_path):
    path = _save_cifar100_npz(tmp_path / "cifar100.npz")
    content = path.read_bytes()
    published = {len(content): hashlib.sha256(content).hexdigest()}
    monkeypatch.setitem(data.KNOWN_NPZ_SHA256, "cifar100", published)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    data.load("cifar100", fast=False)
    assert data.COPIES_USED["cifar100"].verified == "matches the published sha256"
    flipped = bytearray(content)
    flipped[len(flipped) // 2] ^= 0x01  # a label or pixel byte: shapes stay valid
    path.write_bytes(bytes(flipped))
    with pytest.raises(data.DatasetCorruptedError, match="has the size of the published"):
        data.load("cifar100", fast=False)


@pytest.mark.parametrize("damage", ["truncate", "flip_compressed", "flip_stored"])
def test_damaged_npz_files_are_corrupted_errors_not_tracebacks(small_cifar, offline, monkeypatch,
                                                               tmp_path, damage):
    path = _save_cifar100_npz(tmp_path / "cifar100.npz", compressed=damage == "flip_compressed")
    content = bytearray(path.read_bytes())
    if damage == "truncate":
        content = content[: len(content) // 2]
    else:
        content[len(content) // 3] ^= 0x10
    path.write_bytes(bytes(content))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetCorruptedError, match="not a readable .npz.*fresh copy"):
        data.load("cifar100", fast=False)


@pytest.mark.parametrize("label_mode, overrides, message", [
    ("fine", {"y_test": np.array(["cat"] * 20)}, "y_test has dtype <U3, expected integer"),
    ("fine", {"y_test": np.full((20, 1), 2.5)}, "20 fractional"),
    ("fine", {"y_train": np.full((50, 1), 100, np.uint8)}, "50 labels outside 0..99"),
    ("coarse", {"y_test_coarse": np.full((20, 1), 25, np.uint8)}, "outside 0..19"),
    ("fine", {"y_test": np.zeros((19, 1), np.uint8)}, "y_test has shape (19, 1)"),
])
def test_bad_labels_are_refused(small_cifar, offline, monkeypatch, tmp_path, label_mode,
                                overrides, message):
    _save_cifar100_npz(tmp_path / "cifar100.npz", **overrides)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetCorruptedError) as err:
        data.load("cifar100", label_mode=label_mode, fast=False)
    assert message in str(err.value)


def test_a_member_larger_than_the_data_set_is_refused_before_decompressing(
        small_cifar, offline, monkeypatch, tmp_path):
    _save_cifar100_npz(tmp_path / "cifar100.npz", compressed=True,
                       x_test=np.zeros((20, 1000, 1000, 3), np.uint8))  # 60 MB of zeros
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetCorruptedError, match="x_test is 60,000,128 bytes"):
        data.load("cifar100", fast=False)


def test_a_fifo_in_place_of_the_data_is_an_error_not_a_hang(offline, monkeypatch, tmp_path):
    os.mkfifo(tmp_path / "cifar100.npz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(data.DatasetCorruptedError, match="not a regular file"):
        data.load("cifar100", fast=False)
    assert time.monotonic() - start < 5


# --- COURSE_DATA_DIR: set means used, never a quiet fallback --------------------------------


def test_a_missing_data_dir_is_an_error_even_when_another_copy_exists(small_cifar, offline,
                                                                      monkeypatch, tmp_path):
    cache = offline / "keras_home" / "datasets" / "cifar-100-python-target_extracted"
    trust(monkeypatch, "cifar100",
          _write_cifar100_python(cache / "cifar-100-python", _cifar100_arrays()))
    data.load("cifar100", fast=False)  # the cache copy works when COURSE_DATA_DIR is unset
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(data.DatasetNotFoundError, match="typo does not exist"):
        data.load("cifar100", fast=False)
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load("cifar100", fast=True, allow_standin=True)  # not even a stand-in
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "file"))
    with pytest.raises(data.DatasetNotFoundError, match="is not a folder"):
        data.load("cifar100", fast=False)


def test_an_unreadable_data_dir_is_an_error(offline, monkeypatch, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    if os.geteuid() == 0:  # root reads anything: deny the way an ordinary user would be denied
        real_access = os.access

        def access(path, mode, *args, **kwargs):
            if os.fspath(path) == str(folder):
                return False
            return real_access(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    try:
        with pytest.raises(data.DatasetNotFoundError, match="cannot be read.*Permission denied"):
            data.load("cifar100", fast=False)
    finally:
        folder.chmod(0o700)


# --- the real copies, where COURSE_DATA_DIR has them ----------------------------------------


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_the_shared_copies_match_their_published_sha256(name):
    folder = data.data_dir()
    if folder is None or not (folder / f"{name}.npz").exists():
        if os.environ.get("CI"):
            raise AssertionError(f"CI must provide {name}.npz in COURSE_DATA_DIR")
        pytest.skip(f"{name}.npz not in COURSE_DATA_DIR")
    x_test, labels, copy = data.load_test_set(name)
    assert copy.path == str(folder / f"{name}.npz")
    assert copy.verified == "matches the published sha256"
    assert copy.sha256 == data.KNOWN_NPZ_SHA256[name][os.path.getsize(copy.path)]
    assert len(x_test) == 10000 and sorted(labels) == (
        ["coarse", "fine"] if name == "cifar100" else ["fine"])
