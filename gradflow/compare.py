"""Gradient descent against gradient flow at matched times ``t = η·k``.

Gradient descent with step ``η`` is the explicit Euler method for ``dθ/dt = −∇L``, so at a
fixed flow time ``T`` the distance ``‖θ_GD(T/η) − θ_GF(T)‖`` is ``O(η)``
(``specs/numerics.md`` §3.7).  :func:`compare` measures the distance along a run;
:func:`convergence_order` fits the exponent (it should be 1).

On a quadratic, GD with ``lr = 0.01`` stays within 0.01 of the flow, and the fitted order
is 1:

>>> import numpy as np
>>> import gradflow as gf
>>> from gradflow.models.quadratic import Quadratic
>>> model = Quadratic(np.diag([1.0, 3.0]))
>>> theta0 = {"theta": np.array([1.0, -1.0])}
>>> flow = gf.integrate_flow(model, theta0, (0, 2), rtol=1e-10)
>>> gd = gf.gradient_descent(model, theta0, lr=0.01, steps=200, record_every=50)
>>> cmp = compare(flow, gd)
>>> cmp.t.tolist()
[0.0, 0.5, 1.0, 1.5, 2.0]
>>> bool(cmp.param_distance.max() < 0.01)
True
>>> order, errors = convergence_order(model, theta0, 1.0, [0.04, 0.02, 0.01])
>>> round(order, 1)
1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gradflow.descent import gradient_descent
from gradflow.flow import integrate_flow
from gradflow.model import Model
from gradflow.trajectory import Trajectory

__all__ = ["Comparison", "compare", "convergence_order"]


@dataclass
class Comparison:
    """Distances between a discrete run and gradient flow at the discrete run's times.

    Made by :func:`compare`; each parameter below is kept as an attribute of the same
    name.

    Parameters
    ----------
    t : ndarray, shape (m,)
        Flow times ``lr·k`` of the discrete run's samples.
    steps : ndarray or None
        Step indices ``k``.
    param_distance : ndarray, shape (m,)
        ``‖θ_GD(k) − θ_GF(t)‖`` (Euclidean, over the trainable parameters).
    relative_param_distance : ndarray, shape (m,)
        ``param_distance / ‖θ_GF(t)‖`` (over the same parameters).
    loss_distance : ndarray, shape (m,)
        ``|L(θ_GD(k)) − L(θ_GF(t))|``.
    trainable : list of str
        The parameters the distance is taken over.

    Examples
    --------
    On ``L = ½θ²`` GD with ``lr = 0.1`` gives ``θ_k = 0.9^k`` and the flow ``e^{−t}``; at
    ``t = 1`` (``k = 10``) they differ by ``e^{−1} − 0.9^{10} ≈ 0.0192``:

    >>> import numpy as np
    >>> import gradflow as gf
    >>> from gradflow.models.quadratic import Quadratic
    >>> model, p0 = Quadratic([[1.0]]), {"theta": np.ones(1)}
    >>> flow = gf.integrate_flow(model, p0, (0, 1), rtol=1e-10)
    >>> gd = gf.gradient_descent(model, p0, lr=0.1, steps=10, record_every=5)
    >>> cmp = compare(flow, gd)
    >>> cmp.steps.tolist(), cmp.trainable
    ([0, 5, 10], ['theta'])
    >>> round(cmp.max_param_distance, 6), round(float(np.exp(-1) - 0.9**10), 6)
    (0.019201, 0.019201)
    >>> bool(np.allclose(cmp.relative_param_distance, cmp.param_distance / np.exp(-cmp.t)))
    True
    """

    t: np.ndarray
    steps: np.ndarray | None
    param_distance: np.ndarray
    relative_param_distance: np.ndarray
    loss_distance: np.ndarray
    trainable: list[str] = field(default_factory=list)

    @property
    def max_param_distance(self) -> float:
        """Largest parameter distance along the run.

        Examples
        --------
        >>> import numpy as np
        >>> cmp = Comparison(t=np.array([0.0, 1.0]), steps=None,
        ...                  param_distance=np.array([0.0, 0.02]),
        ...                  relative_param_distance=np.array([0.0, 0.05]),
        ...                  loss_distance=np.array([0.0, 0.01]))
        >>> cmp.max_param_distance
        0.02
        """
        return float(np.max(self.param_distance))


def compare(flow: Trajectory, gd: Trajectory) -> Comparison:
    """Distance between a GD (or Adam) run and gradient flow at the run's times ``t = lr·k``.

    Parameters
    ----------
    flow : gradflow.Trajectory
        A gradient-flow run made in this session (its dense output gives ``θ_GF(t)`` and,
        through the model it keeps, ``L(θ_GF(t))`` at any time), covering ``gd.t``.
    gd : gradflow.Trajectory
        The discrete run (from the same ``params0``).

    Returns
    -------
    Comparison
        Parameter and loss distances at each of ``gd``'s samples.

    Raises
    ------
    TypeError
        If ``flow`` or ``gd`` is not a :class:`gradflow.Trajectory`.
    ValueError
        If ``flow`` has no dense output (not a flow, or loaded from a file), or its time
        interval does not cover ``gd``'s times, or it lacks a parameter ``gd`` trains.

    Examples
    --------
    >>> import numpy as np
    >>> import gradflow as gf
    >>> from gradflow.models.quadratic import Quadratic
    >>> model, p0 = Quadratic(np.diag([2.0])), {"theta": np.ones(1)}
    >>> flow = gf.integrate_flow(model, p0, (0, 1), rtol=1e-10)
    >>> gd = gf.gradient_descent(model, p0, lr=0.5, steps=2)   # θ_k = (1 − 0.5·2)^k = 0
    >>> np.round(compare(flow, gd).param_distance, 6).tolist()   # e^{−2t} at t = 0, 0.5, 1
    [0.0, 0.367879, 0.135335]
    """
    if not isinstance(flow, Trajectory) or not isinstance(gd, Trajectory):
        raise TypeError("flow and gd must be gradflow.Trajectory objects")
    dense = flow.dense
    if dense is None or not callable(getattr(dense, "loss", None)):
        raise ValueError(
            "flow has no dense output (it is not an integrate_flow run of this session, or "
            "was run with dense_output=False or loaded from a file); re-run integrate_flow"
        )
    lo, hi = float(flow.t[0]), float(flow.t[-1])
    slack = 1e-12 * max(1.0, abs(hi))
    if gd.t[0] < lo - slack or gd.t[-1] > hi + slack:
        raise ValueError(
            f"flow covers t in [{lo:g}, {hi:g}] but gd has times in [{gd.t[0]:g}, {gd.t[-1]:g}]; "
            "integrate the flow at least up to the last GD time lr*steps"
        )
    trainable = list(gd.metadata.get("trainable", list(gd.params)))
    missing = sorted(set(trainable) - set(flow.params))
    if missing:
        raise ValueError(f"flow has no parameters {missing} that gd trains")
    m = len(gd.t)
    dist = np.empty(m)
    rel = np.empty(m)
    loss_gap = np.empty(m)
    for i, t in enumerate(np.clip(gd.t, lo, hi)):
        theta_gf = flow.at(float(t))
        sq = sum(float(np.sum((gd.params[k][i] - theta_gf[k]) ** 2)) for k in trainable)
        norm = np.sqrt(sum(float(np.sum(theta_gf[k] ** 2)) for k in trainable))
        dist[i] = np.sqrt(sq)
        rel[i] = dist[i] / norm if norm > 0 else np.inf
        loss_gap[i] = abs(float(gd.loss[i]) - dense.loss(float(t)))
    return Comparison(
        t=np.asarray(gd.t, dtype=np.float64),
        steps=None if gd.steps is None else np.asarray(gd.steps),
        param_distance=dist,
        relative_param_distance=rel,
        loss_distance=loss_gap,
        trainable=trainable,
    )


def convergence_order(
    model: Model,
    params0: Mapping[str, np.ndarray],
    t_end: float,
    lrs: Sequence[float],
    *,
    trainable: Iterable[str] | None = None,
    rtol: float = 1e-10,
) -> tuple[float, np.ndarray]:
    """Fitted order ``p`` of ``‖θ_GD(T/η) − θ_GF(T)‖ ∝ ηᵖ`` (gradient descent is Euler: p = 1).

    Parameters
    ----------
    model : gradflow.Model
        The model both runs train.
    params0 : dict of str to ndarray
        Common initial parameters.
    t_end : float
        Flow time ``T`` at which GD and the flow are compared; ``T/η`` must be an integer
        (to 1e-9 relative) for every ``η``.
    lrs : sequence of float
        At least two distinct learning rates ``η``.
    trainable : sequence of str, optional
        Parameters that move (default ``model.trainable`` or all).
    rtol : float
        Tolerance of the reference flow (DOP853; its error must be far below GD's).

    Returns
    -------
    order : float
        Slope of ``log error`` against ``log η`` (:func:`scipy.stats.linregress`).
    errors : ndarray
        ``‖θ_GD(T/η) − θ_GF(T)‖`` over the trainable parameters, one per ``η``.

    Raises
    ------
    ValueError
        If ``lrs`` holds fewer than two distinct positive rates, ``t_end`` is not
        positive, or ``t_end/η`` is not an integer for some ``η``.
    RuntimeError
        If the reference flow or a GD run does not finish.

    Examples
    --------
    On ``L = ½θ²`` the error is ``|(1 − η)^{1/η} − e^{−1}| ≈ (η/2) e^{−1}`` at ``T = 1``:

    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> order, errors = convergence_order(Quadratic([[1.0]]), {"theta": np.ones(1)}, 1.0,
    ...                                   [0.01, 0.005])
    >>> round(order, 2), np.round(errors / (np.array([0.01, 0.005]) / 2 / np.e), 2).tolist()
    (1.0, [1.0, 1.0])
    """
    lrs_arr = np.asarray(lrs, dtype=np.float64)
    if lrs_arr.ndim != 1 or lrs_arr.size < 2 or np.unique(lrs_arr).size < 2:
        raise ValueError(f"lrs must hold at least two distinct learning rates, got {lrs!r}")
    if not np.all(np.isfinite(lrs_arr) & (lrs_arr > 0)):
        raise ValueError(f"lrs must be positive, got {lrs!r}")
    if not (np.isfinite(t_end) and t_end > 0):
        raise ValueError(f"t_end must be a positive number, got {t_end!r}")
    ratios = t_end / lrs_arr
    steps = np.round(ratios).astype(np.int64)
    bad = np.abs(ratios - steps) > 1e-9 * ratios
    if np.any(bad):
        raise ValueError(
            f"t_end/lr must be an integer number of steps; it is not for lr={lrs_arr[bad].tolist()}"
            f" (t_end={t_end:g})"
        )
    reference = integrate_flow(
        model,
        params0,
        (0.0, float(t_end)),
        method="DOP853",
        rtol=rtol,
        t_eval=np.array([float(t_end)]),
        trainable=trainable,
        observables=False,
        dense_output=False,
    )
    if reference.status != "finished":
        raise RuntimeError(f"the reference flow did not finish: {reference.message}")
    names = reference.metadata["trainable"]
    theta_gf = reference.final_params
    errors = np.empty(lrs_arr.size)
    for i, (lr, n_steps) in enumerate(zip(lrs_arr, steps, strict=True)):
        gd = gradient_descent(
            model,
            params0,
            float(lr),
            int(n_steps),
            record_every=int(n_steps),
            trainable=names,
            observables=False,
            check_stability=False,
        )
        if gd.status != "finished":
            raise RuntimeError(f"gradient descent with lr={lr:g} did not finish: {gd.message}")
        theta_gd = gd.final_params
        errors[i] = np.sqrt(sum(float(np.sum((theta_gd[k] - theta_gf[k]) ** 2)) for k in names))
    from scipy.stats import linregress  # here: scipy.stats takes ~1 s to import

    fit = linregress(np.log(lrs_arr), np.log(errors))
    return float(fit.slope), errors
