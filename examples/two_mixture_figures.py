"""Two-mixture classification: every figure of gradflow reproduce two_mixture
==========================================================================

Yang, Wang, Lee, Liang (ICLR 2025), reconstructed as model R (docs/models/two_mixture.md):
joint GD (finite and infinite width), Algorithm 1 with its stage boundaries, K = 3, and MNIST
1s and 2s as the signals (needs ``pip install "gradflow-theory[mnist]"``).

Run: ``python examples/two_mixture_figures.py [--quick] [--out figures-out/two_mixture]``
"""

import argparse
import json
from pathlib import Path

from gradflow.figures.two_mixture import reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/two_mixture"))
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    args = parser.parse_args()
    paths = reproduce(args.out, quick=args.quick, progress=True)
    for path in paths:
        print(path)
    results = json.loads((args.out / "results.json").read_text())
    print(json.dumps(results["three_stage"], indent=1))


if __name__ == "__main__":
    main()
