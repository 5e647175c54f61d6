"""What is graded and under which limits: tasks, verdicts, exit codes, resource limits."""
from __future__ import annotations

from dataclasses import dataclass

#: Verdicts. PASS/FAIL grade a usable model; UNUSABLE is an artifact the grader cannot grade
#: (missing, refused, broken contract, crashed or over a limit); ERROR is the grader's own
#: problem (missing or damaged data set, unwritable output, a worker that would not start).
PASS, FAIL, UNUSABLE, ERROR = "PASS", "FAIL", "UNUSABLE", "ERROR"
#: Exit codes of ``python -m course grade``; a folder exits with the largest of its rows.
EXIT_CODES = {PASS: 0, FAIL: 1, UNUSABLE: 2, ERROR: 3}
EXIT_GRADER_ERROR = EXIT_CODES[ERROR]


@dataclass(frozen=True)
class Task:
    data: str
    num_classes: int
    threshold: float
    input_shape: tuple = (32, 32, 3)


#: Graded tasks. ``cifar10`` is the proxy used where CIFAR-100 is not available.
TASKS = {
    "cifar100": Task("cifar100", 100, 0.60),
    "cifar10": Task("cifar10", 10, 0.90),
}


@dataclass(frozen=True)
class Limits:
    """Resource limits for one artifact (see ``docs/grading.md``)."""

    #: Wall-clock seconds for loading and evaluating one artifact in its worker process. A model
    #: whose measured speed projects past this is stopped early with a verdict.
    time_s: float = 300.0
    #: Address space (MiB) the worker may add to its start-up footprint (``RLIMIT_AS``): the
    #: model's weights, activations and TensorFlow's threads all count.
    memory_mb: int = 4096
    #: Size of the ``.keras`` file itself.
    file_mb: int = 1024
    #: Sum of the zip members' uncompressed sizes, and the most a member may inflate.
    unpacked_mb: int = 2048
    expansion: int = 100
    #: Members in the zip, and the size of ``config.json``.
    members: int = 1000
    config_mb: int = 16
    #: Images per prediction batch, and test images in the consistency (integrity) check.
    batch_size: int = 100
    consistency_images: int = 1000

    def describe(self) -> str:
        return (f"time limit {self.time_s:g} s, memory limit {self.memory_mb:,} MiB above the "
                f"worker's start-up size, file limit {self.file_mb:,} MiB")
