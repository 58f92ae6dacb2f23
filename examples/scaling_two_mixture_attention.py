"""Scaling study: during the neuron stage the attention of the two-mixture transformer moves ∝ ω².
===============================================================================================

Yang, Wang, Lee, Liang (ICLR 2025), reconstructed as "model R" in ``two_mixture.md``; law L6
(time-scale separation, §8): under joint gradient flow from the paper's initialisation the
neurons learn first, and at the end of that neuron stage — defined in L6 as the first time the
loss on the consistent samples falls below 0.35 (t ≈ 10) — the attention matrix has moved only
``max|ΔP_+| ∝ ω²``, the effective attention scale of the initialisation (the abstract's "bound
the growth of the non-linear sub-system by a linear system").  Theory exponent: 1.

This script sweeps ω² and the seed (which draws ``W_K, W_Q`` of the width-64 weight-space
model, :meth:`TwoMixture.paper`) with :func:`gradflow.sweep.sweep`, stops each flow at the
event ``L_cons = 0.35``, measures ``max |P_+(T) − P_+(0)|`` on the basis tokens
(``observables()["P"]``), and also runs the infinite-width Gram system
(:class:`~gradflow.models.two_mixture.TwoMixtureGram`, deterministic, ``P(0) = 0``) for the
same ω².  It fits both with :func:`gradflow.scaling.fit_power_law` and draws the log-log
figure with the theory's slope 1.  Run::

    python examples/scaling_two_mixture_attention.py            # ω² = 0.025 ... 0.8, 4 seeds
    python examples/scaling_two_mixture_attention.py --quick

Writes ``OUT/results.csv`` (the sweep's table: resumable), ``OUT/fit.json`` and
``OUT/two_mixture_dP_vs_omega2.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.flow import event
from gradflow.models.two_mixture import TwoMixture, TwoMixtureGram
from gradflow.scaling import fit_power_law, plot_power_law
from gradflow.sweep import sweep

#: L6's end of the neuron stage: the consistent samples' loss falls below this (spec §8)
L_CONS_END = 0.35


def _attention_move(model, t_end: float, rng) -> tuple[float | None, float, str]:
    """Flow until ``L_cons = 0.35``; returns (time, max |ΔP_+|, status)."""
    theta0 = model.init_params(rng)
    end = event(
        lambda t, p: model.observables(p)["L_cons"] - L_CONS_END,
        terminal=True,
        direction=-1,
        name="neuron_stage_end",
    )
    traj = gf.integrate_flow(model, theta0, (0.0, t_end), events=[end], observables=False)
    moved = model.observables(traj.final_params)["P"][0] - model.observables(theta0)["P"][0]
    return traj.event_time("neuron_stage_end"), float(np.abs(moved).max()), traj.status


def attention_run(config: dict, seed: int) -> dict:
    """Weight-space model (width m, seed draws W_K, W_Q) and the infinite-width Gram system."""
    w2, t_end = config["omega2"], config["t_end"]
    model = TwoMixture.paper(omega2=w2, m=config["m"], seed=seed)
    T, dP, status = _attention_move(model, t_end, np.random.default_rng(seed))
    T_gram, dP_gram, status_gram = _attention_move(TwoMixtureGram.paper(omega2=w2), t_end, None)
    return {
        "T_neuron_stage": T,
        "dP_max": dP if T is not None else None,
        "T_neuron_stage_gram": T_gram,
        "dP_max_gram": dP_gram if T_gram is not None else None,
        "flow_status": status,
        "flow_status_gram": status_gram,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("figures-out/scaling_two_mixture_attention")
    )
    parser.add_argument(
        "--omega2", type=float, nargs="+", default=[0.025, 0.05, 0.1, 0.2, 0.4, 0.8]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--quick", action="store_true", help="3 values of ω², 2 seeds")
    args = parser.parse_args(argv)
    omega2, seeds = ([0.05, 0.2, 0.8], [0, 1]) if args.quick else (args.omega2, args.seeds)

    grid = {"omega2": omega2, "m": [64], "t_end": [100.0]}
    executor = None
    if args.scheduler:
        from dask.distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    table = sweep(attention_run, grid, seeds=seeds, executor=executor, out=args.out)

    rows = [r for r in table.ok if r["dP_max"] is not None]
    x = np.array([r["omega2"] for r in rows])
    dP = np.array([r["dP_max"] for r in rows])
    fit = fit_power_law(x, dP)
    print(f"max|ΔP_+| ∝ (ω²)^a, width 64, {len(seeds)} seeds: {fit}")
    gram = {r["omega2"]: r["dP_max_gram"] for r in table.ok if r["dP_max_gram"] is not None}
    xg, dPg = np.array(sorted(gram)), np.array([gram[k] for k in sorted(gram)])
    fit_gram = fit_power_law(xg, dPg)
    print(f"  infinite width (Gram, deterministic): {fit_gram}")
    print("  Gram max|P_+| at the event:", np.round(dPg, 5).tolist(),
          "(spec L6 at t ≈ 11: 0.0013 0.0027 0.0053 0.0106 0.0212 0.0365)")  # fmt: skip
    T = np.array([r["T_neuron_stage"] for r in rows])
    print(f"  end of the neuron stage: t in [{T.min():.3g}, {T.max():.3g}]")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    plot_power_law(
        x,
        dP,
        fit,
        theory_exponent=1,
        ax=ax,
        label=f"width 64, {len(seeds)} seeds",
        xlabel="attention scale at init, $\\omega^2$",
        ylabel="attention moved by $L_{cons}=0.35$: max$|\\Delta P_+|$",
        theory_label="theory (L6): $\\propto\\omega^2$",
    )
    plot_power_law(xg, dPg, fit_gram, ax=ax, label="infinite width (Gram)", color="C1",
                   xlabel=ax.get_xlabel(), ylabel=ax.get_ylabel())  # fmt: skip
    ax.set_title("Two-mixture: attention growth in the neuron stage")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "two_mixture_dP_vs_omega2.png"
    fig.savefig(png, dpi=130)
    results = {
        **fit.as_dict(),
        "gram": fit_gram.as_dict(),
        "theory_exponent": 1,
        "n_runs": len(rows),
        "seconds_in_runs": float(np.nansum(table.column("wall_time"))),
    }
    (args.out / "fit.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {png}, {table.path}, {args.out / 'fit.json'}")


if __name__ == "__main__":
    main()
