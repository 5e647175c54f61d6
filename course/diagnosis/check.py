"""One check's outcome: its name, a status (ok, warning, problem, skipped), what was found and,
unless all is well, the fix. ``guarded`` turns a check that crashed into a problem line."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "warning", "problem", "skipped")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    facts: dict = field(default_factory=dict)  # the numbers and paths behind ``detail``

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict:
        return asdict(self)


def ok(name, detail, **facts) -> Check:
    return Check(name, "ok", detail, "", facts)


def warning(name, detail, fix, **facts) -> Check:
    return Check(name, "warning", detail, fix, facts)


def problem(name, detail, fix, **facts) -> Check:
    return Check(name, "problem", detail, fix, facts)


def guarded(name: str):
    """Decorate a check so that an exception it raises becomes a ``problem`` named ``name``."""

    def wrap(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                return check(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - a broken environment is what we report
                return problem(name, f"could not be checked: {type(err).__name__}: {err}",
                               "fix the error above; python -m course doctor --json shows every "
                               "check's details")
        return run

    return wrap
