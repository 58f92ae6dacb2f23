"""The paper's empirical claim and its conjecture, as observations.
================================================================

1. Uniform attention (W ≡ 0) pushes V toward P: cos(ΔV, P_c) with P_c = P − 11ᵀ/L (the
   gauge W + 1uᵀ, V + 1vᵀ leaves the loss unchanged, so ΔV has zero column sums).
2. Joint gradient flow from small random (W, V) reaches perfect classification.

Run: ``python examples/decision_list_v_toward_p.py [--L 12] [--out figures-out/decision_list]``
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np

import gradflow as gf
from gradflow.models.decision_list import DecisionList


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--L", type=int, default=12)
    parser.add_argument("--M", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("figures-out/decision_list"))
    args = parser.parse_args()

    v_only = DecisionList(args.L, 3, args.M, train=("V",))  # W stays 0
    pv = v_only.init_params(np.random.default_rng(0))
    tv = gf.integrate_flow(v_only, pv, (0, 1e3), method="DOP853", n_eval=40)
    cos = tv.observables["cos_dV_Pc"][tv.t > 0]
    print(
        f"W ≡ 0: cos(ΔV, P_c) in [{cos.min():.3f}, {cos.max():.3f}], "
        f"max accuracy {tv.observables['accuracy'].max():.3f} (never 1)"
    )

    joint = DecisionList(args.L, 3, args.M, train=("W", "V"), init="random")
    pj = joint.init_params(np.random.default_rng(0))
    tj = gf.integrate_flow(
        joint, pj, (0, 1e4), method="DOP853", n_eval=40, events=[joint.perfect_event()]
    )
    print(
        f"joint from 0.01·N(0,1): perfect at t = {tj.event_time('perfect')}, "
        f"cos(ΔV, P_c) = {tj.observables['cos_dV_Pc'][-1]:.3f}"
    )
    ax = gf.plots.curves(tv, tj, keys=["cos_dV_Pc", "accuracy"], labels=["W ≡ 0", "joint"])
    path = gf.plots.save(ax.figure, args.out / "v_toward_p.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
