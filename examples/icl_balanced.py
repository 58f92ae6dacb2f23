"""Balanced in-context regression (Huang, Cheng, Liang, ICML 2024): two phases.
============================================================================

1. The paper's Adam experiment (Figure 2/3, spec §7.6): one softmax-attention layer, merged
   key-query matrix Q from zero, M = 300 prompts, 400 full-batch Adam steps, lr 0.002,
   random orthonormal features (d = 20, K = 5, N = 30), p_k = 1/K.  The attention on each
   query's own feature rises from 1/K toward 1; the per-feature error falls.
2. Gradient flow of the population loss (mean field, K = 10) next to gradient descent
   (the dynamics the paper analyses; GD step k sits at t = η·k): phase I, the plateau,
   ends when attn_k = 1/2 (a flow event), at the closed-form time t(u = K − 1) ≈ K²/η;
   in phase II the error decays as (K − 1)/(4ηt).

Run:  python examples/icl_balanced.py [--out DIR] [--K 10]
"""

import argparse
from pathlib import Path

import numpy as np

from gradflow.figures.icl import adam_figure, adam_run, flow_figure, flow_run
from gradflow.models.icl_regression import phase1_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/icl_balanced"))
    parser.add_argument("--K", type=int, default=10, help="features of the gradient-flow run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model, adam = adam_run(imbalanced=False, progress=True)
    adam.save(args.out / "adam_balanced.npz")
    numbers = adam_figure(model, adam, args.out / "adam_balanced.png")
    print(f"Adam: attention on the own feature {np.mean(numbers['attn_start']):.2f} -> "
          f"{np.mean(numbers['attn_end']):.2f}; training loss "
          f"{numbers['train_loss'][0]:.3f} -> {numbers['train_loss'][1]:.4f}")  # fmt: skip

    model, flow, gd = flow_run(args.K, imbalanced=False, t_end=2e4, progress=True)
    flow.save(args.out / "flow_balanced.npz")
    gd.save(args.out / "gd_balanced.npz")
    flow_figure(model, flow, gd, args.out / "flow_balanced.png")
    print(f"phase I ends (attn_k = 1/2) at t = {flow.event_time('attn_k=1/2'):.3f}; "
          f"closed form t(K-1) = {phase1_time(args.K):.3f}")  # fmt: skip
    print(f"L = 1e-3 at t = {flow.event_time('L_0=1e-3'):.1f} ({flow.nfev} gradient calls)")
    print("wrote", *sorted(args.out.iterdir()), sep="\n  ")


if __name__ == "__main__":
    main()
