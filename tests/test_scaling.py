"""Tests of gradflow.scaling: the power-law fit against closed forms and scipy.stats.linregress,
the coverage of its confidence interval, the plot helper, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from gradflow.scaling import PowerLawFit, fit_power_law, plot_power_law
from gradflow.sweep import RESULTS_FILE, read_table

SIZES = np.repeat([5.0, 10.0, 20.0, 40.0], 3)  # four sizes x three seeds, as in a sweep


def test_exact_power_law_is_recovered_exactly():
    fit = fit_power_law(SIZES, 0.7 * SIZES**-1.0)
    # rounding only: log-space residuals of an exact power law are ~1e-16
    assert fit.exponent == pytest.approx(-1.0, abs=1e-12)
    assert fit.prefactor == pytest.approx(0.7, rel=1e-12)
    assert fit.interval[1] - fit.interval[0] < 1e-10
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit.predict(8.0) == pytest.approx(0.7 / 8.0, rel=1e-12)


def test_fit_matches_linregress_and_the_t_quantile():
    rng = np.random.default_rng(1)
    y = 1.3 * SIZES**2 * np.exp(0.1 * rng.standard_normal(SIZES.size))
    fit = fit_power_law(SIZES, y, confidence=0.9)
    ref = stats.linregress(np.log(SIZES), np.log(y))
    assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert np.log(fit.prefactor) == pytest.approx(ref.intercept, rel=1e-12)
    t = stats.t.ppf(0.95, SIZES.size - 2)
    assert fit.interval == pytest.approx((ref.slope - t * ref.stderr, ref.slope + t * ref.stderr))
    lo, hi = np.log(fit.prefactor_interval)
    assert (hi - lo) / 2 == pytest.approx(t * ref.intercept_stderr, rel=1e-10)
    assert fit.r_squared == pytest.approx(ref.rvalue**2, rel=1e-12)
    assert fit.n == 12 and fit.confidence == 0.9
    assert "exponent" in str(fit) and "90% CI" in str(fit)


def test_noisy_data_exponent_lies_in_its_interval():
    rng = np.random.default_rng(7)
    y = 1.3 * SIZES**2 * np.exp(0.2 * rng.standard_normal(SIZES.size))
    fit = fit_power_law(SIZES, y)
    assert fit.contains(2.0)
    assert not fit.contains(1.0) and not fit.contains(3.0)  # and it is informative


@pytest.mark.parametrize("confidence", [0.8, 0.95])
def test_interval_coverage_over_repeated_draws(confidence):
    """Over 1000 draws of log-normal noise, the interval holds the true exponent in a fraction
    ``confidence`` of them: the binomial standard deviation is ≤ 0.0127, the band ±0.035 is
    more than 2.7 of them (a correct interval fails this test with probability < 0.007)."""
    rng = np.random.default_rng(2024)
    draws = 1000
    hits = 0
    for _ in range(draws):
        y = 3.0 * SIZES**-1.0 * np.exp(0.3 * rng.standard_normal(SIZES.size))
        hits += fit_power_law(SIZES, y, confidence=confidence).contains(-1.0)
    assert abs(hits / draws - confidence) < 0.035


def test_plot_draws_points_fit_and_theory():
    y = 2.0 * SIZES**2
    fig, ax = plt.subplots()
    fit = fit_power_law(SIZES, y)
    assert plot_power_law(SIZES, y, fit, theory_exponent=2, ax=ax, xlabel="K") is ax
    points, fitted, theory = ax.get_lines()
    assert np.array_equal(points.get_xdata(), SIZES)
    xs = fitted.get_xdata()
    assert np.allclose(fitted.get_ydata(), 2.0 * xs**2)
    # theory slope 2 through the geometric mean of the points: on this exact law, the same line
    assert np.allclose(theory.get_ydata(), 2.0 * theory.get_xdata() ** 2)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1].startswith("fit: slope 2.000") and labels[2] == "theory: slope 2"
    plt.close(fig)
    ax = plot_power_law(SIZES, y)  # fit computed, new axes
    assert len(ax.get_lines()) == 2
    plt.close(ax.figure)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        ([1, 2, 3], [1, 2], {}, ValueError, "same length"),
        ([1, 2], [1, 2], {}, ValueError, "at least 3 points"),
        ([2, 2, 2], [1, 2, 3], {}, ValueError, "2 distinct values"),
        ([1, 2, 0], [1, 2, 3], {}, ValueError, "x must be finite and positive"),
        ([1, 2, 3], [1, np.nan, 3], {}, ValueError, "y must be finite and positive"),
        ([[1, 2, 3]], [1, 2, 3], {}, ValueError, "x must be one-dimensional"),
        (["a", "b", "c"], [1, 2, 3], {}, TypeError, "x must be an array"),
        ([1, 2, 3], [1, 2, 3], {"confidence": 1.5}, ValueError, r"confidence must be in \(0, 1\)"),
    ],
)
def test_bad_input(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_power_law(x, y, **kwargs)


def test_plot_rejects_a_wrong_fit():
    with pytest.raises(TypeError, match="fit must be a PowerLawFit"):
        plot_power_law([1, 2, 3], [1, 2, 3], fit=(2.0, 1.0))
    assert isinstance(fit_power_law([1, 2, 3], [1, 2, 3]), PowerLawFit)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "png", "theory"),
    [
        ("scaling_icl_phase1.py", "icl_phase1_vs_K.png", 2),
        ("scaling_two_mixture_attention.py", "two_mixture_dP_vs_omega2.png", 1),
        ("scaling_decision_list_c.py", "decision_list_T_vs_c.png", -2),
        # quick co-occurrence sizes (m = 32..128) are below the 1/m regime: no law asserted
        ("scaling_cooccurrence_phase1.py", "cooccurrence_T1_vs_m.png", None),
    ],
)
def test_scaling_examples_quick(tmp_path, script, png, theory):
    """The examples' --quick versions run end to end: table, figure, fit; where the quick
    sizes are in the law's regime, the theory's exponent lies in the fitted interval."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / png).stat().st_size > 10_000
    fit = json.loads((out / "fit.json").read_text())
    _, rows = read_table(out / RESULTS_FILE)
    assert rows and all(r["status"] == "ok" for r in rows)
    if theory is not None:
        lo, hi = fit["interval"]
        assert lo <= theory <= hi, fit


def test_fit_as_dict_is_json_and_matches_the_fields():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    fit = fit_power_law(x, 3.0 * x**1.5 * np.array([1.0, 1.01, 0.99, 1.0]))
    back = json.loads(json.dumps(fit.as_dict()))
    assert back["exponent"] == fit.exponent
    assert tuple(back["interval"]) == tuple(fit.interval)
    assert back["n"] == 4 and back["r_squared"] == fit.r_squared
