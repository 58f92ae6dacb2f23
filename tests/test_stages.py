"""run_stages: one trajectory over stages with their own trainable sets and stop rules."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.flow import event
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic


@pytest.fixture
def net_and_p0():
    net = LinearNet.paper(init="random", init_scale=0.3)
    return net, net.init_params(np.random.default_rng(0))


def test_stages_concatenate_and_freeze(net_and_p0):
    net, p0 = net_and_p0
    stages = [
        gf.Stage(
            "W1 by flow",
            trainable=["W1"],
            kind="flow",
            t_end=1.0,
            options={"method": "RK45", "n_eval": 20},
        ),
        gf.Stage(
            "W2 by gd",
            trainable=["W2"],
            kind="gd",
            lr=0.01,
            steps=100,
            options={"record_every": 10},
        ),
        gf.Stage("both by adam", trainable=None, kind="adam", lr=0.001, t_end=0.05),
    ]
    run = gf.run_stages(net, p0, stages)
    assert run.kind == "staged" and run.status == "finished"
    assert run.method == "RK45+gd+adam"
    assert np.all(np.diff(run.t) > 0)  # time continues, the boundary sample is kept once
    s1, s2, s3 = run.stages
    assert (s1["t_start"], s1["t_end"]) == (0.0, 1.0)
    assert s2["t_start"] == 1.0 and s2["t_end"] == pytest.approx(2.0)
    assert s3["t_start"] == pytest.approx(2.0) and s3["t_end"] == pytest.approx(2.05)
    assert s1["start"] == 0 and s2["start"] == s1["stop"] - 1 and s3["start"] == s2["stop"] - 1
    assert s3["stop"] == len(run.t)
    assert [s["trainable"] for s in run.stages] == [["W1"], ["W2"], ["W1", "W2"]]
    assert [s["kind"] for s in run.stages] == ["flow", "gd", "adam"]
    # stage 1 leaves W2 at p0, stage 2 leaves W1 where stage 1 ended
    assert np.all(run.params["W2"][: s1["stop"]] == p0["W2"])
    w1_end = run.params["W1"][s1["stop"] - 1]
    assert np.all(run.params["W1"][s2["start"] : s2["stop"]] == w1_end)
    assert np.abs(run.params["W1"][-1] - w1_end).max() > 0  # adam moves both
    # stage 1 equals a plain flow of W1 alone
    alone = gf.integrate_flow(net, p0, (0, 1.0), trainable=["W1"], method="RK45", n_eval=20)
    np.testing.assert_array_equal(run.params["W1"][: s1["stop"]], alone.params["W1"])
    # stage 2 equals GD from the end of stage 1 (times shifted by 1)
    p1 = {"W1": w1_end, "W2": p0["W2"]}
    gd = gf.gradient_descent(net, p1, lr=0.01, steps=100, record_every=10, trainable=["W2"])
    np.testing.assert_allclose(run.t[s2["start"] : s2["stop"]], 1.0 + gd.t, rtol=1e-15)
    np.testing.assert_array_equal(run.params["W2"][s2["start"] : s2["stop"]], gd.params["W2"])
    assert run.nfev == sum(s["nfev"] for s in run.stages)
    assert run.steps is None
    assert run.observables["modes"].shape == (len(run.t), 3)


def test_stage_event_passes_on_to_the_next_stage(net_and_p0):
    net, p0 = net_and_p0
    level = 0.5 * net.loss(p0)
    halved = event(lambda t, p: net.loss(p) - level, name="loss_halved")
    stages = [
        gf.Stage("until halved", trainable=["W1"], t_end=50.0, event=halved),
        gf.Stage("then W2", trainable=["W2"], t_end=0.5),
    ]
    run = gf.run_stages(net, p0, stages)
    first, second = run.stages
    assert first["status"] == "event" and run.status == "finished"
    t_event = run.event_time("loss_halved")
    assert first["t_end"] == t_event < 50.0
    assert run.loss[first["stop"] - 1] == pytest.approx(level, rel=1e-6)
    assert second["t_start"] == t_event and second["t_end"] == pytest.approx(t_event + 0.5)


def test_gd_stage_event_uses_global_time():
    model = Quadratic(np.array([[1.0]]))
    seen = []

    def g(t, p):
        seen.append(t)
        return p["theta"][0] - 0.5

    stages = [
        gf.Stage("flow", trainable=None, t_end=0.1),
        gf.Stage("gd", trainable=None, kind="gd", lr=0.1, steps=100, event=g),
    ]
    run = gf.run_stages(model, {"theta": np.ones(1)}, stages)
    # θ = e^{-0.1}·0.9^k crosses 0.5 between k = 5 (0.533) and k = 6 (0.480)
    assert run.event_time("g") == pytest.approx(0.1 + 0.6)
    assert min(seen) >= 0.1 - 1e-15
    assert run.stages[1]["status"] == "event" and run.status == "event"


def test_a_diverging_stage_stops_the_run():
    model = Quadratic(np.diag([1.0, 10.0]))
    stages = [
        gf.Stage("ok", trainable=None, kind="gd", lr=0.01, steps=10),
        gf.Stage(
            "blows up",
            trainable=None,
            kind="gd",
            lr=0.5,
            steps=5000,
            options={"check_stability": False},
        ),
        gf.Stage("never run", trainable=None, t_end=1.0),
    ]
    with pytest.warns(RuntimeWarning, match="diverged"):
        run = gf.run_stages(model, {"theta": np.ones(2)}, stages)
    assert run.status == "diverged" and run.message.startswith("stage 'blows up'")
    assert [s["name"] for s in run.stages] == ["ok", "blows up"]
    assert np.all(np.isfinite(run.loss))
    # cumulative step index: 10 steps of stage 1, then k of stage 2, θ₂ = 0.9^10·(−4)^k
    k = int(run.steps[-1]) - 10
    assert run.params["theta"][-1, 1] == pytest.approx(0.9**10 * (-4.0) ** k, rel=1e-12)
    one_more = run.params["theta"][-1] - 0.5 * model.H @ run.params["theta"][-1]
    with np.errstate(over="ignore"):
        assert not np.isfinite(model.loss({"theta": one_more}))


def test_a_stalled_stage_stops_the_run():
    model = Quadratic.stiff(10, 1e4)
    stages = [
        gf.Stage("slow", trainable=None, t_end=100.0, options={"method": "RK45", "max_nfev": 300}),
        gf.Stage("never run", trainable=None, t_end=1.0),
    ]
    run = gf.run_stages(model, {"theta": np.ones(10)}, stages)
    assert run.status == "stalled" and "max_nfev=300" in run.message
    assert len(run.stages) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "sgd", "t_end": 1.0}, "kind must be one of"),
        ({"kind": "flow"}, "a flow stage needs t_end"),
        ({"kind": "flow", "t_end": -1.0}, "t_end must be positive"),
        ({"kind": "flow", "t_end": 1.0, "lr": 0.1}, "steps and lr apply to gd/adam"),
        ({"kind": "gd", "steps": 10}, "needs lr > 0"),
        ({"kind": "gd", "lr": 0.1}, "needs steps or t_end"),
        ({"kind": "gd", "lr": 0.1, "steps": 0}, "steps must be >= 1"),
    ],
)
def test_bad_stage(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gf.Stage("s", trainable=None, **kwargs)


def test_bad_stage_list():
    model = Quadratic.paper()
    p0 = {"theta": np.ones(2)}
    with pytest.raises(TypeError, match="stages must be a non-empty list"):
        gf.run_stages(model, p0, [])
    with pytest.raises(TypeError, match=r"stages\[0\] must be a gradflow.Stage"):
        gf.run_stages(model, p0, [{"name": "x"}])
    s = gf.Stage("same", trainable=None, t_end=1.0)
    with pytest.raises(ValueError, match="distinct names"):
        gf.run_stages(model, p0, [s, s])
    with pytest.raises(ValueError, match="trainable names"):
        gf.run_stages(model, p0, [gf.Stage("x", trainable=["nope"], t_end=1.0)])
    assert gf.Stage("gd", trainable=None, kind="gd", lr=0.1, t_end=1.0).steps == 10
