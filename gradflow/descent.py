"""Discrete training: gradient descent and Adam, recorded in flow time ``t = lr·k``.

Gradient descent ``θ_{k+1} = θ_k − lr·∇L(θ_k)`` is the explicit Euler method for gradient
flow with step ``lr``, so step ``k`` is stored at flow time ``t = lr·k`` (the step index
is kept in ``traj.steps``) and a GD run can be laid over the flow it approximates
(``specs/numerics.md`` §3.7).  Adam uses PyTorch's update (bias-corrected moments); its
time axis ``lr·k`` is a convention, not a flow time.

On ``L = ½θᵀHθ`` with ``H = diag(λ)`` each coordinate of GD is multiplied by ``1 − lr·λ``
per step:

>>> import numpy as np
>>> from gradflow.models.quadratic import Quadratic
>>> model = Quadratic(np.diag([1.0, 4.0]))
>>> gd = gradient_descent(model, {"theta": np.ones(2)}, lr=0.1, steps=10, record_every=5)
>>> gd.t.tolist(), gd.steps.tolist()
([0.0, 0.5, 1.0], [0, 5, 10])
>>> gd.final_params["theta"].round(6).tolist()   # (1 - 0.1·λ)^10 per coordinate
[0.348678, 0.006047]
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from gradflow.flow import (
    ProgressBar,
    _check_events,
    _check_model,
    _crossed,
    _make_trajectory,
    _resolve_trainable,
    check_params0,
)
from gradflow.model import Model
from gradflow.params import Params
from gradflow.trajectory import Trajectory, environment

__all__ = ["gradient_descent", "adam", "sharpness"]


# --- argument checks --------------------------------------------------------------
def _check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a positive number, got {lr!r}")
    lr = float(lr)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return lr


def _check_count(value: object, argname: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argname} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{argname} must be a positive integer (>= 1), got {value}")
    return int(value)


# --- sharpness --------------------------------------------------------------------
def _hessian_operator(model: Model, spec: Params, theta: np.ndarray) -> Callable:
    """``v ↦ ∇²L(θ)·v`` on the packed trainable vector (hvp, or central differences)."""
    params = spec.unpack(theta)
    if getattr(model, "has_hvp", False):
        frozen_zero = {k: np.zeros(spec.shapes[k]) for k in spec.frozen}

        def hess(v: np.ndarray) -> np.ndarray:
            return spec.pack(model.hvp(params, {**spec.unpack(v), **frozen_zero}))

        return hess
    scale = max(1.0, float(np.linalg.norm(theta)))
    h = np.finfo(float).eps ** (1 / 3) * scale  # balances truncation O(h²) and rounding O(ε/h)

    def hess_fd(v: np.ndarray) -> np.ndarray:
        g_plus = spec.pack(model.grad(spec.unpack(theta + h * v)))
        g_minus = spec.pack(model.grad(spec.unpack(theta - h * v)))
        return (g_plus - g_minus) / (2 * h)

    return hess_fd


def sharpness(
    model: Model,
    params: Mapping[str, np.ndarray],
    trainable: Iterable[str] | None = None,
    iters: int = 50,
    tol: float = 1e-8,
    seed: int = 0,
) -> float:
    """Estimate ``λ_max(∇²L)``, the largest Hessian eigenvalue over the trainable parameters.

    Lanczos iteration (ARPACK's :func:`scipy.sparse.linalg.eigsh`, ``which="LA"``: the
    Krylov-space refinement of power iteration, which also finds the top eigenvalue when
    the one of largest magnitude is negative) on Hessian-vector products: ``model.hvp``
    when the model has one, otherwise central differences of the gradient,
    ``(∇L(θ+hv) − ∇L(θ−hv)) / 2h`` with ``h = ε^{1/3} max(1, ‖θ‖)``.  States of one or
    two numbers are handled densely.

    Gradient descent is stable along the top direction only if ``lr · λ_max < 2``
    (``|1 − lr·λ| < 1``); beyond it GD oscillates and leaves the flow (edge of stability).

    Parameters
    ----------
    model : gradflow.Model
        The model; its ``hvp`` is used when it has one.
    params : dict of str to ndarray
        Where to evaluate the Hessian.
    trainable : sequence of str, optional
        Parameters the Hessian is taken over (default ``model.trainable`` or all).
    iters : int
        Maximum Lanczos restarts (each costs up to ~20 Hessian-vector products).
    tol : float
        Relative accuracy requested from ARPACK.
    seed : int
        Seed of the random start vector.

    Returns
    -------
    float
        The estimate of ``λ_max`` (the best Ritz value if ARPACK did not converge).

    Raises
    ------
    RuntimeError
        If ARPACK stopped without a single Ritz value.

    Examples
    --------
    The largest eigenvalue, not the largest in magnitude:

    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> round(sharpness(Quadratic(np.diag([-3.0, 1.0, 2.0])), {"theta": np.ones(3)}), 6)
    2.0

    Over a subset of the parameters it is the top eigenvalue of that block of the Hessian.
    The linear network's loss ``‖Σ³¹ − W2 W1‖²_F / 2`` (``τ = 1``) is quadratic in ``W2``
    with Hessian ``W1 W1ᵀ ⊗ I``, so over ``W2`` alone ``λ_max = λ_max(W1 W1ᵀ)``:

    >>> from gradflow.models.linear_net import LinearNet
    >>> net = LinearNet.paper()
    >>> p = net.init_params(np.random.default_rng(0))
    >>> lam = sharpness(net, p, trainable=["W2"])
    >>> bool(np.isclose(lam, np.linalg.eigvalsh(p["W1"] @ p["W1"].T)[-1], rtol=1e-6))
    True
    """
    _check_model(model)
    params = check_params0(model, params, argname="params")
    iters = _check_count(iters, "iters")
    spec = Params(params, _resolve_trainable(model, trainable))
    hess = _hessian_operator(model, spec, spec.pack(params).copy())
    n = spec.size
    if n <= 2:
        H = np.column_stack([hess(e) for e in np.eye(n)])
        return float(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    operator = LinearOperator((n, n), matvec=hess, dtype=np.float64)
    start = np.random.default_rng(seed).standard_normal(n)
    try:
        values = eigsh(
            operator, k=1, which="LA", v0=start, tol=tol, maxiter=iters, return_eigenvectors=False
        )
    except ArpackNoConvergence as exc:
        values = exc.eigenvalues
        if values.size == 0:
            raise RuntimeError(f"sharpness: Lanczos did not converge ({exc})") from exc
    return float(np.max(values))


# --- the shared loop --------------------------------------------------------------
def _descend(
    model: Model,
    params0: Mapping[str, np.ndarray],
    lr: object,
    steps: object,
    *,
    kind: str,
    make_update: Callable[[float], Callable[[int, np.ndarray, np.ndarray], np.ndarray]],
    record_every: object,
    trainable: Iterable[str] | None,
    events: Iterable[Callable] | Callable,
    observables: bool,
    progress: bool,
    extra_metadata: dict,
    before: Callable[[Params, np.ndarray, float], dict] | None = None,
) -> Trajectory:
    """Run ``θ_{k+1} = update(k, θ_k, ∇L(θ_k))`` and record every ``record_every`` steps."""
    wall0 = time.perf_counter()
    _check_model(model)
    lr = _check_lr(lr)
    steps = _check_count(steps, "steps")
    record_every = _check_count(record_every, "record_every")
    params0 = check_params0(model, params0)
    spec = Params(params0, _resolve_trainable(model, trainable))
    evs = _check_events(events)
    theta = spec.pack(params0).copy()
    metadata = dict(extra_metadata)
    if before is not None:
        metadata.update(before(spec, theta, lr))
    update = make_update(lr)

    rec_k: list[int] = []
    rec_theta: list[np.ndarray] = []
    rec_loss: list[float] = []
    rec_gnorm: list[float] = []
    fired: list[dict] = []
    g_old = [float(ev(0.0, params0)) for ev in evs]
    bar = ProgressBar(f"gradflow {kind}", 0, steps, enabled=progress, unit="step")
    status, message = "finished", f"ran {steps} steps"
    last_good: tuple[int, np.ndarray, float, float] | None = None
    nfev = 0
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            params = spec.unpack(theta)
            loss, grad = model.loss_and_grad(params)
            nfev += 1
            gvec = spec.pack(grad)
            gnorm = float(np.linalg.norm(gvec))
            # a finite norm proves every entry finite: the entrywise pass runs only when
            # the norm is not (it may also overflow on finite entries)
            finite = np.isfinite(gnorm) or bool(np.all(np.isfinite(gvec)))
            if not (np.isfinite(loss) and finite):
                status = "diverged"
                what = "loss" if not np.isfinite(loss) else "gradient"
                message = f"diverged: the {what} is not finite at step {k} (t={lr * k:.6g})"
                warnings.warn(
                    f"{kind}: {message}; returning the samples up to step {k - 1}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                if last_good is not None and (not rec_k or rec_k[-1] != last_good[0]):
                    rec_k.append(last_good[0])
                    rec_theta.append(last_good[1])
                    rec_loss.append(last_good[2])
                    rec_gnorm.append(last_good[3])
                break
            record = k % record_every == 0 or k == steps
            stop = k == steps
            if evs and k > 0:
                g_new = [float(ev(lr * k, params)) for ev in evs]
                for j, ev in enumerate(evs):
                    if _crossed(g_old[j], g_new[j], ev.direction):
                        fired.append({"name": ev.name, "t": lr * k, "terminal": ev.terminal})
                        record = True
                        if ev.terminal and not stop:
                            stop = True
                            status = "event"
                            message = f"terminal event {ev.name!r} at step {k} (t={lr * k:.6g})"
                g_old = g_new
            if record:
                rec_k.append(k)
                rec_theta.append(theta)
                rec_loss.append(float(loss))
                rec_gnorm.append(gnorm)
            if stop:
                break
            last_good = (k, theta, float(loss), gnorm)
            theta = update(k + 1, theta, gvec)
            k += 1
            bar.update(k, f"loss={loss:.4g}")
    bar.close(k, status, f"loss={rec_loss[-1]:.4g}" if rec_loss else "")

    t = lr * np.asarray(rec_k, dtype=np.float64)
    traj = _make_trajectory(
        model,
        spec,
        t,
        np.asarray(rec_theta).reshape(len(rec_k), spec.size),
        observables,
        losses=np.asarray(rec_loss),
        grad_norms=np.asarray(rec_gnorm),
    )
    traj.kind = kind
    traj.status = status
    traj.message = message
    traj.method = kind
    traj.lr = lr
    traj.steps = np.asarray(rec_k, dtype=np.int64)
    traj.nfev = nfev
    traj.events = fired
    traj.metadata = {
        "model": getattr(model, "name", type(model).__name__),
        "config": model.config(),
        "lr": lr,
        "steps": steps,
        "record_every": record_every,
        "trainable": list(spec.trainable),
        "time": "t = lr * step",
        **metadata,
        "environment": environment(),
    }
    traj.wall_time = time.perf_counter() - wall0
    return traj


# --- the public optimisers ---------------------------------------------------------
def gradient_descent(
    model: Model,
    params0: Mapping[str, np.ndarray],
    lr: float,
    steps: int,
    *,
    record_every: int = 1,
    trainable: Iterable[str] | None = None,
    events: Iterable[Callable] | Callable = (),
    observables: bool = True,
    progress: bool = False,
    check_stability: bool = True,
) -> Trajectory:
    """Full-batch gradient descent ``θ_{k+1} = θ_k − lr·∇L(θ_k)``.

    Parameters
    ----------
    model : gradflow.Model
        The model (loss and hand-derived gradient).
    params0 : dict of str to ndarray
        Initial parameters (names, shapes, float64, finite: as for
        :func:`gradflow.integrate_flow`).
    lr : float
        Learning rate ``η > 0``; step ``k`` is recorded at flow time ``t = η·k``.
    steps : int
        Number of steps (``>= 1``).
    record_every : int
        Record every ``record_every``-th step; step 0 and the last step are always
        recorded, and so are steps where an event fires.
    trainable : sequence of str, optional
        Parameters that move (default ``model.trainable`` or all); the others are fixed.
    events : callable or sequence of callables
        ``g(t, params)`` evaluated at every step; an event fires at step ``k`` when ``g``
        changed sign between steps ``k−1`` and ``k`` (its time is ``η·k``); a terminal
        one stops the run (status ``"event"``).
    observables : bool
        Compute ``model.observables`` at the recorded steps.
    progress : bool
        Progress bar over steps on stderr.
    check_stability : bool
        Estimate ``λ_max`` of the Hessian at ``params0`` (:func:`sharpness`, to 1e-4
        relative) and warn when ``lr·λ_max > 2``, where GD is unstable and no longer
        follows gradient flow.  Costs about 30-70 Hessian-vector products (twice as many
        gradient calls without ``hvp``), not counted in ``nfev``; the estimate is in
        ``traj.metadata["sharpness0"]``.

    Returns
    -------
    gradflow.Trajectory
        ``kind="gd"``, ``t = lr·steps``, ``traj.steps`` the step indices.  ``nfev`` counts
        ``loss_and_grad`` calls (one per step, plus one at the final point).  On a
        non-finite loss or gradient the run stops with status ``"diverged"``, a
        ``RuntimeWarning`` naming the step, and the samples recorded before it.

    Raises
    ------
    TypeError, ValueError
        On bad input (``lr`` not a positive number, ``steps`` or ``record_every`` not a
        positive integer, ``params0`` not matching the model), naming the argument.

    Warns
    -----
    UserWarning
        When ``check_stability`` finds ``lr·λ_max > 2`` at ``params0``.
    RuntimeWarning
        When the run diverges.

    Examples
    --------
    Step ``k`` is stored at flow time ``t = lr·k``; on ``L = ½θ²``,
    ``θ_k = (1 − lr)^k θ₀``, which approaches the flow ``e^{−t}θ₀`` as ``lr → 0``:

    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> gd = gradient_descent(Quadratic([[1.0]]), {"theta": np.ones(1)}, lr=0.25, steps=8,
    ...                       record_every=4)
    >>> gd.steps.tolist(), gd.t.tolist()
    ([0, 4, 8], [0.0, 1.0, 2.0])
    >>> gd.params["theta"][:, 0].tolist()                   # 0.75^k
    [1.0, 0.31640625, 0.1001129150390625]
    >>> np.round(np.exp(-gd.t), 4).tolist()                 # the flow at the same times
    [1.0, 0.3679, 0.1353]

    Above the stability threshold ``lr = 2/λ_max`` the function warns:

    >>> model = Quadratic(np.diag([1.0, 30.0]))
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gd = gradient_descent(model, {"theta": np.ones(2)}, lr=0.1, steps=5)
    >>> print(str(caught[0].message)[:40])
    lr·λ_max = 0.1·30 = 3 > 2 at params0: gr
    """

    def make_update(lr: float) -> Callable:
        def update(k: int, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
            return theta - lr * g

        return update

    def stability(spec: Params, theta: np.ndarray, lr: float) -> dict:
        if not check_stability:
            return {}
        lam = sharpness(model, spec.unpack(theta), trainable=spec.trainable, tol=1e-4)
        if lr * lam > 2:
            warnings.warn(
                f"lr·λ_max = {lr:g}·{lam:.4g} = {lr * lam:.4g} > 2 at params0: gradient "
                "descent is unstable along the top Hessian direction and will not track "
                f"gradient flow (edge of stability); lr < {2 / lam:.4g} is stable there",
                UserWarning,
                stacklevel=4,
            )
        return {"sharpness0": lam, "lr_times_sharpness0": lr * lam}

    return _descend(
        model,
        params0,
        lr,
        steps,
        kind="gd",
        make_update=make_update,
        record_every=record_every,
        trainable=trainable,
        events=events,
        observables=observables,
        progress=progress,
        extra_metadata={},
        before=stability,
    )


def adam(
    model: Model,
    params0: Mapping[str, np.ndarray],
    lr: float,
    steps: int,
    *,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    record_every: int = 1,
    trainable: Iterable[str] | None = None,
    events: Iterable[Callable] | Callable = (),
    observables: bool = True,
    progress: bool = False,
) -> Trajectory:
    """Adam with PyTorch's defaults and update (``torch.optim.Adam``, no weight decay).

    For step ``k = 1, 2, ...`` with gradient ``g = ∇L(θ_{k−1})``::

        m = β₁ m + (1 − β₁) g            v = β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁^k)               v̂ = v / (1 − β₂^k)
        θ_k = θ_{k−1} − lr · m̂ / (√v̂ + eps)

    Parameters
    ----------
    model, params0, lr, steps, record_every, trainable, events, observables, progress
        As for :func:`gradient_descent`; step ``k`` is recorded at ``t = lr·k`` (a
        convention: Adam is not a discretisation of gradient flow).
    betas : (float, float)
        ``(β₁, β₂)``, each in ``[0, 1)``; default ``(0.9, 0.999)``.
    eps : float
        Added to ``√v̂``; default ``1e-8``.

    Returns
    -------
    gradflow.Trajectory
        ``kind="adam"``; see :func:`gradient_descent`.  ``metadata`` holds ``betas`` and
        ``eps``.

    Raises
    ------
    ValueError
        If ``betas`` is not a pair in ``[0, 1)`` or ``eps`` is negative (and as for
        :func:`gradient_descent`).

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.models.quadratic import Quadratic
    >>> run = adam(Quadratic(np.diag([1.0, 4.0])), {"theta": np.ones(2)}, lr=0.1, steps=1)
    >>> run.final_params["theta"].round(8).tolist()   # first step moves by lr·g/(|g|+eps)
    [0.9, 0.9]
    """
    try:
        beta1, beta2 = (float(b) for b in betas)
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}") from None
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a non-negative finite number, got {eps!r}")

    def make_update(lr: float) -> Callable:
        m: np.ndarray | float = 0.0
        v: np.ndarray | float = 0.0

        def update(k: int, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
            nonlocal m, v
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1**k)
            v_hat = v / (1 - beta2**k)
            return theta - lr * m_hat / (np.sqrt(v_hat) + eps)

        return update

    return _descend(
        model,
        params0,
        lr,
        steps,
        kind="adam",
        make_update=make_update,
        record_every=record_every,
        trainable=trainable,
        events=events,
        observables=observables,
        progress=progress,
        extra_metadata={"betas": [beta1, beta2], "eps": float(eps)},
    )
