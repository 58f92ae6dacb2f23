"""Sweeps: one function run over a grid of configurations and seeds, resumable, on any executor.

Theory papers state scalings (a phase that lasts ``∝ K²``, a time ``∝ 1/m`` ...).  Checking one
means running many flows over a grid of sizes and seeds; :func:`sweep` makes that one call.

* ``run(config, seed) -> {metric: scalar}`` is called once per element of the Cartesian
  product ``grid × seeds``.
* Each finished run is appended to ``out/results.csv`` at once (flushed and synced), one row
  with its configuration, seed, metrics, wall time and status.  Run the same sweep again and
  the rows already there with status ``"ok"`` are read back, not recomputed: an interrupted
  sweep resumes where it stopped, and a crash loses no finished run.
* A run that raises is recorded with status ``"error"`` and the error text; the others go on.
  Error rows are recomputed on the next call.
* The runs go to a :class:`concurrent.futures.Executor`: by default a local process pool over
  the machine's cores; a Dask cluster through ``dask.distributed.Client(...).get_executor()``
  (the ``gradflow-theory[cluster]`` extra); any other executor the same way.  gradflow has no
  scheduler of its own.  Prefer ``get_executor(pure=False)``: by default Dask hashes every
  call's arguments and hands back the result it still holds for an identical call, instead of
  running it again.

The call convention
-------------------
``run`` must be picklable when the executor is a process pool: a function defined at the top
level of an importable module, or a :func:`functools.partial` of one (Dask pickles with
cloudpickle and also takes functions defined in ``__main__``).  It is called as
``run(config, seed)`` where ``config`` is a new ``dict`` (grid key -> one value) and ``seed``
an ``int``.  When ``run`` has a parameter named ``run_dir``, it is also given
``run_dir=out/runs/<key>`` (a :class:`pathlib.Path`, created), a folder of its own where it
may save its :class:`~gradflow.Trajectory` or anything else; on a cluster that path must be on
a file system the workers share.  ``run`` returns a mapping from metric names to scalars
(``int``, ``float``, ``bool``, ``str`` or ``None``; NumPy scalars are converted).

A run is identified by :func:`run_key` of its configuration and seed (a hash of their canonical
JSON), stored in the ``key`` column; resumption matches on it, so renaming or adding a grid
axis makes new runs, while rows of other sweeps in the same CSV are kept in the file and left
out of the returned table.  One CSV must not be written by two sweeps at the same time.

Examples
--------
>>> import tempfile
>>> from concurrent.futures import ThreadPoolExecutor
>>> from gradflow.sweep import sweep
>>> def square(config, seed):
...     return {"y": config["x"] ** 2 + seed}
>>> with tempfile.TemporaryDirectory() as out, ThreadPoolExecutor(1) as pool:
...     table = sweep(square, {"x": [1, 2, 3]}, seeds=[0, 10], executor=pool, out=out,
...                   progress=False)
...     again = sweep(square, {"x": [1, 2, 3]}, seeds=[0, 10], executor=pool, out=out,
...                   progress=False)
>>> table.column("y").tolist()
[1, 11, 4, 14, 9, 19]
>>> table.computed, again.computed, again.reused
(6, 0, 6)
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import inspect
import io
import itertools
import json
import math
import os
import pickle
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sweep", "SweepTable", "run_key", "read_table", "RESERVED_COLUMNS", "RESULTS_FILE"]

#: Columns that :func:`sweep` writes besides the configuration and the metrics.
RESERVED_COLUMNS = ("seed", "status", "wall_time", "error", "key")

#: Name of the results table inside ``out``.
RESULTS_FILE = "results.csv"

_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
_INT_RE = re.compile(r"^[+-]?\d+$")
#: Longest error text kept in the table (the traceback's last line usually says it all).
_MAX_ERROR_CHARS = 2000

Scalar = int | float | bool | str | None


# --- keys and cell values ---------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """NumPy scalars -> Python scalars; tuples -> lists (recursively), for JSON and CSV."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def run_key(config: Mapping[str, Any], seed: int) -> str:
    """The stable identity of one run: 16 hex digits of the SHA-1 of its canonical JSON.

    The same configuration (whatever the order of its keys, NumPy or Python scalars) and
    seed give the same key in every process and every session.  ``5`` and ``5.0`` are
    different configurations.

    Parameters
    ----------
    config : dict
        The run's configuration (grid key -> value).
    seed : int
        The run's seed.

    Returns
    -------
    str
        16 lower-case hex digits.

    Examples
    --------
    >>> import numpy as np
    >>> run_key({"K": 5, "N": 30}, 0) == run_key({"N": 30, "K": np.int64(5)}, 0)
    True
    >>> run_key({"K": 5}, 0) == run_key({"K": 5}, 1)
    False
    >>> run_key({"K": 5}, 0) == run_key({"K": 5.0}, 0), len(run_key({"K": 5}, 0))
    (False, 16)
    """
    text = json.dumps(
        {"config": _plain(dict(config)), "seed": int(seed)},
        sort_keys=True,
        default=repr,
        allow_nan=True,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _format(value: Any) -> str:
    """One CSV cell: floats by ``repr`` (round-trips exactly), ``None`` as an empty cell."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse(text: str) -> Scalar:
    """Inverse of :func:`_format` for scalars: ``""`` -> None, ints, floats, bools, else text."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if _INT_RE.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


# --- the table ------------------------------------------------------------------------------
class SweepTable:
    """The rows of a sweep, one per run of the grid, in grid order (configurations × seeds).

    Every value went through the CSV (written, then parsed back), so a table is the same
    whether its rows were computed now or read from an earlier session.  Made by
    :func:`sweep`; each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    rows : list of dict
        One dict per run: the configuration, ``seed``, the metrics (``None`` where a run did
        not return that metric), ``status`` (``"ok"`` or ``"error"``), ``wall_time`` (seconds
        spent in ``run``, measured in the worker), ``error`` (``None`` or the error text) and
        ``key`` (:func:`run_key`).
    columns : list of str
        Column names in the CSV's order.
    path : pathlib.Path
        The CSV file.
    computed, reused : int
        Runs computed by this call, and read back from the CSV.

    Attributes
    ----------
    failed : int
        Runs with status ``"error"``.

    Examples
    --------
    A table is a sequence of row dicts; :attr:`ok` and :attr:`errors` split it by status:

    >>> import tempfile
    >>> from concurrent.futures import Executor, Future
    >>> class Serial(Executor):  # runs each task at once, in this process
    ...     def submit(self, fn, /, *args, **kwargs):
    ...         future = Future()
    ...         future.set_result(fn(*args, **kwargs))
    ...         return future
    >>> def inverse(config, seed):
    ...     return {"y": 1 / config["x"]}
    >>> with tempfile.TemporaryDirectory() as out:
    ...     table = sweep(inverse, {"x": [0, 2, 4]}, executor=Serial(), out=out,
    ...                   progress=False)
    >>> len(table), table.computed, table.failed
    (3, 3, 1)
    >>> table[1]["y"], [row["x"] for row in table.ok]
    (0.5, [2, 4])
    >>> table.errors[0]["error"]
    'ZeroDivisionError: division by zero'
    >>> table.columns
    ['x', 'seed', 'y', 'status', 'wall_time', 'error', 'key']
    """

    def __init__(
        self,
        rows: list[dict[str, Scalar]],
        columns: list[str],
        path: Path,
        computed: int = 0,
        reused: int = 0,
    ) -> None:
        self.rows = rows
        self.columns = columns
        self.path = path
        self.computed = computed
        self.reused = reused
        self.failed = sum(row["status"] != "ok" for row in rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Scalar]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Scalar]:
        return self.rows[index]

    def __repr__(self) -> str:
        return (
            f"SweepTable({len(self.rows)} runs: {self.computed} computed, {self.reused} reused, "
            f"{self.failed} failed; {self.path})"
        )

    @property
    def ok(self) -> list[dict[str, Scalar]]:
        """The rows with status ``"ok"``."""
        return [row for row in self.rows if row["status"] == "ok"]

    @property
    def errors(self) -> list[dict[str, Scalar]]:
        """The rows with status ``"error"``."""
        return [row for row in self.rows if row["status"] != "ok"]

    def column(self, name: str, only_ok: bool = False) -> np.ndarray:
        """One column as an array (numeric columns as float64, ``None`` as ``nan``).

        Parameters
        ----------
        name : str
            A configuration key, ``"seed"``, a metric, ``"status"``, ``"wall_time"`` ...
        only_ok : bool
            Keep only the rows with status ``"ok"``.

        Returns
        -------
        ndarray
            One entry per row: int64 when every value is an int, float64 when the values
            are numbers or missing, else an object array (text, booleans).

        Raises
        ------
        KeyError
            If no row has that column.

        Examples
        --------
        >>> import tempfile
        >>> from concurrent.futures import Executor, Future
        >>> class Serial(Executor):  # runs each task at once, in this process
        ...     def submit(self, fn, /, *args, **kwargs):
        ...         future = Future()
        ...         future.set_result(fn(*args, **kwargs))
        ...         return future
        >>> def inverse(config, seed):
        ...     return {"y": 1 / config["x"]}
        >>> with tempfile.TemporaryDirectory() as out:
        ...     table = sweep(inverse, {"x": [0, 2, 4]}, seeds=[0, 1], executor=Serial(),
        ...                   out=out, progress=False)
        >>> table.column("x").tolist(), table.column("seed").dtype
        ([0, 0, 2, 2, 4, 4], dtype('int64'))
        >>> table.column("y").tolist()
        [nan, nan, 0.5, 0.5, 0.25, 0.25]
        >>> table.column("y", only_ok=True).tolist(), table.column("status")[0]
        ([0.5, 0.5, 0.25, 0.25], 'error')
        """
        if name not in self.columns:
            raise KeyError(f"the table has no column {name!r}; its columns are {self.columns}")
        values = [row.get(name) for row in (self.ok if only_ok else self.rows)]
        numeric = all(v is None or isinstance(v, (int, float)) for v in values)
        if numeric and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return np.asarray(values, dtype=np.int64)
        if numeric and not all(isinstance(v, bool) for v in values):
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        return np.asarray(values, dtype=object)


def read_table(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, Scalar]]]:
    """Read a sweep's CSV: its header and every complete row, values parsed.

    A last line without its newline (the process died while writing it) is dropped, as are
    rows whose ``key`` or ``status`` is malformed.  Where a key occurs several times, all its
    rows are returned, in file order (:func:`sweep` uses the last one).

    Parameters
    ----------
    path : str or path-like
        The CSV, usually ``out/results.csv`` of a sweep.

    Returns
    -------
    header : list of str
        The column names (empty for an empty file).
    rows : list of dict
        One dict per complete row, column -> parsed value (int, float, bool, str or None).

    Raises
    ------
    ValueError
        If the file is not a sweep table (no ``key`` and ``status`` columns).

    Examples
    --------
    A sweep's table read back, and a half-written last line dropped:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from concurrent.futures import Executor, Future
    >>> class Serial(Executor):  # runs each task at once, in this process
    ...     def submit(self, fn, /, *args, **kwargs):
    ...         future = Future()
    ...         future.set_result(fn(*args, **kwargs))
    ...         return future
    >>> def square(config, seed):
    ...     return {"y": config["x"] ** 2}
    >>> with tempfile.TemporaryDirectory() as out:
    ...     _ = sweep(square, {"x": [1, 2]}, executor=Serial(), out=out, progress=False)
    ...     csv_path = Path(out) / "results.csv"
    ...     with open(csv_path, "a") as f:
    ...         _ = f.write("3,0,9,ok,0.1,,0123")  # no newline: a run died mid-write
    ...     header, rows = read_table(csv_path)
    >>> header
    ['x', 'seed', 'y', 'status', 'wall_time', 'error', 'key']

    The rows are in the order the runs finished:

    >>> sorted((row["x"], row["y"], row["error"]) for row in rows)
    [(1, 1, None), (2, 4, None)]
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return [], []
    if "key" not in header or "status" not in header:
        raise ValueError(f"{path} is not a sweep table: its header {header} lacks 'key'/'status'")
    rows = []
    for cells in reader:
        if len(cells) != len(header):
            continue
        row = {name: _parse(cell) for name, cell in zip(header, cells, strict=True)}
        row["key"] = cells[header.index("key")]
        if not _KEY_RE.match(row["key"]) or row["status"] not in ("ok", "error"):
            continue
        rows.append(row)
    return header, rows


class _CsvWriter:
    """Appends rows to the CSV, flushed and synced row by row; widens the header when needed.

    A row with a column the header lacks (a new metric, or the first metrics after rows of
    errors only) makes the file be rewritten whole with the wider header, through a temporary
    file and :func:`os.replace`, so the file on disk is always a complete table.
    """

    def __init__(self, path: Path, header: list[str], rows: list[dict[str, Scalar]]) -> None:
        self.path = path
        self.header = list(header)
        self.rows = list(rows)
        clean = path.is_file() and path.read_bytes().endswith(b"\n")
        if not clean:
            self._rewrite()

    def _line(self, row: Mapping[str, Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(
            [_format(row.get(name)) for name in self.header]
        )
        return buffer.getvalue()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if self.header:
                f.write(self._line(dict(zip(self.header, self.header, strict=True))))
            for row in self.rows:
                f.write(self._line(row))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any], order: Sequence[str]) -> None:
        """Write ``row``; ``order`` places new columns (config, seed, metrics, reserved)."""
        self.rows.append(row)
        missing = [name for name in row if name not in self.header]
        if missing:
            self.header = _ordered_columns(self.header + missing, order)
            self._rewrite()
            return
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(self._line(row))
            f.flush()
            os.fsync(f.fileno())


def _ordered_columns(names: Iterable[str], config_keys: Sequence[str]) -> list[str]:
    """Configuration keys first, then ``seed``, the metrics, and the other reserved columns."""
    names = list(dict.fromkeys(names))
    head = [n for n in config_keys if n in names] + ["seed"]
    tail = [n for n in RESERVED_COLUMNS if n != "seed"]
    middle = [n for n in names if n not in head and n not in tail]
    return head + middle + tail


# --- the worker side ------------------------------------------------------------------------
def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " | ")
    return text[:_MAX_ERROR_CHARS]


def _check_metrics(metrics: Any, config: Mapping[str, Any]) -> dict[str, Scalar]:
    if not isinstance(metrics, Mapping):
        raise TypeError(f"run must return a dict of scalar metrics, got {type(metrics).__name__}")
    out: dict[str, Scalar] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"metric names must be non-empty strings, got {name!r}")
        if name in RESERVED_COLUMNS or name in config:
            raise ValueError(
                f"metric {name!r} collides with a configuration key or a reserved column "
                f"{RESERVED_COLUMNS}"
            )
        value = _plain(value)
        if not (value is None or isinstance(value, (int, float, bool, str))):
            raise TypeError(
                f"metric {name!r} must be a scalar (int, float, bool, str or None), "
                f"got {type(value).__name__}"
            )
        out[name] = value
    return out


def _execute(
    run: Callable[..., Mapping[str, Any]],
    config: dict[str, Any],
    seed: int,
    run_dir: str | None,
) -> dict[str, Any]:
    """Call ``run`` in the worker; never raises an ``Exception`` (it becomes an error row)."""
    start = time.perf_counter()
    try:
        if run_dir is None:
            metrics = run(dict(config), seed)
        else:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            metrics = run(dict(config), seed, run_dir=Path(run_dir))
        metrics = _check_metrics(metrics, config)
        status, error, trace = "ok", None, None
    except Exception as exc:
        metrics, status, error = {}, "error", _error_text(exc)
        trace = traceback.format_exc()
    return {
        "metrics": metrics,
        "status": status,
        "error": error,
        "traceback": trace,
        "wall_time": time.perf_counter() - start,
    }


# --- argument checks ------------------------------------------------------------------------
def _check_grid(grid: Any) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a dict of lists (name -> values), got {type(grid).__name__}")
    out = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"grid keys must be non-empty strings, got {name!r}")
        if name in RESERVED_COLUMNS:
            raise ValueError(
                f"grid key {name!r} is reserved; the reserved columns are {RESERVED_COLUMNS}"
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(
                f"grid[{name!r}] must be a list of values, got {type(values).__name__} "
                f"(write [{values!r}] for a single value)"
            )
        values = list(values)
        if not values:
            raise ValueError(f"grid[{name!r}] is empty")
        out[name] = values
    return out


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, np.integer, str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list of ints such as range(4), got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"seeds must be ints, got {s!r}")
        out.append(int(s))
    if not out:
        raise ValueError("seeds is empty")
    return out


def _takes_run_dir(run: Callable) -> bool:
    try:
        return "run_dir" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


# --- the sweep ------------------------------------------------------------------------------
def sweep(
    run: Callable[..., Mapping[str, Any]],
    grid: Mapping[str, Sequence[Any]],
    seeds: Iterable[int] = (0,),
    executor: concurrent.futures.Executor | None = None,
    out: str | os.PathLike[str] = "sweep-out",
    progress: bool = True,
) -> SweepTable:
    """Run ``run(config, seed)`` over ``grid × seeds``, writing a resumable CSV table.

    Parameters
    ----------
    run : callable
        ``run(config: dict, seed: int) -> dict[str, scalar]``; see the module docstring for
        the call convention (picklable; optional ``run_dir`` keyword).
    grid : dict of lists
        Axis name -> values; the runs are the Cartesian product, in the order the keys and
        values are given, each combination with every seed.  A single value is a list of one.
    seeds : iterable of int
        Seeds of every configuration (default ``(0,)``).
    executor : concurrent.futures.Executor, optional
        Where the runs go.  ``None``: a :class:`~concurrent.futures.ProcessPoolExecutor` over
        ``os.cpu_count()`` workers, shut down at the end.  A given executor (e.g.
        ``dask.distributed.Client(address).get_executor()``) is used and left running.
    out : path
        Folder of the table ``out/results.csv`` (created); ``out/runs/<key>/`` holds what runs
        taking ``run_dir`` save.
    progress : bool
        One line per finished run on stderr, with the count and an estimate of the time left.

    Returns
    -------
    SweepTable
        One row per run of the grid, in grid order.

    Raises
    ------
    TypeError, ValueError
        For a malformed ``grid`` or ``seeds``, a ``run`` that is not callable or not picklable
        for a process pool, duplicate runs in the grid, or a CSV that is not a sweep table.
    KeyboardInterrupt
        Re-raised after cancelling the runs not yet started; the finished rows are on disk.
    RuntimeError
        If the process pool breaks (a worker died, e.g. out of memory); the finished rows are
        on disk and calling :func:`sweep` again resumes.

    Notes
    -----
    Runs are submitted all at once and their rows written in the order they finish;
    :attr:`SweepTable.rows` is in grid order.  The ``wall_time`` column is the time spent in
    ``run`` in the worker, so it excludes queueing and transfer.  Each row is flushed and
    synced to disk (``os.fsync``) before the next one is handled: a few milliseconds per run
    (``benchmarks/sweep.py`` measures it), negligible against runs of a second or more.

    Examples
    --------
    A tiny grid on a serial executor, in a temporary folder; a run that fails is recorded
    and recomputed by the next call, the finished ones are read back:

    >>> import tempfile
    >>> from concurrent.futures import Executor, Future
    >>> class Serial(Executor):  # runs each task at once, in this process
    ...     def submit(self, fn, /, *args, **kwargs):
    ...         future = Future()
    ...         future.set_result(fn(*args, **kwargs))
    ...         return future
    >>> calls = []
    >>> def power(config, seed):
    ...     calls.append((config["p"], seed))
    ...     if config["p"] < 0 and not fixed:
    ...         raise ValueError("negative power")
    ...     return {"y": 2.0 ** config["p"] + seed}
    >>> fixed = False
    >>> with tempfile.TemporaryDirectory() as out:
    ...     first = sweep(power, {"p": [-1, 1, 3]}, seeds=[0, 1], executor=Serial(), out=out,
    ...                   progress=False)
    ...     fixed = True
    ...     calls.clear()
    ...     second = sweep(power, {"p": [-1, 1, 3]}, seeds=[0, 1], executor=Serial(),
    ...                    out=out, progress=False)
    >>> first
    SweepTable(6 runs: 6 computed, 0 reused, 2 failed; ...results.csv)
    >>> first.errors[0]["error"]
    'ValueError: negative power'
    >>> second.computed, second.reused, second.failed, calls
    (2, 4, 0, [(-1, 0), (-1, 1)])
    >>> second.column("y").tolist()
    [0.5, 1.5, 2.0, 3.0, 8.0, 9.0]
    """
    if not callable(run):
        raise TypeError(f"run must be callable, got {type(run).__name__}")
    axes = _check_grid(grid)
    seed_list = _check_seeds(seeds)
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor or None, got {type(executor).__name__}"
        )
    if executor is None or isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        try:
            pickle.dumps(run)
        except Exception as exc:
            raise TypeError(
                f"run must be picklable for a process pool (a function defined at the top level "
                f"of a module, or a functools.partial of one): {exc}"
            ) from None

    configs = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    tasks = [(config, seed, run_key(config, seed)) for config in configs for seed in seed_list]
    keys = [key for _, _, key in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid repeats a configuration (some axis lists a value twice)")

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS_FILE
    header, old_rows = read_table(path) if path.is_file() else ([], [])
    latest = {row["key"]: row for row in old_rows}
    done = {k: latest[k] for k in keys if k in latest and latest[k]["status"] == "ok"}
    order = list(axes)
    header = _ordered_columns(header + order + list(RESERVED_COLUMNS), order)
    writer = _CsvWriter(path, header, old_rows)
    todo = [task for task in tasks if task[2] not in done]
    pass_run_dir = _takes_run_dir(run)

    own = executor is None
    pool = concurrent.futures.ProcessPoolExecutor(os.cpu_count()) if own else executor
    log = _Progress(len(tasks), len(done), len(todo), pool, path, order, progress)
    finished: dict[str, dict[str, Any]] = {}
    futures: dict[concurrent.futures.Future, tuple[dict, int, str]] = {}
    try:
        for config, seed, key in todo:
            run_dir = str(folder / "runs" / key) if pass_run_dir else None
            futures[pool.submit(_execute, run, config, seed, run_dir)] = (config, seed, key)
        for future in concurrent.futures.as_completed(futures):
            config, seed, key = futures[future]
            try:
                result = future.result()
            except concurrent.futures.BrokenExecutor as exc:
                raise RuntimeError(
                    f"the executor broke ({exc}); {len(finished)} runs of this call are saved "
                    f"in {path}; call sweep again to resume"
                ) from exc
            except Exception as exc:  # lost in transit: pickling, a killed Dask worker ...
                result = {
                    "metrics": {},
                    "status": "error",
                    "error": _error_text(exc),
                    "traceback": None,
                    "wall_time": math.nan,
                }
            row = {
                **config,
                "seed": seed,
                **result["metrics"],
                "status": result["status"],
                "wall_time": result["wall_time"],
                "error": result["error"],
                "key": key,
            }
            writer.append(row, order)
            finished[key] = row
            log.finished(row, result["traceback"])
    except BaseException:
        for future in futures:
            future.cancel()
        if own:  # do not wait for the running runs (Ctrl-C reaches the workers too)
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if own:
        pool.shutdown(wait=True)

    columns = writer.header
    rows = []
    for key in keys:
        row = finished[key] if key in finished else done[key]
        # through the CSV's text, so computed and reused rows have the same types
        rows.append({name: _parse(_format(row.get(name))) for name in columns} | {"key": key})
    log.summary(rows)
    return SweepTable(rows, columns, path, computed=len(finished), reused=len(done))


class _Progress:
    """Progress lines on stderr: one per finished run, a header and a summary."""

    def __init__(
        self,
        total: int,
        reused: int,
        todo: int,
        executor: concurrent.futures.Executor,
        path: Path,
        config_keys: Sequence[str],
        enabled: bool,
    ) -> None:
        self.enabled = enabled
        self.config_keys = list(config_keys)
        self.total = total
        self.todo = todo
        self.count = 0
        self.start = time.perf_counter()
        self._say(
            f"sweep: {total} runs, {reused} already in {path}, {todo} to compute on "
            f"{type(executor).__name__}"
        )

    def _say(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    def finished(self, row: Mapping[str, Any], trace: str | None) -> None:
        self.count += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.count * (self.todo - self.count)
        config = " ".join(f"{k}={row[k]}" for k in self.config_keys)
        status = row["status"] if row["status"] == "ok" else f"ERROR {row['error']}"
        width = len(str(self.todo))
        self._say(
            f"[{self.count:>{width}}/{self.todo}] {config} seed={row['seed']}: {status} "
            f"({row['wall_time']:.3g} s; {elapsed:.0f} s elapsed, ~{left:.0f} s left)"
        )
        if trace and self.enabled:
            print(trace.rstrip(), file=sys.stderr, flush=True)

    def summary(self, rows: list[Mapping[str, Any]]) -> None:
        failed = sum(row["status"] != "ok" for row in rows)
        self._say(
            f"sweep: done in {time.perf_counter() - self.start:.1f} s; {failed} of "
            f"{len(rows)} runs failed"
        )
