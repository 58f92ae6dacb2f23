"""Figures: curves over (log) time, phase portraits, attention maps.

This module is imported on first use (``gradflow.plots``), so ``import gradflow`` does not
load matplotlib.  Every function draws on a given ``ax`` or makes a new figure and
**returns the figure**; none calls ``plt.show()``.  Save with :func:`save`.

Backend: when the environment variable ``MPLBACKEND`` is unset, pyplot has not been
imported yet and there is no display (no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux), the
non-interactive ``Agg`` backend is selected, so figures can be written on a headless
machine.  A backend chosen by the user (``MPLBACKEND``, ``%matplotlib``, an earlier
``matplotlib.use``) is left alone.

Selecting what to plot (:func:`select`)
---------------------------------------
A *key* names a time series of a :class:`~gradflow.trajectory.Trajectory`:

- ``"loss"`` or ``"grad_norm"``;
- the name of an observable (looked up first) or of a parameter, e.g. ``"attn_12"``;
- a component of an array-valued observable or parameter, written like NumPy indexing
  without the time axis: the string ``"attn[0,1]"`` or the tuple ``("attn", (0, 1))``;
  ``"theta[1]"`` and ``("theta", 1)`` select one entry of a vector.  Negative indices count
  from the end.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

if (
    not os.environ.get("MPLBACKEND")
    and "matplotlib.pyplot" not in sys.modules
    and sys.platform.startswith("linux")
    and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from gradflow.trajectory import Trajectory  # noqa: E402

__all__ = ["curves", "phase_portrait", "attention_map", "save", "select", "parse_key"]

Key = str | tuple[str, int | tuple[int, ...]]

_KEY_RE = re.compile(r"^\s*(?P<name>[^\[\]]+?)\s*\[(?P<index>[^\[\]]*)\]\s*$")
#: at most this many components are drawn when an array-valued key has no index
_MAX_COMPONENTS = 10
#: several series of one run on one panel differ by line style (flow) or marker (GD/Adam)
_LINESTYLES = ["-", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1))]
_MARKERS = ["o", "s", "^", "v", "D"]
#: phase-portrait trajectories avoid the nullclines' red and blue and the streamlines' grey
_TRAJECTORY_COLORS = ["C1", "C2", "C4", "C5", "C6", "C8", "C9", "k"]


# --- selecting series -------------------------------------------------------------------
def parse_key(key: Key) -> tuple[str, tuple[int, ...]]:
    """Split a key into a name and a (possibly empty) component index.

    Parameters
    ----------
    key : str or tuple
        ``"loss"``, ``"attn"``, ``"attn[0,1]"``, ``("attn", (0, 1))`` or ``("theta", 1)``.

    Returns
    -------
    name : str
        The series' name (observable, parameter, ``"loss"`` or ``"grad_norm"``).
    index : tuple of int
        Empty when the whole series is meant.

    Raises
    ------
    ValueError
        If the string has brackets that do not hold comma-separated integers.
    TypeError
        If ``key`` is neither a string nor a ``(name, index)`` tuple.

    Examples
    --------
    >>> parse_key("attn[0, -1]")
    ('attn', (0, -1))
    >>> parse_key(("theta", 1))
    ('theta', (1,))
    >>> parse_key("loss")
    ('loss', ())
    """
    if isinstance(key, str):
        if "[" not in key and "]" not in key:
            return key.strip(), ()
        match = _KEY_RE.match(key)
        if match is None:
            raise ValueError(f"key {key!r} is not of the form 'name' or 'name[i,j,...]'")
        try:
            index = tuple(int(part) for part in match["index"].split(","))
        except ValueError:
            raise ValueError(
                f"key {key!r}: the index must be comma-separated integers, e.g. 'attn[0,1]'"
            ) from None
        return match["name"], index
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
        name, index = key
        if isinstance(index, (int, np.integer)):
            return name, (int(index),)
        if isinstance(index, tuple) and all(isinstance(i, (int, np.integer)) for i in index):
            return name, tuple(int(i) for i in index)
        raise TypeError(f"key {key!r}: the index must be an int or a tuple of ints")
    raise TypeError(f"key must be a string like 'attn[0,1]' or a tuple (name, index), got {key!r}")


def select(traj: Trajectory, key: Key) -> np.ndarray:
    """The time series named by ``key`` (see the module docstring for the key syntax).

    Parameters
    ----------
    traj : Trajectory
        The run.
    key : str or tuple
        What to select.  Observables are looked up before parameters of the same name.

    Returns
    -------
    ndarray, shape (n,) or (n, ...)
        One value per recorded time (``traj.t``); further axes when an array-valued key is
        given without an index.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the available ones) or the index does
        not fit the array.

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.trajectory import Trajectory
    >>> traj = Trajectory(t=np.arange(3.0), params={"theta": np.arange(6.0).reshape(3, 2)},
    ...                   loss=np.zeros(3), grad_norm=np.zeros(3))
    >>> select(traj, "theta[1]").tolist()
    [1.0, 3.0, 5.0]
    >>> select(traj, ("theta", -2)).tolist(), select(traj, "theta").shape
    ([0.0, 2.0, 4.0], (3, 2))
    >>> select(traj, "attn")
    Traceback (most recent call last):
        ...
    ValueError: key 'attn' is not in this trajectory; available: ['loss', 'grad_norm', 'theta']
    """
    name, index = parse_key(key)
    if name == "loss":
        series = np.asarray(traj.loss, dtype=float)
    elif name == "grad_norm":
        series = np.asarray(traj.grad_norm, dtype=float)
    elif name in traj.observables:
        series = np.asarray(traj.observables[name], dtype=float)
    elif name in traj.params:
        series = np.asarray(traj.params[name], dtype=float)
    else:
        available = ["loss", "grad_norm", *traj.observables, *traj.params]
        raise ValueError(f"key {name!r} is not in this trajectory; available: {available}")
    if not index:
        return series
    shape = series.shape[1:]
    if len(index) != len(shape):
        raise ValueError(
            f"key {key!r}: {name!r} has shape {shape} per time, so the index needs "
            f"{len(shape)} integers, got {len(index)}"
        )
    for i, n in zip(index, shape, strict=True):
        if not -n <= i < n:
            raise ValueError(f"key {key!r}: index {index} is out of range for shape {shape}")
    return series[(slice(None), *index)]


def _key_label(key: Key) -> str:
    name, index = parse_key(key)
    return f"{name}[{','.join(map(str, index))}]" if index else name


def _traj_label(traj: Trajectory) -> str:
    if traj.kind in ("gd", "adam"):
        name = "GD" if traj.kind == "gd" else "Adam"
        return f"{name} (η={traj.lr:g})" if traj.lr is not None else name
    if traj.kind == "flow":
        return f"flow ({traj.method})" if traj.method else "flow"
    return traj.kind


def _time_mask(t: np.ndarray, logx: bool) -> np.ndarray:
    return t > 0 if logx else np.ones(t.shape, dtype=bool)


# --- curves over time -----------------------------------------------------------------------
def curves(
    *trajectories: Trajectory,
    keys: Sequence[Key] = ("loss",),
    labels: Sequence[str] | None = None,
    logx: bool = True,
    logy: bool = False,
    ax: Any = None,
    title: str | None = None,
    mark_events: bool = True,
    mark_stages: bool = True,
) -> Any:
    """Time series of one or more runs, gradient flow and GD/Adam overlaid.

    Time is flow time (GD step ``k`` at ``t = lr·k``), so a flow and a GD run of the same
    model line up.  Gradient flow is drawn solid; GD and Adam dashed with markers.

    Parameters
    ----------
    *trajectories : Trajectory
        The runs, each drawn in its own colour (the same colour in every panel), several
        curves of one run in one panel told apart by line style.  With a single run, those
        curves get colours of their own instead.  A staged run is drawn stage by stage in
        the style of each stage's kind.
    keys : sequence of str or tuple
        What to draw, one panel per key (see :func:`select` for the syntax:
        ``"loss"``, ``"grad_norm"``, ``"attn_12"``, ``"attn[0,1]"``, ``("attn", (0, 1))``).
        An array-valued key without an index draws all its components when there are at
        most 10, and raises ``ValueError`` otherwise.
    labels : sequence of str, optional
        Legend labels, one per trajectory (default: kind, method and learning rate).
    logx : bool
        Logarithmic time axis.  Samples at ``t <= 0`` (the initial point ``t = 0``) cannot
        be placed on it and are **dropped from the drawing**; pass ``logx=False`` to see them.
    logy : bool
        Logarithmic value axis (non-positive values are masked by matplotlib).
    ax : matplotlib Axes, optional
        Draw every key on this axes.  By default a new figure gets one panel per key,
        stacked with a shared time axis.
    title : str, optional
        Title of the (top) panel.
    mark_events : bool
        Dotted vertical lines, in the trajectory's colour, at the events that fired.
    mark_stages : bool
        Dash-dotted grey vertical lines at the start of each stage after the first, with
        the stage names.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (``fig.axes`` holds the panels).

    Raises
    ------
    TypeError
        If a positional argument is not a Trajectory.
    ValueError
        If no trajectory is given, ``labels`` has the wrong length, or a key is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import gradflow as gf
    >>> model = gf.models.Quadratic.paper()
    >>> theta0 = {"theta": np.array([1.5, -1.0])}
    >>> flow = gf.integrate_flow(model, theta0, (0.0, 5.0))
    >>> gd = gf.gradient_descent(model, theta0, lr=0.05, steps=100)
    >>> fig = curves(flow, gd, keys=["loss", "theta[1]"], logy=True)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'theta[1]']
    >>> [ax.get_xscale() + "/" + ax.get_yscale() for ax in fig.axes]
    ['log/log', 'log/log']
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['flow (LSODA)', 'GD (η=0.05)']
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    if not trajectories:
        raise ValueError("curves() needs at least one Trajectory")
    for i, traj in enumerate(trajectories):
        if not isinstance(traj, Trajectory):
            raise TypeError(
                f"trajectories[{i}] must be a gradflow Trajectory, got {type(traj).__name__}"
            )
    keys = [keys] if isinstance(keys, str) or _is_single_tuple_key(keys) else list(keys)
    if not keys:
        raise ValueError("keys must name at least one series, e.g. keys=('loss',)")
    if labels is None:
        labels = [_traj_label(traj) for traj in trajectories]
    elif len(labels) != len(trajectories):
        raise ValueError(f"labels has {len(labels)} entries for {len(trajectories)} trajectories")

    if ax is None:
        fig, axes = plt.subplots(
            len(keys), 1, figsize=(6.4, 2.2 + 1.8 * len(keys)), sharex=True, squeeze=False
        )
        panels = [(axes[i, 0], [key]) for i, key in enumerate(keys)]
    else:
        fig = ax.figure
        panels = [(ax, keys)]

    for panel, panel_keys in panels:
        for j, (traj, label) in enumerate(zip(trajectories, labels, strict=True)):
            color = f"C{j % 10}"
            _draw_series(
                panel, traj, panel_keys, label, color, logx, multi=len(panel_keys) > 1,
                alone=len(trajectories) == 1,
            )  # fmt: skip
            if mark_events:
                _draw_events(panel, traj, color, logx)
            if mark_stages:
                _draw_stages(panel, traj, logx)
        panel.set_xscale("log" if logx else "linear")
        if logy:
            panel.set_yscale("log")
        panel.set_ylabel(", ".join(_key_label(k) for k in panel_keys))
        panel.grid(True, which="major", alpha=0.3)
    panels[-1][0].set_xlabel("flow time t  (GD: t = lr · step)")
    for i, (panel, _) in enumerate(panels):
        entries = panel.get_legend_handles_labels()[1]
        if i == 0 or len(entries) > len(trajectories):
            panel.legend(fontsize="small", loc="best")
    if title is not None:
        panels[0][0].set_title(title)
    if ax is None:
        fig.tight_layout()
    return fig


def _is_single_tuple_key(keys: tuple) -> bool:
    return len(keys) == 2 and isinstance(keys[0], str) and not isinstance(keys[1], str)


def _segments(traj: Trajectory) -> list[tuple[slice, bool]]:
    """Index ranges of the run and whether each is discrete (GD/Adam): one per stage."""
    if traj.kind == "staged" and traj.stages:
        return [
            (slice(int(st["start"]), int(st["stop"])), st.get("kind") in ("gd", "adam"))
            for st in traj.stages
        ]
    return [(slice(None), traj.kind in ("gd", "adam"))]


def _draw_series(
    ax: Any,
    traj: Trajectory,
    keys: Sequence[Key],
    label: str,
    color: str,
    logx: bool,
    multi: bool,
    alone: bool,
) -> None:
    """Plot the series of ``keys``; keys and components differ in line style (or marker).

    When the run is ``alone`` in the figure, several curves of one panel get colours of
    their own instead (and legend entries without the run's label).

    A staged run is drawn stage by stage: flow stages solid, GD/Adam stages dashed with
    markers, one legend entry for the whole run.
    """
    t = np.asarray(traj.t, dtype=float)
    keep = _time_mask(t, logx)
    curves_drawn = [
        (f"{_key_label(key)}{suffix}", values)
        for key in keys
        for suffix, values in _components(select(traj, key), key)
    ]
    for k, (name, values) in enumerate(curves_drawn):
        several = multi or len(curves_drawn) > 1
        own_colour = alone and several
        text = (name if own_colour else f"{label}: {name}") if several else label
        for segment, discrete in _segments(traj):
            tk, vk = t[segment][keep[segment]], values[segment][keep[segment]]
            kw: dict[str, Any] = {"color": f"C{k % 10}" if own_colour else color, "lw": 1.4}
            style = 0 if own_colour else k
            if discrete:
                every = max(1, len(tk) // 25)
                kw.update(ls="--", marker=_MARKERS[style % len(_MARKERS)], ms=3, markevery=every)
            else:
                kw["ls"] = _LINESTYLES[style % len(_LINESTYLES)]
            ax.plot(tk, vk, label=text, **kw)
            text = "_" + text  # later stages of the same curve: no second legend entry


def _components(series: np.ndarray, key: Key) -> list[tuple[str, np.ndarray]]:
    if series.ndim == 1:
        return [("", series)]
    shape = series.shape[1:]
    size = int(np.prod(shape))
    if size > _MAX_COMPONENTS:
        raise ValueError(
            f"key {key!r} has shape {shape} per time ({size} components); select one "
            f"component, e.g. '{parse_key(key)[0]}[{','.join('0' * len(shape))}]'"
        )
    return [
        (f"[{','.join(map(str, idx))}]", series[(slice(None), *idx)]) for idx in np.ndindex(shape)
    ]


def _draw_events(ax: Any, traj: Trajectory, color: str, logx: bool) -> None:
    for event in traj.events:
        t = float(event["t"])
        if logx and t <= 0:
            continue
        ax.axvline(t, color=color, ls=":", lw=1.0)
        ax.annotate(
            str(event.get("name", "")),
            xy=(t, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="x-small",
            color=color,
        )


def _draw_stages(ax: Any, traj: Trajectory, logx: bool) -> None:
    for i, stage in enumerate(traj.stages):
        t = float(stage["t_start"])
        if i > 0 and not (logx and t <= 0):
            ax.axvline(t, color="0.5", ls="-.", lw=1.0)
        if not (logx and t <= 0):
            ax.annotate(
                str(stage.get("name", "")),
                xy=(t, 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize="x-small",
                color="0.35",
            )


# --- phase portraits ------------------------------------------------------------------------
def phase_portrait(
    field: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    trajectories: Sequence[Any] = (),
    nullclines: bool = False,
    phase: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    phase_labels: Sequence[str] | Mapping[int, str] | None = None,
    density: float = 1.2,
    ax: Any = None,
    labels: tuple[str, str] = ("x", "y"),
    grid: int = 101,
) -> Any:
    """Phase portrait of a planar ODE ``(dx/dt, dy/dt) = field(x, y)``.

    The field is drawn with :meth:`~matplotlib.axes.Axes.streamplot`; for gradient flow
    of a 2-parameter loss, ``field(x, y) = -∇L(x, y)``.

    Parameters
    ----------
    field : callable
        ``field(X, Y) -> (dX, dY)``, **vectorised**: called once with ``grid × grid``
        meshgrid arrays (``X[i, j] = xs[j]``, ``Y[i, j] = ys[i]``) and returning arrays of
        the same shape.
    xlim, ylim : (float, float)
        Plotted ranges.
    trajectories : sequence
        Curves drawn on top, each one of

        - an array of shape ``(n, 2)`` (columns x, y);
        - a Trajectory whose parameters have exactly two numbers in total (for example
          a ``Quadratic`` with ``theta`` of shape ``(2,)``);
        - a pair ``(trajectory, selector)`` where ``selector`` is a pair of keys
          ``("theta[0]", "theta[1]")`` (see :func:`select`) or a callable
          ``trajectory -> (n, 2) array``.

        A start marker (circle) is drawn at the first point; GD/Adam runs are dashed
        with markers.  Runs with the same label share one legend entry.
    nullclines : bool
        Draw the curves ``dx/dt = 0`` (red) and ``dy/dt = 0`` (blue) as zero contours of the
        field on the grid (linear interpolation between grid points; a component that does
        not change sign in the window has no nullcline there and no legend entry).
    phase : callable, optional
        ``phase(X, Y) -> int array``: colours the plane by region (vectorised like ``field``).
    phase_labels : sequence or mapping of int to str, optional
        Legend names of the phase values (``phase_labels[k]`` names value ``k``).
    density : float
        Streamline density passed to ``streamplot``.
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.
    labels : (str, str)
        Names of the two coordinates (axis labels and nullcline legend).
    grid : int
        Grid points per axis for the field, nullclines and phases.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (one axes, or the figure of ``ax``).

    Raises
    ------
    ValueError
        If a range is empty, ``field`` returns arrays of the wrong shape, or a trajectory
        cannot be read as ``(n, 2)`` points.

    Examples
    --------
    Gradient flow of ``L = ½(x² + 10 y²)``, with its nullclines ``x = 0`` and ``y = 0``:

    >>> import numpy as np
    >>> fig = phase_portrait(lambda x, y: (-x, -10 * y), (-1, 1), (-1, 1), nullclines=True,
    ...                      trajectories=[np.array([[1.0, 1.0], [0.5, 0.0]])], density=0.5)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['dx/dt = 0', 'dy/dt = 0']
    >>> [float(v) for v in fig.axes[0].get_xlim()], fig.axes[0].get_xlabel()
    ([-1.0, 1.0], 'x')
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    xlim = _check_range(xlim, "xlim")
    ylim = _check_range(ylim, "ylim")
    xs = np.linspace(*xlim, grid)
    ys = np.linspace(*ylim, grid)
    X, Y = np.meshgrid(xs, ys)
    dX, dY = (np.asarray(a, dtype=float) for a in field(X, Y))
    if dX.shape != X.shape or dY.shape != X.shape:
        raise ValueError(
            f"field(X, Y) must return two arrays of the grid's shape {X.shape}, got "
            f"{dX.shape} and {dY.shape}; write it with NumPy operations on X and Y"
        )
    drawn = [_trajectory_points(item, j) for j, item in enumerate(trajectories)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 5.0))
    else:
        fig = ax.figure
    handles: list[Any] = []
    if phase is not None:
        handles += _draw_phases(ax, X, Y, phase, phase_labels)
    ax.streamplot(xs, ys, dX, dY, density=density, color="0.55", linewidth=0.7, arrowsize=0.8)
    if nullclines:
        for values, color, name in ((dX, "C3", labels[0]), (dY, "C0", labels[1])):
            if values.min() <= 0 <= values.max():
                ax.contour(X, Y, values, levels=[0.0], colors=[color], linewidths=1.6)
                handles.append(Line2D([], [], color=color, lw=1.6, label=f"d{name}/dt = 0"))
    for j, (points, discrete, label) in enumerate(drawn):
        color = _TRAJECTORY_COLORS[j % len(_TRAJECTORY_COLORS)]
        style: dict[str, Any] = {"color": color, "lw": 1.8}
        if discrete:
            style.update(ls="--", marker="o", ms=2.5)
        (line,) = ax.plot(points[:, 0], points[:, 1], label=label, **style)
        ax.plot(points[0, 0], points[0, 1], "o", color=color, ms=6, mec="k", mew=0.6)
        if label and label not in [h.get_label() for h in handles]:
            handles.append(line)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if handles:
        ax.legend(handles=handles, fontsize="small", loc="best", framealpha=0.9)
    return fig


def _check_range(lim: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {lim!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with low < high, got {lim!r}")
    return lo, hi


def _draw_phases(
    ax: Any,
    X: np.ndarray,
    Y: np.ndarray,
    phase: Callable[[np.ndarray, np.ndarray], np.ndarray],
    phase_labels: Sequence[str] | Mapping[int, str] | None,
) -> list[Any]:
    P = np.asarray(phase(X, Y))
    if P.shape != X.shape:
        raise ValueError(f"phase(X, Y) must return an int array of shape {X.shape}, got {P.shape}")
    values = np.unique(P).astype(int)
    codes = np.searchsorted(values, P)
    palette = plt.get_cmap("Pastel1").colors
    colors = [palette[v % len(palette)] for v in values]
    ax.pcolormesh(
        X, Y, codes, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(values) - 0.5, alpha=0.6
    )
    if phase_labels is None:
        return []
    names = (
        dict(phase_labels) if isinstance(phase_labels, Mapping) else dict(enumerate(phase_labels))
    )
    return [
        Patch(facecolor=c, alpha=0.6, label=names[v])
        for v, c in zip(values, colors, strict=True)
        if v in names
    ]


def _trajectory_points(item: Any, j: int) -> tuple[np.ndarray, bool, str | None]:
    if isinstance(item, Trajectory):
        flat = np.concatenate(
            [np.asarray(v, dtype=float).reshape(len(item.t), -1) for v in item.params.values()],
            axis=1,
        )
        if flat.shape[1] != 2:
            raise ValueError(
                f"trajectories[{j}] has {flat.shape[1]} parameter numbers, not 2; pass "
                "(trajectory, (key_x, key_y)) to choose the coordinates"
            )
        return flat, item.kind in ("gd", "adam"), _traj_label(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Trajectory):
        traj, selector = item
        if callable(selector):
            points = np.asarray(selector(traj), dtype=float)
        else:
            key_x, key_y = selector
            points = np.column_stack([select(traj, key_x), select(traj, key_y)])
        discrete, label = traj.kind in ("gd", "adam"), _traj_label(traj)
    else:
        points, discrete, label = np.asarray(item, dtype=float), False, None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(
            f"trajectories[{j}] must give points of shape (n, 2), got shape {points.shape}"
        )
    return points, discrete, label


# --- attention maps -----------------------------------------------------------------------
def attention_map(
    matrix: Any,
    ax: Any = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Any:
    """Heatmap of a matrix (attention scores, a weight matrix) with a colour bar.

    Parameters
    ----------
    matrix : array_like, shape (m, n)
        Values; row ``i`` is drawn at the top for ``i = 0`` (like a printed matrix).
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.
    row_labels, col_labels : sequence of str, optional
        Tick labels (``m`` and ``n`` of them).
    title : str, optional
        Title of the map.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on: the map's axes and its colour bar's.

    Raises
    ------
    ValueError
        If ``matrix`` is not 2-D or a label list has the wrong length.

    Examples
    --------
    >>> fig = attention_map([[0.9, 0.1], [0.3, 0.7]], row_labels=["q1", "q2"], title="A")
    >>> len(fig.axes)  # the map and its colour bar
    2
    >>> ax = fig.axes[0]
    >>> ax.get_title(), [t.get_text() for t in ax.get_yticklabels()]
    ('A', ['q1', 'q2'])
    >>> ax.get_images()[0].get_array()[0].tolist()  # row 0 at the top
    [0.9, 0.1]
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {values.shape}")
    for name, lab, n in (
        ("row_labels", row_labels, values.shape[0]),
        ("col_labels", col_labels, values.shape[1]),
    ):
        if lab is not None and len(lab) != n:
            raise ValueError(f"{name} has {len(lab)} entries for {n} matrix {name[:3]}s")
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(1.2 + 0.45 * values.shape[1] + 1.2, 1.0 + 0.45 * values.shape[0] + 0.8)
        )
    else:
        fig = ax.figure
    image = ax.imshow(values, cmap="viridis", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax)
    if row_labels is not None:
        ax.set_yticks(range(values.shape[0]), labels=list(row_labels))
    if col_labels is not None:
        ax.set_xticks(range(values.shape[1]), labels=list(col_labels), rotation=45, ha="right")
    if title is not None:
        ax.set_title(title)
    return fig


# --- saving -------------------------------------------------------------------------------
def save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. ``.png``), creating folders.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, e.g. as returned by :func:`curves`.
    path : str or Path
        Where to write; missing parent folders are created.
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> fig = attention_map([[1.0, 0.0], [0.0, 1.0]])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save(fig, Path(folder) / "new" / "eye.png", dpi=40)
    ...     path.read_bytes()[1:4]
    b'PNG'
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
