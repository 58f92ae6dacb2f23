"""compare and convergence_order: GD is explicit Euler for gradient flow (error O(η))."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic


def test_compare_against_closed_forms():
    """On a quadratic both sides are known: e^{−Ht}θ₀ and (I − ηH)^k θ₀."""
    model = Quadratic.stiff(4, 5.0, seed=1)
    theta0 = np.random.default_rng(0).standard_normal(4)
    flow = gf.integrate_flow(model, {"theta": theta0}, (0, 2), rtol=1e-10)
    gd = gf.gradient_descent(model, {"theta": theta0}, lr=0.02, steps=100, record_every=10)
    cmp = gf.compare(flow, gd)
    assert cmp.t.tolist() == pytest.approx(0.02 * np.arange(0, 101, 10))
    assert cmp.steps.tolist() == list(range(0, 101, 10))
    M = np.eye(4) - 0.02 * model.H
    expected = [
        np.linalg.norm(np.linalg.matrix_power(M, k) @ theta0 - model.exact(0.02 * k, theta0))
        for k in cmp.steps
    ]
    # the flow side carries the solver's error (~1e-9 here), far below the O(η) gap
    np.testing.assert_allclose(cmp.param_distance, expected, rtol=1e-5, atol=1e-9)
    assert cmp.param_distance[0] == 0
    exact_loss = [model.loss({"theta": model.exact(t, theta0)}) for t in cmp.t]
    np.testing.assert_allclose(cmp.loss_distance, np.abs(gd.loss - exact_loss), atol=1e-9)
    assert cmp.max_param_distance == pytest.approx(max(expected), rel=1e-5)
    assert cmp.trainable == ["theta"]


def test_gf_compare_is_the_function_even_after_importing_the_module():
    import sys

    import gradflow.compare  # noqa: F401  (binds nothing new: gradflow imported it eagerly)
    from gradflow.compare import Comparison, compare

    model = Quadratic.paper()
    p0 = {"theta": np.ones(2)}
    flow = gf.integrate_flow(model, p0, (0, 1))
    gd = gf.gradient_descent(model, p0, lr=0.1, steps=10)
    assert gf.compare is compare
    assert isinstance(gf.compare(flow, gd), Comparison)
    assert sys.modules["gradflow.compare"].compare is compare


def test_compare_needs_a_covering_dense_flow(tmp_path):
    model = Quadratic.paper()
    p0 = {"theta": np.ones(2)}
    short = gf.integrate_flow(model, p0, (0, 0.5))
    gd = gf.gradient_descent(model, p0, lr=0.01, steps=100)
    with pytest.raises(ValueError, match=r"flow covers t in \[0, 0.5\] but gd has times"):
        gf.compare(short, gd)
    loaded = gf.load(gf.integrate_flow(model, p0, (0, 2)).save(tmp_path / "f.npz"))
    with pytest.raises(ValueError, match="flow has no dense output"):
        gf.compare(loaded, gd)
    with pytest.raises(TypeError, match="must be gradflow.Trajectory"):
        gf.compare(short, "gd")


@pytest.mark.parametrize(
    ("model_name", "t_end"),
    [("quadratic", 2.0), ("linear_net", 2.0)],
)
def test_gd_converges_to_gf_at_first_order(model_name, t_end):
    """Fitted slope of log‖θ_GD(T/η) − θ_GF(T)‖ against log η is 1 ± 0.1."""
    if model_name == "quadratic":
        model = Quadratic.stiff(6, 10.0, seed=4)
    else:
        model = LinearNet.paper(init="random", init_scale=0.3)
    p0 = model.init_params(np.random.default_rng(5))
    lrs = [0.02, 0.01, 0.005, 0.0025]
    order, errors = gf.convergence_order(model, p0, t_end, lrs)
    assert abs(order - 1) < 0.1, (order, errors)
    assert np.all(np.diff(errors) < 0)
    # halving η halves the error (first order), within 10 %
    np.testing.assert_allclose(errors[:-1] / errors[1:], 2.0, rtol=0.1)


def test_convergence_order_on_frozen_subset():
    net = LinearNet.paper(init="random", init_scale=0.3)
    p0 = net.init_params(np.random.default_rng(6))
    order, errors = gf.convergence_order(net, p0, 1.0, [0.02, 0.01, 0.005], trainable=["W2"])
    assert abs(order - 1) < 0.1 and errors.shape == (3,)


def test_convergence_order_bad_input():
    model = Quadratic.paper()
    p0 = {"theta": np.ones(2)}
    with pytest.raises(ValueError, match="t_end/lr must be an integer number of steps"):
        gf.convergence_order(model, p0, 1.0, [0.3, 0.1])
    with pytest.raises(ValueError, match="at least two distinct learning rates"):
        gf.convergence_order(model, p0, 1.0, [0.1])
    with pytest.raises(ValueError, match="lrs must be positive"):
        gf.convergence_order(model, p0, 1.0, [0.1, -0.1])
    with pytest.raises(ValueError, match="t_end must be a positive number"):
        gf.convergence_order(model, p0, -1.0, [0.1, 0.05])
