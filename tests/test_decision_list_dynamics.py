"""DecisionList dynamics: reduced ODEs, the theorems' laws, GD vs GF (spec §10 7-12, 14).

Where a solver is involved, tolerances are stated as ``atol + rtol·|y|`` of the run and
justified next to the assertion.  Reference numbers come from the spec (§5.3, §6), which
measured them with independent scratch scripts; they are targets, not outputs of this code.
"""

import math

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.decision_list import DecisionList, theorem1_bound
from gradflow.models.decision_list_reduced import LimitChain, ReducedChain, chain_patterns


def gamma_closed_form(L, n, M):
    """γ for uniform n-subsets and lists of length M (spec §3.3)."""
    den = math.comb(L - 1, n - 1)
    ks = [math.comb(L - 1 - k, n - 2) / den for k in range(1, M)]
    return min([*ks, math.comb(L - M, n - 1) / den])


def t_perfect(model, t_end, **kw):
    kw.setdefault("rtol", 1e-10)
    kw.setdefault("atol", 1e-14)
    traj = gf.integrate_flow(
        model,
        model.init_params(np.random.default_rng(0)),
        (0.0, t_end),
        events=[model.perfect_event()],
        observables=False,
        t_eval=None,
        dense_output=False,
        **kw,
    )
    assert traj.status == "event", traj.message
    return traj.event_time("perfect"), traj


# --- the reduced ODE (§5.2) ---------------------------------------------------------------
def test_patterns_probabilities_sum_to_one():
    for L, n, M in [(16, 3, 3), (10, 5, 4), (64, 29, 2)]:
        pat = chain_patterns(L, n, M)
        assert pat["prob"].sum() == pytest.approx(1.0, abs=1e-14)
        assert np.all(pat["mult"].sum(axis=1) == n)


def test_reduced_loss_and_gradient_equal_the_full_model_on_the_symmetric_subspace():
    full = DecisionList(16, 3, 3, seed=3)
    red = ReducedChain(16, 3, 3, c=full.c)
    w = np.array([0.3, 0.1, -0.2, 0.05])
    W = np.full((16, 16), w[-1])
    for a, lst in enumerate(full.lists):
        W[lst, a] = w[:3]
    lf, gf_ = full.loss_and_grad({"W": W, "V": full.c * full.P})
    lr, gr = red.loss_and_grad({"x": red.from_w(w)})
    assert abs(lf - lr) <= 1e-13 * abs(lf)
    # ∂f/∂w_k = Σ over the L entries W[a_k, a]; ∂f/∂w_o = Σ over the L(L−M) others
    dw = gr["x"] * red.scale
    cols = np.array([gf_["W"][lst, a] for a, lst in enumerate(full.lists)])
    np.testing.assert_allclose(cols.sum(axis=0), dw[:3], rtol=1e-10, atol=1e-14)
    assert gf_["W"].sum() - cols.sum() == pytest.approx(dw[3], rel=1e-10)
    gf.check_model(red)
    gf.check_model(LimitChain(16, 3, 3))


def test_reduced_ode_equals_full_flow_and_T_perfect():
    """§10 #7 at L=16, n=3, M=3, Theorem 1's c = 4nL log L = 532.337."""
    full = DecisionList(16, 3, 3)
    red = ReducedChain(16, 3, 3, c=full.c)
    times = np.linspace(0.0, 0.0116, 13)
    kw = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12, "observables": False}
    ff = gf.integrate_flow(
        full, full.init_params(None), (0, 1.0), t_eval=times, events=[full.perfect_event()], **kw
    )
    rr = gf.integrate_flow(red, red.init_params(None), (0, 0.0116), t_eval=times, **kw)
    w_red = red.to_w(rr.params["x"])  # (13, M+1)
    Wt = ff.params["W"][: len(times)]
    # entries reach |w| ~ 0.15; two runs at rtol 1e-10 agree to ~1e-10 absolute
    for a, lst in enumerate(full.lists):
        others = np.setdiff1d(np.arange(16), lst)
        np.testing.assert_allclose(Wt[:, lst, a], w_red[:, :3], rtol=0, atol=1e-8)
        assert np.max(np.abs(Wt[:, others, a] - w_red[:, 3:])) <= 1e-8
    np.testing.assert_allclose(ff.loss[: len(times)], rr.loss, rtol=1e-10)
    T_full = ff.event_time("perfect")
    T_red, _ = t_perfect(red, 1.0, method="LSODA")
    assert T_full == pytest.approx(T_red, rel=1e-7)  # event located to ~1e-9 relative
    assert T_red == pytest.approx(0.0116245, abs=5e-8)


def test_T_perfect_matches_the_spec_at_c_532_3():
    # The spec's 0.0116261 (§10 #7) reproduces at c = 532.3, the rounded value its §6.1
    # prints; at the unrounded 4nL log L = 532.337 the time is 0.0116245 (T ∝ 1/c²:
    # (532.337/532.3)² = 1.00014).  The spec's own c-sweep gives c²T = 3294 -> 0.011624.
    T, _ = t_perfect(ReducedChain(16, 3, 3, c=532.3), 1.0, method="LSODA")
    assert T == pytest.approx(0.0116261, abs=5e-8)


def test_last_event_is_the_second_to_last_entry_overtaking_the_self_entry():
    # spec §6.1 finding 4: at T, w_{M-1} = w_M (3 decimals) and the chain is ordered
    red = ReducedChain(64, 3, 3)
    T, traj = t_perfect(red, 1.0, method="LSODA")
    w = red.to_w(traj.final_params["x"])
    assert w[1] == pytest.approx(w[2], abs=1e-3 * abs(w[2]))
    assert w[0] > w[1] >= w[2] > w[3]


def test_initial_rates_ordered_flag():
    # §8 #13: L=16, n=5, M=5 has chain-ordered initial rates, T = 0⁺
    assert ReducedChain(16, 5, 5).initial_rates_ordered()
    assert not ReducedChain(16, 3, 3).initial_rates_ordered()
    T, _ = t_perfect(ReducedChain(16, 5, 5), 1.0, method="LSODA")
    assert T < 1e-10


# --- the large-c limit (§5.3) ---------------------------------------------------------------
def test_large_c_collapse():
    lim = LimitChain(16, 3, 3)
    tau, _ = t_perfect(lim, 1e5, method="LSODA", atol=1e-12)
    assert tau == pytest.approx(3308.4, abs=0.05)  # spec §5.3
    for c in (500.0, 2000.0, 1e4):
        T, _ = t_perfect(ReducedChain(16, 3, 3, c=c), 1e5 / c**2, method="LSODA")
        assert abs(c * c * T / tau - 1) < 5e-3  # §10 #8: within 0.5 % for c >= 500
    # the approach is monotone in c beyond the non-asymptotic dip at c ~ 20 (spec: 2997)
    gaps = [
        abs(c * c * t_perfect(ReducedChain(16, 3, 3, c=c), 1e5 / c**2, method="LSODA")[0] - tau)
        for c in (200.0, 500.0, 2000.0)
    ]
    assert gaps[0] > gaps[1] > gaps[2]


def test_full_flow_at_large_c_collapses_to_the_limit():
    # the full L²-dimensional flow (not only the reduced one) at c = 2000: c²T within 0.2 %
    # of τ* = 3308.4 (spec §5.3: 3305)
    T, _ = t_perfect(DecisionList(16, 3, 3, c=2000.0), 1.0, method="DOP853", atol=1e-12)
    assert abs(2000.0**2 * T / 3308.4 - 1) < 2e-3


# --- solver consistency (§10 #14) ---------------------------------------------------------
def test_solvers_agree_to_six_digits_on_T():
    red = ReducedChain(16, 3, 3)
    times = [t_perfect(red, 1.0, method=m)[0] for m in ("RK45", "DOP853", "LSODA", "Radau", "BDF")]
    assert (max(times) - min(times)) / min(times) < 1e-6


@pytest.mark.slow
def test_full_flow_solvers_agree():
    full = DecisionList(16, 3, 3)
    times = [
        t_perfect(full, 1.0, method=m, rtol=1e-10, atol=1e-12)[0]
        for m in ("RK45", "DOP853", "LSODA", "Radau", "BDF")
    ]
    assert (max(times) - min(times)) / min(times) < 1e-6


def test_repeats_flow_is_slower_and_needs_log_count_gaps():
    # spec §6.1 #5: i.i.d. tokens, L=12, n=3, M=2: T = 4.3116573 (vs 0.01478 without repeats)
    m = DecisionList(12, 3, 2, repeats=True)
    T, traj = t_perfect(m, 100.0, method="DOP853", rtol=1e-10, atol=1e-12)
    assert T == pytest.approx(4.3116573, abs=2e-7)  # rtol 1e-10: solvers agree to 8 digits
    assert T < m.bound_theorem1  # 20.16
    # at T the binding constraint is W[a_1] − W[a_2] = log 2: a sequence (a_2, a_2, a_1)
    # needs W[a_1] + log 1 > W[a_2] + log 2 (attention mass scales with the count)
    W = traj.final_params["W"]
    gaps = np.array([W[lst[0], a] - W[lst[1], a] for a, lst in enumerate(m.lists)])
    np.testing.assert_allclose(gaps, math.log(2), atol=1e-6)


# --- Theorem 1 (§10 #10) ---------------------------------------------------------------------
@pytest.mark.parametrize("L", [16, 64, 256, 1024])
@pytest.mark.parametrize("M", [2, 5])
def test_theorem1_bound_holds_with_delta_one_over_L(L, M):
    n = 3
    red = ReducedChain(L, n, M)  # c = 4n log(L)/δ with δ = 1/L
    T, _ = t_perfect(red, 1.0, method="LSODA")
    bound = theorem1_bound(M, L, gamma_closed_form(L, n, M))
    assert 0 < T <= bound
    assert T / bound < 1e-3  # huge slack (spec §6.1: T/bound from 7e-4 down to 8e-7)


@pytest.mark.slow
@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("L", [16, 32, 64, 128, 256, 512, 1024])
def test_theorem1_bound_full_grid(L, n):
    for M in (2, 3, 4, 5):
        red = ReducedChain(L, n, M)
        if red.initial_rates_ordered():  # T = 0⁺ (L=16, n=5, M=5): flagged, bound trivially met
            continue
        T, _ = t_perfect(red, 1.0, method="LSODA")
        assert 0 < T <= theorem1_bound(M, L, gamma_closed_form(L, n, M))


@pytest.mark.parametrize("L, kappa", [(16, 4.66), (64, 5.42), (256, 5.34), (1024, 5.21)])
def test_limit_time_scaling_kappa(L, kappa):
    # spec §5.3: τ*/(L² log L) for n = 3, M = 3, hence T ≈ κ/(16 n² log L) at δ = 1/L
    tau, _ = t_perfect(LimitChain(L, 3, 3), 1e9, method="LSODA", atol=1e-12)
    assert tau / (L**2 * math.log(L)) == pytest.approx(kappa, abs=0.01)


def test_theorem1_bound_fails_for_delta_equal_one():
    # the reading δ = 1 (c = 4n log L) makes the bound false at large L (spec §6.1 #2):
    # L=256, M=3: T = 405 > bound 277
    L, n, M = 256, 3, 3
    T, _ = t_perfect(ReducedChain(L, n, M, c=4 * n * math.log(L)), 1e6, method="LSODA")
    bound = theorem1_bound(M, L, gamma_closed_form(L, n, M))
    assert T > bound
    assert T == pytest.approx(405, rel=0.01)
    # and it holds at L = 16 (T/bound = 0.080)
    T16, _ = t_perfect(ReducedChain(16, 3, 3, c=12 * math.log(16)), 1e3, method="LSODA")
    assert T16 / theorem1_bound(3, 16, gamma_closed_form(16, 3, 3)) == pytest.approx(
        0.080, abs=2e-3
    )


def test_T_decreases_with_M():
    # spec §6.1 finding 3: the opposite of the bound's linearity in M
    Ts = [t_perfect(ReducedChain(64, 3, M), 1.0, method="LSODA")[0] for M in (2, 3, 5)]
    assert Ts[0] > Ts[1] > Ts[2]


def test_flow_preserves_column_sums_and_W_only_keeps_V():
    m = DecisionList(8, 3, 2, train=("W", "V"), init="random", init_scale=0.3)
    p0 = m.init_params(np.random.default_rng(1))
    tr = gf.integrate_flow(m, p0, (0, 5.0), method="DOP853", rtol=1e-10, atol=1e-12, n_eval=5)
    for k in ("W", "V"):
        sums = tr.params[k].sum(axis=1)  # column sums, (n_t, L)
        assert np.max(np.abs(sums - p0[k].sum(axis=0))) <= 1e-9
    w_only = DecisionList(8, 3, 2)
    q0 = w_only.init_params(None)
    tw = gf.integrate_flow(w_only, q0, (0, 0.01), n_eval=3)
    np.testing.assert_array_equal(tw.params["V"][-1], q0["V"])


# --- GD -> GF (§10 #9) ------------------------------------------------------------------------
def test_gd_converges_to_gf_at_first_order():
    # spec §6.4: L=8, n=3, M=2, c = 4n log L, V0 = cP + U(±0.25), joint
    m = DecisionList(8, 3, 2, train=("W", "V"), c=12 * math.log(8))
    rng = np.random.default_rng(0)
    p0 = {"W": np.zeros((8, 8)), "V": m.c * m.P + rng.uniform(-0.25, 0.25, (8, 8))}
    eta = 1.0 / m.lam_max(p0)
    order, errs = gf.convergence_order(m, p0, 64 * eta, [eta / 2**k for k in range(5)])
    ratios = errs[:-1] / errs[1:]
    assert np.all((ratios > 1.9) & (ratios < 2.3)), ratios
    assert abs(order - 1) < 0.05


# --- Theorem 2 (§10 #11) -------------------------------------------------------------------
@pytest.mark.parametrize(
    "L, M, eps",
    [
        (12, 2, 0.5),
        (12, 2, 2.0),
        pytest.param(16, 3, 0.5, marks=pytest.mark.slow),
        pytest.param(16, 3, 2.0, marks=pytest.mark.slow),
    ],
)
def test_theorem2_perfect_within_the_window(L, M, eps):
    m = DecisionList(L, 3, M, train=("W", "V"), eps=eps)
    p0 = m.init_params(np.random.default_rng(0))
    setup = m.theorem2_setup(np.random.default_rng(0))
    assert not setup["feasible"]  # n = 3: the hypotheses cannot hold (§6.2); we test anyway
    eta = 1.0 / m.lam_max(p0)
    window = int(eps / (2 * eta))
    steps = 60
    gd = gf.gradient_descent(m, p0, eta, steps)
    perfect = gd.observables["perfect"] > 0
    assert perfect.any()
    k = int(np.argmax(perfect))
    # spec §6.2 saw first perfect steps 5, 8 (L=12) and 7, 35 (L=16); we measured 5, 8, 7, 54
    assert gd.steps[k] <= min(60, window)
    assert perfect[k:].all()  # and it persists
    lams = np.array([m.lam_max(gd.params_at_index(i)) for i in range(0, steps + 1, 10)])
    assert np.all(eta * lams < 2)
    assert eta * lams[0] == pytest.approx(1.0, rel=1e-9)
    assert np.max(np.abs(gd.params["V"][-1] - p0["V"])) < 3e-3  # V barely moves (§6.2)


# --- the V-only flow (§10 #12) and joint flow from small random init -----------------------
def test_v_only_flow_moves_V_toward_P_but_cannot_classify():
    m = DecisionList(16, 3, 3, train=("V",))
    p0 = m.init_params(np.random.default_rng(0))
    tr = gf.integrate_flow(m, p0, (0, 1e3), method="DOP853", rtol=1e-8, n_eval=30)
    cos = tr.observables["cos_dV_Pc"][tr.t > 0]
    assert np.all(cos > 0.9)
    assert np.all(tr.observables["accuracy"] < 1)
    assert np.all(tr.observables["perfect"] == 0)
    assert np.all(tr.params["W"] == 0)


def test_v_gradient_at_uniform_attention_formula():
    # spec §5.4: −∂𝓛/∂V[k,b] = (1/n)(Pr[y = k, b ∈ s] − Pr[b ∈ s]/L) at W = V = 0
    L, n = 10, 3
    m = DecisionList(L, n, 3, train=("V",), seed=2)
    t = m.table
    inside = (t.cnt > 0).astype(float)
    joint = np.zeros((L, L))
    np.add.at(joint, t.y, t.w[:, None] * inside)
    expect = (joint - (t.w @ inside)[None, :] / L) / n
    g = m.grad({"W": np.zeros((L, L)), "V": np.zeros((L, L))})["V"]
    np.testing.assert_allclose(-g, expect, rtol=0, atol=1e-16)


def test_joint_flow_from_small_random_init_reaches_perfect_classification():
    """Observation for the paper's open conjecture (not a theorem): spec §6.3 saw T = 205."""
    m = DecisionList(12, 3, 2, train=("W", "V"), init="random")
    p0 = m.init_params(np.random.default_rng(0))
    tr = gf.integrate_flow(
        m, p0, (0, 5e3), method="DOP853", rtol=1e-8, n_eval=20, events=[m.perfect_event()]
    )
    assert tr.status == "event"
    T = tr.event_time("perfect")
    assert 100 < T < 400
    assert tr.observables["cos_dV_Pc"][-1] > 0.95


@pytest.mark.slow
def test_theorem2_in_its_feasible_regime_monte_carlo():
    """Spec §6.2: L=64, n=29, M=2, 400 sequences, ε = n log n/18: hypotheses feasible.

    δ is the population's 1/L (passed explicitly: the sample's smallest query mass is
    smaller, 0.0137).  Spec: c = 1.83e6, 𝓛₀ = 3.40, λ_max = 3.42e6, perfect at step 2, a
    fresh 400-sequence sample also 100 % correct.
    """
    n, eps = 29, 29 * math.log(29) / 18
    m = DecisionList(
        64,
        n,
        2,
        population="monte_carlo",
        n_samples=400,
        train=("W", "V"),
        eps=eps,
        delta=1 / 64,
    )
    setup = m.theorem2_setup(np.random.default_rng(0))
    assert setup["feasible"]
    assert setup["c"] == pytest.approx(1.83e6, rel=0.02)
    assert setup["loss0"] == pytest.approx(3.40, rel=0.02)
    p0 = {"W": setup["W0"], "V": setup["V0"]}
    eta = 1.0 / m.lam_max(p0)
    assert 1 / eta == pytest.approx(3.42e6, rel=0.03)
    window = (2 * 2 * setup["loss0"] / (setup["A_high"] ** 2 * eta), eps / (2 * eta))
    assert window[0] < window[1]  # the theorem's step window is not empty
    gd = gf.gradient_descent(m, p0, eta, 4)
    perfect = gd.observables["perfect"] > 0
    first = int(gd.steps[np.argmax(perfect)])
    assert perfect.any() and first <= 3 and perfect[first:].all()
    assert first < window[0]  # far earlier than the theorem's window (~9e6 steps)
    fresh = DecisionList.from_task(
        m.perm, m.lists, n, population="monte_carlo", n_samples=400, seed=7, train=("W", "V")
    )
    assert fresh.observables(gd.final_params)["accuracy"] == pytest.approx(1.0)
