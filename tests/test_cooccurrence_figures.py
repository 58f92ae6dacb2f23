"""Tests of gradflow.figures.cooccurrence (Figure 1 of Yang et al., NeurIPS 2024).

The quick reproduction (400 GD steps, flow to t = 4) runs by default; the full one
(30,000 steps, t = 300, the paper's Appendix-A setting) is marked slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradflow as gf
from gradflow.figures import cooccurrence as fig


def _check_outputs(paths, out):
    names = {p.name for p in paths}
    assert {"figure1.png", "balancing.png", "phase1_theory.png", "results.json"} <= names
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    flow = gf.load(out / "runs" / "flow.npz")
    assert flow.kind == "flow" and len(flow.t) <= fig.SAVED_RECORDS
    return results


def _check_figure_laws(paper, series_file):
    """What Figure 1 shows (spec §8.1, Theorem 3.2): Phase 1 ends within the first steps
    at this init (spec §8.2 Run B: by step 9; a few dozen here); attention correlations
    μ1-μ2 rise and target-common fall over Phase 2 (Lemma 4.7), in GD and in the flow;
    every per-type loss ends far below its start."""
    assert 1 <= paper["gd_phase1_end_step"] <= 100
    assert paper["flow_phase1_end_t"] == pytest.approx(paper["gd_phase1_end_step"] * 0.01, abs=0.02)
    for kind in ("gd", "flow"):
        dM = np.array(paper[kind]["delta_M[key,query] (mu1..mu3)"])
        assert dM[1, 0] > 0 and dM[0, 1] > 0 and dM[2, 0] < 0 and dM[2, 1] < 0
        M = series_file[f"{kind}/attention_correlation"]
        tl = series_file[f"{kind}/type_loss"]
        assert np.all(tl[-1] < tl[0] / 10)
        assert np.all(np.isfinite(M))


def test_reproduce_quick(tmp_path):
    """Quick mode writes the three PNGs, the thinned runs, series.npz and results.json; the
    GD and flow losses at t = 4 agree to first order in η (relative 1e-2: the measured
    O(η) gap is a few 1e-4); the theory-like run shows Phase 1 (types 2/3 rise, G signs)."""
    paths = fig.reproduce(tmp_path, quick=True)
    results = _check_outputs(paths, tmp_path)
    paper, theory = results["paper"], results["theory"]
    with np.load(tmp_path / "series.npz") as series:
        _check_figure_laws(paper, series)
    assert paper["final_loss_rel_diff_gd_vs_flow"] < 1e-2
    assert all(rise > 0 for rise in theory["type2_type3_loss_rise"])
    assert all(0 < t < theory["T1"] for t in theory["type2_type3_loss_peak_times"])
    G = theory["G_at_T1"]
    assert G[0] > 0 and G[1] > 0 and G[2] < 0


@pytest.mark.slow
def test_reproduce_full(tmp_path):
    """The paper's run: GD η = 0.01 for 30,000 steps and gradient flow to t = 300 end at the
    same loss within 1e-3 relative (the issue's target for the flow; GD's O(η) error is
    measured at ~2e-4) with the flow using at most 1,000 gradient calls (RK45 at rtol 1e-6;
    the issue reports 452)."""
    paths = fig.reproduce(tmp_path, quick=False)
    results = _check_outputs(paths, tmp_path)
    paper = results["paper"]
    with np.load(tmp_path / "series.npz") as series:
        _check_figure_laws(paper, series)
    assert paper["steps"] == 30_000
    assert paper["final_loss_rel_diff_gd_vs_flow"] < 1e-3
    assert paper["flow"]["nfev"] <= 1000
