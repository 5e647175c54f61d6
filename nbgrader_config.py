"""nbgrader configuration for this course's exercises (nbgrader 0.9; see docs/instructors.md).

Use it in a course directory, not in the repository: ``python -m course release dist/student
--course-dir grading`` copies this file to ``grading/`` and lays out ``grading/source/NN_topic/
NN_topic.ipynb`` from ``solutions/`` (whose nbgrader cell metadata ``python -m course exercises
--write`` maintains) and the answer keys in ``grading/instructor/``. Then, in ``grading/``::

    nbgrader generate_assignment 03_convolution_arithmetic   # release/...: equals exercises/
    nbgrader collect 03_convolution_arithmetic               # or copy into submitted/STUDENT/...
    nbgrader autograde 03_convolution_arithmetic             # full mode: COURSE_FAST unset
    nbgrader generate_feedback 03_convolution_arithmetic
    nbgrader export                                          # grades.csv

What this file changes in nbgrader (``course.grading.notebooks.nbgrader_support``):

- every student's kernel runs in the course's bubblewrap sandbox (no network, none of your files,
  no other student's work; memory and process limits), and the whole notebook under its
  exercise's time limit (``metadata.course.time_limit_s``: the exercise's measured cost with a
  margin, so a light exercise never waits hours for a hung cell);
- fast mode (``COURSE_FAST=1``) is refused at execution, however nbgrader is called (command
  line or formgrader), unless ``COURSE_DRY_RUN=1`` says it is a dry run whose scores do not
  count;
- a check cell the student left untouched is restored without a "checksum has changed" warning;
- feedback holds no hidden tests (nbgrader's ``ClearHiddenTests``) and no tracebacks (which
  quote the code around an error); each check's outcome (its message) stays.

nbgrader still decides the points inside the student's kernel, where one line of the student's
code can patch what a check calls: for grades you can trust, run ``python -m course autograde
submitted --out grades --nbgrader`` here instead, which grades with the judge and writes its
scores into this folder's ``gradebook.db`` (formgrader, generate_feedback and export then work
on them).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from course.grading.notebooks import nbgrader_support as course_nbgrader

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))

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

# A check cell a student deleted comes back (and grades what the student left).
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      course_nbgrader.OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [course_nbgrader.SandboxedExecute, IgnorePattern,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, course_nbgrader.ClearTracebacks,
                                    CSSHTMLHeaderPreprocessor]
# The sandbox's own limit is the notebook's; nbgrader's per-cell timeout stays a backstop.
c.Execute.interrupt_on_timeout = True
