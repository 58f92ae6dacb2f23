"""Tests of the figure registry (gradflow.figures) and of the oracle figures.

The oracle figures' numbers are checked against closed forms: the Saxe et al. half times
``τ/(2s) log(s/u₀ − 1)``, the exact flows, and order 1 of gradient descent in ``η``.
"""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest

import gradflow as gf
from gradflow import figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_registry_lists_installed_figure_sets_and_imports_them():
    assert "oracles" in figures.names()
    assert set(figures.names()) <= set(figures.FIGURES)
    module = figures.get("oracles")
    assert callable(module.reproduce)


def test_registry_refuses_an_unknown_or_missing_set(monkeypatch):
    with pytest.raises(ValueError, match=r"'nope' is unknown; the figure sets are \["):
        figures.get("nope")
    monkeypatch.setitem(figures.FIGURES, "ghost", "gradflow.figures.no_such_module")
    assert "ghost" not in figures.names()
    with pytest.raises(ValueError, match="'ghost' is unknown"):
        figures.get("ghost")


@pytest.fixture(scope="module")
def oracle_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracles")
    written = figures.get("oracles").reproduce(out, quick=True)
    return out, written


def test_oracles_write_valid_pngs_runs_and_results(oracle_output):
    out, written = oracle_output
    assert all(path.exists() for path in written)
    pngs = sorted(p.name for p in written if p.suffix == ".png")
    assert pngs == ["gd_vs_flow_order.png", "phase_portrait.png", "saxe_modes.png"]
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_SIGNATURE
            assert matplotlib.image.imread(path).shape[0] > 300
    runs = [p for p in written if p.suffix == ".npz"]
    assert {p.name for p in runs} >= {"saxe_flow.npz", "saxe_gd.npz", "phase_gd.npz"}
    assert all(gf.load(p).success for p in runs)
    assert out / "results.json" in written


def test_oracle_numbers_meet_the_closed_forms(oracle_output):
    out, _ = oracle_output
    results = json.loads((out / "results.json").read_text())
    saxe = results["saxe_modes"]
    # event "u_α = s_α/2" located at the closed-form half time to 1e-6 relative (issue 3)
    assert max(saxe["half_time_rel_error"]) < 1e-6
    # flows within 5 × (atol + rtol·‖y‖) of the closed forms
    assert saxe["flow_max_normalised_error"] < 5
    assert results["phase_portrait"]["flow_max_normalised_error"] < 5
    # GD (η = 0.05) visibly lags the flow: the figure shows a real difference
    assert saxe["gd_max_abs_error"] > 0.01
    for case in results["gd_vs_flow_order"].values():
        assert abs(case["order"] - 1) < 0.1
        assert np.all(np.diff(case["errors"]) < 0)  # smaller η, smaller distance


def test_saxe_flow_run_matches_the_closed_form_modes(oracle_output):
    out, _ = oracle_output
    from gradflow.models.linear_net import LinearNet

    flow = gf.load(out / "runs" / "saxe_flow.npz")
    net = LinearNet.paper()
    exact = net.mode_strengths(flow.t)
    # rtol 1e-8, atol 1e-12 (figures.oracles): global error of RK45 stays below 5e-8 here
    np.testing.assert_allclose(flow.observables["modes"], exact, rtol=5e-8, atol=1e-10)


@pytest.mark.slow
def test_full_oracle_reproduction_meets_the_closed_forms(tmp_path):
    written = figures.get("oracles").reproduce(tmp_path, quick=False)
    assert len([p for p in written if p.suffix == ".png"]) == 3
    results = json.loads((tmp_path / "results.json").read_text())
    assert max(results["saxe_modes"]["half_time_rel_error"]) < 1e-6
    assert results["saxe_modes"]["flow_max_normalised_error"] < 5
    assert results["phase_portrait"]["flow_max_normalised_error"] < 5
    for case in results["gd_vs_flow_order"].values():
        assert len(case["lrs"]) == 7 and abs(case["order"] - 1) < 0.05
