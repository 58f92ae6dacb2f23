"""Figure sets that ``gradflow reproduce`` writes: one module per model family.

Each module ``gradflow.figures.<name>`` exposes

``reproduce(out: pathlib.Path, quick: bool = False, progress: bool = False) -> list[Path]``

which writes PNGs, the ``.npz`` runs and a ``results.json`` of the measured numbers into
``out`` and returns the paths written.  ``quick=True`` runs small sizes (under a minute);
the default reproduces the paper's figure.

Modules are imported lazily: :func:`names` lists the figure sets whose module is
installed, :func:`get` imports one.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["FIGURES", "get", "names"]

#: short name (as on the command line) -> module
FIGURES: dict[str, str] = {
    "oracles": "gradflow.figures.oracles",
    "icl": "gradflow.figures.icl",
    "cooccurrence": "gradflow.figures.cooccurrence",
    "two_mixture": "gradflow.figures.two_mixture",
    "decision_list": "gradflow.figures.decision_list",
}


def names() -> list[str]:
    """Short names of the figure sets whose module exists, in registry order."""
    return [name for name, mod in FIGURES.items() if importlib.util.find_spec(mod) is not None]


def get(name: str) -> ModuleType:
    """The figure module registered under ``name`` (it has a ``reproduce`` function).

    Raises
    ------
    ValueError
        If ``name`` is not a registered figure set, or its module is not installed.
    """
    if name not in FIGURES or importlib.util.find_spec(FIGURES[name]) is None:
        raise ValueError(f"figure set {name!r} is unknown; the figure sets are {names()}")
    return importlib.import_module(FIGURES[name])
