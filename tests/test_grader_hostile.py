"""Hostile submissions: each gets its verdict, fast, and the batch goes on.

Every file is crafted in the test (small; the "huge" ones are sparse files, or configs that
only declare huge layers). What is asserted: no code from a file runs, every entry of a folder
gets exactly one row with the expected cause, and the verdicts that could take minutes or tens
of GB (zip bombs, huge layers, huge activations, slow models) arrive in seconds.
"""
from __future__ import annotations

import json
import os
import stat
import time
import zipfile

import keras
import pytest

from course import grading
from course.__main__ import main
from course.grading.artifact import worker as sandbox
from tests.test_grader import colour_model, save, write_fixture


def edit_config(src, dst, change):
    """Copy a .keras file, passing its parsed config.json through ``change(config)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                change(config)
                content = json.dumps(config).encode()
            zout.writestr(item, content)
    return dst


def add_members(src, dst, members, compression=zipfile.ZIP_STORED):
    """Copy a .keras file and add ``members`` ({ZipInfo or name: bytes})."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        for name, content in members.items():
            zout.writestr(name, content, compress_type=compression)
    return dst


def layers_of(config):
    return config["config"]["layers"]


def _with_dense(config, units):
    for layer in layers_of(config):
        if layer["config"]["name"] == "hidden":
            layer["config"]["units"] = units


def hidden_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Dense(4, name="hidden")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(100, name="logits")(x))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def fixture(monkeypatch, tmp_path):
    return write_fixture(tmp_path / "data", monkeypatch)


def build_hostile_folder(folder, marker):
    """A folder of one good submission and many hostile ones; returns {name: expected cause}."""
    import pickle

    folder.mkdir(parents=True)
    base = save(hidden_model(), folder.parent / "base.keras")
    good = grading.export_submission(colour_model(), folder / "good.keras")
    expected = {"good.keras": ""}

    os.mkfifo(folder / "fifo.keras")
    expected["fifo.keras"] = "not_regular"
    if os.geteuid() == 0:  # creating a device node needs root
        os.mknod(folder / "device.keras", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
        expected["device.keras"] = "not_regular"
    os.symlink(good, folder / "link_to_good.keras")
    expected["link_to_good.keras"] = "symlink"
    (folder / "savedmodel.keras").mkdir()
    (folder / "savedmodel.keras" / "saved_model.pb").write_bytes(b"\x08\x01")
    expected["savedmodel.keras"] = "not_regular"
    with open(folder / "huge_file.keras", "wb") as f:
        f.truncate(3 << 30)  # 3 GiB, sparse: takes no disk space
    expected["huge_file.keras"] = "too_large"
    (folder / "empty.keras").write_bytes(b"")
    expected["empty.keras"] = "empty"

    add_members(base, folder / "zip_bomb.keras", {"padding.bin": bytes(40 << 20)},
                zipfile.ZIP_DEFLATED)
    expected["zip_bomb.keras"] = "zip_bomb"
    add_members(base, folder / "traversal.keras", {"../../../tmp/evil.sh": b"echo pwned"})
    expected["traversal.keras"] = "unsafe_entry"
    link = zipfile.ZipInfo("assets/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    add_members(base, folder / "zip_symlink.keras", {link: b"/etc/passwd"})
    expected["zip_symlink.keras"] = "unsafe_entry"
    add_members(base, folder / "pickle_inside.keras",
                {"payload.pkl": pickle.dumps(_RunsCode(marker))})
    expected["pickle_inside.keras"] = ""  # graded normally: the pickle is never read

    edit_config(base, folder / "huge_weights.keras", lambda c: _with_dense(c, 4_000_000))
    expected["huge_weights.keras"] = "memory"  # 3072 x 4M float32 = 49 GB
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.UpSampling2D(64)(inputs))
    save(keras.Model(inputs, keras.layers.Dense(100)(x)), folder / "huge_activations.keras")
    expected["huge_activations.keras"] = "memory"  # 100 x 2048 x 2048 x 3 floats per batch

    def os_system(config):
        layers_of(config)[-1]["config"]["activation"] = {
            "module": "os", "class_name": "function", "config": "system",
            "registered_name": None}

    edit_config(base, folder / "os_system.keras", os_system)
    expected["os_system.keras"] = "foreign_object"

    def popen(config):
        layers_of(config)[1] = {"module": "subprocess", "class_name": "Popen",
                                "config": {"args": ["touch", str(marker)], "name": "flatten"},
                                "registered_name": None, "name": "flatten",
                                "inbound_nodes": layers_of(config)[1]["inbound_nodes"]}

    edit_config(base, folder / "popen.keras", popen)
    expected["popen.keras"] = "foreign_object"

    def string_lookup(config):  # a Keras layer that fails to rebuild: not called "Lambda"
        layers_of(config)[1]["class_name"] = "StringLookup"

    edit_config(base, folder / "string_lookup.keras", string_lookup)
    expected["string_lookup.keras"] = "keras_load"
    return expected


def test_a_folder_of_hostile_entries_gets_one_row_each(fixture, tmp_path, capsys):
    marker = tmp_path / "pwned"
    folder = tmp_path / "submissions"
    expected = build_hostile_folder(folder, marker)
    capsys.readouterr()
    started = time.monotonic()
    code = main(["grade", "cifar100", str(folder), "--json", "--csv", str(tmp_path / "g.csv")])
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    summary = json.loads(out.out)
    rows = {os.path.basename(r["path"]): r for r in summary["reports"]}
    assert sorted(rows) == sorted(expected)
    for name, cause in expected.items():
        assert rows[name]["cause"] == cause, (name, rows[name])
        assert rows[name]["verdict"] == ("UNUSABLE" if cause else
                                         "PASS" if name == "good.keras" else "FAIL"), rows[name]
        assert rows[name]["seconds"] < 8, (name, rows[name]["seconds"])
    assert code == 2 and summary["exit_code"] == 2
    assert not marker.exists() and not os.path.exists("/tmp/evil.sh")
    assert "Traceback" not in out.out + out.err
    assert elapsed < 45


def test_the_memory_limit_holds_per_artifact(fixture, tmp_path):
    """A model that needs 49 GB is stopped by RLIMIT_AS in its own process, in seconds."""
    base = save(hidden_model(), tmp_path / "base.keras")
    path = edit_config(base, tmp_path / "big.keras", lambda c: _with_dense(c, 400_000))
    # 3072 x 400k float32 = 4.9 GB, over a 1 GiB budget.
    report = grading.grade_artifact(path, limits=grading.Limits(memory_mb=1024))
    assert report.cause == "memory" and report.seconds < 8
    assert "memory limit" in report.reason


def _slow_model(path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.UpSampling2D(8)(inputs)
    x = keras.layers.Conv2D(32, 7)(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(32, 7)(x))
    return save(keras.Model(inputs, keras.layers.Dense(100)(x)), path)


def test_a_slow_model_is_stopped_by_its_projected_time(fixture, tmp_path):
    path = _slow_model(tmp_path / "slow.keras")
    started = time.monotonic()
    report = grading.grade_artifact(path, limits=grading.Limits(time_s=4, batch_size=4))
    assert report.cause == "too_slow", report
    assert "evaluating it would take about" in report.reason and "limit is 4 s" in report.reason
    assert time.monotonic() - started < 15


def _one_slow_batch_model(path):
    """One image costs about 390 G multiply-adds (40 3x3 convolutions of 64 channels at
    512 x 512): seconds per batch on any CPU (1.8 s at 437 GFLOP/s, the fastest here), with
    about 0.7 GB of scratch memory per image even where oneDNN goes through im2col."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(64, 3, padding="same")(keras.layers.UpSampling2D(16)(inputs))
    for _ in range(40):
        x = keras.layers.Conv2D(64, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return save(keras.Model(inputs, keras.layers.Dense(100)(x)), path)


def test_a_model_over_the_time_limit_is_killed(fixture, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "GRACE_S", 0.5)
    path = _one_slow_batch_model(tmp_path / "slow.keras")
    started = time.monotonic()
    # The worker projects the total time after each batch and stops a hopeless model itself
    # ("too_slow"); the parent's clock is what stops a model before its first batch ends. One
    # image per batch: its first batch takes longer than the 0.3 s limit plus the 0.5 s grace.
    report = grading.grade_artifact(path, limits=grading.Limits(time_s=0.3, batch_size=1))
    assert report.cause == "timeout", report
    assert "did not finish within the time limit of 0.3 s" in report.reason
    assert time.monotonic() - started < 30  # killed, not run to the end (hours); start-up included


def test_an_unreadable_file_is_not_called_a_non_zip(fixture, tmp_path, monkeypatch):
    path = save(colour_model(), tmp_path / "locked.keras")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: refuse the open as for an ordinary user
        from course.grading.artifact import precheck

        real_open = os.open

        def deny(p, flags, *args, **kwargs):  # os.open is global: shutil.rmtree uses it too
            if os.fspath(p) == str(path):
                raise PermissionError(13, "Permission denied", str(p))
            return real_open(p, flags, *args, **kwargs)

        monkeypatch.setattr(precheck.os, "open", deny)
    try:
        report = grading.grade_artifact(path)
    finally:
        path.chmod(0o600)
    assert report.cause == "unreadable" and "Permission denied" in report.reason
    assert "zip" not in report.reason


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
def test_a_child_killed_by_a_signal_is_a_verdict_and_the_next_artifact_is_graded(fixture,
                                                                                  tmp_path):
    import signal
    import threading

    from course.grading.artifact.grader import Grader

    slow = _slow_model(tmp_path / "slow.keras")
    good = save(colour_model(), tmp_path / "good.keras")
    with Grader("cifar100", grading.Limits(time_s=60)) as grader:
        reports = []
        worker = threading.Thread(target=lambda: reports.append(grader.grade(slow)))
        worker.start()
        deadline = time.monotonic() + 20
        while not _children(grader.sandbox.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        for child in _children(grader.sandbox.proc.pid):
            os.kill(child, signal.SIGTERM)
        worker.join(30)
        assert reports and reports[0].cause == "crashed", reports
        assert "died (SIGTERM)" in reports[0].reason
        assert grader.grade(good).verdict == "PASS"
