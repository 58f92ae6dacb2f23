"""Engine overhead per right-hand-side call, relative to a bare ``model.grad``.

``integrate_flow`` hands the solver :class:`gradflow.flow.GradientField`: it unpacks the
state vector into named arrays, calls the model's (counted) ``grad`` and packs the negated
result.  This script times that wrapper against the model's undecorated ``grad`` on the
same parameters, side by side in one run (interleaved repeats; medians and minima, the
minima being less sensitive to other processes on a shared machine), with BLAS pinned
to one thread.  Target: overhead below 10 % on a model with 10⁴ parameters.

Run: ``python benchmarks/engine.py`` (prints, asserts nothing).
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from gradflow.flow import GradientField
from gradflow.model import Model
from gradflow.models.linear_net import LinearNet
from gradflow.params import Params


class Diagonal(Model):
    """L = ½ Σ dᵢ θᵢ²: the cheapest possible gradient (worst case for relative overhead)."""

    name, citation, dynamics = "diagonal", "benchmark", "gradient flow"

    def __init__(self, n: int):
        self.d = np.linspace(1.0, 2.0, n)

    def init_params(self, rng):
        return {"theta": rng.standard_normal(self.d.size)}

    def loss(self, params):
        return 0.5 * np.sum(self.d * params["theta"] ** 2)

    def grad(self, params):
        return {"theta": self.d * params["theta"]}


class Cached(Model):
    """Returns a precomputed gradient: ``rhs`` on it times the engine's work alone."""

    name, citation, dynamics = "cached", "benchmark", "gradient flow"

    def __init__(self, model: Model, params: dict):
        self.template = params
        self.gradient = model.grad(params)

    def init_params(self, rng):
        return self.template

    def grad(self, params):
        return self.gradient


def median_seconds(fn, number: int, repeats: int) -> list[float]:
    """Per-call seconds of ``fn`` for each of ``repeats`` batches of ``number`` calls."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - start) / number)
    return out


def measure(model: Model, label: str, number: int, repeats: int = 15) -> float:
    params = model.init_params(np.random.default_rng(0))
    spec = Params(params)
    y = spec.pack(params)
    rhs = GradientField(model, spec)
    bare_grad = type(model).grad.__wrapped__  # the hand-written grad, without the counter

    def bare():
        return bare_grad(model, params)

    def engine():
        return rhs(0.0, y)

    np.testing.assert_array_equal(engine(), -spec.pack(bare()))
    bare_t, engine_t = [], []
    for _ in range(repeats):  # interleave so that load changes hit both alike
        bare_t += median_seconds(bare, number, 1)
        engine_t += median_seconds(engine, number, 1)
    b, e = np.median(bare_t), np.median(engine_t)
    b_min, e_min = min(bare_t), min(engine_t)
    print(
        f"{label:<34} n={spec.size:>6}  bare grad {1e6 * b:7.1f} us  engine rhs {1e6 * e:7.1f} us"
        f"  overhead (medians) {100 * (e - b) / b:6.1f} %"
        f"  (minima) {100 * (e_min - b_min) / b_min:6.1f} %"
        f"  = {1e6 * (e_min - b_min):.1f} us per call"
    )
    return float(b)


def main() -> None:
    with threadpool_limits(limits=1, user_api="blas"):
        threads = {info["internal_api"]: info["num_threads"] for info in threadpool_info()}
        print(f"BLAS threads: {threads}")
        net = LinearNet(s=tuple(np.linspace(5.0, 1.0, 10)), n_in=100, n_hidden=50, n_out=100)
        bare_net = measure(net, "LinearNet 100-50-100 (2 blocks)", number=200)
        measure(Diagonal(10_000), "Diagonal quadratic (worst case)", number=2000)
        # the engine's own work, without the gradient: unpack, counter, negate-and-pack
        params = net.init_params(np.random.default_rng(0))
        cached = Cached(net, params)
        spec = Params(params)
        rhs, y = GradientField(cached, spec), spec.pack(params)
        alone = np.median(median_seconds(lambda: rhs(0.0, y), 2000, 15))
        print(
            f"engine work alone (gradient precomputed), n={spec.size}: {1e6 * alone:.1f} us per "
            f"call = {100 * alone / bare_net:.1f} % of the LinearNet bare grad"
        )


if __name__ == "__main__":
    main()
