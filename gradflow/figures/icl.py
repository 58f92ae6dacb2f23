"""Figures of Huang, Cheng, Liang (ICML 2024): in-context regression with softmax attention.

What ``gradflow reproduce icl`` writes into ``out`` (spec §7.5, §7.6; the paper's figures
could not be read, so these follow the spec's recommended replication):

1. ``adam_balanced.png`` / ``adam_imbalanced.png`` — the Adam experiment (the paper's
   Figures 2 and 3): M = 300 prompts, 400 full-batch Adam steps with lr 0.002, random
   orthonormal features (d = 20, K = 5, N = 30).  Left, the per-feature prediction error
   ``L_k`` on 5000 fresh prompts (solid) and the exact population error from
   ``S = Vf Q Vfᵀ`` (dotted); right, the attention score ``attn_k`` of each query's own
   feature.  Imbalanced: ``p = (0.6, 0.1, 0.1, 0.1, 0.1)``; the dominant feature converges
   first.
2. ``flow_balanced.png`` — gradient flow (the paper analyses gradient descent: GD with
   ``η = 4`` is drawn dashed at ``t = η·k``) of the mean-field population loss, balanced
   ``p_k = 1/K``: error, attention and weights against time, phase I | II boundary
   (``attn_k = 1/2``) located by a flow event, with the closed form ``t(u)`` dotted.
3. ``flow_imbalanced.png`` — the same with ``p_1 = 1/2``: the dominant query in one phase,
   an under-represented query through four (shaded I-IV; boundaries are flow events:
   off-target weight C peaks, ``attn_1 = attn_k``, ``attn_k = 1/2``), with the tails
   ``1/(4ηκp_k t)``.
4. ``phase_portrait.png`` — the 2-D under-represented system ``(A_k, B_{k,1})`` (spec §6.3):
   its vector field, the four phase regions coloured, and trajectories.
5. ``scaling.png`` — phase boundaries against K: Θ(K²) with fitted exponents.

``results.json`` holds every measured number; ``runs/*.npz`` the trajectories.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import gradflow as gf
from gradflow.models.icl_regression import (
    PAPER_ADAM,
    ICLRegression,
    UnderrepresentedColumn,
    imbalanced_p,
    mean_field_time,
    phase1_time,
)
from gradflow.scaling import fit_power_law, plot_power_law

__all__ = [
    "reproduce",
    "adam_run",
    "adam_figure",
    "flow_run",
    "flow_figure",
    "portrait_figure",
    "scaling_figure",
]

PHASE_NAMES = ("C peak", "attn_dom=attn_k", "attn_k=1/2")
PHASE_LABELS = {
    1: "I: B_{k,1} drops, C rises",
    2: "II: C falls, attn_1 > attn_k",
    3: "III: attn_k surges",
    4: "IV: convergence",
}
PHASE_COLORS = ("#dbe9f6", "#fde4c8", "#dff2d8", "#eadcf0")
GD_LR = 4.0


def adam_run(
    imbalanced: bool, record_every: int = 10, progress: bool = False
) -> tuple[ICLRegression, gf.Trajectory]:
    """The Adam experiment of spec §7.6 on :meth:`ICLRegression.paper` (400 steps, lr 0.002).

    Full-batch Adam (PyTorch's defaults, ``PAPER_ADAM``) on the empirical loss of M = 300
    prompts, random orthonormal features, d = 20, K = 5, N = 30, from ``Q = 0``.

    Parameters
    ----------
    imbalanced : bool
        Use ``p = (0.6, 0.1, 0.1, 0.1, 0.1)`` instead of the balanced ``p_k = 1/5``.
    record_every : int
        Record the observables (including those on the 5000 test prompts) every this
        many steps.
    progress : bool
        Print a progress bar on stderr.

    Returns
    -------
    model : ICLRegression
        The empirical model (:meth:`ICLRegression.paper`).
    traj : gradflow.Trajectory
        The Adam run; ``traj.steps`` are Adam steps (epochs).

    Examples
    --------
    The settings it trains with:

    >>> from gradflow.figures.icl import PAPER_ADAM
    >>> PAPER_ADAM
    {'lr': 0.002, 'steps': 400}

    The run itself takes 1-2 s (measured under load), too long for a doctest; what it
    gives, the mean attention of each query on its own feature after 400 steps:

    >>> import numpy as np
    >>> model, traj = adam_run(imbalanced=False, record_every=400)  # doctest: +SKIP
    >>> traj.steps.tolist()  # doctest: +SKIP
    [0, 400]
    >>> round(float(np.diag(traj.observables["test_attn"][-1]).mean()), 2)  # doctest: +SKIP
    0.88
    """
    model = ICLRegression.paper(imbalanced=imbalanced)
    traj = gf.adam(
        model, model.init_params(), record_every=record_every, progress=progress, **PAPER_ADAM
    )
    return model, traj


def _population_errors(model: ICLRegression, traj: gf.Trajectory) -> np.ndarray:
    """Exact population per-feature error ``L_k`` along a run, from ``S`` (spec §8 A9)."""
    pop = ICLRegression(K=model.K, N=model.N, p=None if model.balanced else model.p)
    return np.array([pop.population_S(S)[2]["feature_loss"] for S in traj.observables["S"]])


def adam_figure(model: ICLRegression, traj: gf.Trajectory, path: Path) -> dict[str, Any]:
    """Per-feature error and attention score against the epoch (the paper's Figures 2-3).

    Left, the per-feature error ``L_k`` on the test prompts (solid), the exact population
    error from ``S = Vf Q Vfᵀ`` (dotted) and the training loss (dashed); right, the
    attention ``attn_k`` of each query on its own feature.

    Parameters
    ----------
    model : ICLRegression
        The empirical model that was trained (``population="empirical"``).
    traj : gradflow.Trajectory
        Its Adam (or GD) run, with the observables ``S``, ``test_attn`` and
        ``test_feature_loss`` recorded.
    path : pathlib.Path
        Where to write the PNG.

    Returns
    -------
    dict
        ``attn_start`` and ``attn_end`` (K,), the test attention on the own feature;
        ``test_error_end`` and ``population_error_end`` (K,); ``train_loss``, first and
        last.

    Examples
    --------
    A tiny run (N = 4, 20 training prompts, 20 steps) has what the figure reads:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import gradflow as gf
    >>> model = ICLRegression.paper(N=4, M=20, M_test=50)
    >>> traj = gf.adam(model, model.init_params(), lr=0.002, steps=20, record_every=10)
    >>> traj.steps.tolist(), traj.observables["test_attn"].shape
    ([0, 10, 20], (3, 5, 5))

    Drawing it takes seconds (matplotlib), so it is not run here; its output:

    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     numbers = adam_figure(model, traj, Path(out) / "adam.png")
    >>> [round(x, 3) for x in numbers["train_loss"]]  # doctest: +SKIP
    [0.509, 0.416]
    """
    import matplotlib.pyplot as plt

    epochs = traj.steps
    test_loss = traj.observables["test_feature_loss"]
    attn = np.diagonal(traj.observables["test_attn"], axis1=1, axis2=2)
    population = _population_errors(model, traj)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for k in range(model.K):
        name = "dominant" if (not model.balanced and k == 0) else f"feature {k + 1}"
        style = {"lw": 2.4 if (not model.balanced and k == 0) else 1.3, "color": f"C{k}"}
        ax0.plot(epochs, test_loss[:, k], label=f"{name} (p={model.p[k]:.2f})", **style)
        ax0.plot(epochs, population[:, k], ls=":", **style)
        ax1.plot(epochs, attn[:, k], label=name, **style)
    ax0.plot(epochs, traj.loss, color="k", lw=0.8, ls="--", label="training loss (M=300)")
    ax0.set_yscale("log")
    ax0.set(xlabel="epoch (Adam step)", ylabel="prediction error L_k",
            title="per-feature error: test (solid), population (dotted)")  # fmt: skip
    ax1.set(xlabel="epoch (Adam step)", ylabel="attention score attn_k", ylim=(0, 1),
            title="attention on the query's own feature")  # fmt: skip
    ax0.legend(fontsize=7)
    ax1.legend(fontsize=7)
    kind = "balanced" if model.balanced else "imbalanced p=" + str(np.round(model.p, 2).tolist())
    fig.suptitle(f"Adam, lr 0.002, 400 epochs, {kind}, random features d=20, K=5, N=30")
    gf.plots.save(fig, path)
    plt.close(fig)
    return {
        "attn_start": attn[0].tolist(),
        "attn_end": attn[-1].tolist(),
        "test_error_end": test_loss[-1].tolist(),
        "population_error_end": population[-1].tolist(),
        "train_loss": [float(traj.loss[0]), float(traj.loss[-1])],
    }


def flow_run(
    K: int, imbalanced: bool, t_end: float, progress: bool = False
) -> tuple[ICLRegression, gf.Trajectory, gf.Trajectory]:
    """Gradient flow and GD (η = 4) on the K x K mean-field population loss.

    Events: the dominant / balanced query's ``attn = 1/2`` and ``L = 1e-3``; for the
    imbalanced model also the four-phase boundaries of the under-represented query 1.
    The flow is LSODA (rtol 1e-9, atol 1e-12) from ``Q = 0``; GD runs to ``t_end / 4``,
    its step ``k`` recorded at flow time ``t = ηk``.

    Parameters
    ----------
    K : int
        Number of features (N = 100 tokens).
    imbalanced : bool
        ``p_1 = 1/2`` (:func:`imbalanced_p`) instead of the balanced ``p_k = 1/K``.
    t_end : float
        Flow time to integrate to.
    progress : bool
        Print progress bars on stderr.

    Returns
    -------
    model : ICLRegression
        The mean-field model.
    flow : gradflow.Trajectory
        The gradient flow, with its events.
    gd : gradflow.Trajectory
        GD with ``lr = 4``.

    Examples
    --------
    Balanced, K = 3: phase I ends at the closed-form time, and GD is recorded at
    ``t = 4k``:

    >>> model, flow, gd = flow_run(K=3, imbalanced=False, t_end=20.0)
    >>> round(flow.event_time("attn_k=1/2"), 4), round(phase1_time(3), 4)
    (6.6059, 6.6059)
    >>> gd.t.tolist()
    [0.0, 4.0]
    """
    p = imbalanced_p(K, 0.5) if imbalanced else None
    model = ICLRegression(K=K, N=100, p=p, population="mean_field")
    events = [model.feature_loss_event(0, 1e-3, "L_0=1e-3")]
    if imbalanced:
        events += model.phase_events(1)
    else:
        events += [model.attention_event(0, 0.5, "attn_k=1/2")]
    flow = gf.integrate_flow(
        model, model.init_params(), (0, t_end), method="LSODA", rtol=1e-9, atol=1e-12,
        events=events, n_eval=160, progress=progress,
    )  # fmt: skip
    steps = int(t_end / 4 / GD_LR)  # GD up to t_end/4 (GD is the paper's dynamics)
    gd = gf.gradient_descent(
        model, model.init_params(), lr=GD_LR, steps=steps, record_every=max(1, steps // 150),
        progress=progress,
    )  # fmt: skip
    return model, flow, gd


def _shade_phases(ax: Any, times: list[float], t_end: float) -> None:
    edges = [1e-2, *times, t_end]
    for j in range(4):
        ax.axvspan(edges[j], edges[j + 1], color=PHASE_COLORS[j], zorder=0, lw=0)
    for t in times:
        ax.axvline(t, color="0.3", lw=0.8, ls=":")


def flow_figure(
    model: ICLRegression, flow: gf.Trajectory, gd: gf.Trajectory, path: Path
) -> dict[str, Any]:
    """Error, attention and weights against time, GF solid and GD dashed, phases marked.

    Three log-time panels: the per-feature error ``L_k`` with the tail
    ``1/(4κ p_k t)``, the attention scores, and the weights of ``S``.  GD is drawn as
    circles at ``t = ηk``.  Balanced: phases I and II split at the event
    ``"attn_k=1/2"``, with the closed form ``t(u)`` as white dots.  Imbalanced: the four
    phases of the under-represented query shaded between its events.

    Parameters
    ----------
    model : ICLRegression
        The mean-field model of :func:`flow_run`.
    flow : gradflow.Trajectory
        Its gradient flow, with the events of :func:`flow_run`.
    gd : gradflow.Trajectory
        Its GD run.
    path : pathlib.Path
        Where to write the PNG.

    Returns
    -------
    dict
        ``events`` (name to time); balanced runs add ``phase1_closed_form``.

    Examples
    --------
    The step of the GD drawn next to the flow:

    >>> GD_LR
    4.0

    Drawing takes seconds (matplotlib), so it is not run here; its output for K = 3:

    >>> import tempfile
    >>> from pathlib import Path
    >>> model, flow, gd = flow_run(K=3, imbalanced=False, t_end=20.0)  # doctest: +SKIP
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     numbers = flow_figure(model, flow, gd, Path(out) / "flow.png")
    >>> event = numbers["events"]["attn_k=1/2"]  # doctest: +SKIP
    >>> round(event, 4), round(numbers["phase1_closed_form"], 4)  # doctest: +SKIP
    (6.6059, 6.6059)
    """
    import matplotlib.pyplot as plt

    K = model.K
    kappa = K / (K - 1)
    t, tg = flow.t[1:], gd.t[1:]
    L, Lg = flow.observables["feature_loss"][1:], gd.observables["feature_loss"][1:]
    a, ag = flow.observables["attn"][1:], gd.observables["attn"][1:]
    S, Sg = flow.observables["S"][1:], gd.observables["S"][1:]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    out: dict[str, Any] = {"events": {e["name"]: e["t"] for e in flow.events}}
    if model.balanced:
        series = [("query k", 0, "C0")]
        t_half = flow.event_time("attn_k=1/2")
        for ax in axes:
            ax.axvspan(1e-2, t_half, color=PHASE_COLORS[0], lw=0, zorder=0)
            ax.axvspan(t_half, t[-1], color=PHASE_COLORS[3], lw=0, zorder=0)
            ax.axvline(t_half, color="0.3", lw=0.8, ls=":")
        axes[1].text(t_half * 0.9, 0.9, "phase I", ha="right", fontsize=8)
        axes[1].text(t_half * 1.1, 0.9, "phase II", ha="left", fontsize=8)
        # closed form t(u) of spec §6.2: parametric curve (t(u), ℓ(u))
        u = np.geomspace(1.0001, 1e4 * K, 400)
        tu = mean_field_time(u, K)
        keep = (tu > t[0]) & (tu < t[-1])
        b = K - 1
        axes[0].plot(tu[keep], (kappa * b**2 / (2 * (u + b) ** 2))[keep], "w:", lw=1.5,
                     label="closed form t(u) (white dots)", zorder=5)  # fmt: skip
        axes[1].plot(tu[keep], (u / (u + b))[keep], "w:", lw=1.5, zorder=5)
        out["phase1_closed_form"] = phase1_time(K)
    else:
        series = [("dominant query 1", 0, "C3"), ("under-represented query k", 1, "C0")]
        times = [flow.event_time(n) for n in PHASE_NAMES]
        for ax in axes:
            _shade_phases(ax, times, t[-1])
        for j, (lo, hi) in enumerate(zip([1e-2, *times], [*times, t[-1]], strict=True)):
            axes[1].text(np.sqrt(lo * hi), 1.02, "I II III IV".split()[j], ha="center",
                         fontsize=9, transform=axes[1].get_xaxis_transform())  # fmt: skip
    for name, k, color in series:
        axes[0].loglog(t, L[:, k], color=color, lw=2, label=f"{name} (p={model.p[k]:.3f})")
        axes[0].loglog(
            tg, Lg[:, k], color=color, ls="none", marker="o", mfc="none", ms=3.5, markevery=6
        )
        tail = 1 / (4 * kappa * model.p[k] * t)
        axes[0].loglog(t[t > 0.3 * t[-1] ** 0.5], tail[t > 0.3 * t[-1] ** 0.5], color=color,
                       lw=0.8, ls="-.")  # fmt: skip
        axes[1].semilogx(t, a[:, k, k], color=color, lw=2, label=f"attn_k, {name}")
        axes[1].semilogx(
            tg, ag[:, k, k], color=color, ls="none", marker="o", mfc="none", ms=3.5, markevery=6
        )
    if not model.balanced:
        axes[1].semilogx(t, a[:, 0, 1], color="C1", lw=2, label="attn on dominant, query k")
        axes[1].semilogx(
            tg, ag[:, 0, 1], color="C1", ls="none", marker="o", mfc="none", ms=3.5, markevery=6
        )
        weights = [("A_k", (1, 1), "C0"), ("B_{k,1}", (0, 1), "C1"), ("C = B_{k,n}", (2, 1), "C2"),
                   ("A_1", (0, 0), "C3")]  # fmt: skip
    else:
        weights = [("A_k", (0, 0), "C0"), ("B_{k,n}", (1, 0), "C1")]
    for name, (m, k), color in weights:
        axes[2].semilogx(t, S[:, m, k], color=color, lw=2, label=name)
        axes[2].semilogx(
            tg, Sg[:, m, k], color=color, ls="none", marker="o", mfc="none", ms=3.5, markevery=6
        )
    axes[0].plot([], [], "k-.", lw=0.8, label="tail 1/(4κ p_k t)")
    axes[0].plot([], [], "ko", mfc="none", ms=3.5, label=f"GD, η={GD_LR:g}, at t=ηk")
    axes[0].set(xlabel="t = η·iterations", ylabel="prediction error L_k", ylim=(1e-5, 1))
    axes[1].set(xlabel="t = η·iterations", ylabel="attention score", ylim=(0, 1.08))
    axes[2].set(xlabel="t = η·iterations", ylabel="weights of S = Vf Q Vfᵀ")
    for ax in axes:
        ax.set_xlim(1e-1, t[-1])
        ax.legend(fontsize=7, loc="best")
    kind = "balanced" if model.balanced else "imbalanced, p_1 = 1/2"
    fig.suptitle(f"gradient flow of the mean-field population loss, K = {K}, {kind}")
    gf.plots.save(fig, path)
    plt.close(fig)
    return out


def portrait_figure(K: int, path: Path, t_end: float) -> dict[str, Any]:
    """Phase portrait of the 2-D under-represented system (A_k, B_{k,1}), phases coloured.

    The mean-field :class:`UnderrepresentedColumn` (N = 100, p_1 = 1/2): its vector field,
    the plane coloured by :meth:`UnderrepresentedColumn.phase`, and trajectories from
    four starts; the one from ``(0, 0)`` (that is, ``Q = 0``) carries markers at its
    three phase boundaries.

    Parameters
    ----------
    K : int
        Number of features (``K ≥ 3``).
    path : pathlib.Path
        Where to write the PNG.
    t_end : float
        Time to integrate each trajectory to (η = 1).

    Returns
    -------
    dict
        ``events_from_zero``: the event times of the trajectory from ``Q = 0``.

    Examples
    --------
    The phase labels of the legend:

    >>> PHASE_LABELS[1]
    'I: B_{k,1} drops, C rises'

    Drawing takes seconds, so it is not run here; its output for K = 5:

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     numbers = portrait_figure(5, Path(out) / "portrait.png", t_end=100.0)
    >>> {k: round(v, 2) for k, v in numbers["events_from_zero"].items()}  # doctest: +SKIP
    {'C peak': 7.55, 'attn_1=attn_k': 37.06, 'attn_k=1/2': 65.76, 'L_k=eps': nan}
    """
    import matplotlib.pyplot as plt

    col = UnderrepresentedColumn(K, 100, p1=0.5, population="mean_field")
    starts = [(0.0, 0.0), (0.0, -2.6), (2.0, 0.4), (-0.5, -1.2)]
    trajectories = []
    for y0 in starts:
        t_eval = np.concatenate([[0.0], np.geomspace(1e-2, t_end, 400)])
        sol = col.solve(t_end, t_eval=t_eval, y0=y0, rtol=1e-9, atol=1e-12)
        trajectories.append(sol)
    xlim, ylim = (-0.8, 6.0), (-3.0, 0.6)
    fig = gf.plots.phase_portrait(
        col.field, xlim, ylim, trajectories=[s.y for s in trajectories], phase=col.phase,
        phase_labels=PHASE_LABELS, density=1.1, labels=("A_k", "B_{k,1}"),
    )  # fmt: skip
    ax = fig.axes[0]
    main = trajectories[0]
    for name, marker in zip(("C peak", "attn_1=attn_k", "attn_k=1/2"), "sD^", strict=True):
        te = main.events[name]
        y = main.sol(te)
        ax.plot(*y, marker, color="k", ms=7, mfc="w", label=f"{name} (t={te:.0f})")
    legend = ax.get_legend()
    handles = [*(legend.legend_handles if legend else []), *ax.get_lines()[-3:]]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_title(f"under-represented query, K={K}, p_1=1/2, mean field; start (0,0) is Q = 0")
    gf.plots.save(fig, path)
    plt.close(fig)
    return {"events_from_zero": main.events}


def scaling_figure(Ks: list[int], path: Path) -> dict[str, Any]:
    """Phase boundaries against K: balanced phase I (closed form) and under-represented events.

    For each K: :func:`phase1_time` (balanced) and the three phase boundaries of the
    mean-field :class:`UnderrepresentedColumn` (N = 100, p_1 = 1/2); each series is fitted
    with :func:`gradflow.scaling.fit_power_law` and drawn log-log with the theory's K².

    Parameters
    ----------
    Ks : list of int
        At least three values of K (the fit's interval needs three points); ``K ≥ 3``.
    path : pathlib.Path
        Where to write the PNG.

    Returns
    -------
    dict
        Per series: ``exponent``, ``interval`` (95 %) and the ``times``.

    Examples
    --------
    The balanced series is the closed form (spec §7.3 L2):

    >>> [round(phase1_time(K), 2) for K in (5, 10, 20)]
    [31.61, 143.79, 544.64]

    The figure takes seconds, so it is not run here; its fitted exponents for
    K = 5, 10, 20 (small K: the under-represented series have not reached their K²
    regime; ``gradflow reproduce icl`` uses K = 10 ... 160):

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     fits = scaling_figure([5, 10, 20], Path(out) / "scaling.png")
    >>> {name: round(fit["exponent"], 2) for name, fit in fits.items()}  # doctest: +SKIP
    {'balanced attn_k=1/2': 2.05, 'under-rep. C peak': 2.9,
     'under-rep. attn_1=attn_k': 2.26, 'under-rep. attn_k=1/2': 2.13}
    """
    import matplotlib.pyplot as plt

    Ks_arr = np.asarray(Ks, dtype=float)
    measured: dict[str, list[float]] = {"balanced attn_k=1/2": [phase1_time(K) for K in Ks]}
    for K in Ks:
        col = UnderrepresentedColumn(K, 100, p1=0.5, population="mean_field")
        ev = col.solve(1.5 / col.q**2, t_eval=np.array([0.0, 1.5 / col.q**2])).events
        for name in ("C peak", "attn_1=attn_k", "attn_k=1/2"):
            measured.setdefault(f"under-rep. {name}", []).append(ev[name])
    fig, ax = plt.subplots(figsize=(6, 4.6))
    fits = {}
    for j, (name, values) in enumerate(measured.items()):
        fit = fit_power_law(Ks_arr, values)
        fits[name] = {"exponent": fit.exponent, "interval": list(fit.interval), "times": values}
        plot_power_law(Ks_arr, values, fit=fit, theory_exponent=2.0 if j == 0 else None, ax=ax,
                       label=f"{name}: K^{fit.exponent:.2f}", color=f"C{j}", xlabel="K",
                       ylabel="time (η = 1)", theory_label="K² (theory)")  # fmt: skip
    ax.legend(fontsize=7)
    ax.set_title("phase boundaries scale as K² (mean field, p_1 = 1/2)")
    gf.plots.save(fig, path)
    plt.close(fig)
    return fits


def reproduce(out: Path, quick: bool = False, progress: bool = False) -> list[Path]:
    """Write the ICL figures, runs and ``results.json`` into ``out``; return the paths.

    ``quick`` uses K = 10 for the flows and fewer sizes for the scaling figure; the
    default uses K = 20.  The Adam runs are the paper's size in both.

    Parameters
    ----------
    out : pathlib.Path or str
        Output directory (created, with a ``runs/`` subdirectory for the ``.npz`` runs).
    quick : bool
        K = 10, flows to t = 2e4, scaling over K = 10, 20, 40 (73 s measured on a loaded
        2-core machine); otherwise K = 20, t = 1e5, K = 10 ... 160.
    progress : bool
        Print progress bars on stderr.

    Returns
    -------
    list of pathlib.Path
        Every file written: five PNGs, six ``.npz`` runs and ``results.json``.

    Examples
    --------
    ``gradflow reproduce icl`` finds it through the figure registry:

    >>> from gradflow import figures
    >>> figures.get("icl").reproduce is reproduce
    True

    The quick set takes over a minute, so it is not run here
    (``tests/test_icl_regression_laws.py`` runs it); the files it writes:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     paths = reproduce(out, quick=True)
    ...     sorted(p.name for p in paths if p.suffix != ".npz")
    ['adam_balanced.png', 'adam_imbalanced.png', 'flow_balanced.png', 'flow_imbalanced.png',
     'phase_portrait.png', 'results.json', 'scaling.png']
    """
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    K = 10 if quick else 20
    t_end = 2e4 if quick else 1e5
    paths: list[Path] = []
    results: dict[str, Any] = {"K": K}
    for imbalanced in (False, True):
        tag = "imbalanced" if imbalanced else "balanced"
        model, traj = adam_run(imbalanced, 20 if quick else 10, progress)
        paths.append(traj.save(out / "runs" / f"adam_{tag}.npz"))
        path = out / f"adam_{tag}.png"
        results[f"adam_{tag}"] = adam_figure(model, traj, path)
        paths.append(path)
        model, flow, gd = flow_run(K, imbalanced, t_end, progress)
        paths.append(flow.save(out / "runs" / f"flow_{tag}.npz"))
        paths.append(gd.save(out / "runs" / f"gd_{tag}.npz"))
        path = out / f"flow_{tag}.png"
        results[f"flow_{tag}"] = flow_figure(model, flow, gd, path)
        paths.append(path)
    path = out / "phase_portrait.png"
    results["phase_portrait"] = portrait_figure(K, path, t_end)
    paths.append(path)
    path = out / "scaling.png"
    results["scaling"] = scaling_figure([10, 20, 40] if quick else [10, 20, 40, 80, 160], path)
    paths.append(path)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1, default=float))
    paths.append(path)
    return paths
