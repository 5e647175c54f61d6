"""The artifact grader: ``.keras`` files graded on a task's official test set.

``python -m course grade cifar100 model.keras`` (or a folder of them); see ``docs/grading.md``
for what is refused, the limits, the exit codes and the integrity flag. Modules, one role each:

- ``precheck``: checks of a file that run nothing (file type, size, zip, config.json);
- ``load``: loading with Keras safe mode, the contract, ``export_submission``;
- ``evaluate``: what the worker runs on one artifact (scores on the test images);
- ``worker``: a process that evaluates each artifact in a forked child with limits;
- ``consistency``: the integrity figure (mirrored and shifted test images);
- ``grader``: ``grade_artifact`` / ``grade_paths``: every artifact gets a ``Report``;
- ``report``: reports as text, JSON and CSV.

Importing this package does not import TensorFlow.
"""
from course.grading.artifact.grader import (
    Grader,
    TestSet,
    collect,
    grade_artifact,
    grade_paths,
    load_test_set,
)
from course.grading.artifact.load import contract_problem, export_submission, load_submission
from course.grading.artifact.report import Report
