"""Algorithm 1 (three-stage training) of the two-mixture paper, written out with the API.
======================================================================================

Yang, Wang, Lee, Liang (ICLR 2025), model R (a reconstruction, docs/models/two_mixture.md).
Stage 1 trains the neurons ``w`` with the attention frozen at its initialisation, stage 2
the attention with the neurons frozen, stage 3 the neurons again; each stage is a
``gf.Stage`` and ``gf.run_stages`` runs them as one trajectory.  The same algorithm runs on
the finite-width weights (m = 64) and on the exact infinite-width Gram system.

What to look for (spec §7): the hard samples' loss is exactly log 2 after stage 1 (the
neurons cannot see them while the attention is uniform), their margin turns positive in
stage 2 (the identifier becomes the key), stage 3 drives the loss to ~0.02.

Run: ``python examples/two_mixture_three_stage.py [--out figures-out/two_mixture_stages]``
"""

import argparse
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.models.two_mixture import TwoMixture, TwoMixtureGram, algorithm1


def report(name: str, traj: gf.Trajectory) -> None:
    obs = traj.observables
    print(f"\n{name}: status {traj.status}")
    header = ("stage", "t", "L", "L_cons", "L_hard-log2", "hard margin")
    print("{:28s} {:>6s} {:>8s} {:>8s} {:>12s} {:>12s}".format(*header))
    for stage in traj.stages:
        i = stage["stop"] - 1
        print(
            f"{stage['name']:28s} {traj.t[i]:6.0f} {obs['L'][i]:8.4f} {obs['L_cons'][i]:8.4f} "
            f"{obs['L_hard'][i] - np.log(2):12.2e} {obs['margin_hard'][i]:12.3f}"
        )
    P = obs["P"][-1][0]
    print("P+[key, query] on (z1, z2, c1, c2) at the end (rows: keys):")
    print(np.array2string(P, precision=2, suppress_small=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures-out/two_mixture_stages"))
    parser.add_argument("--T", type=float, nargs=3, default=(100.0, 300.0, 300.0))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    gram = TwoMixtureGram.paper()  # infinite width: P = 0, A = B = ω² I
    stages = algorithm1(gram, T=tuple(args.T), lr=0.1, options={"record_every": 10})
    infinite = gf.run_stages(gram, gram.init_params(), stages, progress=True)
    report("infinite width (Gram system)", infinite)

    weights = TwoMixture.paper(m=64)
    stages = algorithm1(weights, T=tuple(args.T), lr=0.1, options={"record_every": 10})
    finite = gf.run_stages(weights, weights.init_params(np.random.default_rng(0)), stages)
    report("width m = 64 (weights)", finite)

    fig = gf.plots.curves(
        infinite, finite, keys=["L_cons", "L_hard", "margin_hard", "P[0,1,3]", "P[0,0,3]"],
        labels=["m = inf", "m = 64"], title="Algorithm 1 (model R), GD lr 0.1",
    )  # fmt: skip
    path = gf.plots.save(fig, args.out / "three_stage.png")
    infinite.save(args.out / "three_stage_gram.npz")
    finite.save(args.out / "three_stage_weights.npz")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
