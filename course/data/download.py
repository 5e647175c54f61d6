"""Downloads: the one file of a data set, fetched with ``keras.utils.get_file`` and checked
against the sha256 pinned in ``specs.DOWNLOADS`` (the digests ``keras.datasets`` pins).

- **From where**: the official URL, or ``$COURSE_DATA_URL/FILE`` (``base_url=`` in code): a
  mirror that serves the same files under the same names (``mnist.npz``,
  ``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``): a course's own server, a shared
  folder (``file:///...``), or the tests' server on 127.0.0.1. The pinned digests do not
  change with the URL: a mirror cannot serve another file.
- **How**: ``keras.utils.get_file(FILE, origin=URL, file_hash=SHA256)``, into a private staging
  folder (``.download-*``) inside the cache; only a complete file with the pinned digest is
  moved into place (``os.replace``, atomic). A truncated, interrupted or wrong download is
  deleted, so no half file ever sits where a source would read it as data. An interrupted
  transfer is tried once more; a transfer that stalls for ``TIMEOUT_S`` counts as interrupted.
- **Kept where**: the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``), where
  ``keras.datasets`` keeps its downloads and ``load`` looks first; when that folder cannot be
  written, the course's cache (``$COURSE_CACHE_DIR/data`` or ``~/.cache/course/data``), said so
  in a line; when neither can, an error that says what to set.
- **Progress**: ``course.progress`` (a byte bar where someone watches, a line at the start and
  the end in logs, on stderr); Keras' own bar (stdout, terminal escapes even in logs) is not
  shown.
"""
from __future__ import annotations

import contextlib
import http.client
import io
import os
import shutil
import socket
import tempfile
import time
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

from course import config, progress
from course.data.readers import sha256
from course.data.specs import DOCTOR, DOWNLOADS, DatasetCorruptedError, DatasetNotFoundError

#: The mirror to download from instead of the official hosts: a base URL, FILE is appended.
DATA_URL_ENV = "COURSE_DATA_URL"
#: URL schemes a mirror may use (``file`` for a folder shared on this machine).
SCHEMES = ("http", "https", "file")
#: Tries per download: an interrupted transfer is tried once more.
ATTEMPTS = 2
#: Seconds a connection may stay silent before the transfer counts as interrupted.
TIMEOUT_S = 60.0
#: Staging folders older than this are what a killed process left: removed on the next download.
STALE_S = 24 * 3600


class DownloadError(DatasetNotFoundError):
    """A download could not be made (no connection, an HTTP error, interrupted twice): nothing
    was kept. ``load`` lists it with the other sources it tried."""


def keras_cache_dir() -> Path:
    """Where ``keras.datasets`` keeps its downloads: ``$KERAS_HOME/datasets`` or
    ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def course_cache_dir() -> Path:
    """Where a download goes when the Keras cache cannot be written: ``<cache_dir>/data``."""
    return config.cache_dir() / "data"


def cache_dirs() -> list[tuple[Path, str]]:
    """The folders a download may be kept in, in order, with the setting that moves each."""
    return [(keras_cache_dir(), "KERAS_HOME"), (course_cache_dir(), config.CACHE_DIR_ENV)]


def base_url() -> str | None:
    """``$COURSE_DATA_URL`` (checked: an http, https or file URL), or None when unset."""
    value = os.environ.get(DATA_URL_ENV, "").strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in SCHEMES or (parsed.scheme != "file" and not parsed.hostname):
        raise DatasetNotFoundError(
            f"{DATA_URL_ENV}={value!r} is not a URL to download from. Set it to the folder of a "
            "mirror that serves mnist.npz, cifar-10-python.tar.gz and cifar-100-python.tar.gz "
            "(http://HOST/PATH, https://HOST/PATH or file:///PATH), or unset it to download "
            "from the official hosts.")
    return value


def url(name: str, base: str | None = None) -> str:
    """Where ``name``'s file is downloaded from: ``BASE/FILE`` for a mirror (``base``, else
    ``$COURSE_DATA_URL``), else the official URL."""
    file = DOWNLOADS[name]
    base = base or base_url()
    return f"{base.rstrip('/')}/{file.filename}" if base else file.origin


def kept(name: str) -> Path | None:
    """``name``'s downloaded file in one of ``cache_dirs()`` if it has the pinned sha256."""
    for folder, _ in cache_dirs():
        path = folder / DOWNLOADS[name].filename
        if path.is_file() and sha256(path) == DOWNLOADS[name].sha256:
            return path
    return None


def _remove_stale(folder: Path) -> None:
    now = time.time()
    for old in folder.glob(".download-*"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old, ignore_errors=True)


def _staging(name: str) -> tuple[Path, Path]:
    """``(folder, staging)``: the first cache folder that can be written, and a fresh staging
    folder inside it. When the Keras cache cannot be written, a line says where the file goes
    instead; when no folder can, the error says what to set."""
    problems = []
    for folder, setting in cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _remove_stale(folder)
            staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        except OSError as err:
            problems.append((folder, setting, err.strerror or str(err)))
            continue
        if problems:
            first, first_setting, why = problems[0]
            progress.line(f"{first} cannot be written ({why}); keeping the {name} download in "
                          f"{folder} instead (set {first_setting} to a writable folder to keep "
                          "it there).")
        return folder, staging
    places = "; ".join(f"{folder} ({why})" for folder, _, why in problems)
    raise DatasetNotFoundError(
        f"Nowhere to keep the {name} download ({DOWNLOADS[name].filename}): no folder could be "
        f"written: {places}. Set KERAS_HOME (downloads go to KERAS_HOME/datasets) or "
        f"{config.CACHE_DIR_ENV} to a writable folder, or put {name}.npz in a folder and set "
        f"{config.DATA_DIR_ENV} to it. {DOCTOR}")


def _cause(err: BaseException) -> BaseException:
    """The network error behind what ``get_file`` raised (it re-raises URL errors as plain
    ``Exception`` from inside its handler, so the original is the context)."""
    seen = err
    while seen is not None:
        if isinstance(seen, (OSError, http.client.HTTPException)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return err


def _describe(cause: BaseException) -> tuple[str, bool]:
    """What went wrong, in words, and whether trying again may help."""
    if isinstance(cause, urllib.error.HTTPError):
        return f"HTTP {cause.code} {cause.reason}", cause.code >= 500
    if isinstance(cause, urllib.error.ContentTooShortError):
        return f"interrupted: {cause.reason}", True
    if isinstance(cause, urllib.error.URLError):
        reason = cause.reason
        if isinstance(reason, FileNotFoundError):  # a file:// mirror
            return f"no such file: {reason.filename}", False
        if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
            return f"cannot connect: {reason}", False
        return f"{reason}", True
    if isinstance(cause, TimeoutError):
        return f"interrupted: no data for {TIMEOUT_S:g} s", True
    if isinstance(cause, (OSError, http.client.HTTPException)):
        return f"interrupted: {type(cause).__name__}: {cause}", True
    return f"{type(cause).__name__}: {cause}", False


@contextlib.contextmanager
def _network_timeout(seconds: float):
    """A timeout for the sockets ``get_file`` opens (it sets none: a stalled server would hang
    a lesson for good). Only when no default is set already; restored afterwards."""
    if socket.getdefaulttimeout() is not None:
        yield
        return
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(None)


def _get_file(name: str, origin: str, staging: Path) -> Path:
    """One try: ``keras.utils.get_file`` into ``staging``, progress shown as ``course.progress``
    does, Keras' own output (stdout) dropped. Raises what ``get_file`` raises."""
    import keras

    file = DOWNLOADS[name]
    partial = staging / file.filename

    def done() -> int:
        try:
            return partial.stat().st_size
        except OSError:
            return 0

    with progress.transfer(f"downloading {file.filename} from {origin}", file.size, done,
                           label=file.filename), \
            contextlib.redirect_stdout(io.StringIO()), _network_timeout(TIMEOUT_S):
        path = keras.utils.get_file(
            file.filename, origin=origin, file_hash=file.sha256, hash_algorithm="sha256",
            cache_dir=str(staging), cache_subdir=str(staging))
    return Path(path)


def _wrong_file(name: str, origin: str, partial: Path, base: str | None):
    """The error for a download that does not have the pinned digest (it is deleted after)."""
    file = DOWNLOADS[name]
    size, digest = partial.stat().st_size, sha256(partial)
    mirror = f"{DATA_URL_ENV}={base_url()}" if base is None and base_url() else base
    if mirror:
        fix = (f"the mirror ({mirror}) serves another file: put the official {file.filename} "
               f"there, or unset {DATA_URL_ENV} to download from the official host")
    else:
        fix = (f"something between here and {urlparse(origin).hostname} changes it (a proxy?): "
               f"get {file.filename} another way, check its sha256 and put it in "
               f"{keras_cache_dir()}")
    return DatasetCorruptedError(
        f"{file.filename} downloaded from {origin} has sha256 {digest} ({size:,} bytes), "
        f"expected {file.sha256} ({file.size:,} bytes): it is damaged, incomplete or not the "
        f"official file, so it was deleted and nothing was kept. Try again; if it happens "
        f"again, {fix}. {DOCTOR}")


def fetch(name: str, base: str | None = None) -> Path:
    """Download ``name``'s file (``url(name, base)``) into the cache, checked against its
    pinned sha256; the path it is kept at. A copy already in the cache with the pinned digest
    is returned without a download.

    Raises ``DownloadError`` when the download could not be made (nothing kept),
    ``DatasetCorruptedError`` when what arrived is not the pinned file (nothing kept),
    ``DatasetNotFoundError`` when no cache folder can be written.
    """
    file = DOWNLOADS[name]
    here = kept(name)
    if here is not None:
        return here
    origin = url(name, base)
    folder, staging = _staging(name)
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                path = _get_file(name, origin, staging)
                break
            except Exception as err:  # noqa: BLE001 - get_file raises plain Exception for URLs
                partial = staging / file.filename
                if isinstance(err, ValueError) and partial.is_file():
                    # get_file checked the whole file: it does not have the pinned digest
                    raise _wrong_file(name, origin, partial, base) from err
                why, again = _describe(_cause(err))
                if again and attempt < ATTEMPTS:
                    progress.line(f"downloading {file.filename} from {origin}: {why}; "
                                  f"trying again ({attempt + 1}/{ATTEMPTS})")
                    continue
                tries = f" ({attempt} tries)" if attempt > 1 else ""
                raise DownloadError(
                    f"download from {origin} failed{tries}: {why}; nothing was kept") from err
        target = folder / file.filename
        os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress.line(f"{file.filename}: sha256 {file.sha256[:12]}... checked, kept in {folder}")
    return target
