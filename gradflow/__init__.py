"""gradflow: gradient flow and gradient descent on the simplified transformers of theory papers.

Each model writes its loss and gradient by hand, in closed form; the engine integrates
gradient flow ``dθ/dt = -∇L(θ)`` with :func:`scipy.integrate.solve_ivp`, runs gradient
descent and Adam on the same loss, checks gradients, and records trajectories.
"""

from __future__ import annotations

__version__ = "0.1.0"

from gradflow import models
from gradflow.model import Model
from gradflow.params import Params
from gradflow.trajectory import Trajectory, load

__all__ = [
    "Model",
    "Params",
    "Trajectory",
    "load",
    "models",
    "__version__",
]
