"""ICLRegression (Huang, Cheng, Liang 2024): gradients, invariants, reduced ODEs, closed form.

Targets are the spec's numbers (``shared/specs/icl_convergence.md``), never values copied
from a run of this code.  The theorem laws L1-L6 are in ``test_icl_regression_laws.py``.
"""

import math

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.icl_regression import (
    ICLRegression,
    SymmetricColumn,
    UnderrepresentedColumn,
    attention_column_loss,
    imbalanced_p,
    mean_field_time,
    phase1_time,
    time_to_feature_loss,
)

P4 = np.array([0.5, 1 / 6, 1 / 6, 1 / 6])  # spec §6.4


def _random_Q(d, seed=1, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((d, d))


# ------------------------------------------------------------------------------------
# check_model in every mode (spec §5.5 sizes: d = 6, K = 4, N = 9, M = 50)
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("population", ["exact", "mean_field", "empirical"])
@pytest.mark.parametrize("include_query", [False, True])
@pytest.mark.parametrize("features", ["basis", "random"])
def test_check_model_every_mode(population, include_query, features):
    model = ICLRegression(
        K=4,
        N=9,
        p=[0.55, 0.15, 0.15, 0.15],
        d=6,
        features=features,
        population=population,
        include_query=include_query,
        M=50,
        M_test=50,
    )
    report = gf.check_model(model, rng=np.random.default_rng(0))
    assert report.ok
    # and far from the initialisation, where the attention is concentrated
    report = gf.check_model(model, params={"Q": _random_Q(6, scale=1.5)})
    assert report.ok


def test_complex_step_matches_hand_gradient_to_round_off():
    """Complex step has no cancellation: agreement to ~1e-15 shows analytic, shift-safe code."""
    model = ICLRegression(K=3, N=5, d=4, features="random", p=[0.5, 0.3, 0.2])
    Q = _random_Q(4, scale=2.0)
    G = model.grad({"Q": Q})["Q"]
    h = 1e-30
    Gc = np.empty_like(G)
    for i in range(4):
        for j in range(4):
            E = np.zeros((4, 4), complex)
            E[i, j] = 1j * h
            Gc[i, j] = np.imag(model.loss({"Q": Q + E})) / h
    assert np.abs(G - Gc).max() <= 1e-13 * np.abs(Gc).max()


# ------------------------------------------------------------------------------------
# The feature-space gradient and ∇_Q = Vfᵀ ∇_S Vf (spec §5.3)
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("include_query", [False, True])
def test_grad_Q_is_Vf_T_grad_S_Vf(include_query):
    model = ICLRegression(
        K=4, N=9, p=[0.5, 0.2, 0.2, 0.1], d=6, features="random", include_query=include_query
    )
    rng = np.random.default_rng(3)
    S = rng.standard_normal((4, 4))
    _, dS, _ = model.population_S(S)
    # central differences of S -> L(S), h = 1e-6 (spec §5.5); error ~ h² L''' + eps/h ~ 1e-10
    h = 1e-6
    fd = np.empty((4, 4))
    for m in range(4):
        for k in range(4):
            E = np.zeros((4, 4))
            E[m, k] = h
            fd[m, k] = (model.population_S(S + E)[0] - model.population_S(S - E)[0]) / (2 * h)
    assert np.abs(dS - fd).max() <= 1e-7 * np.abs(fd).max()  # spec §9 item 3: 1e-7
    # Q in the span of the features maps to that S; ∇_Q must be Vfᵀ ∇_S Vf
    Q = model.Vf.T @ S @ model.Vf
    G = model.grad({"Q": Q})["Q"]
    assert np.allclose(G, model.Vf.T @ fd @ model.Vf, rtol=0, atol=1e-7 * np.abs(fd).max())
    assert np.allclose(model.Vf @ G @ model.Vf.T, dS, rtol=0, atol=1e-15)
    # column sums of ∇_S vanish (shift invariance of softmax), spec §5.5: <= 1e-17
    assert np.abs(dS.sum(axis=0)).max() <= 1e-15


def test_spec_gradient_formulas_single_feature_groups():
    """∂ℓ/∂A = −2 attn_k ℓ and ∂ℓ/∂B_{k,n} = attn_n(attn_n + attn_k − Σ2) (spec §5.3)."""
    rng = np.random.default_rng(0)
    S = rng.standard_normal((5, 5))
    counts = rng.integers(0, 6, size=(7, 5)).astype(float)
    counts[:, 0] += 1
    loss, dloss, attn = attention_column_loss(S, counts, counts**2, np.arange(5))
    sigma2 = (attn**2).sum(axis=1)
    for k in range(5):
        a_k = attn[:, k, k]
        assert np.allclose(dloss[:, k, k], -2 * a_k * loss[:, k], atol=1e-15)
        for n in range(5):
            if n != k:
                expected = attn[:, n, k] * (attn[:, n, k] + a_k - sigma2[:, k])
                assert np.allclose(dloss[:, n, k], expected, atol=1e-15)
        others = np.delete(attn[:, :, k], k, axis=1)
        assert np.allclose(loss[:, k], 0.5 * ((1 - a_k) ** 2 + (others**2).sum(1)), atol=1e-15)


def test_initial_population_loss_closed_form():
    """L(0) = ½ Σ p_k[(1−p_k)² + Σ_{m≠k} p_m² + (1/N) Σ p_m(1−p_m)] (spec §4.2)."""
    for K, N, p in [(4, 9, P4), (3, 7, np.array([0.6, 0.3, 0.1])), (5, 6, None)]:
        model = ICLRegression(K=K, N=N, p=p)
        pp = model.p
        expected = 0.5 * sum(
            pp[k] * ((1 - pp[k]) ** 2 + np.sum(np.delete(pp, k) ** 2) + np.sum(pp * (1 - pp)) / N)
            for k in range(K)
        )
        assert math.isclose(model.loss(model.init_params()), expected, rel_tol=1e-13)


def test_empirical_loss_and_gradient_converge_to_exact_population():
    """Monte Carlo of spec §5.5: the sampled-w empirical loss estimates the exact population loss.

    Tolerance: 5 standard errors of the sample mean (measured on the sample itself).
    """
    kw = {"K": 3, "N": 5, "p": [0.5, 0.3, 0.2], "d": 4, "features": "random", "seed": 2}
    exact = ICLRegression(population="exact", **kw)
    emp = ICLRegression(population="empirical", M=200_000, M_test=1, **kw)
    Q = _random_Q(4, seed=5, scale=0.7)
    L_emp, G_emp = emp.loss_and_grad({"Q": Q})
    L_ex, G_ex = exact.loss_and_grad({"Q": Q})
    r = emp._empirical(Q)[2]["r"]
    se = np.std(0.5 * r**2) / math.sqrt(len(r))
    assert abs(L_emp - L_ex) < 5 * se
    # gradient: the spec reports 4e-3 agreement at 4e5 samples; at 2e5 allow 3x that
    assert np.abs(G_emp["Q"] - G_ex["Q"]).max() < 1.2e-2 * np.abs(G_ex["Q"]).max()


# ------------------------------------------------------------------------------------
# Data sampler and observables
# ------------------------------------------------------------------------------------
def test_sampler_builds_prompts_as_spec():
    model = ICLRegression(K=4, N=7, d=9, features="random", population="empirical", M=40)
    assert np.allclose(model.Vf @ model.Vf.T, np.eye(4), atol=1e-14)
    assert model.X.shape == (40, 7, 9) and model.y.shape == (40, 7)
    assert model.x_query.shape == (40, 9) and model.y_query.shape == (40,)
    assert np.allclose(model.X, model.Vf[model.token_ids])
    assert np.allclose(model.y, np.einsum("mnd,md->mn", model.X, model.w))
    assert np.allclose(model.y_query, np.einsum("md,md->m", model.x_query, model.w))
    # same seed, same data; another seed, other data
    again = ICLRegression(K=4, N=7, d=9, features="random", population="empirical", M=40)
    assert np.array_equal(again.X, model.X)
    other = ICLRegression(K=4, N=7, d=9, features="random", population="empirical", M=40, seed=1)
    assert not np.array_equal(other.token_ids, model.token_ids)


def test_observables_names_and_identities():
    model = ICLRegression(K=4, N=9, p=P4, d=5, features="random")
    S = np.random.default_rng(0).standard_normal((4, 4))
    obs = model.observables({"Q": model.Vf.T @ S @ model.Vf})
    assert np.allclose(obs["S"], S, atol=1e-13)
    assert np.allclose(obs["A"], np.diag(S), atol=1e-13)
    assert np.allclose(obs["B"][1, 0], S[0, 1], atol=1e-13)  # B_{k,n} = S[n, k]
    assert np.allclose(np.diag(obs["B"]), 0)
    assert np.allclose(obs["column_sum"], S.sum(axis=0), atol=1e-13)
    assert np.allclose(obs["attn"].sum(axis=0), 1, atol=1e-14)  # query excluded: sums to 1
    assert np.allclose(obs["attn_target"], np.diag(obs["attn"]))
    assert math.isclose(model.p @ obs["feature_loss"], model.loss({"Q": model.Vf.T @ S @ model.Vf}))
    # at Q = 0 the attention is uniform over tokens: E[attn_m] = E[c_m/N] = p_m
    obs0 = model.observables(model.init_params())
    assert np.allclose(obs0["attn"], P4[:, None] * np.ones(4), atol=1e-14)
    # self-attending query: attentions on the tokens sum to less than one
    selfq_model = ICLRegression(K=4, N=9, p=P4, include_query=True)
    selfq = selfq_model.observables(selfq_model.init_params())
    assert np.all(selfq["attn"].sum(axis=0) < 1)


def test_empirical_observables_per_feature():
    model = ICLRegression.paper()
    obs = model.observables(model.init_params())
    assert set(obs) >= {"attn", "feature_loss", "test_attn", "test_feature_loss", "S", "A", "B"}
    # Q = 0: attention is c_m/N, whose average over prompts is ~p_m = 0.2 (K = 5, N = 30);
    # 5000 test prompts: standard error of the mean ~ 0.07/sqrt(1000) per feature, use 0.02
    assert np.allclose(obs["test_attn"], 0.2, atol=0.02)
    assert np.allclose(obs["test_attn"].sum(axis=0), 1)
    assert model.dynamics == "gradient descent"


def test_paper_configuration_and_config_roundtrip():
    model = ICLRegression.paper(imbalanced=True)
    assert (model.K, model.N, model.d, model.M) == (5, 30, 20, 300)
    assert model.features == "random" and model.population == "empirical"
    assert np.allclose(model.p, [0.6, 0.1, 0.1, 0.1, 0.1])
    rebuilt = ICLRegression(**model.config())
    assert np.array_equal(rebuilt.X, model.X)
    assert rebuilt.config() == model.config()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"K": 1, "N": 3}, ValueError, "K must be >= 2"),
        ({"K": 3.0, "N": 3}, TypeError, "K must be an int"),
        ({"K": 3, "N": 0}, ValueError, "N must be >= 1"),
        ({"K": 3, "N": 3, "p": [0.5, 0.5]}, ValueError, r"p must have shape \(3,\)"),
        ({"K": 3, "N": 3, "p": [0.5, 0.6, -0.1]}, ValueError, "positive probabilities"),
        ({"K": 3, "N": 3, "p": [0.5, 0.3, 0.3]}, ValueError, "p must sum to 1"),
        ({"K": 3, "N": 3, "d": 2}, ValueError, "d must be >= 3"),
        ({"K": 3, "N": 3, "features": "eye"}, ValueError, "features must be"),
        ({"K": 3, "N": 3, "population": "mc"}, ValueError, "population must be"),
        ({"K": 3, "N": 3, "include_query": 1}, TypeError, "include_query must be a bool"),
        ({"K": 20, "N": 2000}, ValueError, "population='mean_field'"),
    ],
)
def test_bad_input_is_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        ICLRegression(**kwargs)


def test_bad_params_and_reduced_inputs_are_rejected():
    model = ICLRegression(K=3, N=3)
    with pytest.raises(ValueError, match="shape"):
        model.loss({"Q": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="wrong names"):
        model.loss({"W": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="population must be 'exact' or 'mean_field'"):
        SymmetricColumn(4, 10, population="empirical")
    with pytest.raises(ValueError, match="K must be >= 3"):
        UnderrepresentedColumn(2, 10)
    with pytest.raises(ValueError, match="p1 \\+ q < 1"):
        UnderrepresentedColumn(5, 10, p1=0.9, q=0.2)
    with pytest.raises(ValueError, match="u must be >= 1"):
        mean_field_time(0.5, K=4)
    with pytest.raises(ValueError, match="p1 must lie in"):
        imbalanced_p(4, 1.0)


# ------------------------------------------------------------------------------------
# Invariants under GF and GD (spec §6.1)
# ------------------------------------------------------------------------------------
def test_column_sums_conserved_under_flow_and_gd():
    """A_k + Σ_n B_{k,n} = 0 from zero init, under GF and GD (spec §6.1 item 3)."""
    model = ICLRegression(K=4, N=9, p=P4, d=6, features="random")
    Q0 = model.init_params()
    flow = gf.integrate_flow(model, Q0, (0, 200), rtol=1e-10, n_eval=40)
    gd = gf.gradient_descent(model, Q0, lr=2.0, steps=100, record_every=10)
    for traj in (flow, gd):
        assert traj.success
        scale = np.abs(traj.observables["S"]).max()
        assert scale > 1  # the weights moved
        # the sum is a cancellation of O(scale) terms: round-off ~ 1e-15 · scale per step
        assert np.abs(traj.observables["column_sum"]).max() < 1e-12 * scale


def test_gd_in_Q_space_equals_gd_on_S_and_stays_in_the_span():
    """From Q = 0, Q = Vfᵀ S Vf and S follows its own GD S ← S − η ∇_S L (spec §6.1 item 1)."""
    model = ICLRegression(K=3, N=6, p=[0.5, 0.3, 0.2], d=5, features="random")
    lr, steps = 1.5, 40
    gd = gf.gradient_descent(model, model.init_params(), lr=lr, steps=steps, record_every=steps)
    Q = gd.final_params["Q"]
    S = np.zeros((3, 3))
    for _ in range(steps):
        S = S - lr * model.population_S(S)[1]
    assert np.allclose(model.Vf @ Q @ model.Vf.T, S, atol=1e-12)
    assert np.allclose(Q, model.Vf.T @ S @ model.Vf, atol=1e-12)


# ------------------------------------------------------------------------------------
# Reduced ODEs against the full K x K flow (spec §6.4)
# ------------------------------------------------------------------------------------
# The spec's regression matrix at t = 300 (4 decimals printed: tolerance 5e-5 + rounding)
SPEC_S300 = np.array(
    [
        [2.5927, -1.5323, -1.5323, -1.5323],
        [-0.8642, 2.7402, -0.6039, -0.6039],
        [-0.8642, -0.6039, 2.7402, -0.6039],
        [-0.8642, -0.6039, -0.6039, 2.7402],
    ]
)


@pytest.mark.parametrize("include_query", [False, True])
def test_full_flow_matches_reduced_odes(include_query):
    model = ICLRegression(K=4, N=9, p=P4, include_query=include_query)
    times = np.linspace(0, 300, 31)
    flow = gf.integrate_flow(
        model, model.init_params(), (0, 300), method="LSODA", rtol=1e-11, atol=1e-13, t_eval=times
    )
    S = flow.observables["S"]
    dominant = SymmetricColumn(4, 9, p=0.5, include_query=include_query).solve(
        300, t_eval=times, rtol=1e-11, atol=1e-13
    )
    under = UnderrepresentedColumn(4, 9, p1=0.5, include_query=include_query).solve(
        300, t_eval=times, rtol=1e-11, atol=1e-13
    )
    # spec §6.4 / §9 item 4: tolerance 1e-8 (both integrations at rtol 1e-11 on O(1) states)
    assert np.abs(S[:, 0, 0] - dominant.y[:, 0]).max() < 1e-8
    assert np.abs(S[:, 1:, 0] + dominant.y[:, :1] / 3).max() < 1e-8
    for k in (1, 2, 3):
        assert np.abs(S[:, k, k] - under.y[:, 0]).max() < 1e-8
        assert np.abs(S[:, 0, k] - under.y[:, 1]).max() < 1e-8
        C = -(under.y[:, 0] + under.y[:, 1]) / 2
        rest = [m for m in (1, 2, 3) if m != k]
        assert np.abs(S[:, rest, k] - C[:, None]).max() < 1e-8
    if not include_query:
        assert np.abs(S[-1] - SPEC_S300).max() <= 6e-5


def test_reduced_exact_sums_equal_full_enumeration():
    """Binomial/trinomial sums (§6.2-6.3) equal the multinomial enumeration on symmetric S."""
    K, N = 5, 8
    p = imbalanced_p(K, 0.4)
    model = ICLRegression(K=K, N=N, p=p, include_query=True)
    A1, A, B1 = 0.7, 1.1, -0.4
    S = np.zeros((K, K))
    S[:, 0] = -A1 / (K - 1)
    S[0, 0] = A1
    S[:, 1] = -(A + B1) / (K - 2)
    S[1, 1], S[0, 1] = A, B1
    _, dS, aux = model.population_S(S)
    sym = SymmetricColumn(K, N, p=0.4, include_query=True).evaluate(np.array([A1]))
    und = UnderrepresentedColumn(K, N, p1=0.4, include_query=True).evaluate(np.array([A, B1]))
    assert math.isclose(sym["loss"], aux["feature_loss"][0], rel_tol=1e-13)
    assert math.isclose(und["loss"], aux["feature_loss"][1], rel_tol=1e-13)
    assert math.isclose(sym["rate"][0], -dS[0, 0], rel_tol=1e-12)
    assert np.allclose(und["rate"], [-dS[1, 1], -dS[0, 1]], rtol=1e-12, atol=0)
    assert math.isclose(und["group_rate"][2], -dS[2, 1], rel_tol=1e-12)


def test_mean_field_initial_rates():
    """Spec §6.3: dA/dt = q²((1−q)² + Σ_{m≠k} p_m²), dB1/dt = −qπ(π + q − Σ p²) at S = 0."""
    K, p1 = 20, 0.5
    q = (1 - p1) / (K - 1)
    p = imbalanced_p(K, p1)
    sum_sq = np.sum(p**2)
    rate = UnderrepresentedColumn(K, 100, p1=p1, population="mean_field").evaluate(np.zeros(2))
    expected_A = q**2 * ((1 - q) ** 2 + sum_sq - q**2)
    expected_B1 = -q * p1 * (p1 + q - sum_sq)
    assert np.allclose(rate["rate"], [expected_A, expected_B1], rtol=1e-13)
    rho = (1 - q - p1) / (K - 2)
    assert math.isclose(rate["group_rate"][2], -q * rho * (rho + q - sum_sq), rel_tol=1e-12)


# ------------------------------------------------------------------------------------
# Closed-form mean-field time t(u) (spec §6.2) and the L2/L3 tables (spec §7.3)
# ------------------------------------------------------------------------------------
# spec §7.3 L2 table, eta = 1: K -> (T(attn_k = 1/2), T(L = 1e-3))
SPEC_L2 = {5: (31.61, 1206.0), 10: (143.79, 2810.5), 20: (544.64, 6199.0),
           40: (1993.02, 13624.1), 80: (7377.66, 30962.9)}  # fmt: skip


@pytest.mark.parametrize("K", sorted(SPEC_L2))
def test_closed_form_phase_times_match_spec_table(K):
    t_half, t_eps = SPEC_L2[K]
    # the table prints 2 decimals (1 for the second column): half a unit of the last digit
    assert abs(phase1_time(K) - t_half) <= 0.005 + 1e-9
    assert abs(time_to_feature_loss(1e-3, K) - t_eps) <= 0.05 + 1e-9


@pytest.mark.parametrize("K", [5, 10, 20, 40, 80])
def test_solve_ivp_reproduces_closed_form_phase_times(K):
    """solve_ivp (LSODA, rtol 1e-10) event times equal t(u) to 1e-4 relative (spec §9 item 5)."""
    sol = SymmetricColumn(K, 100, population="mean_field").solve(
        4e4, eps=1e-3, rtol=1e-10, atol=1e-12
    )
    assert math.isclose(sol.events["attn_k=1/2"], phase1_time(K), rel_tol=1e-4)
    assert math.isclose(sol.events["L_k=eps"], time_to_feature_loss(1e-3, K), rel_tol=1e-4)


@pytest.mark.parametrize("K", [5, 10])
def test_full_mean_field_flow_events_match_closed_form(K):
    """The K x K model under gf.integrate_flow, phase boundary as a flow event."""
    model = ICLRegression(K=K, N=100, population="mean_field")
    flow = gf.integrate_flow(
        model,
        model.init_params(),
        (0, 2 * phase1_time(K)),
        method="LSODA",
        rtol=1e-10,
        atol=1e-12,
        events=[model.attention_event(0, 0.5, "phase I end")],
        n_eval=20,
    )
    assert math.isclose(flow.event_time("phase I end"), phase1_time(K), rel_tol=1e-4)


def test_mean_field_closed_form_along_the_flow():
    """ℓ = κb²/(2(u+b)²), 1 − attn_k = sqrt(2ℓ/κ), t(u) along the integrated flow (spec §6.2)."""
    K, p = 6, 0.3
    col = SymmetricColumn(K, 100, p=p, population="mean_field")
    sol = col.solve(3000, rtol=1e-11, atol=1e-13)
    kappa, b = K / (K - 1), (1 - p) / p
    u = np.exp(kappa * sol.y[:, 0])
    assert np.allclose(sol.observables["loss"], kappa * b**2 / (2 * (u + b) ** 2), rtol=1e-12)
    attn = sol.observables["attn"][0]
    assert np.allclose(1 - attn, np.sqrt(2 * sol.observables["loss"] / kappa), rtol=1e-9)
    late = sol.t > 1
    assert np.allclose(mean_field_time(u[late], K, p), sol.t[late], rtol=1e-7)


def test_reduced_trinomial_sum_is_exact_to_round_off_after_pruning():
    """Pruning pmf terms below 1e-16·max changes nothing above round-off."""
    full = UnderrepresentedColumn(10, 300, p1=0.5, prune=0.0)
    pruned = UnderrepresentedColumn(10, 300, p1=0.5)
    assert len(pruned.weights) < len(full.weights) / 3
    y = np.array([1.3, -0.9])
    a, b = full.evaluate(y), pruned.evaluate(y)
    assert math.isclose(a["loss"], b["loss"], rel_tol=1e-13)
    assert np.allclose(a["rate"], b["rate"], rtol=1e-12)
