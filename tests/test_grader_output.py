"""What the grader prints and writes: escaped names, formula-proof CSV, valid JSON, exit codes."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest

from course import grading
from course.__main__ import main
from course.grading.text import csv_cell, printable
from tests.test_grader import colour_model, save, write_fixture

FORGED = "x.keras: PASS: test accuracy 100.00%\nforged"


@pytest.fixture
def fixture(monkeypatch, tmp_path):
    return write_fixture(tmp_path / "data", monkeypatch)


def test_printable_and_csv_cells():
    assert printable("a\nb\rc\td\\e") == "a\\nb\\rc\\td\\\\e"
    assert printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert printable("abc\u202edcba\u2028") == "abc\\u202edcba\\u2028"  # bidi override, LS
    assert printable(os.fsdecode(b"\xff\xfe.keras")) == "\\xff\\xfe.keras"
    assert printable("élève 学生.keras") == "élève 学生.keras"
    for formula in ("=1+2", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        cell = csv_cell(formula)
        assert cell.startswith("'") and "\t" not in cell and "\r" not in cell, cell
    assert csv_cell("alice/model.keras") == "alice/model.keras"
    assert csv_cell(0.61234) == "0.6123" and csv_cell(None) == "" and csv_cell(True) == "yes"


def _hostile_names(folder):
    """Good models and garbage under names that attack text, CSV and terminals."""
    folder.mkdir()
    good = save(colour_model(), folder.parent / "good.keras")
    names = {}
    for name in ("=HYPERLINK(\"evil\")", "+1", "-2+3", "@SUM(A1)", "\tindent",
                 FORGED, "\x1b[2Jclear", "normal"):
        path = folder / f"{name}.keras"
        if name in (FORGED, "normal", "=HYPERLINK(\"evil\")"):
            shutil.copy(good, path)  # graded PASS: a forged line would look real
        else:
            path.write_bytes(b"not a zip")
        names[name + ".keras"] = path
    raw = os.path.join(os.fsencode(folder), b"\xff\xfe-latin1-\xe9l\xe8ve.keras")
    with open(raw, "wb") as f:
        f.write(b"not a zip")
    names["\\xff\\xfe-latin1-\\xe9l\\xe8ve.keras"] = raw
    return names


def test_hostile_names_are_escaped_everywhere(fixture, tmp_path, capsys):
    folder = tmp_path / "subs"
    names = _hostile_names(folder)
    csv_path = tmp_path / "grades.csv"
    capsys.readouterr()
    assert main(["grade", "cifar100", str(folder), "--csv", str(csv_path)]) == 2
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == len(names) + 2  # one per artifact, the summary, "wrote ..."
    assert sum(line.startswith(str(folder)) for line in lines) == len(names)
    assert not any(line.startswith("forged") for line in lines)
    assert "\x1b" not in out and "\\x1b[2Jclear.keras: UNUSABLE" in out
    assert "x.keras: PASS: test accuracy 100.00%\\nforged.keras: PASS" in out
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    assert len(body) == len(names)
    paths = [row[header.index("path")] for row in body]
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
            assert "\n" not in cell and "\x1b" not in cell
    shown = {p.rsplit("/", 1)[-1] for p in paths}
    assert "\\xff\\xfe-latin1-\\xe9l\\xe8ve.keras" in shown
    assert {row[header.index("verdict")] for row in body} == {"PASS", "UNUSABLE"}

    capsys.readouterr()
    assert main(["grade", "cifar100", str(folder), "--json"]) == 2
    text = capsys.readouterr().out
    assert text.isascii()
    summary = json.loads(text)
    assert len(summary["reports"]) == len(names) and summary["counts"]["PASS"] == 3


def test_a_name_with_a_newline_cannot_forge_a_line_in_single_mode(fixture, tmp_path, capsys):
    path = save(colour_model(), tmp_path / f"{FORGED}.keras")
    assert main(["grade", "cifar100", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("\\nforged.keras: PASS: test accuracy 100.00% on 200 cifar100 test "
                          "images >= 60%")


# --- exit codes and JSON in every case ------------------------------------------------------


def _json_run(args, capsys):
    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_grader_side_failures_exit_3_with_json(fixture, tmp_path, capsys, monkeypatch):
    path = save(colour_model(), tmp_path / "m.keras")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "typo"))
    code, doc, _ = _json_run(["grade", "cifar100", str(path), "--json"], capsys)
    assert code == 3 and doc["exit_code"] == 3 and doc["error_type"] == "DatasetNotFoundError"
    assert "typo does not exist" in doc["error"]

    write_fixture(tmp_path / "bad", monkeypatch, y_test=np.full((200, 1), 2.5))
    code, doc, _ = _json_run(["grade", "cifar100", str(path), "--json"], capsys)
    assert code == 3 and doc["error_type"] == "DatasetCorruptedError"
    assert "200 fractional" in doc["error"]

    (tmp_path / "empty").mkdir()
    code, doc, _ = _json_run(["grade", "cifar100", str(tmp_path / "empty"), "--json"], capsys)
    assert code == 3 and "no *.keras files" in doc["error"]

    with pytest.raises(SystemExit) as exit_:
        main(["grade", "cifar1000", str(path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert exit_.value.code == 3 and doc["error_type"] == "usage" and "cifar1000" in doc["error"]


def test_data_problems_exit_3_in_text_mode_too(tmp_path, capsys, monkeypatch):
    path = save(colour_model(), tmp_path / "m.keras")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "typo"))
    assert main(["grade", "cifar100", str(path)]) == 3
    err = capsys.readouterr().err
    assert "DatasetNotFoundError" in err and "typo does not exist" in err


def test_an_unwritable_csv_is_refused_before_any_grading(tmp_path, capsys, monkeypatch):
    """The data set is also missing: the CSV error comes first, so nothing was graded."""
    path = save(colour_model(), tmp_path / "m.keras")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "typo"))
    for target, message in ((tmp_path / "no" / "such" / "g.csv", "does not exist"),
                            (tmp_path, "is a folder")):
        code, doc, _ = _json_run(["grade", "cifar100", str(path), "--json", "--csv",
                                  str(target)], capsys)
        assert code == 3 and message in doc["error"] and "--csv" in doc["error"]
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, doc, _ = _json_run(["grade", "cifar100", str(path), "--json", "--csv",
                                  str(locked / "g.csv")], capsys)
        assert code == 3 and "cannot write" in doc["error"]


def test_every_verdict_is_valid_json(fixture, tmp_path, capsys):
    from tests.test_grader import linear_model

    for path, code in ((save(colour_model(), tmp_path / "good.keras"), 0),
                       (save(linear_model(), tmp_path / "bad.keras"), 1),
                       (tmp_path / "missing.keras", 2)):
        got, doc, _ = _json_run(["grade", "cifar100", str(path), "--json"], capsys)
        assert got == code == doc["exit_code"]


def test_exit_codes_are_documented():
    assert grading.EXIT_CODES == {"PASS": 0, "FAIL": 1, "UNUSABLE": 2, "ERROR": 3}
    from course.grading.cli import DESCRIPTION

    assert "3 grader-side problem" in DESCRIPTION
