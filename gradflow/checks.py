"""Gradient checks: is a hand-derived gradient the gradient of the loss?

Four independent tests, each run **per parameter block** so that a failure names the
block (``W_Q``) or the pair of blocks (``W_Q``, ``W_V``) whose derivation is wrong:

central differences
    ``(L(θ + h v) − L(θ − h v)) / 2h`` against ``∇L·v`` along directions ``v`` inside one
    block (half along the block's gradient, half random), and element by element on a
    few coordinates of each block.
complex step
    ``Im L(θ + i h v) / h`` with ``h = 1e-30``: no subtraction, so it agrees with a
    correct gradient to machine precision (Squire & Trapp 1998).  Needs a model whose
    loss is analytic in the parameters (``Model.complex_safe``).
Taylor remainder
    ``r(h) = |L(θ + h v) − L(θ) − h ∇L·v|`` is ``O(h²)`` for the true gradient and
    ``O(h)`` for a wrong one; the local slopes ``log2 r(h)/r(h/2)`` at the small-``h``
    end (above round-off) must be close to 2.
Hessian symmetry
    the finite-difference Jacobian of the hand gradient must be symmetric (it is the
    Hessian).  ``uᵀ J w`` against ``wᵀ J u`` for ``u`` in block ``a`` and ``w`` in block
    ``b`` names the inconsistent pair; it needs no loss value at all.  When the model
    has :meth:`~gradflow.Model.hvp`, the same finite differences check it too.

:func:`check_model` adds the structural rules of :class:`gradflow.Model` (keys, shapes,
float64, no mutation of the input, ``loss_and_grad`` consistent with ``loss`` and
``grad``, finite observables) and runs :func:`check_gradient` at the initialisation and
at a random point near it.  It is usable on a model of your own.

Tolerances (see ``docs/numerics.md``): central differences with ``h = ε^{1/3}·s``
(``s`` the block's scale) carry a truncation error ``O(h²) ≈ 1e-11`` and a round-off
``O(ε/h) ≈ 1e-11`` relative to the loss scale, so ``fd_tol = 1e-6`` leaves five orders of
margin while a gradient wrong by 1 % gives an error near ``5e-3``.  The complex step is
exact to ``~1e-15``; ``cs_tol = 1e-9`` leaves room for ill-conditioned losses.  The
symmetry test compares ``uᵀJw`` with ``wᵀJu`` where ``J`` comes from central differences
of the gradient (error ``~1e-10·‖J‖``); for random ``u, w`` in a block of ``n`` entries
``uᵀJw`` is only ``~‖J‖/√n`` (measured ``1.5e-6`` asymmetry on the 8192-entry blocks of
the co-occurrence model), so ``sym_tol = 1e-4``; an inconsistent gradient (one block
scaled by 1 %) gives ``~5e-3``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradflow.model import Model
from gradflow.params import validate_params

__all__ = [
    "BlockCheck",
    "PairCheck",
    "GradientReport",
    "ModelReport",
    "GradientCheckError",
    "check_gradient",
    "check_model",
]

_EPS = np.finfo(np.float64).eps


class GradientCheckError(AssertionError):
    """A gradient check failed; the message is the readable report.

    A subclass of ``AssertionError``, so that a test calling :func:`check_model` reports
    a failed assertion with the whole table.

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Wrong(Model):
    ...     name, citation = "wrong", "none"
    ...     def init_params(self, rng):
    ...         return {"a": rng.standard_normal(2), "b": rng.standard_normal(2)}
    ...     def loss(self, p):
    ...         return np.sum(p["a"] ** 2 * p["b"])
    ...     def grad(self, p):  # the derivative in b is off by 1 %
    ...         return {"a": 2 * p["a"] * p["b"], "b": 1.01 * p["a"] ** 2}
    >>> model = Wrong()
    >>> try:
    ...     check_model(model)
    ... except GradientCheckError as err:
    ...     lines = str(err).splitlines()
    >>> lines[0]
    'check_model(wrong): FAILED'
    >>> [line.split(":")[0].strip() for line in lines if line.startswith("  ")][:2]
    ['b', 'b']
    >>> issubclass(GradientCheckError, AssertionError)
    True
    """


@dataclass
class BlockCheck:
    """Checks of one parameter block.

    A dataclass: each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    block : str
        Parameter name.
    size : int
        Number of entries.
    grad_norm : float
        Norm of the block's hand gradient.
    central_diff : float
        Worst relative error of ``∇L·v`` against central differences over the directions.
    coords : float
        Worst error of single entries against central differences, relative to the
        block's gradient norm (nan when not run).
    complex_step : float
        Worst relative error against the complex step (nan when not run).
    taylor_slopes : list of float
        Local slopes of the Taylor remainder at the small-``h`` end (empty when the loss
        is linear along the direction to round-off).
    problems : list of str
        What failed, in words.

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Wrong(Model):
    ...     name, citation = "wrong", "none"
    ...     def init_params(self, rng):
    ...         return {"a": rng.standard_normal(2), "b": rng.standard_normal(2)}
    ...     def loss(self, p):
    ...         return np.sum(p["a"] ** 2 * p["b"])
    ...     def grad(self, p):  # the derivative in b is off by 1 %
    ...         return {"a": 2 * p["a"] * p["b"], "b": 1.01 * p["a"] ** 2}
    >>> model = Wrong()
    >>> report = check_gradient(model, model.init_params(np.random.default_rng(0)))
    >>> a, b = report.blocks
    >>> a.block, a.ok, bool(a.central_diff < 1e-9), bool(a.complex_step < 1e-12)
    ('a', True, True, True)
    >>> b.block, b.ok, round(b.taylor_slopes[-1], 2)
    ('b', False, 1.0)
    >>> b.problems[0]
    'directional derivative differs from central differences by ...e-03 (relative; ...)'
    """

    block: str
    size: int
    grad_norm: float
    central_diff: float = np.nan
    coords: float = np.nan
    complex_step: float = np.nan
    taylor_slopes: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check of this block passed."""
        return not self.problems


@dataclass
class PairCheck:
    """Symmetry of the finite-difference Hessian between two blocks.

    A dataclass: each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    blocks : tuple of str
        The pair ``(a, b)`` (``a == b`` checks symmetry inside one block).
    asymmetry : float
        ``|uᵀJw − wᵀJu| / (|uᵀJw| + |wᵀJu| + floor)``.
    hvp_error : float
        Relative error of the model's ``hvp`` against finite differences of the gradient
        (nan when the model has no hvp or for ``a != b``).
    problems : list of str
        What failed, in words.

    Examples
    --------
    A hand gradient that is not the gradient of any loss has a non-symmetric Jacobian;
    the pair of blocks names where:

    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Wrong(Model):
    ...     name, citation = "wrong", "none"
    ...     def init_params(self, rng):
    ...         return {"a": rng.standard_normal(2), "b": rng.standard_normal(2)}
    ...     def loss(self, p):
    ...         return np.sum(p["a"] ** 2 * p["b"])
    ...     def grad(self, p):  # the derivative in b is off by 1 %
    ...         return {"a": 2 * p["a"] * p["b"], "b": 1.01 * p["a"] ** 2}
    >>> model = Wrong()
    >>> report = check_gradient(model, model.init_params(np.random.default_rng(0)))
    >>> [(p.blocks, p.ok) for p in report.pairs]
    [(('a', 'a'), True), (('a', 'b'), False), (('b', 'b'), True)]
    >>> round(report.pairs[1].asymmetry, 3)
    0.005
    """

    blocks: tuple[str, str]
    asymmetry: float
    hvp_error: float = np.nan
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the pair passed."""
        return not self.problems


@dataclass
class GradientReport:
    """Result of :func:`check_gradient`; ``str(report)`` is a readable table.

    A dataclass: each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    model : str
        The model's ``name``.
    where : str
        Where the gradient was checked, in words (the table's header).
    loss : float
        The loss at that point.
    blocks : list of BlockCheck
        One per checked block.
    pairs : list of PairCheck
        One per pair of checked blocks (empty when the symmetry check was not run).
    notes : list of str
        Remarks that are not failures (e.g. the complex step was not run).

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Wrong(Model):
    ...     name, citation = "wrong", "none"
    ...     def init_params(self, rng):
    ...         return {"a": rng.standard_normal(2), "b": rng.standard_normal(2)}
    ...     def loss(self, p):
    ...         return np.sum(p["a"] ** 2 * p["b"])
    ...     def grad(self, p):  # the derivative in b is off by 1 %
    ...         return {"a": 2 * p["a"] * p["b"], "b": 1.01 * p["a"] ** 2}
    >>> model = Wrong()
    >>> report = check_gradient(model, model.init_params(np.random.default_rng(0)),
    ...                         where="a test point")
    >>> report.ok, report.failing
    (False, ['b', 'a/b'])
    >>> print(str(report).splitlines()[0])
    gradient check of wrong at a test point (loss ...)
    """

    model: str
    where: str
    loss: float
    blocks: list[BlockCheck]
    pairs: list[PairCheck]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every block and pair passed."""
        return all(b.ok for b in self.blocks) and all(p.ok for p in self.pairs)

    @property
    def failing(self) -> list[str]:
        """Names of the failing blocks and pairs (``"W_Q"``, ``"W_Q/W_V"``)."""
        out = [b.block for b in self.blocks if not b.ok]
        out += ["/".join(p.blocks) for p in self.pairs if not p.ok]
        return out

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return "      -" if not np.isfinite(x) else f"{x:7.1e}"

        lines = [
            f"gradient check of {self.model} at {self.where} (loss {self.loss:.6g})",
            f"{'block':<14}{'size':>8}{'|grad|':>10}  {'central':>7}  {'coords':>7}  "
            f"{'cstep':>7}  {'taylor slopes':<20}status",
        ]
        for b in self.blocks:
            slopes = ", ".join(f"{s:.2f}" for s in b.taylor_slopes) or "linear"
            lines.append(
                f"{b.block:<14}{b.size:>8}{b.grad_norm:>10.2e}  {fmt(b.central_diff)}  "
                f"{fmt(b.coords)}  {fmt(b.complex_step)}  {slopes:<20}"
                f"{'ok' if b.ok else 'FAIL'}"
            )
        for p in self.pairs:
            hv = f", hvp error {p.hvp_error:.1e}" if np.isfinite(p.hvp_error) else ""
            lines.append(
                f"hessian {p.blocks[0]}/{p.blocks[1]}: asymmetry {p.asymmetry:.1e}{hv}  "
                f"{'ok' if p.ok else 'FAIL'}"
            )
        problems = [f"  {b.block}: {m}" for b in self.blocks for m in b.problems]
        problems += [f"  {'/'.join(p.blocks)}: {m}" for p in self.pairs for m in p.problems]
        if problems:
            lines.append("problems:")
            lines.extend(problems)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class ModelReport:
    """Result of :func:`check_model`: structural problems and the gradient reports.

    A dataclass: each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    model : str
        The model's ``name``.
    structure : list of str
        Broken rules of the :class:`gradflow.Model` contract, in words.
    gradients : list of GradientReport
        The gradient checks (none while a structural rule fails).

    Examples
    --------
    A model whose ``grad`` misses a key breaks the contract; the gradient is then not
    checked at all:

    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Incomplete(Model):
    ...     name, citation = "incomplete", "none"
    ...     def init_params(self, rng):
    ...         return {"a": np.ones(2), "b": np.ones(2)}
    ...     def loss(self, p):
    ...         return np.sum(p["a"] * p["b"])
    ...     def grad(self, p):
    ...         return {"a": p["b"].copy()}
    >>> report = check_model(Incomplete(), raise_on_failure=False)
    >>> report.ok, report.gradients
    (False, [])
    >>> report.structure[0]
    "grad keys ['a'] differ from parameter keys ['a', 'b']"
    """

    model: str
    structure: list[str]
    gradients: list[GradientReport]

    @property
    def ok(self) -> bool:
        """True when the model passed every check."""
        return not self.structure and all(r.ok for r in self.gradients)

    def __str__(self) -> str:
        head = f"check_model({self.model}): {'passed' if self.ok else 'FAILED'}"
        parts = [head]
        if self.structure:
            parts.append("contract problems:\n" + "\n".join(f"  {s}" for s in self.structure))
        parts.extend(str(r) for r in self.gradients)
        return "\n\n".join(parts)


def _loss(model: Model, params: Mapping[str, np.ndarray]) -> Any:
    return model.loss(params)


def _shift(params: Mapping[str, np.ndarray], block: str, step: Any) -> dict[str, np.ndarray]:
    out = dict(params)
    out[block] = params[block] + step
    return out


def _direction(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    v = rng.standard_normal(shape)
    return v / np.linalg.norm(v)


def _scale(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    return max(rms, 1.0)


def check_gradient(
    model: Model,
    params: Mapping[str, np.ndarray],
    *,
    blocks: Iterable[str] | None = None,
    rng: np.random.Generator | int | None = 0,
    directions: int = 2,
    coords: int = 8,
    complex_step: bool | None = None,
    taylor: bool = True,
    symmetry: bool = True,
    fd_tol: float = 1e-6,
    cs_tol: float = 1e-9,
    sym_tol: float = 1e-4,
    where: str = "the given point",
) -> GradientReport:
    """Check ``model.grad`` against the loss at ``params``, block by block.

    Parameters
    ----------
    model : Model
        The model.
    params : dict of str to ndarray
        Where to check.  A generic point is best: at a symmetric initialisation (zeros)
        some blocks have zero gradient and the relative checks say little.
    blocks : iterable of str, optional
        Blocks to check; default ``model.trainable`` or all.
    rng : Generator or int or None
        Random directions.
    directions : int
        Random directions per block for central differences and the complex step.
    coords : int
        Single entries per block checked by central differences (0 to skip).
    complex_step : bool, optional
        Run the complex-step check; default ``model.complex_safe``.
    taylor, symmetry : bool
        Run the Taylor-remainder and the Hessian-symmetry (and hvp) checks.
    fd_tol, cs_tol, sym_tol : float
        Relative tolerances (module docstring says why these values).
    where : str
        Words for the report's header.

    Returns
    -------
    GradientReport
        Per-block and per-pair results; ``report.ok`` says whether all passed.

    Raises
    ------
    ValueError
        If ``directions < 1`` or ``blocks`` names something that is not a parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Cubic(Model):
    ...     name = "cubic"
    ...     def init_params(self, rng):
    ...         return {"x": rng.standard_normal(3)}
    ...     def loss(self, p):
    ...         return np.sum(p["x"] ** 3) / 3
    ...     def grad(self, p):
    ...         return {"x": p["x"] ** 2}
    >>> m = Cubic()
    >>> check_gradient(m, m.init_params(np.random.default_rng(1))).ok
    True
    """
    params = validate_params(params, argname="params")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    if directions < 1:
        raise ValueError(f"directions must be >= 1, got {directions}")
    names = tuple(blocks) if blocks is not None else tuple(model.trainable or params)
    unknown = sorted(set(names) - set(params))
    if unknown:
        raise ValueError(f"blocks {unknown} are not parameters; parameters are {list(params)}")
    use_cs = model.complex_safe if complex_step is None else complex_step
    loss0, grad = model.loss_and_grad(params)
    loss0 = float(np.real(loss0))
    gnorm_all = float(np.sqrt(sum(np.sum(np.asarray(grad[k]) ** 2) for k in names)))
    notes: list[str] = []
    if not use_cs:
        notes.append(f"complex step not run ({model.name} is not complex-safe)")

    def fd_floor(h: float) -> float:
        # Round-off of a central difference: each loss carries an error of about
        # 100·eps·(|L| + 1) (sums over many terms), divided by 2h.  A discrepancy of that
        # size says nothing about the gradient, so it is measured against noise / fd_tol:
        # a block whose true gradient is exactly 0 passes, a 1 %-wrong one still fails.
        noise = 100 * _EPS * (abs(loss0) + 1.0) / (2 * h)
        return noise / fd_tol

    block_results: list[BlockCheck] = []
    for name in names:
        x = params[name]
        g = np.asarray(grad[name])
        res = BlockCheck(block=name, size=int(x.size), grad_norm=float(np.linalg.norm(g)))
        s = _scale(x)
        h = _EPS ** (1 / 3) * s
        worst_fd = 0.0
        worst_cs = 0.0
        g_unit = g / res.grad_norm if res.grad_norm > 0 else np.zeros_like(g)
        for _ in range(directions):
            # half along the gradient, half random: a random direction alone in a block of
            # 10^4 entries sees only |g|/100 of the gradient, and the relative error of
            # ∇L·v would then measure round-off rather than the gradient
            v = _direction(rng, x.shape)
            v = v + np.copysign(1.0, np.sum(v * g_unit)) * g_unit  # never cancels
            v = v / np.linalg.norm(v)
            exact = float(np.sum(g * v))
            lp = float(np.real(_loss(model, _shift(params, name, h * v))))
            lm = float(np.real(_loss(model, _shift(params, name, -h * v))))
            fd = (lp - lm) / (2 * h)
            worst_fd = max(worst_fd, abs(fd - exact) / (abs(fd) + abs(exact) + fd_floor(h)))
            if use_cs:
                hc = 1e-30
                with warnings.catch_warnings():
                    warnings.simplefilter("error", np.exceptions.ComplexWarning)
                    try:
                        lc = _loss(model, _shift(params, name, 1j * hc * v))
                        cs = float(np.imag(lc)) / hc
                    except np.exceptions.ComplexWarning:
                        res.problems.append(
                            "complex step: the loss discarded an imaginary part (a float "
                            "preallocation or .real on the parameter path); set "
                            "complex_safe = False or make the loss analytic"
                        )
                        cs = np.nan
                if np.isfinite(cs):
                    floor = 1e-14 * (abs(loss0) + gnorm_all + _EPS)
                    worst_cs = max(worst_cs, abs(cs - exact) / (abs(cs) + abs(exact) + floor))
                else:
                    worst_cs = np.nan
        res.central_diff = worst_fd
        if worst_fd > fd_tol:
            res.problems.append(
                f"directional derivative differs from central differences by {worst_fd:.1e} "
                f"(relative; tolerance {fd_tol:.0e})"
            )
        if use_cs:
            res.complex_step = worst_cs
            if np.isfinite(worst_cs) and worst_cs > cs_tol:
                res.problems.append(
                    f"directional derivative differs from the complex step by {worst_cs:.1e} "
                    f"(relative; tolerance {cs_tol:.0e})"
                )
        if coords > 0:
            flat_idx = rng.choice(x.size, size=min(coords, x.size), replace=False)
            errs = []
            for i in flat_idx:
                e = np.zeros(x.size)
                e[i] = 1.0
                e = e.reshape(x.shape)
                lp = float(np.real(_loss(model, _shift(params, name, h * e))))
                lm = float(np.real(_loss(model, _shift(params, name, -h * e))))
                errs.append(abs((lp - lm) / (2 * h) - g.ravel()[i]))
            res.coords = max(errs) / (res.grad_norm + fd_floor(h))
            if res.coords > fd_tol:
                res.problems.append(
                    f"single entries differ from central differences by {res.coords:.1e} "
                    f"(relative to the block's gradient norm; tolerance {fd_tol:.0e})"
                )
        if taylor:
            res.taylor_slopes = _taylor_slopes(model, params, name, g, rng, loss0)
            bad = [sl for sl in res.taylor_slopes if not 1.8 <= sl <= 2.2]
            if res.taylor_slopes and len(bad) * 2 > len(res.taylor_slopes):
                res.problems.append(
                    "Taylor remainder slopes "
                    + ", ".join(f"{sl:.2f}" for sl in res.taylor_slopes)
                    + " are not 2: the gradient is not the derivative of the loss"
                )
        block_results.append(res)

    pair_results: list[PairCheck] = []
    if symmetry:
        pair_results = _symmetry(model, params, names, grad, rng, sym_tol)
    return GradientReport(
        model=model.name,
        where=where,
        loss=loss0,
        blocks=block_results,
        pairs=pair_results,
        notes=notes,
    )


def _taylor_slopes(
    model: Model,
    params: Mapping[str, np.ndarray],
    name: str,
    g: np.ndarray,
    rng: np.random.Generator,
    loss0: float,
) -> list[float]:
    """Local slopes of the Taylor remainder at the small-h end, above round-off."""
    v = _direction(rng, params[name].shape) * _scale(params[name])
    gv = float(np.sum(g * v))
    hs = 2.0 ** -np.arange(1, 27)
    r = np.array(
        [
            abs(float(np.real(_loss(model, _shift(params, name, h * v)))) - loss0 - h * gv)
            for h in hs
        ]
    )
    # keep h while the remainder stands well above round-off of L (eps * |L| per evaluation)
    usable = r > 1e4 * _EPS * (abs(loss0) + 1e-300)
    slopes = []
    for i in range(len(hs) - 1):
        if usable[i] and usable[i + 1]:
            slopes.append(float(np.log2(r[i] / r[i + 1])))
    return slopes[-3:]


def _symmetry(
    model: Model,
    params: Mapping[str, np.ndarray],
    names: tuple[str, ...],
    grad: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    tol: float,
) -> list[PairCheck]:
    """Symmetry of the finite-difference Jacobian of the gradient, per pair of blocks."""

    def jvp(name: str, u: np.ndarray) -> dict[str, np.ndarray]:
        h = _EPS ** (1 / 3) * _scale(params[name])
        gp = model.grad(_shift(params, name, h * u))
        gm = model.grad(_shift(params, name, -h * u))
        return {k: (np.real(gp[k]) - np.real(gm[k])) / (2 * h) for k in names}

    def dot(a: Mapping[str, np.ndarray], name: str, u: np.ndarray) -> float:
        return float(np.sum(a[name] * u))

    gnorm = float(np.sqrt(sum(np.sum(np.asarray(grad[k]) ** 2) for k in names)))
    floor = 1e-8 * (gnorm + 1.0)

    def along_gradient(k: str) -> np.ndarray:
        g = np.asarray(grad[k])
        gn = np.linalg.norm(g)
        v = _direction(rng, g.shape)
        if gn > 0:
            v = v + np.copysign(1.0, np.sum(v * g)) * g / gn  # never cancels
        return v / np.linalg.norm(v)

    first = {k: along_gradient(k) for k in names}
    second = {k: _direction(rng, params[k].shape) for k in names}
    j_first = {k: jvp(k, first[k]) for k in names}
    out: list[PairCheck] = []
    for i, a in enumerate(names):
        # inside one block: u, w both in block a
        j_second = jvp(a, second[a])
        uj = dot(j_second, a, first[a])
        wj = dot(j_first[a], a, second[a])
        pc = PairCheck(blocks=(a, a), asymmetry=abs(uj - wj) / (abs(uj) + abs(wj) + floor))
        if model.has_hvp:
            direction = {k: np.zeros_like(params[k]) for k in params}
            direction[a] = first[a]
            hv = model.hvp(params, direction)
            num = np.sqrt(sum(np.sum((np.asarray(hv[k]) - j_first[a][k]) ** 2) for k in names))
            den = np.sqrt(sum(np.sum(j_first[a][k] ** 2) for k in names))
            pc.hvp_error = float(num / (den + floor))
            if pc.hvp_error > tol:
                pc.problems.append(
                    f"hvp along {a} differs from finite differences of the gradient by "
                    f"{pc.hvp_error:.1e} (relative; tolerance {tol:.0e})"
                )
        out.append(pc)
        for b in names[i + 1 :]:
            uj = dot(j_first[b], a, first[a])
            wj = dot(j_first[a], b, first[b])
            out.append(
                PairCheck(blocks=(a, b), asymmetry=abs(uj - wj) / (abs(uj) + abs(wj) + floor))
            )
    for pc in out:
        if pc.asymmetry > tol:
            a, b = pc.blocks
            pc.problems.append(
                f"the Jacobian of the gradient is not symmetric between {a} and {b} "
                f"(asymmetry {pc.asymmetry:.1e} > {tol:.0e}): the hand gradient of "
                f"{a if a == b else a + ' or ' + b} is not the gradient of any loss"
            )
    return out


def _structure(model: Model, rng: np.random.Generator) -> tuple[list[str], dict | None]:
    """Check the Model contract's structural rules; return problems and the init params."""
    problems: list[str] = []
    for attr in ("name", "citation", "dynamics"):
        if not isinstance(getattr(model, attr, None), str) or not getattr(model, attr):
            problems.append(f"class attribute {attr!r} must be a non-empty str")
    try:
        params = model.init_params(rng)
        params = validate_params(params, argname="init_params(rng)")
    except (TypeError, ValueError, NotImplementedError) as exc:
        problems.append(f"init_params: {exc}")
        return problems, None
    if model.trainable is not None:
        unknown = sorted(set(model.trainable) - set(params))
        if unknown:
            problems.append(f"trainable names {unknown} are not parameters")
    copies = {k: v.copy() for k, v in params.items()}
    loss = model.loss(params)
    if not np.isscalar(loss) and np.ndim(loss) != 0:
        problems.append(f"loss must return a scalar, got shape {np.shape(loss)}")
    elif not np.isfinite(float(np.real(loss))):
        problems.append(f"loss is not finite at the initialisation: {loss}")
    grad = model.grad(params)
    if not isinstance(grad, Mapping):
        problems.append(f"grad must return a dict, got {type(grad).__name__}")
        return problems, params
    if set(grad) != set(params):
        problems.append(f"grad keys {sorted(grad)} differ from parameter keys {sorted(params)}")
    for k in set(grad) & set(params):
        g = np.asarray(grad[k])
        if g.shape != params[k].shape:
            problems.append(f"grad[{k!r}] has shape {g.shape}, parameter has {params[k].shape}")
        if g.dtype != np.float64:
            problems.append(f"grad[{k!r}] has dtype {g.dtype}; expected float64")
        elif not np.all(np.isfinite(g)):
            problems.append(f"grad[{k!r}] has non-finite entries")
    both_loss, both_grad = model.loss_and_grad(params)
    if not np.isclose(float(both_loss), float(loss), rtol=1e-12, atol=0):
        problems.append(f"loss_and_grad's loss {both_loss} differs from loss {loss}")
    for k in set(both_grad) & set(grad):
        if not np.allclose(both_grad[k], grad[k], rtol=1e-12, atol=1e-300):
            problems.append(f"loss_and_grad's gradient differs from grad in {k!r}")
    obs = model.observables(params)
    if not isinstance(obs, Mapping):
        problems.append(f"observables must return a dict, got {type(obs).__name__}")
    else:
        for k, v in obs.items():
            arr = np.asarray(v)
            if arr.dtype.kind not in "biuf" or not np.all(np.isfinite(arr)):
                problems.append(f"observable {k!r} is not a finite real number or array")
    if model.has_hvp:
        hv = model.hvp(params, {k: np.ones_like(v) for k, v in params.items()})
        if set(hv) != set(params):
            problems.append(f"hvp keys {sorted(hv)} differ from parameter keys {sorted(params)}")
    for k, v in params.items():
        if not np.array_equal(v, copies[k]):
            problems.append(f"a method modified its input params[{k!r}] (rule 6)")
    again = model.init_params(np.random.default_rng(12345))
    again2 = model.init_params(np.random.default_rng(12345))
    if any(not np.array_equal(again[k], again2[k]) for k in again):
        problems.append("init_params is not deterministic for a given rng")
    return problems, params


def check_model(
    model: Model,
    params: Mapping[str, np.ndarray] | None = None,
    *,
    rng: np.random.Generator | int | None = 0,
    perturb: float = 0.1,
    raise_on_failure: bool = True,
    **kwargs: Any,
) -> ModelReport:
    """The conformance suite: run every check of the Model contract on ``model``.

    Checks the structural rules (names, keys, shapes, float64, no mutation, consistent
    ``loss_and_grad``, finite observables, deterministic ``init_params``), then
    :func:`check_gradient` at the initialisation and at a random point near it (the
    initialisation plus Gaussian noise of relative size ``perturb``), or at ``params``
    when given.  Gradient checks are skipped while a structural rule fails (their numbers
    would mean nothing).

    Parameters
    ----------
    model : Model
        Any object following the :class:`gradflow.Model` contract.
    params : dict, optional
        Check the gradient here instead of at the initialisation and near it.
    rng : Generator or int or None
        Seeds the initialisation, the perturbation and the directions.
    perturb : float
        Relative size of the random perturbation of the initialisation.
    raise_on_failure : bool
        Raise :class:`GradientCheckError` with the report when a check fails.
    **kwargs
        Passed to :func:`check_gradient` (tolerances, number of directions ...).

    Returns
    -------
    ModelReport
        The structural problems and the gradient reports.

    Raises
    ------
    GradientCheckError
        When a check fails (and ``raise_on_failure``); the message names the failing
        block or pair.
    TypeError
        If ``model`` is not a :class:`gradflow.Model`.

    Examples
    --------
    A two-block model, right and then with the gradient of ``W_V`` off by 1 %:

    >>> import numpy as np
    >>> from gradflow.model import Model
    >>> class Bilinear(Model):
    ...     name, citation, dynamics = "bilinear", "none", "gradient flow"
    ...     def __init__(self, wrong=1.0):
    ...         self.wrong = wrong  # a factor on the W_V gradient: 1.0 is right
    ...     def init_params(self, rng):
    ...         return {"W_Q": rng.standard_normal(3), "W_V": rng.standard_normal(3)}
    ...     def loss(self, p):
    ...         return 0.5 * (p["W_Q"] @ p["W_V"] - 1.0) ** 2
    ...     def grad(self, p):
    ...         r = p["W_Q"] @ p["W_V"] - 1.0
    ...         return {"W_Q": r * p["W_V"], "W_V": self.wrong * r * p["W_Q"]}
    >>> report = check_model(Bilinear())
    >>> report.ok, [r.where for r in report.gradients]
    (True, ['the initialisation', 'a random point (init + 0.1·noise)'])
    >>> try:
    ...     check_model(Bilinear(wrong=1.01))
    ... except GradientCheckError as err:
    ...     message = str(err)
    >>> print(message.splitlines()[0])
    check_model(bilinear): FAILED
    >>> problems = [line for line in message.splitlines() if line.startswith("  W_")]
    >>> for line in problems[:5]:
    ...     print(line)
      W_V: directional derivative differs from central differences by 5.0e-03 ...
      W_V: directional derivative differs from the complex step by 5.0e-03 ...
      W_V: single entries differ from central differences by 9.5e-03 ...
      W_V: Taylor remainder slopes 1.00, 1.00, 1.00 are not 2: ...
      W_Q/W_V: the Jacobian of the gradient is not symmetric between W_Q and W_V ...

    Without raising, the report says the same in fields:

    >>> report = check_model(Bilinear(wrong=1.01), raise_on_failure=False)
    >>> report.ok, [r.failing for r in report.gradients]
    (False, [['W_V', 'W_Q/W_V'], ['W_V', 'W_Q/W_V']])
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a gradflow.Model, got {type(model).__name__}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    structure, init = _structure(model, rng)
    reports: list[GradientReport] = []
    if params is not None and not structure:
        reports.append(check_gradient(model, params, rng=rng, where="the given point", **kwargs))
    elif init is not None and not structure:
        reports.append(check_gradient(model, init, rng=rng, where="the initialisation", **kwargs))
        near = {k: v + perturb * _scale(v) * rng.standard_normal(v.shape) for k, v in init.items()}
        reports.append(
            check_gradient(
                model, near, rng=rng, where=f"a random point (init + {perturb}·noise)", **kwargs
            )
        )
    report = ModelReport(model=model.name, structure=structure, gradients=reports)
    if raise_on_failure and not report.ok:
        raise GradientCheckError(str(report))
    return report
