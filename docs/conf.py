"""Sphinx configuration of the course site: lessons (executed), exercises (student form), API.

Build with ``make site`` (full mode) or ``COURSE_FAST=1 make site`` (fast mode). The source folder
is the repository root (so the notebooks stay where they are); this file lives in docs/ and the
landing page is docs/index.md. Executed notebooks are cached by jupyter-cache, one cache per
mode, so a rebuild re-executes only the notebooks that changed. Nothing is loaded from the web:
MathJax is served from the site's own _static folder and widget JavaScript is left out (each
explorer of ``course.widgets`` also shows a static figure).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

from course import config as course_config  # noqa: E402
from course import notebook_setup  # noqa: E402

FAST = course_config.is_fast()
# kernels inherit this process's environment: let IPython use its inline backend (CI exports
# MPLBACKEND=Agg, under which a kernel shows no figure at all)
os.environ.pop("MPLBACKEND", None)
MODE = "fast" if FAST else "full"

project = "course: convolutional neural networks with Keras 3"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
root_doc = "docs/index"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

include_patterns = ["docs/**", "notebooks/[0-9][0-9]_*.ipynb", "exercises/[0-9][0-9]_*.ipynb"]
exclude_patterns = ["docs/_build/**", "docs/_static/**", "**/.ipynb_checkpoints", "**/runs/**", ".venv/**"]
suppress_warnings = ["myst.header", "toc.not_included", "misc.highlighting_failure"]

# ---- notebooks: executed with the current mode's jupyter cache; exercises stay student form
nb_execution_mode = os.environ.get("COURSE_SITE_EXECUTION", "cache")
nb_execution_cache_path = str(DOCS / "_build" / f".jupyter_cache_{MODE}")
nb_execution_excludepatterns = ["exercises/*"]
nb_execution_in_temp = True        # a fresh folder: never resume from an old runs/ directory
nb_execution_timeout = 3600 if not FAST else 600
nb_execution_raise_on_error = True  # a lesson that fails breaks the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"       # TensorFlow's C++ start-up log, warnings: not course content
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
nb_ipywidgets_js = {}              # no widget JavaScript from a CDN: explorers show their PNG
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# ---- API reference from docstrings
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
# Keras' callback hooks carry Google-style docstrings that this site does not parse: methods
# the course does not document itself show none
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
napoleon_google_docstring = False

# ---- HTML: sphinx-book-theme, everything local
html_theme = "sphinx_book_theme"
html_title = "CNNs with Keras 3"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "light"}
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
    # Colab and Binder buttons on the lessons, at the release's tag, once pyproject.toml names the
    # project's GitHub repository ([project.urls] Repository); none until then
    **notebook_setup.site_launch_options(ROOT),
}
html_last_updated_fmt = None

# MathJax 3 from the sphinx-mathjax-offline package, copied into _static/mathjax
mathjax_path = "mathjax/tex-chtml.js"


def _mathjax_dir() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("MathJax is served locally from the sphinx-mathjax-offline package: "
                           'pip install -e ".[site]"')
    return Path(spec.origin).parent / "static" / "mathjax"


def _copy_mathjax(app, exception):
    if exception is None:
        target = Path(app.outdir) / "_static" / "mathjax"
        if not (target / "tex-chtml.js").exists():
            shutil.copytree(_mathjax_dir(), target, dirs_exist_ok=True)
        # the landing page at the site's root
        (Path(app.outdir) / "index.html").write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>course</title>'
            '<link rel="icon" href="_static/favicon.svg">'
            '<meta http-equiv="refresh" content="0; url=docs/index.html"></head>'
            '<body><a href="docs/index.html">The course</a></body></html>\n')


def setup(app):
    _mathjax_dir()  # fail early, with the fix, if the package is missing
    app.connect("build-finished", _copy_mathjax)
