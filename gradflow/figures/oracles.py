"""Oracle figures: the engine against dynamics that are known exactly.

Three figures, each comparing what gradflow computes with a closed form:

1. ``saxe_modes.png`` — a two-layer linear network from the aligned initialisation of Saxe,
   McClelland & Ganguli (2014): the mode strengths ``u_α(t)`` from :func:`integrate_flow` and
   from gradient descent, against eq. (6) of the paper,
   ``u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀)``, with the events "mode α reaches s_α/2"
   located by the solver and compared with ``t½ = τ/(2s) log(s/u₀ − 1)``.
2. ``phase_portrait.png`` — gradient flow on a 2-D ``Quadratic`` with eigenvalues 1 and 10
   on rotated axes: the field ``−Hθ``, its nullclines, flows from :func:`integrate_flow`
   (which are ``expm(−Ht)θ₀``) and one gradient-descent run with a large step.
3. ``gd_vs_flow_order.png`` — the distance ``‖θ_GD(T/η) − θ_GF(T)‖`` against the learning
   rate ``η`` on both oracles, with the fitted order of :func:`convergence_order` (Euler's
   method: order 1).

Every number behind the figures is written to ``results.json``; the runs to ``runs/*.npz``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["reproduce", "saxe_figure", "phase_figure", "order_figure"]

#: solver settings of the oracle flows (tight, so that the closed forms are met to ~1e-8)
RTOL, ATOL = 1e-8, 1e-12


def _normalised_error(computed: np.ndarray, exact: np.ndarray) -> float:
    """``max_t ‖computed − exact‖ / (atol + rtol·‖exact‖)`` over the last axis.

    Below ~5 means "within the requested tolerance".  The norm (not each component) is
    normalised, because a single coordinate of a rotated flow passes through zero.
    """
    err = np.linalg.norm(computed - exact, axis=-1)
    return float(np.max(err / (ATOL + RTOL * np.linalg.norm(exact, axis=-1))))


def _expm_2x2(A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``expm(A t)`` for a symmetric 2×2 ``A`` at each time, by Sylvester's formula.

    With the eigenvalues ``μ± = tr/2 ± √((tr/2)² − det)`` (distinct),
    ``e^{At} = (e^{μ₊t}(A − μ₋I) − e^{μ₋t}(A − μ₊I)) / (μ₊ − μ₋)``.  Independent of the
    eigendecomposition that :meth:`Quadratic.exact` uses.  Returns shape ``(len(t), 2, 2)``.
    """
    half_trace = 0.5 * np.trace(A)
    root = np.sqrt(half_trace**2 - np.linalg.det(A))
    mu_plus, mu_minus = half_trace + root, half_trace - root
    eye = np.eye(2)
    t = np.asarray(t, dtype=float)[:, None, None]
    return (
        np.exp(mu_plus * t) * (A - mu_minus * eye) - np.exp(mu_minus * t) * (A - mu_plus * eye)
    ) / (mu_plus - mu_minus)


# --- 1. Saxe et al.: mode strengths of a linear network ----------------------------------
def saxe_figure(quick: bool = False, progress: bool = False) -> tuple[Any, dict, dict]:
    """Mode strengths of ``LinearNet.paper()``: flow, GD and the closed form.

    Parameters
    ----------
    quick : bool
        Fewer output times of the flow and a GD run recorded every other step.
    progress : bool
        Progress bars on stderr.

    Returns
    -------
    fig : matplotlib Figure
        Two panels: the mode strengths over time, and their errors against eq. (6).
    runs : dict of str to Trajectory
        ``"saxe_flow"`` and ``"saxe_gd"``.
    results : dict
        Event times against the closed-form half times, errors of the flow and of GD.

    Examples
    --------
    The solver's events meet the closed-form half times, and the flow meets eq. (6)
    within its tolerance (a normalised error below 5):

    >>> import matplotlib.pyplot as plt
    >>> fig, runs, results = saxe_figure(quick=True)
    >>> sorted(runs), len(fig.axes)
    (['saxe_flow', 'saxe_gd'], 2)
    >>> bool(max(results["half_time_rel_error"]) < 1e-6), results["flow_max_normalised_error"] < 5
    (True, True)
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.linear_net import LinearNet

    net = LinearNet.paper()
    theta0 = net.init_params(np.random.default_rng(0))
    t_end, lr = 6.0, 0.05
    t_half = net.half_time()
    events = [
        gf.flow.event(
            lambda t, p, a=a: net.observables(p)["modes"][a] - net.s[a] / 2,
            direction=1,
            name=f"u{a + 1} = s{a + 1}/2",
        )
        for a in range(len(net.s))
    ]
    t_eval = np.linspace(0.0, t_end, 61 if quick else 241)
    flow = gf.integrate_flow(
        net, theta0, (0.0, t_end), method="RK45", rtol=RTOL, atol=ATOL, t_eval=t_eval,
        events=events, progress=progress,
    )  # fmt: skip
    gd = gf.gradient_descent(
        net, theta0, lr, round(t_end / lr), record_every=2 if quick else 1, progress=progress
    )
    u_flow, u_gd = flow.observables["modes"], gd.observables["modes"]
    u_exact_flow, u_exact_gd = net.mode_strengths(flow.t), net.mode_strengths(gd.t)

    fig, (ax, ax_err) = plt.subplots(
        2, 1, figsize=(6.4, 6.4), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    tt = np.linspace(0.0, t_end, 600)
    for a, s in enumerate(net.s):
        color = f"C{a}"
        ax.plot(tt, net.mode_strengths(tt)[:, a], color="k", lw=0.9, ls=":", zorder=3)
        ax.plot(flow.t, u_flow[:, a], color=color, lw=2.2, alpha=0.75, label=f"s{a + 1} = {s:g}")
        ax.plot(gd.t, u_gd[:, a], color=color, ls="none", marker="o", ms=2.5, markevery=4)
        ax.axvline(t_half[a], color=color, lw=0.8, ls="--")
        ax_err.semilogy(flow.t[1:], np.abs(u_flow - u_exact_flow)[1:, a], color=color, lw=1.4)
        ax_err.semilogy(gd.t[1:], np.abs(u_gd - u_exact_gd)[1:, a], color=color, ls="--", lw=1.0)
    ax.plot([], [], color="0.3", lw=2.2, label="gradient flow (RK45)")
    ax.plot([], [], color="0.3", ls="none", marker="o", ms=3, label=f"GD, η = {lr:g}")
    ax.plot([], [], color="k", lw=0.9, ls=":", label="closed form, Saxe et al. eq. (6)")
    ax.plot([], [], color="0.3", lw=0.8, ls="--", label="t½ = τ/(2s)·log(s/u₀ − 1)")
    ax.set_ylabel("mode strength u_α(t)")
    ax.set_title("Two-layer linear network, aligned init: modes learned one by one")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    ax_err.set_ylabel("|u − u_exact|")
    ax_err.set_xlabel("time t  (GD: t = η·k)")
    ax_err.plot([], [], color="0.3", lw=1.4, label="flow")
    ax_err.plot([], [], color="0.3", ls="--", lw=1.0, label="GD")
    ax_err.legend(fontsize="small", loc="lower right", ncol=2)
    ax_err.grid(alpha=0.3)
    fig.tight_layout()

    located = [flow.event_time(e.name) for e in events]
    results = {
        "model": "LinearNet.paper()",
        "config": net.config(),
        "half_time_exact": t_half.tolist(),
        "half_time_event": located,
        "half_time_rel_error": [
            None if te is None else abs(te - th) / th
            for te, th in zip(located, t_half, strict=True)
        ],
        "flow_method": flow.method,
        "flow_rtol": RTOL,
        "flow_atol": ATOL,
        "flow_nfev": int(flow.nfev),
        "flow_max_normalised_error": _normalised_error(u_flow, u_exact_flow),
        "gd_lr": lr,
        "gd_max_abs_error": float(np.max(np.abs(u_gd - u_exact_gd))),
    }
    return fig, {"saxe_flow": flow, "saxe_gd": gd}, results


# --- 2. phase portrait of a 2-D quadratic --------------------------------------------------
def phase_figure(quick: bool = False, progress: bool = False) -> tuple[Any, dict, dict]:
    """Phase portrait of ``Quadratic.paper()`` (eigenvalues 1 and 10, axes rotated by 30°).

    The plane is coloured by which eigen-direction dominates the gradient
    ``∇L = Σ λ_i c_i q_i`` (``c = Qᵀθ``): in the stiff region the flow first removes the
    stiff coordinate, then slides along the slow valley.

    Parameters
    ----------
    quick : bool
        Four flows instead of six, fewer output times, sparser streamlines.
    progress : bool
        Progress bars on stderr.

    Returns
    -------
    fig : matplotlib Figure
        The phase portrait (one axes).
    runs : dict of str to Trajectory
        ``"phase_flow_0"``, ``"phase_flow_1"`` ... and ``"phase_gd"``.
    results : dict
        The Hessian and its eigenvalues, the largest normalised error of the flows against
        ``expm(−Ht)θ₀`` (computed by Sylvester's formula, independently of
        :meth:`Quadratic.exact`), and GD's learning rate with its stability limit.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, runs, results = phase_figure(quick=True)
    >>> sorted(runs)
    ['phase_flow_0', 'phase_flow_1', 'phase_flow_2', 'phase_flow_3', 'phase_gd']
    >>> results["flow_max_normalised_error"] < 5, results["gd_lr"] < results["gd_stability_limit"]
    (True, True)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('θ₁', 'θ₂')
    >>> plt.close(fig)
    """
    import gradflow as gf
    from gradflow import plots
    from gradflow.models.quadratic import Quadratic

    model = Quadratic.paper()
    H, Q, lam = model.H, model.eigenvectors, model.eigenvalues

    def field(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient flow ``dθ/dt = −Hθ`` on meshgrid arrays."""
        dX, dY = -np.einsum("ij,j...->i...", H, np.stack([X, Y]))
        return dX, dY

    def dominant(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """1 where the stiff direction's share of the gradient is the larger, else 0."""
        c = np.einsum("ji,j...->i...", Q, np.stack([X, Y]))
        return (lam[1] * np.abs(c[1]) > lam[0] * np.abs(c[0])).astype(int)

    angles = np.linspace(0.0, 2 * np.pi, 4 if quick else 6, endpoint=False) + 0.35
    starts = 1.8 * np.column_stack([np.cos(angles), np.sin(angles)])
    flows = [
        gf.integrate_flow(
            model,
            {"theta": x0},
            (0.0, 8.0),
            method="RK45",
            rtol=RTOL,
            atol=ATOL,
            n_eval=100 if quick else 300,
            progress=progress,
        )  # fmt: skip
        for x0 in starts
    ]
    lr = 0.17  # below the stability limit 2/λ_max = 0.2: GD zig-zags across the valley
    gd = gf.gradient_descent(model, {"theta": np.array([-1.7, 0.9])}, lr, 60)
    errors = [
        _normalised_error(f.params["theta"], _expm_2x2(-H, f.t) @ x0)
        for f, x0 in zip(flows, starts, strict=True)
    ]
    fig = plots.phase_portrait(
        field,
        (-2.0, 2.0),
        (-2.0, 2.0),
        trajectories=[(run, ("theta[0]", "theta[1]")) for run in [gd, *flows]],
        nullclines=True,
        phase=dominant,
        phase_labels={0: "slow direction dominates ∇L", 1: "stiff direction dominates ∇L"},
        labels=("θ₁", "θ₂"),
        density=0.6 if quick else 1.3,
    )  # fmt: skip
    ax = fig.axes[0]
    ax.set_title("Gradient flow on L = ½θᵀHθ, eigenvalues 1 and 10")
    ax.set_aspect("equal")
    ax.legend(
        handles=ax.get_legend().legend_handles,
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=2,
    )
    runs = {f"phase_flow_{i}": f for i, f in enumerate(flows)}
    runs["phase_gd"] = gd
    results = {
        "model": "Quadratic.paper()",
        "H": H.tolist(),
        "eigenvalues": lam.tolist(),
        "flow_method": "RK45",
        "flow_max_normalised_error": max(errors),
        "gd_lr": lr,
        "gd_stability_limit": float(2 / lam[-1]),
    }
    return fig, runs, results


# --- 3. GD -> GF: order of convergence in the learning rate -----------------------------------
def order_figure(quick: bool = False, progress: bool = False) -> tuple[Any, dict]:
    """``‖θ_GD(T/η) − θ_GF(T)‖`` against ``η`` on both oracles, with the fitted order.

    Parameters
    ----------
    quick : bool
        Four learning rates per oracle instead of seven.
    progress : bool
        A message per oracle on stderr.

    Returns
    -------
    fig : matplotlib Figure
        The distances against ``η`` on log-log axes, with the fitted lines.
    results : dict
        Per oracle: the learning rates, the distances and the fitted order.

    Examples
    --------
    Gradient descent is Euler's method on the flow, so the fitted order is 1 on both
    oracles (measured: 1.005 and 0.993 in the quick version).  The quick version takes
    4 to 11 s on a busy 2-core machine (measured), too long for a doctest;
    ``tests/test_figures.py`` runs it through :func:`reproduce`, and the doctest of
    :func:`gradflow.convergence_order` checks the order on a 1-D quadratic.

    >>> import matplotlib.pyplot as plt
    >>> fig, results = order_figure(quick=True)  # doctest: +SKIP
    >>> {label: round(r["order"], 1) for label, r in results.items()}  # doctest: +SKIP
    {'Quadratic.paper(), T = 2': 1.0, 'LinearNet.paper(), T = 3': 1.0}
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_yscale()  # doctest: +SKIP
    ('log', 'log')
    >>> plt.close("all")
    """
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.linear_net import LinearNet
    from gradflow.models.quadratic import Quadratic

    steps = 25 * 2 ** np.arange(4 if quick else 7)  # T/η must be a whole number of steps
    cases = {
        "Quadratic.paper(), T = 2": (Quadratic.paper(), 2.0, 2.0 / steps),
        "LinearNet.paper(), T = 3": (LinearNet.paper(), 3.0, 3.0 / (2 * steps)),
    }
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    results: dict[str, Any] = {}
    for j, (label, (model, t_end, lrs)) in enumerate(cases.items()):
        theta0 = model.init_params(np.random.default_rng(0))
        if progress:
            print(f"convergence order on {label}", file=sys.stderr)
        order, errors = gf.convergence_order(model, theta0, t_end, lrs)
        errors = np.asarray(errors, dtype=float)
        color = f"C{j}"
        ax.loglog(lrs, errors, "o", color=color, label=f"{label}: order {order:.3f}")
        intercept = np.mean(np.log(errors) - order * np.log(lrs))
        ax.loglog(lrs, np.exp(intercept) * lrs**order, "-", color=color, lw=1.0)
        results[label] = {"lrs": lrs.tolist(), "errors": errors.tolist(), "order": float(order)}
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("‖θ_GD(k = T/η) − θ_GF(T)‖")
    ax.set_title("Gradient descent → gradient flow: first order in η")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return fig, results


# --- reproduce ------------------------------------------------------------------------------
def reproduce(out: Path | str, quick: bool = False, progress: bool = False) -> list[Path]:
    """Write the three oracle figures, their runs and ``results.json`` into ``out``.

    Parameters
    ----------
    out : path
        Output folder (created).
    quick : bool
        Fewer samples, trajectories and learning rates, lower resolution (a few seconds).
    progress : bool
        Progress bars and messages on stderr.

    Returns
    -------
    list of Path
        Every file written: three PNGs, the ``.npz`` runs and ``results.json``.

    Examples
    --------
    The quick set takes about 15 s on a busy 2-core machine (measured), too long for a
    doctest; ``tests/test_figures.py`` runs it and checks the files:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     paths = reproduce(out, quick=True)
    ...     sorted(p.name for p in paths if p.suffix != ".npz")
    ['gd_vs_flow_order.png', 'phase_portrait.png', 'results.json', 'saxe_modes.png']
    """
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradflow import plots

    out = Path(out)
    dpi = 80 if quick else 120
    written: list[Path] = []
    results: dict[str, Any] = {"quick": quick}
    makers = {"saxe_modes": saxe_figure, "phase_portrait": phase_figure}
    for name, maker in makers.items():
        fig, runs, results[name] = maker(quick=quick, progress=progress)
        written.append(plots.save(fig, out / f"{name}.png", dpi=dpi))
        plt.close(fig)
        written += [traj.save(out / "runs" / f"{key}.npz") for key, traj in runs.items()]
    fig, results["gd_vs_flow_order"] = order_figure(quick=quick, progress=progress)
    written.append(plots.save(fig, out / "gd_vs_flow_order.png", dpi=dpi))
    plt.close(fig)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    written.append(path)
    return written
