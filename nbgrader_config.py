"""nbgrader configuration for this course's exercises (nbgrader 0.9; see the README, "Exercises
and grading").

Use it in a course directory, not in the repository: ``python -m course release dist/student
--course-dir grading`` copies this file to ``grading/`` and lays out ``grading/source/NN_topic/
NN_topic.ipynb`` from ``solutions/`` (whose nbgrader cell metadata ``python -m course exercises
--write`` maintains) and the answer keys in ``grading/instructor/``. Then, in ``grading/``::

    nbgrader generate_assignment 01_mnist_term_project   # release/...: equals exercises/
    nbgrader collect 01_mnist_term_project               # or copy into submitted/STUDENT/...
    nbgrader autograde 01_mnist_term_project             # full mode: COURSE_FAST unset
    nbgrader generate_feedback 01_mnist_term_project
    nbgrader export                                      # grades.csv

Autograding runs the notebooks for real (full-mode training: hours on a CPU), so the cell
timeout is 3 hours. ``COURSE_FAST=1`` makes every notebook a one-minute smoke test whose checks
are not grades; ``nbgrader autograde`` refuses it unless ``COURSE_DRY_RUN=1`` says that this is
a dry run of the pipeline whose scores do not count.
"""
import os
import sys

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))
TRUE = {"1", "true", "yes", "on"}

# The course directory is the folder holding this file; the standard nbgrader layout.
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "source"        # the solutions, with nbgrader metadata
c.CourseDirectory.release_directory = "release"      # what students get (equals exercises/)
c.CourseDirectory.submitted_directory = "submitted"  # submitted/STUDENT/ASSIGNMENT/*.ipynb
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# Training output and exported models are not part of an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs",
                            "submission"]

# The placeholder of exercises/ (course/exercises.py PLACEHOLDER), so that the release equals it.
c.ClearSolutions.code_stub = {
    "python": 'raise NotImplementedError("Your code here: see the instructions above.")'}
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# One cell may train a model for real: the default 30 s would grade a half-trained model.
c.Execute.timeout = 3 * 60 * 60
c.Execute.interrupt_on_timeout = True  # a cell that hangs is stopped; later cells still run
# The kernels' channels encrypted (CurveZMQ) where jupyter_client and libzmq can: otherwise
# ipykernel warns at every notebook that they are plain text, readable by others on the machine.
try:
    from course.grading.notebooks.kernel import kernel_encryption

    _encryption = kernel_encryption()  # "auto" (if the kernel can) or None
except ImportError:  # nbgrader run where the course package is not installed: plain channels
    _encryption = None
if _encryption:
    c.KernelManager.transport_encryption = _encryption
# A check cell a student deleted comes back (and grades what the student left).
c.OverwriteCells.add_missing_cells = True

# Autograding never runs in fast mode, except as an announced dry run.
_fast = os.environ.get("COURSE_FAST", "").strip().lower() in TRUE
_dry_run = os.environ.get("COURSE_DRY_RUN", "").strip().lower() in TRUE
if _fast and sys.argv[1:2] == ["autograde"] and not _dry_run:
    raise SystemExit(
        "nbgrader autograde refused: COURSE_FAST=1 is set, and fast mode is a smoke test "
        "(data subsets, one epoch, smoke bars), never a grade. Unset COURSE_FAST to grade; set "
        "COURSE_DRY_RUN=1 as well to try the pipeline on fast mode (the scores do not count).")
if _fast and _dry_run:
    print("nbgrader: COURSE_FAST=1 and COURSE_DRY_RUN=1: a DRY RUN; no score counts.",
          file=sys.stderr)
