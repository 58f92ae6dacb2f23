"""gradflow: gradient flow and gradient descent on the simplified transformers of theory papers.

Each model writes its loss and gradient by hand, in closed form; the engine integrates
gradient flow ``dθ/dt = -∇L(θ)`` with :func:`scipy.integrate.solve_ivp`, runs gradient
descent and Adam on the same loss, checks gradients, and records trajectories.

The public names are re-exported here.  ``compare`` and ``sweep`` are imported eagerly:
they are both a module and a function, and a lazy function would be shadowed by the
module as soon as anyone imported ``gradflow.compare`` (Python binds a submodule to its
package's attribute on import).  The rest (``plots`` above all, which loads matplotlib)
is imported on first use.

>>> import inspect
>>> import gradflow as gf
>>> from gradflow.flow import integrate_flow
>>> gf.integrate_flow is integrate_flow            # imported on first use
True
>>> inspect.isfunction(gf.compare), inspect.ismodule(gf.models)
(True, True)
>>> gf.no_such_name
Traceback (most recent call last):
...
AttributeError: module 'gradflow' has no attribute 'no_such_name'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from gradflow import models
from gradflow.compare import compare, convergence_order
from gradflow.model import Model
from gradflow.params import Params
from gradflow.sweep import sweep
from gradflow.trajectory import Trajectory, load

#: public name -> (module, attribute); attribute None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "integrate_flow": ("gradflow.flow", "integrate_flow"),
    "gradient_descent": ("gradflow.descent", "gradient_descent"),
    "adam": ("gradflow.descent", "adam"),
    "Stage": ("gradflow.stages", "Stage"),
    "run_stages": ("gradflow.stages", "run_stages"),
    "stages": ("gradflow.stages", None),
    "check_gradient": ("gradflow.checks", "check_gradient"),
    "check_model": ("gradflow.checks", "check_model"),
    "checks": ("gradflow.checks", None),
    "flow": ("gradflow.flow", None),
    "plots": ("gradflow.plots", None),
    "scaling": ("gradflow.scaling", None),
}

__all__ = [
    "Model",
    "Params",
    "Trajectory",
    "compare",
    "convergence_order",
    "load",
    "models",
    "sweep",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import a lazy public name on first access and cache it in the module."""
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, including those not imported yet."""
    return sorted(__all__)
