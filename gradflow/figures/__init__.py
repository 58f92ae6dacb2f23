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
    """Short names of the figure sets whose module exists, in registry order.

    Returns
    -------
    list of str
        Each is accepted by :func:`get` and by ``gradflow reproduce``.

    Examples
    --------
    >>> from gradflow import figures
    >>> figures.names()[0]
    'oracles'
    >>> set(figures.names()) <= set(figures.FIGURES)
    True
    """
    return [name for name, mod in FIGURES.items() if importlib.util.find_spec(mod) is not None]


def get(name: str) -> ModuleType:
    """The figure module registered under ``name`` (it has a ``reproduce`` function).

    Parameters
    ----------
    name : str
        Short name, as listed by :func:`names`.

    Returns
    -------
    module
        The imported module ``gradflow.figures.<name>``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered figure set, or its module is not installed.

    Examples
    --------
    >>> from gradflow import figures
    >>> module = figures.get("oracles")
    >>> module.__name__, callable(module.reproduce)
    ('gradflow.figures.oracles', True)
    >>> figures.get("nope")
    Traceback (most recent call last):
        ...
    ValueError: figure set 'nope' is unknown; the figure sets are [...]
    """
    if name not in FIGURES or importlib.util.find_spec(FIGURES[name]) is None:
        raise ValueError(f"figure set {name!r} is unknown; the figure sets are {names()}")
    return importlib.import_module(FIGURES[name])
