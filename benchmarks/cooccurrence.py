"""Benchmark of the co-occurrence model (Yang et al., NeurIPS 2024) at the paper's size.

Measured side by side in one run, BLAS pinned to one thread:

1. one loss + gradient: a straightforward NumPy hand gradient with index gathers (defined
   below, the independent reference: per-position q, k, v gathered by token id, scores by
   batched matmul, gradients scattered back with ``np.add.at``) against
   :class:`CoOccurrence` (d×d score/value tables, ``bincount`` scatters) and its exact
   u-reduction :class:`CoOccurrenceU`;
2. ``gradflow.gradient_descent`` for the paper's 30,000 steps of η = 0.01 with each;
3. gradient flow to the same time t = 300 (RK45, rtol 1e-6): its final loss against GD's
   and its wall time against GD's;
4. PyTorch autograd (fast d×d formulation and literal one-hot eq. (1)) only when torch is
   importable (it is never a dependency of gradflow).

Timings: medians over interleaved blocks, wall clock (perf_counter) and CPU
(process_time); CPU time is the fairer number on a shared machine.

Run: ``python benchmarks/cooccurrence.py [--steps 30000] [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import gradflow as gf
from gradflow.models.cooccurrence import CoOccurrence

PEERS = """\
Peer figures reported in issue 5 (another machine; NOT measured here, context only):
  straightforward NumPy hand gradient with index gathers      0.74 ms
  PyTorch autograd, fast formulation (d×d table by token id)  1.02 ms
  PyTorch autograd of literal eq. (1) with one-hot matrices   8.8 ms
  30,000 GD steps: NumPy straightforward 34 s, PyTorch SGD 57 s
  RK45 (rtol 1e-6) to t = 300: 452 gradient calls"""


def straightforward_loss_and_grad(params, a, tokens, y):
    """Loss and gradient of eq. (1)-(2) the direct way: gather q, k, v per position.

    Independent of the model's d×d tables: scores from per-position q_l, k_h, gradients
    of W_Q and W_K as per-position rows ``Σ_h δ_lh k_h`` / ``Σ_l δ_lh q_l`` scattered into
    token columns with ``np.add.at`` (spec §5.1-5.2).
    """
    W_Q, W_K, W_V, W = params["W_Q"], params["W_K"], params["W_V"], params["W"]
    m, d = W_Q.shape
    n = tokens.shape[0]
    sqrt_m = math.sqrt(m)
    Q, K, V = W_Q.T[tokens], W_K.T[tokens], W_V.T[tokens]  # (n, L, m)
    s = Q @ K.transpose(0, 2, 1) / sqrt_m  # (n, L query, L key)
    s = s - s.max(axis=-1, keepdims=True)
    P = np.exp(s)
    P /= P.sum(axis=-1, keepdims=True)
    u = W.T @ a
    gamma = V @ u  # (n, L) values G(x_h)
    e = (P @ gamma[:, :, None])[:, :, 0]
    F = e.sum(axis=1)
    margin = y * F
    loss = np.logaddexp(0.0, -margin).mean()
    c = y / (1.0 + np.exp(margin)) / n
    cS = c[:, None] * P.sum(axis=1)
    delta = c[:, None, None] * P * (gamma[:, None, :] - e[:, :, None])
    dQ = delta @ K / sqrt_m  # rows of dF/dW_Q at query positions
    dK = delta.transpose(0, 2, 1) @ Q / sqrt_m  # rows of dF/dW_K at key positions
    tok = tokens.ravel()
    gWQ = np.zeros((d, m))
    np.add.at(gWQ, tok, dQ.reshape(-1, m))
    gWK = np.zeros((d, m))
    np.add.at(gWK, tok, dK.reshape(-1, m))
    z = np.zeros(d)
    np.add.at(z, tok, cS.ravel())
    grad = {"W_Q": -gWQ.T, "W_K": -gWK.T, "W_V": -np.outer(u, z), "W": -np.outer(a, W_V @ z)}
    return loss, grad


class Straightforward(CoOccurrence):
    """The paper model with the straightforward gradient (for the GD timing)."""

    def loss_and_grad(self, params):
        return straightforward_loss_and_grad(params, self.a, self.tokens, self.y)

    def grad(self, params):
        return self.loss_and_grad(params)[1]


def _median_times(funcs: dict, repeats: int, block: int) -> dict:
    """Median per-call wall and CPU time (ms) of each function, blocks interleaved."""
    wall = {k: [] for k in funcs}
    cpu = {k: [] for k in funcs}
    for f in funcs.values():
        f()
    for _ in range(repeats):
        for name, f in funcs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(block):
                f()
            wall[name].append((time.perf_counter() - w0) / block * 1e3)
            cpu[name].append((time.process_time() - c0) / block * 1e3)
    return {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in funcs}


def _torch_section(model, params) -> None:
    try:
        import torch
    except ImportError:
        print("\n4. PyTorch: torch is not importable here -> skipped (never a gradflow dependency)")
        return
    torch.set_num_threads(1)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    a = torch.tensor(model.a)
    y = torch.tensor(model.y)
    tok = torch.tensor(model.tokens)
    pair = torch.tensor(model._data.pair_index)
    X = torch.tensor(np.eye(model.d)[model.tokens].transpose(0, 2, 1).copy())
    sqrt_m = math.sqrt(model.m)

    def fast():
        u = t["W"].T @ a
        G = t["W_V"].T @ u
        M = t["W_K"].T @ t["W_Q"]
        P = torch.softmax(M.reshape(-1)[pair] / sqrt_m, dim=-1)
        F = (P @ G[tok][:, :, None]).sum((1, 2))
        loss = torch.nn.functional.softplus(-y * F).mean()
        return torch.autograd.grad(loss, list(t.values()))

    def literal():
        Qx = torch.einsum("md,ndl->nml", t["W_Q"], X)
        Kx = torch.einsum("md,ndl->nml", t["W_K"], X)
        Vx = torch.einsum("md,ndl->nml", t["W_V"], X)
        P = torch.softmax(torch.einsum("nmh,nml->nlh", Kx, Qx) / sqrt_m, dim=-1)
        F = torch.einsum("j,jm,nmh,nlh->n", a, t["W"], Vx, P)
        loss = torch.nn.functional.softplus(-y * F).mean()
        return torch.autograd.grad(loss, list(t.values()))

    ours = model.grad(params)
    agree = max(
        float(np.max(np.abs(g.numpy() - ours[k])) / np.max(np.abs(ours[k])))
        for k, g in zip(t, fast(), strict=True)
    )
    # timed side by side with gradflow's gradient, blocks interleaved
    times = _median_times(
        {
            "torch fast": fast,
            "torch literal": literal,
            "gradflow": lambda: model.loss_and_grad(params),
        },
        9,
        20,
    )
    print(
        "\n4. PyTorch autograd (float64, 1 thread), ms per loss+grad; torch's gradient "
        f"agrees with gradflow's to {agree:.1e} (relative)"
    )
    base = times["gradflow"]
    for k, v in times.items():
        print(
            f"   {k:14s} wall {v[0]:8.3f}  cpu {v[1]:8.3f}   "
            f"gradflow is {v[0] / base[0]:5.2f}x faster (cpu {v[1] / base[1]:5.2f}x)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="GD steps (paper: 30000)")
    parser.add_argument("--repeats", type=int, default=15, help="timing blocks per function")
    args = parser.parse_args(argv)

    with threadpool_limits(1):
        blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
        print(f"BLAS pinned with threadpoolctl: {blas}")
        model = CoOccurrence.paper(seed=0)
        small = model.reduced()
        ref_model = Straightforward(**model.config())
        params = model.init_params(np.random.default_rng(0))
        rparams = model.to_reduced(params)
        print(
            f"paper size: {model!r}; state {sum(v.size for v in params.values())} numbers "
            f"(u-reduced: {sum(v.size for v in rparams.values())})"
        )

        # 1. one loss + gradient
        loss_ref, grad_ref = straightforward_loss_and_grad(params, model.a, model.tokens, model.y)
        loss, grad = model.loss_and_grad(params)
        err = max(np.max(np.abs(grad[k] - grad_ref[k])) / np.max(np.abs(grad_ref[k])) for k in grad)
        print(
            f"\n1. agreement with the straightforward gradient: loss {abs(loss - loss_ref):.1e}, "
            f"max relative gradient difference {err:.1e}"
        )
        times = _median_times(
            {
                "straightforward NumPy (gathers + add.at)": lambda: ref_model.loss_and_grad(params),
                "gradflow CoOccurrence (d×d tables)": lambda: model.loss_and_grad(params),
                "gradflow CoOccurrenceU (u-reduced)": lambda: small.loss_and_grad(rparams),
            },
            args.repeats,
            50,
        )
        base = times["straightforward NumPy (gathers + add.at)"]
        print("   ms per loss+grad (median)          wall      cpu   speed-up (wall, cpu)")
        for name, (w, c) in times.items():
            print(f"   {name:42s} {w:7.3f} {c:8.3f}   {base[0] / w:5.2f}x {base[1] / c:5.2f}x")

        # 2. GD, 3. flow
        lr = 0.01
        t_end = lr * args.steps
        print(f"\n2. gradflow.gradient_descent, {args.steps} steps of η = {lr} (t = {t_end:g}):")
        gd_runs = {}
        for name, m_, p_ in (
            ("straightforward", ref_model, params),
            ("CoOccurrence", model, params),
            ("CoOccurrenceU", small, rparams),
        ):
            w0, c0 = time.perf_counter(), time.process_time()
            run = gf.gradient_descent(
                m_,
                p_,
                lr,
                args.steps,
                record_every=args.steps,
                observables=False,
                check_stability=False,
            )
            gd_runs[name] = (time.perf_counter() - w0, time.process_time() - c0, run.loss[-1])
        w_ref, c_ref, _ = gd_runs["straightforward"]
        for name, (w, c, final) in gd_runs.items():
            print(
                f"   {name:16s} wall {w:8.2f} s  cpu {c:8.2f} s  speed-up {w_ref / w:5.2f}x "
                f"(cpu {c_ref / c:5.2f}x)  final loss {final:.6e}"
            )
        print(
            f"\n3. gradient flow to t = {t_end:g} (RK45, rtol 1e-6) against GD of the same model:"
        )
        for name, m_, p_ in (("CoOccurrence", model, params), ("CoOccurrenceU", small, rparams)):
            w0, c0 = time.perf_counter(), time.process_time()
            flow = gf.integrate_flow(
                m_,
                p_,
                (0.0, t_end),
                method="RK45",
                rtol=1e-6,
                t_eval=[0.0, t_end],
                observables=False,
            )
            w, c = time.perf_counter() - w0, time.process_time() - c0
            gd_w, gd_c, gd_loss = gd_runs[name]
            rel = abs(flow.loss[-1] / gd_loss - 1)
            print(
                f"   {name:16s} nfev {flow.nfev:4d}  wall {w:6.2f} s  cpu {c:6.2f} s  "
                f"final loss {flow.loss[-1]:.6e}  |flow/GD - 1| = {rel:.1e}  "
                f"time / GD time = 1/{gd_w / w:.0f} (cpu 1/{gd_c / c:.0f})"
            )

        _torch_section(model, params)
    print()
    print(PEERS)


if __name__ == "__main__":
    main()
