"""Grading a whole class: in parallel, resumable, on a Dask cluster, and the same gradebook
every way.

A toy class (no TensorFlow in the kernels: seconds per notebook) is graded serially, with two
local workers, after a ``kill -9`` of the grader mid-batch and a second run, and on a Dask
``LocalCluster`` of two worker processes, one of which is killed mid-batch: every gradebook
equals the serial one (but for the seconds and memory each notebook took).
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_exercise import answer, for_real, needs_bwrap, solved, submit, toy_root

from course.grading.notebooks.batch import Batch, autograde
from course.grading.notebooks.results import LOG
from course.grading.notebooks.runners import thread_env
from course.grading.notebooks.sandbox import NotebookLimits

pytestmark = needs_bwrap
TIMING = {"seconds", "peak_memory_mb"}
CLASS = 5  # students: solved, wrong, unsolved, forger, solved


def gradebook(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as f:
        rows = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    return sorted(rows, key=lambda r: (r["student"], r["exercise"]))


@pytest.fixture(scope="module")
def cls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    root = toy_root(tmp)
    right = solved(root)
    wrong = answer(right, 2, "def double(x):\n    return x + 2")
    unsolved = copy.deepcopy(right)
    unsolved.cells[2].source = unsolved.cells[4].source = "raise NotImplementedError()"
    forger = answer(wrong, 4, right.cells[4].source + "\nimport builtins\n"
                                                      "builtins.AssertionError = KeyError")
    submitted = tmp / "submitted"
    for number in range(CLASS):
        submit(submitted, f"s{number:02d}", [right, wrong, unsolved, forger][number % 4])
    return root, submitted, tmp


@pytest.fixture(scope="module", autouse=True)
def _grades_that_count():
    with for_real():
        yield


@pytest.fixture(scope="module")
def serial(cls):
    root, submitted, tmp = cls
    out = tmp / "serial"
    grades = autograde(Batch(submitted, out, root, limits=NotebookLimits(time_s=60)))
    assert sorted((g.student, g.points) for g in grades) == [
        (f"s{n:02d}", [5, 2, 0, 2][n % 4]) for n in range(CLASS)]
    return gradebook(out)


def test_two_workers_give_the_same_gradebook(cls, serial):
    root, submitted, tmp = cls
    autograde(Batch(submitted, tmp / "two", root, limits=NotebookLimits(time_s=60), workers=2))
    assert gradebook(tmp / "two") == serial


def test_each_worker_gets_its_share_of_the_cores():
    assert thread_env(2, cores=2)["OMP_NUM_THREADS"] == "1"
    assert thread_env(1, cores=8) == {"OMP_NUM_THREADS": "8", "TF_NUM_INTRAOP_THREADS": "8",
                                      "TF_NUM_INTEROP_THREADS": "2"}


def test_a_killed_grader_resumes_where_it_stopped(cls, serial):
    root, submitted, tmp = cls
    out = tmp / "resumed"
    command = [sys.executable, "-m", "course", "autograde", str(submitted), "--out", str(out),
               "--root", str(root), "--time-limit", "60"]
    env = {k: v for k, v in os.environ.items() if k != "COURSE_FAST"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / LOG
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the grader and the notebook in flight
    first.wait()
    done = log.read_text().count("\n")
    assert 1 <= done < CLASS, "the kill came too late to test a resume"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"{done} notebook(s) already graded" in second.stdout
    assert gradebook(out) == serial
    assert log.read_text().count("\n") == CLASS  # nothing graded twice


def test_a_dask_cluster_loses_nothing_when_a_worker_dies(cls, serial):
    distributed = pytest.importorskip("distributed")
    from course.grading.notebooks.runners import DaskRunner

    root, submitted, tmp = cls
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        runner = DaskRunner(client)
        killed = []

        def kill_one_worker(grade):
            if not killed:  # after the first result, a worker with work left dies
                pids = client.run(os.getpid)
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        out = tmp / "dask"
        autograde(Batch(submitted, out, root, limits=NotebookLimits(time_s=60), runner=runner),
                  on_grade=kill_one_worker)
    assert killed
    assert gradebook(out) == serial


def test_a_grader_error_is_graded_again_by_the_next_run(cls, serial):
    """The grader's own failure (a job that died, a kernel that did not start) is not the
    student's: running the same command again grades that notebook again, and only that one."""
    root, submitted, tmp = cls
    out = tmp / "retried"
    shutil.copytree(tmp / "serial", out)
    lines = (out / LOG).read_text().splitlines()
    record = json.loads(lines[0])
    record["grade"].update(status="grader_error", cells=[])  # no cell passed: 0 points
    (out / LOG).write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    autograde(Batch(submitted, out, root, limits=NotebookLimits(time_s=60)))
    assert gradebook(out) == serial
    assert (out / LOG).read_text().count("\n") == CLASS + 1  # one notebook graded again
