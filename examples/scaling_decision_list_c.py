"""Scaling study: the time to learn a decision list perfectly falls like 1/c².
===========================================================================

*Provable Gradient-Descent-Based Learning of Decision Lists by Transformers*, Theorem 1: the
W-only gradient flow from ``W = 0`` with the value matrix fixed at ``V = cP`` classifies every
sequence correctly after a time ``T_perfect``.  Spec ``decision_lists.md`` §5.3: with
``Ω = cW`` and ``τ = c²t`` the flow tends, as c grows, to a c-free convex flow, so
``T_perfect ≈ τ*/c²``: exponent −2 in c.

This script sweeps c with :func:`gradflow.sweep.sweep`, integrates the exact (M+1)-dimensional
reduction of Theorem 1's flow (:class:`~gradflow.models.decision_list_reduced.ReducedChain`)
until its ``perfect`` event (minimum margin of the LDT's logit over the best other logit
crosses 1e-12), fits ``T = C c^a`` with :func:`gradflow.scaling.fit_power_law` and draws the
log-log figure with the theory's slope −2 and the limit ``τ*/c²`` from
:class:`~gradflow.models.decision_list_reduced.LimitChain`.  The flow from ``W = 0`` is
deterministic (the seed changes nothing).  Run::

    python examples/scaling_decision_list_c.py              # L = 16, n = 3, M = 3
    python examples/scaling_decision_list_c.py --L 64 --quick

Writes ``OUT/results.csv`` (the sweep's table: resumable), ``OUT/fit.json`` and
``OUT/decision_list_T_vs_c.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.models.decision_list_reduced import LimitChain, ReducedChain
from gradflow.scaling import fit_power_law, plot_power_law
from gradflow.sweep import sweep

#: the reduced ODEs have 4-6 states: tight tolerances cost little (spec §6.1 used 1e-10)
RTOL, ATOL = 1e-10, 1e-14


def _t_perfect(model, t_end: float) -> tuple[float | None, str]:
    traj = gf.integrate_flow(
        model,
        model.init_params(None),
        (0.0, t_end),
        method="LSODA",
        rtol=RTOL,
        atol=ATOL,
        events=[model.perfect_event(terminal=True)],
        observables=False,
    )
    return traj.event_time("perfect"), traj.status


def perfect_run(config: dict, seed: int) -> dict:
    """T_perfect of the reduced chain at one c, and the limit time τ*/c²."""
    L, n, M, c = config["L"], config["n"], config["M"], config["c"]
    tau, _ = _t_perfect(LimitChain(L, n, M), 1e9)
    T, status = _t_perfect(ReducedChain(L, n, M, c=c), 100 * tau / c**2)
    return {"T_perfect": T, "tau_star": tau, "T_times_c2": None if T is None else T * c * c,
            "flow_status": status}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/scaling_decision_list_c"))
    parser.add_argument("--c", type=float, nargs="+", default=[2, 5, 20, 100, 500, 2000])
    parser.add_argument("--L", type=int, default=16)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--M", type=int, default=3)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--quick", action="store_true", help="c = 5, 50, 500")
    args = parser.parse_args(argv)
    c_values = [5.0, 50.0, 500.0] if args.quick else args.c

    grid = {"L": [args.L], "n": [args.n], "M": [args.M], "c": c_values}
    executor = None
    if args.scheduler:
        from dask.distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    table = sweep(perfect_run, grid, seeds=[0], executor=executor, out=args.out)

    rows = [r for r in table.ok if r["T_perfect"] is not None]
    c = np.array([r["c"] for r in rows])
    T = np.array([r["T_perfect"] for r in rows])
    tau = rows[0]["tau_star"]
    fit = fit_power_law(c, T)
    print(f"T_perfect ∝ c^a (L={args.L}, n={args.n}, M={args.M}): {fit}")
    print(f"  T·c² / τ* = {np.round(T * c**2 / tau, 4).tolist()}  (τ* = {tau:.6g}, §5.3: 3308.4)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    plot_power_law(
        c,
        T,
        fit,
        theory_exponent=-2,
        ax=ax,
        label="reduced flow, event 'perfect'",
        xlabel="value scale c  (V = cP)",
        ylabel="$T_{perfect}$ (flow time)",
        theory_label="theory: $\\tau^*/c^2$",
    )
    ax.plot(c, tau / c**2, "x", color="k", label="limit flow $\\tau^*/c^2$")
    ax.legend(fontsize="small")
    ax.set_title(f"Decision lists: time to perfect classification (L={args.L})")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "decision_list_T_vs_c.png"
    fig.savefig(png, dpi=130)
    results = {
        **fit.as_dict(),
        "theory_exponent": -2,
        "tau_star": tau,
        "T_times_c2_over_tau": (T * c**2 / tau).tolist(),
        "n_runs": len(rows),
        "seconds_in_runs": float(np.nansum(table.column("wall_time"))),
    }
    (args.out / "fit.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {png}, {table.path}, {args.out / 'fit.json'}")


if __name__ == "__main__":
    main()
