"""gradient_descent, adam and sharpness against hand computations and closed forms."""

import warnings

import numpy as np
import pytest
from toymodels import TinyAttention

import gradflow as gf
from gradflow.descent import sharpness
from gradflow.flow import event
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic


def test_gd_is_the_matrix_power_on_a_quadratic():
    """On L = ½θᵀHθ, GD is θ_k = (I − ηH)^k θ₀ exactly."""
    model = Quadratic.stiff(5, 10.0)
    theta0 = np.random.default_rng(0).standard_normal(5)
    gd = gf.gradient_descent(model, {"theta": theta0}, lr=0.05, steps=40, record_every=7)
    assert gd.steps.tolist() == [0, 7, 14, 21, 28, 35, 40]
    np.testing.assert_allclose(gd.t, 0.05 * gd.steps, rtol=0, atol=0)
    M = np.eye(5) - 0.05 * model.H
    for k, theta in zip(gd.steps, gd.params["theta"], strict=True):
        np.testing.assert_allclose(theta, np.linalg.matrix_power(M, k) @ theta0, atol=1e-13)
    np.testing.assert_allclose(gd.loss, [model.loss({"theta": th}) for th in gd.params["theta"]])
    np.testing.assert_allclose(gd.grad_norm, np.linalg.norm(gd.params["theta"] @ model.H, axis=1))
    assert gd.kind == "gd" and gd.method == "gd" and gd.lr == 0.05 and gd.status == "finished"
    assert gd.nfev == 41  # one loss_and_grad per step plus the final point
    assert gd.observables["eig_coords"].shape == (7, 5)


def test_adam_matches_a_hand_computed_step():
    """Two Adam steps written out with torch.optim.Adam's formulas (bias-corrected)."""
    net = LinearNet.paper(init="random", init_scale=0.5)
    p0 = net.init_params(np.random.default_rng(0))
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    run = gf.adam(net, p0, lr=lr, steps=2)
    theta = {k: v.copy() for k, v in p0.items()}
    m = {k: np.zeros_like(v) for k, v in p0.items()}
    v = {k: np.zeros_like(v) for k, v in p0.items()}
    for step in (1, 2):
        g = net.grad(theta)
        for k in theta:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1**step)
            v_hat = v[k] / (1 - b2**step)
            theta[k] = theta[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
        for k in theta:
            np.testing.assert_allclose(run.params[k][step], theta[k], rtol=1e-14, atol=1e-16)
    # step 1 moves every entry by lr·g/(|g| + eps) ≈ lr·sign(g)
    step1 = run.params["W1"][1] - p0["W1"]
    np.testing.assert_allclose(np.abs(step1), lr, rtol=1e-5)
    assert run.kind == "adam" and run.metadata["betas"] == [0.9, 0.999]


@pytest.mark.parametrize("optimiser", ["gd", "adam"])
def test_frozen_parameters_never_move(optimiser):
    net = LinearNet.paper(init="random", init_scale=0.3)
    p0 = net.init_params(np.random.default_rng(1))
    run = getattr(gf, {"gd": "gradient_descent", "adam": "adam"}[optimiser])
    traj = run(net, p0, lr=0.05, steps=50, trainable=["W1"])
    assert np.all(traj.params["W2"] == p0["W2"])
    assert np.abs(traj.params["W1"][-1] - p0["W1"]).max() > 1e-3
    assert traj.metadata["trainable"] == ["W1"]
    # the gradient norm is over the trainable block only
    g = net.grad(traj.final_params)["W1"]
    assert traj.grad_norm[-1] == pytest.approx(np.linalg.norm(g))


def test_diverging_gd_stops_and_keeps_samples():
    model = Quadratic(np.diag([1.0, 10.0]))
    with pytest.warns(UserWarning, match="lr·λ_max"):
        with pytest.warns(RuntimeWarning, match=r"diverged: the loss is not finite at step \d+"):
            gd = gf.gradient_descent(
                model, {"theta": np.ones(2)}, lr=0.5, steps=10_000, record_every=100
            )
    assert gd.status == "diverged" and not gd.success
    # θ₂ is multiplied by 1 − 0.5·10 = −4 per step, so L ≈ 5·16^k = 5·2^{4k}: finite at
    # k = 255 (5·2^1020 ≈ 5.6e307) and inf at k = 256 (float64 max ≈ 1.8e308)
    k_last = int(gd.steps[-1])
    assert k_last == 255
    assert np.all(np.isfinite(gd.loss)) and np.all(np.isfinite(gd.params["theta"]))
    assert gd.steps[-2] % 100 == 0 and gd.steps[-1] == k_last  # last finite step kept
    np.testing.assert_allclose(gd.params["theta"][-1, 1], (-4.0) ** k_last, rtol=1e-12)


def test_stability_warning_only_above_two():
    model = Quadratic(np.diag([1.0, 10.0]))
    with pytest.warns(UserWarning, match=r"lr·λ_max = 0.21·10 = 2.1 > 2.*lr < 0.2 "):
        gf.gradient_descent(model, {"theta": np.ones(2)}, lr=0.21, steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gd = gf.gradient_descent(model, {"theta": np.ones(2)}, lr=0.19, steps=2)
    assert gd.metadata["sharpness0"] == pytest.approx(10.0, rel=1e-6)


def test_sharpness_with_hvp_and_with_finite_differences():
    model = Quadratic.stiff(8, 50.0, seed=2)
    assert sharpness(model, {"theta": np.ones(8)}) == pytest.approx(50.0, rel=1e-5)
    # negative-dominant spectrum: the top eigenvalue is 1, the largest in magnitude −5
    neg = Quadratic(np.diag([-5.0, -1.0, 0.5, 1.0]))
    assert sharpness(neg, {"theta": np.ones(4)}) == pytest.approx(1.0, rel=1e-5)
    # no hvp: central differences of the gradient, against the FD Hessian's eigenvalues
    toy = TinyAttention()
    p = toy.init_params(np.random.default_rng(0))
    assert not toy.has_hvp
    spec = gf.Params(p)
    x0 = spec.pack(p)
    h = 1e-5
    cols = []
    for i in range(spec.size):
        e = np.zeros(spec.size)
        e[i] = h
        gp = spec.pack(toy.grad(spec.unpack(x0 + e)))
        gm = spec.pack(toy.grad(spec.unpack(x0 - e)))
        cols.append((gp - gm) / (2 * h))
    H = np.array(cols)
    top = np.linalg.eigvalsh(0.5 * (H + H.T))[-1]
    assert sharpness(toy, p, iters=500, tol=1e-10) == pytest.approx(top, rel=1e-4)
    assert sharpness(toy, p, trainable=["v"]) > 0


def test_gd_events_fire_at_the_step_after_the_change():
    model = Quadratic(np.array([[1.0]]))
    half = event(lambda t, p: p["theta"][0] - 0.5, name="half", direction=-1)
    stop = event(lambda t, p: p["theta"][0] - 0.25, name="quarter", terminal=True)
    gd = gf.gradient_descent(
        model, {"theta": np.ones(1)}, lr=0.1, steps=100, record_every=50, events=[half, stop]
    )
    # θ_k = 0.9^k: 0.9^6 = 0.531, 0.9^7 = 0.478; 0.9^13 = 0.254, 0.9^14 = 0.229
    assert [(e["name"], round(e["t"], 12)) for e in gd.events] == [("half", 0.7), ("quarter", 1.4)]
    assert gd.status == "event" and gd.steps.tolist() == [0, 7, 14]


def test_progress_on_stderr(capsys):
    model = Quadratic.paper()
    gf.gradient_descent(model, {"theta": np.ones(2)}, lr=0.01, steps=20, progress=True)
    err = capsys.readouterr().err
    assert "gradflow gd" in err and "step=20/20" in err and "finished" in err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, "lr must be a positive finite number"),
        ({"lr": -0.1}, ValueError, "lr must be a positive finite number"),
        ({"lr": np.nan}, ValueError, "lr must be a positive finite number"),
        ({"lr": "0.1"}, TypeError, "lr must be a positive number"),
        ({"steps": 0}, ValueError, r"steps must be a positive integer \(>= 1\)"),
        ({"steps": 2.5}, TypeError, "steps must be a positive integer"),
        ({"record_every": 0}, ValueError, "record_every must be a positive integer"),
        ({"params0": {"x": np.ones(2)}}, ValueError, "params0 has the wrong names"),
        ({"params0": {"theta": np.ones(3)}}, ValueError, "params0.*has shape"),
        ({"params0": {"theta": np.array([np.inf, 1.0])}}, ValueError, "non-finite"),
        ({"trainable": ["W"]}, ValueError, "trainable names"),
    ],
)
@pytest.mark.parametrize("optimiser", ["gradient_descent", "adam"])
def test_bad_input_names_the_argument(optimiser, kwargs, error, match):
    args = {"params0": {"theta": np.ones(2)}, "lr": 0.1, "steps": 3}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        getattr(gf, optimiser)(
            Quadratic.paper(), args.pop("params0"), args.pop("lr"), args.pop("steps"), **args
        )


def test_adam_bad_betas():
    with pytest.raises(ValueError, match="betas must be a pair"):
        gf.adam(Quadratic.paper(), {"theta": np.ones(2)}, 0.1, 3, betas=(0.9, 1.0))
