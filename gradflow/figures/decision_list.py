"""Figures for the decision-list transformer (spec ``decision_lists.md`` §7).

The paper has no figures; these make each of its claims checkable:

1. ``chain_collapse.png`` — the priority chain ``Ω = c·(w_1, …, w_M, w_o)`` of one column
   against ``τ = c²t`` for several ``c`` (reduced ODE, §5.2) and the large-c limit ODE
   (§5.3): the curves collapse; ``T_perfect`` and the "self entry first" phase are marked.
2. ``attention_maps.png`` — attention ``A = σ(XᵀWX)`` of three sequences whose LDT has
   list rank 1..M, at ``t ∈ {0, T/4, T, 10T}`` (full model, Theorem 1's flow), and
   ``w_columns.png`` — W restricted to ``L_a ∪ {others}`` for every query ``a``.
3. ``margins.png`` — per-example margins by LDT rank; min margin and accuracy over log
   time; loss (log-log).
4. ``scaling.png`` — ``T_perfect`` against L for the two readings of δ with Theorem 1's
   bound ``4M/(γ log L)``; T against M; ``c²T`` against c with the limit ``τ*``.
5. ``v_vs_p.png`` — ``Pᵀ(V(t) − V₀)`` heatmaps of the uniform-attention (W ≡ 0) flow;
   ``cos(ΔV, P_c)`` over time for it and for the joint flow from small random init.
6. ``gd_vs_gf.png`` — joint GD against the flow at ``t = ηk``, and the error against η
   (slope 1).
7. ``sharpness.png`` — ``λ_max`` along joint GD (Theorem 2's setting) against ``1/η``
   and ``2/η``.
8. ``repeats.png`` — Theorem 1's flow with i.i.d. tokens (repeats) against n-subsets: the
   chain over time, and the W-gaps at ``T`` against ``log`` of the count ratio.

``results.json`` holds the numbers each figure measured; ``docs/models/decision_list.md``
quotes them, next to the numbers that come from the tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["reproduce"]

RTOL, ATOL = 1e-10, 1e-14  # reduced / limit ODEs (4-6 states: tight is cheap)


def _t_perfect(model: Any, t_end: float, method: str = "LSODA", **kw: Any) -> tuple[float, Any]:
    import gradflow as gf

    kw.setdefault("rtol", RTOL)
    kw.setdefault("atol", ATOL)
    kw.setdefault("observables", False)
    traj = gf.integrate_flow(
        model,
        model.init_params(np.random.default_rng(0)),
        (0.0, t_end),
        method=method,
        events=[model.perfect_event()],
        **kw,
    )
    T = traj.event_time("perfect")
    return (float("nan") if T is None else float(T)), traj


def _gamma(L: int, n: int, M: int) -> float:
    den = math.comb(L - 1, n - 1)
    ks = [math.comb(L - 1 - k, n - 2) / den for k in range(1, M)]
    return min([*ks, math.comb(L - M, n - 1) / den])


def _clean_log(ax: Any, which: str = "both") -> None:
    """Hide minor-tick labels on log axes (they crowd spans shorter than a decade)."""
    from matplotlib.ticker import NullFormatter

    if which in ("x", "both"):
        ax.xaxis.set_minor_formatter(NullFormatter())
    if which in ("y", "both"):
        ax.yaxis.set_minor_formatter(NullFormatter())


def _first_crossing(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """First time where ``a − b`` changes sign from ≤ 0 to > 0 (linear interpolation)."""
    d = a - b
    idx = np.nonzero((d[:-1] <= 0) & (d[1:] > 0))[0]
    if idx.size == 0:
        return float("nan")
    i = idx[0]
    return float(t[i] + (t[i + 1] - t[i]) * (-d[i]) / (d[i + 1] - d[i]))


# --- 1. the chain collapse ------------------------------------------------------------------
def chain_figure(L: int, n: int, M: int, cs: list[float]) -> tuple[Any, dict, dict]:
    """Ω = c·w against τ = c²t for several c, with the limit flow (§7 #1)."""
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.decision_list_reduced import LimitChain, ReducedChain

    lim = LimitChain(L, n, M)
    tau_star, _ = _t_perfect(lim, 1e9, atol=1e-12)
    taus = np.geomspace(1e-3 * tau_star, 3 * tau_star, 150)
    lt = gf.integrate_flow(
        lim,
        lim.init_params(None),
        (0, taus[-1]),
        method="LSODA",
        rtol=RTOL,
        atol=1e-12,
        t_eval=taus,
        observables=False,
    )
    om_lim = lim.to_w(lt.params["x"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    colors = ["C0", "C1", "C4", "C5", "C2", "C6"][: M - 1] + ["C3", "0.45"]
    names = [f"$a_{k + 1}$" for k in range(M - 1)] + ["self $a$", "others"]
    results: dict[str, Any] = {"L": L, "n": n, "M": M, "tau_star": tau_star, "c2T": {}}
    styles = ["--", "-.", ":", (0, (1, 3)), (0, (5, 1))]
    runs = {"limit": lt}
    for j, c in enumerate(cs):
        red = ReducedChain(L, n, M, c=c)
        T, _ = _t_perfect(red, 10 * tau_star / c**2)
        results["c2T"][str(c)] = c * c * T
        tr = gf.integrate_flow(
            red,
            red.init_params(None),
            (0, taus[-1] / c**2),
            method="LSODA",
            rtol=RTOL,
            atol=ATOL,
            t_eval=taus / c**2,
            observables=False,
        )
        om = c * red.to_w(tr.params["x"])
        for k in range(M + 1):
            axes[0].plot(taus, om[:, k], ls=styles[j % len(styles)], color=colors[k], lw=1.2)
        axes[1].plot(cs[j], c * c * T, "o", color="C3")
        runs[f"reduced_c{c:g}"] = tr
    for k in range(M + 1):
        axes[0].plot(taus, om_lim[:, k], color=colors[k], lw=3, alpha=0.35, label=names[k])
    # the self entry leads first; a_1 overtakes it, then a_{M-1} overtakes it at τ*
    cross_1 = _first_crossing(taus, om_lim[:, 0], om_lim[:, M - 1])
    results["tau_a1_overtakes_self"] = cross_1
    self_lead = np.argmax(om_lim[1], axis=0) == M - 1
    results["self_leads_first"] = bool(self_lead)
    axes[0].axvline(tau_star, color="k", lw=1)
    axes[0].text(tau_star, axes[0].get_ylim()[1], r" $\tau^*$ (perfect)", va="top")
    if np.isfinite(cross_1):
        axes[0].axvline(cross_1, color="gray", lw=0.8, ls="--")
        axes[0].text(cross_1, axes[0].get_ylim()[0], r" $a_1$ passes self", va="bottom")
    axes[0].set_xscale("log")
    axes[0].set_xlabel(r"$\tau = c^2 t$")
    axes[0].set_ylabel(r"$\Omega = c\,W[\cdot, a]$")
    axes[0].set_title(
        f"priority chain, L={L}, n={n}, M={M}: c = {', '.join(f'{c:g}' for c in cs)} "
        "(thin, dashes) vs limit (thick)",
        fontsize=9,
    )
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].axhline(tau_star, color="k", lw=1, label=rf"limit $\tau^*$ = {tau_star:.1f}")
    lo = min([tau_star, *results["c2T"].values()])
    axes[1].set_ylim(lo - 0.02 * tau_star, tau_star + 0.02 * tau_star)
    axes[1].set_xscale("log")
    _clean_log(axes[1], "x")
    axes[1].set_xlabel("c")
    axes[1].set_ylabel(r"$c^2 T_{perfect}$")
    axes[1].set_title(r"collapse: $c^2 T \to \tau^*$ (reduced ODE)")
    axes[1].legend()
    fig.tight_layout()
    return fig, runs, results


# --- 2-3. the full flow: attention maps and margins --------------------------------------
def full_flow_figures(L: int, n: int, M: int) -> tuple[list[tuple[str, Any]], dict, dict]:
    """Theorem 1's flow on the full model: attention maps, W columns, margins (§7 #2-3)."""
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.decision_list import DecisionList

    m = DecisionList(L, n, M)
    p0 = m.init_params(None)
    T, _ = _t_perfect(m, 1.0, method="DOP853", rtol=1e-10, atol=1e-12)
    times = np.concatenate([[0.0], np.geomspace(1e-4 * T, 10 * T, 60), [T / 4, T]])
    times = np.unique(times)
    traj = gf.integrate_flow(
        m, p0, (0, 10 * T), method="DOP853", rtol=1e-10, atol=1e-12, t_eval=times
    )
    results = {
        "L": L,
        "n": n,
        "M": M,
        "c": m.c,
        "T_perfect": T,
        "bound": m.bound_theorem1,
        "gamma": m.gamma,
        "delta": m.delta,
        "nfev": traj.nfev,
    }
    figs = []
    # attention maps: three sequences of column a0 whose LDT is at rank 1..M
    a0 = m.chain_token
    t = m.table
    picks = []
    for k in range(M):
        idx = np.nonzero((t.q == a0) & (t.rank == k))[0]
        if idx.size:
            picks.append((k, t.seqs[t.seq[idx[0]]]))
    show_t = [0.0, T / 4, T, 10 * T]
    fig, axes = plt.subplots(len(picks), 4, figsize=(11, 2.7 * len(picks)), squeeze=False)
    for r, (k, seq) in enumerate(picks):
        for cidx, tt in enumerate(show_t):
            W = traj.at(tt)["W"]
            A = m.attention({"W": W}, seq[None])[0]
            ax = axes[r, cidx]
            # A stays within ~0.05 of 1/n: at c ~ 10³ tiny W-gaps already order the logits,
            # so the colours show A − 1/n
            span = max(np.abs(A - 1 / n).max(), 1e-3)
            ax.imshow(A - 1 / n, vmin=-span, vmax=span, cmap="coolwarm")
            labels = [str(b) + ("*" if b == m.lists[a0][k] else "") for b in seq]
            ax.set_xticks(range(n), labels, fontsize=8)
            ax.set_yticks(range(n), labels, fontsize=8)
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, f"{A[i, j]:.3f}", ha="center", va="center", fontsize=7)
            if r == 0:
                ax.set_title(["t = 0", "t = T/4", "t = T", "t = 10T"][cidx])
            if cidx == 0:
                ax.set_ylabel(f"LDT rank {k + 1}\nkeys (rows)")
    fig.suptitle(
        f"attention A = σ(XᵀWX) (numbers; colour = A − 1/n, own scale per panel), query "
        f"a={a0}; columns = query positions, * = LDT; L={L}, n={n}, M={M}, T={T:.5f}",
        fontsize=10,
    )
    fig.tight_layout()
    figs.append(("attention_maps.png", fig))
    # W restricted to L_a ∪ {others}, every column, at T and 10T
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, tt, lab in zip(axes, [T, 10 * T], ["T", "10T"], strict=True):
        Wt = traj.at(tt)["W"]
        C = np.array([m.chain(Wt, a) for a in range(L)])
        im = ax.imshow(
            C, aspect="auto", cmap="coolwarm", vmin=-np.abs(C).max(), vmax=np.abs(C).max()
        )
        ax.set_xticks(range(M + 1), [f"a_{k + 1}" for k in range(M - 1)] + ["a (self)", "others"])
        ax.set_ylabel("query token a")
        ax.set_title(f"W[L_a, a] and mean W[others, a] at t = {lab}")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    figs.append(("w_columns.png", fig))
    # margins
    obs = traj.observables
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    iT, i10 = int(np.argmin(np.abs(traj.t - T))), len(traj.t) - 1
    for k in range(M):
        sel = t.rank == k
        axes[0].hist(obs["margins"][i10][sel], bins=30, alpha=0.5, label=f"rank {k + 1}, 10T")
        axes[0].hist(
            obs["margins"][iT][sel],
            bins=30,
            histtype="step",
            lw=1.5,
            color=f"C{k}",
            label=f"rank {k + 1}, T",
        )
    axes[0].set_xlabel("logit margin $z_y - \\max_{k\\neq y} z_k$")
    axes[0].set_ylabel("examples")
    axes[0].set_title("per-example margins by LDT rank")
    axes[0].legend(fontsize=7)
    pos = traj.t > 0
    axes[1].plot(traj.t[pos], obs["min_margin"][pos], label="min margin")
    axes[1].set_xscale("log")
    axes[1].set_yscale("symlog", linthresh=1e-3)
    axes[1].axhline(0, color="k", lw=0.6)
    axes[1].axvline(T, color="C3", ls="--", label=f"T = {T:.5f}")
    ax2 = axes[1].twinx()
    ax2.plot(traj.t[pos], obs["accuracy"][pos], color="C2", label="accuracy")
    ax2.set_ylabel("accuracy", color="C2")
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("min margin")
    axes[1].legend(loc="upper left", fontsize=8)
    axes[1].set_title("min margin and accuracy")
    axes[2].loglog(traj.t[pos], traj.loss[pos])
    axes[2].axvline(T, color="C3", ls="--")
    axes[2].set_xlabel("t")
    axes[2].set_ylabel("population loss")
    axes[2].set_title(f"loss (Theorem 1 flow, c = {m.c:.1f})")
    fig.tight_layout()
    figs.append(("margins.png", fig))
    results["accuracy_at_T"] = float(obs["accuracy"][iT])
    results["min_margin_at_10T"] = float(obs["min_margin"][i10])
    return figs, {"theorem1_full": traj}, results


# --- 4. scaling -------------------------------------------------------------------------------
def scaling_figure(Ls: list[int], n: int, M: int, L_M: int, c_sweep: list[float]) -> tuple:
    """T_perfect vs L for both readings of δ, T vs M, c²T vs c (§7 #4)."""
    import matplotlib.pyplot as plt

    from gradflow.models.decision_list import theorem1_bound
    from gradflow.models.decision_list_reduced import LimitChain, ReducedChain

    rows = []
    for L in Ls:
        T_small, _ = _t_perfect(ReducedChain(L, n, M), 1.0)  # δ = 1/L: c = 4nL log L
        T_one, _ = _t_perfect(ReducedChain(L, n, M, c=4 * n * math.log(L)), 1e9)  # δ = 1
        rows.append(
            {
                "L": L,
                "T_delta_1_over_L": T_small,
                "T_delta_1": T_one,
                "bound": theorem1_bound(M, L, _gamma(L, n, M)),
            }
        )
    Ms = [2, 3, 4, 5]
    T_M = [_t_perfect(ReducedChain(L_M, n, m), 1.0)[0] for m in Ms]
    T_M1 = [_t_perfect(ReducedChain(L_M, n, m, c=4 * n * math.log(L_M)), 1e9)[0] for m in Ms]
    tau, _ = _t_perfect(LimitChain(16, 3, 3), 1e9, atol=1e-12)
    c2T = [c * c * _t_perfect(ReducedChain(16, 3, 3, c=c), 10 * tau / c**2)[0] for c in c_sweep]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    Larr = np.array([r["L"] for r in rows])
    axes[0].loglog(Larr, [r["T_delta_1_over_L"] for r in rows], "o-", label=r"T, $\delta=1/L$")
    axes[0].loglog(Larr, [r["T_delta_1"] for r in rows], "s-", label=r"T, $\delta=1$")
    axes[0].loglog(Larr, [r["bound"] for r in rows], "k--", label=r"bound $4M/(\gamma\log L)$")
    fails = [r["L"] for r in rows if r["T_delta_1"] > r["bound"]]
    if fails:
        axes[0].axvspan(
            min(fails) / 1.2,
            Larr.max() * 1.2,
            color="C1",
            alpha=0.12,
            label=r"bound violated for $\delta=1$",
        )
    axes[0].set_xscale("log", base=2)
    _clean_log(axes[0], "x")
    axes[0].set_xlabel("L")
    axes[0].set_ylabel(r"$T_{perfect}$")
    axes[0].set_title(f"Theorem 1: n={n}, M={M} (reduced ODE)")
    axes[0].legend(fontsize=8)
    axes[1].plot(Ms, T_M, "o-", label=r"$\delta=1/L$")
    axes[1].set_yscale("log")
    axes[1].plot(Ms, T_M1, "s-", label=r"$\delta=1$")
    axes[1].plot(Ms, [theorem1_bound(m, L_M, _gamma(L_M, n, m)) for m in Ms], "k--", label="bound")
    axes[1].set_xlabel("M")
    axes[1].set_ylabel(r"$T_{perfect}$")
    axes[1].set_title(f"T decreases with M (L={L_M}, n={n}); the bound grows")
    axes[1].legend(fontsize=8)
    axes[2].semilogx(c_sweep, c2T, "o-")
    axes[2].axhline(tau, color="k", ls="--", label=rf"$\tau^*$ = {tau:.1f}")
    axes[2].set_xlabel("c")
    axes[2].set_ylabel(r"$c^2 T$")
    axes[2].set_title("L=16, n=3, M=3")
    axes[2].legend()
    fig.tight_layout()
    results = {
        "rows": rows,
        "Ms": Ms,
        "L_M": L_M,
        "T_vs_M_delta_1_over_L": T_M,
        "T_vs_M_delta_1": T_M1,
        "c_sweep": c_sweep,
        "c2T": c2T,
        "tau_star_16_3_3": tau,
        "delta_1_bound_violated_at_L": fails,
    }
    return fig, results


# --- 5. V versus P -------------------------------------------------------------------------
def v_figure(L: int, n: int, M: int, t_end: float, L_joint: int, M_joint: int) -> tuple:
    """Uniform-attention V flow and the joint flow from small random init (§7 #5)."""
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.decision_list import DecisionList

    mv = DecisionList(L, n, M, train=("V",))
    pv = mv.init_params(np.random.default_rng(0))
    tv = gf.integrate_flow(mv, pv, (0, t_end), method="DOP853", rtol=1e-8, n_eval=50)
    mj = DecisionList(L_joint, n, M_joint, train=("W", "V"), init="random")
    pj = mj.init_params(np.random.default_rng(0))
    tj = gf.integrate_flow(
        mj, pj, (0, t_end), method="DOP853", rtol=1e-8, n_eval=50, events=[mj.perfect_event()]
    )
    Tj = tj.event_time("perfect")
    fig = plt.figure(figsize=(15, 7.5))
    gs = fig.add_gridspec(2, 4)
    picks = [np.argmin(np.abs(tv.t - x)) for x in (1.0, t_end / 100, t_end)]
    for col, i in enumerate(picks):
        ax = fig.add_subplot(gs[0, col])
        D = mv.P.T @ (tv.params["V"][i] - pv["V"])
        im = ax.imshow(D, cmap="coolwarm", vmin=-np.abs(D).max(), vmax=np.abs(D).max())
        ax.set_title(f"$P^T(V(t)-V_0)$, W ≡ 0, t = {tv.t[i]:.3g}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = fig.add_subplot(gs[0, 3])
    D = mj.P.T @ (tj.params["V"][-1] - pj["V"])
    im = ax.imshow(D, cmap="coolwarm", vmin=-np.abs(D).max(), vmax=np.abs(D).max())
    ax.set_title(f"joint flow (L={L_joint}), t = {tj.t[-1]:.3g}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax = fig.add_subplot(gs[1, :2])
    pos = tv.t > 0
    ax.semilogx(tv.t[pos], tv.observables["cos_dV_Pc"][pos], label=f"W ≡ 0 (L={L}, M={M})")
    posj = tj.t > 0
    ax.semilogx(
        tj.t[posj],
        tj.observables["cos_dV_Pc"][posj],
        label=f"joint, small random init (L={L_joint}, M={M_joint})",
    )
    ax.semilogx(
        tv.t[pos], tv.observables["accuracy"][pos], "--", color="C0", label="accuracy, W ≡ 0"
    )
    ax.semilogx(
        tj.t[posj], tj.observables["accuracy"][posj], "--", color="C1", label="accuracy, joint"
    )
    if Tj is not None:
        ax.axvline(Tj, color="C1", lw=0.8)
    ax.axhline(0.9, color="gray", lw=0.6, ls=":")
    ax.set_xlabel("t")
    ax.set_title(r"$\cos(\Delta V, P_c)$, $P_c = P - 11^T/L$ (solid)")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(gs[1, 2:])
    ax.loglog(tv.t[pos], tv.observables["diag_PtV"][pos], label="mean diag$(P^TV)$, W ≡ 0")
    ax.loglog(
        tv.t[pos],
        np.abs(tv.observables["offP_max"][pos]),
        "--",
        label="|largest off-P entry|, W ≡ 0",
    )
    ax.loglog(tj.t[posj], np.abs(tj.observables["diag_PtV"][posj]), label="mean diag, joint")
    ax.loglog(
        tj.t[posj], np.abs(tj.observables["offP_max"][posj]), "--", label="|largest off-P|, joint"
    )
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
    ax.set_title("V concentrates on the support of P")
    fig.tight_layout()
    cos_v = tv.observables["cos_dV_Pc"][pos]
    results = {
        "v_only": {
            "L": L,
            "M": M,
            "t_end": t_end,
            "cos_min": float(cos_v.min()),
            "cos_at_1e3": float(np.interp(1e3, tv.t, tv.observables["cos_dV_Pc"])),
            "cos_end": float(cos_v[-1]),
            "accuracy_max": float(tv.observables["accuracy"].max()),
            "loss_end": float(tv.loss[-1]),
            "nfev": tv.nfev,
        },
        "joint_random": {
            "L": L_joint,
            "M": M_joint,
            "T_perfect": Tj,
            "cos_at_T": float(tj.observables["cos_dV_Pc"][-1]),
            "nfev": tj.nfev,
        },
    }
    return fig, {"v_only": tv, "joint_random": tj}, results


# --- 6-7. GD vs GF and sharpness ---------------------------------------------------------
def gd_figures(L_order: int, L_sharp: int, steps: int) -> tuple[list, dict, dict]:
    """GD against the flow, the error-vs-η slope, and λ_max along GD (§7 #6-7)."""
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.decision_list import DecisionList

    m = DecisionList(L_order, 3, 2, train=("W", "V"), c=12 * math.log(L_order))
    rng = np.random.default_rng(0)
    p0 = {
        "W": np.zeros((L_order,) * 2),
        "V": m.c * m.P + rng.uniform(-0.25, 0.25, (L_order, L_order)),
    }
    lam0 = m.lam_max(p0)
    eta = 1.0 / lam0
    T_end = 64 * eta
    lrs = [eta / 2**k for k in range(6)]
    order, errs = gf.convergence_order(m, p0, T_end, lrs)
    flow = gf.integrate_flow(
        m,
        p0,
        (0, T_end),
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
        t_eval=np.linspace(0, T_end, 200),
        observables=False,
    )
    gds = [
        gf.gradient_descent(m, p0, lr, int(round(T_end / lr)), observables=False)
        for lr in (eta, eta / 4)
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    a0 = m.chain_token
    ent = m.lists[a0]
    axes[0].plot(flow.t, flow.params["W"][:, ent[0], a0], "k-", label=f"flow, W[a_1, {a0}]")
    axes[0].plot(flow.t, flow.params["W"][:, ent[-1], a0], "k--", label=f"flow, W[{a0}, {a0}]")
    for g, lab in zip(gds, [r"GD, $\eta = 1/\lambda_{max}$", r"GD, $\eta/4$"], strict=True):
        sel = slice(None, None, max(1, len(g.t) // 64))
        axes[0].plot(g.t[sel], g.params["W"][sel, ent[0], a0], "o", ms=3, label=lab)
        axes[0].plot(g.t[sel], g.params["W"][sel, ent[-1], a0], "x", ms=3)
    axes[0].set_xlabel(r"t  (GD: $t = \eta k$)")
    axes[0].set_title(f"joint GD vs GF, L={L_order}, n=3, M=2, V₀ = cP + U(±0.25)", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[1].loglog(lrs, errs, "o-", label=f"fitted order {order:.3f}")
    axes[1].loglog(lrs, errs[-1] * np.array(lrs) / lrs[-1], "k:", label="slope 1")
    _clean_log(axes[1])
    axes[1].set_xlabel(r"$\eta$")
    axes[1].set_ylabel(r"$\|\theta_{GD}(T/\eta) - \theta_{GF}(T)\|$")
    axes[1].set_title(f"error at T = 64/λ_max = {T_end:.3g}")
    axes[1].legend()
    fig.tight_layout()
    figs = [("gd_vs_gf.png", fig)]
    results: dict[str, Any] = {
        "order": {
            "L": L_order,
            "lam0": lam0,
            "lrs": lrs,
            "errors": errs.tolist(),
            "order": order,
            "ratios": (errs[:-1] / errs[1:]).tolist(),
        }
    }
    # sharpness along Theorem 2's GD, and a larger step for contrast
    ms = DecisionList(L_sharp, 3, 2, train=("W", "V"), eps=0.5)
    ps = ms.init_params(np.random.default_rng(0))
    setup = ms.theorem2_setup(np.random.default_rng(0))
    lam_s = ms.lam_max(ps)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    sharp: dict[str, Any] = {
        "L": L_sharp,
        "c": setup["c"],
        "loss0": setup["loss0"],
        "feasible": setup["feasible"],
        "lam0": lam_s,
        "runs": {},
    }
    for factor, color in ((1.0, "C0"), (1.9, "C3")):
        lr = factor / lam_s
        gd = gf.gradient_descent(ms, ps, lr, steps)
        lams = np.array([ms.lam_max(gd.params_at_index(i)) for i in range(len(gd.t))])
        perf = gd.observables["perfect"] > 0
        first = int(gd.steps[np.argmax(perf)]) if perf.any() else None
        ax.plot(
            gd.steps,
            lams,
            "o-",
            ms=3,
            color=color,
            label=rf"$\lambda_{{max}}(\theta_k)$, $\eta = {factor}/\lambda_0$",
        )
        ax.axhline(
            2 / lr, color=color, ls="--", lw=1, label=rf"$2/\eta$ ($\eta={factor}/\lambda_0$)"
        )
        ax.axhline(1 / lr, color=color, ls=":", lw=1)
        if first is not None:
            ax.axvline(first, color=color, lw=0.8, alpha=0.6)
        sharp["runs"][str(factor)] = {
            "lr": lr,
            "first_perfect_step": first,
            "max_eta_lam": float(np.max(lr * lams)),
            "end_eta_lam": float(lr * lams[-1]),
            "window_end": ms.eps / (2 * lr),
            "status": gd.status,
        }
    ax.set_yscale("log")
    _clean_log(ax, "y")
    ax.set_xlabel("GD step k")
    ax.set_title(
        f"sharpness along joint GD (Theorem 2 init, L={L_sharp}, ε=0.5); "
        "dotted: 1/η, vertical: first perfect step",
        fontsize=8,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs.append(("sharpness.png", fig))
    results["sharpness"] = sharp
    return figs, {"gd_eta": gds[0]}, results


# --- 8. repeats --------------------------------------------------------------------------
def repeats_figure(L: int, n: int, M: int) -> tuple[Any, dict, dict]:
    """Theorem 1's flow with and without repeated tokens (§7 #8)."""
    import matplotlib.pyplot as plt

    import gradflow as gf
    from gradflow.models.decision_list import DecisionList

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    results: dict[str, Any] = {"L": L, "n": n, "M": M}
    runs = {}
    names = [f"$a_{k + 1}$" for k in range(M - 1)] + ["self", "others"]
    for repeats, ls in ((False, "-"), (True, "--")):
        m = DecisionList(L, n, M, repeats=repeats)
        T, _ = _t_perfect(m, 1e3, method="DOP853", rtol=1e-10, atol=1e-12)
        traj = gf.integrate_flow(
            m,
            m.init_params(None),
            (0, 3 * T),
            method="DOP853",
            rtol=1e-10,
            atol=1e-12,
            n_eval=80,
            observables=True,
        )
        key = "repeats" if repeats else "subsets"
        runs[f"theorem1_{key}"] = traj
        pos = traj.t > 0
        chain = traj.observables["chain"]
        for k in range(M + 1):
            axes[0].semilogx(
                traj.t[pos] / T, chain[pos, k], ls=ls, color=f"C{k}", label=f"{names[k]}, {key}"
            )
        W = traj.at(T)["W"]
        gaps = np.array(
            [
                [W[lst[i], a] - W[lst[i + 1], a] for i in range(M - 1)]
                for a, lst in enumerate(m.lists)
            ]
        )
        results[key] = {
            "T_perfect": T,
            "bound": m.bound_theorem1,
            "c": m.c,
            "min_gap_at_T": gaps.min(axis=0).tolist(),
        }
        axes[1].plot(
            gaps.min(axis=1), ls="none", marker="o" if repeats else "s", label=f"{key}: T = {T:.5g}"
        )
    axes[1].axhline(math.log(2), color="k", ls="--", label="log 2 (count ratio 2)")
    axes[1].set_xlabel("query token a")
    axes[1].set_ylabel(r"min gap $W[a_i, a] - W[a_{i+1}, a]$ at T")
    axes[1].set_title("with repeats the gaps must beat log(count ratio)")
    axes[1].legend(fontsize=8)
    axes[0].set_xlabel(r"$t / T_{perfect}$ (each run its own T)")
    axes[0].set_ylabel("W[·, a] of one column")
    axes[0].set_title(f"Theorem 1 flow, L={L}, n={n}, M={M}: subsets (solid), i.i.d. (dashed)")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig, runs, results


def reproduce(out: Path, quick: bool = False, progress: bool = False) -> list[Path]:
    """Write the decision-list figures, runs and ``results.json`` into ``out``.

    Parameters
    ----------
    out : pathlib.Path
        Output folder (created).
    quick : bool
        Small sizes (L ≤ 12 for the full model, L ≤ 256 for the scaling), under a minute.
    progress : bool
        Print one line per figure.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    ``gradflow reproduce decision_list`` calls this function:

    >>> import gradflow as gf
    >>> gf.figures.get("decision_list").reproduce is reproduce
    True

    The quick set takes about 1.5 minutes on a busy 2-core machine (33 s CPU), so it is
    not run here:

    >>> import tempfile
    >>> from pathlib import Path
    >>> paths = reproduce(Path(tempfile.mkdtemp()), quick=True)  # doctest: +SKIP
    >>> sorted(p.name for p in paths if p.suffix == ".png")  # doctest: +SKIP
    ['attention_maps.png', 'chain_collapse.png', 'gd_vs_gf.png', 'margins.png',
     'repeats.png', 'scaling.png', 'sharpness.png', 'v_vs_p.png', 'w_columns.png']
    """

    import matplotlib

    matplotlib.use("Agg")
    import gradflow as gf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    results: dict[str, Any] = {"quick": quick}

    def note(msg: str) -> None:
        if progress:
            print(f"[decision_list] {msg}", flush=True)

    def keep(runs: dict) -> None:
        for name, traj in runs.items():
            written.append(traj.save(out / "runs" / f"{name}.npz"))

    note("1/6 chain collapse")
    cs = [20.0, 532.34] if quick else [20.0, 100.0, 532.34, 2000.0]
    fig, runs, res = chain_figure(16, 3, 3, cs)
    written.append(gf.plots.save(fig, out / "chain_collapse.png"))
    results["chain"] = res
    keep(runs)
    note("2/6 full flow: attention, W columns, margins")
    figs, runs, res = full_flow_figures(10 if quick else 16, 3, 3)
    for name, f in figs:
        written.append(gf.plots.save(f, out / name))
    results["theorem1_full"] = res
    keep(runs)
    note("3/6 scaling")
    Ls = [16, 32, 64, 128, 256] if quick else [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    c_sweep = (
        [2.0, 20.0, 200.0, 2000.0]
        if quick
        else [2.0, 5.0, 20.0, 50.0, 100.0, 200.0, 532.34, 2000.0, 1e4]
    )
    fig, res = scaling_figure(Ls, 3, 3, 64, c_sweep)
    written.append(gf.plots.save(fig, out / "scaling.png"))
    results["scaling"] = res
    note("4/6 V versus P")
    if quick:
        fig, runs, res = v_figure(10, 3, 2, 1e3, 8, 2)
    else:
        fig, runs, res = v_figure(16, 3, 3, 1e4, 12, 2)
    written.append(gf.plots.save(fig, out / "v_vs_p.png"))
    results["v_vs_p"] = res
    keep(runs)
    note("5/6 repeats")
    fig, runs, res = repeats_figure(12, 3, 2)
    written.append(gf.plots.save(fig, out / "repeats.png"))
    results["repeats"] = res
    keep(runs)
    note("6/6 GD vs GF and sharpness")
    figs, runs, res = gd_figures(8, 8 if quick else 12, 20 if quick else 40)
    for name, f in figs:
        written.append(gf.plots.save(f, out / name))
    results["gd"] = res
    keep(runs)
    import matplotlib.pyplot as plt

    plt.close("all")
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1, default=float))
    written.append(path)
    return written
