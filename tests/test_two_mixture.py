"""Two-mixture model R: gradients, the Gram system, the fast path, invariances, input errors.

Spec ``specs/two_mixture.md`` §5 (gradients), §6.2 (Gram system), §13 (test list).  The
dynamics (laws L1-L8, Algorithm 1, K = 3) are in ``test_two_mixture_dynamics.py``.
"""

import itertools
import json

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.two_mixture import (
    TwoMixture,
    TwoMixtureGram,
    logistic_g,
    logistic_loss,
    population,
    sigmoid,
    softplus,
)

# every switch that changes the formulas (spec §13: one-hot and random bases, L > K + 1,
# κ != 1, K = 2 and 3, both pools, softplus, absent irrelevant signals, b trained, a sample)
SWITCHES = [
    {},
    {"L": 5, "d": 7, "basis": "random", "kappa": 0.5, "m": 6},
    {"K": 3, "m": 4},
    {"pool": "post_relu"},
    {"activation": "softplus"},
    {"irrelevant": "absent"},
    {"train_b": True},
    {"population": "sample", "n": 16, "basis": "random", "d": 6, "path": "matmul"},
]


def generic_point(model, rng):
    """Far-from-uniform attention and a mix of active and inactive ReLUs (spec §5)."""
    p = model.init_params(rng)
    p["w"] = 0.7 * rng.standard_normal(p["w"].shape)
    p["b"] = 0.3 * rng.standard_normal(2)
    p["W_K"] = rng.standard_normal(p["W_K"].shape)
    p["W_Q"] = rng.standard_normal(p["W_Q"].shape)
    return p


def entrywise_derivatives(model, params, name):
    """Central differences (ε = 1e-6) and complex step (h = 1e-30) for every entry."""
    x = params[name]
    fd = np.zeros_like(x)
    cs = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus = {k: v.copy() for k, v in params.items()}
        minus = {k: v.copy() for k, v in params.items()}
        plus[name][idx] += 1e-6
        minus[name][idx] -= 1e-6
        fd[idx] = (model.loss(plus) - model.loss(minus)) / 2e-6
        cplx = {k: v.astype(complex) for k, v in params.items()}
        cplx[name][idx] += 1e-30j
        cs[idx] = np.imag(model.loss(cplx)) / 1e-30
    return fd, cs


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(map(str, s.values())))
def test_gradient_every_entry_fd_and_complex_step(switches):
    model = TwoMixture(**{"m": 5, **switches})
    rng = np.random.default_rng(1)
    params = generic_point(model, rng)
    fw = model.forward(params)
    # the point is informative: attention far from uniform, both ReLU states present
    assert fw["p"].min() < 0.05 and fw["p"].max() > 0.5
    if model.activation == "relu":
        assert 0 < np.mean(fw["u"] > 0) < 1
    grad = model.grad(params)
    for name in ("w", "b", "W_K", "W_Q"):
        fd, cs = entrywise_derivatives(model, params, name)
        scale = np.abs(cs).max()
        # central differences: truncation ε²·L''' ~ 1e-12 and round-off eps·L/ε ~ 1e-10,
        # relative to gradients of order 1e-2..1: 1e-6 (spec §13)
        assert np.abs(fd - grad[name]).max() <= 1e-6 * scale, name
        # complex step has no cancellation: agreement to a few ulps of the largest entry
        assert np.abs(cs - grad[name]).max() <= 1e-12 * scale, name


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(map(str, s.values())))
def test_check_model_for_every_switch(switches):
    model = TwoMixture(**switches)
    params = generic_point(model, np.random.default_rng(2))
    assert gf.check_model(model, params, rng=3).ok


def test_check_model_at_init_and_near_it():
    # the default configuration at the initialisation (w = 0: attention gradient exactly 0)
    assert gf.check_model(TwoMixture(), rng=0).ok


def test_primitives_against_closed_forms():
    z = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    np.testing.assert_allclose(logistic_loss(z)[1:4], np.log1p(np.exp(-z[1:4])), rtol=1e-15)
    assert logistic_loss(z)[0] == 800.0 and logistic_loss(z)[-1] == 0.0
    np.testing.assert_allclose(logistic_g(z[1:4]), 1 / (1 + np.exp(z[1:4])), rtol=1e-15)
    np.testing.assert_allclose(sigmoid(z[1:4]), 1 / (1 + np.exp(-z[1:4])), rtol=1e-15)
    np.testing.assert_allclose(softplus(z[1:4]), np.log1p(np.exp(z[1:4])), rtol=1e-15)
    # complex step through softplus at the branch point u = 0: derivative 1/2
    assert np.imag(softplus(np.array([1e-30j]))[0]) / 1e-30 == pytest.approx(0.5, abs=1e-15)


# --- the Gram system (§6.2) ---------------------------------------------------------------
def test_gram_loss_and_gamma_match_the_weights():
    model = TwoMixture(m=8, basis="random", d=5)
    gram = TwoMixtureGram.from_weights(model)
    params = generic_point(model, np.random.default_rng(4))
    g = model.gram(params)
    assert gram.loss(g) == pytest.approx(model.loss(params), rel=1e-14)
    # Γ = ∂L/∂P against the complex step on P, entry by entry
    gamma = gram.gamma(g)
    cs = np.zeros_like(gamma)
    for idx in np.ndindex(gamma.shape):
        cp = {k: v.astype(complex) for k, v in g.items()}
        cp["P"][idx] += 1e-30j
        cs[idx] = np.imag(gram.loss(cp)) / 1e-30
    assert np.abs(cs - gamma).max() <= 1e-13 * np.abs(cs).max()
    # chain rule ∇W_Q = κ W_K Γ, ∇W_K = κ W_Q Γᵀ (§5)
    gw = model.grad(params)
    np.testing.assert_allclose(gw["W_Q"], model.kappa * params["W_K"] @ gamma, atol=1e-15)
    np.testing.assert_allclose(
        gw["W_K"], model.kappa * params["W_Q"] @ gamma.swapaxes(1, 2), atol=1e-15
    )


def test_gram_velocity_equals_the_weight_flow_pushed_forward():
    """d/dt (κ W_Kᵀ W_Q, κ W_Kᵀ W_K, κ W_Qᵀ W_Q) under weight GF = the Gram field."""
    model = TwoMixture(m=8, kappa=0.7)
    gram = TwoMixtureGram.from_weights(model)
    params = generic_point(model, np.random.default_rng(5))
    g = model.grad(params)
    WK, WQ, dWK, dWQ = params["W_K"], params["W_Q"], -g["W_K"], -g["W_Q"]
    k = model.kappa

    def t(a):
        return a.swapaxes(1, 2)

    dP = k * (t(dWK) @ WQ + t(WK) @ dWQ)
    dA = k * (t(dWK) @ WK + t(WK) @ dWK)
    dB = k * (t(dWQ) @ WQ + t(WQ) @ dWQ)
    field = gram.grad(model.gram(params))
    for name, dot in (("P", dP), ("A", dA), ("B", dB)):
        np.testing.assert_allclose(-field[name], dot, rtol=0, atol=1e-14 * np.abs(dot).max())
    np.testing.assert_allclose(field["w"], g["w"], rtol=0, atol=1e-15)


def test_gram_flow_equals_weight_flow_to_t100():
    """Spec §13: Gram GF == weight GF (tol 1e-8 at T = 100, m = 8)."""
    model = TwoMixture(m=8)
    gram = TwoMixtureGram.from_weights(model)
    theta0 = model.init_params(np.random.default_rng(3))
    kw = {"method": "DOP853", "rtol": 1e-10, "t_eval": [50.0, 100.0], "observables": False}
    weights = gf.integrate_flow(model, theta0, (0, 100), **kw)
    reduced = gf.integrate_flow(gram, model.gram(theta0), (0, 100), **kw)
    assert weights.status == reduced.status == "finished"
    pushed = model.gram(weights.final_params)
    for name in ("w", "P", "A", "B"):
        ref = reduced.final_params[name]
        # both runs carry a global error ~ rtol·T·|y|; 1e-8 leaves a factor 10 over rtol·T
        err = np.abs(pushed[name] - ref).max() / (1e-10 + np.abs(ref).max())
        assert err < 1e-8, (name, err)
    # and the run went somewhere: the consistent samples are learned, the attention moved
    obs = gram.observables(reduced.final_params)
    assert obs["L_cons"] < 0.2 and np.abs(obs["P"]).max() > 0.1


def test_gram_init_is_the_averaged_initialisation():
    gram = TwoMixtureGram(omega2=0.3)
    p = gram.init_params()
    assert np.all(p["P"] == 0) and np.all(p["w"] == 0)
    np.testing.assert_array_equal(p["A"][0], 0.3 * np.eye(4))
    # the finite-width Grams concentrate at it: κ W_Kᵀ W_K -> ω² I as m grows
    wide = TwoMixture(m=20000, omega2=0.3)
    g = wide.gram(wide.init_params(np.random.default_rng(0)))
    # entries of κ W_Kᵀ W_K - ω² I have standard deviation ω²·sqrt(2/m) <= 0.003
    assert np.abs(g["A"] - p["A"]).max() < 0.02 and np.abs(g["P"]).max() < 0.02
    # the Gram field's w and b blocks are the gradient of the loss
    assert gf.check_model(gram, blocks=("w",), rng=0).ok


# --- fast path, invariances ------------------------------------------------------------
def test_matmul_path_equals_einsum_path():
    rng = np.random.default_rng(6)
    kw = {"population": "sample", "n": 40, "basis": "random", "d": 40, "m": 7, "L": 4}
    fast, slow = TwoMixture(**kw, path="matmul"), TwoMixture(**kw, path="einsum")
    np.testing.assert_array_equal(fast.X, slow.X)
    params = generic_point(fast, rng)
    lf, gfast = fast.loss_and_grad(params)
    ls, gslow = slow.loss_and_grad(params)
    assert lf == pytest.approx(ls, rel=1e-14)
    for name in gfast:
        scale = np.abs(gslow[name]).max()
        assert np.abs(gfast[name] - gslow[name]).max() <= 1e-13 * scale, name
    assert TwoMixture(**kw)._matmul  # "auto" takes the matmul path


def test_token_permutation_invariance():
    model = TwoMixture(L=5, m=6, basis="random", d=6)
    params = generic_point(model, np.random.default_rng(7))
    rng = np.random.default_rng(8)
    perm = np.stack([rng.permutation(model.L) for _ in range(model.n)])
    Xp = np.take_along_axis(model.X, perm[:, :, None], axis=1)
    f = model.forward(params)["f"]
    fp = model.forward(params, Xp)["f"]
    assert np.abs(f - fp).max() <= 1e-14 * max(1.0, np.abs(f).max())


def test_loss_and_grad_shares_the_forward_pass():
    model = TwoMixture(m=4)
    params = generic_point(model, np.random.default_rng(9))
    model.reset_counts()
    loss, grad = model.loss_and_grad(params)
    assert model.counts["loss_and_grad"] == 1 and model.counts["loss"] == 0
    assert loss == model.loss(params)
    for k, v in model.grad(params).items():
        np.testing.assert_array_equal(v, grad[k])


# --- data ------------------------------------------------------------------------------
@pytest.mark.parametrize("K", [2, 3])
def test_population_lists_every_configuration_once(K):
    model = TwoMixture(K=K)
    assert model.n == K * 2**K and model.X.shape == (K * 2**K, K + 1, 2 * K)
    seen = {(int(k), tuple(s)) for k, s in zip(model.k, model.s, strict=True)}
    assert seen == set(itertools.product(range(K), itertools.product((1.0, -1.0), repeat=K)))
    np.testing.assert_array_equal(model.y, model.s[np.arange(model.n), model.k])
    np.testing.assert_array_equal(model.X[:, 0], model.z[model.k])  # the identifier token
    for j in range(K):
        np.testing.assert_array_equal(model.X[:, 1 + j], model.s[:, j : j + 1] * model.c[j])
    # hard = inconsistent signs: half for K = 2, 3/4 for K = 3 (spec §3)
    assert model.hard.mean() == (0.5 if K == 2 else 0.75)


def test_zero_padding_absent_signals_and_random_basis():
    model = TwoMixture(L=5, irrelevant="absent", basis="random", d=6)
    assert np.all(model.X[:, 3:] == 0)
    relevant = model.s[np.arange(model.n), model.k]
    for j in range(2):
        expected = np.where(model.k == j, relevant, 0.0)[:, None] * model.c[j]
        np.testing.assert_allclose(model.X[:, 1 + j], expected, atol=0)
    basis = np.vstack([model.z, model.c])
    np.testing.assert_allclose(basis @ basis.T, np.eye(4), atol=1e-14)


def test_population_function_matches_model_data():
    model = TwoMixture(K=3, L=6)
    data = population(3, 6, model.z, model.c)
    np.testing.assert_array_equal(data.X, model.X)


def test_sample_is_reproducible_and_balanced_in_law():
    a = TwoMixture(population="sample", n=4000, seed=11)
    b = TwoMixture(population="sample", n=4000, seed=11)
    np.testing.assert_array_equal(a.X, b.X)
    # k uniform on {0, 1} and y uniform on ±1: 4000 draws, 4 standard deviations = 0.032
    assert abs(a.k.mean() - 0.5) < 0.032 and abs(a.y.mean()) < 0.064
    assert abs(a.hard.mean() - 0.5) < 0.032


# --- parameters, observables, config ----------------------------------------------------
def test_init_observables_and_paper():
    model = TwoMixture.paper()
    assert (model.K, model.L, model.d, model.paper_lr) == (2, 3, 4, 0.1)
    p = model.init_params(np.random.default_rng(0))
    assert np.all(p["w"] == 0) and np.all(p["b"] == 0.5)
    # ω_0² = ω²/(κ m): the empirical variance of 2·64·4 Gaussian entries within 4 sd
    var = p["W_K"].var()
    assert abs(var - 0.2 / 64) < 4 * (0.2 / 64) * np.sqrt(2 / p["W_K"].size)
    obs = model.observables(p)
    assert obs["L"] == obs["L_hard"] == obs["L_cons"] == pytest.approx(np.log(2), abs=1e-15)
    assert obs["P"].shape == (2, 4, 4) and obs["attn"].shape == (2, 3, 3)
    assert obs["w_c"].shape == (2, 2) and np.all(obs["w_c"] == 0)
    np.testing.assert_allclose(obs["attn"].sum(-1), 1.0, atol=1e-15)
    assert model.trainable == ("w", "W_K", "W_Q")
    assert TwoMixture(train_b=True).trainable == ("w", "b", "W_K", "W_Q")
    assert model.dynamics == "staged"


def test_basis_scores_are_the_grams_on_the_basis():
    model = TwoMixture(m=5, basis="random", d=6)
    params = generic_point(model, np.random.default_rng(10))
    P = model.gram(params)["P"]
    basis = np.vstack([model.z, model.c])
    np.testing.assert_allclose(model.basis_scores(params), basis @ P @ basis.T, atol=1e-13)
    gram = TwoMixtureGram.from_weights(model)
    np.testing.assert_allclose(
        gram.basis_scores(model.gram(params)), model.basis_scores(params), atol=1e-13
    )


def test_config_is_json_and_rebuilds_the_model():
    model = TwoMixture(K=3, L=5, m=3, population="sample", n=20, seed=4, pool="post_relu")
    cfg = model.config()
    json.dumps(cfg)
    again = TwoMixture(**cfg)
    np.testing.assert_array_equal(again.X, model.X)
    gram = TwoMixtureGram(K=3, rho=2.0)
    assert TwoMixtureGram(**gram.config()).config() == gram.config()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"K": 1}, ValueError, "K must be >= 2"),
        ({"K": 2.0}, TypeError, "K must be an int"),
        ({"L": 2}, ValueError, "L must be >= 3"),
        ({"d": 3}, ValueError, "d must be >= 4"),
        ({"pool": "mean"}, ValueError, "pool must be one of"),
        ({"activation": "tanh"}, ValueError, "activation must be one of"),
        ({"basis": "haar"}, ValueError, "basis must be one of"),
        ({"population": "all"}, ValueError, "population must be one of"),
        ({"irrelevant": "zero"}, ValueError, "irrelevant must be one of"),
        ({"n": 10}, ValueError, "n is only for population='sample'"),
        ({"omega2": -1.0}, ValueError, "omega2 must be a positive"),
        ({"kappa": "1"}, TypeError, "kappa must be a number"),
        ({"train_b": 1}, TypeError, "train_b must be a bool"),
        ({"m": 0}, ValueError, "m must be >= 1"),
        ({"signals": [np.ones((3, 5))] * 2}, ValueError, "population='sample'"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TwoMixture(**kwargs)


def test_bad_params():
    model = TwoMixture()
    p = model.init_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"params\['w'\] has shape"):
        model.loss({**p, "w": np.zeros((2, 5))})
    with pytest.raises(ValueError, match="wrong names"):
        model.loss({"w": p["w"]})
    with pytest.raises(TypeError, match="float64"):
        model.grad({**p, "b": np.array([1, 1])})
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        model.init_params(0)
