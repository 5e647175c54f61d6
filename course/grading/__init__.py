"""Grading: the checks a student's cell calls, the artifact grader, notebook autograding.

Subpackages, split by who calls them, over one contract at the bottom:

- ``contract``: ``GradingError``, ``Refusal``, verdicts and exit codes, tasks, limits, the model
  contract; ``text``: untrusted text made safe to show; ``processes``: process helpers;
- ``checks``: what a student's check cell calls (``from course.grading import checks``);
- ``artifact``: the ``.keras`` grader (``python -m course grade``);
- ``notebooks``: autograding submitted notebooks (``python -m course autograde``): each in a
  bubblewrap sandbox, its check cells run by a judge in another process;
- ``cli``: both commands.

Modules import only below themselves (``tests/test_layering.py`` walks the graph). Importing
this package does not import TensorFlow.
"""
from course.grading.artifact import (
    Grader,
    Report,
    TestSet,
    collect,
    contract_problem,
    export_submission,
    grade_artifact,
    grade_paths,
    load_submission,
    load_test_set,
)
from course.grading.checks import (
    check_cifar100_contract,
    check_cifar100_submission,
    check_mnist_architecture,
    check_mnist_term_project,
    check_model_io,
)
from course.grading.contract import (
    ERROR,
    EXIT_CODES,
    FAIL,
    PASS,
    TASKS,
    UNUSABLE,
    GradingError,
    Limits,
    Task,
    io_problem,
)
from course.grading.text import csv_cell, printable
