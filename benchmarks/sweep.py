"""Benchmark of gradflow.sweep: speed-up on 2 local workers, and per-task overhead through Dask.

1. A 16-run sweep of real gradient flows (the co-occurrence transformer, u-reduced, 16 seeds,
   integrated to a fixed flow time so that the runs cost about the same) through
   ``sweep(executor=ProcessPoolExecutor(2))`` — pool start-up and the CSV included — against a
   plain serial loop over the same runs in this process.  Target: ≥ 1.7×.  Measured side by
   side, alternating, twice; the ratio of the medians is printed.
2. The per-task overhead: a sweep of 200 runs that do nothing, on a Dask ``LocalCluster``
   (2 worker processes, 1 thread each), on a 2-process pool, and serially in one thread
   (the CSV's cost: one flushed and synced row per run); plus Dask's own round trip
   (``client.map`` + ``gather``) without gradflow.

BLAS is pinned to one thread (environment variables set before NumPy loads, and
threadpoolctl), so that two workers use two cores.  Numbers are printed, not asserted.  Other
processes on the machine change the wall-time ratio, so the load average and the serial loop's
share of a core are printed too, the CPU time the sweep costs against the loop's (its
overhead, whatever the load), and a control: the speed-up two processes get over one on a
pure-Python loop, side by side (the ceiling the machine allows at that moment).

Run: ``python benchmarks/sweep.py [--runs 16] [--noop 200]``
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import gradflow as gf  # noqa: E402
from gradflow.models.cooccurrence import CoOccurrenceU  # noqa: E402
from gradflow.sweep import sweep  # noqa: E402


def flow_run(config: dict, seed: int) -> dict:
    """One gradient flow of a small co-occurrence model to a fixed time."""
    model = CoOccurrenceU(n=60, L=5, d=100, m=config["m"], m1=64, init="theory", seed=seed)
    theta0 = model.init_params(np.random.default_rng(seed))
    traj = gf.integrate_flow(model, theta0, (0.0, config["t_end"]), method="RK45",
                             observables=False)  # fmt: skip
    return {"loss_final": float(traj.loss[-1]), "nfev": traj.nfev}


def spin(n: int) -> int:
    """Pure-Python arithmetic: the control workload (no NumPy, no I/O)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def _control_speedup(tasks: int, n: int = 2_000_000) -> float:
    """The machine's own 2-process speed-up on ``tasks`` CPU-bound pure-Python tasks."""
    start = time.perf_counter()
    for _ in range(tasks):
        spin(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        pool.submit(spin, 1).result()
        start = time.perf_counter()
        list(pool.map(spin, [n] * tasks))
        parallel = time.perf_counter() - start
    return serial / parallel


def noop_run(config: dict, seed: int) -> dict:
    return {"y": seed}


def _serial(grid: dict, seeds: list[int]) -> tuple[float, float]:
    """Wall time and CPU time of the serial loop."""
    start, cpu = time.perf_counter(), time.process_time()
    for m in grid["m"]:
        for t_end in grid["t_end"]:
            for seed in seeds:
                flow_run({"m": m, "t_end": t_end}, seed)
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pool_sweep(grid: dict, seeds: list[int], out: Path) -> tuple[float, float]:
    """Wall time of the sweep, and the CPU time it cost (this process + the joined workers)."""
    start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    with ProcessPoolExecutor(2) as pool:
        table = sweep(flow_run, grid, seeds=seeds, executor=pool, out=out, progress=False)
    wall = time.perf_counter() - start
    assert table.computed == len(seeds) and table.failed == 0
    return wall, time.process_time() - cpu + _children_cpu() - children


def _noop_sweep(executor, n: int, out: Path) -> float:
    start = time.perf_counter()
    table = sweep(noop_run, {"k": [0]}, seeds=range(n), executor=executor, out=out,
                  progress=False)  # fmt: skip
    wall = time.perf_counter() - start
    assert table.computed == n and table.failed == 0
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16, help="runs of the speed-up sweep")
    parser.add_argument("--noop", type=int, default=200, help="empty runs for the overhead")
    args = parser.parse_args()
    threadpool_limits(1)
    threads = [info["num_threads"] for info in threadpool_info()]
    print(f"BLAS threads: {threads}; cores: {os.cpu_count()}; load average {os.getloadavg()}")

    grid = {"m": [64], "t_end": [2.0]}
    seeds = list(range(args.runs))
    flow_run({"m": 64, "t_end": 2.0}, 0)  # imports and caches warm, for the serial loop
    serial, pooled, serial_cpu, pooled_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(2):
            wall, cpu = _serial(grid, seeds)
            serial.append(wall)
            serial_cpu.append(cpu)
            wall, cpu = _pool_sweep(grid, seeds, Path(tmp) / f"rep{rep}")
            pooled.append(wall)
            pooled_cpu.append(cpu)
    s, p = statistics.median(serial), statistics.median(pooled)
    print(f"\n1. {args.runs}-run sweep of gradient flows (co-occurrence, m = 64, t = 0..2)")
    print(f"   serial loop          {', '.join(f'{x:.2f}' for x in serial)} s")
    print(f"   sweep, 2 processes   {', '.join(f'{x:.2f}' for x in pooled)} s")
    print(f"   speed-up (medians)   {s / p:.2f}x   (target >= 1.7x)")
    share = [c / w for c, w in zip(serial_cpu, serial, strict=True)]
    print(f"   serial loop's CPU time / wall time   {', '.join(f'{x:.2f}' for x in share)}"
          "   (< 1: other processes share the cores)")  # fmt: skip
    cost = statistics.median(pooled_cpu) / statistics.median(serial_cpu)
    print(f"   CPU time of the sweep / of the loop  {cost:.2f}   (pool start-up, pickling, CSV)")
    print(f"   control: 2 processes vs 1 on a pure-Python loop  {_control_speedup(8):.2f}x"
          "   (the ceiling this machine gives right now)")  # fmt: skip
    print(f"   load average now     {os.getloadavg()}")

    from dask.distributed import Client, LocalCluster

    n = args.noop
    print(f"\n2. per-task overhead: {n} runs that return at once")
    with tempfile.TemporaryDirectory() as tmp:
        with ThreadPoolExecutor(1) as serial_pool:
            wall = _noop_sweep(serial_pool, n, Path(tmp) / "serial")
        print(f"   sweep, 1 thread (CSV rows only)   {1e3 * wall / n:7.2f} ms per run")
        with ProcessPoolExecutor(2) as pool:
            pool.submit(noop_run, {}, 0).result()  # workers started
            wall = _noop_sweep(pool, n, Path(tmp) / "pool")
        print(f"   sweep, 2-process pool             {1e3 * wall / n:7.2f} ms per run")
        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter() - start
            client.submit(noop_run, {}, -1).result()
            wall = _noop_sweep(client.get_executor(pure=False), n, Path(tmp) / "dask")
            print(f"   sweep, Dask LocalCluster (2 procs) {1e3 * wall / n:6.2f} ms per run")
            start = time.perf_counter()
            client.gather(client.map(noop_run, [{}] * n, range(n), pure=False))
            raw = time.perf_counter() - start
            print(f"   Dask alone (client.map + gather)  {1e3 * raw / n:7.2f} ms per run")
        print(f"   LocalCluster start-up {started:.2f} s")


if __name__ == "__main__":
    main()
