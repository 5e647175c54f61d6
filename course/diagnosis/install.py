"""What is installed, and where: Python, course, Keras, TensorFlow, JAX and the other
dependencies against the ranges the installed course declares (its package metadata, the
``requires-python`` and ``dependencies`` of ``pyproject.toml``); whether ``pip`` installs into this
interpreter; whether a Jupyter kernel runs it."""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import site
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course.diagnosis.check import guarded, ok, problem, warning

#: Packages with a line of their own; the other dependencies share one.
OWN_LINE = ("keras", "tensorflow")
#: The optional backend, checked against the course's ``jax`` extra when it is installed.
OPTIONAL = {"jax": "jax"}
PIP = f"{Path(sys.executable).name} -m pip"  # what installs into this interpreter (%pip too)


def site_dirs() -> list[str]:
    """The folders ``python -m pip install`` puts packages in for this interpreter."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return dirs


def installed_course():
    """The ``course`` distribution installed for this interpreter (None when it is only
    importable because its folder is current or on ``PYTHONPATH``)."""
    return next(iter(metadata.distributions(name="course", path=site_dirs())), None)


def course_metadata():
    """The installed course's metadata, else whatever ``importlib.metadata`` finds (a checkout's
    ``course.egg-info``), else None."""
    dist = installed_course()
    if dist is None:
        try:
            dist = metadata.distribution("course")
        except metadata.PackageNotFoundError:
            return None
    return dist


def requires_python() -> str | None:
    dist = course_metadata()
    return dist.metadata["Requires-Python"] if dist is not None else None


def requirements() -> dict:
    """``{package: Requirement}``: the course's dependencies, and the ``jax`` extra's ``jax``,
    as its installed metadata declares them (never a copy typed here)."""
    dist = course_metadata()
    found = {}
    for line in (dist.requires or []) if dist is not None else []:
        req = Requirement(line)
        name = req.name.lower()
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            found[name] = req
        elif name in OPTIONAL and req.marker.evaluate({"extra": OPTIONAL[name]}):
            found[name] = Requirement(f"{req.name}{req.specifier}")
    return found


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def supported(req) -> str:
    """A requirement's range, lower bounds first: ``>=3.8,<4``."""
    return ",".join(str(s) for s in sorted(req.specifier, key=lambda s: (
        s.operator not in (">=", ">", "~=", "=="), str(s))))


def _unknown_ranges(name):
    return warning(name, "the supported range is unknown: course's package metadata is missing",
                   f"install the course into this interpreter ({PIP} install -e .)")


@guarded("python")
def check_python():
    version, wanted = platform.python_version(), requires_python()
    if wanted is None:
        return _unknown_ranges("python")
    if not SpecifierSet(wanted).contains(version, prereleases=True):
        return problem("python", f"{version} at {sys.executable}; course needs Python {wanted}",
                       f"make a new environment with Python {wanted} and install the course "
                       "there", version=version, supported=wanted)
    return ok("python", f"{version} (course needs {wanted})", version=version, supported=wanted)


@guarded("course")
def check_course():
    root = Path(__file__).resolve().parents[2]  # the folder the running package is in
    running = sys.modules["course"].__version__
    dist = installed_course()
    if dist is None:
        source = root if (root / "pyproject.toml").exists() else "course"
        return problem("course", f"{running} is imported from {root}, but not installed for "
                       f"{sys.executable}: other folders and kernels cannot import it",
                       f"{PIP} install -e {source}", version=running, path=str(root))
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    editable = direct.get("dir_info", {}).get("editable", False)
    where = (unquote(urlparse(direct["url"]).path) if editable
             else str(dist.locate_file("course")))
    facts = dict(version=running, installed=dist.version, path=where, editable=editable)
    if dist.version != running or Path(where).resolve() not in (root, root / "course"):
        return warning("course", f"{running} imported from {root}, but {dist.version} installed "
                       f"at {where}", f"run from another folder, or reinstall: {PIP} install -e "
                       f"{root}", **facts)
    return ok("course", f"{running}{' (editable)' if editable else ''} at {where}", **facts)


def _version_check(name: str, req, optional_fix: str = ""):
    version = installed_version(name)
    if req is None:
        return _unknown_ranges(name)
    wanted = supported(req)
    facts = dict(version=version, supported=wanted)
    if version is None:
        if optional_fix:
            return ok(name, f"not installed (optional: {optional_fix})", **facts)
        return problem(name, f"not installed; course needs {name}{wanted}",
                       f'{PIP} install "{name}{wanted}"', **facts)
    if not req.specifier.contains(version, prereleases=True):
        return problem(name, f"{version} is outside the supported range {wanted}",
                       f'{PIP} install "{name}{wanted}", then restart the kernel', **facts)
    return ok(name, f"{version} (course needs {wanted})", **facts)


@guarded("versions")
def check_versions():
    """One line for Keras, TensorFlow and JAX each, one for the other dependencies."""
    reqs = requirements()
    if not reqs:
        return [_unknown_ranges(name) for name in (*OWN_LINE, "packages")]
    lines = [_version_check(name, reqs.get(name)) for name in OWN_LINE]
    lines += [_version_check(name, reqs.get(name), f'{PIP} install "{name}'
                             f'{supported(reqs[name]) if name in reqs else ""}" for '
                             f"KERAS_BACKEND={name}") for name in OPTIONAL]
    others = {name: req for name, req in reqs.items() if name not in (*OWN_LINE, *OPTIONAL)}
    bad = [req for name, req in others.items()
           if not req.specifier.contains(installed_version(name) or "0.dev0", prereleases=True)]
    versions = {name: installed_version(name) for name in others}
    if bad:
        lines.append(problem("packages", "outside course's ranges: " + ", ".join(
            f"{r.name} {versions[r.name.lower()] or 'missing'} (needs {supported(r)})"
            for r in bad), f"{PIP} install " + " ".join(f'"{r.name}{supported(r)}"' for r in bad),
            versions=versions))
    else:
        lines.append(ok("packages", f"numpy {versions.get('numpy')} and the other "
                        f"{len(others) - 1} dependencies are in course's ranges",
                        versions=versions))
    return lines


def _env_of(executable: str) -> Path:
    """The ``bin`` (or ``Scripts``) folder of an interpreter: one per environment."""
    return Path(executable).absolute().parent


def _pip_on_path() -> tuple[str, Path] | None:
    """``(command, the folder its pip package lives in)`` for the ``pip`` on ``PATH``."""
    command = shutil.which("pip")
    if command is None:
        return None
    try:
        result = subprocess.run([command, "--version"], capture_output=True, text=True,
                                timeout=60, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    except (OSError, subprocess.TimeoutExpired):  # a broken or hanging pip: nothing to compare
        return None
    words = result.stdout.split(" from ", 1)  # pip 24.0 from /x/site-packages/pip (python 3.11)
    if result.returncode != 0 or len(words) != 2:
        return None
    return command, Path(words[1].rsplit(" (python", 1)[0].strip())


@guarded("interpreter")
def check_interpreter():
    """Does ``pip`` (``python -m pip``, ``%pip``, and the ``pip`` on ``PATH``) install into the
    interpreter that runs this?"""
    spec = importlib.util.find_spec("pip")
    facts = dict(executable=sys.executable, prefix=sys.prefix)
    if spec is None or spec.origin is None:
        return warning("interpreter", f"{sys.executable} has no pip: %pip and python -m pip "
                       "cannot install into it", f"{Path(sys.executable).name} -m ensurepip "
                       "--upgrade", **facts)
    ours = Path(spec.origin).parent
    other = _pip_on_path()
    if other is not None and other[1].resolve() != ours.resolve():
        return warning("interpreter", f"{sys.executable}, but `pip` on PATH ({other[0]}) "
                       f"installs into {other[1].parent}, another Python",
                       f"install with {PIP} install ... (in a notebook: %pip install ...), or "
                       "activate this environment first", pip_on_path=str(other[1]), **facts)
    return ok("interpreter", f"{sys.executable}; pip installs here (python -m pip, %pip"
              f"{', pip on PATH' if other else ''})", **facts)


def _in_kernel() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and hasattr(shell, "kernel")


def _interpreter_of(script: str) -> str:
    """The interpreter a console script (``jupyter``) runs, from its ``#!`` line."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    words = first[2:].split() if first.startswith("#!") else [script]
    if os.path.basename(words[0]) == "env" and len(words) > 1:  # #!/usr/bin/env python3
        return shutil.which(words[-1]) or words[-1]
    return words[0]


def launcher() -> str | None:
    """The ``jupyter`` a student starts: the one on ``PATH``, else this environment's."""
    here = Path(sys.executable).parent / "jupyter"
    return shutil.which("jupyter") or (str(here) if here.exists() else None)


def _runs_here(argv0: str, jupyter: str | None) -> bool:
    """Whether a kernelspec's command starts this interpreter. Jupyter replaces a bare
    ``python``/``python3`` by its own interpreter: then it depends on which Jupyter starts it."""
    if os.path.basename(argv0) == argv0 and argv0.startswith("python"):
        if jupyter is None:
            return False
        argv0 = _interpreter_of(jupyter)
    return _env_of(argv0) == _env_of(sys.executable)


@guarded("jupyter")
def check_jupyter():
    if _in_kernel():
        return ok("jupyter", f"this notebook's kernel runs {sys.executable}")
    register = (f"{Path(sys.executable).name} -m ipykernel install --user --name course "
                "--display-name 'Python (course)', then pick that kernel")
    if importlib.util.find_spec("ipykernel") is None:
        return warning("jupyter", "ipykernel is not installed here: no notebook kernel can run "
                       "this interpreter", f"{PIP} install jupyter, or {PIP} install ipykernel "
                       f"&& {register}")
    from jupyter_client.kernelspec import KernelSpecManager

    jupyter = launcher()
    specs = KernelSpecManager().get_all_specs()
    here = sorted(name for name, s in specs.items() if _runs_here(s["spec"]["argv"][0], jupyter))
    facts = dict(jupyter=jupyter, kernels=sorted(specs), kernels_here=here)
    if not here:
        return warning("jupyter", f"no kernel of {jupyter or 'Jupyter'} runs {sys.executable} "
                       f"(kernels: {', '.join(sorted(specs)) or 'none'})", register, **facts)
    return ok("jupyter", f"kernel {', '.join(repr(n) for n in here)} of {jupyter} runs this "
              "interpreter", **facts)
