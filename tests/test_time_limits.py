"""Each exercise's grading time limit: derived from its measured cost (``exercises --write``),
read from the instructor's notebook, and scaled to the grading machine's speed
(``course.grading.notebooks.speed``), so an honest notebook is not killed on a slower CPU."""
from __future__ import annotations

import json

import nbformat
import pytest

from course import exercises
from course.grading.notebooks import sandbox, speed

ZEN4 = {"cpu": "AMD EPYC (family 25, model 17)", "native_bfloat16": True,
        "matmul_gflops_float32": 208.2, "matmul_gflops_bfloat16": 409.8}
ZEN3 = {"cpu": "AMD EPYC (family 25, model 1)", "native_bfloat16": False,
        "matmul_gflops_float32": 54.8}


def test_the_limit_is_three_times_the_measured_cost_plus_two_minutes_in_whole_minutes():
    assert exercises.time_limit(15.7) == 180  # 3 * 15.7 + 120 = 167.1 -> 3 min
    assert exercises.time_limit(442.8) == 1500  # 1448.4 -> 25 min
    assert exercises.time_limit(20.0) == 180  # exactly 180: not rounded up further


def test_the_exercise_metadata_keeps_the_measuring_machines_rates(tmp_path):
    costs = tmp_path / exercises.COSTS
    costs.parent.mkdir(parents=True)
    costs.write_text(json.dumps({
        "02_x": {"seconds": 442.8, "status": "completed", "machine": ZEN4, "date": "2026-12-07"},
        "03_x": {"seconds": 15.7, "status": "completed", "machine": ZEN3, "date": "2026-12-06"},
        "04_x": {"seconds": 99.0, "status": "timeout", "machine": ZEN3}}))
    assert exercises.grading_metadata(tmp_path, "02_x") == {
        "time_limit_s": 1500, "measured_s": 442.8,
        "measured_on": "AMD EPYC (family 25, model 17), 2026-12-07",
        "measured_gflops_float32": 208.2, "measured_bfloat16_speedup": 1.97}
    assert exercises.grading_metadata(tmp_path, "03_x")["measured_gflops_float32"] == 54.8
    assert "measured_bfloat16_speedup" not in exercises.grading_metadata(tmp_path, "03_x")
    assert exercises.grading_metadata(tmp_path, "04_x") is None  # never measured to the end


@pytest.mark.parametrize("local, native, expected", [
    (208.2, True, 1.0),    # the measuring machine itself
    (104.1, True, 2.0),    # half its float32 rate
    (104.1, False, 3.94),  # and no native bfloat16: float32 there, bfloat16 here (x1.97)
    (416.4, False, 1.0),   # faster even without bfloat16: never below the stated limit
    (1.0, False, speed.MAX_SLOWDOWN),  # capped: a machine 400x slower, or a rate made up
])
def test_the_slowdown_is_the_ratio_of_training_rates(local, native, expected):
    stated = {"measured_gflops_float32": 208.2, "measured_bfloat16_speedup": 1.97}
    assert speed.slowdown(stated, local_gflops=local, native_bfloat16=native) == pytest.approx(
        expected, rel=1e-3)
    assert speed.slowdown({}, local_gflops=local, native_bfloat16=native) == 1.0


def _notebook(**course):
    nb = nbformat.v4.new_notebook()
    nb.metadata["course"] = course
    return nb


def test_the_grader_scales_the_stated_limit_to_its_machine(monkeypatch):
    monkeypatch.setattr(speed, "local_float32_gflops", lambda: 52.05)  # a quarter of 208.2
    monkeypatch.setattr("course.precision.native_bfloat16", lambda: True)
    nb = _notebook(time_limit_s=1500, measured_gflops_float32=208.2,
                   measured_bfloat16_speedup=1.97)
    assert sandbox.limits_for_notebook(nb).time_s == 6000
    monkeypatch.setattr("course.precision.native_bfloat16", lambda: False)
    assert sandbox.limits_for_notebook(nb).time_s == round(1500 * 4 * 1.97)
    # an instructor's own --time-limit wins, as before
    own = sandbox.NotebookLimits(time_s=60.0)
    assert sandbox.limits_for_notebook(nb, own).time_s == 60.0
    # a notebook measured before rates were recorded keeps its stated limit
    assert sandbox.limits_for_notebook(_notebook(time_limit_s=180)).time_s == 180


def test_the_shipped_exercises_record_their_rates():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "exercises").glob("*.ipynb")):
        stated = nbformat.read(path, as_version=4).metadata.get("course", {})
        assert stated.get("time_limit_s", 0) >= 180, path.name
        assert stated.get("measured_gflops_float32", 0) > 0, path.name


def test_nbgrader_reads_the_limit_from_the_instructors_copy_never_the_students(tmp_path):
    """nbgrader grades the student's copy, whose notebook metadata the student can edit: a
    limit read from it would let a submission stall the batch for as long as it likes."""
    from course.grading.notebooks.nbgrader_support import instructor_notebook

    source = tmp_path / "source" / "03_x"
    source.mkdir(parents=True)
    nbformat.write(_notebook(time_limit_s=180), source / "03_x.ipynb")
    resources = {"nbgrader": {"assignment": "03_x", "notebook": "03_x"}}
    assert sandbox.limits_for_notebook(instructor_notebook(tmp_path, resources)).time_s == 180
    # no instructor's copy (or a name that climbs out of source/): the defaults, not the student's
    for other in ({"assignment": "03_x", "notebook": "missing"},
                  {"assignment": "..", "notebook": "03_x/03_x"}, {}):
        found = instructor_notebook(tmp_path, {"nbgrader": other})
        assert sandbox.limits_for_notebook(found).time_s == sandbox.NotebookLimits().time_s
