"""Timings of the in-context regression model (Huang, Cheng, Liang 2024), side by side.

Printed, not asserted (targets from issue 4):

1. one exact population loss + gradient for K = 20, N = 2000 through the trinomial sums
   of spec §6.3 (:class:`UnderrepresentedColumn`; target below 20 ms), next to the same
   through the binomial sum of §6.2 and the mean field;
2. the mean-field flow to t = 1e5 (target below 1 s): the reduced 2-D ODE, and the full
   K x K model under :func:`gradflow.integrate_flow` (K = 20, 400 parameters);
3. the empirical loss + gradient at the paper's size (M = 300, N = 30, d = 20): the hand
   gradient against central differences of the hand loss (2d² loss calls) and, when torch
   is importable, against a plain PyTorch-autograd implementation of the same loss
   (float64, CPU).  torch is never a dependency: the column is skipped without it.

BLAS (and torch) pinned to one thread; medians and minima of interleaved repeats (the
minima are less sensitive to other processes on a shared machine).

Run: ``python benchmarks/icl.py``
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import gradflow as gf
from gradflow.models.icl_regression import (
    ICLRegression,
    SymmetricColumn,
    UnderrepresentedColumn,
    imbalanced_p,
)


def timed(fns: dict[str, Callable[[], object]], number: int, repeats: int) -> dict[str, tuple]:
    """(median, min) seconds per call of each function, batches interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in samples.items()}


def fresh_states(dim: int, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    """A new state per call: the reduced columns cache the last state they evaluated."""
    return lambda: rng.uniform(-1, 1, dim)


def torch_loss_and_grad(model: ICLRegression) -> Callable[[np.ndarray], tuple] | None:
    """The same empirical loss written in PyTorch (autograd), or None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    torch.set_num_threads(1)
    X, y = torch.from_numpy(model.X), torch.from_numpy(model.y)
    xq, yq = torch.from_numpy(model.x_query), torch.from_numpy(model.y_query)

    def run(Q: np.ndarray) -> tuple:
        Qt = torch.tensor(Q, requires_grad=True)
        s = torch.einsum("mnd,de,me->mn", X, Qt, xq)
        y_hat = (torch.softmax(s, dim=1) * y).sum(dim=1)
        loss = 0.5 * ((y_hat - yq) ** 2).mean()
        loss.backward()
        return float(loss.detach()), Qt.grad.numpy()

    return run


def main() -> None:
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1):
        threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
        print(f"BLAS threads: {threads}")

        print("\n1. exact population loss + gradient, K = 20, N = 2000 (target < 20 ms)")
        start = time.perf_counter()
        under = UnderrepresentedColumn(20, 2000, p1=0.5)
        build = time.perf_counter() - start
        sym = SymmetricColumn(20, 2000)
        mf = UnderrepresentedColumn(20, 2000, p1=0.5, population="mean_field")
        s2, s1 = fresh_states(2, rng), fresh_states(1, rng)
        res = timed(
            {
                f"trinomial sums ({len(under.weights)} terms)": lambda: under.evaluate(s2()),
                f"binomial sum ({len(sym.weights)} terms)": lambda: sym.evaluate(s1()),
                "mean field (1 term)": lambda: mf.evaluate(s2()),
            },
            number=20,
            repeats=7,
        )
        base = res[next(iter(res))][1]
        for name, (med, low) in res.items():
            print(f"  {name:34s} median {1e3 * med:8.3f} ms  min {1e3 * low:8.3f} ms"
                  f"  ({low / base:6.3f} x trinomial)")  # fmt: skip
        print(f"  (building the pruned trinomial grid once: {build:.2f} s)")

        print("\n2. mean-field flow to t = 1e5 (target < 1 s)")
        start = time.perf_counter()
        sol = mf.solve(1e5, t_eval=np.array([0.0, 1e5]))
        t_reduced = time.perf_counter() - start
        model = ICLRegression(K=20, N=2000, p=imbalanced_p(20, 0.5), population="mean_field")
        start = time.perf_counter()
        flow = gf.integrate_flow(
            model, model.init_params(), (0, 1e5), method="LSODA", rtol=1e-9, atol=1e-12,
            n_eval=20, observables=False,
        )  # fmt: skip
        t_full = time.perf_counter() - start
        print(f"  reduced 2-D ODE (LSODA, rtol 1e-10): {t_reduced:7.3f} s, {sol.nfev} rhs calls")
        print(f"  full 20x20 model, gf.integrate_flow (LSODA, rtol 1e-9): {t_full:7.3f} s, "
              f"{flow.nfev} gradient calls  ({t_full / t_reduced:.1f} x reduced)")  # fmt: skip

        print("\n3. empirical loss + gradient at the paper's size (M=300, N=30, d=20)")
        paper = ICLRegression.paper()
        Q = 0.1 * rng.standard_normal((paper.d, paper.d))
        params = {"Q": Q}
        d, h = paper.d, 1e-6

        def central_differences() -> np.ndarray:
            G = np.empty((d, d))
            for i in range(d):
                for j in range(d):
                    E = np.zeros((d, d))
                    E[i, j] = h
                    G[i, j] = (paper.loss({"Q": Q + E}) - paper.loss({"Q": Q - E})) / (2 * h)
            return G

        fns: dict[str, Callable[[], object]] = {
            "hand gradient (NumPy)": lambda: paper.loss_and_grad(params)
        }
        torch_run = torch_loss_and_grad(paper)
        if torch_run is not None:
            fns["PyTorch autograd (float64)"] = lambda: torch_run(Q)
            L_t, G_t = torch_run(Q)
            L_h, G_h = paper.loss_and_grad(params)
            print(f"  torch vs hand: |ΔL| = {abs(L_t - L_h):.1e}, "
                  f"max|ΔG| = {np.abs(G_t - G_h['Q']).max():.1e}")  # fmt: skip
        else:
            print("  PyTorch autograd: skipped (torch is not importable)")
        res = timed(fns, number=20, repeats=7)
        start = time.perf_counter()
        central_differences()
        t_fd = time.perf_counter() - start
        base = res["hand gradient (NumPy)"][1]
        for name, (med, low) in res.items():
            print(f"  {name:34s} median {1e3 * med:8.3f} ms  min {1e3 * low:8.3f} ms"
                  f"  ({low / base:6.2f} x hand)")  # fmt: skip
        print(f"  {'central differences (800 losses)':34s} {1e3 * t_fd:8.1f} ms"
              f"  ({t_fd / base:6.0f} x hand)")  # fmt: skip


if __name__ == "__main__":
    main()
