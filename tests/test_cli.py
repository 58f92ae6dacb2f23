"""Tests of the ``gradflow`` command line (in-process through ``main``, plus one subprocess)."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
import types

import numpy as np
import pytest

import gradflow as gf
from gradflow import figures, models
from gradflow.cli import UsageError, main, parse_sets
from gradflow.model import Model
from gradflow.models.quadratic import Quadratic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fake_module(monkeypatch, name, **attrs):
    """Put a module ``name`` holding ``attrs`` into sys.modules (found by find_spec)."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


class OnePercentOff(Model):
    """L = ½‖a‖² + ½‖b‖², with the gradient of block ``b`` wrong by 1 %."""

    name, citation, dynamics = "one_percent_off", "test model", "gradient flow"

    @classmethod
    def paper(cls):
        return cls()

    def init_params(self, rng):
        return {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2))}

    def loss(self, params):
        return 0.5 * np.sum(params["a"] ** 2) + 0.5 * np.sum(params["b"] ** 2)

    def grad(self, params):
        return {"a": params["a"] * 1.0, "b": 1.01 * params["b"]}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- run and plot ---------------------------------------------------------------------------
def test_run_flow_matches_the_exact_flow_of_the_configured_model(tmp_path, capsys):
    path = tmp_path / "runs" / "flow.npz"
    code, out, err = run_cli(
        capsys, "run", "quadratic", "--set", "kappa=100", "angle=0.3", "--seed", "3",
        "--t-end", "2", "--rtol", "1e-9", "--out", str(path),
    )  # fmt: skip
    assert code == 0, err
    assert "status      finished" in out and "final loss" in out and "nfev" in out
    assert "wall time" in out and str(path) in out
    traj = gf.load(path)
    model = Quadratic.paper(kappa=100.0, angle=0.3)
    theta0 = np.random.default_rng(3).standard_normal(2)  # Quadratic's init, seed 3
    np.testing.assert_array_equal(traj.params["theta"][0], theta0)
    exact = model.exact(traj.t, theta0)
    # rtol 1e-9 with the default atol: global error within 100 x (atol + rtol·|θ|) of 1e-9 scale
    assert np.max(np.abs(traj.params["theta"] - exact)) < 1e-6
    assert traj.t[-1] == 2.0 and traj.metadata["seed"] == 3
    assert "--set kappa=100 angle=0.3" in traj.metadata["command"]


def test_run_gd_covers_the_flow_time_and_is_the_gd_recursion(tmp_path, capsys):
    path = tmp_path / "gd.npz"
    code, out, err = run_cli(
        capsys, "run", "quadratic", "--t-end", "1", "--gd", "0.01", "--out", str(path), "--quiet"
    )
    assert code == 0, err
    traj = gf.load(path)
    assert traj.kind == "gd" and traj.lr == 0.01 and traj.steps[-1] == 100
    H = Quadratic.paper().H
    theta0 = np.random.default_rng(0).standard_normal(2)
    expected = np.linalg.matrix_power(np.eye(2) - 0.01 * H, 100) @ theta0
    np.testing.assert_allclose(traj.params["theta"][-1], expected, rtol=1e-12, atol=1e-15)
    assert traj.t[-1] == pytest.approx(1.0, rel=1e-12)


def test_seed_reaches_the_model_data_unless_set(tmp_path):
    from gradflow.models.linear_net import LinearNet

    path = tmp_path / "s.npz"
    assert main(["run", "linear_net", "--seed", "2", "--t-end", "0.1", "--out", str(path)]) == 0
    traj = gf.load(path)
    assert traj.metadata["config"]["seed"] == 2
    expected = LinearNet.paper(seed=2).init_params(np.random.default_rng(2))
    np.testing.assert_array_equal(traj.params["W1"][0], expected["W1"])
    argv = ["run", "linear_net", "--seed", "2", "--set", "seed=5", "--t-end", "0.1"]
    assert main([*argv, "--out", str(path), "--quiet"]) == 0
    assert gf.load(path).metadata["config"]["seed"] == 5


def test_plot_writes_a_png_of_flow_and_gd(tmp_path, capsys):
    flow, gd = tmp_path / "flow.npz", tmp_path / "gd.npz"
    assert main(["run", "linear_net", "--t-end", "4", "--out", str(flow), "--quiet"]) == 0
    assert main(["run", "linear_net", "--t-end", "4", "--gd", "0.1", "--out", str(gd)]) == 0
    capsys.readouterr()
    fig_path = tmp_path / "figs" / "modes.png"
    code, out, err = run_cli(
        capsys, "plot", str(flow), str(gd), "--keys", "loss", "modes[0]", "--out", str(fig_path)
    )
    assert code == 0, err
    assert fig_path.read_bytes()[:8] == PNG_SIGNATURE
    assert "loss, modes[0]" in out
    code, out, err = run_cli(capsys, "plot", str(flow), "--linear-time", "--out", str(fig_path))
    # default panels: loss and the observables with at most 10 numbers (modes: 3; the
    # conserved 4x4 matrix is left out)
    assert code == 0 and "panels: loss, modes)" in out


# --- check ---------------------------------------------------------------------------------
def test_check_passes_on_an_oracle(capsys):
    code, out, err = run_cli(capsys, "check", "linear_net")
    assert code == 0, err
    assert "passed" in out and "W1" in out and "W2" in out


def test_check_fails_with_exit_1_naming_the_wrong_block(monkeypatch, capsys):
    fake_module(monkeypatch, "gradflow_test_broken", OnePercentOff=OnePercentOff)
    monkeypatch.setitem(models.REGISTRY, "broken", ("gradflow_test_broken", "OnePercentOff"))
    code, out, err = run_cli(capsys, "check", "broken")
    assert code == 1
    failing = [line for line in out.splitlines() if line.startswith(("a ", "b "))]
    assert any(line.startswith("b ") and "FAIL" in line.upper() for line in failing), out
    assert not any(line.startswith("a ") and "FAIL" in line.upper() for line in failing), out


# --- reproduce and list ------------------------------------------------------------------------
def test_reproduce_runs_each_named_figure_set_once(tmp_path, monkeypatch, capsys):
    calls = []

    def reproduce(out, quick=False, progress=False):
        calls.append((out, quick, progress))
        out.mkdir(parents=True, exist_ok=True)
        path = out / "fig.png"
        path.write_bytes(PNG_SIGNATURE)
        return [path]

    fake_module(monkeypatch, "gradflow_test_figs", reproduce=reproduce, __doc__="Fake figures.")
    monkeypatch.setitem(figures.FIGURES, "fake", "gradflow_test_figs")
    code, out, err = run_cli(
        capsys, "reproduce", "fake", "fake", "--out", str(tmp_path), "--quick", "--quiet"
    )
    assert code == 0, err
    assert calls == [(tmp_path / "fake", True, False)]
    assert out.splitlines() == [str(tmp_path / "fake" / "fig.png")]
    code, out, err = run_cli(capsys, "list")
    assert "fake" in out and "Fake figures." in out


def test_reproduce_maps_oracle_model_names_to_the_oracles_set(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(
        figures.get("oracles"), "reproduce", lambda out, quick, progress: seen.append(out) or []
    )
    code, _, err = run_cli(capsys, "reproduce", "quadratic", "linear_net", "--out", str(tmp_path))
    assert code == 0, err
    assert seen == [tmp_path / "oracles"]


def test_list_shows_models_and_figure_sets(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ("quadratic", "linear_net", "oracles"):
        assert name in out


# --- usage errors: one line on stderr, exit 2, no traceback -----------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope", "--out", "x.npz"], "model 'nope' is unknown"),
        (["run", "quadratic", "--set", "kappa", "--out", "x.npz"], "KEY=VALUE"),
        (["run", "quadratic", "--set", "1x=2", "--out", "x.npz"], "KEY=VALUE"),
        (["run", "quadratic", "--set", "foo=1", "--out", "x.npz"], "no setting 'foo'"),
        (["run", "linear_net", "--set", "s=-1", "--out", "x.npz"], "cannot build model"),
        (["run", "quadratic", "--steps", "5", "--out", "x.npz"], "--gd"),
        (["run", "quadratic", "--gd", "-1", "--out", "x.npz"], "must be positive"),
        (["run", "quadratic", "--method", "Euler", "--out", "x.npz", "--quiet"], "method"),
        (["run", "quadratic"], "required: --out"),
        (["plot", "missing.npz", "--out", "x.png"], "does not exist"),
        (["check", "nope"], "unknown"),
        (["reproduce", "nope"], "figure set 'nope' is unknown"),
        (["frobnicate"], "invalid choice"),
        ([], "usage"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    if argv:
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.npz").exists()


def test_plot_refuses_a_file_that_is_not_a_run(tmp_path, capsys):
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, a=np.zeros(2))
    code, _, err = run_cli(capsys, "plot", str(bogus), "--out", str(tmp_path / "x.png"))
    assert code == 2 and "not a gradflow trajectory" in err
    code, _, err = run_cli(
        capsys, "plot", str(bogus), "--out", str(tmp_path / "x.png"), "--keys", "loss"
    )
    assert code == 2


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(UsageError, match="cannot build model"):
        main(["--debug", "check", "linear_net", "--set", "s=-1"])


def test_parse_sets():
    assert parse_sets(["a=1", "b=2.5", "c=(1, 2)", "d=True", "e=abc", "f=[1,2]"]) == {
        "a": 1,
        "b": 2.5,
        "c": (1, 2),
        "d": True,
        "e": "abc",
        "f": [1, 2],
    }
    assert parse_sets(None) == {}
    with pytest.raises(UsageError, match="twice"):
        parse_sets(["a=1", "a=2"])


# --- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "plot", "check", "reproduce", "list"])
def test_each_subcommand_explains_itself(command, capsys):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert f"usage: gradflow {command}" in out
    assert len(out.split()) > 30  # a description in words, not only the usage line


def test_python_dash_m_gradflow_help():
    result = subprocess.run(
        [sys.executable, "-m", "gradflow", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("run", "plot", "check", "reproduce", "list", "sweep"):
        assert command in result.stdout
