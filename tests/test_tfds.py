"""course.data with TensorFlow Datasets, offline: TFDS's own ``tfds.testing.mock_data``.

The real TFDS code path runs (``tfds.builder``, ``is_prepared``, ``as_dataset`` with batching,
``download_and_prepare``'s arguments); only reading records and downloading are mocked. A
"prepared" copy is TFDS's own metadata (``dataset_info.json``, ``features.json``) written for a
few examples, so the tests stay small and fast.
"""
from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
import tensorflow as tf  # noqa: E402 - after the skip for a missing TFDS
from tensorflow_datasets.core import splits as splits_lib  # noqa: E402 - after the skip for a missing TFDS

from course import data  # noqa: E402 - after the skip for a missing TFDS
from course.data import tfds as course_tfds  # noqa: E402 - after the skip for a missing TFDS

N_TRAIN, N_TEST = 24, 8


@pytest.fixture
def tfds_root(offline, monkeypatch):
    """An empty TFDS data dir (``$TFDS_DATA_DIR``), no other source, no network, small sizes."""
    for name in ("mnist", "cifar10", "cifar100"):
        monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(
            data.DATASETS[name], train_size=N_TRAIN, test_size=N_TEST))
    monkeypatch.setenv("COURSE_PROGRESS", "lines")
    root = offline / "tensorflow_datasets"
    root.mkdir()
    return root


def prepare(root, name, sizes=None, builder=None):
    """What ``tfds build NAME`` leaves in ``root``: the data set's metadata, split sizes included
    (the records themselves come from ``mock_data``)."""
    sizes = sizes or {"train": N_TRAIN, "test": N_TEST}
    builder = builder or tfds.builder(name, data_dir=str(root))
    builder.info.set_splits(splits_lib.SplitDict([
        splits_lib.SplitInfo(name=split, shard_lengths=[n], num_bytes=0, filename_template=None)
        for split, n in sizes.items()]))
    (root / name / str(builder.version)).mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    return builder


def known_examples(self, split, **kwargs):
    """Deterministic records (a ``mock_data`` ``as_dataset_fn``): image ``i`` is filled with
    ``i``, its label is ``i % classes`` and CIFAR-100's coarse label ``i % 20``."""
    n = self.info.splits[split].num_examples
    features = self.info.features
    shape = tuple(features["image"].shape)
    index = np.arange(n) + (1000 if str(split) == "test" else 0)
    examples = {"image": np.stack([np.full(shape, i % 256, np.uint8) for i in index]),
                "label": (index % features["label"].num_classes).astype(np.int64)}
    if "coarse_label" in features:
        examples["coarse_label"] = (index % 20).astype(np.int64)
    if "id" in features:
        examples["id"] = np.array([f"{split}_{i:05d}" for i in index])
    return tf.data.Dataset.from_tensor_slices(examples)


def never_download(*args, **kwargs):
    raise AssertionError("a prepared TFDS copy must be read without downloading")


def downloads_with(fn):
    """``DatasetBuilder.download_and_prepare`` replaced inside ``mock_data`` (which patches it
    too): a context manager, so both are undone in order when the test leaves them."""
    return mock.patch.object(tfds.core.DatasetBuilder, "download_and_prepare", fn)


# --- prepared copies: read offline ----------------------------------------------------------


def test_a_prepared_copy_is_read_offline_with_both_cifar100_label_modes(tfds_root, capsys):
    prepare(tfds_root, "cifar100")
    with tfds.testing.mock_data(as_dataset_fn=known_examples, data_dir=str(tfds_root)), \
            downloads_with(never_download):
        (x, y), (xt, yt) = data.load("cifar100", fast=False)
        (_, yc), (_, ytc) = data.load("cifar100", label_mode="coarse", fast=False)
    assert x.shape == (N_TRAIN, 32, 32, 3) and x.dtype == np.uint8 and xt.shape[0] == N_TEST
    np.testing.assert_array_equal(x[:, 0, 0, 0], np.arange(N_TRAIN))
    np.testing.assert_array_equal(y, np.arange(N_TRAIN) % 100)  # TFDS `label`
    np.testing.assert_array_equal(yc, np.arange(N_TRAIN) % 20)  # TFDS `coarse_label`
    np.testing.assert_array_equal(ytc, (np.arange(N_TEST) + 1000) % 20)
    copy = data.COPIES_USED["cifar100"]
    assert copy.source == "TFDS" and copy.tfds_version == "3.0.2"
    assert copy.tfds_data_dir == str(tfds_root) and copy.path == str(tfds_root / "cifar100/3.0.2")
    assert copy.sha256 is None and "no published checksum" in copy.verified
    assert data.SOURCES_USED["cifar100"].startswith("TFDS cifar100 3.0.2")
    err = capsys.readouterr().err  # converting shows progress, on stderr
    assert "converting TFDS cifar100 train 1/1" in err and "converting TFDS cifar100 test" in err


def test_a_real_prepared_copy_without_any_mock(tfds_root):
    """Records TFDS itself writes (``store_as_tfds_dataset``: real tfrecord shards, shuffled as
    TFDS stores them), read by TFDS's own cifar100 builder through ``load``."""
    from tensorflow_datasets.core.dataset_builders import adhoc_builder

    features = tfds.builder("cifar100", data_dir=str(tfds_root)).info.features

    def records(n, offset):
        index = np.arange(n) + offset
        return tf.data.Dataset.from_tensor_slices({
            "id": [f"x{i}" for i in index], "label": index % 100, "coarse_label": index % 20,
            "image": np.stack([np.full((32, 32, 3), i % 256, np.uint8) for i in index])})

    adhoc_builder.store_as_tfds_dataset(
        name="cifar100", version="3.0.2", features=features, data_dir=str(tfds_root),
        split_datasets={"train": records(N_TRAIN, 0), "test": records(N_TEST, 1000)})
    (x, y), (xt, yt) = data.load("cifar100", fast=False)
    (_, yc), _ = data.load("cifar100", label_mode="coarse", fast=False)
    assert sorted(x[:, 0, 0, 0]) == list(range(N_TRAIN))  # every record, once
    np.testing.assert_array_equal(y, x[:, 0, 0, 0] % 100)  # images keep their own labels
    np.testing.assert_array_equal(yc, x[:, 0, 0, 0] % 20)
    test_index = xt[:, 0, 0, 0].astype(int) - 1000 % 256 + 1000  # image values are index % 256
    np.testing.assert_array_equal(yt, test_index % 100)
    assert data.COPIES_USED["cifar100"].tfds_version == "3.0.2"


def test_stock_mock_data_through_load_and_the_grader_test_set(tfds_root, monkeypatch):
    """TFDS's default random records: same count in every split, labels within the classes."""
    for name in ("cifar10", "cifar100"):
        monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(
            data.DATASETS[name], train_size=16, test_size=16))
    prepare(tfds_root, "cifar10", {"train": 16, "test": 16})
    prepare(tfds_root, "cifar100", {"train": 16, "test": 16})
    with tfds.testing.mock_data(num_examples=16, data_dir=str(tfds_root)):
        (x, y), _ = data.load("cifar10", fast=False)
        x_test, labels, copy = data.load_test_set("cifar100")
    assert x.shape == (16, 32, 32, 3) and y.max() < 10
    assert x_test.shape == (16, 32, 32, 3) and set(labels) == {"fine", "coarse"}
    assert labels["coarse"].max() < 20 and labels["fine"].max() < 100
    assert copy.to_dict()["tfds_version"] == "3.0.2" and copy.to_dict()["sha256"] is None


def test_tfds_mnist_comes_without_the_channel_axis_and_before_mnist_hubs_wheel(tfds_root):
    prepare(tfds_root, "mnist")
    with tfds.testing.mock_data(as_dataset_fn=known_examples, data_dir=str(tfds_root)):
        (x, y), (xt, _) = data.load("mnist", fast=False)
    assert x.shape == (N_TRAIN, 28, 28) and xt.shape == (N_TEST, 28, 28)
    assert data.COPIES_USED["mnist"].source == "TFDS"


def test_course_data_dir_comes_before_tfds(tfds_root, monkeypatch):
    prepare(tfds_root, "cifar10")
    folder = tfds_root.parent / "course_data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "cifar10.npz",
             x_train=rng.integers(0, 256, (N_TRAIN, 32, 32, 3), dtype=np.uint8),
             y_train=np.zeros(N_TRAIN, np.uint8),
             x_test=rng.integers(0, 256, (N_TEST, 32, 32, 3), dtype=np.uint8),
             y_test=np.zeros(N_TEST, np.uint8))
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    with tfds.testing.mock_data(as_dataset_fn=known_examples, data_dir=str(tfds_root)):
        data.load("cifar10", fast=False)
    assert data.COPIES_USED["cifar10"].source == "$COURSE_DATA_DIR"


def test_damaged_tfds_records_are_refused(tfds_root):
    prepare(tfds_root, "cifar10")

    def bad_labels(self, split, **kwargs):
        return known_examples(self, split).map(lambda ex: {**ex, "label": ex["label"] + 10})

    with tfds.testing.mock_data(as_dataset_fn=bad_labels, data_dir=str(tfds_root)):
        with pytest.raises(data.DatasetCorruptedError, match=r"labels outside 0\.\.9"):
            data.load("cifar10", fast=False)


def test_an_unprepared_tfds_folder_and_the_error_name_the_tfds_route(tfds_root):
    (tfds_root / "cifar100" / "3.0.1").mkdir(parents=True)  # an older TFDS's copy
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("cifar100", fast=False)
    message = str(err.value)
    for part in ("cifar100 not found", f"TFDS data dir {tfds_root}", "3.0.2 is not prepared",
                 "it has 3.0.1", "tfds build cifar100", "TFDS_DATA_DIR", "COURSE_DOWNLOADER=tfds",
                 "connect to the internet"):
        assert part in message, part


# --- downloads through TFDS (COURSE_DOWNLOADER=tfds) ------------------------------------------


@pytest.fixture
def online(monkeypatch):
    reachable = lambda url, timeout=3.0: True  # noqa: E731 - a stand-in for host_reachable
    monkeypatch.setattr(data.sources, "host_reachable", reachable)
    monkeypatch.setenv("COURSE_DOWNLOADER", "tfds")


def test_a_missing_data_set_is_downloaded_through_tfds_with_checksums(tfds_root, online):
    seen = {}

    def download_and_prepare(self, *, download_config=None, **kwargs):
        seen["config"] = download_config
        prepare(tfds_root, self.name, builder=self)  # what a successful download leaves

    with tfds.testing.mock_data(as_dataset_fn=known_examples, data_dir=str(tfds_root)), \
            downloads_with(download_and_prepare):
        (x, y), _ = data.load("cifar10", fast=False)
    assert seen["config"].force_checksums_validation is True  # every file against its sha256
    assert seen["config"].try_download_gcs is False  # the original files, not TFDS's mirror
    copy = data.COPIES_USED["cifar10"]
    assert copy.source == "download (TFDS)" and "sha256 the course pins" in copy.verified
    assert x.shape == (N_TRAIN, 32, 32, 3)


def test_a_download_with_a_wrong_checksum_is_a_corrupted_error(tfds_root, online):
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    def download_and_prepare(self, **kwargs):
        raise NonMatchingChecksumError("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")

    with tfds.testing.mock_data(data_dir=str(tfds_root)), downloads_with(download_and_prepare):
        with pytest.raises(data.DatasetCorruptedError, match="published sha256.*not used"):
            data.load("cifar10", fast=False)


def test_tfds_pins_the_digests_the_course_pins_and_a_difference_refuses_the_download(
        tfds_root, online, monkeypatch):
    for name in course_tfds.TFDS_NAMES:
        assert course_tfds.pinned_mismatch(name) is None, name
    url = course_tfds.urls("cifar10")[0]
    monkeypatch.setitem(data.TFDS_URL_SHA256, "cifar10", {url: "0" * 64})
    with tfds.testing.mock_data(data_dir=str(tfds_root)), downloads_with(never_download):
        with pytest.raises(data.DatasetNotFoundError, match="refused: tensorflow-datasets"):
            data.load("cifar10", fast=False)


def test_tfds_downloads_fail_fast_offline_and_the_downloader_is_checked(tfds_root, monkeypatch):
    monkeypatch.setenv("COURSE_DOWNLOADER", "tfds")
    with pytest.raises(data.DatasetNotFoundError,
                       match="download through TFDS from www.cs.toronto.edu .no network"):
        data.load("cifar10", fast=False)
    monkeypatch.setenv("COURSE_DOWNLOADER", "torch")
    with pytest.raises(data.DatasetNotFoundError, match="'torch' is not a downloader"):
        data.load("cifar10", fast=False)


# --- tf_flowers: a photo data set only TFDS serves -----------------------------------------


def test_flowers_from_a_prepared_copy_at_the_size_asked(tfds_root, capsys):
    prepare(tfds_root, "tf_flowers", {"train": 40})
    with tfds.testing.mock_data(num_examples=40, data_dir=str(tfds_root)):  # random sizes
        (x, y), (xt, yt) = data.load_tfds("tf_flowers", image_size=48, fast=False)
    assert x.shape == (32, 48, 48, 3) and xt.shape == (8, 48, 48, 3) and x.dtype == np.uint8
    assert y.max() < 5 and data.class_names("tf_flowers")[0] == "dandelion"
    assert data.COPIES_USED["tf_flowers"].tfds_version == "3.0.1"
    assert "converting TFDS tf_flowers to 48x48" in capsys.readouterr().err


def test_flowers_are_cropped_to_their_central_square(tfds_root):
    prepare(tfds_root, "tf_flowers", {"train": 10})

    def wide_photos(self, split, **kwargs):  # 20 x 60: a bright 20 x 20 centre, dark sides
        image = np.zeros((20, 60, 3), np.uint8)
        image[:, 20:40] = 200
        return tf.data.Dataset.from_tensor_slices(
            {"image": np.stack([image] * 10), "label": np.arange(10) % 5})

    with tfds.testing.mock_data(as_dataset_fn=wide_photos, data_dir=str(tfds_root)):
        (x, y), (xt, yt) = data.load_tfds("tf_flowers", image_size=8, test_fraction=0.3,
                                          fast=False)
    assert len(x) == 7 and len(xt) == 3 and (x == 200).all()
    assert sorted(np.concatenate([y, yt])) == sorted(np.arange(10) % 5)


def test_no_flowers_offline_is_an_error_never_fake_data(tfds_root):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_tfds("tf_flowers")
    message = str(err.value)
    for part in ("tf_flowers not found", "no network", "TensorFlow Datasets",
                 "tfds build tf_flowers", str(tfds_root)):
        assert part in message, part
    with pytest.raises(data.UnknownDatasetError, match="load_tfds serves tf_flowers"):
        data.load_tfds("imagenet2012")
    with pytest.raises(data.UnknownDatasetError, match="course.data.load_tfds"):
        data.load("tf_flowers")


# --- python -m course data NAME says which source served the data ---------------------------


def test_the_data_command_reports_the_tfds_version_and_data_dir(tfds_root, capsys):
    from course.__main__ import main

    prepare(tfds_root, "cifar10")
    with tfds.testing.mock_data(as_dataset_fn=known_examples, data_dir=str(tfds_root)):
        assert main(["data", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert "source: TFDS" in out and "TFDS version: cifar10 3.0.2" in out
    assert f"data dir {tfds_root}" in out and str(tfds_root / "cifar10" / "3.0.2") in out
