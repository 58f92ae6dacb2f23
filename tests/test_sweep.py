"""Tests of gradflow.sweep: identical tables on a process pool and on Dask, resumption after
a kill, error rows, the CSV format, and bad input."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.quadratic import Quadratic
from gradflow.sweep import RESULTS_FILE, SweepTable, read_table, run_key, sweep


# --- run functions (top level, so that a process pool can pickle them) -----------------------
def flow_metrics(config: dict, seed: int) -> dict:
    """A real gradient flow: L = ½ θᵀHθ with H = diag(1, kappa), θ₀ drawn from the seed."""
    model = Quadratic(np.diag([1.0, float(config["kappa"])]))
    theta0 = model.init_params(np.random.default_rng(seed))
    traj = gf.integrate_flow(model, theta0, (0.0, config["t_end"]), method="RK45", rtol=1e-9)
    return {"loss_final": float(traj.loss[-1]), "nfev": traj.nfev, "status_flow": traj.status}


def noisy_metric(config: dict, seed: int) -> dict:
    rng = np.random.default_rng([seed, config["n"]])
    return {"mean": float(rng.standard_normal(config["n"]).mean()), "n_twice": 2 * config["n"]}


def fails_on_three(config: dict, seed: int) -> dict:
    if config["x"] == 3:
        raise ValueError(f"x = 3 is not allowed (seed {seed})")
    return {"y": config["x"] ** 2}


def returns_array(config: dict, seed: int) -> dict:
    return {"y": np.ones(3)} if config["x"] == 2 else {"y": 1.0}


def saves_trajectory(config: dict, seed: int, run_dir: Path) -> dict:
    model = Quadratic(np.diag([1.0, 2.0]))
    traj = gf.integrate_flow(model, model.init_params(np.random.default_rng(seed)), (0.0, 1.0))
    traj.save(run_dir / "flow.npz")
    return {"loss_final": float(traj.loss[-1])}


def _without_wall_time(table: SweepTable) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in table.rows]


GRID = {"kappa": [1.0, 10.0, 100.0], "t_end": [0.5, 2.0]}
SEEDS = [0, 1]


# --- identical tables on every executor ------------------------------------------------------
@pytest.fixture(scope="module")
def local_table(tmp_path_factory) -> SweepTable:
    out = tmp_path_factory.mktemp("local")
    with ProcessPoolExecutor(2) as pool:
        return sweep(flow_metrics, GRID, seeds=SEEDS, executor=pool, out=out, progress=False)


def test_local_pool_table(local_table):
    assert len(local_table) == 12 and local_table.computed == 12 and local_table.failed == 0
    assert local_table.columns == [
        "kappa", "t_end", "seed", "loss_final", "nfev", "status_flow",
        "status", "wall_time", "error", "key",
    ]  # fmt: skip
    # grid order: kappa slowest, then t_end, then seed
    assert [(r["kappa"], r["t_end"], r["seed"]) for r in local_table][:3] == [
        (1.0, 0.5, 0),
        (1.0, 0.5, 1),
        (1.0, 2.0, 0),
    ]
    # the metric is the flow's: L(t) = ½ Σ λ_i θ_i(0)² e^{−2λ_i t}, to the solver's rtol 1e-9
    for row in local_table:
        theta0 = Quadratic(np.eye(2)).init_params(np.random.default_rng(row["seed"]))["theta"]
        lam = np.array([1.0, row["kappa"]])
        exact = 0.5 * np.sum(lam * theta0**2 * np.exp(-2 * lam * row["t_end"]))
        assert row["loss_final"] == pytest.approx(exact, rel=1e-6)


def test_serial_and_default_pool_give_the_same_table(local_table, tmp_path):
    with ThreadPoolExecutor(1) as serial:
        table = sweep(flow_metrics, GRID, seeds=SEEDS, executor=serial, out=tmp_path / "s",
                      progress=False)  # fmt: skip
    assert _without_wall_time(table) == _without_wall_time(local_table)
    default = sweep(noisy_metric, {"n": [3, 4]}, seeds=[0], out=tmp_path / "d", progress=False)
    assert default.computed == 2 and default.failed == 0


@pytest.mark.parametrize(
    "processes",
    [
        # threads of this process: starts in ~0.2 s, the default test
        False,
        # two spawned worker processes (multiprocessing hands them this sys.path, so they
        # import this module): ~5 s of start-up, so in the slow set
        pytest.param(True, marks=pytest.mark.slow),
    ],
)
def test_dask_local_cluster_gives_the_same_table(local_table, tmp_path, processes):
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        table = sweep(flow_metrics, GRID, seeds=SEEDS, executor=client.get_executor(pure=False),
                      out=tmp_path, progress=False)  # fmt: skip
        assert client.scheduler_info()["workers"].__len__() == 2
    assert table.computed == 12
    assert _without_wall_time(table) == _without_wall_time(local_table)
    # the CSVs hold the same cells, up to row order (rows are written as they finish)
    local_rows = sorted(_csv_rows_without_wall_time(local_table.path))
    assert sorted(_csv_rows_without_wall_time(table.path)) == local_rows


def _csv_rows_without_wall_time(path: Path) -> list[tuple]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [tuple((k, v) for k, v in row.items() if k != "wall_time") for row in rows]


# --- resumption ------------------------------------------------------------------------------
KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
    from gradflow.sweep import sweep

    CALLS = sys.argv[2]

    def run(config, seed):
        with open(CALLS, "a") as f:          # one line per call, appended atomically
            f.write(f"{config['x']} {seed}\\n")
        if os.environ.get("KILL_AT") == str(config["x"]):
            # let the sweep write the rows of the runs before this one, then die, no clean-up
            table = os.path.join(sys.argv[1], "results.csv")
            while sum(1 for _ in open(table)) < 1 + 2 * config["x"]:
                time.sleep(0.01)
            os._exit(9)
        time.sleep(float(os.environ.get("SLEEP", "0")))
        return {"y": config["x"] * 10 + seed}

    if __name__ == "__main__":
        if sys.argv[3] == "serial":
            executor = ThreadPoolExecutor(1)   # runs in submission order: deterministic
        else:
            executor = ProcessPoolExecutor(2)
        sweep(run, {"x": list(range(6))}, seeds=[0, 1], executor=executor, out=sys.argv[1],
              progress=False)
        print("done")
    """
)


def _calls(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]


def _run_script(tmp_path: Path, mode: str, env: dict, **kwargs) -> subprocess.Popen:
    script = tmp_path / "job.py"
    script.write_text(KILL_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out"), str(tmp_path / "calls"), mode],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_killed_sweep_resumes_with_only_the_missing_runs(tmp_path):
    calls = tmp_path / "calls"
    first = _run_script(tmp_path, "serial", {"KILL_AT": "3"})
    assert first.wait(timeout=60) == 9, first.stderr.read()
    # runs x = 0, 1, 2 (both seeds) finished; the first call with x = 3 killed the process
    assert _calls(calls) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0)]
    _, rows = read_table(tmp_path / "out" / RESULTS_FILE)
    assert [(r["x"], r["seed"], r["status"]) for r in rows] == [
        (x, s, "ok") for x in range(3) for s in (0, 1)
    ]
    calls.unlink()
    second = _run_script(tmp_path, "serial", {})
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert _calls(calls) == [(x, s) for x in range(3, 6) for s in (0, 1)]
    table = sweep(_unused_run, {"x": list(range(6))}, seeds=[0, 1], out=tmp_path / "out",
                  executor=ThreadPoolExecutor(1), progress=False)  # fmt: skip
    assert table.computed == 0 and table.reused == 12
    assert table.column("y").tolist() == [10 * x + s for x in range(6) for s in (0, 1)]


def _unused_run(config: dict, seed: int) -> dict:
    raise AssertionError("every run is in the table: nothing must be recomputed")


def test_sigkill_of_a_process_pool_sweep_loses_no_finished_row(tmp_path):
    """Kill -9 the whole process group while a 2-worker pool runs; rerun computes the rest."""
    job = _run_script(tmp_path, "pool", {"SLEEP": "0.2"}, start_new_session=True)
    csv_path = tmp_path / "out" / RESULTS_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if csv_path.exists() and len(csv_path.read_text().splitlines()) >= 4:  # header + 3
            break
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    _, rows = read_table(csv_path)
    saved = {(r["x"], r["seed"]) for r in rows if r["status"] == "ok"}
    assert 3 <= len(saved) < 12
    (tmp_path / "calls").unlink()
    again = _run_script(tmp_path, "pool", {})
    assert again.wait(timeout=60) == 0, again.stderr.read()
    recomputed = _calls(tmp_path / "calls")
    expected = {(x, s) for x in range(6) for s in (0, 1)} - saved
    assert sorted(recomputed) == sorted(expected)  # each missing run once, no saved run again


def test_a_torn_last_line_is_dropped_and_recomputed(tmp_path):
    first = sweep(noisy_metric, {"n": [1, 2, 3]}, out=tmp_path, progress=False,
                  executor=ThreadPoolExecutor(1))  # fmt: skip
    path = tmp_path / RESULTS_FILE
    text = path.read_text()
    path.write_text(text[: len(text) - 7])  # the process died while writing the last row
    header, rows = read_table(path)
    assert len(rows) == 2
    again = sweep(noisy_metric, {"n": [1, 2, 3]}, out=tmp_path, progress=False,
                  executor=ThreadPoolExecutor(1))  # fmt: skip
    assert (again.computed, again.reused) == (1, 2)
    assert _without_wall_time(again) == _without_wall_time(first)
    assert path.read_text().endswith("\n") and len(read_table(path)[1]) == 3


INTERRUPT_TABLE: list[Path] = []  # where interrupted_at_two waits for the first row


def interrupted_at_two(config: dict, seed: int) -> dict:
    if config["x"] == 2:  # Ctrl-C while this run works, once the row of x = 1 is written
        while len(read_table(INTERRUPT_TABLE[0])[1]) < 1:
            time.sleep(0.01)
        raise KeyboardInterrupt
    return {"y": config["x"]}


def test_ctrl_c_stops_the_sweep_and_keeps_the_finished_rows(tmp_path):
    INTERRUPT_TABLE[:] = [tmp_path / RESULTS_FILE]
    with ThreadPoolExecutor(1) as serial, pytest.raises(KeyboardInterrupt):
        sweep(interrupted_at_two, {"x": [1, 2, 3]}, out=tmp_path, executor=serial,
              progress=False)  # fmt: skip
    _, rows = read_table(tmp_path / RESULTS_FILE)
    assert [(r["x"], r["status"]) for r in rows] == [(1, "ok")]
    with ThreadPoolExecutor(1) as serial:
        table = sweep(fails_on_three, {"x": [1, 2, 3]}, out=tmp_path, executor=serial,
                      progress=False)  # fmt: skip
    assert (table.computed, table.reused) == (2, 1)


# --- errors ----------------------------------------------------------------------------------
def test_a_run_that_raises_gives_an_error_row_and_the_others_complete(tmp_path):
    with ProcessPoolExecutor(2) as pool:
        table = sweep(fails_on_three, {"x": [1, 2, 3, 4]}, seeds=[0, 1], executor=pool,
                      out=tmp_path, progress=False)  # fmt: skip
    assert table.failed == 2 and table.computed == 8
    for row in table:
        if row["x"] == 3:
            assert row["status"] == "error" and row["y"] is None
            assert row["error"] == f"ValueError: x = 3 is not allowed (seed {row['seed']})"
        else:
            assert row["status"] == "ok" and row["y"] == row["x"] ** 2 and row["error"] is None
    # error rows are retried on the next call, ok rows are not
    with ProcessPoolExecutor(2) as pool:
        again = sweep(fails_on_three, {"x": [1, 2, 3, 4]}, seeds=[0, 1], executor=pool,
                      out=tmp_path, progress=False)  # fmt: skip
    assert (again.computed, again.reused, again.failed) == (2, 6, 2)


def test_errors_before_any_metric_widen_the_header(tmp_path):
    with ThreadPoolExecutor(1) as serial:  # the first row written is an error: no metric yet
        table = sweep(fails_on_three, {"x": [3, 1]}, out=tmp_path, executor=serial,
                      progress=False)  # fmt: skip
    header, rows = read_table(table.path)
    assert header == ["x", "seed", "y", "status", "wall_time", "error", "key"]
    assert [(r["x"], r["y"], r["status"]) for r in rows] == [(3, None, "error"), (1, 1, "ok")]


def test_a_non_scalar_metric_is_an_error_row(tmp_path):
    with ThreadPoolExecutor(1) as serial:
        table = sweep(returns_array, {"x": [1, 2]}, out=tmp_path, executor=serial,
                      progress=False)  # fmt: skip
    assert [r["status"] for r in table] == ["ok", "error"]
    assert "metric 'y' must be a scalar" in table[1]["error"]


def test_run_dir_receives_a_folder_per_run(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        table = sweep(saves_trajectory, {"k": [1]}, seeds=[0, 1], out=tmp_path, executor=pool,
                      progress=False)  # fmt: skip
    for row in table:
        traj = gf.load(tmp_path / "runs" / row["key"] / "flow.npz")
        assert float(traj.loss[-1]) == row["loss_final"]


def test_progress_goes_to_stderr(tmp_path, capsys):
    with ThreadPoolExecutor(1) as serial:
        sweep(fails_on_three, {"x": [1, 3]}, out=tmp_path, executor=serial, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[1/2] x=1 seed=0: ok" in captured.err
    assert "[2/2] x=3 seed=0: ERROR ValueError: x = 3 is not allowed" in captured.err


def test_run_key_is_stable():
    # the key must not change between sessions: it is how a resumed sweep finds its rows; it is
    # the SHA-1 of the canonical JSON text written out here by hand
    canonical = b'{"config": {"K": 5, "N": 30}, "seed": 0}'
    assert run_key({"N": 30, "K": np.int64(5)}, 0) == hashlib.sha1(canonical).hexdigest()[:16]
    assert run_key({"K": 5.0, "N": 30}, 0) != run_key({"K": 5, "N": 30}, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grid": [1, 2]}, TypeError, "grid must be a dict of lists"),
        ({"grid": {"x": 3}}, TypeError, r"grid\['x'\] must be a list"),
        ({"grid": {"x": "abc"}}, TypeError, r"grid\['x'\] must be a list"),
        ({"grid": {"x": []}}, ValueError, r"grid\['x'\] is empty"),
        ({"grid": {"seed": [1]}}, ValueError, "grid key 'seed' is reserved"),
        ({"grid": {"x": [1, 1]}}, ValueError, "repeats a configuration"),
        ({"seeds": 4}, TypeError, "seeds must be a list of ints"),
        ({"seeds": [0.5]}, TypeError, "seeds must be ints"),
        ({"seeds": []}, ValueError, "seeds is empty"),
        ({"executor": "dask"}, TypeError, "executor must be a concurrent.futures.Executor"),
        ({"run": 3}, TypeError, "run must be callable"),
        ({"run": lambda c, s: {}}, TypeError, "run must be picklable"),
    ],
)
def test_bad_input(tmp_path, kwargs, error, match):
    args = {"run": noisy_metric, "grid": {"x": [1]}, "out": tmp_path, "progress": False}
    with pytest.raises(error, match=match):
        sweep(**(args | kwargs))


def test_a_csv_that_is_not_a_sweep_table_is_refused(tmp_path):
    (tmp_path / RESULTS_FILE).write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not a sweep table"):
        sweep(noisy_metric, {"n": [1]}, out=tmp_path, progress=False)


def test_column_types(tmp_path):
    with ThreadPoolExecutor(1) as serial:
        table = sweep(fails_on_three, {"x": [1, 2, 3]}, out=tmp_path, executor=serial,
                      progress=False)  # fmt: skip
    assert table.column("x").dtype == np.int64
    y = table.column("y")
    assert y.dtype == np.float64 and np.isnan(y[2]) and y[:2].tolist() == [1.0, 4.0]
    assert table.column("y", only_ok=True).tolist() == [1, 4]
    assert table.column("status").tolist() == ["ok", "ok", "error"]
    with pytest.raises(KeyError, match="no column 'z'"):
        table.column("z")
