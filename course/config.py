"""The fast switch and other settings shared by the package, the CLI and the notebooks.

``COURSE_FAST=1`` shrinks data and epochs so that every notebook runs in seconds (CI runs the
notebooks under nbval this way). Without it, notebooks and the CLI do the real thing.
"""
from __future__ import annotations

import os
from pathlib import Path

FAST_ENV = "COURSE_FAST"
DATA_DIR_ENV = "COURSE_DATA_DIR"
OFFLINE_ENV = "COURSE_OFFLINE"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"

#: Sizes of the subsets that fast mode uses instead of the full data sets.
FAST_TRAIN_SIZE = 2048
FAST_TEST_SIZE = 512
#: Epoch cap in fast mode.
FAST_EPOCHS = 1


def is_fast() -> bool:
    """True when ``COURSE_FAST`` is set to a true value (1, true, yes, on)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """True when ``COURSE_OFFLINE`` is set: data sets are never downloaded."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """Where the course keeps what it fetched once (the offline MNIST; in ``data/``, too, a
    download the Keras cache could not take): ``$COURSE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/course`` or ``~/.cache/course`` (beside make test-jax's XLA cache)."""
    value = os.environ.get(CACHE_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join("~", ".cache")
    return Path(base).expanduser() / "course"


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise: ``epochs = pick(full=12, fast=1)``."""
    return fast if is_fast() else full


def banner(message: str, char: str = "=") -> str:
    """A loud, boxed message for things a user must not miss (stand-in data, fast mode)."""
    width = max(len(line) for line in message.splitlines()) + 4
    lines = [char * width]
    lines += [f"{char} {line.ljust(width - 4)} {char}" for line in message.splitlines()]
    lines.append(char * width)
    return "\n".join(lines)
