"""Two-mixture model R: laws L1-L8, Algorithm 1, K = 3, Lemma 6.1, GD vs GF, stalls.

Targets are the numbers of spec ``specs/two_mixture.md`` §7-§9 (measured there with
independent scratch code), not outputs of this implementation.  Theory runs use the exact
population and the infinite-width Gram system started at its average (``P = 0``,
``A = B = ω² I``), as the spec does.
"""

import numpy as np
import pytest

import gradflow as gf
from gradflow.models.two_mixture import TwoMixture, TwoMixtureGram, algorithm1, lemma61_params

LOG2 = np.log(2.0)


@pytest.fixture(scope="module")
def joint():
    """The paper's joint experiment on the Gram system: all weights, GD lr 0.1, to t = 400."""
    gram = TwoMixtureGram.paper()
    traj = gf.gradient_descent(gram, gram.init_params(), lr=0.1, steps=4000, record_every=50)
    assert traj.status == "finished"
    return gram, traj


def at(traj, t):
    return int(np.argmin(np.abs(traj.t - t)))


# --- L1-L3: the start -------------------------------------------------------------------
def test_L1_no_attention_gradient_at_init():
    model = TwoMixture(m=6, basis="random", d=5)
    theta0 = model.init_params(np.random.default_rng(0))
    g = model.grad(theta0)
    assert np.all(g["W_K"] == 0) and np.all(g["W_Q"] == 0)  # exactly: v ≡ 0 => D ≡ 0
    assert np.abs(g["w"]).max() > 0.01


@pytest.mark.parametrize(("K", "L"), [(2, 3), (3, 4), (2, 5), (4, 5)])
def test_L2_initial_neuron_velocity(K, L):
    """ẇ_±(0) = ±(1/(2LK)) Σ_j c_j, nothing along the identifiers (spec L2)."""
    gram = TwoMixtureGram(K=K, L=L)
    traj = gf.integrate_flow(
        gram, gram.init_params(), (0, 0.02), method="DOP853", rtol=1e-12, t_eval=[0.02],
        observables=False,
    )  # fmt: skip
    w = traj.final_params["w"]
    slope = w @ gram.c.T / 0.02
    expected = 1 / (2 * L * K)
    # w(t) = t ẇ(0) + O(t²): the slope at t = 0.02 carries an O(t) relative error (spec: 1e-3)
    assert np.abs(slope[0] - expected).max() < 1e-3 * expected
    assert np.abs(slope[1] + expected).max() < 1e-3 * expected
    assert np.abs(w @ gram.z.T).max() < 1e-3 * np.abs(w).max()


@pytest.mark.parametrize(("K", "L"), [(2, 3), (3, 4), (2, 5), (4, 5)])
def test_L3_attention_starts_at_order_t2(K, L):
    """P_+(t) = ω² t² M_K / (4 L³ K) + O(t³) (spec L3), no identifier-signal entries."""
    om = 0.2
    gram = TwoMixtureGram(K=K, L=L, omega2=om)
    traj = gf.integrate_flow(
        gram, gram.init_params(), (0, 0.02), method="DOP853", rtol=1e-12, atol=1e-18,
        t_eval=[0.02], observables=False,
    )  # fmt: skip
    z, c = gram.z, gram.c
    C = c.sum(axis=0)
    Z = z.T @ z
    diag = c.T @ c
    cross = np.outer(C, C) - diag
    M = np.outer(C, C) / K - (Z / K + diag + 2 / K * cross) / L
    pred = M / (4 * L**3 * K)
    got = traj.final_params["P"][0] / (om * 0.02**2)
    # spec: relative error 1.1e-3, 6.3e-4, 4e-4, 4e-4 at t = 0.02; tolerance 1e-2
    assert np.abs(got - pred).max() < 1e-2 * np.abs(pred).max()
    basis = np.vstack([z, c])
    P = basis @ traj.final_params["P"][0] @ basis.T
    # identifier-signal entries vanish at order t² (they are O(t³))
    assert np.abs(P[:K, K:]).max() < 1e-2 * np.abs(P).max()


# --- L4-L5: symmetries and the invisible hard samples ----------------------------------
def test_L4_mirror_and_swap_symmetries(joint):
    gram, traj = joint
    R = np.eye(4) - 2 * gram.c.T @ gram.c
    swap = np.eye(4)[[1, 0, 3, 2]]  # z_1 <-> z_2, c_1 <-> c_2
    worst_mirror = worst_swap = 0.0
    for i in range(len(traj.t)):
        w, P, A = (traj.params[k][i] for k in ("w", "P", "A"))
        worst_mirror = max(
            worst_mirror,
            np.abs(w[1] - R @ w[0]).max(),
            np.abs(P[1] - R @ P[0] @ R).max(),
            np.abs(A[1] - R @ A[0] @ R).max(),
        )
        worst_swap = max(
            worst_swap, np.abs(swap @ w[0] - w[0]).max(), np.abs(swap @ P[0] @ swap - P[0]).max()
        )
    # spec: 5.9e-15 and 4.2e-15; 4000 steps of round-off on entries of size <= 5
    assert worst_mirror < 1e-12 and worst_swap < 1e-12


def test_L5_hard_samples_invisible_to_neurons():
    """Uniform attention (stage 1): f = 0 on every hard sample, L_hard = log 2 exactly."""
    gram = TwoMixtureGram()
    traj = gf.gradient_descent(
        gram, gram.init_params(), lr=0.1, steps=1000, trainable=("w",), record_every=100
    )
    for i in range(len(traj.t)):
        f = gram.forward(traj.params_at_index(i))["f"]
        assert np.abs(f[gram.hard]).max() <= 1e-12
    assert abs(traj.observables["L_hard"][-1] - LOG2) <= 1e-15
    assert traj.observables["L_cons"][-1] < 0.13  # the consistent samples are learned


# --- L6: time-scale separation ----------------------------------------------------------
def test_L6_attention_seed_proportional_to_omega2_and_t2_shrinks():
    omegas = [0.1, 0.2, 0.4]
    seeds, t2 = [], []
    for om in omegas:
        gram = TwoMixtureGram(omega2=om)
        neurons = gf.flow.event(
            lambda t, p, g=gram: g.observables(p)["L_cons"] - 0.35, name="neurons"
        )
        attention = gf.flow.event(
            lambda t, p, g=gram: g.observables(p)["L_hard"] - LOG2 / 2, terminal=True, name="attn"
        )
        run = gf.integrate_flow(
            gram, gram.init_params(), (0, 300), events=[neurons, attention], n_eval=5,
            observables=False,
        )  # fmt: skip
        assert run.status == "event"
        end_of_stage1 = run.at(run.event_time("neurons"))  # t ≈ 10 (spec: ≈ 11)
        seeds.append(np.abs(gram.basis_scores(end_of_stage1)[0]).max() / om)
        t2.append(run.event_time("attn"))
    seeds = np.array(seeds)
    # max|P| / ω² constant within 10 % for ω² <= 0.4 (spec L6)
    assert seeds.max() / seeds.min() < 1.10
    # t2 decreasing, about -20 per doubling of ω² (spec: 199, 179, 159)
    assert np.all(np.diff(t2) < 0)
    np.testing.assert_allclose(t2, [199, 179, 159], atol=3)


# --- the stage-wise picture of joint training, L7, L8 ---------------------------------------
def test_joint_training_neurons_learn_before_attention(joint):
    _, traj = joint
    obs = traj.observables
    i10, i100, i200 = at(traj, 10), at(traj, 100), at(traj, 200)
    # spec §7 table: t=10: L_cons 0.352, L_hard 0.6931, max|P| 0.009
    assert obs["L_cons"][i10] < 0.36 and obs["L_hard"][i10] > 0.693
    assert np.abs(obs["P"][i10]).max() < 0.02
    # the neurons align with the signals immediately, not with the identifiers
    assert np.all(obs["w_c"][i10][0] > 0.5) and np.all(np.abs(obs["w_z"][i10]) < 0.05)
    # t=100: L_hard still 0.675; t=200: 0.230 (attention phase)
    assert obs["L_hard"][i100] > 0.6 and obs["L_hard"][i200] < 0.3


def test_L7_identifier_is_the_key(joint):
    gram, traj = joint
    P = traj.observables["P"][-1]  # (head, key, query) on (z_1, z_2, c_1, c_2)
    plus, minus = P[0], P[1]
    for k in range(2):
        j = 1 - k
        assert plus[k, 2 + k] > 1 and plus[k, 2 + j] < -1  # P_+[z_k,c_k] > 0 > P_+[z_k,c_j]
        assert plus[2 + k, k] < 0  # P_+[c_k, z_k] < 0
        # head - has the opposite sign on every identifier-signal entry
        for a, b in ((k, 2 + k), (k, 2 + j), (2 + k, k), (2 + j, k)):
            assert np.sign(minus[a, b]) == -np.sign(plus[a, b])
    assert traj.observables["acc"][-1] == 1.0


def test_L8_loss_decreases_and_goes_to_zero(joint):
    gram, traj = joint
    loss = traj.observables["L"]
    # GD at lr 0.1 is stable here: monotone up to round-off
    assert np.all(np.diff(loss) <= 1e-14)
    assert loss[at(traj, 400)] < 0.025  # spec: L_cons 0.019, L_hard 0.0248 at t = 400
    flow = gf.integrate_flow(gram, gram.init_params(), (0, 220), n_eval=60, max_nfev=5000)
    assert flow.status == "finished"
    # flow loss non-increasing up to the solver's tolerance
    assert np.all(np.diff(flow.loss) <= 1e-8 * flow.loss[:-1])


def test_sliding_mode_stalls_the_flow_with_a_report():
    """Spec §6.3: past t ≈ 240 a ReLU of the + head is pinned at u = 0 and RK45 crawls."""
    gram = TwoMixtureGram()
    flow = gf.integrate_flow(
        gram, gram.init_params(), (0, 300), method="RK45", rtol=1e-6, max_nfev=1500,
        n_eval=20, observables=False,
    )  # fmt: skip
    assert flow.status == "stalled" and "max_nfev" in flow.message
    assert 200 < flow.t[-1] < 260
    u = gram.forward(flow.final_params)["u"]
    assert np.abs(u).min() < 1e-3  # a pre-activation sits at the kink
    # the same horizon in 350 evaluations when stopping before the kink (t = 180)
    early = gf.integrate_flow(
        gram, gram.init_params(), (0, 180), method="RK45", rtol=1e-6, observables=False
    )
    assert early.status == "finished" and early.nfev < 1000


# --- GD vs GF ------------------------------------------------------------------------------
def test_gd_converges_to_gf_at_first_order_on_the_smooth_model():
    gram = TwoMixtureGram(activation="softplus")
    p0 = gram.init_params()
    ref = gf.integrate_flow(
        gram, p0, (0, 50), method="DOP853", rtol=1e-11, t_eval=[50.0], observables=False
    )
    lrs = [0.4, 0.2, 0.1]
    errs = []
    for lr in lrs:
        steps = int(round(50 / lr))
        gd = gf.gradient_descent(
            gram, p0, lr=lr, steps=steps, record_every=steps, observables=False
        )
        errs.append(max(np.abs(gd.params[k][-1] - ref.params[k][-1]).max() for k in ref.params))
    slopes = np.diff(np.log(errs)) / np.diff(np.log(lrs))
    # explicit Euler: slope 1 (measured 1.00 in the spec's setting)
    assert np.all(np.abs(slopes - 1) < 0.15), slopes


def test_gd_and_gf_agree_before_sliding_on_the_relu_model():
    """Spec §6.3: max over t ≤ 220 of the relative error is O(η) (4.8e-3 at η = 0.1)."""
    gram = TwoMixtureGram()
    p0 = gram.init_params()
    times = np.arange(20.0, 221.0, 20.0)
    ref = gf.integrate_flow(gram, p0, (0, 220), rtol=1e-10, t_eval=times, observables=False)
    errs = []
    for lr in (0.4, 0.1):
        gd = gf.gradient_descent(
            gram, p0, lr=lr, steps=int(round(220 / lr)), record_every=int(round(20 / lr)),
            observables=False,
        )  # fmt: skip
        err = 0.0
        for i, t in enumerate(times):
            j = at(gd, t)
            for k in ("w", "P"):
                a, b = gd.params[k][j], ref.params[k][i]
                err = max(err, np.abs(a - b).max() / np.abs(b).max())
        errs.append(err)
    # spec: 2.2e-2 and 4.8e-3 (all blocks); the ratio shows at least first order
    assert errs[1] < 1e-2 and errs[0] / errs[1] > 3.0, errs


# --- Algorithm 1 ------------------------------------------------------------------------------
def test_algorithm1_three_stages_by_flow():
    gram = TwoMixtureGram()
    stages = algorithm1(gram, T=(100, 300, 300), kind="flow", options={"n_eval": 10})
    traj = gf.run_stages(gram, gram.init_params(), stages)
    assert traj.status == "finished" and [s["name"] for s in traj.stages] == [
        "neuron learning", "attention feature learning", "convergence",
    ]  # fmt: skip
    obs = traj.observables
    end1, end2, end3 = (s["stop"] - 1 for s in traj.stages)
    # stage 1: hard loss exactly log 2 (L5), consistent samples learned (spec 0.121)
    assert abs(obs["L_hard"][end1] - LOG2) <= 1e-15 and obs["L_cons"][end1] < 0.13
    # attention frozen in stage 1, neurons frozen in stage 2
    assert np.all(traj.params["P"][end1] == 0)
    np.testing.assert_array_equal(traj.params["w"][end2], traj.params["w"][end1])
    # stage 2: positive hard margin (spec +0.80)
    assert obs["margin_hard"][end2] > 0.5
    # stage 3: small loss (spec 0.024)
    assert obs["L"][end3] < 0.05 and obs["margin_hard"][end3] > obs["margin_hard"][end2]
    np.testing.assert_array_equal(traj.params["P"][end3], traj.params["P"][end2])


def test_algorithm1_stage_list():
    model = TwoMixture(train_b=True)
    s1, s2, s3 = algorithm1(model, T=(10, 20, 30), lr=0.5)
    assert s1.trainable == ("w", "b") and s2.trainable == ("W_K", "W_Q")
    assert (s1.steps, s2.steps, s3.steps, s1.lr) == (20, 40, 60, 0.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        algorithm1(model, kind="adam")
    with pytest.raises(ValueError, match="three entries"):
        algorithm1(model, T=(1, 2))


# --- K = 3 and the Lemma 6.1 construction ------------------------------------------------
def test_K3_neurons_learn_majority_vote_with_negative_margin():
    gram = TwoMixtureGram(K=3)
    traj = gf.gradient_descent(
        gram, gram.init_params(), lr=0.1, steps=1000, trainable=("w",), record_every=500
    )
    obs = traj.observables
    assert obs["acc"][-1] == 0.75  # spec §9.1
    # spec: min margin -0.51 at t = 50, -0.70 at t = 100, growing more negative
    assert obs["margin"][-1] < -0.6 and obs["margin"][-1] < obs["margin"][1] < 0
    f = gram.forward(traj.final_params)["f"]
    np.testing.assert_array_equal(np.sign(f), np.sign(gram.s.sum(axis=1)))  # majority vote


def k3_joint(t_end):
    gram = TwoMixtureGram(K=3, L=4)
    steps = int(round(t_end / 0.1))
    return gram, gf.gradient_descent(
        gram, gram.init_params(), lr=0.1, steps=steps, record_every=steps // 6
    )


def test_K3_joint_gd_reaches_accuracy_one():
    gram, traj = k3_joint(600.0)
    obs = traj.observables
    # the neuron stage first gives majority vote (0.75), the attention then fixes it
    assert 0.75 in obs["acc"] and obs["acc"][-1] == 1.0 and obs["margin"][-1] > 0
    P = obs["P"][-1][0]
    for k in range(3):  # the same identifier-key pattern (spec: +6.04 / -3.20 at t = 8000)
        assert P[k, 3 + k] > 0 and all(P[k, 3 + j] < 0 for j in range(3) if j != k)


@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_lemma61_construction_solves_every_K(K):
    gram = TwoMixtureGram(K=K)
    weak = gram.observables(lemma61_params(gram, beta=0.0))
    strong = gram.observables(lemma61_params(gram, beta=10.0))
    assert strong["acc"] == 1.0 and strong["margin"] > 0
    # without attention (β = 0) the neurons alone fail on some configurations (K >= 3)
    if K >= 3:
        assert weak["acc"] < 1.0


# --- long runs (slow) --------------------------------------------------------------------------
@pytest.mark.slow
def test_algorithm1_by_gd_matches_the_spec_table():
    gram = TwoMixtureGram()
    rows = {100: (0.121, 0.370, 0.80, 0.024, 3.53), 50: (0.190, 0.603, 0.19, 0.103, 1.58)}
    for T1, (cons1, hard2, margin2, loss3, margin3) in rows.items():
        stages = algorithm1(gram, T=(T1, 300, 300), options={"record_every": 100})
        traj = gf.run_stages(gram, gram.init_params(), stages)
        obs = traj.observables
        e1, e2, e3 = (s["stop"] - 1 for s in traj.stages)
        assert abs(obs["L_hard"][e1] - LOG2) <= 1e-15
        # the spec prints 3 digits
        assert obs["L_cons"][e1] == pytest.approx(cons1, abs=2e-3)
        assert obs["L_hard"][e2] == pytest.approx(hard2, abs=2e-3)
        assert obs["margin_hard"][e2] == pytest.approx(margin2, abs=2e-2)
        assert obs["L"][e3] == pytest.approx(loss3, abs=2e-3)
        assert obs["margin_hard"][e3] == pytest.approx(margin3, abs=2e-2)


@pytest.mark.slow
def test_K3_joint_gd_spec_numbers_at_t1000():
    _, traj = k3_joint(1000.0)
    assert traj.observables["acc"][-1] == 1.0
    assert traj.observables["L"][-1] == pytest.approx(0.022, abs=2e-3)  # spec §9.1


@pytest.mark.slow
def test_L8_margin_grows_like_log_t():
    gram = TwoMixtureGram.paper()
    traj = gf.gradient_descent(gram, gram.init_params(), lr=0.1, steps=40000, record_every=100)
    t = np.array([400, 1000, 2000, 4000])
    margin = np.array([traj.observables["margin"][at(traj, s)] for s in t])
    # spec: 3.68, 4.78, 5.44, 6.12
    np.testing.assert_allclose(margin, [3.68, 4.78, 5.44, 6.12], atol=0.05)
    slope = np.polyfit(np.log(t), margin, 1)[0]
    assert 0.9 < slope < 1.15  # spec numbers: 1.06, i.e. +0.73 per doubling of t
    assert traj.observables["L"][-1] < 0.003  # spec: L_cons 0.0022, L_hard 0.0011
