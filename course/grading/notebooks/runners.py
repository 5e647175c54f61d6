"""Where graded notebooks run: N at once on this machine, or on the workers of a Dask cluster.

A ``Pack`` is one graded notebook with everything it needs inside (the student's file, the
exercise's source notebook, the limits): ``grade_packed(pack)`` runs it on whatever machine it
lands on (``job.run_in_process``: the sandboxed kernel and the judge, in a process of its own)
and returns plain data (the grade and the executed notebook). Both runners yield results as
they complete:

- ``LocalRunner(workers)``: threads that each wait on one job process; every job's kernel and
  judge get ``cores // workers`` threads (``thread_env``), so N workers do not oversubscribe
  the cores;
- ``DaskRunner(address)``: ``dask.distributed`` (a ``LocalCluster``, a ``dask-jobqueue`` cluster
  on Slurm or PBS, a Kubernetes cluster): each pack is a task; a worker that dies takes its
  tasks with it and the scheduler runs them on another (``retries``).
"""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from course.grading.notebooks.job import NotebookJob, grade_from_dict, grade_to_dict


@dataclass
class Pack:
    """One graded notebook, self-contained (it travels to a cluster's worker as it is)."""

    key: str
    job: NotebookJob
    submission: bytes
    source: str
    #: Environment of the job's process and kernel on top of the worker's.
    env: dict = field(default_factory=dict)
    #: Notebooks graded at once on the machine it lands on: its threads are the cores / this.
    concurrency: int = 1
    #: What the batch noted about the submission (a renamed file), for its row.
    notes: list = field(default_factory=list)


def thread_env(workers: int, cores: int | None = None) -> dict:
    """Threads for each of ``workers`` notebooks graded at once on ``cores`` cores (this
    machine's by default)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    per = max(1, cores // max(1, workers))
    return {"OMP_NUM_THREADS": str(per), "TF_NUM_INTRAOP_THREADS": str(per),
            "TF_NUM_INTEROP_THREADS": str(min(per, 2))}


def grade_packed(pack: Pack) -> dict:
    """Grade one pack here; returns ``{"key", "grade", "executed"}`` (plain data)."""
    from course.grading.notebooks.job import job_env, run_in_process
    from course.grading.notebooks.sandbox import data_mounts, kernel_env

    with tempfile.TemporaryDirectory(prefix="course-pack-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o700)
        (folder / "submitted").mkdir()
        submission = folder / "submitted" / f"{pack.job.exercise}.ipynb"
        submission.write_bytes(pack.submission)
        source = folder / "source.ipynb"
        source.write_text(pack.source)
        job = NotebookJob(**{**asdict(pack.job), "limits": pack.job.limits})
        job.submission, job.source = str(submission), str(source)
        job.executed = str(folder / "executed.ipynb")
        job.data_mounts = data_mounts() + list(pack.job.data_mounts)
        threads = thread_env(pack.concurrency)
        job.env = {**kernel_env(), **threads, **pack.env, **pack.job.env}
        env = {**job_env(pack.job.dry_run), **threads, **pack.env}
        grade = run_in_process(job, folder / "job", env)
        executed = Path(job.executed)
        return {"key": pack.key, "grade": grade_to_dict(grade),
                "executed": executed.read_text() if executed.exists() else None}


def unpack(result: dict):
    return result["key"], grade_from_dict(dict(result["grade"])), result.get("executed")


class LocalRunner:
    """``workers`` notebooks at once on this machine."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))

    def describe(self) -> str:
        return f"{self.workers} local worker{'s' * (self.workers > 1)}"

    def run(self, packs):
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(grade_packed, replace(p, concurrency=self.workers))
                       for p in packs]
            for future in as_completed(futures):
                yield unpack(future.result())


class DaskRunner:
    """The workers of the Dask cluster at ``address`` (``tcp://host:8786``), or a ``Client``."""

    def __init__(self, address, retries: int = 3):
        from distributed import Client

        self.client = address if isinstance(address, Client) else Client(address)
        self.retries = retries

    def describe(self) -> str:
        workers = self.client.scheduler_info().get("workers", {})
        return f"Dask cluster {self.client.scheduler.address} ({len(workers)} workers)"

    def run(self, packs):
        from distributed import as_completed as dask_completed

        # notebooks graded at once on one machine: the threads of all its workers
        per_host: dict = {}
        for address, worker in self.client.scheduler_info().get("workers", {}).items():
            host = worker.get("host") or address.rsplit(":", 1)[0]
            per_host[host] = per_host.get(host, 0) + worker.get("nthreads", 1)
        at_once = max(per_host.values() or [1])
        futures = [self.client.submit(grade_packed, replace(p, concurrency=at_once),
                                      key=f"grade-{p.key}", pure=False, retries=self.retries)
                   for p in packs]
        for future in dask_completed(futures):
            yield unpack(future.result())
