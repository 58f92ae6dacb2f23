"""Figure 1 of Yang, Kailkhura, Wang, Liang (NeurIPS 2024), from GD and from gradient flow.

Three PNGs (spec ``cooccurrence.md`` §8.1):

1. ``figure1.png`` — the paper's Figure 1 at the Appendix-A configuration
   (:meth:`CoOccurrence.paper`, "Kaiming" read as PyTorch's default init): (a) the
   attention-score correlations ``μ_iᵀW_KᵀW_Qμ_j`` (key i, query j), drawn as their
   change since initialisation, and (b) the overall and per-type training losses, against
   the iteration; left column full-batch GD with the paper's η = 0.01 for 30,000 steps,
   right column gradient flow to t = 300 (drawn at iteration t/η).  The dotted vertical
   line is the end of Phase 1, the first time every sample is correct (``min_i y_iF_i``
   crosses 0; spec §9.6).  The iteration axis is logarithmic because Phase 1 ends after a
   few dozen of the 30,000 steps at this initialisation.
2. ``balancing.png`` — the automatic balancing of gradients over time, GD and flow
   overlaid: ``S_2/S_3`` (Lemma 4.4), ``R(t) = (S_234 - S_1)/(S_1 - S_2)`` (Lemma 4.5) and
   ``κ(t) = -L̂'/(r L̂²)`` (Theorem F.8).
3. ``phase1_theory.png`` — a theory-like run (initialisation of Condition 1, c = 0.5,
   distinct random tokens; n = 30, L = 5, d = 90, m = 128, m1 = 32), gradient flow, where
   Phase 1 is resolved: per-type losses (types 2 and 3 rise, then fall: Lemmas 4.1-4.2)
   and ``G(μ1), G(μ2), G(μ3)`` (Theorem 3.1(a)).

``results.json`` holds the measured numbers; ``series.npz`` every recorded loss and
observable; ``runs/*.npz`` the trajectories at 25 log-spaced records (parameters included).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from gradflow.blas import one_thread

__all__ = ["reproduce", "paper_runs", "theory_run", "figure1", "balancing_figure"]

#: the paper's optimiser (Appendix A): full-batch GD, η = 0.01, 30,000 steps (t = 300)
LR, STEPS = 0.01, 30_000
#: steps recorded one by one at the start of GD (Phase 1 ends within them)
EARLY = 100
#: records per run kept in ``runs/*.npz`` (log-spaced; the full series go to series.npz)
SAVED_RECORDS = 25
#: attention entries drawn in panel (a): (key, query) 0-based, with their labels
ATTENTION = (
    ((1, 0), "μ2ᵀW_KᵀW_Q μ1  (key μ2, query μ1)"),
    ((0, 1), "μ1ᵀW_KᵀW_Q μ2  (key μ1, query μ2)"),
    ((2, 0), "μ3ᵀW_KᵀW_Q μ1  (key μ3, query μ1)"),
    ((2, 1), "μ3ᵀW_KᵀW_Q μ2  (key μ3, query μ2)"),
    ((0, 2), "μ1ᵀW_KᵀW_Q μ3  (key μ1, query μ3)"),
)
TYPE_LABELS = ("type 1: μ1, μ2 (y=+1)", "type 2: μ1 only", "type 3: μ2 only", "type 4: neither")


def _concat(first, second) -> dict[str, Any]:
    """Join two consecutive GD runs (the second started at the first's end) into arrays."""
    steps = np.concatenate([first.steps, second.steps[1:] + first.steps[-1]])
    obs = {
        k: np.concatenate([first.observables[k], second.observables[k][1:]])
        for k in first.observables
    }
    loss = np.concatenate([first.loss, second.loss[1:]])
    return {"iteration": steps, "loss": loss, "observables": obs}


def _thin(traj: Any, k: int = SAVED_RECORDS) -> Any:
    """The trajectory at about ``k`` log-spaced records (for a small ``.npz``)."""
    import dataclasses

    n = len(traj.t)
    idx = np.unique(np.concatenate([[0], np.geomspace(1, n - 1, k - 1).astype(int)]))
    return dataclasses.replace(
        traj,
        t=traj.t[idx],
        loss=traj.loss[idx],
        grad_norm=traj.grad_norm[idx],
        params={name: v[idx] for name, v in traj.params.items()},
        observables={name: v[idx] for name, v in traj.observables.items()},
        steps=None if traj.steps is None else traj.steps[idx],
    )


def paper_runs(quick: bool = False, progress: bool = False) -> tuple[dict, dict, dict]:
    """GD (η = 0.01) and gradient flow on ``CoOccurrence.paper(seed=0)``.

    Both run on the exact u-reduction
    (:class:`~gradflow.models.cooccurrence.CoOccurrenceU`, the same dynamics in 24,704
    instead of 57,344 numbers; ``tests/test_cooccurrence_dynamics.py`` checks that the two
    parametrisations give the same flow and the same GD).  GD is recorded at every step up
    to :data:`EARLY` (Phase 1 ends there), then every 250th step; the flow is RK45 at
    rtol 1e-6.  Both carry the Phase-1 event.

    Parameters
    ----------
    quick : bool
        400 steps (t = 4) instead of the paper's 30,000 (t = 300).
    progress : bool
        Print progress to stderr.

    Returns
    -------
    runs : dict of str to Trajectory
        ``"gd_early"`` (every step up to :data:`EARLY`), ``"gd"`` (the rest, every 250th
        step) and ``"flow"`` (RK45, rtol 1e-6, 200 log-spaced samples).
    series : dict
        ``"gd"`` and ``"flow"``: iteration, loss and observables as arrays.
    results : dict
        Phase-1 end, final losses, wall times, gradient evaluations, balancing ratios.

    Examples
    --------
    The quick run takes a few seconds (about 3 s here), so it is shown, not run::

        runs, series, results = paper_runs(quick=True)
        results["gd_phase1_end_step"], results["flow_phase1_end_t"]   # 29, 0.2925...

    What it integrates: the paper's model in the ``u``-parametrisation, for a flow time
    ``t = η · steps``:

    >>> from gradflow.models.cooccurrence import CoOccurrence
    >>> model = CoOccurrence.paper(seed=0).reduced()
    >>> type(model).__name__, model.config()["init"], LR * STEPS
    ('CoOccurrenceU', 'torch_default', 300.0)
    """
    import gradflow as gf
    from gradflow.models.cooccurrence import CoOccurrence

    full = CoOccurrence.paper(seed=0)
    model = full.reduced()
    params0 = full.to_reduced(full.init_params(np.random.default_rng(0)))
    steps = 400 if quick else STEPS
    t_end = LR * steps
    event = model.phase1_event()
    start = time.perf_counter()
    gd_early = gf.gradient_descent(
        model, params0, LR, EARLY, events=[event], progress=progress, check_stability=False
    )
    gd_late = gf.gradient_descent(
        model,
        gd_early.final_params,
        LR,
        steps - EARLY,
        record_every=20 if quick else 250,
        progress=progress,
        check_stability=False,
    )
    gd_wall = time.perf_counter() - start
    flow = gf.integrate_flow(
        model,
        params0,
        (0.0, t_end),
        method="RK45",
        rtol=1e-6,
        n_eval=50 if quick else 200,
        events=[event],
        progress=progress,
    )
    gd = _concat(gd_early, gd_late)
    fl = {"iteration": flow.t / LR, "loss": flow.loss, "observables": flow.observables}
    k1 = gd_early.event_time("phase1_end")
    t1 = flow.event_time("phase1_end")
    final = model.population_loss(gd_late.final_params, return_error=True)

    def summary(series: dict) -> dict:
        obs = series["observables"]
        M = obs["attention_correlation"]
        return {
            "final_loss": float(series["loss"][-1]),
            "final_type_loss": obs["type_loss"][-1].tolist(),
            "final_G": obs["G"][-1].tolist(),
            "final_R": float(obs["R"][-1]),
            "final_S2_over_S3": float(obs["S2_over_S3"][-1]),
            "delta_M[key,query] (mu1..mu3)": (M[-1] - M[0]).tolist(),
            "M0_abs_mean (mu1..mu3)": float(np.mean(np.abs(M[0]))),
        }

    results = {
        "config": model.config(),
        "lr": LR,
        "steps": steps,
        "t_end": t_end,
        "r0": float(gd["observables"]["r"][0]),
        "gd_phase1_end_step": None if k1 is None else round(k1 / LR),
        "flow_phase1_end_t": t1,
        "gd": {**summary(gd), "wall_time_s": gd_wall, "gradient_calls": steps},
        "flow": {**summary(fl), "wall_time_s": flow.wall_time, "nfev": flow.nfev},
        "final_loss_rel_diff_gd_vs_flow": float(abs(gd["loss"][-1] / fl["loss"][-1] - 1)),
        "gd_population_loss_and_error": list(final),
    }
    runs = {"gd_early": gd_early, "gd": gd_late, "flow": flow}
    return runs, {"gd": gd, "flow": fl}, results


def theory_run(quick: bool = False, progress: bool = False) -> tuple[Any, dict]:
    """Gradient flow of the theory-like configuration (see the module docstring) to t = 40.

    The initialisation of Condition 1 with ``c = 0.5`` and distinct random tokens
    (Assumption 2.3 holds): n = 30, L = 5, d = 90, m = 128, m1 = 32.  RK45 at rtol 1e-8
    on the exact u-reduction, with the Phase-1 event.

    Parameters
    ----------
    quick : bool
        Integrate to t = 2 instead of 40 (Phase 1 still ends inside).
    progress : bool
        Print progress to stderr.

    Returns
    -------
    flow : Trajectory
        The gradient flow, with observables at 200 (quick: 50) log-spaced times.
    results : dict
        ``T1``, ``T1 σ1² m m1``, the loss and ``G(μ1..μ3)`` at ``T1``, when and by how
        much the type-2 and type-3 losses peak, the κ range in Phase 2, the final ``R``
        and ``S_2/S_3``, ``nfev`` and the wall time.

    Examples
    --------
    The quick run takes about 2 s here, so it is shown, not run::

        flow, results = theory_run(quick=True)
        results["T1"], results["loss_at_T1"]   # 0.2492..., 0.373...

    Condition 1's standard deviations at this size, ``σ0 = 0.5/√(L m)`` and
    ``σ1 = 0.5/√m1``:

    >>> from gradflow.models.cooccurrence import CoOccurrence
    >>> model = CoOccurrence(n=30, L=5, d=90, m=128, m1=32, distinct_tokens=True)
    >>> [round(s, 4) for s in model.sigmas]
    [0.0198, 0.0884]
    """
    import gradflow as gf
    from gradflow.models.cooccurrence import CoOccurrence

    model = CoOccurrence(
        n=30, L=5, d=90, m=128, m1=32, init="theory", init_scale=0.5, distinct_tokens=True
    )
    small = model.reduced()
    params0 = model.to_reduced(model.init_params(np.random.default_rng(0)))
    flow = gf.integrate_flow(
        small,
        params0,
        (0.0, 2.0 if quick else 40.0),
        method="RK45",
        rtol=1e-8,
        n_eval=50 if quick else 200,
        events=[small.phase1_event()],
        progress=progress,
    )
    obs = flow.observables
    T1 = flow.event_time("phase1_end")
    tl = obs["type_loss"]
    peaks = [float(flow.t[np.argmax(tl[:, k])]) for k in (1, 2)]
    i1 = int(np.searchsorted(flow.t, T1))  # the sample at the event itself (it is recorded)
    results = {
        "config": model.config(),
        "T1": T1,
        "T1_times_sigma1sq_m_m1": T1 * model.sigmas[1] ** 2 * model.m * model.m1,
        "loss_at_T1": float(flow.loss[i1]),
        "G_at_T1": obs["G"][i1].tolist(),
        "type2_type3_loss_peak_times": peaks,
        "type2_type3_loss_rise": [float(tl[:, k].max() - tl[0, k]) for k in (1, 2)],
        "kappa_range_phase2": [float(obs["kappa"][i1:].min()), float(obs["kappa"][i1:].max())],
        "R_final": float(obs["R"][-1]),
        "S2_over_S3_at_T1_and_final": [float(obs["S2_over_S3"][i1]), float(obs["S2_over_S3"][-1])],
        "nfev": flow.nfev,
        "wall_time_s": flow.wall_time,
    }
    return flow, results


def _phase_line(ax, x: float | None) -> None:
    if x is not None and x > 0:
        ax.axvline(x, color="red", ls=":", lw=1.2)


def figure1(series: dict, results: dict) -> Any:
    """The 2×2 Figure 1: rows (a) attention correlations, (b) losses; columns GD, flow.

    Row (a) draws the change since initialisation of the entries :data:`ATTENTION` of
    ``M = W_KᵀW_Q`` (key, query); row (b) the loss and the per-type losses.  A dotted line
    marks the end of Phase 1.  Both axes of time are iterations (flow: ``t/η``), on a log
    scale.

    Parameters
    ----------
    series : dict
        ``"gd"`` and ``"flow"``, each a dict with ``"iteration"``, ``"loss"`` and
        ``"observables"`` (as :func:`paper_runs` returns them).
    results : dict
        Needs ``"gd_phase1_end_step"`` and ``"flow_phase1_end_t"`` (either may be None).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, four axes.

    Examples
    --------
    A tiny model (not the paper's), 200 GD steps and the flow to the same time:

    >>> import gradflow as gf
    >>> from gradflow.models.cooccurrence import CoOccurrence
    >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    >>> theta = model.init_params(np.random.default_rng(0))
    >>> event = model.phase1_event()
    >>> gd = gf.gradient_descent(model, theta, LR, 200, events=[event], record_every=10)
    >>> flow = gf.integrate_flow(model, theta, (0, 200 * LR), events=[event], n_eval=20)
    >>> def series_of(run, iteration):
    ...     return {"iteration": iteration, "loss": run.loss, "observables": run.observables}
    >>> series = {"gd": series_of(gd, gd.steps), "flow": series_of(flow, flow.t / LR)}
    >>> results = {
    ...     "gd_phase1_end_step": round(gd.event_time("phase1_end") / LR),
    ...     "flow_phase1_end_t": flow.event_time("phase1_end"),
    ... }
    >>> results["gd_phase1_end_step"], round(results["flow_phase1_end_t"], 2)
    (154, 1.53)
    >>> fig = figure1(series, results)
    >>> [ax.get_title()[:3] for ax in fig.axes]
    ['(a)', '(a)', '(b)', '(b)']
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex="col")
    boundary = {
        "gd": results["gd_phase1_end_step"],
        "flow": None if results["flow_phase1_end_t"] is None else results["flow_phase1_end_t"] / LR,
    }
    titles = {"gd": f"GD, η = {LR}", "flow": "gradient flow (t/η)"}
    for col, kind in enumerate(("gd", "flow")):
        s = series[kind]
        x = s["iteration"]
        keep = x > 0
        M = s["observables"]["attention_correlation"]
        ax = axes[0, col]
        for (key, query), label in ATTENTION:
            ax.plot(x[keep], (M[:, key, query] - M[0, key, query])[keep], label=label)
        ax.axhline(0, color="grey", lw=0.5)
        _phase_line(ax, boundary[kind])
        ax.set_xscale("log")
        ax.set_ylabel("change since init")
        ax.set_title(f"(a) attention score correlation — {titles[kind]}")
        ax.legend(fontsize=8, loc="upper left")
        ax = axes[1, col]
        ax.plot(x[keep], s["loss"][keep], color="C0", lw=2, label="loss")
        tl = s["observables"]["type_loss"]
        for k in range(4):
            ax.plot(x[keep], tl[keep, k], color=f"C{k + 1}", label=TYPE_LABELS[k])
        _phase_line(ax, boundary[kind])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1, series["gd"]["iteration"][-1])
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss")
        ax.set_title(f"(b) training loss — {titles[kind]}")
        ax.legend(fontsize=8, loc="lower left")
        for row in range(2):
            ax = axes[row, col]
            if boundary[kind]:
                ax.text(
                    boundary[kind],
                    1.0,
                    " end of Phase 1",
                    color="red",
                    fontsize=8,
                    transform=ax.get_xaxis_transform(),
                    va="top",
                )
    fig.suptitle("Figure 1 (Yang et al. 2024), Appendix-A setting: n=60, L=5, d=64, m=128, m1=256")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.07, hspace=0.25, wspace=0.18)
    return fig


def balancing_figure(series: dict, results: dict, theory_flow: Any, theory: dict) -> Any:
    """S_2/S_3, R(t) and κ(t): left the paper setting (GD dashed, flow solid) against the
    iteration, right the theory-like flow against flow time.

    Parameters
    ----------
    series : dict
        ``"gd"`` and ``"flow"`` series of the paper setting (as :func:`paper_runs`
        returns them).
    results : dict
        Needs ``"gd_phase1_end_step"``.
    theory_flow : Trajectory
        The theory-like flow (as :func:`theory_run` returns it).
    theory : dict
        Needs ``"T1"``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, a 3×2 grid of axes.

    Examples
    --------
    A tiny model (not the paper's), 200 GD steps and the flow to the same time:

    >>> import gradflow as gf
    >>> from gradflow.models.cooccurrence import CoOccurrence
    >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    >>> theta = model.init_params(np.random.default_rng(0))
    >>> event = model.phase1_event()
    >>> gd = gf.gradient_descent(model, theta, LR, 200, events=[event], record_every=10)
    >>> flow = gf.integrate_flow(model, theta, (0, 200 * LR), events=[event], n_eval=20)
    >>> def series_of(run, iteration):
    ...     return {"iteration": iteration, "loss": run.loss, "observables": run.observables}
    >>> series = {"gd": series_of(gd, gd.steps), "flow": series_of(flow, flow.t / LR)}
    >>> results = {
    ...     "gd_phase1_end_step": round(gd.event_time("phase1_end") / LR),
    ...     "flow_phase1_end_t": flow.event_time("phase1_end"),
    ... }
    >>> results["gd_phase1_end_step"], round(results["flow_phase1_end_t"], 2)
    (154, 1.53)
    >>> fig = balancing_figure(series, results, flow, {"T1": results["flow_phase1_end_t"]})
    >>> len(fig.axes)
    6
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(13, 9), sharex="col")
    keys = (
        ("S2_over_S3", "S₂/S₃ (Lemma 4.4: → 1)"),
        ("R", "R = (S₂₃₄ − S₁)/(S₁ − S₂)\n(Lemma 4.5: settles in (1, 2))"),
        ("kappa", "κ = −dL̂/dt / (r L̂²)\n(Thm F.8: bounded band)"),
    )
    styles = {"flow": dict(color="C0", ls="-"), "gd": dict(color="C1", ls="--")}
    keep_theory = theory_flow.t > 0
    for row, (key, label) in enumerate(keys):
        ax = axes[row, 0]
        for kind in ("flow", "gd"):
            s = series[kind]
            keep = s["iteration"] > 0
            ax.plot(s["iteration"][keep], s["observables"][key][keep], label=kind, **styles[kind])
        _phase_line(ax, results["gd_phase1_end_step"])
        ax.set_xlim(1, series["gd"]["iteration"][-1])
        ax.set_ylabel(label)
        ax = axes[row, 1]
        values = theory_flow.observables[key][keep_theory]
        ax.plot(theory_flow.t[keep_theory], values, label="flow", **styles["flow"])
        _phase_line(ax, theory["T1"])
        for ax in axes[row]:
            ax.set_xscale("log")
            ax.legend(fontsize=8)
            if key == "S2_over_S3":
                ax.axhline(1, color="grey", lw=0.5)
            if key == "R":
                ax.axhspan(1, 2, color="green", alpha=0.08)
                ax.set_ylim(-0.5, 3)
    axes[-1, 0].set_xlabel("iteration (flow: t/η)")
    axes[-1, 1].set_xlabel("flow time t")
    axes[0, 0].set_title("paper setting (Appendix A), GD η = 0.01 and flow")
    axes[0, 1].set_title("theory-like setting (Condition 1, c = 0.5), flow")
    fig.suptitle("Automatic balancing of gradients (dotted: end of Phase 1; green: R in (1, 2))")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.07, hspace=0.12, wspace=0.15)
    return fig


def phase1_figure(flow: Any, results: dict) -> Any:
    """Theory-like flow: per-type losses, their change in Phase 1, and G(μ1..μ3).

    Parameters
    ----------
    flow : Trajectory
        The theory-like flow (as :func:`theory_run` returns it).
    results : dict
        Needs ``"T1"``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, three axes.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    keep = flow.t > 0
    t = flow.t[keep]
    tl = flow.observables["type_loss"][keep]
    ax = axes[0]
    ax.plot(t, flow.loss[keep], color="C0", lw=2, label="loss")
    for k in range(4):
        ax.plot(t, tl[:, k], color=f"C{k + 1}", label=TYPE_LABELS[k])
    ax.set_yscale("log")
    ax.set_title("per-type training losses")
    ax = axes[1]
    early = t <= 3 * results["T1"]
    for k in range(4):
        style = "--" if k == 2 else "-"  # types 2 and 3 nearly coincide
        ax.plot(t[early], tl[early, k] / tl[0, k], style, color=f"C{k + 1}", label=TYPE_LABELS[k])
    ax.axhline(1, color="grey", lw=0.5)
    ax.set_title("L̂_k(t)/L̂_k(0) in Phase 1: types 2, 3 rise, then fall")
    ax = axes[2]
    G = flow.observables["G"][keep]
    for k in range(3):
        ax.plot(t, G[:, k], label=f"G(μ{k + 1})")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("linear-MLP values G(μ) = uᵀW_Vμ")
    for ax in axes:
        _phase_line(ax, results["T1"])
        ax.set_xscale("log")
        ax.set_xlabel("flow time t")
        ax.legend(fontsize=8)
    fig.suptitle(
        "Theory-like run (Condition 1 init, c = 0.5, n=30, L=5, d=90 distinct tokens, m=128, "
        "m1=32), gradient flow; dotted: end of Phase 1"
    )
    fig.subplots_adjust(left=0.05, right=0.99, top=0.85, bottom=0.13, wspace=0.2)
    return fig


def reproduce(out: Path, quick: bool = False, progress: bool = False) -> list[Path]:
    """Write ``figure1.png``, ``balancing.png``, ``phase1_theory.png``, the runs and
    ``results.json`` into ``out``; return the paths.

    The full version runs 30,000 GD steps (about 30 s of gradient evaluations on one
    core) and a flow to t = 300; ``quick`` runs 400 steps (t = 4).  BLAS is pinned to
    one thread when threadpoolctl is installed (see :mod:`gradflow.blas`).

    Parameters
    ----------
    out : pathlib.Path or str
        Output directory (created if needed).
    quick : bool
        The short runs of :func:`paper_runs` and :func:`theory_run`.
    progress : bool
        Print progress to stderr.

    Returns
    -------
    list of pathlib.Path
        The three PNGs, ``runs/*.npz`` (25 log-spaced records each), ``series.npz`` and
        ``results.json``.

    Examples
    --------
    A quick reproduction takes about 10 s; from the shell ``gradflow reproduce
    cooccurrence --out figs``, from Python::

        paths = reproduce(Path("figs"), quick=True)
        json.loads((Path("figs") / "results.json").read_text())["paper"]["r0"]

    The command line finds this module by its short name:

    >>> from gradflow import figures
    >>> figures.get("cooccurrence").reproduce is reproduce
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gradflow as gf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with one_thread():
        runs, series, results = paper_runs(quick=quick, progress=progress)
        theory_flow, theory_results = theory_run(quick=quick, progress=progress)
    paths = []
    for name, fig in (
        ("figure1.png", figure1(series, results)),
        ("balancing.png", balancing_figure(series, results, theory_flow, theory_results)),
        ("phase1_theory.png", phase1_figure(theory_flow, theory_results)),
    ):
        paths.append(gf.plots.save(fig, out / name))
        plt.close(fig)
    for name, traj in {**runs, "theory_flow": theory_flow}.items():
        paths.append(_thin(traj).save(out / "runs" / f"{name}.npz"))
    arrays = {"theory/t": theory_flow.t, "theory/loss": theory_flow.loss}
    arrays.update({f"theory/{k}": v for k, v in theory_flow.observables.items()})
    for kind, s in series.items():
        arrays.update({f"{kind}/iteration": s["iteration"], f"{kind}/loss": s["loss"]})
        arrays.update({f"{kind}/{k}": v for k, v in s["observables"].items()})
    path = out / "series.npz"
    np.savez(path, **arrays)
    paths.append(path)
    results = {"paper": results, "theory": theory_results, "quick": quick}
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2))
    paths.append(path)
    return paths
