"""Tests of gradflow.plots: what is drawn is checked against closed forms, not against itself.

The phase portrait of a 2-D Quadratic ``L = ½ θᵀHθ`` is checked against the exact gradient
field ``-Hθ`` (streamline directions), the exact nullclines ``(Hθ)_i = 0`` and the exact flow
``expm(-Ht)θ₀`` (the trajectory drawn on top).
"""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.contour import ContourSet
from scipy.linalg import expm

import gradflow as gf
from gradflow import plots
from gradflow.models.quadratic import Quadratic
from gradflow.trajectory import Trajectory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture
def quadratic():
    """Eigenvalues 1 and 10 on axes rotated by 30 degrees: the field is not axis-aligned."""
    return Quadratic.paper(kappa=10.0, angle=np.pi / 6)


def minus_H_theta(H):
    """The gradient-flow field -Hθ, vectorised over meshgrid arrays."""
    return lambda X, Y: tuple(-np.einsum("ij,j...->i...", H, np.stack([X, Y])))


def toy_trajectory(n=6, kind="flow", t0=0.0):
    t = np.linspace(t0, 5.0, n)
    attn = np.arange(n * 2 * 3, dtype=float).reshape(n, 2, 3)
    return Trajectory(
        t=t,
        params={"theta": np.column_stack([np.exp(-t), np.exp(-2 * t)])},
        loss=np.exp(-2 * t),
        grad_norm=np.exp(-t),
        observables={"attn": attn, "margin": 1 - np.exp(-t)},
        kind=kind,
        lr=0.5 if kind == "gd" else None,
    )


def plotted_lines(ax):
    """Data lines (not the vertical marker lines of events/stages)."""
    return [ln for ln in ax.lines if not ln.get_label().startswith("_")]


# --- phase portrait against the exact flow ------------------------------------------------
def test_streamlines_are_tangent_to_minus_H_theta(quadratic):
    H = quadratic.H
    fig = plots.phase_portrait(minus_H_theta(H), (-2, 2), (-1.5, 1.5))
    streams = fig.axes[0].collections[0]
    segments = streams.get_segments()
    start = np.concatenate([s[:-1] for s in segments])
    stop = np.concatenate([s[1:] for s in segments])
    step, mid = stop - start, 0.5 * (start + stop)
    exact = -mid @ H.T  # the field -Hθ at each segment's midpoint, computed independently
    # streamplot follows a bilinear interpolation of the field on its own coarse grid; within
    # a few cells of the fixed point the direction turns inside one cell, so only steps at
    # |θ| > 0.2 (five grid cells) are held to a direction error below 8 degrees (cos > 0.99).
    keep = (np.linalg.norm(step, axis=1) > 1e-9) & (np.linalg.norm(mid, axis=1) > 0.2)
    cos = np.sum(step[keep] * exact[keep], axis=1) / (
        np.linalg.norm(step[keep], axis=1) * np.linalg.norm(exact[keep], axis=1)
    )
    assert keep.sum() > 500
    assert cos.min() > 0.99
    # the same check rejects a transposed field (x and y swapped): it is not vacuous
    swapped = exact[keep][:, ::-1]
    cos_swapped = np.sum(step[keep] * swapped, axis=1) / (
        np.linalg.norm(step[keep], axis=1) * np.linalg.norm(swapped, axis=1)
    )
    assert np.mean(cos_swapped > 0.99) < 0.5


def test_nullclines_are_the_lines_where_a_gradient_component_vanishes(quadratic):
    H = quadratic.H
    fig = plots.phase_portrait(
        minus_H_theta(H), (-2, 2), (-1.5, 1.5), nullclines=True, labels=("u", "v"), density=0.5
    )
    ax = fig.axes[0]
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 2
    for contour, row in zip(contours, H, strict=True):  # dx/dt = 0 first, then dy/dt = 0
        vertices = np.concatenate([p.vertices for p in contour.get_paths()])
        assert len(vertices) > 10
        # marching squares interpolates linearly, exact for a linear field: rounding only
        assert np.max(np.abs(vertices @ row)) < 1e-12 * np.abs(H).max() * 4
        # and the curve spans the plot (it is the whole line through 0, not a piece)
        assert np.ptp(vertices[:, 0]) > 1.0 or np.ptp(vertices[:, 1]) > 1.0
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["du/dt = 0", "dv/dt = 0"]


def test_flow_trajectory_drawn_is_the_exact_flow(quadratic):
    theta0 = np.array([1.6, -0.9])
    rtol, atol = 1e-8, 1e-10
    flow = gf.integrate_flow(
        quadratic, {"theta": theta0}, (0.0, 5.0), method="RK45", rtol=rtol, atol=atol
    )
    gd = gf.gradient_descent(quadratic, {"theta": theta0}, lr=0.05, steps=100)
    fig = plots.phase_portrait(
        minus_H_theta(quadratic.H),
        (-2, 2),
        (-1.5, 1.5),
        trajectories=[flow, (gd, ("theta[0]", "theta[1]"))],
        density=0.5,
    )
    ax = fig.axes[0]
    flow_line, gd_line = plotted_lines(ax)
    drawn = flow_line.get_xydata()
    np.testing.assert_array_equal(drawn, flow.params["theta"])  # every sample is drawn
    every = slice(None, None, 10)  # scipy's expm is slow under BLAS contention: 1 in 10
    exact = np.array([expm(-quadratic.H * t) @ theta0 for t in flow.t[every]])
    # error normalised by atol + rtol·‖y‖ (as SciPy's tests do): below 5
    err = np.linalg.norm(drawn[every] - exact, axis=1)
    assert np.max(err / (atol + rtol * np.linalg.norm(exact, axis=1))) < 5
    # GD is dashed with markers; its points are θ_k = (I - ηH)^k θ₀
    assert gd_line.get_linestyle() == "--" and gd_line.get_marker() == "o"
    k = np.asarray(gd.steps)
    gd_exact = np.array(
        [np.linalg.matrix_power(np.eye(2) - 0.05 * quadratic.H, j) @ theta0 for j in k]
    )
    np.testing.assert_allclose(gd_line.get_xydata(), gd_exact, rtol=1e-12, atol=1e-14)


def test_phase_portrait_accepts_arrays_and_callable_selectors(quadratic):
    points = np.column_stack([np.linspace(-1, 1, 7), np.linspace(1, -1, 7)])
    traj = toy_trajectory()
    fig = plots.phase_portrait(
        minus_H_theta(quadratic.H),
        (-2, 2),
        (-2, 2),
        trajectories=[points, traj, (traj, lambda tr: tr.params["theta"][:, ::-1])],
        density=0.5,
    )
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]
    np.testing.assert_array_equal(lines[0].get_xydata(), points)
    np.testing.assert_array_equal(lines[1].get_xydata(), traj.params["theta"])
    np.testing.assert_array_equal(lines[2].get_xydata(), traj.params["theta"][:, ::-1])


def test_phase_colouring_and_labels(quadratic):
    fig = plots.phase_portrait(
        minus_H_theta(quadratic.H),
        (-1, 1),
        (-1, 1),
        phase=lambda X, Y: (X > 0).astype(int) + 2 * (Y > 0),
        phase_labels={0: "both negative", 3: "both positive"},
        grid=41,
        density=0.5,
    )
    ax = fig.axes[0]
    mesh = next(c for c in ax.collections if type(c).__name__ == "QuadMesh")
    codes = np.asarray(mesh.get_array()).reshape(41, 41)
    assert codes[-1, -1] == 3 and codes[0, 0] == 0  # top-right is x>0,y>0 (value 3)
    assert codes[0, -1] == 1  # bottom-right is x>0, y<0 (value 1)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "both negative",
        "both positive",
    ]


def test_phase_portrait_bad_input(quadratic):
    field = minus_H_theta(quadratic.H)
    with pytest.raises(ValueError, match="xlim"):
        plots.phase_portrait(field, (1, -1), (-1, 1))
    with pytest.raises(ValueError, match="field"):
        plots.phase_portrait(lambda X, Y: (1.0, 2.0), (-1, 1), (-1, 1))
    with pytest.raises(ValueError, match=r"trajectories\[0\]"):
        plots.phase_portrait(field, (-1, 1), (-1, 1), trajectories=[np.zeros((5, 3))])


# --- curves ---------------------------------------------------------------------------------
def test_curves_drops_t0_on_a_log_axis_and_keeps_it_on_a_linear_one():
    traj = toy_trajectory(n=6, t0=0.0)
    ax = plots.curves(traj, keys=["loss"], logx=True).axes[0]
    (line,) = plotted_lines(ax)
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(line.get_xdata(), traj.t[1:])
    np.testing.assert_array_equal(line.get_ydata(), traj.loss[1:])
    ax = plots.curves(traj, keys=["loss"], logx=False).axes[0]
    (line,) = plotted_lines(ax)
    assert ax.get_xscale() == "linear"
    np.testing.assert_array_equal(line.get_xdata(), traj.t)


def test_curves_flow_solid_gd_dashed_one_panel_per_key():
    flow, gd = toy_trajectory(), toy_trajectory(kind="gd")
    fig = plots.curves(flow, gd, keys=["loss", "margin"])
    assert len(fig.axes) == 2
    flow_line, gd_line = plotted_lines(fig.axes[0])
    assert flow_line.get_linestyle() == "-" and flow_line.get_marker() in ("None", None, "")
    assert gd_line.get_linestyle() == "--" and gd_line.get_marker() == "o"
    assert gd_line.get_label() == "GD (η=0.5)"
    assert flow_line.get_color() != gd_line.get_color()
    np.testing.assert_array_equal(
        plotted_lines(fig.axes[1])[0].get_ydata(), flow.observables["margin"][1:]
    )


@pytest.mark.parametrize("key", ["attn[1,2]", ("attn", (1, 2)), "attn[-1,-1]", " attn [ 1, 2 ] "])
def test_selector_picks_the_component(key):
    traj = toy_trajectory()
    expected = traj.observables["attn"][:, 1, 2]
    np.testing.assert_array_equal(plots.select(traj, key), expected)
    (line,) = plotted_lines(plots.curves(traj, keys=[key], logx=False).axes[0])
    np.testing.assert_array_equal(line.get_ydata(), expected)


def test_selector_on_parameters_and_scalars():
    traj = toy_trajectory()
    np.testing.assert_array_equal(plots.select(traj, ("theta", 1)), traj.params["theta"][:, 1])
    np.testing.assert_array_equal(plots.select(traj, "grad_norm"), traj.grad_norm)
    assert plots.parse_key("attn[0, -1]") == ("attn", (0, -1))


def test_array_key_without_index_draws_each_component_or_refuses():
    traj = toy_trajectory()
    lines = plotted_lines(plots.curves(traj, keys=["attn"], logx=False).axes[0])
    assert len(lines) == 6
    np.testing.assert_array_equal(lines[5].get_ydata(), traj.observables["attn"][:, 1, 2])
    assert lines[5].get_label() == "attn[1,2]"
    assert len({ln.get_color() for ln in lines}) == 6  # one run: a colour per component
    two = plotted_lines(plots.curves(traj, toy_trajectory(kind="gd"), keys=["attn"]).axes[0])
    assert len({ln.get_color() for ln in two}) == 2  # two runs: a colour per run
    assert len({ln.get_linestyle() for ln in two[:6]}) > 1  # components by line style
    traj.observables["big"] = np.zeros((len(traj.t), 4, 4))
    with pytest.raises(ValueError, match=r"16 components.*big\[0,0\]"):
        plots.curves(traj, keys=["big"])


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("nope", "available"),
        ("attn[1]", "needs 2 integers"),
        ("attn[2,0]", "out of range"),
        ("attn[a,b]", "integers"),
        ("attn[0", "form"),
    ],
)
def test_selector_errors(key, match):
    with pytest.raises(ValueError, match=match):
        plots.select(toy_trajectory(), key)


def test_curves_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        plots.curves()
    with pytest.raises(TypeError, match=r"trajectories\[0\]"):
        plots.curves(np.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        plots.curves(toy_trajectory(), labels=["a", "b"])


def test_events_and_stage_boundaries_are_marked():
    traj = toy_trajectory()
    traj.events = [{"name": "half", "t": 1.5, "terminal": False}]
    traj.stages = [
        {"name": "first", "t_start": 0.0, "t_end": 2.0},
        {"name": "second", "t_start": 2.0, "t_end": 5.0},
    ]
    ax = plots.curves(traj).axes[0]
    vertical = {
        float(ln.get_xdata()[0])
        for ln in ax.lines
        if ln.get_label().startswith("_") and np.ptp(ln.get_xdata()) == 0
    }
    assert vertical == {1.5, 2.0}
    texts = {t.get_text() for t in ax.texts}
    assert {"half", "second"} <= texts
    ax = plots.curves(traj, mark_events=False, mark_stages=False).axes[0]
    assert len(ax.lines) == 1


def test_staged_run_is_drawn_in_the_style_of_each_stage():
    traj = toy_trajectory(n=6)
    traj.kind = "staged"
    traj.stages = [
        {"name": "flow first", "kind": "flow", "t_start": 0.0, "t_end": 2.0, "start": 0, "stop": 3},
        {"name": "then GD", "kind": "gd", "t_start": 2.0, "t_end": 5.0, "start": 2, "stop": 6},
    ]
    ax = plots.curves(traj, logx=False, mark_stages=False).axes[0]
    flow_part, gd_part = ax.lines
    np.testing.assert_array_equal(flow_part.get_xdata(), traj.t[:3])
    np.testing.assert_array_equal(gd_part.get_ydata(), traj.loss[2:])
    assert flow_part.get_linestyle() == "-" and gd_part.get_linestyle() == "--"
    assert gd_part.get_marker() == "o"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["staged"]


def test_curves_on_a_given_axes_draws_all_keys_there():
    traj = toy_trajectory()
    fig, ax = matplotlib.pyplot.subplots()
    assert plots.curves(traj, keys=["loss", "margin"], ax=ax, title="T") is fig
    assert len(fig.axes) == 1 and len(plotted_lines(ax)) == 2
    assert ax.get_title() == "T"


# --- attention maps and files ---------------------------------------------------------------
def test_attention_map_shows_the_matrix():
    A = np.arange(6.0).reshape(2, 3)
    fig = plots.attention_map(A, row_labels=["q1", "q2"], col_labels=["a", "b", "c"], title="A")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), A)
    assert len(fig.axes) == 2  # the colour bar
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "q2"]
    with pytest.raises(ValueError, match="2-D"):
        plots.attention_map(np.zeros(3))
    with pytest.raises(ValueError, match="col_labels"):
        plots.attention_map(A, col_labels=["a"])


def test_save_writes_a_png_and_creates_folders(tmp_path):
    fig = plots.curves(toy_trajectory())
    path = plots.save(fig, tmp_path / "a" / "b" / "loss.png", dpi=50)
    assert path == tmp_path / "a" / "b" / "loss.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_import_gradflow_does_not_load_matplotlib():
    code = "import sys, gradflow; assert 'matplotlib' not in sys.modules, 'matplotlib loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
