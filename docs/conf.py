"""Sphinx configuration of the teacherstudent documentation (built offline).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (the ``docs`` extra installs the
tools). Nothing is fetched at build or view time: no intersphinx, no CDN, no binder; MathJax
is bundled by sphinx-mathjax-offline. The gallery pages are generated from the studies in
``simulations/`` (``_ext/gallery_pages.py``); the configuration and command-line references
from the package itself (``_ext/tsdocs.py``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))

import gallery_pages  # noqa: E402

import teacherstudent  # noqa: E402

project = "teacherstudent"
author = "the teacherstudent authors"
copyright = "the teacherstudent authors, MIT licence"
version = release = teacherstudent.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx-mathjax-offline",
    "tsdocs",
]

root_doc = "index"
exclude_patterns = ["_build", "gallery", "**.ipynb_checkpoints", "README.md",
                    # sphinx-gallery's by-products next to its pages (notebooks, scripts)
                    "auto_gallery/**/*.ipynb", "auto_gallery/**/*.py", "auto_gallery/**/*.zip",
                    "auto_gallery/**/*.json", "auto_gallery/**/*.md5"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
templates_path = []
nitpicky = False

# --------------------------------------------------------------------------- MyST / MyST-NB
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 240
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --------------------------------------------------------------------------- API reference
autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# --------------------------------------------------------------------------- theory pages
# one page per theory/*.md, included as it is (theory/README.md is the page on the scripts);
# generated, so a new derivation appears with the next build
gallery_pages.theory_pages(ROOT / "theory", HERE / "theory")

# --------------------------------------------------------------------------- gallery
gallery_pages.generate(ROOT, HERE / "gallery")
# sphinx-gallery never deletes the pages of a study that was renamed or renumbered: start
# its output afresh, so that a stale page cannot break the -W build
shutil.rmtree(HERE / "auto_gallery", ignore_errors=True)
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_gallery",
    "filename_pattern": r"plot_",
    "within_subsection_order": "FileNameSortKey",
    "subsection_order": gallery_pages.subsection_order(HERE / "gallery"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_signature": False,
    "show_memory": False,
    "backreferences_dir": None,
    "reference_url": {},
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "min_reported_time": 1e9,
    "write_computation_times": False,
}

# --------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"teacherstudent {release}"
html_static_path = ["_static"]
html_css_files = ["teacherstudent.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": [],
    "secondary_sidebar_items": ["page-toc"],
    "show_version_warning_banner": False,
    "icon_links": [],
}
# pages without sub-pages get no (empty) left sidebar, so their tables have the room
html_sidebars = {page: [] for page in ("index", "model", "configuration", "cli", "outputs",
                                        "sweep-spec", "api", "cite", "changelog")}
html_context = {"default_mode": "light"}
