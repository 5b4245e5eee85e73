"""Sphinx configuration of bottlekit's documentation (``make docs``).

Sphinx + numpydoc + sphinx-gallery, as scikit-learn and captum: the docstrings are
numpydoc already, autosummary turns each public ``__all__`` into reference pages, and
sphinx-gallery executes the examples at build time. The site is built for reading
offline: no remote intersphinx inventories, MathJax served from ``_static`` and a theme
that loads no web fonts or scripts from the web.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # this checkout's bottlekit, not an installed one
sys.path.insert(0, str(DOCS / "_ext"))

from api_pages import public_constants, write_api_pages  # noqa: E402

import bottlekit  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

write_api_pages(DOCS / "api")

project = "bottlekit"
author = "the bottlekit developers"
copyright = "the bottlekit developers"
release = bottlekit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static: math renders offline
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "gallery/README.rst", "**/README.md", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
suppress_warnings = ["myst.header"]  # the existing pages start their headings at h2 in places

# autodoc / autosummary: stub pages are generated from docs/api/*.rst at build time
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
add_module_names = False

# numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# section structure, parameter lists, and a described type for every parameter and
# return value; see "About these docs" for what is not checked
numpydoc_validation_checks = {
    *("GL03", "GL05", "GL06", "GL07", "GL08", "GL09", "GL10", "SS01", "SS04"),
    *("PR01", "PR02", "PR04", "PR07", "PR10", "RT01", "RT03"),
}
# constants (tuples, dicts, numbers) have no docstring of their own
numpydoc_validation_exclude = {rf"^{name.replace('.', '[.]')}$" for name in public_constants()}

# MathJax's menu can switch on speech output, whose rule files come from a CDN: no menu.
mathjax3_config = {"options": {"enableMenu": False}}

# MyST: the Markdown pages in docs/
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3


# sphinx-gallery: docs/gallery/*.py, executed on the built-in world at build time
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "doc_module": ("bottlekit",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"bottlekit": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "show_signature": False,
    # bottlekit's plot functions return pyplot-free Figures (docs/_ext/gallery_figures.py)
    "image_scrapers": ("gallery_figures.bottlekit_figures", "matplotlib"),
    "min_reported_time": 5,
    "write_computation_times": False,  # its table page loads jQuery from a CDN
}

# HTML: pydata-sphinx-theme (scikit-learn's); nothing is fetched from the web
html_theme = "pydata_sphinx_theme"
html_title = f"bottlekit {release}"
html_static_path = ["_static"]
html_css_files = ["bottlekit.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["theme-switcher"],
    "show_prev_next": False,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "auto_examples/index": []}
# No intersphinx: its inventories would come from the network, and there is none.


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_{fit,score,...}_request`` to every estimator class; their
    docstrings point into scikit-learn's own docs (labels and glossary we do not have)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_routing)
