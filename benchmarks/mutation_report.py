"""The notes and the report of ``benchmarks/mutation.py``: which mutants are equivalent (and
why), which survivors are left on purpose, which test kills each survivor of the baseline run
(all in ``mutation_notes.toml``, beside this file), the score of a module's record, and
``mutation.md`` written from ``mutation.json``."""
from __future__ import annotations

import tomllib
from pathlib import Path

NOTES = Path(__file__).resolve().with_name("mutation_notes.toml")


def _load_notes(path: Path = NOTES) -> tuple[dict, dict, dict]:
    """``(EQUIVALENT, NOT_KILLED, KILLED_BY)`` from the TOML file, by mutmut's full mutant names:
    ``{mutant: (a piece of its '+' line, why it is equivalent)}``, ``{mutant: why}`` and
    ``{module: (test file, [(mutant name pattern, test), ...])}``. A reason's ``{name}`` is the
    text ``name`` of ``[reasons]``."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    shared = data["reasons"]
    equivalent = {f"{module}.{local}": (snippet, reason.format(**shared))
                  for module, entries in data["equivalent"].items()
                  for local, (snippet, reason) in entries.items()}
    not_killed = {f"{module}.{local}": reason.format(**shared)
                  for module, entries in data["not_killed"].items()
                  for local, reason in entries.items()}
    killed_by = {name: (table["tests"], [(pattern, test) for pattern, test in table["rules"]])
                 for name, table in data["killed_by"].items()}
    return equivalent, not_killed, killed_by


# Mutants that behave like the original on every input the function accepts: a piece of the
# mutant's '+' line (to notice a renumbering) and why no test can tell it from the original.
# Survivors that are neither equivalent nor worth a test, and why. The tests added for the
# survivors of the baseline run: per module, patterns (fnmatch, first match wins) and tests.
EQUIVALENT, NOT_KILLED, KILLED_BY = _load_notes()


def scored(record: dict) -> dict:
    """Equivalent mutants out, the score of the rest; notes for the mutants not killed."""
    equivalent, stale = [], []
    for name, mutant in record["not_killed"].items():
        if name in NOT_KILLED:
            mutant["reason"] = NOT_KILLED[name]
        if name in EQUIVALENT:
            snippet, reason = EQUIVALENT[name]
            if any(snippet in line for line in mutant["diff"] if line.startswith("+")):
                mutant["equivalent"] = reason
                equivalent.append(name)
            else:
                stale.append(name)
    counts = record["counts"]
    detected = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("segfault", 0)
    scored = record["mutants"] - len(equivalent)
    return {"equivalent": len(equivalent), "stale_notes": stale,
            "score": round(detected / scored, 4) if scored else None}



def _row(name: str, r: dict) -> str:
    c = r["counts"]
    score = "-" if r["score"] is None else f"{100 * r['score']:.1f}%"
    return (f"| {name} | {r['mutants']} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
            f"{c.get('survived', 0)} | {c.get('no tests', 0)} | {r['equivalent']} | {score} | "
            f"{r['wall_s']:.0f} s ({r['s_per_mutant']:.2f} s) |")


HEADER = ("| module | mutants | killed | timeout | survived | no tests | equivalent | score | "
          "wall time (per mutant) |\n|---|---|---|---|---|---|---|---|---|")


def totals(modules: dict) -> dict:
    """Counts, score and times of all the modules together."""
    def total(key):
        return sum(r.get(key, 0) for r in modules.values())

    mutants, equivalent = total("mutants"), total("equivalent")
    detected = sum(r["counts"].get(k, 0) for r in modules.values()
                   for k in ("killed", "timeout", "segfault"))
    return {"mutants": mutants, "detected": detected, "equivalent": equivalent,
            "not_detected": mutants - equivalent - detected,
            "score": round(detected / (mutants - equivalent), 4),
            "wall_s": round(total("wall_s"), 1), "cpu_s": round(total("cpu_s"), 1),
            "verify_wall_s": round(total("verify_wall_s"), 1),
            "verify_cpu_s": round(total("verify_cpu_s"), 1)}


def _totals(modules: dict) -> str:
    t = totals(modules)
    verified = (f" Verifying the new tests one by one took {t['verify_wall_s'] / 60:.1f} min "
                f"more ({t['verify_cpu_s'] / 60:.1f} min CPU)." if t["verify_wall_s"] else "")
    return (f"In all: {t['mutants']} mutants, {t['detected']} killed, {t['equivalent']} "
            f"equivalent: {100 * t['score']:.1f}%; {t['wall_s'] / 60:.1f} min wall time, "
            f"{t['cpu_s'] / 60:.1f} min CPU ({t['wall_s'] / max(t['mutants'], 1):.2f} s wall and "
            f"{t['cpu_s'] / max(t['mutants'], 1):.2f} s CPU per mutant).{verified}")


def _later(section: dict) -> list[str]:
    """A paragraph naming the modules that ran alone, on another commit than the section's
    (``mutation.py`` with some modules' names), or nothing."""
    later = [f"`{name}` on commit {r['commit']} (1-minute load {r['load_average_1min']:.1f} at "
             "its start)" for name, r in section["modules"].items()
             if r.get("commit", section["commit"]) != section["commit"]]
    return [f"Run later, alone, with the tests of that commit: {'; '.join(later)}.", ""] \
        if later else []


def _natural(name: str) -> tuple[str, int]:
    """``x_f__mutmut_10`` after ``x_f__mutmut_9``."""
    function, _, number = name.rpartition("_")
    return function, int(number) if number.isdigit() else 0


def _diff_block(diff: list[str]) -> list[str]:
    return ["  ```diff"] + [f"  {line}" for line in diff] + ["  ```"]


def write_markdown(results: dict) -> str:
    modules = results["modules"]
    baseline = results.get("baseline", {}).get("modules", {})
    for record in (*modules.values(), *baseline.values()):
        record.update(scored(record))  # the notes as they are now
        for mutant in [m for m in record.get("verified", {}) if m in EQUIVALENT]:
            del record["verified"][mutant]  # found equivalent after its test was written
    results["totals"] = totals(modules)
    if baseline:
        results["baseline"]["totals"] = totals(baseline)
    machine_facts = results["machine"]
    lines = [
        "# Mutation testing of the course's numerics",
        "",
        f"`python benchmarks/mutation.py` (`make mutation`): mutmut {results['mutmut']} on "
        f"commit {results['commit']} (the tests of that commit), one mutant at a time under "
        f"`nice -n 19` on {machine_facts['cpu']}, {machine_facts['cores']} cores (1-minute load "
        f"{machine_facts['load_average_1min']:.1f} at the start: other jobs shared the machine, "
        "so wall times are upper bounds). Score: `(killed + timeout) / (mutants - equivalent)`; "
        "a mutant is killed when one of the tests that call its function fails.",
        "",
        HEADER,
        *[_row(name, r) for name, r in modules.items()],
        "",
        _totals(modules),
        "",
        *_later(results),
    ]
    if baseline:
        lines += [
            "## Before: the tests as they were",
            "",
            f"The same run on commit {results['baseline']['commit']}, before the tests of issue "
            "34 (equivalent mutants as classified below). "
            + results["baseline"].get("note", ""),
            "",
            HEADER,
            *[_row(name, r) for name, r in baseline.items()],
            "",
            _totals(baseline),
            "",
            *_later(results["baseline"]),
        ]
    lines += ["## Modules and their tests", ""]
    for name, r in modules.items():
        scope = (" (only " + ", ".join(f"`{f.split('.')[-1]}`" for f in r["functions"]) + ")"
                 if r["functions"] else "")
        lines.append(f"- **{name}**: `{r['path']}`{scope}, {r['what']}; tests: "
                     + ", ".join(f"`{t}`" for t in r["tests"]))
    lines += ["", "## Mutants not killed now", "",
              "Each with its diff and why: an equivalent mutant (it behaves like the original on "
              "every input the function accepts) or a survivor with its reason.", ""]
    for name, r in modules.items():
        if not r["not_killed"]:
            continue
        lines += [f"### {name}", ""]
        for mutant, m in sorted(r["not_killed"].items(), key=lambda item: _natural(item[0])):
            if m.get("equivalent"):
                label = f"equivalent: {m['equivalent']}"
            elif m.get("reason"):
                label = f"{m['status']}: {m['reason']}"
            else:
                label = f"**{m['status']}, not explained**"
            lines.append(f"- `{mutant.rsplit('.', 1)[-1]}`: {label}")
            lines += _diff_block(m["diff"])
        lines.append("")
    if baseline:
        lines += ["## Survivors of the baseline and the tests that kill them", "",
                  "Each mutant that survived the baseline run and is not equivalent, the test "
                  "added for it, whether the full run above killed it, and whether that test "
                  "alone kills it (run against the mutant by itself after the full run: "
                  "`verified`).", ""]
        for name, b in baseline.items():
            now = modules.get(name, {})
            verified = now.get("verified", {})
            rows = sorted(((mutant, m) for mutant, m in b["not_killed"].items()
                           if not m.get("equivalent")), key=lambda item: _natural(item[0]))
            if not rows:
                continue
            lines += [f"### {name}", ""]
            for mutant, m in rows:
                state = now.get("not_killed", {}).get(mutant)
                state = ("not run" if not now else "killed" if state is None
                         else state["status"])
                v = verified.get(mutant)
                test = v["test"].split("::")[-1] if v else None
                check = ("" if not v else "; verified" if v["killed"]
                         else "; **not killed by that test alone**")
                how = f"`{test}`: {state}{check}" if test else \
                    f"{state}: {m.get('reason', 'no test added')}"
                added = next((line[1:].strip() for line in m["diff"] if line.startswith("+")),
                             "")
                lines.append(f"- `{mutant.rsplit('.', 1)[-1]}` (`{added}`): {how}")
            lines.append("")
    lines += [
        "## The tool: mutmut 3, and how it runs here",
        "",
        "- mutmut 3 (the first choice of the issue) works here once two things are set: its "
        "fork server, and `__init__` signatures (below). cosmic-ray or a runner of our own were "
        "not needed. mutmut copies the tree into `mutants/` (ignored by git) and replaces each "
        "function of the module by a trampoline that calls the original or one mutant, chosen "
        "by an environment variable: one copy of the code serves every mutant. A first clean "
        "run of the module's test files records which test calls which function; each mutant "
        "then runs with only those tests.",
        "- The fork server (`process_isolation = \"forkserver\"` in `[tool.mutmut]`) imports "
        "pytest, the tests and TensorFlow once, before any TensorFlow op has run, and forks "
        "a worker per mutant from there: no worker pays TensorFlow's import (about 10 s on "
        "this machine) and none inherits a running TensorFlow runtime (TensorFlow is not "
        "fork-safe once its runtime runs; mutmut's default, by its documentation, forks from "
        "the process that ran the suite to collect the statistics: not tried here).",
        "- `benchmarks/mutation.py` gives each `__init__` trampoline its function's signature: "
        "`keras.Operation.__new__` reads it with `inspect.getfullargspec`, which does not follow "
        "the trampoline's `functools.wraps`, and without it no course layer can be built under "
        "mutmut (IndexError in every layer test).",
        "- Timeouts: mutmut's default limit of `(tests' time + 1 s) x 15` of wall-clock time "
        "stopped workers that had only to start TensorFlow's runtime while the machine was busy "
        "(29 false timeouts in a first run of `preprocessing_normalisation`); "
        "`timeout_constant = 30` and `timeout_multiplier = 10` left none (no mutant of these "
        "modules runs for ever either: none timed out in the run above).",
        "- `--verify` (always run after a module's mutmut run when a baseline exists): each "
        "survivor of the baseline that a new test targets runs again against that test alone, "
        "in the same `mutants/` tree; the test must pass without the mutant and fail with it.",
        "",
        "## What is left",
        "",
        "- Not mutated by mutmut 3: module-level constants (the Winograd matrices of "
        "`course/convolution.py`, checked indirectly: `conv2d_winograd` matches "
        "`tf.nn.conv2d`), class attributes (`reduce_axes` and `uses_std` of the fitted "
        "normalisations, checked indirectly by the NumPy comparisons) and functions under a "
        "decorator other than `staticmethod`/`classmethod`: `trace_program` of "
        "`course/grading/checks/products.py`, decorated by `kernel_side` (it runs in the "
        "student's kernel, and the judge checks, replays and counts the program it sends: the "
        "tests of `grading_products` check it through them), as `count_multiplications` was in "
        "`course/grading/checks/values.py` when `grading_values` ran.",
        "- Modules not in this run: `course/layers/normalization.py` (AlexNet's local response "
        "normalization, tested only inside the classic models), the augmentation layers of "
        "`course/preprocessing.py` (crops, PCA colour), `course/layers/spectral.py` and "
        "`matmul_gradient.py`. `course/regularization.py` has no dropout (it wraps Keras' "
        "regularizers). At the measured 1-4 s per mutant, each is minutes of machine time; "
        "the work is in the survivors.",
        "- `x_check_gradient__mutmut_26` in `course/grading/checks/values.py` and three mutants of "
        "`_replays` in `course/grading/checks/products.py` (the range of the integer draws, `<` "
        "for `<=`) survive by choice (the reasons above).",
        "",
    ]
    return "\n".join(lines) + "\n"
