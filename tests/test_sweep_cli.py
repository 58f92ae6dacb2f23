"""Tests of ``gradflow sweep`` (gradflow.sweep_cli): parsing, the default metrics against a
closed form, resumption, the option guard, and a Dask scheduler address."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradflow import cli
from gradflow.models.quadratic import Quadratic
from gradflow.sweep import RESULTS_FILE, read_table
from gradflow.sweep_cli import add_sweep_command, flow_metrics, parse_axes, parse_seeds


def run_cli(argv: list[str]) -> int:
    """Parse and run ``gradflow sweep ...`` as gradflow.cli.main does."""
    parser = cli._Parser(prog="gradflow")
    add_sweep_command(parser.add_subparsers(dest="command", parser_class=cli._Parser))
    args = parser.parse_args(argv)
    args.argv = argv
    return args.handler(args)


def test_parse_axes_and_seeds():
    assert parse_axes(["K=5,10", "p=[0.6,0.4]", "shape=(2, 3),(3, 2)", "kind=a,b"]) == {
        "K": [5, 10],
        "p": [[0.6, 0.4]],
        "shape": [(2, 3), (3, 2)],
        "kind": ["a", "b"],
    }
    assert parse_seeds("2:5") == [2, 3, 4] and parse_seeds("0,7") == [0, 7]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (["K"], "expects KEY=V1,V2"),
        (["1K=3"], "expects KEY=V1,V2"),
        (["K=1", "K=2"], "gives 'K' twice"),
        (["K=1,,2"], "empty value"),
        (["seed=1,2"], "cannot set 'seed'"),
        (["model=icl"], "cannot set 'model'"),
    ],
)
def test_parse_axes_errors(items, match):
    with pytest.raises(cli.UsageError, match=match):
        parse_axes(items)


@pytest.mark.parametrize("text", ["a:b", "3:1", "", "1:2:3", "-1"])
def test_parse_seeds_errors(text):
    with pytest.raises(cli.UsageError, match="--seeds"):
        parse_seeds(text)


def test_flow_metrics_against_the_closed_form():
    """Quadratic with kappa = 1: L(t) = L0 e^{-2t}, so the loss halves at t = ln 2 / 2."""
    m = flow_metrics({"model": "quadratic", "kappa": 1.0}, 3, t_end=2.0, rtol=1e-10)
    theta0 = Quadratic.paper(kappa=1.0).init_params(np.random.default_rng(3))["theta"]
    loss_0 = 0.5 * float(theta0 @ theta0)
    assert m["loss_0"] == pytest.approx(loss_0, rel=1e-14)
    # the event time is located on the interpolant; 1e-8 allows for the rtol 1e-10 solution
    assert m["t_half"] == pytest.approx(math.log(2) / 2, rel=1e-8)
    assert m["loss_final"] == pytest.approx(loss_0 * math.exp(-4.0), rel=1e-7)
    assert (m["flow_status"], m["t_final"]) == ("finished", 2.0) and m["nfev"] > 0
    never = flow_metrics({"model": "quadratic", "kappa": 1.0}, 3, t_end=0.1)
    assert never["t_half"] is None


def test_sweep_command_writes_resumes_and_fits(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--set", "kappa=1,10,100", "--seeds", "0:2", "--t-end", "3",
            "--workers", "2", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "6 runs (6 computed, 0 reused, 0 failed)" in out
    assert "t_half ∝ kappa^a: exponent" in out  # one numeric axis with 3 values: a fit
    header, rows = read_table(tmp_path / RESULTS_FILE)
    assert header[:3] == ["model", "kappa", "seed"]
    assert all(r["model"] == "quadratic" and r["status"] == "ok" for r in rows)
    assert all(r["t_half"] == pytest.approx(math.log(2) / 2, rel=1e-6)
               for r in rows if r["kappa"] == 1)  # fmt: skip
    assert run_cli(argv) == 0
    assert "(0 computed, 6 reused, 0 failed)" in capsys.readouterr().out
    with pytest.raises(cli.UsageError, match=r"other options \(t_end 3.0 there, 4.0 now\)"):
        run_cli([*argv[:7], "4", *argv[8:]])


def test_sweep_command_reports_failures_with_exit_code_1(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--set", "kappa=1,'x'", "--workers", "1",
            "--out", str(tmp_path), "--quiet", "--t-end", "1"]  # fmt: skip
    assert run_cli(argv) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "error: kappa=x seed=0" in captured.err


def test_sweep_command_usage_errors(tmp_path):
    with pytest.raises(cli.UsageError, match="model 'nope' is unknown"):
        run_cli(["sweep", "nope", "--out", str(tmp_path)])
    with pytest.raises(cli.UsageError, match="--t-end must be positive"):
        run_cli(["sweep", "quadratic", "--t-end", "0", "--out", str(tmp_path)])
    with pytest.raises(cli.UsageError, match="--workers must be at least 1"):
        run_cli(["sweep", "quadratic", "--workers", "0", "--out", str(tmp_path)])


def test_unreachable_scheduler_is_a_usage_error(tmp_path):
    pytest.importorskip("dask.distributed")
    with pytest.raises(cli.UsageError, match="cannot reach the Dask scheduler"):
        run_cli(["sweep", "quadratic", "--scheduler", "tcp://127.0.0.1:9",
                 "--connect-timeout", "1", "--out", str(tmp_path), "--quiet"])  # fmt: skip


def test_sweep_command_on_a_dask_scheduler(tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    argv = ["sweep", "quadratic", "--set", "kappa=1,10", "--seeds", "0:2", "--t-end", "2",
            "--quiet"]  # fmt: skip
    assert run_cli([*argv, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert run_cli([*argv, "--scheduler", address, "--out", str(tmp_path / "dask")]) == 0
    local = read_table(tmp_path / "local" / RESULTS_FILE)[1]
    remote = read_table(tmp_path / "dask" / RESULTS_FILE)[1]

    def strip(rows):
        return sorted(tuple((k, v) for k, v in r.items() if k != "wall_time") for r in rows)

    assert strip(remote) == strip(local) and len(local) == 4
