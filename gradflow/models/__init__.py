"""The models: the four papers' transformers and the exact-solution oracles.

Classes are imported lazily, so that ``import gradflow`` stays fast and one model's
module does not need another's.  :data:`REGISTRY` maps the short name used on the
command line (``gradflow run icl``) to the class.

Every registered class has a classmethod ``paper(**overrides)`` that builds the
configuration of its paper's experiment (for the oracles, a small default).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["REGISTRY", "get", "names"]

#: short name -> (module, class name)
REGISTRY: dict[str, tuple[str, str]] = {
    "quadratic": ("gradflow.models.quadratic", "Quadratic"),
    "linear_net": ("gradflow.models.linear_net", "LinearNet"),
    "icl": ("gradflow.models.icl_regression", "ICLRegression"),
    "cooccurrence": ("gradflow.models.cooccurrence", "CoOccurrence"),
    "two_mixture": ("gradflow.models.two_mixture", "TwoMixture"),
    "decision_list": ("gradflow.models.decision_list", "DecisionList"),
}

_BY_CLASS = {cls: (mod, cls) for mod, cls in REGISTRY.values()}


def names() -> list[str]:
    """Short names of the registered models whose module is installed.

    Returns
    -------
    list of str
        In registry order; each is accepted by :func:`get`.

    Examples
    --------
    >>> from gradflow import models
    >>> models.names()[:2]
    ['quadratic', 'linear_net']
    >>> all(models.get(n).name == n for n in models.names())
    True
    """
    out = []
    for short, (mod, _) in REGISTRY.items():
        if importlib.util.find_spec(mod) is not None:
            out.append(short)
    return out


def get(name: str) -> type:
    """The model class registered under ``name`` (e.g. ``"icl"``).

    Parameters
    ----------
    name : str
        Short name, as listed by :func:`names` and used on the command line.

    Returns
    -------
    type
        The model class (a subclass of :class:`gradflow.Model`), imported on demand.

    Raises
    ------
    ValueError
        If ``name`` is not a registered model.

    Examples
    --------
    >>> from gradflow import models
    >>> models.get("linear_net").__name__
    'LinearNet'
    >>> models.get("mlp")
    Traceback (most recent call last):
        ...
    ValueError: model 'mlp' is unknown; the models are [...]
    """
    if name not in REGISTRY:
        raise ValueError(f"model {name!r} is unknown; the models are {names()}")
    mod, cls = REGISTRY[name]
    return getattr(importlib.import_module(mod), cls)


def __getattr__(attr: str) -> Any:
    if attr in _BY_CLASS:
        mod, cls = _BY_CLASS[attr]
        return getattr(importlib.import_module(mod), cls)
    raise AttributeError(f"module 'gradflow.models' has no attribute {attr!r}")
