"""Sphinx configuration of the parsl-quantum documentation (built by ``make docs``).

Pages are MyST Markdown; those with ``{code-cell}`` blocks are executed by myst-nb when the docs are built
(``nb_execution_mode = "force"``), so an example that fails fails the build. The API reference comes from
the docstrings (autodoc + numpydoc).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import parsl_quantum

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "parsl-quantum"
author = "parsl-quantum developers"
copyright = "2026, parsl-quantum developers"  # noqa: A001 - Sphinx's name
release = version = parsl_quantum.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# --- MyST and execution ------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every example runs at every build: a page cannot show code that fails
nb_execution_raise_on_error = True
nb_execution_timeout = 600  # one cell, on a loaded 2-core machine
nb_execution_show_tb = True
nb_merge_streams = True
nb_execution_in_temp = True  # examples write runinfo/ and profiles into a temporary directory
nb_render_markdown_format = "myst"  # tables that examples display as Markdown (the benchmarks page)

# The kernels inherit this environment: the examples' `!parsl-quantum ...` is this venv's command, the
# benchmarks page reads benchmarks/results/ from the source tree, charts need no display, and the kernel
# keeps its transport notices to itself (an IPython profile of the build's own, under docs/_build).
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ["PARSL_QUANTUM_SOURCE"] = str(ROOT)
os.environ["MPLBACKEND"] = "Agg"
IPYTHON_DIR = DOCS / "_build" / "ipython"
(IPYTHON_DIR / "profile_default").mkdir(parents=True, exist_ok=True)
(IPYTHON_DIR / "profile_default" / "ipython_kernel_config.py").write_text(
    'c.IPKernelApp.log_level = "ERROR"\n'
)
os.environ["IPYTHONDIR"] = str(IPYTHON_DIR)
logging.getLogger("traitlets").setLevel(logging.WARNING)


# --- API reference -------------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say what each parameter means
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()  # the docstrings' owners validate them; the build renders them
numpydoc_xref_param_type = False
nitpicky = False  # references to Parsl's and Qiskit's classes are not resolved (no intersphinx offline)

# --- HTML --------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"parsl-quantum {release}"
html_static_path: list[str] = []
