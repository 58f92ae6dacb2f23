"""Trajectory: the record of one training run (gradient flow, GD, Adam or staged).

Times are in **flow time**: for gradient descent with learning rate ``lr``, step ``k``
is stored at ``t = lr * k`` (the step index is kept in :attr:`Trajectory.steps`).

A run is written to one ``.npz`` file by :meth:`Trajectory.save` and read back by
:func:`load`; everything but the flow's dense output survives the round trip:

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> import gradflow as gf
>>> from gradflow.models.quadratic import Quadratic
>>> run = gf.gradient_descent(Quadratic(np.diag([1.0, 4.0])), {"theta": np.ones(2)},
...                           lr=0.1, steps=4)
>>> with tempfile.TemporaryDirectory() as tmp:
...     back = load(run.save(Path(tmp) / "gd.npz"))
>>> bool(np.array_equal(back.params["theta"], run.params["theta"])), back.steps.tolist()
(True, [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Trajectory", "load", "stack_observables", "environment"]

_FORMAT = "gradflow-trajectory"
_VERSION = 1
STATUSES = ("finished", "event", "stalled", "failed", "diverged")


def environment() -> dict[str, str]:
    """Versions of Python, NumPy, SciPy and gradflow, for a run's metadata.

    Every run stores it in ``traj.metadata["environment"]``.

    Returns
    -------
    dict of str to str
        Keys ``"python"``, ``"numpy"``, ``"scipy"`` and ``"gradflow"``.

    Examples
    --------
    >>> import numpy as np
    >>> import gradflow
    >>> env = environment()
    >>> sorted(env)
    ['gradflow', 'numpy', 'python', 'scipy']
    >>> env["numpy"] == np.__version__, env["gradflow"] == gradflow.__version__
    (True, True)
    """
    import scipy

    from gradflow import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "gradflow": __version__,
    }


def stack_observables(observables: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stack per-sample observable dicts into arrays with time as the first axis.

    Parameters
    ----------
    observables : sequence of dict
        One dict per recorded time, all with the same keys.

    Returns
    -------
    dict of str to ndarray
        ``out[name][i]`` is ``observables[i][name]`` (as float); empty for an empty
        sequence.

    Examples
    --------
    >>> import numpy as np
    >>> out = stack_observables([{"norm": 1.0, "v": np.zeros(3)},
    ...                          {"norm": 0.5, "v": np.ones(3)}])
    >>> out["norm"], out["v"].shape
    (array([1. , 0.5]), (2, 3))
    >>> stack_observables([])
    {}
    """
    if not observables:
        return {}
    keys = list(observables[0])
    return {k: np.asarray([np.asarray(o[k], dtype=float) for o in observables]) for k in keys}


@dataclass
class Trajectory:
    """Times, parameters, loss and observables of one run, with the solver's counters.

    Runs are made by :func:`gradflow.integrate_flow`, :func:`gradflow.gradient_descent`,
    :func:`gradflow.adam` and :func:`gradflow.run_stages`, which fill in every field;
    each parameter below is kept as an attribute of the same name.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Flow times of the recorded samples (``lr * step`` for GD and Adam).
    params : dict of str to ndarray
        Every parameter, time-stacked: ``params[name][i]`` is its value at ``t[i]``.
    loss : ndarray, shape (n,)
        Loss at each sample.
    grad_norm : ndarray, shape (n,)
        Euclidean norm of the trainable part of the gradient at each sample.
    observables : dict of str to ndarray
        Model observables, time-stacked like ``params``.
    kind : str
        ``"flow"``, ``"gd"``, ``"adam"`` or ``"staged"``.
    status : str
        ``"finished"`` (reached the end), ``"event"`` (a terminal event fired),
        ``"stalled"`` (an evaluation or wall-time cap was hit), ``"failed"`` (the solver
        failed) or ``"diverged"`` (GD produced a non-finite loss).
    message : str
        Why the run stopped, in words.
    method : str
        Solver name (``"RK45"``, ``"LSODA"``, ...), ``"gd"`` or ``"adam"``.
    lr : float or None
        Learning rate for GD and Adam.
    steps : ndarray or None
        Step index of each sample for GD and Adam.
    nfev, njev, nlu : int
        Gradient evaluations, Jacobian evaluations and LU decompositions spent.
    wall_time : float
        Seconds of wall time spent by the run.
    events : list of dict
        Events that fired: ``{"name": str, "t": float, "terminal": bool}``.
    stages : list of dict
        For staged runs, one dict per stage: ``name``, ``trainable``, ``kind``,
        ``t_start``, ``t_end``, ``start`` and ``stop`` (indices into ``t``).
    metadata : dict
        Model name and configuration, seed, solver settings, versions.
    dense : callable, optional
        ``dense(t) -> params`` from the solver's interpolants (a
        :class:`gradflow.flow.DenseFlow`), for :meth:`at`; None for discrete runs, for
        flows run with ``dense_output=False`` and after :func:`load`.

    Examples
    --------
    Gradient descent records step ``k`` at flow time ``lr·k``:

    >>> import numpy as np
    >>> import gradflow as gf
    >>> from gradflow.models.quadratic import Quadratic
    >>> gd = gf.gradient_descent(Quadratic(np.diag([1.0, 4.0])), {"theta": np.ones(2)},
    ...                          lr=0.05, steps=40, record_every=10)
    >>> len(gd), gd.kind, gd.status, gd.success
    (5, 'gd', 'finished', True)
    >>> bool(np.allclose(gd.t, gd.lr * gd.steps)), gd.t.tolist()
    (True, [0.0, 0.5, 1.0, 1.5, 2.0])
    >>> gd.params["theta"].shape, gd.nfev       # 40 steps + the final point
    ((5, 2), 41)
    """

    t: np.ndarray
    params: dict[str, np.ndarray]
    loss: np.ndarray
    grad_norm: np.ndarray
    observables: dict[str, np.ndarray] = field(default_factory=dict)
    kind: str = "flow"
    status: str = "finished"
    message: str = ""
    method: str = ""
    lr: float | None = None
    steps: np.ndarray | None = None
    nfev: int = 0
    njev: int = 0
    nlu: int = 0
    wall_time: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    dense: Callable[[float], dict[str, np.ndarray]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def success(self) -> bool:
        """True when the run reached its end or a terminal event.

        Examples
        --------
        >>> import numpy as np
        >>> traj = Trajectory(t=np.zeros(1), params={}, loss=np.zeros(1),
        ...                   grad_norm=np.zeros(1), status="stalled")
        >>> traj.success
        False
        """
        return self.status in ("finished", "event")

    def params_at_index(self, i: int) -> dict[str, np.ndarray]:
        """The parameter dict of sample ``i`` (copies).

        Parameters
        ----------
        i : int
            Index into :attr:`t` (negative indices count from the end).

        Returns
        -------
        dict of str to ndarray
            Every parameter at time ``t[i]``; changing them leaves the trajectory alone.

        Examples
        --------
        >>> import numpy as np
        >>> import gradflow as gf
        >>> from gradflow.models.quadratic import Quadratic
        >>> gd = gf.gradient_descent(Quadratic([[1.0]]), {"theta": np.ones(1)}, lr=0.5,
        ...                          steps=3)
        >>> [gd.params_at_index(i)["theta"].item() for i in range(len(gd))]  # (1 − 0.5)^k
        [1.0, 0.5, 0.25, 0.125]
        >>> p = gd.params_at_index(0)
        >>> p["theta"][0] = 99.0
        >>> gd.params["theta"][0].item()
        1.0
        """
        return {k: np.array(v[i]) for k, v in self.params.items()}

    @property
    def final_params(self) -> dict[str, np.ndarray]:
        """The parameters at the last recorded time.

        Examples
        --------
        >>> import numpy as np
        >>> import gradflow as gf
        >>> from gradflow.models.quadratic import Quadratic
        >>> gd = gf.gradient_descent(Quadratic([[1.0]]), {"theta": np.ones(1)}, lr=0.5,
        ...                          steps=3)
        >>> gd.final_params["theta"].tolist()
        [0.125]
        """
        return self.params_at_index(-1)

    def at(self, t: float) -> dict[str, np.ndarray]:
        """Parameters at flow time ``t`` from the solver's dense output.

        Available for gradient-flow trajectories only (not after :func:`load`).  Between
        the solver's steps the values come from its interpolant, whose error the solver
        does not control (see the Notes of :func:`gradflow.integrate_flow`).

        Parameters
        ----------
        t : float
            Flow time inside ``[t[0], t[-1]]``.

        Returns
        -------
        dict of str to ndarray
            Every parameter at ``t`` (frozen ones at their fixed values).

        Raises
        ------
        ValueError
            If the trajectory has no dense output, or ``t`` is outside its interval.

        Examples
        --------
        On ``L = ½θᵀHθ`` the flow is ``θ(t) = expm(−Ht) θ₀``:

        >>> import numpy as np
        >>> from scipy.linalg import expm
        >>> import gradflow as gf
        >>> from gradflow.models.quadratic import Quadratic
        >>> model = Quadratic.paper(kappa=4.0)
        >>> theta0 = np.array([1.0, 0.0])
        >>> flow = gf.integrate_flow(model, {"theta": theta0}, (0, 2), rtol=1e-10)
        >>> bool(np.allclose(flow.at(0.7)["theta"], expm(-0.7 * model.H) @ theta0, atol=1e-8))
        True
        >>> flow.at(3.0)
        Traceback (most recent call last):
        ...
        ValueError: t=3.0 is outside the integrated interval [0.0, 2.0]
        """
        if self.dense is None:
            raise ValueError(
                "this trajectory has no dense output: at(t) works on gradient-flow runs "
                "made in this session (dense output is not saved to .npz)"
            )
        lo, hi = float(self.t[0]), float(self.t[-1])
        if not lo - 1e-12 * max(1.0, abs(hi)) <= t <= hi + 1e-12 * max(1.0, abs(hi)):
            raise ValueError(f"t={t} is outside the integrated interval [{lo}, {hi}]")
        return self.dense(float(t))

    def event_time(self, name: str) -> float | None:
        """Time of the first event called ``name``, or None when it did not fire.

        Parameters
        ----------
        name : str
            The event's name (see :func:`gradflow.flow.event`).

        Returns
        -------
        float or None
            Flow time of its first entry in :attr:`events`.

        Examples
        --------
        On ``L = ½θ²`` the flow is ``θ(t) = e^{−t}θ₀``, so ``θ`` halves at ``t = ln 2``:

        >>> import numpy as np
        >>> import gradflow as gf
        >>> from gradflow.flow import event
        >>> from gradflow.models.quadratic import Quadratic
        >>> half = event(lambda t, p: p["theta"][0] - 0.5, name="half")
        >>> flow = gf.integrate_flow(Quadratic([[1.0]]), {"theta": np.ones(1)}, (0, 1),
        ...                          events=[half], rtol=1e-10)
        >>> round(flow.event_time("half"), 8), round(float(np.log(2)), 8)
        (0.69314718, 0.69314718)
        >>> flow.event_time("never") is None
        True
        """
        for e in self.events:
            if e["name"] == name:
                return float(e["t"])
        return None

    # --- persistence --------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the trajectory to an ``.npz`` file (everything but the dense output).

        Arrays are stored compressed, the rest (status, counters, events, stages,
        metadata) as a JSON header; missing parent directories are created.

        Parameters
        ----------
        path : str or pathlib.Path
            File to write (overwritten if it exists); give it the ``.npz`` suffix.

        Returns
        -------
        Path
            The path written.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> import gradflow as gf
        >>> from gradflow.models.quadratic import Quadratic
        >>> flow = gf.integrate_flow(Quadratic(np.diag([1.0, 4.0])), {"theta": np.ones(2)},
        ...                          (0, 1), n_eval=10)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = flow.save(Path(tmp) / "runs" / "flow.npz")
        ...     back = Trajectory.load(path)
        ...     name = path.name
        >>> name, len(back) == len(flow), back.nfev == flow.nfev, back.method
        ('flow.npz', True, True, 'LSODA')
        >>> bool(np.array_equal(back.observables["eig_coords"], flow.observables["eig_coords"]))
        True
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "t": np.asarray(self.t),
            "loss": np.asarray(self.loss),
            "grad_norm": np.asarray(self.grad_norm),
        }
        for k, v in self.params.items():
            arrays[f"params/{k}"] = np.asarray(v)
        for k, v in self.observables.items():
            arrays[f"obs/{k}"] = np.asarray(v)
        if self.steps is not None:
            arrays["steps"] = np.asarray(self.steps)
        header = {
            "format": _FORMAT,
            "version": _VERSION,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "method": self.method,
            "lr": self.lr,
            "nfev": int(self.nfev),
            "njev": int(self.njev),
            "nlu": int(self.nlu),
            "wall_time": float(self.wall_time),
            "events": self.events,
            "stages": self.stages,
            "metadata": self.metadata,
            "param_names": list(self.params),
            "observable_names": list(self.observables),
        }
        arrays["__gradflow__"] = np.array(json.dumps(header, default=_json_default))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trajectory:
        """Read a trajectory written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            An ``.npz`` file written by :meth:`save`.

        Returns
        -------
        Trajectory
            Every field as saved; ``dense`` is None, so :meth:`at` is not available.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a gradflow trajectory (or is corrupt).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     np.savez(Path(tmp) / "other.npz", x=np.zeros(2))
        ...     Trajectory.load(Path(tmp) / "other.npz")
        Traceback (most recent call last):
        ...
        ValueError: path '...other.npz' is an .npz file but not a gradflow trajectory ...
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"path {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                files = {k: data[k] for k in data.files}
        except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError ...
            raise ValueError(
                f"path {str(path)!r} is not a readable .npz file ({type(exc).__name__}: {exc})"
            ) from exc
        if "__gradflow__" not in files:
            raise ValueError(
                f"path {str(path)!r} is an .npz file but not a gradflow trajectory "
                "(no '__gradflow__' header)"
            )
        try:
            header = json.loads(str(files["__gradflow__"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"path {str(path)!r} has a corrupt gradflow header") from exc
        if header.get("format") != _FORMAT:
            raise ValueError(f"path {str(path)!r} is not a gradflow trajectory")
        if header.get("version", 0) > _VERSION:
            raise ValueError(
                f"path {str(path)!r} was written by a newer gradflow (format version "
                f"{header['version']} > {_VERSION})"
            )
        try:
            params = {k: files[f"params/{k}"] for k in header["param_names"]}
            observables = {k: files[f"obs/{k}"] for k in header["observable_names"]}
            return cls(
                t=files["t"],
                params=params,
                loss=files["loss"],
                grad_norm=files["grad_norm"],
                observables=observables,
                kind=header["kind"],
                status=header["status"],
                message=header["message"],
                method=header["method"],
                lr=header["lr"],
                steps=files.get("steps"),
                nfev=header["nfev"],
                njev=header["njev"],
                nlu=header["nlu"],
                wall_time=header["wall_time"],
                events=header["events"],
                stages=header["stages"],
                metadata=header["metadata"],
            )
        except KeyError as exc:
            raise ValueError(
                f"path {str(path)!r} is missing the entry {exc} (corrupt file)"
            ) from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in trajectory metadata")


def load(path: str | Path) -> Trajectory:
    """Read a trajectory written by :meth:`Trajectory.save` (alias of ``Trajectory.load``).

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.npz`` file written by :meth:`Trajectory.save`.

    Returns
    -------
    Trajectory
        The saved run, without dense output.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a gradflow trajectory (or is corrupt).

    Examples
    --------
    A GD run survives the round trip, counters and metadata included:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gradflow as gf
    >>> from gradflow.models.quadratic import Quadratic
    >>> gd = gf.gradient_descent(Quadratic(np.diag([1.0, 4.0])), {"theta": np.ones(2)},
    ...                          lr=0.1, steps=10, record_every=5)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = load(gd.save(Path(tmp) / "gd.npz"))
    >>> back.t.tolist(), back.lr, back.nfev, back.metadata["time"]
    ([0.0, 0.5, 1.0], 0.1, 11, 't = lr * step')
    >>> bool(np.array_equal(back.loss, gd.loss)), back.dense is None
    (True, True)
    >>> load("no/such/file.npz")
    Traceback (most recent call last):
    ...
    FileNotFoundError: path 'no/such/file.npz' does not exist
    """
    return Trajectory.load(path)
