"""Sphinx configuration for the gradflow documentation site.

Build (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Markdown pages are read by MyST-Parser, the API reference is written by autodoc with
numpydoc, and sphinx-gallery runs every script in ``examples/`` and shows the PNGs it
writes.  Math is typeset by MathJax 3 served from the build itself (the files come from
the ``sphinx-mathjax-offline`` wheel on PyPI), so nothing is fetched from a CDN at build
or view time.  ``GRADFLOW_DOCS_GALLERY=0`` skips running the examples (a quick build for
editing prose; the gallery pages then show no figures).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))  # gallery_scraper, named below by its import path

import gradflow  # noqa: E402

project = "gradflow"
author = "the gradflow developers"
copyright = "2026, the gradflow developers"
release = gradflow.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "conftest.py", "gallery_scraper.py"]

# --- Markdown (MyST): $...$ and $$...$$ math, labels on equations, ::: fences ---------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True
myst_heading_anchors = 3

# --- Math: MathJax 3 from the build's own _static, SVG output (no web fonts to load) --------
mathjax_path = "mathjax/tex-svg.js"


def _mathjax_source() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "MathJax is served from the build: install the docs extra "
            "(pip install -e '.[docs]'), which brings sphinx-mathjax-offline"
        )
    return Path(spec.origin).parent / "static" / "mathjax"


def _copy_mathjax(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(
            _mathjax_source(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True
        )


# --- API reference: autodoc + numpydoc -------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _module_sections_as_rubrics(app, what, name, obj, options, lines) -> None:
    """numpydoc turns a function's "Examples" section into a rubric, but not a module's.

    Several modules share an API page, and their docstrings' section titles ("Examples",
    "Notes") would become sections with clashing IDs; rubrics, as for functions, do not.
    """
    if what != "module":
        return
    i = 0
    while i < len(lines) - 1:
        title, underline = lines[i].strip(), lines[i + 1].strip()
        if title and set(underline) == {"-"} and len(underline) >= len(title):
            lines[i : i + 2] = [f".. rubric:: {title}", ""]
        i += 1


# --- Gallery: every script in examples/, run in its quick mode, figures scraped from disk ----
_run_gallery = os.environ.get("GRADFLOW_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$" if _run_gallery else r"^$",
    "plot_gallery": _run_gallery,
    "image_scrapers": ("gallery_scraper.png_scraper",),
    "reset_argv": "gallery_scraper.example_argv",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "abort_on_example_error": True,
}

# --- HTML -------------------------------------------------------------------------------
html_theme = "furo"
html_title = "gradflow"
html_static_path: list[str] = []
html_theme_options: dict[str, object] = {}


def setup(app) -> None:
    app.connect("build-finished", _copy_mathjax)
    app.connect("autodoc-process-docstring", _module_sections_as_rubrics)
