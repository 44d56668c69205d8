"""Sphinx configuration of the crossclr_lab site. Build it with `make site` (see docs/about.md), not by hand:
the notebooks under docs/notebooks/ are executed and staged by `python -m tools.site_build`."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))          # document this checkout's library, whatever is installed

import crossclr_lab  # noqa: E402

project = "crossclr_lab"
author = "the crossclr_lab authors"
copyright = "the crossclr_lab authors (MIT licence)"
release = version = crossclr_lab.__version__

extensions = [
    "myst_nb",                    # Markdown pages and executed notebooks
    "sphinx.ext.autodoc",         # the API reference from the docstrings ...
    "sphinx.ext.autosummary",     # ... one page per module, generated
    "sphinx.ext.napoleon",        # Google-style "Args:" / "Returns:" sections
    "sphinx.ext.viewcode",        # links from the API pages to the highlighted source
    "sphinx.ext.githubpages",     # .nojekyll, so GitHub Pages serves _static/ and _images/
    "sphinx-mathjax-offline",     # MathJax served from the site itself: pages render math with no network
]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "_templates"]
templates_path = ["_templates"]

# Notebooks are executed before Sphinx runs (tools/site_build.py: cached, one note per page); never here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "sphinx_book_theme"
html_title = "crossclr_lab"
html_last_updated_fmt = "%Y-%m-%d"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,      # the executed .ipynb of each notebook page
    "use_fullscreen_button": False,
}
# On GitHub Actions the repository is known: link to it and add "launch on Binder" to each notebook page. The
# staged notebooks are docs/notebooks/NN.ipynb and the repository's are notebooks/NN.ipynb, hence path_to_docs "".
repository = os.environ.get("GITHUB_REPOSITORY")
if repository:
    html_theme_options.update({
        "repository_url": f"https://github.com/{repository}",
        "repository_branch": os.environ.get("GITHUB_REF_NAME", "main"),
        "path_to_docs": "",
        "use_repository_button": True,
        "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    })
html_context = {"default_mode": "light"}   # the theme logs a console error when no mode is set
# Two overlapping modalities. Also at the site root: a browser asks for /favicon.ico where a page names none
# (the source-code pages under _modules/ do not).
html_favicon = "_extra/favicon.ico"
html_extra_path = ["_extra"]
