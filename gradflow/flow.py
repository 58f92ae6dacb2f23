"""Gradient flow ``dθ/dt = −∇L(θ)`` integrated with SciPy's ODE solvers.

:func:`integrate_flow` packs the trainable parameters into one vector
(:class:`gradflow.params.Params`), and steps one of SciPy's ``OdeSolver`` classes
(``RK23``, ``RK45``, ``DOP853``, ``Radau``, ``BDF``, ``LSODA``) itself, the way
:func:`scipy.integrate.solve_ivp` does, so that it can

* sample the requested times from each step's interpolant,
* locate events (functions of ``(t, params)``) with :func:`scipy.optimize.brentq` on
  that interpolant,
* stop when a gradient-call or wall-time cap is hit (status ``"stalled"``) and keep
  everything computed so far, and keep it too when the solver fails,
* show a progress bar over flow time on stderr.

Background for the defaults (method, tolerances, Jacobian) is in ``specs/numerics.md``
§3 and ``docs/``; the short version is in the docstring of :func:`integrate_flow`.

A quadratic with eigenvalues 1 and 10, integrated and checked against its closed form
``θ(t) = expm(−Ht) θ₀`` (``Quadratic.exact``) at the end and, through the dense output,
in between:

>>> import numpy as np
>>> import gradflow as gf
>>> from gradflow.models.quadratic import Quadratic
>>> model = Quadratic(np.diag([1.0, 10.0]))
>>> theta0 = {"theta": np.array([1.0, 1.0])}
>>> traj = gf.integrate_flow(model, theta0, (0.0, 2.0), method="RK45", rtol=1e-10)
>>> traj.status, traj.t[0], traj.t[-1]
('finished', np.float64(0.0), np.float64(2.0))
>>> bool(np.allclose(traj.final_params["theta"], model.exact(2.0, [1.0, 1.0]), rtol=1e-8))
True
>>> bool(np.allclose(traj.at(1.0)["theta"], model.exact(1.0, [1.0, 1.0]), rtol=1e-8))
True
"""

from __future__ import annotations

import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, OdeSolution, Radau
from scipy.optimize import brentq

from gradflow.model import Model
from gradflow.params import Params, validate_params
from gradflow.trajectory import Trajectory, environment, stack_observables

__all__ = [
    "integrate_flow",
    "event",
    "DenseFlow",
    "GradientField",
    "WallTimeUp",
    "METHODS",
    "AUTO_LSODA_MAX_SIZE",
]

#: The solver classes ``method=`` accepts (besides ``"auto"``): SciPy's ``RK23``, ``RK45``,
#: ``DOP853``, ``Radau``, ``BDF`` and ``LSODA``, by name.
#:
#: :meta hide-value:
METHODS: dict[str, type] = {
    "RK23": RK23,
    "RK45": RK45,
    "DOP853": DOP853,
    "Radau": Radau,
    "BDF": BDF,
    "LSODA": LSODA,
}
_IMPLICIT = ("Radau", "BDF", "LSODA")

#: ``method="auto"`` picks LSODA up to this state size and an explicit method above it.
#: At n = 500 a dense Jacobian is 2 MB and its LU ~0.04 GFlop; at the co-occurrence
#: paper size (n = 24,704) LSODA's finite-difference Jacobian took minutes (design.md).
AUTO_LSODA_MAX_SIZE = 500

#: An implicit method on a state larger than this gets a warning naming the Jacobian cost.
LARGE_STATE = 2000

#: ``t_eval="log"`` starts its geometric grid at ``t0 + LOG_T_MIN_FRACTION * (t1 - t0)``.
LOG_T_MIN_FRACTION = 1e-6


# --- events -----------------------------------------------------------------------
def event(
    fun: Callable[[float, dict[str, np.ndarray]], float],
    terminal: bool = False,
    direction: int = 0,
    name: str | None = None,
) -> Callable[[float, dict[str, np.ndarray]], float]:
    """Mark a function ``g(t, params) -> float`` as an event for :func:`integrate_flow`.

    The event fires where ``g`` changes sign between two accepted solver steps; its time
    is then located on the step's interpolant to about 1e-12 relative.

    Parameters
    ----------
    fun : callable
        ``g(t, params)`` with ``params`` the dict of named arrays; continuous in ``t``.
    terminal : bool
        Stop the run when the event fires (status ``"event"``).
    direction : {-1, 0, 1}
        Fire only on crossings from positive to negative (-1), negative to positive (+1),
        or both (0).
    name : str, optional
        Name in ``traj.events``; default ``fun.__name__``.

    Returns
    -------
    callable
        A wrapper of ``fun`` carrying ``terminal``, ``direction`` and ``name`` attributes
        (``fun`` itself is not modified).

    Examples
    --------
    >>> half = event(lambda t, p: p["theta"][0] - 0.5, terminal=True, direction=-1,
    ...              name="half")
    >>> half.terminal, half.direction, half.name
    (True, -1, 'half')
    """
    if not callable(fun):
        raise TypeError(f"event fun must be callable g(t, params), got {type(fun).__name__}")
    if direction not in (-1, 0, 1):
        raise ValueError(f"event direction must be -1, 0 or +1, got {direction!r}")

    @functools.wraps(fun)
    def wrapper(t: float, params: dict[str, np.ndarray]) -> float:
        return fun(t, params)

    wrapper.terminal = bool(terminal)
    wrapper.direction = int(direction)
    wrapper.name = name if name is not None else getattr(fun, "__name__", "event")
    return wrapper


def _check_events(events: Iterable[Callable] | Callable | None) -> list[Callable]:
    """Validate ``events`` and give each a name, ``terminal`` and ``direction``."""
    if events is None:
        return []
    if callable(events):
        events = [events]
    out = []
    names = []
    for i, ev in enumerate(events):
        if not callable(ev):
            raise TypeError(f"events[{i}] must be callable g(t, params), got {type(ev).__name__}")
        direction = getattr(ev, "direction", 0)
        if direction not in (-1, 0, 1):
            raise ValueError(f"events[{i}].direction must be -1, 0 or +1, got {direction!r}")
        name = getattr(ev, "name", None) or getattr(ev, "__name__", f"event{i}")
        if name == "<lambda>":
            name = f"event{i}"
        names.append(name)
        out.append(event(ev, bool(getattr(ev, "terminal", False)), int(direction), str(name)))
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"events have duplicate names {dup}; give each a distinct name")
    return out


def _crossed(g_old: float, g_new: float, direction: int) -> bool:
    """True when ``g`` crossed zero (strictly from one side) in the given direction."""
    up = g_old < 0 <= g_new
    down = g_old > 0 >= g_new
    if direction > 0:
        return up
    if direction < 0:
        return down
    return up or down


def _locate(g: Callable[[float], float], t_old: float, t_new: float) -> float:
    """Root of ``g`` in ``[t_old, t_new]`` to 1e-12 relative (``t_new`` if not bracketed)."""
    g_a, g_b = g(t_old), g(t_new)
    if g_b == 0 or np.sign(g_a) == np.sign(g_b):
        # The interpolant's end values can differ from the step's in the last digits;
        # then the crossing is at the end of the step to within that rounding.
        return t_new
    if g_a == 0:
        return t_old
    return brentq(g, t_old, t_new, xtol=1e-12 * max(abs(t_new), 1e-300), rtol=1e-12)


# --- progress ---------------------------------------------------------------------
class ProgressBar:
    """A throttled text progress bar on stderr (no third-party dependency).

    Parameters
    ----------
    label : str
        Text in front of the bar.
    start, stop : float
        Range of the quantity tracked (flow time, or a step count).
    enabled : bool
        When False every method does nothing.
    unit : str
        Name of the tracked quantity (``"t"`` or ``"step"``).
    min_interval : float
        Seconds between redraws.

    Examples
    --------
    The bar writes to stderr (captured here), one carriage-return-separated frame per
    redraw:

    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     bar = ProgressBar("demo", 0, 10, unit="step")
    ...     bar.update(5, force=True)
    ...     bar.close(10, "finished")
    >>> frames = err.getvalue().splitlines()[1:]   # splitlines splits at carriage returns
    >>> [frame.split("]")[1].split()[:2] for frame in frames]
    [['0.0%', 'step=0/10'], ['50.0%', 'step=5/10'], ['100.0%', 'step=10/10']]
    >>> frames[-1].split()[-1]
    'finished'
    """

    width = 30

    def __init__(
        self,
        label: str,
        start: float,
        stop: float,
        enabled: bool = True,
        unit: str = "t",
        min_interval: float = 0.2,
    ):
        self.label, self.start, self.stop, self.unit = label, start, stop, unit
        self.enabled = enabled
        self.min_interval = min_interval
        self.wall0 = time.perf_counter()
        self.last_draw = -math.inf
        if enabled:
            self.update(start, force=True)

    def update(self, value: float, extra: str = "", force: bool = False) -> None:
        """Redraw the bar at ``value`` if ``min_interval`` has passed (or ``force``).

        Parameters
        ----------
        value : float
            Current value of the tracked quantity.
        extra : str
            Text after the bar (e.g. ``"nfev=120"``).
        force : bool
            Redraw even if the last redraw was less than ``min_interval`` ago.

        Examples
        --------
        A disabled bar writes nothing:

        >>> import contextlib, io
        >>> err = io.StringIO()
        >>> with contextlib.redirect_stderr(err):
        ...     ProgressBar("quiet", 0, 1, enabled=False).update(0.5, force=True)
        >>> err.getvalue()
        ''
        """
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        span = self.stop - self.start
        frac = 1.0 if span <= 0 else min(max((value - self.start) / span, 0.0), 1.0)
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        text = (
            f"\r{self.label} [{bar}] {100 * frac:5.1f}% {self.unit}={value:.4g}/{self.stop:.4g}"
            f" {now - self.wall0:.1f}s {extra}"
        )
        sys.stderr.write(text)
        sys.stderr.flush()

    def close(self, value: float, status: str, extra: str = "") -> None:
        """Draw the final state and end the line.

        Parameters
        ----------
        value : float
            Final value of the tracked quantity.
        status : str
            The run's status, written at the end of the line.
        extra : str
            Text between the bar and the status.

        Examples
        --------
        >>> import contextlib, io
        >>> err = io.StringIO()
        >>> with contextlib.redirect_stderr(err):
        ...     ProgressBar("demo", 0.0, 2.0, min_interval=60).close(1.5, "stalled", "nfev=9")
        >>> last = err.getvalue().splitlines()[-1]   # the frame drawn by close
        >>> "75.0% t=1.5/2" in last, last.endswith("nfev=9 stalled")
        (True, True)
        """
        if not self.enabled:
            return
        self.update(value, f"{extra} {status}".strip(), force=True)
        sys.stderr.write("\n")
        sys.stderr.flush()


# --- dense output -----------------------------------------------------------------
class DenseFlow:
    """The parameters of an integrated flow at any time, from the solver's interpolants.

    ``Trajectory.at(t)`` calls this object.  It keeps the model so that the loss at an
    arbitrary time can be evaluated too (:meth:`loss`).  :func:`integrate_flow` builds
    it (in ``traj.dense``) unless called with ``dense_output=False``.

    Parameters
    ----------
    solution : scipy.integrate.OdeSolution
        The piecewise interpolant over the accepted steps (packed trainable vector).
    spec : gradflow.params.Params
        The packing layout (frozen parameters are re-attached on unpacking).
    model : gradflow.Model
        The model integrated, for :meth:`loss`.

    Examples
    --------
    Calling the object gives the parameter dict at a time; on ``L = ½θ²``,
    ``θ(t) = e^{−t}θ₀``:

    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> flow = integrate_flow(Quadratic([[1.0]]), {"theta": np.ones(1)}, (0, 2), rtol=1e-10)
    >>> dense = flow.dense
    >>> type(dense).__name__, dense.spec.trainable
    ('DenseFlow', ('theta',))
    >>> round(float(dense(1.0)["theta"][0]), 8), round(float(np.exp(-1.0)), 8)
    (0.36787944, 0.36787944)
    """

    def __init__(self, solution: OdeSolution, spec: Params, model: Model):
        self.solution, self.spec, self.model = solution, spec, model

    def vector(self, t: float | np.ndarray) -> np.ndarray:
        """The packed trainable vector at ``t`` (shape (n,), or (n, m) for m times).

        Parameters
        ----------
        t : float or ndarray, shape (m,)
            Flow time(s) inside the integrated interval.

        Returns
        -------
        ndarray, shape (n,) or (n, m)
            The state (trainable entries only, in :class:`gradflow.params.Params` order);
            one column per time when ``t`` is an array.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic(np.diag([1.0, 2.0]))
        >>> flow = integrate_flow(model, {"theta": np.ones(2)}, (0, 1), rtol=1e-10)
        >>> states = flow.dense.vector(np.array([0.5, 1.0]))
        >>> states.shape
        (2, 2)
        >>> bool(np.allclose(states.T, model.exact(np.array([0.5, 1.0]), np.ones(2)),
        ...                  atol=1e-8))
        True
        """
        return self.solution(t)

    def __call__(self, t: float) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.spec.unpack(self.solution(float(t))).items()}

    def loss(self, t: float) -> float:
        """The loss at flow time ``t``.

        Parameters
        ----------
        t : float
            Flow time inside the integrated interval.

        Returns
        -------
        float
            ``L(θ(t))`` with ``θ(t)`` from the interpolant (one model evaluation).

        Examples
        --------
        On ``L = ½θ²`` with ``θ₀ = 1`` the loss is ``½e^{−2t}``:

        >>> import numpy as np
        >>> from gradflow.models.quadratic import Quadratic
        >>> flow = integrate_flow(Quadratic([[1.0]]), {"theta": np.ones(1)}, (0, 2), rtol=1e-10)
        >>> round(flow.dense.loss(1.0), 8), round(0.5 * float(np.exp(-2.0)), 8)
        (0.06766764, 0.06766764)
        """
        return float(self.model.loss(self(t)))


# --- the right-hand side --------------------------------------------------------
class WallTimeUp(Exception):
    """Raised by :class:`GradientField` past its deadline, to abandon a solver step.

    An implicit step may call the gradient many times (a finite-difference Jacobian costs
    one call per state entry), so ``max_wall`` is enforced at each call, not only between
    steps; :func:`integrate_flow` catches this and keeps the last accepted step.

    Parameters
    ----------
    nfev : int
        Gradient calls made before the deadline.

    Examples
    --------
    >>> WallTimeUp(12).nfev
    12
    """

    def __init__(self, nfev: int):
        super().__init__(f"wall-time deadline passed after {nfev} gradient calls")
        self.nfev = nfev


class GradientField:
    """The right-hand side ``f(t, y) = −∇L(θ)`` on the packed trainable vector ``y``.

    Unpacks ``y`` (views, frozen entries re-attached), calls ``model.grad`` and writes the
    negated trainable blocks straight into a fresh vector (one pass over the gradient).
    ``nfev`` counts the calls.  ``benchmarks/engine.py`` times this wrapper against a bare
    ``model.grad``.

    Parameters
    ----------
    model : gradflow.Model
        The model whose :meth:`~gradflow.Model.grad` is called.
    spec : gradflow.params.Params
        The packing layout of the state ``y``.
    deadline : float, optional
        A :func:`time.perf_counter` reading; a call at or after it raises
        :class:`WallTimeUp` instead of computing the gradient.

    Examples
    --------
    On ``L = ½θᵀHθ`` the field is ``−Hθ``, one gradient call per evaluation:

    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> from gradflow.params import Params
    >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
    >>> field = GradientField(model, Params({"theta": np.zeros(2)}))
    >>> field(0.0, np.array([1.0, 1.0])).tolist(), field.nfev
    ([-3.0, -4.0], 1)
    """

    def __init__(self, model: Model, spec: Params, deadline: float | None = None):
        self.model, self.spec = model, spec
        self.blocks = [(name, spec.slices[name], spec.shapes[name]) for name in spec.trainable]
        self.nfev = 0
        self.deadline = deadline

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            raise WallTimeUp(self.nfev)
        self.nfev += 1
        grad = self.model.grad(self.spec.unpack(y))
        field = np.empty(self.spec.size)
        for name, where, shape in self.blocks:
            np.negative(grad[name], out=field[where].reshape(shape))
        return field


# --- input checks -----------------------------------------------------------------
def _check_model(model: object) -> None:
    for attr in ("loss", "grad", "loss_and_grad", "init_params"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(
                f"model must be a gradflow.Model (with loss, grad, loss_and_grad, "
                f"init_params), got {type(model).__name__} without {attr}()"
            )


def _check_t_span(t_span: object) -> tuple[float, float]:
    msg = "t_span must be (t0, t1) with t1 > t0"
    try:
        t0, t1 = (float(x) for x in t_span)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{msg}, two finite numbers; got {t_span!r}") from None
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise ValueError(f"{msg}, two finite numbers; got {t_span!r}")
    if not t1 > t0:
        raise ValueError(f"{msg}; got t0={t0:g}, t1={t1:g}")
    return t0, t1


def _check_positive(value: object, argname: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a positive number, got {value!r}")
    value = float(value)
    if not value > 0 or np.isnan(value):
        raise ValueError(f"{argname} must be positive, got {value!r}")
    return value


def check_params0(model: Model, params0: object, argname: str = "params0") -> dict:
    """Validate ``params0`` against the model's parameter names and shapes.

    :func:`gradflow.params.validate_params` with the names and shapes of
    :meth:`gradflow.Model.param_shapes`.

    Parameters
    ----------
    model : gradflow.Model
        The model the parameters are for.
    params0 : object
        The parameter dictionary to check.
    argname : str
        Name of the argument, used in error messages.

    Returns
    -------
    dict of str to ndarray
        The validated dict (float64, finite).

    Raises
    ------
    TypeError, ValueError
        On a non-mapping, wrong dtype, wrong names or shapes, or non-finite values,
        naming ``argname``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> model = Quadratic(np.eye(2))
    >>> check_params0(model, {"theta": np.ones(2)})["theta"].tolist()
    [1.0, 1.0]
    >>> check_params0(model, {"w": np.ones(2)})
    Traceback (most recent call last):
    ...
    ValueError: params0 has the wrong names: missing ['theta'], unexpected ['w']; ...
    """
    return validate_params(params0, expected=model.param_shapes(), argname=argname)


def _resolve_trainable(model: Model, trainable: object) -> Iterable[str] | None:
    if trainable is None:
        return getattr(model, "trainable", None)
    if isinstance(trainable, str):
        return (trainable,)
    if not isinstance(trainable, Iterable) or not all(isinstance(x, str) for x in trainable):
        raise TypeError(f"trainable must be a sequence of parameter names, got {trainable!r}")
    return tuple(trainable)


def _choose_method(method: object, n: int, rtol: float) -> tuple[str, str]:
    valid = ["auto", *METHODS]
    if not isinstance(method, str) or method not in valid:
        raise ValueError(f"method {method!r} is unknown; choose one of {valid}")
    if method != "auto":
        return method, f"method={method!r} was requested"
    if n <= AUTO_LSODA_MAX_SIZE:
        return "LSODA", (
            f"method='auto' picked LSODA: the state has n={n} <= {AUTO_LSODA_MAX_SIZE} numbers, "
            "so a dense Jacobian is cheap if LSODA detects stiffness"
        )
    explicit = "DOP853" if rtol < 1e-9 else "RK45"
    why = "rtol < 1e-9" if explicit == "DOP853" else "rtol >= 1e-9"
    return explicit, (
        f"method='auto' picked {explicit} ({why}): the state has n={n} > {AUTO_LSODA_MAX_SIZE} "
        "numbers, where an implicit method's dense n x n Jacobian is costly"
    )


def _make_t_eval(t_eval: object, n_eval: int, t0: float, t1: float) -> np.ndarray | None:
    if t_eval is None:
        return None
    if isinstance(t_eval, str):
        if t_eval != "log":
            raise ValueError(f"t_eval must be 'log', None or an array of times, got {t_eval!r}")
        if isinstance(n_eval, bool) or not isinstance(n_eval, (int, np.integer)) or n_eval < 1:
            raise ValueError(f"n_eval must be a positive integer, got {n_eval!r}")
        span = t1 - t0
        return np.concatenate([[t0], t0 + np.geomspace(LOG_T_MIN_FRACTION * span, span, n_eval)])
    times = np.asarray(t_eval, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"t_eval must be a 1-D array of times, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError("t_eval contains non-finite values")
    if np.any(np.diff(times) <= 0):
        raise ValueError("t_eval must be strictly increasing")
    if times[0] < t0 or times[-1] > t1:
        raise ValueError(
            f"t_eval must lie inside t_span=({t0:g}, {t1:g}); got [{times[0]:g}, {times[-1]:g}]"
        )
    return times


def default_atol(init_vector: np.ndarray, rtol: float) -> float:
    """The default absolute tolerance: ``min(rtol, 1e-3) × init_scale``.

    ``init_scale`` is the RMS of the trainable initial parameters (1 when they are all
    zero).  The accept test of SciPy's solvers is ``err < atol + rtol·|y|`` per
    component; SciPy's default ``atol = 1e-6`` counts every parameter of a 1e-6
    initialisation as zero, and the solver then strides through the plateau that follows
    and misplaces the escape (``specs/numerics.md`` §3.3).  This rule keeps
    ``atol ≤ 1e-3 · init_scale`` and makes the absolute part as tight as the relative part
    for components of the initial size.

    Parameters
    ----------
    init_vector : ndarray, shape (n,)
        The packed trainable initial parameters.
    rtol : float
        The relative tolerance of the run.

    Returns
    -------
    float
        ``min(rtol, 1e-3) × init_scale``.

    Examples
    --------
    >>> default_atol(np.full(4, 1e-6), rtol=1e-8)   # a 1e-6 initialisation
    1e-14
    >>> default_atol(np.zeros(3), rtol=1e-2)        # all zero: scale 1, rtol capped at 1e-3
    0.001
    """
    rms = float(np.sqrt(np.mean(init_vector**2))) if init_vector.size else 0.0
    scale = rms if rms > 0 else 1.0
    return min(rtol, 1e-3) * scale


def _zero_frozen(spec: Params, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {k: np.zeros(spec.shapes[k]) for k in names if k not in spec.slices}


def _hvp_jacobian(model: Model, spec: Params) -> Callable[[float, np.ndarray], np.ndarray]:
    """``J = −∇²L``, assembled column by column from ``model.hvp`` on unit vectors."""
    n = spec.size
    zeros_frozen = _zero_frozen(spec, spec.names)

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        params = spec.unpack(y)
        J = np.empty((n, n))
        unit = np.zeros(n)
        for j in range(n):
            unit[j] = 1.0
            v = {**spec.unpack(unit), **zeros_frozen}
            J[:, j] = -spec.pack(model.hvp(params, v))
            unit[j] = 0.0
        return J

    return jac


def _jacobian_cost_warning(method: str, n: int, has_hvp: bool) -> str:
    gib = n * n * 8 / 2**30
    if has_hvp:
        return (
            f"method={method!r} on a state of n={n} numbers: each Jacobian is assembled from "
            f"{n} Hessian-vector products and stored as a dense {n}x{n} matrix "
            f"({gib:.2f} GiB, plus its LU factors); an explicit method (RK45/DOP853) is "
            "usually cheaper unless the flow is stiff"
        )
    return (
        f"method={method!r} on a state of n={n} numbers without model.hvp: SciPy builds each "
        f"Jacobian by finite differences, {n} extra gradient calls per Jacobian, and stores it "
        f"as a dense {n}x{n} matrix ({gib:.2f} GiB, plus its LU factors); prefer RK45/DOP853 "
        "or give the model an hvp"
    )


# --- the integrator ---------------------------------------------------------------
def integrate_flow(
    model: Model,
    params0: Mapping[str, np.ndarray],
    t_span: tuple[float, float],
    *,
    method: str = "auto",
    rtol: float = 1e-8,
    atol: float | np.ndarray | None = None,
    t_eval: str | Sequence[float] | np.ndarray | None = "log",
    n_eval: int = 200,
    events: Iterable[Callable] | Callable = (),
    trainable: Iterable[str] | None = None,
    max_step: float = np.inf,
    max_nfev: int | None = None,
    max_wall: float | None = None,
    progress: bool = False,
    observables: bool = True,
    dense_output: bool = True,
) -> Trajectory:
    """Integrate gradient flow ``dθ/dt = −∇L(θ)`` and record the trajectory.

    Parameters
    ----------
    model : gradflow.Model
        The model (loss and hand-derived gradient).
    params0 : dict of str to ndarray
        Initial parameters; names, shapes and dtype (float64) must match
        ``model.init_params`` and every value must be finite.
    t_span : (float, float)
        Flow-time interval ``(t0, t1)`` with ``t1 > t0``.
    method : str
        ``"auto"`` (default), ``"RK23"``, ``"RK45"``, ``"DOP853"``, ``"Radau"``, ``"BDF"``
        or ``"LSODA"``.  ``"auto"`` picks LSODA when the trainable state has at most
        :data:`AUTO_LSODA_MAX_SIZE` (= 500) numbers (it switches to BDF when it detects
        stiffness, and a dense Jacobian is cheap at that size), otherwise RK45, or DOP853
        when ``rtol < 1e-9``.  The choice and the reason are in ``traj.metadata``.
    rtol : float
        Relative tolerance (default 1e-8; SciPy's 1e-3 visibly distorts trajectories).
    atol : float or ndarray of shape (n,), optional
        Absolute tolerance.  Default ``min(rtol, 1e-3) × RMS(trainable θ₀)`` (RMS taken as
        1 when θ₀ = 0); see :func:`default_atol` for why SciPy's 1e-6 is wrong for small
        initialisations.
    t_eval : "log", None or array_like
        Times at which the trajectory is sampled.  ``"log"``: ``t0`` followed by
        ``n_eval`` geometrically spaced times from ``t0 + 1e-6 (t1 − t0)`` to ``t1``
        (theory dynamics span decades: plateaus, then sharp transitions).  An array:
        strictly increasing times inside ``t_span``.  None: every accepted solver step.
        Event times and the time where the run stopped are added to the samples.
    n_eval : int
        Number of log-spaced times for ``t_eval="log"``.
    events : callable or sequence of callables
        Functions ``g(t, params) -> float``; each fires where it changes sign between
        accepted steps (attributes ``terminal``, ``direction``, ``name``; see
        :func:`event`).  Fired events go to ``traj.events`` as
        ``{"name", "t", "terminal"}``; a terminal one stops the run (status ``"event"``).
    trainable : sequence of str, optional
        Names of the parameters that move (default ``model.trainable``, or all).  The
        others stay exactly at their ``params0`` values.
    max_step : float
        Largest step the solver may take (cap it to resolve a short transition).
    max_nfev : int, optional
        Stop with status ``"stalled"`` once the solver has made this many gradient calls.
    max_wall : float, optional
        Stop with status ``"stalled"`` after this many seconds.  Checked at every gradient
        call, so a long implicit step (a finite-difference Jacobian costs one call per
        state entry) is abandoned too; the run keeps its last accepted step.
    progress : bool
        Show a progress bar over flow time on stderr.
    observables : bool
        Compute ``model.observables`` at every sample (after integration).
    dense_output : bool
        Keep the solver's interpolants so that ``traj.at(t)`` works.  They cost memory:
        about 4-8 vectors of the state size per accepted step (RK45: 4, DOP853: 7); turn
        this off for long runs of large states.

    Returns
    -------
    gradflow.Trajectory
        ``kind="flow"``.  ``nfev`` counts every gradient call the solver made, including
        those spent on finite-difference Jacobians (SciPy's own ``nfev`` leaves these
        out); ``njev`` and ``nlu`` are the solver's.  Loss, gradient norm and
        observables at the samples are evaluated after integration and not counted.
        ``status`` is ``"finished"``, ``"event"``, ``"stalled"`` or ``"failed"``; this
        function does not raise on solver failure, it returns what was computed with the
        solver's message.

    Raises
    ------
    TypeError, ValueError
        On bad input, naming the argument.

    Warns
    -----
    UserWarning
        When an implicit method (Radau, BDF, LSODA) is requested for a state of more than
        2000 numbers: its dense Jacobian costs ``n`` extra gradient calls (or ``n``
        Hessian-vector products) and ``8 n²`` bytes.

    Notes
    -----
    Samples between the solver's steps come from its interpolant, whose error the solver
    does not control.  Measured: on a quadratic with eigenvalues 1 and 10 at
    ``rtol = 1e-8``, DOP853 takes stability-limited steps (``hλ ≈ 8``) and its interpolant
    was off by 300x the tolerance at one sample; RK45, LSODA, BDF and Radau stayed below 4x.

    The Jacobian of the right-hand side is ``−∇²L``.  It is passed only to the implicit
    methods, assembled from ``model.hvp`` on the ``n`` unit vectors when the model has an
    ``hvp``; otherwise the solver approximates it by finite differences.

    Examples
    --------
    On a quadratic with a non-diagonal Hessian the flow is ``θ(t) = expm(−Ht) θ₀``:

    >>> import numpy as np
    >>> from scipy.linalg import expm
    >>> from gradflow.models.quadratic import Quadratic
    >>> model = Quadratic.paper()            # eigenvalues 1 and 10, axes rotated by 30°
    >>> theta0 = np.array([1.0, -0.5])
    >>> traj = integrate_flow(model, {"theta": theta0}, (0, 1), rtol=1e-10,
    ...                       t_eval=[0.0, 0.5, 1.0])
    >>> traj.t.tolist(), traj.method
    ([0.0, 0.5, 1.0], 'LSODA')
    >>> exact = np.array([expm(-t * model.H) @ theta0 for t in traj.t])
    >>> bool(np.allclose(traj.params["theta"], exact, rtol=0, atol=1e-9))
    True

    A terminal event stops the run where the loss falls to 0.01:

    >>> model = Quadratic(np.diag([1.0, 4.0]))
    >>> below = event(lambda t, p: model.loss(p) - 0.01, terminal=True, name="small")
    >>> traj = integrate_flow(model, {"theta": np.ones(2)}, (0, 10), events=[below])
    >>> traj.status, traj.method
    ('event', 'LSODA')
    >>> round(traj.event_time("small"), 4), round(float(traj.loss[-1]), 6)
    (1.956, 0.01)

    The closed form: ``L(t) = ½(e^{-2t} + 4e^{-8t})``, so ``L = 0.01`` at
    ``t ≈ −½ log 0.02 = 1.956`` (the second term is ~1e-7 there).
    """
    wall0 = time.perf_counter()
    _check_model(model)
    t0, t1 = _check_t_span(t_span)
    rtol = _check_positive(rtol, "rtol")
    max_step = _check_positive(max_step, "max_step")
    max_wall = _check_positive(max_wall, "max_wall", allow_none=True)
    if max_nfev is not None:
        if isinstance(max_nfev, bool) or not isinstance(max_nfev, (int, np.integer)):
            raise TypeError(f"max_nfev must be a positive integer or None, got {max_nfev!r}")
        if max_nfev < 1:
            raise ValueError(f"max_nfev must be a positive integer, got {max_nfev}")
    params0 = check_params0(model, params0)
    spec = Params(params0, _resolve_trainable(model, trainable))
    y0 = spec.pack(params0).copy()
    n = spec.size
    method_name, method_reason = _choose_method(method, n, rtol)
    if atol is None:
        atol = default_atol(y0, rtol)
        atol_rule = "default: min(rtol, 1e-3) x RMS of the trainable initial parameters"
    else:
        atol_rule = "given"
        atol_arr = np.asarray(atol, dtype=np.float64)
        if atol_arr.ndim == 0:
            atol = _check_positive(atol, "atol")
        elif atol_arr.shape != (n,) or not np.all(atol_arr > 0):
            raise ValueError(
                f"atol must be a positive number or an array of {n} positive numbers "
                f"(one per trainable parameter entry), got shape {atol_arr.shape}"
            )
        else:
            atol = atol_arr
    samples_t = _make_t_eval(t_eval, n_eval, t0, t1)
    evs = _check_events(events)

    implicit = method_name in _IMPLICIT
    solver_kwargs: dict[str, Any] = {"rtol": rtol, "atol": atol, "max_step": max_step}
    jacobian = "none (explicit method)"
    if implicit:
        if getattr(model, "has_hvp", False):
            solver_kwargs["jac"] = _hvp_jacobian(model, spec)
            jacobian = "-Hessian assembled from model.hvp on unit vectors"
        else:
            jacobian = "finite differences (the model has no hvp)"
        if n > LARGE_STATE:
            warnings.warn(
                _jacobian_cost_warning(method_name, n, "jac" in solver_kwargs),
                UserWarning,
                stacklevel=2,
            )

    rhs = GradientField(model, spec, None if max_wall is None else wall0 + max_wall)
    status = ""
    message = ""
    try:
        solver = METHODS[method_name](rhs, t0, y0, t1, **solver_kwargs)
    except WallTimeUp:  # an implicit solver's first Jacobian outlasted max_wall
        solver = None
        status = "stalled"
        message = (
            f"stalled: max_wall={max_wall:g} s of wall time used up while {method_name}"
            f" set up at t={t0:g} (of {t1:g})"
        )

    ts: list[float] = []
    ys: list[np.ndarray] = []
    next_sample = 0  # index into samples_t of the first time not yet recorded
    if samples_t is None or samples_t[0] == t0:
        ts.append(t0)
        ys.append(y0.copy())
        next_sample = 0 if samples_t is None else 1
    fired: list[dict[str, Any]] = []
    g_old = [float(ev(t0, params0)) for ev in evs]
    step_times = [t0]
    interpolants = []
    bar = ProgressBar(f"gradflow flow ({method_name})", t0, t1, enabled=progress)

    t_reached, y_reached = t0, y0
    with np.errstate(over="ignore", invalid="ignore"):
        while not status and solver is not None:
            try:
                solver_message = solver.step()
            except WallTimeUp:
                status = "stalled"
                message = (
                    f"stalled: max_wall={max_wall:g} s of wall time used up inside the step"
                    f" from t={solver.t:.6g} (of {t1:g}); that step was abandoned"
                )
                break
            if solver.status == "failed":
                status = "failed"
                message = f"{method_name} failed at t={solver.t:.6g} (of {t1:g}): {solver_message}"
                break
            t_old, t_new, y_new = solver.t_old, solver.t, solver.y
            if not np.all(np.isfinite(y_new)):
                status = "failed"
                message = (
                    f"{method_name} produced a non-finite state in the step from t={t_old:.6g}"
                    f" to t={t_new:.6g} (of {t1:g})"
                )
                break
            step = solver.dense_output() if dense_output else None
            if dense_output:
                step_times.append(t_new)
                interpolants.append(step)
            t_stop = t_new
            step_event_times: list[float] = []
            if evs:
                g_new = [float(ev(t_new, spec.unpack(y_new))) for ev in evs]
                crossings = []
                for k, ev in enumerate(evs):
                    if _crossed(g_old[k], g_new[k], ev.direction):
                        if step is None:
                            step = solver.dense_output()
                        root = _locate(
                            lambda s, ev=ev, step=step: float(ev(s, spec.unpack(step(s)))),
                            t_old,
                            t_new,
                        )
                        crossings.append((root, k))
                for root, k in sorted(crossings):
                    ev = evs[k]
                    fired.append({"name": ev.name, "t": float(root), "terminal": ev.terminal})
                    step_event_times.append(root)
                    if ev.terminal:
                        status, t_stop = "event", root
                        message = f"terminal event {ev.name!r} at t={root:.10g}"
                        break
                g_old = g_new
            # samples in (t_old, t_stop]: requested times, event times, the stop time
            if samples_t is None:
                new_times = [t_stop]
            else:
                end = np.searchsorted(samples_t, t_stop, side="right")
                new_times = list(samples_t[next_sample:end])
                next_sample = end
            new_times = sorted(set(new_times) | set(step_event_times))
            if status == "event" and (not new_times or new_times[-1] != t_stop):
                new_times.append(t_stop)
            for s in new_times:
                if s != t_new and step is None:
                    step = solver.dense_output()
                ts.append(float(s))
                ys.append(y_new.copy() if s == t_new else step(s))
            t_reached, y_reached = t_stop, ys[-1] if ts and ts[-1] == t_stop else y_new.copy()
            if not status and solver.status == "finished":
                status = "finished"
                message = f"reached t={t1:g}"
            elif not status and max_nfev is not None and rhs.nfev >= max_nfev:
                status = "stalled"
                message = (
                    f"stalled: max_nfev={max_nfev} gradient calls used up at t={t_new:.6g} "
                    f"(of {t1:g})"
                )
            elif not status and max_wall is not None and time.perf_counter() - wall0 >= max_wall:
                status = "stalled"
                message = (
                    f"stalled: max_wall={max_wall:g} s of wall time used up at t={t_new:.6g} "
                    f"(of {t1:g})"
                )
            bar.update(t_reached, f"nfev={rhs.nfev}")
    if status in ("stalled", "failed") and (not ts or ts[-1] < t_reached):
        ts.append(t_reached)  # the last accepted state, so that the run shows where it stopped
        ys.append(y_reached)
    bar.close(t_reached, status, f"nfev={rhs.nfev}")

    traj = _make_trajectory(model, spec, np.asarray(ts), np.asarray(ys), observables)
    traj.kind = "flow"
    traj.status = status
    traj.method = method_name
    traj.message = f"{message} with {method_name} ({rhs.nfev} gradient calls); {method_reason}"
    traj.nfev = rhs.nfev
    traj.njev, traj.nlu = (0, 0) if solver is None else (int(solver.njev), int(solver.nlu))
    traj.events = fired
    if dense_output and interpolants:
        solution = OdeSolution(
            np.asarray(step_times), interpolants, alt_segment=method_name in ("BDF", "LSODA")
        )
        traj.dense = DenseFlow(solution, spec, model)
    traj.metadata = {
        "model": getattr(model, "name", type(model).__name__),
        "config": model.config(),
        "t_span": [t0, t1],
        "rtol": rtol,
        "atol": atol.tolist() if isinstance(atol, np.ndarray) else atol,
        "atol_rule": atol_rule,
        "method": method_name,
        "method_requested": method,
        "method_reason": method_reason,
        "jacobian": jacobian,
        "max_step": None if not np.isfinite(max_step) else max_step,
        "trainable": list(spec.trainable),
        "state_size": n,
        "environment": environment(),
    }
    traj.wall_time = time.perf_counter() - wall0
    return traj


def _make_trajectory(
    model: Model,
    spec: Params,
    t: np.ndarray,
    vectors: np.ndarray,
    observables: bool,
    losses: np.ndarray | None = None,
    grad_norms: np.ndarray | None = None,
) -> Trajectory:
    """Build a Trajectory from packed samples; evaluate loss, ‖∇L‖ and observables.

    ``losses``/``grad_norms`` are evaluated here (one ``loss_and_grad`` per sample) when
    not given.  The gradient norm is over the trainable entries.
    """
    m = len(t)
    vectors = vectors.reshape(m, spec.size)
    params = {}
    for name in spec.names:
        shape = spec.shapes[name]
        if name in spec.slices:
            params[name] = np.ascontiguousarray(vectors[:, spec.slices[name]]).reshape(m, *shape)
        else:
            params[name] = np.broadcast_to(spec.frozen[name], (m, *shape)).copy()
    if losses is None or grad_norms is None:
        losses = np.empty(m)
        grad_norms = np.empty(m)
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(m):
                value, grad = model.loss_and_grad(spec.unpack(vectors[i]))
                losses[i] = value
                grad_norms[i] = np.linalg.norm(spec.pack(grad))
    obs: dict[str, np.ndarray] = {}
    if observables and m:
        obs = stack_observables([model.observables(spec.unpack(vectors[i])) for i in range(m)])
    return Trajectory(
        t=np.asarray(t, dtype=np.float64),
        params=params,
        loss=np.asarray(losses, dtype=np.float64),
        grad_norm=np.asarray(grad_norms, dtype=np.float64),
        observables=obs,
    )
