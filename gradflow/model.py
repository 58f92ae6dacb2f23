"""The contract every gradflow model fulfils.

A model holds its data and fixed parts (built from a seed in the constructor) and
computes, for parameters passed in as a dict of named float64 arrays, the loss, its
hand-derived gradient and the quantities the paper's theorems track.  The engine
(:func:`gradflow.integrate_flow`, :func:`gradflow.gradient_descent`,
:func:`gradflow.adam`, :func:`gradflow.check_model`) needs nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["Model"]

_COUNTED = ("loss", "grad", "loss_and_grad", "hvp")


def _counted(kind: str, method: Callable) -> Callable:
    """Wrap a model method so that outermost calls are counted in ``self.counts``."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        state = self.__dict__
        depth = state.get("_count_depth", 0)
        if depth == 0:
            if "_counts" not in state:
                state["_counts"] = dict.fromkeys(_COUNTED, 0)
            state["_counts"][kind] += 1
        state["_count_depth"] = depth + 1
        try:
            return method(self, *args, **kwargs)
        finally:
            state["_count_depth"] = depth

    wrapper.__gradflow_counted__ = True
    return wrapper


class Model:
    """Base class of a model whose training dynamics gradflow simulates.

    A subclass must follow these rules (in the spirit of SciPy's ``OdeSolver``):

    1. Set the class attributes ``name`` (short id, e.g. ``"cooccurrence"``),
       ``citation`` (the paper) and ``dynamics`` (what the paper's theorem is about:
       ``"gradient flow"``, ``"gradient descent"`` or ``"staged"``).
    2. Implement ``init_params(rng)`` returning the paper's initialisation as a dict of
       float64 arrays, and ``loss(params)`` returning a float.
    3. Implement ``grad(params)`` **by hand**, returning a dict with the same keys and
       shapes as ``params``.  ``loss`` and ``grad`` sit next to each other and use the
       paper's intermediate names (``S = X.T @ W @ X``, ``A = softmax(S)``, ...), so a
       reader checks one against the other line by line.  No autodiff.
    4. Optionally override ``loss_and_grad`` to share the forward pass (the default
       calls both), ``observables(params)`` (what the theorems track: floats or
       arrays), and ``hvp(params, v)`` (Hessian-vector product, same keys as ``v``).
    5. The code is analytic in the parameters: no ``abs``, ``maximum`` or float
       preallocation on the parameter path, so that ``loss`` accepts complex
       parameters and the complex-step check works.  A stable softmax shifts by the
       real part's max.  A model that cannot be (a ReLU kink) sets
       ``complex_safe = False``.
    6. Inputs are never modified.  ``trainable`` names the parameters that move (None
       means all); the engine keeps the others fixed.
    7. ``config()`` returns the constructor arguments (JSON-serialisable) so that a
       saved run records how its model was built.

    The base class counts outermost calls of ``loss``, ``grad``, ``loss_and_grad`` and
    ``hvp`` in :attr:`counts` (a call of ``grad`` made inside ``loss_and_grad`` counts
    once, as ``loss_and_grad``).  :func:`gradflow.check_model` checks rules 3-6.

    Examples
    --------
    >>> import numpy as np
    >>> class Bowl(Model):
    ...     name, citation, dynamics = "bowl", "none", "gradient flow"
    ...     def init_params(self, rng):
    ...         return {"x": np.ones(2)}
    ...     def loss(self, params):
    ...         return 0.5 * np.sum(params["x"] ** 2)
    ...     def grad(self, params):
    ...         return {"x": params["x"].copy()}
    >>> bowl = Bowl()
    >>> p = bowl.init_params(np.random.default_rng(0))
    >>> float(bowl.loss(p)), bowl.grad(p)["x"].tolist(), bowl.counts["grad"]
    (1.0, [1.0, 1.0], 1)
    """

    name: ClassVar[str] = "model"
    citation: ClassVar[str] = ""
    dynamics: ClassVar[str] = "gradient flow"
    complex_safe: ClassVar[bool] = True
    trainable: tuple[str, ...] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for kind in _COUNTED:
            method = cls.__dict__.get(kind)
            if method is not None and not getattr(method, "__gradflow_counted__", False):
                setattr(cls, kind, _counted(kind, method))

    # --- the contract -------------------------------------------------------------
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The paper's initialisation, drawn with ``rng``."""
        raise NotImplementedError(f"{type(self).__name__} must implement init_params(rng)")

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """The training loss at ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss(params)")

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The hand-derived gradient of :meth:`loss`, same keys and shapes as ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement grad(params)")

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient together (override to share the forward pass)."""
        return self.loss(params), self.grad(params)

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Quantities the theorems track (floats or arrays); none by default."""
        return {}

    def hvp(
        self, params: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Hessian-vector product; optional (see :attr:`has_hvp`)."""
        raise NotImplementedError(f"{type(self).__name__} has no hvp")

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable; empty by default."""
        return {}

    # --- helpers the engine uses -------------------------------------------------
    @property
    def has_hvp(self) -> bool:
        """True when the subclass implements :meth:`hvp`."""
        return type(self).hvp is not Model.hvp

    @property
    def counts(self) -> dict[str, int]:
        """Outermost calls of ``loss``, ``grad``, ``loss_and_grad`` and ``hvp`` so far."""
        return dict(self.__dict__.get("_counts", dict.fromkeys(_COUNTED, 0)))

    def reset_counts(self) -> None:
        """Set every evaluation counter to zero."""
        self.__dict__["_counts"] = dict.fromkeys(_COUNTED, 0)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters, read from a deterministic initialisation."""
        params = self.init_params(np.random.default_rng(0))
        return {k: np.shape(v) for k, v in params.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


for _kind in _COUNTED:
    setattr(Model, _kind, _counted(_kind, Model.__dict__[_kind]))
