"""`gradflow reproduce decision_list`: the quick figure set writes what it promises."""

import json

import numpy as np
import pytest

from gradflow.figures import decision_list as figs

PNGS = [
    "chain_collapse.png",
    "attention_maps.png",
    "w_columns.png",
    "margins.png",
    "scaling.png",
    "v_vs_p.png",
    "gd_vs_gf.png",
    "sharpness.png",
    "repeats.png",
]


@pytest.mark.slow
def test_quick_reproduction(tmp_path):
    paths = figs.reproduce(tmp_path, quick=True)
    names = {p.name for p in paths}
    for png in PNGS:
        assert png in names
        assert (tmp_path / png).stat().st_size > 10_000
    res = json.loads((tmp_path / "results.json").read_text())
    # the numbers behind the figures show the laws the tests check on their own
    assert res["chain"]["tau_star"] == pytest.approx(3308.4, abs=0.05)
    assert abs(res["chain"]["c2T"]["532.34"] / res["chain"]["tau_star"] - 1) < 5e-3
    full = res["theorem1_full"]
    assert full["T_perfect"] < full["bound"]
    assert full["accuracy_at_T"] == pytest.approx(1.0)
    rows = res["scaling"]["rows"]
    assert all(r["T_delta_1_over_L"] < r["bound"] for r in rows)
    assert res["scaling"]["delta_1_bound_violated_at_L"] == [256]
    assert res["v_vs_p"]["v_only"]["accuracy_max"] < 1
    assert res["v_vs_p"]["joint_random"]["T_perfect"] is not None
    assert abs(res["gd"]["order"]["order"] - 1) < 0.05
    assert res["repeats"]["repeats"]["T_perfect"] == pytest.approx(4.3116573, abs=2e-7)
    assert res["repeats"]["repeats"]["min_gap_at_T"][0] == pytest.approx(np.log(2), abs=1e-6)
    run = res["gd"]["sharpness"]["runs"]["1.0"]
    assert run["max_eta_lam"] < 2 and run["first_perfect_step"] <= run["window_end"]


def test_first_crossing_interpolates():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert figs._first_crossing(t, np.array([0.0, 0.5, 1.5, 3.0]), np.ones(4)) == pytest.approx(1.5)
    assert np.isnan(figs._first_crossing(t, np.zeros(4), np.ones(4)))
