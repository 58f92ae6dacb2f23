"""Benchmark of the decision-list model (issue 7): printed, not asserted.

1. Token-level against position-level gradient time (spec §4.2: 10-100x faster).
2. The reduced (M+1)-dim ODE to T_perfect at L = 4096 (target: below 1 s).
3. Theorem 1's full flow to T_perfect at L = 16 (target: below 0.5 s).

BLAS is pinned to one thread with threadpoolctl so that the ratios compare like with like.
Times are CPU seconds of this process (``time.process_time``), printed next to wall seconds:
on a shared machine the wall clock also counts the time other processes hold the cores.
Run: ``python benchmarks/decision_list.py``.
"""

from __future__ import annotations

import time
import timeit

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import gradflow as gf
from gradflow.models.decision_list import DecisionList
from gradflow.models.decision_list_reduced import ReducedChain


def best_of(fn, number: int, repeat: int = 5) -> float:
    """Best mean CPU time per call over ``repeat`` rounds of ``number`` calls."""
    timer = timeit.Timer(fn, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number


def t_perfect_wall(model, t_end: float, method: str, **kw) -> tuple[float, float, float, int]:
    """(CPU s, wall s, T_perfect, nfev) of one flow to the perfect-classification event."""
    cpu, start = time.process_time(), time.perf_counter()
    traj = gf.integrate_flow(
        model,
        model.init_params(None),
        (0.0, t_end),
        method=method,
        events=[model.perfect_event()],
        observables=False,
        t_eval=None,
        dense_output=False,
        **kw,
    )
    wall = time.perf_counter() - start
    return time.process_time() - cpu, wall, traj.event_time("perfect"), traj.nfev


def main() -> None:
    with threadpool_limits(limits=1):
        threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
        print(f"BLAS threads: {threads}")
        gf.integrate_flow  # import the engine before timing anything  # noqa: B018

        print("\n1. gradient: token level vs position level (n=3, M=3, random W and V)")
        print(f"{'L':>4} {'E':>7} {'token ms':>9} {'position ms':>12} {'ratio':>6}  (CPU)")
        for L in (8, 12, 16, 24):
            m = DecisionList(L, 3, 3, train=("W", "V"))
            rng = np.random.default_rng(0)
            p = {"W": rng.standard_normal((L, L)), "V": rng.standard_normal((L, L))}
            tok = best_of(lambda m=m, p=p: m.loss_grad_tok(p), 20)
            pos = best_of(lambda m=m, p=p: m.loss_grad_pos(p), 5)
            print(
                f"{L:>4} {m.table.size:>7} {1e3 * tok:>9.3f} {1e3 * pos:>12.3f} {pos / tok:>6.1f}"
            )

        print("\n2. reduced ODE to T_perfect (n=3, M=3, c = 4nL log L, LSODA rtol 1e-10)")
        for L in (16, 256, 4096):
            cpu, wall, T, nfev = t_perfect_wall(
                ReducedChain(L, 3, 3), 1.0, "LSODA", rtol=1e-10, atol=1e-14
            )
            print(
                f"L={L:>5}: T={T:.7g}  nfev={nfev:>4}  cpu={cpu:.3f} s  wall={wall:.3f} s"
                "   (target < 1 s)"
            )

        print("\n3. Theorem 1 full flow to T_perfect, L=16, n=3, M=3 (rtol 1e-8, atol 1e-10)")
        full = DecisionList(16, 3, 3)
        grad_ms = 1e3 * best_of(lambda: full.grad(full.init_params(None)), 20)
        print(f"one gradient: {grad_ms:.2f} ms CPU")
        for method in ("RK45", "DOP853", "LSODA"):
            cpu, wall, T, nfev = t_perfect_wall(full, 1.0, method, rtol=1e-8, atol=1e-10)
            print(
                f"{method:>7}: T={T:.7g}  nfev={nfev:>4}  cpu={cpu:.3f} s  wall={wall:.3f} s"
                "   (target < 0.5 s)"
            )


if __name__ == "__main__":
    main()
