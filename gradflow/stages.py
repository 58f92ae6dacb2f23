"""Staged training: a sequence of stages, each with its own trainable set, dynamics and stop rule.

Layer-wise algorithms (for example the three-stage training of Yang, Wang, Lee & Liang,
ICLR 2025: neurons, then attention, then neurons again) train different parameters in
turn.  :func:`run_stages` runs a list of :class:`Stage` objects, each starting where the
previous one stopped, and returns **one** :class:`~gradflow.Trajectory` whose time axis
continues across the stages, with the boundaries recorded in ``traj.stages``.

The linear network of Saxe et al. trained layer by layer, first ``W1`` by gradient flow
for one unit of time, then ``W2`` by 100 GD steps of 0.01 (another unit of flow time):

>>> import numpy as np
>>> from gradflow.models.linear_net import LinearNet
>>> net = LinearNet.paper()
>>> p0 = net.init_params(np.random.default_rng(0))
>>> run = run_stages(net, p0, [
...     Stage("first layer", trainable=["W1"], kind="flow", t_end=1.0),
...     Stage("second layer", trainable=["W2"], kind="gd", lr=0.01, steps=100),
... ])
>>> [(s["name"], s["t_start"], round(s["t_end"], 6)) for s in run.stages]
[('first layer', 0.0, 1.0), ('second layer', 1.0, 2.0)]
>>> bool(np.all(run.params["W2"][: run.stages[0]["stop"]] == p0["W2"]))   # frozen in stage 1
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradflow.descent import adam, gradient_descent
from gradflow.flow import _check_model, check_params0, event, integrate_flow
from gradflow.model import Model
from gradflow.trajectory import Trajectory, environment

__all__ = ["Stage", "run_stages"]

_KINDS = ("flow", "gd", "adam")
_FATAL = ("failed", "diverged", "stalled")


@dataclass
class Stage:
    """One stage of a staged run.

    Parameters
    ----------
    name : str
        Label of the stage (in ``traj.stages``).
    trainable : sequence of str or None
        Parameters that move in this stage (None: the model's default); the others stay
        where the previous stage left them.
    kind : {"flow", "gd", "adam"}
        Gradient flow (:func:`~gradflow.integrate_flow`), gradient descent or Adam.
    t_end : float, optional
        Duration of the stage in flow time, on a clock that starts at 0 when the stage
        starts (so the stage covers global times ``[t_start, t_start + t_end]``).
        Required for ``"flow"``; for ``"gd"``/``"adam"`` it sets
        ``steps = round(t_end / lr)`` when ``steps`` is not given.
    steps : int, optional
        Number of steps of a ``"gd"``/``"adam"`` stage.
    lr : float, optional
        Learning rate of a ``"gd"``/``"adam"`` stage (required there).
    event : callable, optional
        ``g(t, params)`` (``t`` is the global time): the stage ends early where ``g``
        changes sign (its ``direction`` attribute is honoured); the run then goes on with
        the next stage.  ``t_end``/``steps`` remain the upper bound.
    options : dict
        Further keyword arguments for ``integrate_flow`` / ``gradient_descent`` / ``adam``
        (``method``, ``rtol``, ``record_every``, ``n_eval``, ...).

    Raises
    ------
    TypeError, ValueError
        On an inconsistent stage (unknown ``kind``, a flow stage without ``t_end`` or with
        ``lr``/``steps``, a discrete stage without ``lr``, or without both ``steps`` and
        ``t_end``), naming the stage.

    Examples
    --------
    A discrete stage given a duration gets ``steps = round(t_end / lr)``:

    >>> Stage("attention", ["W_KQ"], kind="gd", lr=0.1, t_end=2.5).steps
    25
    >>> Stage("neurons", ["w"], kind="flow")
    Traceback (most recent call last):
    ...
    ValueError: Stage 'neurons': a flow stage needs t_end (its duration)
    """

    name: str
    trainable: Sequence[str] | None
    kind: str = "flow"
    t_end: float | None = None
    steps: int | None = None
    lr: float | None = None
    event: Callable | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(
                f"Stage {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}"
            )
        if self.t_end is not None and not (np.isfinite(self.t_end) and self.t_end > 0):
            raise ValueError(f"Stage {self.name!r}: t_end must be positive, got {self.t_end!r}")
        if self.event is not None and not callable(self.event):
            raise TypeError(f"Stage {self.name!r}: event must be callable g(t, params)")
        if not isinstance(self.options, Mapping):
            raise TypeError(f"Stage {self.name!r}: options must be a dict of keyword arguments")
        if self.kind == "flow":
            if self.t_end is None:
                raise ValueError(f"Stage {self.name!r}: a flow stage needs t_end (its duration)")
            if self.steps is not None or self.lr is not None:
                raise ValueError(f"Stage {self.name!r}: steps and lr apply to gd/adam stages only")
            return
        if self.lr is None or not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(
                f"Stage {self.name!r}: a {self.kind} stage needs lr > 0, got {self.lr!r}"
            )
        if self.steps is None:
            if self.t_end is None:
                raise ValueError(f"Stage {self.name!r}: a {self.kind} stage needs steps or t_end")
            self.steps = max(1, int(round(self.t_end / self.lr)))
        elif isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)):
            raise TypeError(f"Stage {self.name!r}: steps must be a positive integer")
        elif self.steps < 1:
            raise ValueError(f"Stage {self.name!r}: steps must be >= 1, got {self.steps}")


def _shifted(ev: Callable, offset: float) -> Callable:
    """The stage event as a terminal event on the stage-local clock of a GD/Adam run."""
    return event(
        lambda t, p: ev(t + offset, p),
        terminal=True,
        direction=int(getattr(ev, "direction", 0)),
        name=getattr(ev, "name", None) or getattr(ev, "__name__", "stage_event"),
    )


def _run_stage(model: Model, params: dict, stage: Stage, t_start: float, progress: bool):
    options = dict(stage.options)
    options.setdefault("progress", progress)
    if stage.kind == "flow":
        events = []
        if stage.event is not None:
            ev = stage.event
            events.append(
                event(
                    ev,
                    terminal=True,
                    direction=int(getattr(ev, "direction", 0)),
                    name=getattr(ev, "name", None) or getattr(ev, "__name__", "stage_event"),
                )
            )
        return integrate_flow(
            model,
            params,
            (t_start, t_start + stage.t_end),
            trainable=stage.trainable,
            events=events,
            **options,
        )
    events = [_shifted(stage.event, t_start)] if stage.event is not None else []
    run = gradient_descent if stage.kind == "gd" else adam
    traj = run(
        model, params, stage.lr, stage.steps, trainable=stage.trainable, events=events, **options
    )
    traj.t = traj.t + t_start
    for e in traj.events:
        e["t"] = e["t"] + t_start
    return traj


def run_stages(
    model: Model,
    params0: Mapping[str, np.ndarray],
    stages: Sequence[Stage],
    *,
    progress: bool = False,
) -> Trajectory:
    """Run the stages one after the other and return one concatenated trajectory.

    Parameters
    ----------
    model : gradflow.Model
        The model trained in every stage.
    params0 : dict of str to ndarray
        Initial parameters of the first stage.
    stages : sequence of Stage
        The stages, in order.  Each starts from the parameters and the time where the
        previous one stopped (its stop rule: ``t_end``, ``steps`` or ``event``).
    progress : bool
        Progress bars on stderr (one per stage).

    Returns
    -------
    gradflow.Trajectory
        ``kind="staged"``; the time axis continues across stages (a GD stage's ``lr·k``
        is added to its start time).  The sample at each boundary is kept once (it
        closes one stage and opens the next; its ``grad_norm`` is over the earlier
        stage's trainable set).  ``traj.stages`` holds one dict per stage: ``name``,
        ``trainable``, ``kind``, ``t_start``, ``t_end``, ``start``/``stop`` (the samples of
        the stage are ``t[start:stop]``, including the boundary sample it starts from),
        ``status``, ``message``, ``nfev``, ``lr``.  Counters are summed.  A stage that
        fails, diverges or stalls stops the run with that status and its message; a stage
        that stops on its event passes on to the next stage.  Otherwise the run's status
        is the last stage's (``"finished"``, or ``"event"`` if it stopped on its event).
        ``traj.steps`` holds the cumulative step index when every stage is discrete, else
        None.  No dense output.

    Raises
    ------
    TypeError, ValueError
        On bad input (e.g. a stage that is not a :class:`Stage`), naming the argument.

    Examples
    --------
    Flow until the loss halves, then 50 GD steps (the second stage starts at the event):

    >>> import numpy as np
    >>> from gradflow.flow import event
    >>> from gradflow.models.quadratic import Quadratic
    >>> model, p0 = Quadratic([[1.0]]), {"theta": np.ones(1)}
    >>> halved = event(lambda t, p: model.loss(p) - 0.25, name="halved")
    >>> run = run_stages(model, p0, [Stage("flow", None, t_end=5.0, event=halved),
    ...                              Stage("gd", None, kind="gd", lr=0.01, steps=50)])
    >>> [s["status"] for s in run.stages], round(run.stages[1]["t_start"], 6)  # ln(2)/2
    (['event', 'finished'], 0.346574)
    """
    _check_model(model)
    params = check_params0(model, params0)
    if isinstance(stages, Stage) or not isinstance(stages, Sequence) or not stages:
        raise TypeError("stages must be a non-empty list of gradflow.Stage")
    for i, stage in enumerate(stages):
        if not isinstance(stage, Stage):
            raise TypeError(f"stages[{i}] must be a gradflow.Stage, got {type(stage).__name__}")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stages must have distinct names, got {names}")

    pieces: list[tuple[Trajectory, int]] = []
    records: list[dict[str, Any]] = []
    t_start = 0.0
    n_samples = 0
    status, message = "finished", ""
    for stage in stages:
        traj = _run_stage(model, params, stage, t_start, progress)
        skip = 1 if pieces else 0  # the boundary sample is the previous stage's last
        pieces.append((traj, skip))
        start = max(n_samples - skip, 0)
        n_samples += len(traj.t) - skip
        records.append(
            {
                "name": stage.name,
                "trainable": list(traj.metadata["trainable"]),
                "kind": stage.kind,
                "t_start": t_start,
                "t_end": float(traj.t[-1]) if len(traj.t) else t_start,
                "start": start,
                "stop": n_samples,
                "status": traj.status,
                "message": traj.message,
                "nfev": traj.nfev,
                "lr": traj.lr,
            }
        )
        status, message = traj.status, f"stage {stage.name!r}: {traj.message}"
        if traj.status in _FATAL:
            break
        params = traj.final_params
        t_start = float(traj.t[-1])
    if status not in _FATAL:
        message = f"ran {len(pieces)} stages; last {message}"

    def cat(get: Callable[[Trajectory], np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(get(tr))[skip:] for tr, skip in pieces])

    obs_keys = set.intersection(*(set(tr.observables) for tr, _ in pieces))
    steps = None
    if all(tr.steps is not None for tr, _ in pieces):
        offsets = np.cumsum([0] + [int(tr.steps[-1]) for tr, _ in pieces[:-1]])
        steps = np.concatenate(
            [tr.steps[skip:] + off for (tr, skip), off in zip(pieces, offsets, strict=True)]
        )
    events = [e for tr, _ in pieces for e in tr.events]
    return Trajectory(
        t=cat(lambda tr: tr.t),
        params={k: cat(lambda tr, k=k: tr.params[k]) for k in pieces[0][0].params},
        loss=cat(lambda tr: tr.loss),
        grad_norm=cat(lambda tr: tr.grad_norm),
        observables={
            k: cat(lambda tr, k=k: tr.observables[k])
            for k in pieces[0][0].observables
            if k in obs_keys
        },
        kind="staged",
        status=status,
        message=message,
        method="+".join(tr.method for tr, _ in pieces),
        steps=steps,
        nfev=sum(tr.nfev for tr, _ in pieces),
        njev=sum(tr.njev for tr, _ in pieces),
        nlu=sum(tr.nlu for tr, _ in pieces),
        wall_time=sum(tr.wall_time for tr, _ in pieces),
        events=events,
        stages=records,
        metadata={
            "model": getattr(model, "name", type(model).__name__),
            "config": model.config(),
            "stage_metadata": [
                {k: v for k, v in tr.metadata.items() if k != "environment"} for tr, _ in pieces
            ],
            "environment": environment(),
        },
    )
