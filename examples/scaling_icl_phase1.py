"""Scaling study: the length of phase I of in-context regression grows like K².
============================================================================

Huang, Cheng, Liang (ICML 2024): with K balanced features, the attention of a query on its own
feature starts at 1/K and stays on a plateau until the end of phase I, at a time
``T_I = Θ(K²/η)`` (spec ``icl_convergence.md`` §7.3 L2: in the mean field,
``T_I = K² (1 + O(log K / K))``).  Phase I ends, as :meth:`ICLRegression.phase_events` defines
it, when ``attn_target[k]`` reaches 1/2 (the event ``"attn_k=1/2"``).

This script sweeps K with :func:`gradflow.sweep.sweep` (one gradient flow per K, stopped by
that event), fits ``T_I = c K^a`` with :func:`gradflow.scaling.fit_power_law`, and draws the
log-log figure with the fitted exponent, the theory's exponent 2 and the closed-form
mean-field time :func:`~gradflow.models.icl_regression.phase1_time`.

The flow from ``Q = 0`` in the mean-field or exact population loss is deterministic: the seed
changes nothing (``--seeds 0:3`` repeats identical rows).  Run::

    python examples/scaling_icl_phase1.py                       # K = 5 ... 160, mean field
    python examples/scaling_icl_phase1.py --K 5 10 20 --quick
    python examples/scaling_icl_phase1.py --scheduler tcp://127.0.0.1:8786

Writes ``OUT/results.csv`` (the sweep's table: resumable), ``OUT/fit.json`` and
``OUT/icl_phase1_vs_K.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.models.icl_regression import ICLRegression, phase1_time
from gradflow.scaling import fit_power_law, plot_power_law
from gradflow.sweep import sweep


def phase1_run(config: dict, seed: int) -> dict:
    """One gradient flow of ICLRegression(K, N) from Q = 0 until attn_target[0] = 1/2."""
    K = config["K"]
    model = ICLRegression(K=K, N=config["N"], population=config["population"], seed=seed)
    theta0 = model.init_params(np.random.default_rng(seed))
    end_of_phase1 = model.phase_events(k=0)[0]  # "attn_k=1/2": the end of phase I
    end_of_phase1.terminal = True
    traj = gf.integrate_flow(
        model,
        theta0,
        (0.0, config["t_end_over_K2"] * K**2),
        rtol=config["rtol"],
        events=[end_of_phase1],
        observables=False,
    )
    return {
        "T_I": traj.event_time("attn_k=1/2"),
        "T_I_mean_field_closed_form": phase1_time(K),
        "flow_status": traj.status,
        "nfev": traj.nfev,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/scaling_icl_phase1"))
    parser.add_argument("--K", type=int, nargs="+", default=[5, 10, 20, 40, 80, 160])
    parser.add_argument("--N", type=int, default=30, help="prompt length (default 30)")
    parser.add_argument(
        "--population", default="mean_field", choices=["mean_field", "exact"], help="loss"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--quick", action="store_true", help="K = 5, 10, 20 only")
    args = parser.parse_args(argv)
    K_values = [5, 10, 20] if args.quick else args.K

    grid = {
        "K": K_values,
        "N": [args.N],
        "population": [args.population],
        "t_end_over_K2": [4.0],  # T_I / K² is 1.15-1.44 for K = 5..80 (spec §7.3 L2)
        "rtol": [1e-8],
    }
    executor = None
    if args.scheduler:
        from dask.distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    table = sweep(phase1_run, grid, seeds=args.seeds, executor=executor, out=args.out)

    rows = [r for r in table.ok if r["T_I"] is not None]
    K = np.array([r["K"] for r in rows], dtype=float)
    T = np.array([r["T_I"] for r in rows])
    closed = np.array([r["T_I_mean_field_closed_form"] for r in rows])
    fit = fit_power_law(K, T)
    print(f"T_I ∝ K^a: {fit}")
    local = np.diff(np.log(T)) / np.diff(np.log(K)) if len(set(K)) == len(K) else []
    print("  local slopes between consecutive K:", np.round(local, 3).tolist())
    if args.population == "mean_field":
        rel = np.abs(T - closed) / closed
        print(
            f"  flow event vs closed-form mean-field time: max relative difference {rel.max():.2e}"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    plot_power_law(
        K,
        T,
        fit,
        theory_exponent=2,
        ax=ax,
        label=f"gradient flow ({args.population}), event attn_k = 1/2",
        xlabel="number of features K",
        ylabel="end of phase I, $T_I$ (flow time)",
        theory_label="theory $T_I=\\Theta(K^2)$",
    )
    integers = np.arange(int(K.min()), int(K.max()) + 1)  # the closed form is for integer K
    ax.plot(integers, [phase1_time(int(k)) for k in integers], "--", color="0.5", lw=1,
              label="mean-field closed form (spec §6.2)")  # fmt: skip
    ax.legend(fontsize="small")
    ax.set_title("ICL regression: phase-I length against K")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "icl_phase1_vs_K.png"
    fig.savefig(png, dpi=130)
    results = {
        **fit.as_dict(),
        "theory_exponent": 2,
        "local_slopes": list(map(float, local)),
        "n_runs": len(rows),
        "seconds_in_runs": float(np.nansum(table.column("wall_time"))),
    }
    (args.out / "fit.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {png}, {table.path}, {args.out / 'fit.json'}")


if __name__ == "__main__":
    main()
