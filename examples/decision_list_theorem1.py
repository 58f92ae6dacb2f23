"""Theorem 1 of the decision-list paper, checked against its ODE.
==============================================================

Gradient flow on W alone, from W = 0 with V = cP and c = 4n log(L)/δ, must reach perfect
classification within 4M/(log(L)·γ).  This script integrates the full L²-dimensional flow
and the exact (M+1)-dimensional reduction, prints T_perfect against the bound for both
readings of δ, and plots the priority chain of one column.

Run: ``python examples/decision_list_theorem1.py [--L 16] [--out figures-out/decision_list]``
"""

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import gradflow as gf
from gradflow.models.decision_list import DecisionList
from gradflow.models.decision_list_reduced import ReducedChain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--L", type=int, default=16, help="vocabulary size")
    parser.add_argument("--n", type=int, default=3, help="sequence length")
    parser.add_argument("--M", type=int, default=3, help="list length")
    parser.add_argument("--out", type=Path, default=Path("figures-out/decision_list"))
    args = parser.parse_args()

    model = DecisionList(args.L, args.n, args.M)  # δ = 1/L, γ from the distribution
    print(f"δ = {model.delta:.4g}, γ = {model.gamma:.4g}, c = {model.c:.2f}")
    p0 = model.init_params(np.random.default_rng(0))  # W = 0, V = cP
    flow = gf.integrate_flow(
        model,
        p0,
        (0, 1.0),
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
        events=[model.perfect_event()],
    )
    T = flow.event_time("perfect")
    print(f"full flow: T_perfect = {T:.7g}, bound 4M/(γ log L) = {model.bound_theorem1:.4g}")

    red = ReducedChain(args.L, args.n, args.M, c=model.c)
    rflow = gf.integrate_flow(
        red,
        red.init_params(None),
        (0, 1.0),
        rtol=1e-10,
        atol=1e-14,
        events=[red.perfect_event()],
    )
    print(f"reduced ODE ({args.M + 1} numbers): T_perfect = {rflow.event_time('perfect'):.7g}")

    one = ReducedChain(args.L, args.n, args.M, c=4 * args.n * math.log(args.L))
    tone = gf.integrate_flow(
        one,
        one.init_params(None),
        (0, 1e7),
        rtol=1e-10,
        atol=1e-14,
        events=[one.perfect_event()],
        observables=False,
    ).event_time("perfect")
    print(
        f"reading δ = 1 (c = {one.c:.2f}): T_perfect = {tone:.5g} "
        f"(bound {model.bound_theorem1:.4g})"
    )

    fig, ax = plt.subplots(figsize=(7, 4.2))
    chain = flow.observables["chain"]
    names = [f"W[a_{k + 1}, a]" for k in range(args.M - 1)] + ["W[a, a] (self)", "mean others"]
    pos = flow.t > 0
    for k, name in enumerate(names):
        ax.semilogx(flow.t[pos], chain[pos, k], label=name)
    ax.axvline(T, color="k", ls="--", label=f"T_perfect = {T:.4g}")
    ax.set_xlabel("t")
    ax.set_title(f"priority chain of column a = {model.chain_token} (L={args.L}, n={args.n})")
    ax.legend(fontsize=8)
    path = gf.plots.save(fig, args.out / "theorem1_chain.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
