"""Grading: the checks that exercise notebooks call, and the artifact grader.

``python -m course grade cifar100 model.keras`` (or a folder of them) grades exported artifacts
on the official test set; see ``docs/grading.md`` for what is refused, the limits, the exit codes
(0 pass, 1 fail, 2 unusable artifact, 3 grader-side problem) and the integrity flag.

Modules, one role each:

- ``checks``: ``GradingError``, the model input/output contract, the checks of the MNIST term
  project and the CIFAR-100 assignment (fixed bars; fast mode is a smoke test);
- ``autograde``: batch grading of submitted notebooks (``python -m course autograde``):
  finding, sanitizing and scoring them;
- ``notebook_runner``: running one submitted notebook in its own process, with time and memory
  limits;
- ``gradebook``: notebook grades, the gradebook CSV and the feedback text;
- ``tasks``: graded tasks, verdicts, exit codes, resource limits;
- ``precheck``: checks of a file that run nothing (file type, size, zip, config.json);
- ``artifact``: loading with Keras safe mode, the contract, evaluation, ``export_submission``;
- ``sandbox``: a worker process that evaluates each artifact in a forked child with limits;
- ``consistency``: the integrity figure (mirrored and shifted test images);
- ``grader``: ``grade_artifact`` / ``grade_paths``: every artifact gets a ``Report``;
- ``report``: reports as text, JSON and CSV, with untrusted strings escaped;
- ``cli``: ``add_grade`` for ``python -m course``.

Importing this package does not import TensorFlow.
"""
from course.grading.artifact import (  # noqa: F401
    contract_problem, export_submission, load_submission,
)
from course.grading.checks import (  # noqa: F401
    GradingError, check_cifar100_contract, check_cifar100_submission, check_mnist_architecture,
    check_mnist_term_project, check_model_io, io_problem,
)
from course.grading.cli import add_grade  # noqa: F401
from course.grading.grader import (  # noqa: F401
    Grader, TestSet, collect, grade_artifact, grade_paths, load_test_set,
)
from course.grading.report import Report, csv_cell, printable  # noqa: F401
from course.grading.tasks import (  # noqa: F401
    ERROR, EXIT_CODES, FAIL, PASS, TASKS, UNUSABLE, Limits, Task,
)
