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
        """The paper's initialisation, drawn with ``rng``.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness (a model's data and fixed parts come from its
            constructor's seed, not from here).

        Returns
        -------
        dict of str to ndarray
            One float64 array per parameter, named as in the paper.

        Raises
        ------
        NotImplementedError
            In the base class: every model implements it (rule 2).

        Examples
        --------
        The same generator state gives the same draw:

        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic(np.eye(3))
        >>> a = model.init_params(np.random.default_rng(1))
        >>> b = model.init_params(np.random.default_rng(1))
        >>> a["theta"].shape, a["theta"].dtype, bool(np.array_equal(a["theta"], b["theta"]))
        ((3,), dtype('float64'), True)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement init_params(rng)")

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """The training loss at ``params``.

        Parameters
        ----------
        params : mapping of str to ndarray
            Every parameter, named and shaped as by :meth:`init_params` (float64, or
            complex128 during the complex-step check).

        Returns
        -------
        float
            ``L(θ)`` (complex when ``params`` are).

        Raises
        ------
        NotImplementedError
            In the base class: every model implements it (rule 2).

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> float(Quadratic(np.diag([1.0, 4.0])).loss({"theta": np.ones(2)}))  # ½(1 + 4)
        2.5
        >>> Model().loss({"theta": np.ones(2)})
        Traceback (most recent call last):
        ...
        NotImplementedError: Model must implement loss(params)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement loss(params)")

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The hand-derived gradient of :meth:`loss`, same keys and shapes as ``params``.

        Parameters
        ----------
        params : mapping of str to ndarray
            Every parameter, as for :meth:`loss`.

        Returns
        -------
        dict of str to ndarray
            ``∂L/∂θ`` for every parameter, frozen ones included (the engine drops those).

        Raises
        ------
        NotImplementedError
            In the base class: every model implements it by hand (rule 3).

        Examples
        --------
        The gradient agrees with a central difference of the loss (exact up to rounding
        on a quadratic):

        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
        >>> theta, h, e0 = np.array([1.0, 2.0]), 1e-4, np.array([1.0, 0.0])
        >>> fd = (model.loss({"theta": theta + h * e0}) - model.loss({"theta": theta - h * e0}))
        >>> model.grad({"theta": theta})["theta"].tolist(), round(float(fd / (2 * h)), 8)
        ([4.0, 7.0], 4.0)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement grad(params)")

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient together (override to share the forward pass).

        The default calls :meth:`loss` and :meth:`grad`.  The engine calls this method at
        every GD step and at every recorded sample; the flow's right-hand side calls
        :meth:`grad` only.

        Parameters
        ----------
        params : mapping of str to ndarray
            Every parameter, as for :meth:`loss`.

        Returns
        -------
        loss : float
            As :meth:`loss`.
        grad : dict of str to ndarray
            As :meth:`grad`.

        Examples
        --------
        One outermost call is counted once, under its own name:

        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic(np.diag([1.0, 4.0]))
        >>> value, g = model.loss_and_grad({"theta": np.ones(2)})
        >>> float(value), g["theta"].tolist()
        (2.5, [1.0, 4.0])
        >>> model.counts
        {'loss': 0, 'grad': 0, 'loss_and_grad': 1, 'hvp': 0}
        """
        return self.loss(params), self.grad(params)

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Quantities the theorems track (floats or arrays); none by default.

        The engine evaluates them at every recorded sample and stacks them over time in
        ``traj.observables`` (:func:`gradflow.trajectory.stack_observables`).

        Parameters
        ----------
        params : mapping of str to ndarray
            Every parameter, as for :meth:`loss`.

        Returns
        -------
        dict of str to float or ndarray
            The same keys and shapes at every ``params``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> Model().observables({"theta": np.ones(2)})
        {}
        >>> obs = Quadratic(np.diag([1.0, 4.0])).observables({"theta": np.array([3.0, 4.0])})
        >>> sorted(obs), np.abs(obs["eig_coords"]).tolist()   # Qᵀθ, Q = I up to signs
        (['eig_coords', 'theta'], [3.0, 4.0])
        """
        return {}

    def hvp(
        self, params: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Hessian-vector product; optional (see :attr:`has_hvp`).

        With it the implicit solvers get an exact Jacobian ``−∇²L`` and
        :func:`gradflow.descent.sharpness` exact products; without it both fall back on
        finite differences of :meth:`grad`.

        Parameters
        ----------
        params : mapping of str to ndarray
            Where the Hessian is taken, as for :meth:`loss`.
        v : mapping of str to ndarray
            The direction, same names and shapes as ``params`` (the engine passes zeros
            for frozen entries).

        Returns
        -------
        dict of str to ndarray
            ``∇²L(θ)·v``, same keys and shapes as ``v``.

        Raises
        ------
        NotImplementedError
            In the base class (a model without an hvp).

        Examples
        --------
        The product agrees with a central difference of the gradient:

        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
        >>> theta, v, h = np.array([1.0, -2.0]), np.array([0.5, 1.0]), 1e-4
        >>> g = lambda x: model.grad({"theta": x})["theta"]
        >>> model.hvp({"theta": theta}, {"theta": v})["theta"].tolist()
        [2.0, 3.5]
        >>> np.round((g(theta + h * v) - g(theta - h * v)) / (2 * h), 8).tolist()
        [2.0, 3.5]
        >>> model.has_hvp, Model().has_hvp
        (True, False)
        """
        raise NotImplementedError(f"{type(self).__name__} has no hvp")

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable; empty by default.

        Saved trajectories record it in ``metadata["config"]``, and ``repr(model)``
        shows it.

        Returns
        -------
        dict of str to object
            Built from JSON types only (numbers, strings, lists, dicts, None).

        Examples
        --------
        >>> import json
        >>> from gradflow.models.quadratic import Quadratic
        >>> config = Quadratic.paper(kappa=4.0).config()
        >>> config["constructor"], config["kappa"]
        ('paper', 4.0)
        >>> json.loads(json.dumps(config)) == config
        True
        >>> Model().config()
        {}
        """
        return {}

    # --- helpers the engine uses -------------------------------------------------
    @property
    def has_hvp(self) -> bool:
        """True when the subclass implements :meth:`hvp`.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> Quadratic(np.eye(2)).has_hvp, Model().has_hvp
        (True, False)
        """
        return type(self).hvp is not Model.hvp

    @property
    def counts(self) -> dict[str, int]:
        """Outermost calls of ``loss``, ``grad``, ``loss_and_grad`` and ``hvp`` so far.

        A copy: changing it does not change the counters.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic(np.eye(2))
        >>> for _ in range(3):
        ...     _ = model.grad({"theta": np.ones(2)})
        >>> model.counts["grad"], model.counts["loss"]
        (3, 0)
        """
        return dict(self.__dict__.get("_counts", dict.fromkeys(_COUNTED, 0)))

    def reset_counts(self) -> None:
        """Set every evaluation counter to zero.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic(np.eye(2))
        >>> _ = model.loss({"theta": np.ones(2)})
        >>> model.counts["loss"]
        1
        >>> model.reset_counts()
        >>> model.counts
        {'loss': 0, 'grad': 0, 'loss_and_grad': 0, 'hvp': 0}
        """
        self.__dict__["_counts"] = dict.fromkeys(_COUNTED, 0)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters, read from a deterministic initialisation.

        The engine checks ``params0`` against it (names, shapes).

        Returns
        -------
        dict of str to tuple of int
            The shape of every parameter, in :meth:`init_params` order.

        Examples
        --------
        A two-layer linear network with widths 8 → 4 → 6:

        >>> from gradflow.models.linear_net import LinearNet
        >>> LinearNet.paper().param_shapes()
        {'W1': (4, 8), 'W2': (6, 4)}
        """
        params = self.init_params(np.random.default_rng(0))
        return {k: np.shape(v) for k, v in params.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


for _kind in _COUNTED:
    setattr(Model, _kind, _counted(_kind, Model.__dict__[_kind]))
