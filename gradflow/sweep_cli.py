"""``gradflow sweep``: gradient flows of one model over a grid of settings and seeds.

::

    gradflow sweep icl --set K=5,10,20,40 population=mean_field --seeds 0:4 --out runs/icl
    gradflow sweep cooccurrence --set m=32,64,128 --t-end 300 --scheduler tcp://host:8786 \\
        --out runs/cooc

Each ``--set KEY=V1,V2,...`` is an axis of the grid (values are Python literals, split at
top-level commas, so ``p=[0.6,0.1,0.1,0.1,0.1]`` is one value); every combination is built
with ``MODEL.paper(**settings)`` and trained by gradient flow from ``t = 0`` to ``--t-end``
once per seed.  The seed draws the initialisation, and also the model's data when its
``paper`` takes a ``seed`` (so that seeds are independent repetitions).  The default metrics
of a run (:func:`flow_metrics`):

``loss_0``, ``loss_final``
    the loss at ``t = 0`` and at the end;
``t_half``
    the first time the loss falls to half its initial value (an event of
    :func:`gradflow.integrate_flow`, located on the solver's interpolant); empty when it
    does not happen before ``--t-end``;
``t_final``, ``flow_status``, ``nfev``
    where the flow stopped, why, and the gradient calls it cost;
``final_<name>``
    the final value of each scalar observable of the model.

The table goes to ``OUT/results.csv`` (:func:`gradflow.sweep.sweep`: rows written as they
finish; run the same command again to resume).  The solver options are stored in
``OUT/sweep.json``, and a rerun with different ones is refused rather than mixed into the
same table.  ``--scheduler ADDRESS`` sends the runs to a running Dask scheduler (the
``gradflow-theory[cluster]`` extra); otherwise a local process pool over ``--workers`` cores.
When one axis has three or more positive numbers, the command ends by fitting
``t_half ∝ axis^a`` (:func:`gradflow.scaling.fit_power_law`) and printing the exponent.

:func:`add_sweep_command` adds the command to the parser of :mod:`gradflow.cli`.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_sweep_command", "flow_metrics", "parse_axes", "parse_seeds"]

#: The file in OUT that records the solver options of the sweep.
OPTIONS_FILE = "sweep.json"


def _usage_error(message: str) -> Exception:
    from gradflow.cli import UsageError  # here: gradflow.cli imports this module

    return UsageError(message)


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside brackets, parentheses, braces or quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_axes(items: list[str] | None) -> dict[str, list[Any]]:
    """``["K=5,10,20", "population=mean_field"]`` -> ``{"K": [5, 10, 20], ...}``.

    Parameters
    ----------
    items : list of str or None
        The ``--set`` arguments, each ``KEY=V1,V2,...``; values are Python literals (text
        that is not one stays a string), split at top-level commas.

    Returns
    -------
    dict of str to list
        Axis name -> values, in the order given (empty for ``None``).

    Raises
    ------
    gradflow.cli.UsageError
        If an item is not ``KEY=V1,V2,...`` with ``KEY`` a name, a key repeats, a value is
        empty, or the key is ``seed`` (the sweep's own column: use ``--seeds``).

    Examples
    --------
    >>> parse_axes(["K=5,10,20", "p=[0.5,0.5]", "population=mean_field"])
    {'K': [5, 10, 20], 'p': [[0.5, 0.5]], 'population': ['mean_field']}
    >>> parse_axes(None)
    {}
    >>> parse_axes(["seed=1,2"])
    Traceback (most recent call last):
        ...
    gradflow.cli.UsageError: --set cannot set 'seed': it is a column of the sweep itself
    """
    axes: dict[str, list[Any]] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise _usage_error(f"--set expects KEY=V1,V2,... with KEY a name, got {item!r}")
        if key in axes:
            raise _usage_error(f"--set gives {key!r} twice")
        if key in ("seed", "model"):
            raise _usage_error(f"--set cannot set {key!r}: it is a column of the sweep itself")
        values = _split_top_level(text)
        if any(v == "" for v in values):
            raise _usage_error(f"--set {key}: empty value in {text!r}")
        axes[key] = [_literal(v) for v in values]
    return axes


def parse_seeds(text: str) -> list[int]:
    """``"0:4"`` -> ``[0, 1, 2, 3]`` (a Python range); ``"1,5,7"`` -> ``[1, 5, 7]``.

    Parameters
    ----------
    text : str
        The ``--seeds`` argument: ``START:STOP`` or comma-separated integers.

    Returns
    -------
    list of int
        The seeds, non-negative.

    Raises
    ------
    gradflow.cli.UsageError
        If the text is neither form, or gives no seed or a negative one.

    Examples
    --------
    >>> parse_seeds("0:4"), parse_seeds("3"), parse_seeds("1,5,7")
    ([0, 1, 2, 3], [3], [1, 5, 7])
    >>> parse_seeds("4:0")
    Traceback (most recent call last):
        ...
    gradflow.cli.UsageError: --seeds '4:0' gives no seeds or a negative one
    """
    try:
        if ":" in text:
            start, stop = (int(part) for part in text.split(":"))
            seeds = list(range(start, stop))
        else:
            seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise _usage_error(
            f"--seeds expects START:STOP (a range) or a list like 0,1,5, got {text!r}"
        ) from None
    if not seeds or any(s < 0 for s in seeds):
        raise _usage_error(f"--seeds {text!r} gives no seeds or a negative one")
    return seeds


def flow_metrics(
    config: Mapping[str, Any],
    seed: int,
    *,
    t_end: float,
    method: str = "auto",
    rtol: float = 1e-8,
    atol: float | None = None,
    max_wall: float | None = None,
) -> dict[str, Any]:
    """The default metrics of ``gradflow sweep``: one gradient flow of ``config["model"]``.

    Parameters
    ----------
    config : dict
        ``"model"`` (a registered name) and the keywords of its ``paper`` constructor.
    seed : int
        Draws the initialisation; also passed to ``paper(seed=...)`` when it takes one.
    t_end, method, rtol, atol, max_wall
        As in :func:`gradflow.integrate_flow` (``t_span = (0, t_end)``).

    Returns
    -------
    dict
        ``loss_0``, ``loss_final``, ``t_half`` (None when the loss does not halve),
        ``t_final``, ``flow_status``, ``nfev`` and ``final_<name>`` for every scalar
        observable; see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> m = flow_metrics({"model": "quadratic", "kappa": 10.0}, 0, t_end=5.0)
    >>> m["flow_status"], m["loss_final"] < m["loss_0"] / 2 <= m["loss_0"]
    ('finished', True)

    ``t_half`` against the exact flow of the same quadratic from the same initialisation:

    >>> from gradflow.models.quadratic import Quadratic
    >>> model = Quadratic.paper(kappa=10.0)
    >>> theta0 = model.init_params(np.random.default_rng(0))["theta"]
    >>> loss_half = model.loss({"theta": model.exact(m["t_half"], theta0)})
    >>> bool(np.isclose(loss_half, m["loss_0"] / 2, rtol=1e-5))
    True
    >>> sorted(k for k in m if k.startswith("final_"))  # the quadratic has no scalar observable
    []
    """
    import gradflow as gf
    from gradflow import models
    from gradflow.flow import event

    settings = {k: v for k, v in config.items() if k != "model"}
    cls = models.get(config["model"])
    if _takes_seed(cls):
        settings["seed"] = seed
    model = cls.paper(**settings)
    theta0 = model.init_params(np.random.default_rng(seed))
    loss_0 = float(model.loss(theta0))
    half = event(lambda t, p: model.loss(p) - loss_0 / 2, direction=-1, name="loss_half")
    traj = gf.integrate_flow(
        model,
        theta0,
        (0.0, float(t_end)),
        method=method,
        rtol=rtol,
        atol=atol,
        events=[half],
        max_wall=max_wall,
    )
    metrics: dict[str, Any] = {
        "loss_0": loss_0,
        "loss_final": float(traj.loss[-1]),
        "t_half": traj.event_time("loss_half"),
        "t_final": float(traj.t[-1]),
        "flow_status": traj.status,
        "nfev": int(traj.nfev),
    }
    for name, values in traj.observables.items():
        if np.ndim(values) == 1:
            metrics[f"final_{name}"] = float(np.real(values[-1]))
    return metrics


def _takes_seed(cls: type) -> bool:
    """Whether ``cls.paper`` takes a ``seed``, itself or forwarded to the constructor."""
    params = inspect.signature(cls.paper).parameters
    if "seed" in params:
        return True
    forwards = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return forwards and "seed" in inspect.signature(cls).parameters


def _executor(args: argparse.Namespace) -> tuple[Executor, Any]:
    """A local process pool, or a Dask client's executor and the client (to close)."""
    if args.scheduler is None:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(args.workers), None
    try:
        from dask.distributed import Client
    except ImportError:
        raise _usage_error(
            "--scheduler needs dask.distributed: pip install 'gradflow-theory[cluster]'"
        ) from None
    try:
        client = Client(args.scheduler, timeout=args.connect_timeout)
    except OSError as exc:
        raise _usage_error(f"cannot reach the Dask scheduler {args.scheduler!r}: {exc}") from None
    return client.get_executor(pure=False), client


def _check_options(out: Path, options: dict[str, Any]) -> None:
    """Refuse to mix runs made with other solver options into the table in ``out``."""
    path = out / OPTIONS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != options:
            changed = sorted(k for k in set(saved) | set(options) if saved.get(k) != options.get(k))
            differences = ", ".join(
                f"{k} {saved.get(k)!r} there, {options.get(k)!r} now" for k in changed
            )
            raise _usage_error(
                f"{out} holds a sweep made with other options ({differences}); use another "
                "--out or the same options"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(options, indent=1) + "\n")


def _report_scaling(table: Any, axes: dict[str, list[Any]]) -> None:
    """Print the fit ``t_half ∝ axis^a`` when one axis has ≥ 3 positive numbers."""
    from gradflow.scaling import fit_power_law

    numeric = [
        k
        for k, values in axes.items()
        if len(values) >= 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
    ]
    if len(numeric) != 1 or "t_half" not in table.columns:
        return
    x = table.column(numeric[0], only_ok=True).astype(float)
    y = table.column("t_half", only_ok=True)
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 3 or len(set(x[keep])) < 2:
        return
    fit = fit_power_law(x[keep], y[keep])
    print(f"t_half ∝ {numeric[0]}^a: {fit}  ({int(keep.sum())} runs)")


def _cmd_sweep(args: argparse.Namespace) -> int:
    import gradflow.flow  # noqa: F401  (imported before the pool forks, not in every worker)
    from gradflow import models
    from gradflow.sweep import sweep

    if args.model not in models.REGISTRY:
        raise _usage_error(f"model {args.model!r} is unknown; the models are {models.names()}")
    axes = parse_axes(args.set)
    seeds = parse_seeds(args.seeds)
    if not args.t_end > 0:
        raise _usage_error(f"--t-end must be positive, got {args.t_end}")
    if args.workers is not None and args.workers < 1:
        raise _usage_error(f"--workers must be at least 1, got {args.workers}")
    options = {
        "model": args.model,
        "t_end": args.t_end,
        "method": args.method,
        "rtol": args.rtol,
        "atol": args.atol,
        "max_wall": args.max_wall,
    }
    out = Path(args.out)
    _check_options(out, options)
    run = functools.partial(
        flow_metrics,
        t_end=args.t_end,
        method=args.method,
        rtol=args.rtol,
        atol=args.atol,
        max_wall=args.max_wall,
    )
    executor, client = _executor(args)
    try:
        table = sweep(
            run,
            {"model": [args.model], **axes},
            seeds=seeds,
            executor=executor,
            out=out,
            progress=not args.quiet,
        )
    finally:
        executor.shutdown(wait=True)
        if client is not None:
            client.close()
    print(
        f"wrote {table.path}: {len(table)} runs ({table.computed} computed, {table.reused} "
        f"reused, {table.failed} failed)"
    )
    for row in table.errors:
        settings = " ".join(f"{k}={row[k]}" for k in axes)
        print(f"  error: {settings} seed={row['seed']}: {row['error']}", file=sys.stderr)
    _report_scaling(table, axes)
    return 0 if table.failed == 0 else 1


def _wrap(text: str) -> str:
    """Wrap a description to the terminal width (the formatter keeps the line breaks)."""
    return textwrap.fill(text, width=min(100, shutil.get_terminal_size().columns - 2))


def add_sweep_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``gradflow sweep`` to the ``subparsers`` of the ``gradflow`` parser.

    The handler is stored as ``handler`` (``args.handler(args)`` returns the exit code:
    0 when every run succeeded, 1 when some failed).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``sweep`` sub-parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="gradflow")
    >>> _ = add_sweep_command(parser.add_subparsers())
    >>> args = parser.parse_args(["sweep", "quadratic", "--set", "kappa=1,10", "--out", "o"])
    >>> args.model, parse_axes(args.set), parse_seeds(args.seeds), args.t_end
    ('quadratic', {'kappa': [1, 10]}, [0], 100.0)
    >>> args.method, args.rtol, args.scheduler, args.quiet
    ('auto', 1e-08, None, False)

    ``args.handler(args)`` runs the sweep (``gradflow.cli.main(["sweep", ...])`` does the
    same); it starts a process pool, so it is not run here.
    """
    p = subparsers.add_parser(
        "sweep",
        help="gradient flows over a grid of model settings and seeds, into a resumable CSV",
        description=_wrap(
            "Build MODEL.paper(**settings) for every combination of the --set axes, train it by "
            "gradient flow to --t-end once per seed, and append one row per run (settings, "
            "seed, loss_0, loss_final, t_half = first time the loss halves, final scalar "
            "observables, wall time, status) to OUT/results.csv as runs finish. Run the same "
            "command again to resume: rows already there are not recomputed. The runs go to "
            "a local process pool, or to a Dask scheduler with --scheduler."
        ),
        epilog="examples:\n"
        "  gradflow sweep icl --set K=5,10,20,40 population=mean_field --seeds 0:1 "
        "--t-end 5000 --out runs/icl\n"
        "  gradflow sweep quadratic --set kappa=1,10,100 --seeds 0:4 "
        "--scheduler tcp://127.0.0.1:8786 --out runs/q",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model name (see 'gradflow list')")
    p.add_argument(
        "--set",
        metavar="KEY=V1,V2,...",
        nargs="+",
        action="extend",
        help="an axis of the grid: a setting of MODEL.paper() and its values, Python literals "
        "separated by commas (a bracketed list is one value); repeatable",
    )
    p.add_argument(
        "--seeds",
        default="0:1",
        help="seeds of every configuration: START:STOP (a range, default 0:1) or a list 0,1,5",
    )
    p.add_argument("--t-end", type=float, default=100.0, help="final flow time (default: 100)")
    p.add_argument("--method", default="auto", help="solve_ivp method (default: auto)")
    p.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance (default: 1e-8)")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default: auto)")
    p.add_argument(
        "--max-wall",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop each flow after this many seconds (status 'stalled')",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="address of a running Dask scheduler (tcp://host:8786); needs the [cluster] extra",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the scheduler (default: 10)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count(),
        help=f"local worker processes without --scheduler (default: {os.cpu_count()})",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder of results.csv")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(handler=_cmd_sweep)
    return p
