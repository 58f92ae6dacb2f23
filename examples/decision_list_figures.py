"""Decision lists: every figure of gradflow reproduce decision_list
================================================================

Run: ``python examples/decision_list_figures.py [--quick] [--out figures-out/decision_list]``
"""

import argparse
import json
from pathlib import Path

from gradflow.figures.decision_list import reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/decision_list"))
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    args = parser.parse_args()
    paths = reproduce(args.out, quick=args.quick, progress=True)
    results = json.loads((args.out / "results.json").read_text())
    print(f"tau* = {results['chain']['tau_star']:.1f}")
    print(f"Theorem 1 full flow: T = {results['theorem1_full']['T_perfect']:.6g}")
    for p in paths:
        if p.suffix == ".png":
            print(p)


if __name__ == "__main__":
    main()
