"""Trajectory: the record of one training run (gradient flow, GD, Adam or staged).

Times are in **flow time**: for gradient descent with learning rate ``lr``, step ``k``
is stored at ``t = lr * k`` (the step index is kept in :attr:`Trajectory.steps`).
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
    """Versions of Python, NumPy, SciPy and gradflow, for a run's metadata."""
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
        ``out[name][i]`` is ``observables[i][name]``.
    """
    if not observables:
        return {}
    keys = list(observables[0])
    return {k: np.asarray([np.asarray(o[k], dtype=float) for o in observables]) for k in keys}


@dataclass
class Trajectory:
    """Times, parameters, loss and observables of one run, with the solver's counters.

    Attributes
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
        """True when the run reached its end or a terminal event."""
        return self.status in ("finished", "event")

    def params_at_index(self, i: int) -> dict[str, np.ndarray]:
        """The parameter dict of sample ``i`` (copies)."""
        return {k: np.array(v[i]) for k, v in self.params.items()}

    @property
    def final_params(self) -> dict[str, np.ndarray]:
        """The parameters at the last recorded time."""
        return self.params_at_index(-1)

    def at(self, t: float) -> dict[str, np.ndarray]:
        """Parameters at flow time ``t`` from the solver's dense output.

        Available for gradient-flow trajectories only (not after :func:`load`).
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
        """Time of the first event called ``name``, or None when it did not fire."""
        for e in self.events:
            if e["name"] == name:
                return float(e["t"])
        return None

    # --- persistence --------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the trajectory to an ``.npz`` file (everything but the dense output).

        Returns
        -------
        Path
            The path written.
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

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a gradflow trajectory (or is corrupt).
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
    """Read a trajectory written by :meth:`Trajectory.save` (alias of ``Trajectory.load``)."""
    return Trajectory.load(path)
