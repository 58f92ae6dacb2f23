"""Figure 1 of Yang, Kailkhura, Wang, Liang (NeurIPS 2024): word co-occurrence, two phases.
========================================================================================

The paper's Appendix-A experiment (n = 60 sentences of L = 5 one-hot tokens, d = 64,
m = 128, m1 = 256, "Kaiming" init read as PyTorch's default) trained by full-batch GD with
η = 0.01 for 30,000 steps, next to gradient flow to the same time t = 300:

* (a) attention-score correlations μ_iᵀW_KᵀW_Qμ_j: flat in Phase 1, then μ1-μ2 rise and
  target-common fall;
* (b) overall and per-type training losses, with the end of Phase 1 (all samples
  correct, an event of the flow) drawn;
* the automatic balancing of gradients (S2/S3, R(t), κ(t)), and a theory-like run where
  Phase 1 is resolved (types 2 and 3 first get worse).

Run:  python examples/cooccurrence_figure1.py [--out DIR] [--quick]
The same figures: ``gradflow reproduce cooccurrence``.
"""

import argparse
import json
from pathlib import Path

from gradflow.figures.cooccurrence import reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/cooccurrence"))
    parser.add_argument("--quick", action="store_true", help="400 GD steps instead of 30,000")
    args = parser.parse_args()
    paths = reproduce(args.out, quick=args.quick, progress=True)
    results = json.loads((args.out / "results.json").read_text())["paper"]
    print(
        f"Phase 1 ends at GD step {results['gd_phase1_end_step']} "
        f"(flow: t = {results['flow_phase1_end_t']:.4f})"
    )
    print(
        f"final loss: GD {results['gd']['final_loss']:.4e}, "
        f"flow {results['flow']['final_loss']:.4e}"
        f" ({results['flow']['nfev']} gradient calls vs {results['steps']} GD steps)"
    )
    for path in paths:
        print("wrote", path)


if __name__ == "__main__":
    main()
