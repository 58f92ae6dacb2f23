"""The ``gradflow`` command line: run, plot, check, reproduce, list.

Examples
--------
::

    gradflow list
    gradflow run quadratic --set kappa=100 --t-end 20 --out runs/flow.npz
    gradflow run quadratic --set kappa=100 --gd 0.01 --out runs/gd.npz
    gradflow plot runs/flow.npz runs/gd.npz --out runs/loss.png
    gradflow check linear_net
    gradflow reproduce oracles --out figures --quick

``main(argv)`` returns the exit code: 0 on success, 1 when ``check`` finds a failing check,
2 on a usage error (unknown model, bad ``--set``, missing file ...), which is printed as one
line on stderr without a traceback (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import math
import shutil
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = ["main", "parse_sets"]

#: model names accepted by ``reproduce`` that belong to a differently named figure set
_FIGURE_ALIASES = {"quadratic": "oracles", "linear_net": "oracles"}
#: default number of panels of ``gradflow plot`` (loss plus the first small observables)
_MAX_DEFAULT_PANELS = 6
#: observables with at most this many numbers per time are plotted by default
_MAX_DEFAULT_COMPONENTS = 10


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2.

    Examples
    --------
    >>> parse_sets(["kappa"])
    Traceback (most recent call last):
        ...
    gradflow.cli.UsageError: --set expects KEY=VALUE with KEY a name, got 'kappa'
    """


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and raise :class:`UsageError`."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- helpers ------------------------------------------------------------------------------
def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    """Turn ``["kappa=100", "name=abc"]`` into ``{"kappa": 100, "name": "abc"}``.

    Values are read with :func:`ast.literal_eval` (numbers, tuples, lists, True/None ...)
    and kept as strings when that fails.

    Parameters
    ----------
    items : sequence of str or None
        The ``--set`` arguments, each ``KEY=VALUE``.

    Returns
    -------
    dict of str to object
        Setting name -> value, in the order given (empty for ``None``).

    Raises
    ------
    UsageError
        If an item is not ``KEY=VALUE`` with ``KEY`` a Python identifier, or a key repeats.

    Examples
    --------
    >>> parse_sets(["kappa=1e2", "angle=0.5", "shape=(2, 3)", "kind=stiff"])
    {'kappa': 100.0, 'angle': 0.5, 'shape': (2, 3), 'kind': 'stiff'}
    >>> parse_sets(None)
    {}
    >>> parse_sets(["kappa=1", "kappa=2"])
    Traceback (most recent call last):
        ...
    gradflow.cli.UsageError: --set gives 'kappa' twice
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--set expects KEY=VALUE with KEY a name, got {item!r}")
        if key in out:
            raise UsageError(f"--set gives {key!r} twice")
        try:
            out[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[key] = text.strip()
    return out


def _model_class(name: str) -> type:
    from gradflow import models

    try:
        return models.get(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _settings(cls: type) -> list[str] | None:
    """Keyword names ``cls.paper`` accepts (None when it takes any keyword).

    A ``paper(**overrides)`` that forwards to the constructor accepts the constructor's.
    """
    names = []
    for fun in (cls.paper, cls):
        params = inspect.signature(fun).parameters.values()
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def _build_model(name: str, sets: dict[str, Any], seed: int) -> Any:
    """``models.get(name).paper(**sets)``, with unknown keywords reported in words.

    When ``paper`` takes a ``seed`` (for the model's data) and ``sets`` does not give one,
    ``seed`` is passed, so that ``--seed`` gives an independent repetition.
    """
    cls = _model_class(name)
    known = _settings(cls)
    if known is not None:
        unknown = sorted(set(sets) - set(known))
        if unknown:
            raise UsageError(
                f"model {name!r} has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are {known}"
            )
        if "seed" in known and "seed" not in sets:
            sets = {**sets, "seed": seed}
    try:
        return cls.paper(**sets)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot build model {name!r} with {sets}: {exc}") from None


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"file {path!r} does not exist")
    return p


def _small_observables(traj: Any) -> list[str]:
    """Observables with at most ``_MAX_DEFAULT_COMPONENTS`` numbers per time, scalars first."""
    sizes = {k: int(np.prod(np.shape(v)[1:])) for k, v in traj.observables.items()}
    small = [k for k, size in sizes.items() if size <= _MAX_DEFAULT_COMPONENTS]
    return sorted(small, key=lambda k: sizes[k] > 1)


# --- subcommands ----------------------------------------------------------------------------
def _first_doc_line(module_name: str) -> str:
    """First line of a module's docstring, read from its source without importing it."""
    if module_name in sys.modules:
        doc = sys.modules[module_name].__doc__ or ""
    else:
        try:
            source = Path(importlib.util.find_spec(module_name).origin).read_text("utf-8")
            doc = ast.get_docstring(ast.parse(source)) or ""
        except (OSError, SyntaxError, TypeError) as exc:
            return f"(cannot read: {exc})"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _cmd_list(args: argparse.Namespace) -> int:
    from gradflow import figures, models

    print("models (gradflow run MODEL, gradflow check MODEL):")
    for name in models.names():
        try:
            cls = models.get(name)
        except Exception as exc:  # a broken model module must not hide the others
            print(f"  {name:<15} (cannot import: {type(exc).__name__}: {exc})")
            continue
        print(f"  {name:<15} {cls.__name__:<15} {getattr(cls, 'citation', '')}")
    print("figure sets (gradflow reproduce NAME):")
    for name in figures.names():
        print(f"  {name:<15} {_first_doc_line(figures.FIGURES[name])}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import gradflow as gf

    model = _build_model(args.model, parse_sets(args.set), args.seed)
    theta0 = model.init_params(np.random.default_rng(args.seed))
    progress = not args.quiet
    if args.gd is None:
        if args.steps is not None:
            raise UsageError("--steps belongs to gradient descent: give --gd LR as well")
        if not args.t_end > 0:
            raise UsageError(f"--t-end must be positive, got {args.t_end}")
        if progress:
            print(f"gradient flow of {args.model} to t = {args.t_end:g}", file=sys.stderr)
        traj = gf.integrate_flow(
            model,
            theta0,
            (0.0, args.t_end),
            method=args.method,
            rtol=args.rtol,
            atol=args.atol,
            progress=progress,
        )
    else:
        if not args.gd > 0:
            raise UsageError(f"--gd (the learning rate) must be positive, got {args.gd}")
        steps = args.steps if args.steps is not None else math.ceil(args.t_end / args.gd)
        if steps < 1:
            raise UsageError(f"--steps must be at least 1, got {steps}")
        every = args.record_every or max(1, steps // 500)
        if progress:
            print(
                f"gradient descent on {args.model}: lr = {args.gd:g}, {steps} steps",
                file=sys.stderr,
            )
        traj = gf.gradient_descent(
            model, theta0, args.gd, steps, record_every=every, progress=progress
        )
    traj.metadata.setdefault("seed", args.seed)
    traj.metadata["command"] = "gradflow " + " ".join(args.argv)
    path = traj.save(args.out)
    print(f"status      {traj.status}" + (f" ({traj.message})" if traj.message else ""))
    print(f"final loss  {float(traj.loss[-1]):.6g}   at t = {float(traj.t[-1]):.6g}")
    print(f"nfev        {traj.nfev}")
    print(f"wall time   {traj.wall_time:.3g} s")
    print(f"wrote       {path}")
    return 0 if traj.status != "failed" else 1


def _cmd_plot(args: argparse.Namespace) -> int:
    import gradflow as gf

    runs = []
    for name in args.runs:
        try:
            runs.append(gf.load(_existing_file(name)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.keys:
        keys = list(args.keys)
    else:
        common = [k for k in _small_observables(runs[0]) if all(k in r.observables for r in runs)]
        keys = ["loss", *common][:_MAX_DEFAULT_PANELS]
    from gradflow import plots

    try:
        fig = plots.curves(*runs, keys=keys, logx=not args.linear_time, logy=args.logy)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    path = plots.save(fig, args.out)
    print(f"wrote {path}  (panels: {', '.join(map(str, keys))})")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from gradflow.checks import check_model

    model = _build_model(args.model, parse_sets(args.set), args.seed)
    report = check_model(model, rng=args.seed, raise_on_failure=False)
    print(report)
    return 0 if report.ok else 1


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from gradflow import figures

    requested = args.names or figures.names()
    chosen: list[str] = []
    for name in requested:
        name = _FIGURE_ALIASES.get(name, name)
        if name not in figures.names():
            raise UsageError(
                f"figure set {name!r} is unknown; the figure sets are {figures.names()}"
            )
        if name not in chosen:
            chosen.append(name)
    out = Path(args.out)
    for name in chosen:
        start = time.perf_counter()
        print(f"reproducing {name} -> {out / name}", file=sys.stderr)
        written = figures.get(name).reproduce(out / name, quick=args.quick, progress=not args.quiet)
        for path in written:
            print(path)
        print(
            f"{name}: {len(written)} files in {time.perf_counter() - start:.1f} s", file=sys.stderr
        )
    return 0


# --- the parser ----------------------------------------------------------------------------
def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model name (see 'gradflow list')")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        help="a setting of the model's paper configuration, passed to MODEL.paper(KEY=VALUE); "
        "values are Python literals (100, 1e-3, (2, 3), True) or else plain text; repeatable",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initialisation, and of the model's data when its configuration "
        "takes a seed and --set does not give one (default: 0)",
    )


def _para(text: str) -> str:
    """Wrap a description to the terminal width used by argparse's help."""
    return textwrap.fill(text, width=min(100, shutil.get_terminal_size().columns - 2))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gradflow`` command (one subparser per command).

    Returns
    -------
    argparse.ArgumentParser
        Its errors raise :class:`UsageError` instead of exiting; each subcommand stores its
        handler as ``args.handler``.

    Examples
    --------
    >>> args = build_parser().parse_args(["run", "quadratic", "--gd", "0.01", "--out", "r.npz"])
    >>> args.command, args.model, args.gd, args.t_end, args.handler.__name__
    ('run', 'quadratic', 0.01, 100.0, '_cmd_run')
    >>> build_parser().parse_args(["frobnicate"])
    Traceback (most recent call last):
        ...
    gradflow.cli.UsageError: argument COMMAND: invalid choice: 'frobnicate' ...
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="gradflow",
        description=_para(
            "Simulate gradient flow and gradient descent on the simplified transformers "
            "of theory papers, with hand-derived gradients."
        ),
        epilog="Run 'gradflow COMMAND --help' for the options of a command.",
        formatter_class=fmt,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "list",
        help="list the models and the figure sets",
        description=_para(
            "List the models that 'run' and 'check' accept (short name, class, and the paper "
            "or closed form it comes from) and the figure sets that 'reproduce' writes (name "
            "and what the figures show)."
        ),
        formatter_class=fmt,
    )
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser(
        "run",
        help="train a model (gradient flow or gradient descent) and save the run",
        description=_para(
            "Build MODEL in its paper configuration (changed with --set), draw its "
            "initialisation from --seed, and train it: by default by integrating the gradient "
            "flow dθ/dt = -∇L(θ) from t = 0 to --t-end with scipy's solve_ivp; with --gd LR by "
            "gradient descent with learning rate LR (step k is stored at flow time t = LR·k, so "
            "the two runs line up in 'gradflow plot'). The run (times, parameters, loss, the "
            "paper's observables, "
            "solver counters) is saved to --out as .npz; read it back with gradflow.load()."
        ),
        epilog="examples:\n"
        "  gradflow run quadratic --set kappa=100 --t-end 20 --out flow.npz\n"
        "  gradflow run quadratic --set kappa=100 --t-end 20 --gd 0.01 --out gd.npz",
        formatter_class=fmt,
    )
    _add_model_options(p)
    p.add_argument(
        "--method",
        default="auto",
        help="solve_ivp method: auto (default; LSODA for small states, an explicit adaptive "
        "method for large ones), RK45, DOP853, RK23, LSODA, Radau or BDF",
    )
    p.add_argument("--t-end", type=float, default=100.0, help="final flow time (default: 100)")
    p.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance (default: 1e-8)")
    p.add_argument(
        "--atol",
        type=float,
        default=None,
        help="absolute tolerance (default: derived from the scale of the initialisation)",
    )
    p.add_argument(
        "--gd",
        type=float,
        metavar="LR",
        default=None,
        help="run gradient descent with this learning rate instead of gradient flow",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="number of GD steps (default: enough to reach --t-end, i.e. ceil(t_end / LR))",
    )
    p.add_argument(
        "--record-every",
        type=int,
        default=None,
        help="record every k-th GD step (default: about 500 records in all)",
    )
    p.add_argument("--out", required=True, metavar="RUN.npz", help="where to save the run")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "plot",
        help="plot saved runs: loss and observables over (log) time",
        description=_para(
            "Draw the loss and the small observables of one or more saved runs over "
            "flow time, one panel each; give a flow and a GD run of the same model to compare "
            "them (flow solid, GD dashed with markers). The initial point t = 0 is not shown on "
            "the default logarithmic time axis."
        ),
        epilog="KEYS: loss, grad_norm, an observable or parameter name, or one component of "
        "an array-valued one written like 'attn[0,1]'.\n"
        "example:\n  gradflow plot flow.npz gd.npz --keys loss 'theta[0]' --out fig.png",
        formatter_class=fmt,
    )
    p.add_argument("runs", metavar="RUN.npz", nargs="+", help="runs saved by 'gradflow run'")
    p.add_argument("--out", required=True, metavar="FIG.png", help="where to write the figure")
    p.add_argument(
        "--keys",
        nargs="+",
        default=None,
        help=f"what to draw (default: loss and the observables with at most "
        f"{_MAX_DEFAULT_COMPONENTS} numbers, one line each; at most {_MAX_DEFAULT_PANELS} panels)",
    )
    p.add_argument("--linear-time", action="store_true", help="linear time axis (shows t = 0)")
    p.add_argument("--logy", action="store_true", help="logarithmic value axis")
    p.set_defaults(handler=_cmd_plot)

    p = sub.add_parser(
        "check",
        help="check a model's hand-written gradient (exit code 1 if a check fails)",
        description=_para(
            "Run the conformance suite of the Model contract on MODEL: parameter "
            "names, shapes and dtypes, no mutation of the input, and the hand-written gradient "
            "against central differences, the complex step and Taylor-remainder slopes, block by "
            "block, at the initialisation and at a random nearby point. Prints the report; the "
            "exit code is 1 when a check fails."
        ),
        formatter_class=fmt,
    )
    _add_model_options(p)
    p.set_defaults(handler=_cmd_check)

    p = sub.add_parser(
        "reproduce",
        help="write the figures of the papers (PNG, .npz runs and results.json)",
        description=_para(
            "Reproduce the figures of the named figure sets (all that are installed "
            "when none is named) into OUT/NAME/: the PNGs, the .npz runs behind them and a "
            "results.json of the measured numbers. The paths written are printed. --quick runs "
            "small sizes (under a minute each), for a smoke test."
        ),
        epilog="example:\n  gradflow reproduce oracles --out figures --quick",
        formatter_class=fmt,
    )
    p.add_argument(
        "names",
        metavar="NAME",
        nargs="*",
        help="figure sets (see 'gradflow list'); model names quadratic and linear_net mean "
        "'oracles'",
    )
    p.add_argument(
        "--out", default="figures-out", metavar="DIR", help="output folder (default: figures-out)"
    )
    p.add_argument("--quick", action="store_true", help="small, fast versions of the figures")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=_cmd_reproduce)

    from gradflow.sweep_cli import add_sweep_command

    add_sweep_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradflow`` command with arguments ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name, e.g. ``["check", "linear_net"]``.

    Returns
    -------
    int
        The exit code: 0 success, 1 a failing check (or a failed solver), 2 a usage error.

    Examples
    --------
    ``gradflow check`` on a model whose gradient is right, and on an unknown model (the
    one-line error goes to stderr):

    >>> import contextlib
    >>> import io
    >>> with contextlib.redirect_stdout(io.StringIO()) as text:
    ...     code = main(["check", "linear_net"])
    >>> code, text.getvalue().splitlines()[0]
    (0, 'check_model(linear_net): passed')
    >>> main(["check", "no_such_model"])
    2

    ``gradflow run`` writes a run (here into a temporary folder) that agrees with the
    quadratic's closed form:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gradflow as gf
    >>> with tempfile.TemporaryDirectory() as out:
    ...     path = str(Path(out) / "flow.npz")
    ...     with contextlib.redirect_stdout(io.StringIO()) as text:
    ...         code = main(["run", "quadratic", "--set", "kappa=10", "--t-end", "2",
    ...                      "--quiet", "--out", path])
    ...     traj = gf.load(path)
    >>> code, text.getvalue().split()[:2]
    (0, ['status', 'finished'])
    >>> model = gf.models.Quadratic.paper(kappa=10)
    >>> theta0 = model.init_params(np.random.default_rng(0))["theta"]
    >>> bool(np.allclose(traj.params["theta"][-1], model.exact(2.0, theta0), rtol=1e-6))
    True
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"gradflow: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = argv
    try:
        return args.handler(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"gradflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
