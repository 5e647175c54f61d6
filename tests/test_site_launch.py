"""The site's launch buttons: where ``pyproject.toml`` names the project's GitHub repository, a
lesson page built by Sphinx with sphinx-book-theme (``docs/conf.py``'s theme options, from
``notebook_setup.site_launch_options``) links to Colab and Binder at the release's tag, at the
same addresses the README's links use (``notebook_setup.launch_links``); with no repository,
no launch button. A one-page site, not executed (seconds); needs the ``[site]`` extra, so it
runs in ``make site-test``."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import notebook_setup

pytest.importorskip("sphinx_book_theme")
pytest.importorskip("myst_nb")

ROOT = Path(__file__).resolve().parents[1]
LESSON = "notebooks/02_mnist_two_layer_cnn.ipynb"


def one_page_site(tmp_path: Path, repository: str | None) -> str:
    """The HTML of ``LESSON``'s page in a site whose pyproject names ``repository``."""
    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / LESSON, src / LESSON)
    urls = f'\n[project.urls]\nRepository = "{repository}"\n' if repository else ""
    (src / "pyproject.toml").write_text(f'[project]\nname = "course"\nversion = "0.2.0"\n{urls}')
    (src / "index.md").write_text(f"# Course\n\n```{{toctree}}\n{LESSON}\n```\n")
    (src / "conf.py").write_text(
        "from pathlib import Path\n"
        "from course import notebook_setup\n"
        "extensions = ['myst_nb']\n"
        "html_theme = 'sphinx_book_theme'\n"
        "nb_execution_mode = 'off'\n"
        "html_theme_options = notebook_setup.site_launch_options(Path(__file__).parent)\n")
    out = tmp_path / "html"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return (out / LESSON).with_suffix(".html").read_text()


def test_launch_buttons_open_the_release_on_colab_and_binder(tmp_path):
    html = one_page_site(tmp_path, "https://github.com/example-org/cnn-course")
    links = notebook_setup.launch_links(tmp_path / "src", LESSON)
    assert links["Colab"].endswith("/example-org/cnn-course/blob/v0.2.0/" + LESSON)
    hrefs = set(re.findall(r'href="(https://[^"]+)"', html))
    assert links["Colab"] in hrefs, sorted(hrefs)
    assert links["Binder"] in hrefs, sorted(hrefs)


def test_no_repository_no_launch_button(tmp_path):
    html = one_page_site(tmp_path, None)
    assert "colab.research.google.com" not in html
    assert "mybinder.org" not in html
