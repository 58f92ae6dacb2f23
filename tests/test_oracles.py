"""The exact-solution oracles, checked against independent computations.

Quadratic: ``exact`` against ``scipy.linalg.expm``.  LinearNet: the closed form (Saxe et
al.'s sigmoidal solution) against a direct numerical solution of the scalar mode ODE,
``exact(t)`` against the matrix ODE by finite differences in time (this pins the time
convention τ), and the gradient/hvp through :func:`gradflow.check_model`.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import gradflow as gf
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic

# --- Quadratic ------------------------------------------------------------------------


def test_quadratic_exact_is_expm():
    model = Quadratic.stiff(6, 1e3, seed=1)
    theta0 = np.random.default_rng(0).standard_normal(6)
    for t in (0.0, 1e-3, 0.37, 2.0):
        np.testing.assert_allclose(
            model.exact(t, theta0), expm(-model.H * t) @ theta0, rtol=1e-10, atol=1e-13
        )
    stacked = model.exact(np.array([0.1, 0.2]), theta0)
    assert stacked.shape == (2, 6)
    np.testing.assert_allclose(stacked[1], expm(-0.2 * model.H) @ theta0, rtol=1e-10)


def test_quadratic_constructors():
    stiff = Quadratic.stiff(5, 1e4, seed=2)
    np.testing.assert_allclose(stiff.eigenvalues, np.geomspace(1, 1e4, 5), rtol=1e-10)
    assert np.allclose(stiff.H, stiff.H.T)
    paper = Quadratic.paper(kappa=4.0, angle=0.3)
    np.testing.assert_allclose(paper.eigenvalues, [1.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(np.abs(paper.eigenvectors[:, 0]), [np.cos(0.3), np.sin(0.3)])
    assert paper.config() == {"constructor": "paper", "kappa": 4.0, "angle": 0.3}
    assert Quadratic([[2, 0], [0, 3]]).config() == {"H": [[2.0, 0.0], [0.0, 3.0]]}
    obs = paper.observables({"theta": np.array([1.0, 2.0])})
    np.testing.assert_allclose(obs["eig_coords"], paper.eigenvectors.T @ [1.0, 2.0])


@pytest.mark.parametrize("model", [Quadratic.paper(), Quadratic.stiff(6, 100.0)])
def test_quadratic_passes_check_model(model):
    report = gf.check_model(model)
    assert report.ok


@pytest.mark.parametrize(
    ("H", "error", "match"),
    [
        ([[1.0, 2.0, 3.0]], ValueError, "H must be a square"),
        ([[1.0, 2.0], [0.0, 1.0]], ValueError, "H must be symmetric"),
        ([[1.0, np.nan], [np.nan, 1.0]], ValueError, "H contains non-finite"),
        ([[1j, 0], [0, 1]], TypeError, "H must be a real matrix"),
        (np.zeros((0, 0)), ValueError, "H must be a square"),
    ],
)
def test_quadratic_bad_hessian(H, error, match):
    with pytest.raises(error, match=match):
        Quadratic(H)


def test_quadratic_bad_stiff_arguments():
    with pytest.raises(ValueError, match="kappa must be"):
        Quadratic.stiff(4, 0.5)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        Quadratic.stiff(0)


# --- LinearNet ------------------------------------------------------------------------


def test_saxe_closed_form_solves_the_mode_ode():
    """u(t) of eq. (2) against solve_ivp on τ u̇ = 2u(s − u), for each mode and two τ."""
    for tau in (1.0, 2.5):
        net = LinearNet(s=(4.0, 1.0, 0.3), u0=(1e-3, 1e-2, 1e-4), tau=tau)
        t = np.linspace(0, 30, 61)
        sol = solve_ivp(
            lambda _t, u, s=net.s, tau=tau: 2 * u * (s - u) / tau,
            (0, 30),
            net.u0,
            t_eval=t,
            method="DOP853",
            rtol=1e-12,
            atol=1e-15,
        )
        np.testing.assert_allclose(net.mode_strengths(t), sol.y.T, rtol=1e-8)
        u_half = net.mode_strengths(net.half_time())
        np.testing.assert_allclose(np.diag(u_half), net.s / 2, rtol=1e-12)


def test_exact_solves_the_matrix_ode_with_tau():
    """d/dt exact(t) = −∇L(exact(t)) by central differences in t (the time convention)."""
    for tau in (1.0, 3.0):
        net = LinearNet.paper(tau=tau)
        for t in (0.5, 2.0, 4.0):
            h = 1e-5
            plus, minus = net.exact(t + h), net.exact(t - h)
            grad = net.grad(net.exact(t))
            for k in ("W1", "W2"):
                derivative = (plus[k] - minus[k]) / (2 * h)
                np.testing.assert_allclose(derivative, -grad[k], rtol=1e-6, atol=1e-9)
    p0 = LinearNet.paper().init_params(np.random.default_rng(0))
    exact0 = LinearNet.paper().exact(0.0)
    for k in p0:
        np.testing.assert_allclose(exact0[k], p0[k], atol=1e-15)


def test_half_time_doubles_with_tau():
    base, slow = LinearNet.paper(), LinearNet.paper(tau=2.0)
    np.testing.assert_allclose(slow.half_time(), 2 * base.half_time(), rtol=1e-14)


def test_linear_net_observables():
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    obs = net.observables(p0)
    np.testing.assert_allclose(obs["modes"], net.u0, rtol=1e-12)
    np.testing.assert_allclose(obs["conserved"], 0.0, atol=1e-15)  # aligned means balanced
    # the modes of the optimum Σ³¹ itself are s
    opt = {"W1": net.V.T.copy(), "W2": net.sigma31 @ net.V}
    padded = {
        "W1": np.vstack([opt["W1"], np.zeros((1, 8))]),
        "W2": np.hstack([opt["W2"], np.zeros((6, 1))]),
    }
    np.testing.assert_allclose(net.observables(padded)["modes"], net.s, rtol=1e-12)
    assert net.loss(padded) == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize(
    "net",
    [LinearNet.paper(), LinearNet.paper(init="random", init_scale=0.5, tau=2.0)],
    ids=["aligned", "random"],
)
def test_linear_net_passes_check_model(net):
    report = gf.check_model(net)
    assert report.ok


def test_check_model_catches_a_wrong_linear_net_gradient():
    class Wrong(LinearNet):
        def loss_and_grad(self, params):
            loss, grad = super().loss_and_grad(params)
            return loss, {"W1": grad["W1"], "W2": 1.01 * grad["W2"]}

    with pytest.raises(gf.checks.GradientCheckError, match="W2"):
        gf.check_model(Wrong(init="random", init_scale=0.5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s": (1.0, -1.0)}, "s must be a non-empty sequence of positive"),
        ({"s": (1.0, 2.0), "n_hidden": 1}, "len.s.=2 modes need"),
        ({"u0": 0.0}, "u0 must be positive"),
        ({"tau": 0.0}, "tau must be a positive"),
        ({"init": "orthogonal"}, "init must be 'aligned' or 'random'"),
        ({"n_in": 0}, "n_in must be a positive integer"),
    ],
)
def test_linear_net_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearNet(**kwargs)
    with pytest.raises(ValueError, match="exact.t. needs init='aligned'"):
        LinearNet(init="random").exact(1.0)
