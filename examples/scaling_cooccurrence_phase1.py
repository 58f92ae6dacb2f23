"""Scaling study: the end of phase 1 of word co-occurrence learning falls like 1/m.
================================================================================

Yang, Kailkhura, Wang, Liang (NeurIPS 2024), Theorem 3.1 and Definition E.2: phase 1 ends at
``T_1 = C / (σ₁² m m₁) = Õ(1/m)``, when every training sample is classified correctly
(spec ``cooccurrence.md`` §7.2, §9.6).  :meth:`CoOccurrence.phase1_event` is that time as a
flow event: ``min_i y_i F_i`` crosses 0 upwards.  With the theory's initialisation
(``init="theory"``: ``σ₁ = c/√m₁``) ``σ₁² m₁ = c²`` is fixed, so ``T_1 ∝ 1/m``: exponent −1.

This script sweeps the attention width m and the seed (the seed draws the data and the
initialisation) with :func:`gradflow.sweep.sweep`, integrates the exact ``u``-reduced flow
(:class:`~gradflow.models.cooccurrence.CoOccurrenceU`, the same flow in fewer variables) until
the event, fits ``T_1 = c m^a`` with :func:`gradflow.scaling.fit_power_law`, and draws the
log-log figure with the fitted exponent and the theory's −1.  The setup is the spec's "Run A"
(§8.2: n = 60, L = 5, d = 200 distinct random tokens, m₁ = 64, c = 0.5) and its m-range.

Small m is outside the law: at ``t = 0`` the value growth is ``Ġ(0) ≈ (r(0) + m₁σ₀²m)/6``
(spec §6.3) with ``r(0) ≈ σ₁²mm₁ = c²m`` and an m-independent ``m₁σ₀²m = c²m₁/L`` (= 3.2
here), so ``T_1`` flattens once ``c²m`` is not large against ``c²m₁/L`` (``--quick`` shows it:
m = 32 ... 128).  Run (with ``OPENBLAS_NUM_THREADS=1``, one BLAS thread per worker)::

    python examples/scaling_cooccurrence_phase1.py                   # m = 128 ... 1024, 4 seeds
    python examples/scaling_cooccurrence_phase1.py --quick
    python examples/scaling_cooccurrence_phase1.py --scheduler tcp://127.0.0.1:8786

Writes ``OUT/results.csv`` (the sweep's table: resumable), ``OUT/fit.json`` and
``OUT/cooccurrence_T1_vs_m.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.models.cooccurrence import CoOccurrenceU
from gradflow.scaling import fit_power_law, plot_power_law
from gradflow.sweep import sweep


def phase1_run(config: dict, seed: int) -> dict:
    """One gradient flow of the co-occurrence transformer until all samples are correct."""
    model = CoOccurrenceU(
        n=60,
        L=5,
        d=200,
        m=config["m"],
        m1=config["m1"],
        init="theory",
        init_scale=config["init_scale"],
        distinct_tokens=True,
        seed=seed,
    )
    theta0 = model.init_params(np.random.default_rng(seed))
    r0 = model.observables(theta0)["r"]
    sigma1 = model.sigmas[1]
    # T_1 ≈ 16/r(0) in the spec's runs (§8.2); stop at 40× that if the event never fires
    t_end = 40 * 16 / (sigma1**2 * config["m"] * config["m1"])
    traj = gf.integrate_flow(
        model,
        theta0,
        (0.0, t_end),
        rtol=config["rtol"],
        events=[model.phase1_event(terminal=True)],
        n_eval=10,  # a few samples and no interpolants: at m = 1024 the state has 615k numbers
        dense_output=False,
        observables=False,
    )
    T1 = traj.event_time("phase1_end")
    return {
        "T1": T1,
        "r0": r0,
        "T1_times_r0": None if T1 is None else T1 * r0,
        "loss_T1": float(traj.loss[-1]) if T1 is not None else None,
        "sigma1_sq_m_m1": sigma1**2 * config["m"] * config["m1"],
        "flow_status": traj.status,
        "nfev": traj.nfev,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/scaling_cooccurrence_phase1"))
    parser.add_argument("--m", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--quick", action="store_true", help="m = 32, 64, 128 and 2 seeds")
    args = parser.parse_args(argv)
    m_values, seeds = ([32, 64, 128], [0, 1]) if args.quick else (args.m, args.seeds)

    grid = {"m": m_values, "m1": [64], "init_scale": [0.5], "rtol": [1e-8]}
    executor = None
    if args.scheduler:
        from dask.distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    table = sweep(phase1_run, grid, seeds=seeds, executor=executor, out=args.out)

    rows = [r for r in table.ok if r["T1"] is not None]
    missing = len(table) - len(rows)
    m = np.array([r["m"] for r in rows], dtype=float)
    T1 = np.array([r["T1"] for r in rows])
    fit = fit_power_law(m, T1)
    print(f"T_1 ∝ m^a: {fit}" + (f"  ({missing} runs without T_1 left out)" if missing else ""))
    product = np.array([r["T1_times_r0"] for r in rows])
    print(f"  T_1 · r(0) in [{product.min():.3g}, {product.max():.3g}] (spec §8.2: 11.9-20.3)")
    loss_T1 = np.array([r["loss_T1"] for r in rows])
    print(f"  loss at T_1 in [{loss_T1.min():.3g}, {loss_T1.max():.3g}] (Theorem 3.1(d): Θ(1))")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    plot_power_law(
        m,
        T1,
        fit,
        theory_exponent=-1,
        ax=ax,
        label=f"gradient flow, event min_i y_i F_i = 0 ({len(seeds)} seeds)",
        xlabel="attention width m",
        ylabel="end of phase 1, $T_1$ (flow time)",
        theory_label="theory $T_1 = C/(\\sigma_1^2 m m_1)$",
    )
    ax.set_title("Word co-occurrence: end of phase 1 against m")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "cooccurrence_T1_vs_m.png"
    fig.savefig(png, dpi=130)
    results = {
        **fit.as_dict(),
        "theory_exponent": -1,
        "T1_times_r0_range": [float(product.min()), float(product.max())],
        "loss_T1_range": [float(loss_T1.min()), float(loss_T1.max())],
        "n_runs": len(rows),
        "runs_without_T1": missing,
        "seconds_in_runs": float(np.nansum(table.column("wall_time"))),
    }
    (args.out / "fit.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {png}, {table.path}, {args.out / 'fit.json'}")


if __name__ == "__main__":
    main()
