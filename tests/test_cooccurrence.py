"""Tests of gradflow.models.cooccurrence: data, loss, hand gradients and the W -> u reduction.

Every formula is checked against something independent: the literal eq. (1) with dense
one-hot matrices and the paper's per-neuron Appendix-B gradients, central differences,
complex step, the second parametrisation of spec §5.3 and the closed Gram ODE of §6.2.
Engine-level tests (check_model, flows, GD, the phase laws) are in
``test_cooccurrence_dynamics.py``.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models.cooccurrence import (
    CoOccurrence,
    CoOccurrenceU,
    random_slot_count,
    sample_cooccurrence,
)

BLOCKS = ("W_Q", "W_K", "W_V", "W")


def far_from_uniform():
    """Spec §5.4 set-up: n=12, L=5, d=60, m=8, m1=6, all weights N(0, 0.7²).

    With this scale attention is far from uniform (spec: p in [0.029, 0.61]) and |F| is
    O(1)-O(10), so every term of the gradient, including the softmax backward, matters.
    """
    model = CoOccurrence(n=12, L=5, d=60, m=8, m1=6, seed=3)
    rng = np.random.default_rng(11)
    params = {k: rng.normal(0.0, 0.7, size=v) for k, v in model._shapes.items()}
    return model, params


def dense_reference(model, params):
    """Loss and gradient from the literal eq. (1) and the paper's Appendix-B formulas.

    One-hot matrices X (n, d, L), per-neuron sums over j written out (no u = Wᵀa trick,
    no d×d tables, no scatter): an independent derivation of spec §5.2.
    """
    W_Q, W_K, W_V, W = (params[k] for k in BLOCKS)
    a, y, n, m = model.a, model.y, model.n, model.m
    X = np.eye(model.d)[model.tokens].transpose(0, 2, 1)  # (n, d, L)
    Qm = np.einsum("md,ndl->nml", W_Q, X)  # q_l
    Km = np.einsum("md,ndl->nml", W_K, X)  # k_h
    Vm = np.einsum("md,ndl->nml", W_V, X)  # v_h = V^(i) columns
    scores = np.einsum("nmh,nml->nlh", Km, Qm) / math.sqrt(m)  # query l, key h
    P = np.exp(scores)
    P /= P.sum(-1, keepdims=True)
    wV = np.einsum("jm,nmh->njh", W, Vm)  # w_jᵀ v_h
    F = np.einsum("j,njh,nlh->n", a, wV, P)
    margin = y * F
    loss = np.mean(np.log1p(np.exp(-margin)))
    gy = y / (1.0 + np.exp(margin)) / n  # g_i y_i / n
    # ∂_t w_j = (1/n) Σ_i g_i y_i Σ_l a_j V p_l
    dW = np.einsum("n,j,nmh,nlh->jm", gy, a, Vm, P)
    # ∂_t W_V = (1/n) Σ_i g_i y_i Σ_l Σ_j a_j w_j (X p_l)ᵀ
    dWV = np.einsum("n,j,jm,ndh,nlh->md", gy, a, W, X, P)
    # centred values w_jᵀV - w_jᵀV p_l, per query l: (n, j, l, h)
    centred = wV[:, :, None, :] - np.einsum("njh,nlh->njl", wV, P)[..., None]
    # ∂_t W_K = 1/(n√m) Σ_i g_i y_i Σ_l Σ_j a_j q_l p_lᵀ diag(w_jᵀV - w_jᵀV p_l) Xᵀ
    dWK = np.einsum("n,j,nml,nlh,njlh,ndh->md", gy, a, Qm, P, centred, X) / math.sqrt(m)
    # ∂_t W_Q = 1/(n√m) Σ_i g_i y_i Σ_l Σ_j a_j K diag(Vᵀw_j - w_jᵀV p_l) p_l x_lᵀ
    dWQ = np.einsum("n,j,nmh,njlh,nlh,ndl->md", gy, a, Km, centred, P, X) / math.sqrt(m)
    return loss, {"W_Q": -dWQ, "W_K": -dWK, "W_V": -dWV, "W": -dW}, F, P


# --------------------------------------------------------------------------------------
# Data (spec §2)
# --------------------------------------------------------------------------------------
def test_sampler_types_and_tokens():
    """Definition 2.1 / Assumption 2.3(i): exact fractions 1/2, 1/6, 1/6, 1/6; μ3 exactly once
    per sentence; μ1 (token 0) in types 1, 2 only; μ2 (token 1) in types 1, 3 only; each at
    most once; y = +1 exactly for type 1."""
    tok, y, types = sample_cooccurrence(60, 5, 64, np.random.default_rng(0))
    assert np.bincount(types, minlength=5)[1:].tolist() == [30, 10, 10, 10]
    count = lambda k: (tok == k).sum(axis=1)  # noqa: E731
    assert np.all(count(2) == 1)
    assert np.array_equal(count(0), np.isin(types, (1, 2)).astype(int))
    assert np.array_equal(count(1), np.isin(types, (1, 3)).astype(int))
    assert np.array_equal(y, np.where(types == 1, 1.0, -1.0))
    assert tok.min() >= 0 and tok.max() < 64


def test_sampler_positions_uniform():
    """Positions of μ3 are uniform over [L] (spec §2.2 step 1): each of 5 positions gets
    1/5 of 30,000 sentences within 5 standard errors (sd = √(N p (1-p)) ≈ 69)."""
    tok, _, _ = sample_cooccurrence(30_000, 5, 64, np.random.default_rng(1))
    counts = np.bincount(np.argmax(tok == 2, axis=1), minlength=5)
    assert np.all(np.abs(counts - 6000) < 5 * math.sqrt(30_000 * 0.2 * 0.8))


def test_sampler_distinct_tokens_and_error():
    """Assumption 2.3(ii): with distinct=True each random token occurs at most once in the
    set; it needs d - 3 >= n (L - 7/3) (160 for n=60, L=5), else a clear ValueError."""
    tok, _, types = sample_cooccurrence(60, 5, 163, np.random.default_rng(2), distinct=True)
    rand = tok[tok >= 3]
    assert rand.size == random_slot_count(types, 5) == 160
    assert np.unique(rand).size == rand.size
    with pytest.raises(ValueError, match="distinct_tokens"):
        sample_cooccurrence(60, 5, 162, np.random.default_rng(2), distinct=True)
    with pytest.raises(ValueError, match="d >= 163"):
        CoOccurrence(n=60, L=5, d=64, distinct_tokens=True)


def test_sampler_iid_fractions():
    """Fresh samples (population loss) have i.i.d. types with probabilities 1/2, 1/6, 1/6,
    1/6: frequencies within 5 standard errors on 60,000 draws."""
    _, _, types = sample_cooccurrence(
        60_000, 5, 64, np.random.default_rng(3), exact_fractions=False
    )
    freq = np.bincount(types, minlength=5)[1:] / 60_000
    se = np.sqrt(np.array([0.5, 1 / 6, 1 / 6, 1 / 6]) * (1 - np.array([0.5, 1 / 6, 1 / 6, 1 / 6])))
    assert np.all(np.abs(freq - [0.5, 1 / 6, 1 / 6, 1 / 6]) < 5 * se / math.sqrt(60_000))


def test_model_exposes_data_and_paper_config():
    """Appendix A: n = 60 as 30/10/10/10, L = 5, d = 64, m = 128, m1 = 256; a is ±1."""
    model = CoOccurrence.paper(seed=0)
    cfg = model.config()
    assert (cfg["n"], cfg["L"], cfg["d"], cfg["m"], cfg["m1"]) == (60, 5, 64, 128, 256)
    assert model.tokens.shape == (60, 5) and model.tokens.dtype.kind == "i"
    assert model.y.shape == (60,) and set(model.types.tolist()) == {1, 2, 3, 4}
    assert model.a.shape == (256,) and set(model.a.tolist()) == {-1.0, 1.0}
    assert model.dynamics == "gradient flow" and model.name == "cooccurrence"
    assert CoOccurrence(**cfg).config() == cfg
    assert np.array_equal(CoOccurrence(**cfg).tokens, model.tokens)


@pytest.mark.parametrize("cls", [CoOccurrence, CoOccurrenceU])
def test_constructor_signature_is_visible(cls):
    """Both parametrisations show the real constructor arguments to help() and the API
    docs (they used to show ``(*args, **kwargs)``), and build the same shapes as before."""
    names = list(inspect.signature(cls).parameters)
    assert names == ["n", "L", "d", "m", "m1", "init", "init_scale", "distinct_tokens", "seed"]
    model = cls(n=12, L=4, d=20, m=8, m1=6)
    last = {"W": (6, 8)} if cls is CoOccurrence else {"u_bar": (8,)}
    assert model.param_shapes() == {"W_Q": (8, 20), "W_K": (8, 20), "W_V": (8, 20), **last}


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 61}, ValueError, "divisible by 6"),
        ({"L": 2}, ValueError, "L must be >= 3"),
        ({"d": 3}, ValueError, "d must be >= 4"),
        ({"m": 0}, ValueError, "m must be >= 1"),
        ({"m1": 0}, ValueError, "m1"),
        ({"n": 6.0}, TypeError, "n must be an int"),
        ({"init": "xavier"}, ValueError, "init must be one of"),
        ({"init_scale": -1.0}, ValueError, "init_scale"),
        ({"distinct_tokens": "yes"}, TypeError, "distinct_tokens"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    """Bad input gets an error that names the argument and what was expected."""
    with pytest.raises(exc, match=match):
        CoOccurrence(**{"n": 12, "L": 4, "d": 20, "m": 8, "m1": 6, **kwargs})


def test_bad_params():
    """Wrong names, shapes, dtypes or non-finite entries give clear errors."""
    model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    params = model.init_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match="wrong names"):
        model.loss({k: v for k, v in params.items() if k != "W"})
    with pytest.raises(ValueError, match="shape"):
        model.grad({**params, "W": np.zeros((6, 7))})
    with pytest.raises(TypeError, match="float64"):
        model.loss({**params, "W_Q": params["W_Q"].astype(np.float32)})
    bad = params["W_V"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"), np.errstate(invalid="ignore"):
        model.loss_and_grad({**params, "W_V": bad})
    with pytest.raises(TypeError, match="Generator"):
        model.init_params(0)


# --------------------------------------------------------------------------------------
# Initialisation (spec §3.3)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["theory", "torch_default", "kaiming_normal"])
def test_init_scales(init):
    """Sample standard deviations match σ0, σ1 of each init within 5 % (thousands of
    entries: relative sd of a sample std ≈ 1/√(2N) < 2 %); r(0) = ‖Wᵀa‖² ≈ σ1² m m1
    (Lemma D.6 / Theorem E.27) within 20 % (it is a chi-square with m degrees of freedom:
    relative sd √(2/m) = 8.8 % at m = 256)."""
    model = CoOccurrence(n=12, L=5, d=64, m=256, m1=128, init=init)
    params = model.init_params(np.random.default_rng(5))
    s0, s1 = model.sigmas
    for k in ("W_Q", "W_K", "W_V"):
        assert params[k].std() == pytest.approx(s0, rel=0.05)
    assert params["W"].std() == pytest.approx(s1, rel=0.05)
    r0 = model.observables(params)["r"]
    assert r0 == pytest.approx(s1**2 * model.m * model.m1, rel=0.2)


def test_theory_init_is_near_uniform_and_small_output():
    """Cor. D.2 and Lemma D.8 at c = 0.1: attention p = 1/L ± Õ(1/(Lm)) and |F(0)| ≤
    2σ0σ1√(2 L m1 m log(2Ln/δ)) (δ = 0.01)."""
    model = CoOccurrence(n=60, L=5, d=200, m=256, m1=64, init_scale=0.1, distinct_tokens=True)
    params = model.init_params(np.random.default_rng(0))
    s0, s1 = model.sigmas
    bound = 2 * s0 * s1 * math.sqrt(2 * 5 * 64 * 256 * math.log(2 * 5 * 60 / 0.01))
    assert np.max(np.abs(model.outputs(params))) <= bound
    assert model.observables(params)["attention_deviation"] < 1 / (5 * 256) * 10


# --------------------------------------------------------------------------------------
# Loss and gradients (spec §4-5)
# --------------------------------------------------------------------------------------
def test_loss_and_grad_match_dense_appendix_b():
    """Spec §5.2: the table/scatter gradient equals the paper's per-neuron Appendix-B
    formulas evaluated literally with one-hot X (spec §5.4 reports 3e-16); we allow 1e-12
    relative (a few hundred roundings on O(10) numbers)."""
    model, params = far_from_uniform()
    loss, grad = model.loss_and_grad(params)
    ref_loss, ref_grad, ref_F, ref_P = dense_reference(model, params)
    assert ref_P.min() < 0.1 and ref_P.max() > 0.5  # attention really far from uniform
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(model.outputs(params), ref_F, rtol=1e-12, atol=1e-12)
    for k in BLOCKS:
        err = np.max(np.abs(grad[k] - ref_grad[k])) / np.max(np.abs(ref_grad[k]))
        assert err < 1e-12, (k, err)


def test_grad_central_differences_every_entry():
    """Spec §10.1: central differences (eps = 1e-6) on every entry of every block agree
    with the hand gradient to 1e-6 relative (truncation eps² ~ 1e-12 plus round-off
    1e-16/1e-6 ~ 1e-10 relative to O(1) losses; the spec measured 3.7e-9)."""
    model, params = far_from_uniform()
    grad = model.grad(params)
    eps = 1e-6
    for k in BLOCKS:
        fd = np.empty_like(params[k])
        for idx in np.ndindex(params[k].shape):
            plus = {**params, k: params[k].copy()}
            minus = {**params, k: params[k].copy()}
            plus[k][idx] += eps
            minus[k][idx] -= eps
            fd[idx] = (model.loss(plus) - model.loss(minus)) / (2 * eps)
        err = np.max(np.abs(fd - grad[k])) / np.max(np.abs(fd))
        assert err < 1e-6, (k, err)


def test_grad_complex_step():
    """Complex step Im L(θ + i h v)/h = ∇L·v to machine precision (no cancellation): 20
    random directions per block, h = 1e-30, relative error < 1e-13."""
    model, params = far_from_uniform()
    grad = model.grad(params)
    rng = np.random.default_rng(0)
    for k in BLOCKS:
        for _ in range(20):
            v = rng.normal(size=params[k].shape)
            cs = model.loss({**params, k: params[k] + 1e-30j * v}).imag / 1e-30
            assert cs == pytest.approx(np.sum(grad[k] * v), rel=1e-13)


def test_loss_does_not_mutate_and_is_float():
    """Contract rule 6 and float64: inputs unchanged, loss a Python float, grads float64."""
    model, params = far_from_uniform()
    before = {k: v.copy() for k, v in params.items()}
    loss, grad = model.loss_and_grad(params)
    model.observables(params)
    assert isinstance(loss, float)
    assert all(grad[k].dtype == np.float64 and grad[k].shape == params[k].shape for k in BLOCKS)
    assert all(np.array_equal(before[k], params[k]) for k in BLOCKS)


def test_loss_stable_at_large_margins():
    """ℓ(x) = log(1+e^{-x}) for |x| ~ 1000 neither overflows nor loses the tiny tail:
    scaling W by s scales F by s, and L̂ → (1/n) Σ_{wrong} |y_i F_i| (exact asymptote)."""
    model, params = far_from_uniform()
    big = {**params, "W": params["W"] * 200.0}
    margins = model.margins(big)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = model.loss_and_grad(big)
    assert loss == pytest.approx(np.sum(np.maximum(-margins, 0)) / model.n, rel=1e-6)
    assert all(np.all(np.isfinite(g)) for g in grad.values())


# --------------------------------------------------------------------------------------
# The W -> u reduction (spec §5.3)
# --------------------------------------------------------------------------------------
def test_grad_W_is_rank_one_along_a():
    """Spec §5.3: ∇_W L̂ = -a (W_V z)ᵀ lies in span(a) ⊗ ℝ^m, so W moves only through u."""
    model, params = far_from_uniform()
    gW = model.grad(params)["W"]
    proj = np.outer(model.a, model.a @ gW) / model.m1
    assert np.max(np.abs(gW - proj)) < 1e-14 * np.max(np.abs(gW))


def test_reduced_model_matches_full_model():
    """Spec §5.3: with u_bar = Wᵀa/√m1 the reduced model has the same loss, outputs and
    observables, the same W_Q, W_K, W_V gradients, and u̇ = √m1 · (-∇u_bar) = m1 W_V z
    = aᵀ(-∇_W L̂) (the full model's velocity of u = Wᵀa)."""
    model, params = far_from_uniform()
    small = model.reduced()
    assert isinstance(small, CoOccurrenceU) and np.array_equal(small.tokens, model.tokens)
    rp = model.to_reduced(params)
    loss, grad = model.loss_and_grad(params)
    rloss, rgrad = small.loss_and_grad(rp)
    assert rloss == pytest.approx(loss, rel=1e-14)
    for k in ("W_Q", "W_K", "W_V"):
        np.testing.assert_allclose(rgrad[k], grad[k], rtol=1e-13, atol=1e-15)
    u_dot_full = model.a @ (-grad["W"])
    u_dot_reduced = math.sqrt(model.m1) * (-rgrad["u_bar"])
    np.testing.assert_allclose(u_dot_reduced, u_dot_full, rtol=1e-12, atol=1e-14)
    obs, robs = model.observables(params), small.observables(rp)
    for k in obs:
        np.testing.assert_allclose(robs[k], obs[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_reduced_gd_step_is_exact():
    """Spec §5.3: one GD step on W moves u = Wᵀa by exactly η m1 W_V z, the reduced step
    on u_bar (rate η) moves u = √m1 u_bar by the same amount: the new losses agree to
    round-off."""
    model, params = far_from_uniform()
    small = model.reduced()
    rp = model.to_reduced(params)
    lr = 1e-3
    g, rg = model.grad(params), small.grad(rp)
    new = {k: params[k] - lr * g[k] for k in BLOCKS}
    rnew = {k: rp[k] - lr * rg[k] for k in rp}
    assert small.loss(rnew) == pytest.approx(model.loss(new), rel=1e-13)
    np.testing.assert_allclose(model.to_reduced(new)["u_bar"], rnew["u_bar"], rtol=1e-12)


def test_reduced_init_is_reduction_of_full_init():
    """The same rng gives the full init and its reduction."""
    model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    small = model.reduced()
    full = model.init_params(np.random.default_rng(4))
    red = small.init_params(np.random.default_rng(4))
    for k, v in model.to_reduced(full).items():
        np.testing.assert_allclose(red[k], v, rtol=1e-14)


# --------------------------------------------------------------------------------------
# Observables and population loss
# --------------------------------------------------------------------------------------
def test_observables_definitions():
    """Observables against their definitions recomputed from the dense reference: per-type
    mean losses average to L̂ with weights |I_k|/n (spec §4); S_k = Σ g_i; G = uᵀW_Vμ_k;
    attention_correlation[i, j] = μ_iᵀ W_Kᵀ W_Q μ_j (row key); R and S2/S3 from S_k;
    κ = ‖∇L̂‖²/(r L̂²)."""
    model, params = far_from_uniform()
    obs = model.observables(params)
    loss, grad, F, P = dense_reference(model, params)
    ell = np.log1p(np.exp(-model.y * F))
    g = 1 / (1 + np.exp(model.y * F))
    frac = np.bincount(model.types, minlength=5)[1:] / model.n
    assert np.sum(frac * obs["type_loss"]) == pytest.approx(loss, rel=1e-12)
    for k in range(4):
        assert obs["S"][k] == pytest.approx(g[model.types == k + 1].sum(), rel=1e-12)
        assert obs["type_loss"][k] == pytest.approx(ell[model.types == k + 1].mean(), rel=1e-12)
    u = params["W"].T @ model.a
    np.testing.assert_allclose(obs["G"], (params["W_V"].T @ u)[:3], rtol=1e-12)
    np.testing.assert_allclose(
        obs["attention_correlation"][1, 0], params["W_K"][:, 1] @ params["W_Q"][:, 0], rtol=1e-12
    )
    S = obs["S"]
    assert obs["R"] == pytest.approx((S[1] + S[2] + S[3] - S[0]) / (S[0] - S[1]), rel=1e-12)
    assert obs["S2_over_S3"] == pytest.approx(S[1] / S[2], rel=1e-12)
    grad_sq = sum(np.sum(v**2) for v in grad.values())
    assert obs["kappa"] == pytest.approx(grad_sq / (u @ u * loss**2), rel=1e-10)
    assert obs["min_margin"] == pytest.approx(np.min(model.y * F), rel=1e-12)
    assert obs["attention_deviation"] == pytest.approx(np.max(np.abs(P - 0.2)), rel=1e-12)


def test_observable_velocities_match_finite_differences():
    """G_dot, attention_velocity (Ṁ) and value_velocity (Ȧ) are the time derivatives of G,
    M[:3,:3], A[:3,:3] along the flow θ̇ = -∇L̂: central differences of the observables
    along θ(±h) = θ ∓ h∇L̂ (h = 1e-6) agree to 1e-6 relative (O(h²) truncation)."""
    model, params = far_from_uniform()
    grad = model.grad(params)
    obs = model.observables(params)
    h = 1e-6
    plus = model.observables({k: params[k] - h * grad[k] for k in BLOCKS})
    minus = model.observables({k: params[k] + h * grad[k] for k in BLOCKS})
    for key, rate in (
        ("G", "G_dot"),
        ("attention_correlation", "attention_velocity"),
        ("value_correlation", "value_velocity"),
    ):
        fd = (plus[key] - minus[key]) / (2 * h)
        err = np.max(np.abs(fd - obs[rate])) / np.max(np.abs(fd))
        assert err < 1e-6, (key, err)


def test_population_loss_monte_carlo():
    """The MC population loss equals the exact mixture over types for a model whose F
    depends only on the type: with W_Q = W_K = 0 attention is uniform, S_h = 1 and F is the
    bag-of-words sum Σ_h G(x_h) (spec §3.2).  Make G zero on random tokens (W_V columns
    3.. set to 0): then F = G1+G2+G3, G1+G3, G2+G3, G3 per type and the population loss
    is Σ_k π_k ℓ(y_k F_k), matched within 5 MC standard errors."""
    model = CoOccurrence(n=12, L=5, d=30, m=8, m1=6)
    params = model.init_params(np.random.default_rng(0))
    params["W_Q"][:] = 0.0
    params["W_K"][:] = 0.0
    params["W_V"][:, 3:] = 0.0
    params["W_V"][:, :3] *= 30.0
    G = model.observables(params)["G"]
    F = np.array([G.sum(), G[0] + G[2], G[1] + G[2], G[2]])
    ell = np.log1p(np.exp(-np.array([1, -1, -1, -1]) * F))
    pi = np.array([1 / 2, 1 / 6, 1 / 6, 1 / 6])
    exact = np.sum(pi * ell)
    sd = math.sqrt(np.sum(pi * ell**2) - exact**2)
    est, err = model.population_loss(params, n_samples=40_000, return_error=True)
    assert abs(est - exact) < 5 * sd / math.sqrt(40_000) + 1e-15
    wrong = (np.array([1, -1, -1, -1]) * F <= 0).astype(float)
    assert abs(err - np.sum(pi * wrong)) < 5 * 0.5 / math.sqrt(40_000)
    with pytest.raises(ValueError, match="n_samples"):
        model.population_loss(params, n_samples=0)


# --------------------------------------------------------------------------------------
# The closed Gram system (spec §6.2)
# --------------------------------------------------------------------------------------
def test_gram_rhs_matches_chain_rule():
    """Spec §6.2: the Gram right-hand side (computed from z, Π and the Gram state alone)
    equals the time derivative of (r, G, A, M, B, C) obtained by the product rule from the
    weight-space velocities θ̇ = -∇L̂ (e.g. Ȧ = Ẇ_VᵀW_V + W_VᵀẆ_V), to 1e-12 relative (a
    few roundings on O(1) entries; the spec measured 5e-16)."""
    model, params = far_from_uniform()
    vel = {k: -v for k, v in model.grad(params).items()}
    W_Q, W_K, W_V, W = (params[k] for k in BLOCKS)
    u, u_dot = W.T @ model.a, vel["W"].T @ model.a
    expected = {
        "r": 2 * u @ u_dot,
        "G": vel["W_V"].T @ u + W_V.T @ u_dot,
        "A": vel["W_V"].T @ W_V + W_V.T @ vel["W_V"],
        "M": vel["W_K"].T @ W_Q + W_K.T @ vel["W_Q"],
        "B": vel["W_K"].T @ W_K + W_K.T @ vel["W_K"],
        "C": vel["W_Q"].T @ W_Q + W_Q.T @ vel["W_Q"],
    }
    rhs = model.gram_rhs(model.gram_state(params))
    for k, v in expected.items():
        err = np.max(np.abs(np.asarray(rhs[k]) - v)) / np.max(np.abs(v))
        assert err < 1e-12, (k, err)


def test_gram_ode_and_weight_flow_agree():
    """Spec §6.2: integrating the closed Gram ODE (4d² + d + 1 numbers, scipy RK45 directly)
    and the weight-space gradient flow (gradflow.integrate_flow), both at rtol 1e-10,
    atol 1e-12, give the same Gram state and loss at t = 1 and t = 3: differences
    normalised by 1e-8 + 1e-8·|y| (100× the requested rtol) stay below 1."""
    model = CoOccurrence(n=12, L=5, d=30, m=16, m1=12, init_scale=0.5, seed=6)
    params0 = model.init_params(np.random.default_rng(6))
    keys = ("r", "G", "A", "M", "B", "C")
    state0 = model.gram_state(params0)
    shapes = {k: np.shape(state0[k]) for k in keys}
    sizes = [int(np.prod(shapes[k])) for k in keys]

    def pack(state):
        return np.concatenate([np.ravel(state[k]) for k in keys])

    def unpack(vec):
        parts = np.split(vec, np.cumsum(sizes)[:-1])
        return {
            k: p.reshape(shapes[k]) if shapes[k] else p[0] for k, p in zip(keys, parts, strict=True)
        }

    gram = solve_ivp(
        lambda t, y: pack(model.gram_rhs(unpack(y))),
        (0.0, 3.0),
        pack(state0),
        method="RK45",
        rtol=1e-10,
        atol=1e-12,
        t_eval=[1.0, 3.0],
    )
    weights = gf.integrate_flow(
        model, params0, (0.0, 3.0), method="RK45", rtol=1e-10, atol=1e-12, t_eval=[0.0, 1.0, 3.0]
    )
    assert weights.loss[-1] < 0.9 * weights.loss[0]
    for j, t in enumerate((1.0, 3.0)):
        ref = pack(model.gram_state(weights.params_at_index(j + 1)))
        err = np.abs(gram.y[:, j] - ref) / (1e-8 + 1e-8 * np.abs(ref))
        assert err.max() < 1.0, (t, err.max())
        assert model.loss(weights.params_at_index(j + 1)) == pytest.approx(
            weights.loss[j + 1], rel=1e-14
        )
