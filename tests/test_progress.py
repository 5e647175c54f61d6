"""course.progress: a live bar where someone watches, one line per item in logs, never stdout."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from course import progress


def test_lines_mode_one_line_per_item_on_stderr_only(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "lines")
    files = [Path("/submissions/alice.keras"), "bob.keras", "carol/"]
    seen = list(progress.track(files, description="grading", unit="file"))
    out, err = capsys.readouterr()
    assert seen == files and out == ""
    lines = err.splitlines()
    assert [l.split(" (")[0] for l in lines[:3]] == [
        "grading 1/3: alice.keras", "grading 2/3: bob.keras", "grading 3/3: carol"]
    assert lines[3].startswith("grading: 3 files in ") and len(lines) == 4


def test_a_line_is_printed_before_its_item_runs(monkeypatch, capsys):
    """A log shows which item a job is on, so a hang points at its cause."""
    monkeypatch.setenv("COURSE_PROGRESS", "lines")
    for number, item in enumerate(progress.track(iter(["a", "b"]), description="job"), 1):
        assert capsys.readouterr().err.startswith(f"job {number}: {item} (")  # no len(): no total


def test_auto_without_a_terminal_or_notebook_prints_lines(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_PROGRESS", raising=False)
    assert not progress.live_display()  # pytest captures stderr: no TTY, no kernel
    assert progress.mode() == "lines"
    list(progress.track(range(2), description="reading", unit="batch"))
    err = capsys.readouterr().err
    assert "reading 1/2 (" in err and "reading: 2 batches in" in err


def test_bar_mode_draws_a_tqdm_bar_on_stderr(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "bar")
    total = 0
    for i in progress.track(range(5), description="converting", unit="batch"):
        total += i
        if i == 2:
            progress.line("halfway")  # written above the bar, not through it
    out, err = capsys.readouterr()
    assert total == 10 and out == ""
    assert "converting" in err and "5/5" in err and "halfway\n" in err
    assert progress._BARS == []


def test_breaking_out_closes_the_bar(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "bar")
    items = progress.track(range(100), description="stopping")
    for i in items:
        if i == 3:
            break
    items.close()
    assert progress._BARS == []
    assert "stopping" in capsys.readouterr().err


def test_off_is_silent_and_a_bad_value_falls_back_to_auto(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    assert list(progress.track([1, 2, 3])) == [1, 2, 3]
    progress.line("nothing")
    assert capsys.readouterr() == ("", "")
    monkeypatch.setenv("COURSE_PROGRESS", "loud")
    with pytest.warns(UserWarning, match="not one of auto, bar, lines, off"):
        assert progress.mode() == "lines"


def test_a_terminal_gets_a_live_bar_and_a_pipe_gets_lines(tmp_path):
    """The real detection, in a child process whose stderr is a pseudo-terminal or a pipe."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    script = ("from course import progress\n"
              "for _ in progress.track(range(3), description='grading', unit='file'): pass\n"
              "print(progress.mode())\n")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_PROGRESS"}
    piped = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=60)
    assert piped.stdout.strip() == "lines" and "grading 3/3" in piped.stderr

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    child = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                           stderr=follower, env=env, timeout=60)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child has gone and the terminal is drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    drawn = b"".join(chunks).decode(errors="replace")
    assert child.stdout.decode().strip() == "bar"
    assert "\r" in drawn and "3/3" in drawn and "grading 3/3 (" not in drawn


def test_import_is_light():
    """Scripts that only execute notebooks or grade can use progress without loading Keras."""
    code = ("import sys; import course.progress; "
            "print(any(m in sys.modules for m in ('keras', 'tensorflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_grading_a_folder_reports_each_file_on_stderr_and_keeps_the_json_intact(
        monkeypatch, tmp_path, capsys):
    """``grade TASK FOLDER --json``: stdout is the JSON document alone; stderr has one line per
    file, with a hostile file name escaped (no forged line)."""
    import json

    import numpy as np

    from course.__main__ import main
    from course.grading.artifact import grader

    class NoWorker:  # these files are refused before any model would reach a worker
        def start(self):
            pass

        def run(self, job):
            raise AssertionError("no worker job expected")

    monkeypatch.setenv("COURSE_PROGRESS", "lines")
    monkeypatch.setattr(grader, "shared", NoWorker)
    monkeypatch.setattr(grader, "load_test_set", lambda task: grader.TestSet(
        np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64), None,
        {"name": "cifar10", "path": "(test)", "sha256": None, "verified": None}))
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("alice.keras", "bob\nPASS.keras"):
        (folder / name).write_bytes(b"not a zip")
    assert main(["grade", "cifar10", str(folder), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["counts"]["UNUSABLE"] == 2
    lines = err.splitlines()
    assert lines[0].startswith("grading 2 file(s) under ")
    assert "grading cifar10 1/2: " in lines[1] and lines[1].split(" (")[0].endswith("alice.keras")
    assert "bob\\nPASS.keras" in lines[2] and not any(l.startswith("PASS") for l in lines)
    assert lines[3].startswith("grading cifar10: 2 files in")
