"""The sandbox's walls, tried by a student's notebook from the inside.

Two students' notebooks (the toy exercise, right answers) carry an extra cell that tries what a
hostile class tried: read the solutions and the nbgrader source folder by absolute path, list and
write the other students' submissions, write the gradebook, connect to a server on 127.0.0.1,
signal the grader, start detached processes, fork without end, fill the disk, and plant files
for the next student. Each attempt is recorded in the cell's output, which the test reads from
the graded notebook; the grades, the gradebook and the host are checked from outside.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import nbformat
import pytest
from toy_exercise import answer, for_real, needs_bwrap, solved, submit, toy_root

from course.grading.notebooks.batch import Batch, autograde
from course.grading.notebooks.sandbox import NotebookLimits

MARKER = "6017.25"  # a sleep that only these tests start: no such process may outlive grading

PROBE = r'''
import json, os, signal, socket, subprocess, time
tried = {}
def attempt(name, action):
    try:
        tried[name] = "allowed: " + repr(action())[:120]
    except BaseException as err:
        tried[name] = "refused: " + type(err).__name__

attempt("read_solutions", lambda: open(SOLUTIONS).read(100))
attempt("list_submissions", lambda: os.listdir(SUBMITTED))
attempt("read_other", lambda: open(OTHER).read(100))
attempt("write_other", lambda: open(OTHER, "w").write("{}"))
attempt("write_gradebook", lambda: open(GRADEBOOK, "a").write("mallory,99_toy,100"))
attempt("write_system", lambda: open("/usr/lib/planted", "w"))
attempt("connect", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2).recv(5))
attempt("signal_parent", lambda: os.kill(os.getppid(), signal.SIGSTOP))
tried["processes_seen"] = len([p for p in os.listdir("/proc") if p.isdigit()])
subprocess.Popen(["sleep", MARKER], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    subprocess.Popen(["sleep", MARKER])
    os._exit(0)
def fork_bomb():
    started = 0
    try:
        for _ in range(3000):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            started += 1
    except OSError:
        pass
    return started
tried["forks"] = fork_bomb()
def fill():
    written = 0
    with open(os.path.expanduser("~/big"), "wb") as f:
        try:
            while written < 4 << 30:
                f.write(b"x" * (1 << 20))
                f.flush()
                written += 1 << 20
        except OSError as err:
            return written, type(err).__name__
    return written, None
tried["fill"] = fill()
os.remove(os.path.expanduser("~/big"))
tried["planted_before"] = [p for p in ("/tmp/planted", os.path.expanduser("~/planted"))
                           if os.path.exists(p)]
for p in ("/tmp/planted", os.path.expanduser("~/planted")):
    open(p, "w").write("for the next student")
print("TRIED " + json.dumps(tried))
'''


def _server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"hello")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sandbox")
    root = toy_root(tmp_path)
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    server = _server()
    right = solved(root)
    other = submit(submitted, "bob", right)
    out.mkdir()
    (out / "gradebook.csv").write_text("student\n")
    setup = (f"SOLUTIONS = {str(root / 'solutions' / '99_toy.ipynb')!r}\n"
             f"SUBMITTED = {str(submitted)!r}\nOTHER = {str(other)!r}\n"
             f"GRADEBOOK = {str(out / 'gradebook.csv')!r}\n"
             f"PORT = {server.getsockname()[1]}\nMARKER = {MARKER!r}\n")
    for student in ("alice", "carol"):
        nb = answer(right, 4, right.cells[4].source + "\n" + setup + PROBE)
        submit(submitted, student, nb)
    limits = NotebookLimits(time_s=90, memory_mb=1024, processes=64, home_mb=32, tmp_mb=32)
    try:
        with for_real():
            grades = {g.student: g for g in autograde(Batch(submitted, out, root, limits=limits))}
    finally:
        server.close()
    tried = {}
    for student in ("alice", "carol"):
        nb = nbformat.read(out / "autograded" / student / "99_toy.ipynb", as_version=4)
        text = "".join(o.get("text", "") for o in nb.cells[4].outputs)
        tried[student] = json.loads(text.split("TRIED ", 1)[1].splitlines()[0])
    return grades, tried, other, out


@needs_bwrap
def test_the_instructors_and_other_students_files_are_out_of_reach(probed):
    _, tried, other, out = probed
    for name in ("read_solutions", "list_submissions", "read_other", "write_other",
                 "write_gradebook", "write_system"):
        assert tried["alice"][name].startswith("refused"), (name, tried["alice"][name])
    assert other.read_text().startswith("{") and len(other.read_text()) > 100
    assert "mallory" not in (out / "gradebook.csv").read_text()


@needs_bwrap
def test_no_network_and_no_way_to_the_grader(probed):
    grades, tried, _, _ = probed
    assert tried["alice"]["connect"].startswith("refused")
    assert tried["alice"]["processes_seen"] < 10  # its own pid namespace
    assert grades["alice"].status == "completed"  # the SIGSTOP reached nobody outside


@needs_bwrap
def test_processes_disk_and_detached_processes_are_bounded(probed):
    grades, tried, _, _ = probed
    assert tried["alice"]["forks"] < 64  # the cgroup's process limit (or the sandbox's)
    written, error = tried["alice"]["fill"]
    assert error is not None and written <= 32 << 20  # the home's size
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {MARKER}"], capture_output=True,
                               text=True).stdout.split()
    assert leftovers == [], "a process of the student's outlived the notebook"


@needs_bwrap
def test_nothing_planted_reaches_the_next_student_and_grades_stand(probed):
    grades, tried, _, _ = probed
    assert tried["alice"]["planted_before"] == [] and tried["carol"]["planted_before"] == []
    assert {s: (g.points, g.status) for s, g in grades.items()} == {
        "alice": (5, "completed"), "bob": (5, "completed"), "carol": (5, "completed")}


@needs_bwrap
def test_the_kernel_sees_the_course_but_not_the_repository(tmp_path):
    """The course package is importable in the sandbox; the repository around it is not."""
    import course

    root = toy_root(tmp_path)
    repo = os.path.dirname(os.path.dirname(course.__file__))
    probe = (f"import course, json, os\nprint('SEES ' + json.dumps(sorted(os.listdir({repo!r}))))")
    submit(tmp_path / "sub", "dan", answer(solved(root), 4, solved(root).cells[4].source
                                           + "\n" + probe))
    with for_real():
        autograde(Batch(tmp_path / "sub", tmp_path / "out", root, limits=NotebookLimits(time_s=60)))
    nb = nbformat.read(tmp_path / "out" / "autograded" / "dan" / "99_toy.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    seen = set(json.loads(text.split("SEES ", 1)[1].splitlines()[0]))
    # the package, and the virtual environment where it lives inside the repository (the one
    # running these tests: .venv-oldest under make test-oldest)
    venvs = {".venv", "venv"}
    inside = os.path.relpath(os.path.realpath(sys.prefix), os.path.realpath(repo))
    if not inside.startswith(os.pardir):
        venvs.add(inside.split(os.sep)[0])
    assert "course" in seen and seen <= {"course", *venvs}, seen
