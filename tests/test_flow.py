"""integrate_flow against exact solutions, with errors normalised by the tolerances.

SciPy's own solver tests (``integrate/_ivp/tests/test_ivp.py``) compare with analytic
solutions at ``e = |y − y_exact| / (atol + rtol·|y_exact|)`` and assert ``e < 5``: the
bound scales with the requested tolerance, so it is neither brittle nor vacuous.  These
are *global* errors measured against *local* tolerances, so where a flow expands (the
plateau escape of a linear network) the accumulated error can exceed 5; those cases are
marked xfail with the measured numbers instead of loosening the bound.
"""

import json
import time
import warnings

import numpy as np
import pytest
from scipy.integrate import quad

import gradflow as gf
from gradflow.flow import AUTO_LSODA_MAX_SIZE, event
from gradflow.model import Model
from gradflow.models.linear_net import LinearNet
from gradflow.models.quadratic import Quadratic

METHODS = ["RK45", "DOP853", "LSODA", "Radau", "BDF"]
RTOLS = [1e-6, 1e-8, 1e-10]


def normalised_error(traj, exact, rtol):
    """max over samples and entries of |y − y_exact| / (atol + rtol·|y_exact|)."""
    atol = traj.metadata["atol"]
    return max(
        float(np.max(np.abs(traj.params[k] - exact[k]) / (atol + rtol * np.abs(exact[k]))))
        for k in exact
    )


# --- accuracy against closed forms -------------------------------------------------
# Quadratic with eigenvalues 1..4 (a non-stiff contraction), T = 5.  Measured e for BDF:
# 2.9 (1e-6), 5.1 (1e-8), 13.5 (1e-10): BDF's global error grows with its step count at
# tight tolerances.  All other methods stay below 3.4.
QUAD_FAIL = {("BDF", 1e-8): 5.1, ("BDF", 1e-10): 13.5}


def _cases(failing):
    cases = []
    for method in METHODS:
        for rtol in RTOLS:
            marks = []
            if (method, rtol) in failing:
                marks = pytest.mark.xfail(
                    strict=False,
                    reason=f"measured e = {failing[method, rtol]} > 5 (global error "
                    "accumulated over the steps; see module docstring)",
                )
            cases.append(pytest.param(method, rtol, marks=marks, id=f"{method}-{rtol:g}"))
    return cases


@pytest.mark.parametrize(("method", "rtol"), _cases(QUAD_FAIL))
def test_quadratic_matches_expm(method, rtol):
    model = Quadratic.stiff(4, 4.0, seed=3)
    theta0 = np.random.default_rng(1).standard_normal(4)
    traj = gf.integrate_flow(model, {"theta": theta0}, (0, 5), method=method, rtol=rtol)
    assert traj.status == "finished" and traj.method == method
    e = normalised_error(traj, {"theta": model.exact(traj.t, theta0)}, rtol)
    assert e < 5, e


@pytest.mark.parametrize(
    "method",
    [
        *["RK45", "LSODA", "Radau", "BDF"],
        pytest.param(
            "DOP853",
            marks=pytest.mark.xfail(
                strict=False,
                reason="measured e = 311 at an interpolated sample (t = 4.06), 10 at step "
                "ends: with λ = 10 DOP853's steps are stability-limited (hλ ≈ 8) and its "
                "interpolant's error is not controlled; same numbers with solve_ivp",
            ),
        ),
    ],
)
def test_quadratic_kappa_10_samples(method):
    """Quadratic.paper() (eigenvalues 1 and 10), rtol = 1e-8, samples on the log grid."""
    model = Quadratic.paper()
    theta0 = np.random.default_rng(1).standard_normal(2)
    traj = gf.integrate_flow(model, {"theta": theta0}, (0, 5), method=method, rtol=1e-8)
    e = normalised_error(traj, {"theta": model.exact(traj.t, theta0)}, 1e-8)
    assert e < 5, e


# Saxe network (modes s = 3, 2, 1 from u0 = 1e-3), T = 8.  During the plateau the mode
# strengths grow like e^{2st}, so relative errors made in each step are carried, not damped,
# and the global error is roughly the sum of the local ones.  Measured e:
SAXE_FAIL = {
    ("RK45", 1e-6): 8.3,
    ("RK45", 1e-8): 7.3,
    ("RK45", 1e-10): 10.3,
    ("DOP853", 1e-6): 9.1,
    ("DOP853", 1e-8): 8.9,
    ("DOP853", 1e-10): 9.1,
    ("LSODA", 1e-6): 6.5,
    ("LSODA", 1e-8): 11.7,
    ("LSODA", 1e-10): 21.1,
    ("BDF", 1e-6): 20.2,
    ("BDF", 1e-8): 58.8,
    ("BDF", 1e-10): 58.6,
}


@pytest.mark.parametrize(("method", "rtol"), _cases(SAXE_FAIL))
def test_linear_net_matches_saxe_solution(method, rtol):
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    traj = gf.integrate_flow(net, p0, (0, 8), method=method, rtol=rtol)
    assert traj.status == "finished"
    e = normalised_error(traj, net.exact(traj.t), rtol)
    assert e < 5, e


@pytest.mark.parametrize("method", METHODS)
def test_saxe_error_is_proportional_to_tolerance(method):
    """What does hold on the expanding flow: the global error follows rtol.

    The normalised error changes by less than 10x while rtol goes down 1e3x (the absolute
    error falls at least 1e2x).
    """
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    errors = []
    for rtol in (1e-6, 1e-9):
        traj = gf.integrate_flow(net, p0, (0, 8), method=method, rtol=rtol, n_eval=60)
        errors.append(normalised_error(traj, net.exact(traj.t), rtol))
    assert max(errors) / min(errors) < 10, errors


def test_dense_output_matches_exact_between_samples():
    model = Quadratic.stiff(4, 4.0, seed=3)
    theta0 = np.random.default_rng(1).standard_normal(4)
    for method in ("RK45", "LSODA", "BDF", "Radau"):
        traj = gf.integrate_flow(model, {"theta": theta0}, (0, 5), method=method, n_eval=5)
        atol = traj.metadata["atol"]
        for t in (0.013, 0.77, 3.3):
            exact = model.exact(t, theta0)
            e = np.abs(traj.at(t)["theta"] - exact) / (atol + 1e-8 * np.abs(exact))
            assert e.max() < 5, (method, t, e.max())
    with pytest.raises(ValueError, match="outside the integrated interval"):
        traj.at(6.0)


@pytest.mark.parametrize("method", ["RK45", "LSODA", "BDF"])
def test_own_stepping_loop_reproduces_solve_ivp(method):
    """Same solver, same steps: the samples and event times equal scipy's solve_ivp."""
    from scipy.integrate import solve_ivp

    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    spec = gf.Params(p0)
    halfway = event(lambda t, p: net.observables(p)["modes"][0] - net.s[0] / 2, name="half")
    traj = gf.integrate_flow(net, p0, (0, 4), method=method, n_eval=30, events=[halfway])
    rtol, atol = traj.metadata["rtol"], traj.metadata["atol"]

    def rhs(t, y):
        return -spec.pack(net.grad(spec.unpack(y)))

    def g(t, y):
        return net.observables(spec.unpack(y))["modes"][0] - net.s[0] / 2

    t_eval = np.concatenate([[0.0], np.geomspace(4e-6, 4, 30)])
    kwargs = {"jac": lambda t, y: -_dense_hessian(net, spec, y)} if method != "RK45" else {}
    ref = solve_ivp(
        rhs,
        (0, 4),
        spec.pack(p0),
        method=method,
        rtol=rtol,
        atol=atol,
        t_eval=t_eval,
        events=g,
        **kwargs,
    )
    sampled = np.isin(traj.t, t_eval)
    np.testing.assert_array_equal(traj.t[sampled], ref.t)
    for name, where in spec.slices.items():
        got = traj.params[name][sampled].reshape(len(ref.t), -1)
        np.testing.assert_allclose(got, ref.y[where].T, rtol=1e-13, atol=1e-15)
    assert traj.event_time("half") == pytest.approx(ref.t_events[0][0], rel=1e-10)


def _dense_hessian(model, spec, y):
    params = spec.unpack(y)
    return np.column_stack(
        [spec.pack(model.hvp(params, spec.unpack(e))) for e in np.eye(spec.size)]
    )


# --- stiffness: evaluation budgets ------------------------------------------------
def test_stiff_quadratic_nfev_budgets():
    """Hessian eigenvalues 1..1e4: RK45 is held to h ≲ 3.3/λ_max, implicit methods are not.

    Measured (T = 0.3, rtol = 1e-6): RK45 ~6,400 gradient calls; LSODA ~450, BDF ~330,
    Radau ~600 (Jacobian from hvp).  Budgets: 1,500 for each implicit method and a ratio
    of at least 4 to RK45.
    """
    model = Quadratic.stiff(20, 1e4)
    theta0 = {"theta": np.random.default_rng(0).standard_normal(20)}
    runs = {
        m: gf.integrate_flow(model, theta0, (0, 0.3), method=m, rtol=1e-6, n_eval=10)
        for m in ("RK45", "LSODA", "BDF", "Radau")
    }
    assert all(r.status == "finished" for r in runs.values())
    explicit = runs["RK45"].nfev
    assert explicit > 0.3 * 1e4 * 6 / 3.3 * 0.5  # the stability bound, with slack 2
    for m in ("LSODA", "BDF", "Radau"):
        assert runs[m].nfev < 1500, (m, runs[m].nfev)
        assert explicit / runs[m].nfev > 4, (m, explicit, runs[m].nfev)
    assert runs["BDF"].njev >= 1 and runs["Radau"].nlu >= 1


def test_jacobian_from_hvp_only_for_implicit_methods():
    model = Quadratic.stiff(5, 100.0)
    theta0 = {"theta": np.ones(5)}
    model.reset_counts()
    rk = gf.integrate_flow(model, theta0, (0, 1), method="RK45")
    assert model.counts["hvp"] == 0 and rk.njev == 0
    assert rk.metadata["jacobian"].startswith("none")
    model.reset_counts()
    radau = gf.integrate_flow(model, theta0, (0, 1), method="Radau")
    assert radau.njev >= 1
    assert model.counts["hvp"] == 5 * radau.njev  # one hvp per unit vector per Jacobian
    assert "hvp" in radau.metadata["jacobian"]


def test_nfev_counts_the_solver_gradient_calls():
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    net.reset_counts()
    traj = gf.integrate_flow(net, p0, (0, 2), method="RK45", n_eval=7)
    # grad calls are the solver's; loss_and_grad calls are the 8 recorded samples
    assert traj.nfev == net.counts["grad"] > 0
    assert net.counts["loss_and_grad"] == len(traj.t) == 8


class NoHvpDiagonal(Model):
    """L = ½ Σ d_i θ_i² without an hvp (for the large-state warning)."""

    name, citation, dynamics = "diag", "test", "gradient flow"

    def __init__(self, n):
        self.d = np.linspace(1.0, 2.0, n)

    def init_params(self, rng):
        return {"theta": np.ones(self.d.size)}

    def loss(self, params):
        return 0.5 * np.sum(self.d * params["theta"] ** 2)

    def grad(self, params):
        return {"theta": self.d * params["theta"]}


def test_method_auto_and_large_state_warning():
    small = gf.integrate_flow(NoHvpDiagonal(3), {"theta": np.ones(3)}, (0, 1))
    assert small.method == "LSODA" and "n=3 <= 500" in small.metadata["method_reason"]
    n = AUTO_LSODA_MAX_SIZE + 1
    big = NoHvpDiagonal(n)
    p = {"theta": np.ones(n)}
    assert gf.integrate_flow(big, p, (0, 1)).method == "RK45"
    tight = gf.integrate_flow(big, p, (0, 1), rtol=1e-10)
    assert tight.method == "DOP853" and "rtol < 1e-9" in tight.message
    huge = NoHvpDiagonal(2001)
    with pytest.warns(
        UserWarning, match=r"n=2001 numbers without model.hvp.*2001 extra gradient.*0.03 GiB"
    ):
        run = gf.integrate_flow(huge, {"theta": np.ones(2001)}, (0, 1), method="BDF", max_nfev=1)
    assert run.status == "stalled"


# --- events -------------------------------------------------------------------------
def test_event_at_saxe_half_crossing():
    """Mode α reaches s_α/2 at t½ = τ/(2s) log(s/u₀ − 1); located to 1e-6 relative."""
    net = LinearNet.paper(tau=1.5)
    p0 = net.init_params(np.random.default_rng(0))
    halves = [
        event(lambda t, p, a=a: net.observables(p)["modes"][a] - net.s[a] / 2, name=f"mode{a}")
        for a in range(3)
    ]
    traj = gf.integrate_flow(net, p0, (0, 10), method="RK45", events=halves)
    expected = net.half_time()
    for a in range(3):
        assert traj.event_time(f"mode{a}") == pytest.approx(expected[a], rel=1e-6)
    assert traj.status == "finished"
    assert [e["name"] for e in traj.events] == ["mode0", "mode1", "mode2"]


def test_terminal_event_with_direction_and_t_eval():
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    t_half = net.half_time()[1]
    rising = event(lambda t, p: net.s[1] / 2 - net.observables(p)["modes"][1], direction=1)
    falling = event(
        lambda t, p: net.s[1] / 2 - net.observables(p)["modes"][1],
        terminal=True,
        direction=-1,
        name="mode1_half",
    )
    t_eval = np.linspace(0, 8, 17)
    traj = gf.integrate_flow(
        net, p0, (0, 8), method="DOP853", t_eval=t_eval, events=[rising, falling]
    )
    # the +1 direction never happens (the gap s/2 - u only falls); the -1 one stops the run
    assert [e["name"] for e in traj.events] == ["mode1_half"]
    assert traj.status == "event" and "mode1_half" in traj.message
    assert traj.t[-1] == pytest.approx(t_half, rel=1e-6)
    # every requested time before the event is kept, and the event point is a sample
    kept = t_eval[t_eval < t_half]
    assert np.all(np.isin(kept, traj.t))
    assert traj.observables["modes"][-1][1] == pytest.approx(net.s[1] / 2, rel=1e-6)


def test_without_dense_output_samples_and_events_are_the_same():
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    half = event(lambda t, p: net.observables(p)["modes"][2] - net.s[2] / 2, terminal=True)
    runs = [
        gf.integrate_flow(net, p0, (0, 8), method="RK45", events=[half], dense_output=d)
        for d in (True, False)
    ]
    np.testing.assert_array_equal(runs[0].t, runs[1].t)
    np.testing.assert_array_equal(runs[0].params["W1"], runs[1].params["W1"])
    assert runs[0].events == runs[1].events and runs[1].status == "event"
    assert runs[1].dense is None
    with pytest.raises(ValueError, match="no dense output"):
        runs[1].at(1.0)


def test_non_terminal_event_time_is_a_sample():
    model = Quadratic(np.diag([1.0, 2.0]))
    mark = event(lambda t, p: p["theta"][0] - 0.5, name="half")
    traj = gf.integrate_flow(
        model, {"theta": np.ones(2)}, (0, 3), t_eval=[0.0, 1.0, 3.0], events=[mark]
    )
    # the root is exact on the interpolant, which carries the flow's own error (rtol = 1e-8
    # with LSODA; measured 1.6e-8 relative in the event time)
    assert traj.event_time("half") == pytest.approx(np.log(2), rel=1e-6)
    assert traj.event_time("half") in traj.t
    assert traj.t[-1] == 3.0 and traj.status == "finished"


# --- invariants -------------------------------------------------------------------------
@pytest.mark.parametrize("rtol", [1e-6, 1e-8])
def test_energy_identity(rtol):
    """L(0) − L(T) = ∫₀ᵀ ‖∇L(θ(t))‖² dt along the flow, from the dense output.

    Random (non-aligned) init of the linear network; quadrature with scipy.integrate.quad
    on the dense output (its own error ~1e-12).  Relative mismatch asserted below 10·rtol.
    """
    net = LinearNet.paper(init="random", init_scale=0.3)
    p0 = net.init_params(np.random.default_rng(2))
    T = 5.0
    traj = gf.integrate_flow(net, p0, (0, T), method="RK45", rtol=rtol)

    def grad_sq(t):
        g = net.grad(traj.at(t))
        return sum(float(np.sum(v**2)) for v in g.values())

    breaks = traj.dense.solution.ts
    integral = sum(
        quad(grad_sq, a, b, epsabs=0, epsrel=1e-12)[0]
        for a, b in zip(breaks[:-1], breaks[1:], strict=True)
    )
    drop = traj.loss[0] - traj.loss[-1]
    assert abs(drop - integral) / drop < 10 * rtol, (drop, integral)


def test_balance_is_conserved():
    """W2ᵀW2 − W1W1ᵀ is invariant under the flow (Du, Hu & Lee 2018)."""
    net = LinearNet.paper(init="random", init_scale=0.3)
    p0 = net.init_params(np.random.default_rng(3))
    traj = gf.integrate_flow(net, p0, (0, 10), method="DOP853", rtol=1e-10)
    C = traj.observables["conserved"]
    scale = np.abs(C[0]).max()
    drift = np.abs(C - C[0]).max()
    # W entries grow to O(1): the drift is a global error of products of entries
    assert drift < 1e-7 * max(1.0, scale), drift
    assert np.abs(C[0]).max() > 1e-2  # not trivially zero


def test_default_atol_resolves_a_tiny_initialisation():
    """u₀ = 1e-12 (weights 1e-6): SciPy's atol=1e-6 misplaces the escape, the default does not."""
    net = LinearNet.paper(u0=1e-12)
    p0 = net.init_params(np.random.default_rng(0))
    half = event(lambda t, p: net.observables(p)["modes"][0] - net.s[0] / 2, name="h")
    good = gf.integrate_flow(net, p0, (0, 20), method="RK45", events=[half])
    bad = gf.integrate_flow(net, p0, (0, 20), method="RK45", atol=1e-6, events=[half])
    expected = net.half_time()[0]
    assert good.metadata["atol"] < 1e-3 * 1e-6
    assert good.event_time("h") == pytest.approx(expected, rel=1e-6)
    assert abs(bad.event_time("h") - expected) / expected > 1e-3  # measured 1.8e-2


def test_frozen_parameters_never_move():
    net = LinearNet.paper(init="random", init_scale=0.3)
    p0 = net.init_params(np.random.default_rng(0))
    traj = gf.integrate_flow(net, p0, (0, 3), trainable=["W2"], method="RK45")
    assert np.all(traj.params["W1"] == p0["W1"])
    assert np.abs(traj.params["W2"][-1] - p0["W2"]).max() > 1e-2
    assert np.all(traj.at(1.7)["W1"] == p0["W1"])
    assert traj.metadata["trainable"] == ["W2"]
    # the flow of W2 alone is a linear ODE: compare with an independent solve
    W1 = p0["W1"]
    G = W1 @ W1.T
    # dW2/dt = (Σ − W2 W1) W1ᵀ  =>  vec form W2(t) = Σ W1ᵀ G⁻¹ + (W2(0) − Σ W1ᵀ G⁻¹) e^{−Gt}
    star = net.sigma31 @ W1.T @ np.linalg.inv(G)
    w, Q = np.linalg.eigh(G)
    expected = star + (p0["W2"] - star) @ Q @ np.diag(np.exp(-3 * w)) @ Q.T
    np.testing.assert_allclose(traj.params["W2"][-1], expected, rtol=1e-6, atol=1e-8)


# --- caps and failures ------------------------------------------------------------------
def test_max_nfev_stalls_and_keeps_samples():
    model = Quadratic.stiff(10, 1e4)
    traj = gf.integrate_flow(model, {"theta": np.ones(10)}, (0, 100), method="RK45", max_nfev=600)
    assert traj.status == "stalled" and not traj.success
    assert "max_nfev=600" in traj.message and "at t=" in traj.message
    assert 600 <= traj.nfev < 620
    assert 0 < traj.t[-1] < 100 and len(traj.t) > 1
    assert np.all(np.diff(traj.t) > 0)
    assert traj.at(traj.t[-1] / 2)["theta"].shape == (10,)


def test_max_wall_stalls():
    model = Quadratic.stiff(10, 1e4)
    traj = gf.integrate_flow(model, {"theta": np.ones(10)}, (0, 1e3), method="RK45", max_wall=0.2)
    assert traj.status == "stalled" and "max_wall=0.2 s" in traj.message
    assert traj.t[-1] < 1e3


class SlowGradient(Model):
    """L = ½ Σ λ_i θ_i² whose gradient takes a millisecond, and no hvp."""

    name = "slow_gradient"

    def __init__(self, lam):
        self.lam = np.asarray(lam, dtype=float)

    def init_params(self, rng=None):
        return {"theta": np.ones(self.lam.size)}

    def loss(self, params):
        return 0.5 * float(np.sum(self.lam * params["theta"] ** 2))

    def grad(self, params):
        time.sleep(1e-3)
        return {"theta": self.lam * params["theta"]}

    def loss_and_grad(self, params):
        return self.loss(params), self.grad(params)


@pytest.mark.parametrize("method", ["LSODA", "BDF", "Radau"])
def test_max_wall_stops_inside_a_step(method):
    """An implicit step without hvp builds its Jacobian by finite differences: n gradient
    calls inside one ``solver.step()``.  At n = 2000 and 1 ms a call, that is 2 s per
    Jacobian; the cap of 0.3 s must stop the run inside that step, not after it."""
    model = SlowGradient(np.linspace(1.0, 1e3, 2000))
    assert not model.has_hvp
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Jacobian-cost warning for a large state
        traj = gf.integrate_flow(
            model, {"theta": np.ones(2000)}, (0, 10.0), method=method, max_wall=0.3
        )
    elapsed = time.perf_counter() - start
    assert traj.status == "stalled" and "max_wall=0.3 s" in traj.message
    assert elapsed < 1.0, f"{elapsed:.2f} s, {traj.nfev} gradient calls"
    assert traj.t[0] == 0.0 and np.all(np.isfinite(traj.params["theta"]))


class BlowUp(Model):
    """L = −θ⁴/4: dθ/dt = θ³ blows up at t = 1/(2θ₀²)."""

    name, citation, dynamics = "blowup", "test", "gradient flow"

    def init_params(self, rng):
        return {"theta": np.array([1.0])}

    def loss(self, params):
        return -0.25 * np.sum(params["theta"] ** 4)

    def grad(self, params):
        return {"theta": -(params["theta"] ** 3)}


def test_solver_failure_returns_what_was_computed():
    traj = gf.integrate_flow(BlowUp(), {"theta": np.array([1.0])}, (0, 1.0), method="RK45")
    assert traj.status == "failed" and "RK45" in traj.message
    # the last sample is the last accepted step, at the blow-up time to solver accuracy
    assert len(traj.t) > 1 and traj.t[-1] == pytest.approx(0.5, abs=1e-6)
    assert traj.params["theta"][-1, 0] > 1e3
    early = traj.t < 0.49
    exact = 1 / np.sqrt(1 - 2 * traj.t[early])  # θ(t) = θ₀ / sqrt(1 − 2θ₀²t)
    np.testing.assert_allclose(traj.params["theta"][early, 0], exact, rtol=1e-6)


# --- outputs --------------------------------------------------------------------------
def test_log_t_eval_and_metadata_round_trip(tmp_path):
    net = LinearNet.paper()
    p0 = net.init_params(np.random.default_rng(0))
    traj = gf.integrate_flow(net, p0, (0, 10), n_eval=50)
    expected = np.concatenate([[0.0], np.geomspace(1e-5, 10, 50)])
    np.testing.assert_allclose(traj.t, expected, rtol=1e-14)
    md = traj.metadata
    assert md["model"] == "linear_net" and md["config"] == net.config()
    assert md["rtol"] == 1e-8 and md["method"] == "LSODA" and md["trainable"] == ["W1", "W2"]
    assert md["atol"] == pytest.approx(
        1e-8 * np.sqrt(np.mean(np.concatenate([p0["W1"].ravel(), p0["W2"].ravel()]) ** 2))
    )
    assert {"numpy", "scipy", "gradflow"} <= set(md["environment"])
    json.dumps(md)
    loaded = gf.load(traj.save(tmp_path / "run.npz"))
    np.testing.assert_array_equal(loaded.params["W1"], traj.params["W1"])
    np.testing.assert_array_equal(loaded.observables["modes"], traj.observables["modes"])
    assert loaded.nfev == traj.nfev and loaded.metadata == json.loads(json.dumps(md))


def test_t_eval_none_records_every_step():
    model = Quadratic.paper()
    traj = gf.integrate_flow(
        model, {"theta": np.ones(2)}, (0, 1), method="RK45", t_eval=None, observables=False
    )
    assert traj.t[0] == 0 and traj.t[-1] == 1
    assert len(traj.t) == len(traj.dense.solution.ts)
    assert traj.observables == {}


def test_progress_bar_on_stderr(capsys):
    model = Quadratic.paper()
    gf.integrate_flow(model, {"theta": np.ones(2)}, (0, 2), progress=True)
    err = capsys.readouterr().err
    assert "gradflow flow (LSODA)" in err and "100.0%" in err and "finished" in err
    gf.integrate_flow(model, {"theta": np.ones(2)}, (0, 2))
    assert capsys.readouterr().err == ""


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"params0": {"theta": np.ones(2), "x": np.ones(1)}},
            ValueError,
            "params0 has the wrong names",
        ),
        ({"params0": {"beta": np.ones(2)}}, ValueError, "params0 has the wrong names"),
        ({"params0": {"theta": np.ones(3)}}, ValueError, r"params0\['theta'\] has shape"),
        ({"params0": {"theta": np.ones(2, dtype=np.float32)}}, TypeError, "dtype float32"),
        ({"params0": {"theta": np.array([1, 2])}}, TypeError, "dtype int64"),
        ({"params0": {"theta": np.array([1.0, np.nan])}}, ValueError, "non-finite"),
        ({"params0": [1.0, 2.0]}, TypeError, "params0 must be a dict"),
        ({"t_span": (1.0, 0.0)}, ValueError, r"t_span must be \(t0, t1\) with t1 > t0"),
        ({"t_span": (0.0, np.inf)}, ValueError, "t_span must be"),
        ({"t_span": 5.0}, ValueError, "t_span must be"),
        ({"method": "Euler"}, ValueError, r"method 'Euler' is unknown; choose one of \['auto'"),
        ({"rtol": 0.0}, ValueError, "rtol must be positive"),
        ({"rtol": -1e-8}, ValueError, "rtol must be positive"),
        ({"atol": -1.0}, ValueError, "atol must be positive"),
        ({"atol": np.ones(3)}, ValueError, "atol must be a positive number or an array of 2"),
        ({"t_eval": "linear"}, ValueError, "t_eval must be 'log'"),
        ({"t_eval": [0.0, 2.0, 1.0]}, ValueError, "t_eval must be strictly increasing"),
        ({"t_eval": [0.0, 20.0]}, ValueError, "t_eval must lie inside t_span"),
        ({"n_eval": 0}, ValueError, "n_eval must be a positive integer"),
        ({"trainable": ["nope"]}, ValueError, r"trainable names \['nope'\] are not parameters"),
        ({"max_nfev": 0}, ValueError, "max_nfev must be a positive integer"),
        ({"max_wall": -1.0}, ValueError, "max_wall must be positive"),
        ({"events": [3]}, TypeError, r"events\[0\] must be callable"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"params0": {"theta": np.ones(2)}, "t_span": (0.0, 1.0)}
    args.update(kwargs)
    params0, t_span = args.pop("params0"), args.pop("t_span")
    with pytest.raises(error, match=match):
        gf.integrate_flow(Quadratic.paper(), params0, t_span, **args)


def test_bad_model_and_event_direction():
    with pytest.raises(TypeError, match="model must be a gradflow.Model"):
        gf.integrate_flow(object(), {"theta": np.ones(2)}, (0, 1))
    with pytest.raises(ValueError, match="direction must be -1, 0 or"):
        event(lambda t, p: 0.0, direction=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gf.integrate_flow(Quadratic.paper(), {"theta": np.ones(2)}, (0, 1), method="RK45")
