"""Imbalanced in-context regression (Huang, Cheng, Liang, ICML 2024): stage-wise convergence.
==========================================================================================

One dominant feature (p_1 large) and K − 1 under-represented ones.

1. The paper's Adam experiment with p = (0.6, 0.1, 0.1, 0.1, 0.1) (spec §7.6): the dominant
   feature's error falls first; the under-represented ones lag.
2. Gradient flow (mean field, K = 10, p_1 = 1/2) with GD dots at t = η·k: the dominant
   query converges in one phase; an under-represented query goes through four, whose
   boundaries are flow events — the off-target weight C = B_{k,n} peaks, the attention on
   the dominant feature falls to attn_k, attn_k reaches 1/2 — then L_k ≈ 1/(4ηκ p_k t).
3. The phase portrait of the reduced 2-D system (A_k, B_{k,1}) with the four phases coloured.

Run:  python examples/icl_imbalanced.py [--out DIR] [--K 10]
"""

import argparse
from pathlib import Path

import numpy as np

from gradflow.figures.icl import adam_figure, adam_run, flow_figure, flow_run, portrait_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/icl_imbalanced"))
    parser.add_argument("--K", type=int, default=10, help="features of the gradient-flow run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model, adam = adam_run(imbalanced=True, progress=True)
    adam.save(args.out / "adam_imbalanced.npz")
    numbers = adam_figure(model, adam, args.out / "adam_imbalanced.png")
    start, end = numbers["attn_start"], numbers["attn_end"]
    print(
        f"Adam, attention on the own feature: dominant {start[0]:.2f} -> {end[0]:.2f}, "
        f"under-represented {np.mean(start[1:]):.2f} -> {np.mean(end[1:]):.2f}"
    )

    model, flow, gd = flow_run(args.K, imbalanced=True, t_end=2e4, progress=True)
    flow.save(args.out / "flow_imbalanced.npz")
    gd.save(args.out / "gd_imbalanced.npz")
    flow_figure(model, flow, gd, args.out / "flow_imbalanced.png")
    for event in flow.events:
        print(f"  {event['name']:>16s} at t = {event['t']:.1f}")
    portrait_figure(args.K, args.out / "phase_portrait.png", t_end=2e4)
    print("wrote", *sorted(args.out.iterdir()), sep="\n  ")


if __name__ == "__main__":
    main()
