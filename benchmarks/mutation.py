"""Mutation testing of the course's hand-written numerics (mutmut 3), module by module.

    python benchmarks/mutation.py                       # every module below (make mutation)
    python benchmarks/mutation.py conv_arithmetic dropout   # or MODULES="..." make mutation
    python benchmarks/mutation.py --baseline            # record the run as the "before" numbers
    python benchmarks/mutation.py --report              # rewrite mutation.md from mutation.json

For each module mutmut copies the tree into ``mutants/`` (ignored by git), writes every mutant of
the module's functions and methods into it, runs the module's own test files once to learn which
test calls which function, then runs each mutant against only the tests that call its function:
a mutant is *killed* when one of them fails. Shared settings live in ``pyproject.toml``
(``[tool.mutmut]``: the fork server, timeouts, pytest's flags); this script sets, per module,
the file to mutate and its test files, and runs one mutant at a time (run it under
``nice -n 19`` on a shared machine). After a module's run, each survivor of the baseline run
that a new test targets (``killed_by`` in ``mutation_notes.toml``) is run again against that
test alone, to show that the test kills it. Results: ``benchmarks/results/mutation.json`` (counts, times, every mutant not
killed with its diff, the verifications) and ``mutation.md`` (tables, each mutant not killed with
its reason, each survivor of the baseline with the test that kills it now), written by
``mutation_report.py``. A run of some modules replaces only their records (each keeps the commit
it ran on).

The score is ``(killed + timeout) / (mutants - equivalent)``: a mutant no test can tell from
the original (``equivalent`` in ``mutation_notes.toml``, each with why) cannot be killed and is
not counted.
About 50 minutes for the 2,173 mutants on 2 cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# both beside this file, importable once its folder is on the path (above): hence E402
import machine  # noqa: E402
from mutation_report import EQUIVALENT, KILLED_BY, NOT_KILLED, scored, write_markdown  # noqa: E402

SEP = "\u01c1"  # mutmut's separator in a method's name: xǁClassǁmethod


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    path: str                        # the file mutated
    tests: tuple[str, ...]           # the test files run against it
    functions: tuple[str, ...] = ()  # mutmut name globs within the file; () = all of it
    what: str = ""
    deselect: tuple[str, ...] = ()   # tests of those files not run (pytest node ids)

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def globs(self) -> list[str]:
        return [f"{self.module}.{pattern}" for pattern in self.functions]


def _methods(*classes: str) -> tuple[str, ...]:
    return tuple(f"x{SEP}{cls}{SEP}*" for cls in classes)


#: Exercises graded for real in bubblewrap's sandbox: a kernel of its own runs the code, so no
#: mutant reaches it, and each takes tens of seconds.
_SANDBOXED = tuple(f"tests/test_judge_figures.py::test_exercise_{test}" for test in (
    "06_honest_full_marks_forgers_nothing_for_the_counts",
    "08_new_head_what_the_judge_decides_and_what_it_takes_on_trust"))

TARGETS = (
    Target("conv_arithmetic", "course/conv_arithmetic.py",
           ("tests/test_conv_arithmetic.py", "tests/test_widgets.py"),
           what="output sizes, parameters, receptive fields, padding, the cells an output reads"),
    Target("convolution", "course/convolution.py", ("tests/test_convolution.py",),
           what="im2col, FFT and Winograd convolutions, stochastic rounding"),
    Target("batchnorm", "course/layers/batchnorm.py", ("tests/test_batchnorm_dropout.py",),
           what="batch normalization written out (Ioffe & Szegedy, Algorithm 1)"),
    Target("fused_batchnorm", "course/layers/fused_batchnorm.py",
           ("tests/test_fused_batchnorm.py", "tests/test_batchnorm_dropout.py"),
           what="batch normalization as TensorFlow's fused kernel"),
    Target("dropout", "course/layers/dropout.py", ("tests/test_batchnorm_dropout.py",),
           what="inverted dropout"),
    Target("whitening", "course/layers/whitening.py", ("tests/test_whitening.py",),
           what="patch whitening (ZCA/PCA of k x k patches) as a frozen convolution"),
    Target("preprocessing_normalisation", "course/preprocessing.py",
           ("tests/test_preprocessing.py",),
           _methods("_FittedStatistics", "MeanImageSubtraction", "PerChannelMeanSubtraction",
                    "PerChannelStandardization", "PerImageStandardization"),
           what="mean subtraction, per-channel and per-image standardisation (not the "
                "augmentation layers of the same file)"),
    Target("grading_values", "course/grading/checks/values.py", ("tests/test_exercise_checks.py",),
           what="exercise checks: cases, gradient check"),
    Target("grading_helpers", "course/grading/checks/helpers.py",
           ("tests/test_exercise_checks.py",),
           what="exercise checks: calling the student's code, messages, check_array"),
    Target("grading_products", "course/grading/checks/products.py",
           ("tests/test_products.py", "tests/test_exercise_checks.py",
            "tests/test_judge_figures.py"),
           what="exercise 06's products: the program `Tracked` numbers record on a `Tape`, "
                "checked, replayed and counted by the judge (not the two gradings in the "
                "sandbox of `tests/test_judge_figures.py`, which run in processes of their own)",
           deselect=_SANDBOXED),
)

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", -11: "segfault", -9: "segfault", None: "not checked"}


def _keep_signatures() -> None:
    """mutmut's trampoline (``functools.wraps`` over ``*args, **kwargs``) hides the parameters
    of the method it wraps from ``inspect.getfullargspec``, which ``keras.Operation.__new__``
    reads from ``__init__``: every course layer would fail to construct (IndexError). Give each
    ``__init__`` trampoline its function's signature, which ``getfullargspec`` honours. (Only
    ``__init__``: Keras copies a bound ``build``'s attributes onto a plain function, where a
    signature with ``self`` would be wrong. mutmut's forks inherit the patched module; the
    mutated files import the decorator from it.)"""
    import inspect

    from mutmut.mutation import trampoline

    wrap = trampoline.wrap_in_trampoline

    def wrap_in_trampoline(mutants_dict, is_classmethod=False):
        decorate = wrap(mutants_dict, is_classmethod)

        def with_signature(func):
            wrapper = decorate(func)
            if func.__name__ == "__init__":
                wrapper.__signature__ = inspect.signature(func)
            return wrapper

        return with_signature

    trampoline.wrap_in_trampoline = wrap_in_trampoline


def _child(target: Target) -> None:
    """Runs in a process of its own (mutmut exits on errors): mutmut's ``run`` on one module."""
    os.chdir(ROOT)
    _keep_signatures()
    import mutmut.configuration as mutmut_config

    shared = mutmut_config.config()  # [tool.mutmut] of pyproject.toml
    mutmut_config._config = dataclasses.replace(
        shared, only_mutate=[target.path], pytest_add_cli_args_test_selection=[
            *target.tests, *(f"--deselect={test}" for test in target.deselect)])
    from mutmut.__main__ import _run

    _run(target.globs(), max_children=1)


def killing_test(target: Target, mutant: str) -> str | None:
    """The test added to kill ``mutant`` (a survivor of the baseline run), from KILLED_BY."""
    import fnmatch

    path, rules = KILLED_BY.get(target.name, ("", []))
    local = mutant.removeprefix(target.module + ".")
    for pattern, test in rules:
        if fnmatch.fnmatch(local, pattern):
            return f"{path}::{test}"
    return None


def _verify_child(target: Target, jobs_path: str) -> None:
    """In the mutants/ tree of the run just made: each mutant of ``jobs_path`` ({mutant: test})
    against its test alone, in one process (mutmut's trampolines read MUTANT_UNDER_TEST at every
    call). Each test must pass without a mutant. Writes {mutant: result} back to the file."""
    jobs = json.loads(Path(jobs_path).read_text())
    os.chdir(ROOT / "mutants")
    sys.path.insert(0, str(ROOT / "mutants"))
    _keep_signatures()
    import pytest

    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    clean = {}
    for test in sorted(set(jobs.values())):
        os.environ["MUTANT_UNDER_TEST"] = ""
        clean[test] = int(pytest.main([*args, test]))
    results = {}
    for mutant, test in jobs.items():
        os.environ["MUTANT_UNDER_TEST"] = mutant
        code = int(pytest.main([*args, test]))
        results[mutant] = {"test": test, "clean_exit": clean[test], "exit": code,
                           "killed": clean[test] == 0 and code in (1, 3)}
    Path(jobs_path).write_text(json.dumps(results))


def _diff(name: str, path: str) -> list[str]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path)
    return [line for line in diff.splitlines()[2:] if line[:1] in "+-"]


def _collect(target: Target) -> dict:
    """Counts and the mutants not killed, from mutmut's record of the module in mutants/."""
    import fnmatch

    meta = json.loads((ROOT / "mutants" / f"{target.path}.meta").read_text())
    codes = meta["exit_code_by_key"]
    globs = target.globs()
    if globs:
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
    counts: dict[str, int] = {}
    not_killed = {}
    for name, code in sorted(codes.items()):
        status = STATUS.get(code, "suspicious")
        counts[status] = counts.get(status, 0) + 1
        if status != "killed":
            not_killed[name] = {"status": status, "diff": _diff(name, target.path)}
    return {"mutants": len(codes), "counts": counts, "not_killed": not_killed}


def _run_child(target: Target, log: Path, *extra: str) -> tuple[float, float]:
    """``python mutation.py --child NAME ...``, output to ``log``: (wall, CPU) seconds, all its
    processes (mutmut's fork server and workers) included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call([sys.executable, __file__, "--child", target.name, *extra],
                               cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"{target.name} failed (exit {code}); its output: {log}")
    log.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_target(target: Target, baseline: dict | None) -> dict:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # a fresh copy: no results carried over
    wall, cpu = _run_child(target, RESULTS / f".mutation_{target.name}.log")
    record = _collect(target)
    record.update(path=target.path, tests=list(target.tests), what=target.what,
                  functions=list(target.functions), wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                  s_per_mutant=round(wall / max(record["mutants"], 1), 2))
    record.update(scored(record))
    jobs = {name: killing_test(target, name) for name in (baseline or {}).get("not_killed", {})
            if name not in EQUIVALENT and name not in NOT_KILLED}
    jobs = {name: test for name, test in jobs.items() if test}
    if jobs:
        jobs_path = RESULTS / f".mutation_{target.name}.verify.json"
        jobs_path.write_text(json.dumps(jobs))
        wall, cpu = _run_child(target, RESULTS / f".mutation_{target.name}.verify.log",
                               "--verify", str(jobs_path))
        record["verified"] = json.loads(jobs_path.read_text())
        jobs_path.unlink()
        record.update(verify_wall_s=round(wall, 1), verify_cpu_s=round(cpu, 1))
    return record



def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="names from TARGETS (default: all)")
    parser.add_argument("--baseline", action="store_true",
                        help="store this run as the numbers before the new tests")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite mutation.md (and the scores) from mutation.json, "
                             "with the notes of mutation_notes.toml as they are now")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_name = {t.name: t for t in TARGETS}
    if args.child and args.verify:
        _verify_child(by_name[args.child], args.verify)
        return
    if args.child:
        _child(by_name[args.child])
        return
    os.chdir(ROOT)
    path = RESULTS / "mutation.json"
    if args.report:
        results = json.loads(path.read_text())
        markdown = write_markdown(results)
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        (RESULTS / "mutation.md").write_text(markdown)
        return
    unknown = set(args.modules) - set(by_name)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; known: {sorted(by_name)}")
    chosen = [by_name[n] for n in args.modules] if args.modules else list(TARGETS)

    from importlib.metadata import version

    results = json.loads(path.read_text()) if path.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    facts = {"cpu": machine.cpu_model(), "cores": machine.cores(),
             "load_average_1min": machine.load_average()}
    section = results.setdefault("baseline", {}) if args.baseline else results
    if len(chosen) == len(TARGETS) or "commit" not in section:
        section.update(commit=commit, machine=facts, mutmut=version("mutmut"))
    # else the section's commit stays that of the modules not run; each record names its own
    modules = section.setdefault("modules", {})
    for target in chosen:
        print(f"{target.name}: mutating {target.path} against {', '.join(target.tests)}",
              flush=True)
        baseline = None if args.baseline else \
            results.get("baseline", {}).get("modules", {}).get(target.name)
        record = run_target(target, baseline)
        record.update(commit=commit, load_average_1min=facts["load_average_1min"])
        modules[target.name] = record
        c = record["counts"]
        print(f"  {record['mutants']} mutants, {c.get('killed', 0)} killed, "
              f"{c.get('survived', 0)} survived, {c.get('timeout', 0)} timeout, "
              f"{record['equivalent']} equivalent: score {record['score']}, "
              f"{record['wall_s']:.0f} s", flush=True)
        if "verified" in record:
            good = sum(v["killed"] for v in record["verified"].values())
            print(f"  verified: {good} of {len(record['verified'])} baseline survivors killed by "
                  f"their own test alone ({record['verify_wall_s']:.0f} s)", flush=True)
        # in TARGETS' order, whatever order the modules ran in
        order = [t.name for t in TARGETS if t.name in modules]
        section["modules"] = {n: modules[n] for n in order}
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    if "modules" in results:
        (RESULTS / "mutation.md").write_text(write_markdown(results))


if __name__ == "__main__":
    main()
