r"""The exact (M+1)-dimensional reduction of Theorem 1's flow, and its large-c limit.

Setting (spec §5.2): uniform n-subsets (no repeats), every list of length M, only W trains,
``V = cP``.  With ``V = cP`` the permutation drops out and the columns of W decouple; by the
symmetry of the uniform distribution every column follows the same ODE, and inside column
``a`` the ``L − M`` entries of tokens outside ``L_a`` stay equal.  The state is

    w = (w_1, …, w_M, w_o),   w_k = W[a_k, a],  w_o = W[b, a] for b ∉ L_a

(``w_M = W[a, a]`` is the self entry).  The population loss restricted to this subspace is an
average over *patterns*: which list entries ``T ⊆ {1..M−1}`` are present besides ``a``, with
``k = n − 1 − |T|`` "other" tokens, probability ``C(L−M, k)/C(L−1, n−1)``, and LDT
``min(T ∪ {M})``.  Per pattern, with multiplicity ``μ_j`` (1 for a present list entry, k for
the others, 0 if absent)::

    h_j = e^{w_j} / Σ_i μ_i e^{w_i}                 attention on one token of slot j
    ℓ   = −c h_ℓ + log(Σ_j μ_j e^{c h_j} + L − n)    the (L − n) absent classes have logit 0

Gradient flow on the full W moves each of the ``L`` entries ``w_k`` (one per column) and the
``L(L − M)`` entries ``w_o`` with the full gradient, so in the *isometric* coordinates

    x_k = √L · w_k,   x_o = √(L(L − M)) · w_o

the full flow restricted to the subspace is exactly the gradient flow ``dx/dt = −∇_x f`` of
``f(x) = 𝓛(W(x))`` (the population loss itself).  :class:`ReducedChain` is therefore an
ordinary gradflow Model: ``gf.integrate_flow`` integrates it and its loss equals the full
model's loss along the flow.

Large-c limit (spec §5.3): with ``Ω = cW`` and ``τ = c²t``, as ``c → ∞``
``ℓ → −log softmax_{b∈s}(Ω[b,a]/n)_{LDT}``, a convex log-sum-exp loss, and ``dΩ/dτ = −∇𝓛_∞``.
:class:`LimitChain` is that flow (same isometric coordinates, state ``Ω``, time ``τ``), and
``T_perfect ≈ τ*/c²``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradflow.model import Model
from gradflow.models.decision_list import CITATION, MARGIN_THRESHOLD
from gradflow.params import validate_params

__all__ = ["ReducedChain", "LimitChain", "chain_patterns"]


def chain_patterns(L: int, n: int, M: int) -> dict[str, np.ndarray]:
    """Patterns of present list entries for one query column (spec §5.2).

    Parameters
    ----------
    L : int
        Vocabulary size.
    n : int
        Sequence length (uniform n-subsets).
    M : int
        List length (every list).

    Returns
    -------
    dict
        ``mult`` (P, M+1): multiplicity of each slot (list entries 1..M, then "other");
        ``prob`` (P,): pattern probability; ``ldt`` (P,): 0-based slot of the LDT.
        Patterns of probability 0 (not enough other tokens) are dropped.

    Raises
    ------
    ValueError
        Unless ``2 ≤ n ≤ L`` and ``M < L``.

    Examples
    --------
    L=16, n=3, M=3: besides the query ``a = a_3``, the two other slots hold
    ``T ⊆ {a_1, a_2}`` and ``2 − |T|`` other tokens, out of ``C(15, 2) = 105`` equally
    likely pairs.

    >>> pat = chain_patterns(16, 3, 3)
    >>> pat["mult"].tolist()  # slots a_1, a_2, a_3 = a, others
    [[0.0, 0.0, 1.0, 2.0], [1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]]
    >>> (105 * pat["prob"]).round(9).tolist(), pat["ldt"].tolist()
    ([78.0, 13.0, 13.0, 1.0], [2, 0, 1, 0])
    """
    if M >= L or n < 2 or n > L:
        raise ValueError(f"need 2 <= n <= L and M < L, got L={L}, n={n}, M={M}")
    total = math.comb(L - 1, n - 1)
    mult, prob, ldt = [], [], []
    for size in range(M):
        for T in itertools.combinations(range(M - 1), size):
            k = n - 1 - size
            if k < 0 or k > L - M:
                continue
            mu = np.zeros(M + 1)
            mu[list(T)] = 1.0
            mu[M - 1] = 1.0
            mu[M] = k
            mult.append(mu)
            prob.append(math.comb(L - M, k) / total)
            ldt.append(min(T) if T else M - 1)
    return {"mult": np.array(mult), "prob": np.array(prob), "ldt": np.array(ldt)}


class _ChainBase(Model):
    """Shared machinery: patterns, isometric coordinates, margins, events."""

    dynamics = "gradient flow"
    citation = CITATION

    def __init__(self, L: int, n: int, M: int) -> None:
        for name, val in (("L", L), ("n", n), ("M", M)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(val).__name__}")
        if not (L >= 3 and 2 <= n <= L and 1 <= M < L):
            raise ValueError(f"need L >= 3, 2 <= n <= L, 1 <= M < L; got L={L}, n={n}, M={M}")
        self.L, self.n, self.M = int(L), int(n), int(M)
        pat = chain_patterns(self.L, self.n, self.M)
        self.mult, self.prob, self.ldt = pat["mult"], pat["prob"], pat["ldt"]
        self._onehot = np.zeros_like(self.mult)
        self._onehot[np.arange(len(self.ldt)), self.ldt] = 1.0
        #: x = scale * w (isometric coordinates)
        self.scale = np.sqrt(np.r_[np.full(M, float(L)), float(L) * (L - M)])
        self.trainable = ("x",)

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W₀ = 0`` (Theorem 1): ``x = 0``.

        Parameters
        ----------
        rng : numpy.random.Generator or None
            Unused: the start is deterministic.

        Returns
        -------
        dict
            ``{"x": zeros (M+1,)}``.

        Examples
        --------
        >>> ReducedChain(16, 3, 3).init_params(None)["x"].tolist()
        [0.0, 0.0, 0.0, 0.0]
        """
        return {"x": np.zeros(self.M + 1)}

    def _x(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        return validate_params(params, {"x": (self.M + 1,)}, allow_complex=True)["x"]

    def to_w(self, x: np.ndarray) -> np.ndarray:
        """Column values ``w = (w_1..w_M, w_o)`` from isometric coordinates (any leading axes).

        Parameters
        ----------
        x : ndarray, shape (..., M+1)
            Isometric coordinates.

        Returns
        -------
        ndarray, shape (..., M+1)
            ``x / scale``.

        Examples
        --------
        ``w_k`` stands for L entries of W and ``w_o`` for ``L(L − M)``:

        >>> import numpy as np
        >>> r = ReducedChain(16, 3, 3)
        >>> (r.scale**2).tolist()  # L, L, L, L(L - M)
        [16.0, 16.0, 16.0, 208.0]
        >>> r.to_w(np.array([4.0, 4.0, 4.0, 0.0])).tolist()
        [1.0, 1.0, 1.0, 0.0]
        """
        return np.asarray(x) / self.scale

    def from_w(self, w: np.ndarray) -> np.ndarray:
        """Isometric coordinates from column values.

        Parameters
        ----------
        w : ndarray, shape (..., M+1)
            Column values ``(w_1, …, w_M, w_o)``.

        Returns
        -------
        ndarray, shape (..., M+1)
            ``w · scale``.

        Examples
        --------
        >>> import numpy as np
        >>> r = ReducedChain(16, 3, 3)
        >>> w = np.array([0.3, 0.2, 0.1, 0.0])
        >>> bool(np.allclose(r.to_w(r.from_w(w)), w))
        True
        """
        return np.asarray(w) * self.scale

    def _attention(self, w: np.ndarray) -> np.ndarray:
        """Per-token attention ``h_j`` of every slot in every pattern (P, M+1)."""
        present = self.mult > 0
        ws = w - np.where(present, w.real, -np.inf).max(axis=1, keepdims=True)
        e = np.where(present, np.exp(np.where(present, ws, 0.0)), 0.0)
        return e / (self.mult * e).sum(axis=1, keepdims=True)

    def margins(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per pattern: logit of the LDT's class minus the largest other present logit.

        Positive for every pattern ⟺ perfect classification (§8 #4); the same quantity
        as :meth:`DecisionList.margins` (absent classes have logit 0 < the LDT's logit).

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``.

        Returns
        -------
        ndarray, shape (P,)
            One margin per pattern.

        Examples
        --------
        At ``W = 0`` every present token ties; a chain-ordered column is perfect:

        >>> import numpy as np
        >>> r = ReducedChain(16, 3, 3)
        >>> r.margins(r.init_params(None)).tolist()
        [0.0, 0.0, 0.0, 0.0]
        >>> ordered = {"x": r.from_w(np.array([3.0, 2.0, 1.0, 0.0]))}  # a_1 > a_2 > a > others
        >>> bool(r.margins(ordered).min() > 0)
        True
        """
        w = np.real(self.to_w(self._x(params)))
        z = self._logits(w)
        zl = (z * self._onehot).sum(axis=1)
        # the LDT competes with every other present slot ("other" only when k ≥ 1)
        rivals = np.where((self.mult > 0) & (self._onehot == 0), z, -np.inf).max(axis=1)
        return zl - rivals

    def perfect_event(self, terminal: bool = True):
        """Event ``min margin − 1e-12`` (direction +1) for ``integrate_flow``.

        Parameters
        ----------
        terminal : bool
            Stop the integration at the event.

        Returns
        -------
        callable
            ``perfect(t, params) -> float`` with ``terminal``, ``direction = 1`` and
            ``name = "perfect"``.

        Examples
        --------
        >>> r = ReducedChain(16, 3, 3)
        >>> ev = r.perfect_event()
        >>> ev(0.0, r.init_params(None)), ev.direction, ev.name
        (-1e-12, 1, 'perfect')
        """

        def perfect(t: float, params: Mapping[str, np.ndarray]) -> float:
            return float(self.margins(params).min()) - MARGIN_THRESHOLD

        perfect.terminal = terminal
        perfect.direction = 1
        perfect.name = "perfect"
        return perfect

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """``chain`` = the column values w (M+1,), ``min_margin`` and ``perfect``.

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``.

        Returns
        -------
        dict
            ``chain``, ``min_margin`` and ``perfect`` (1.0 iff every margin > 1e-12).

        Examples
        --------
        >>> import numpy as np
        >>> r = ReducedChain(16, 3, 3)
        >>> obs = r.observables({"x": r.from_w(np.array([3.0, 2.0, 1.0, 0.0]))})
        >>> obs["chain"].tolist(), obs["perfect"]
        ([3.0, 2.0, 1.0, 0.0], 1.0)
        """
        mg = self.margins(params)
        return {
            "chain": np.real(self.to_w(self._x(params))),
            "min_margin": float(mg.min()),
            "perfect": float(mg.min() > MARGIN_THRESHOLD),
        }

    def initial_rates_ordered(self) -> bool:
        """True when ``−∇`` at ``W = 0`` already orders the chain (T_perfect = 0⁺, §8 #13).

        Returns
        -------
        bool
            Whether the initial rates satisfy ``ẇ_1 > … > ẇ_M > ẇ_o``.

        Examples
        --------
        When L is not ≫ nM the flow starts in chain order (spec §5.1):

        >>> [ReducedChain(16, n, M).initial_rates_ordered() for n, M in ((5, 5), (3, 3))]
        [True, False]
        """

        r = -self.grad(self.init_params(np.random.default_rng(0)))["x"] / self.scale
        return bool(np.all(np.diff(r) < 0))


class ReducedChain(_ChainBase):
    r"""The exact (M+1)-dimensional reduction of Theorem 1's W-only flow (spec §5.2).

    Parameters
    ----------
    L : int
        Vocabulary size.
    n : int
        Sequence length (uniform n-subsets, no repeats).
    M : int
        List length (every list has length M).
    c : float, optional
        ``V = cP``; default Theorem 1's ``4n log(L)/δ`` with ``δ = 1/L``.

    Notes
    -----
    Parameter ``x`` (M+1,) holds isometric coordinates: ``w = x/scale`` with
    ``scale = (√L, …, √L, √(L(L−M)))``; see the module docstring.  The loss equals the full
    :class:`~gradflow.models.decision_list.DecisionList` loss at the matching W.

    Examples
    --------
    >>> import numpy as np
    >>> r = ReducedChain(16, 3, 3)
    >>> round(r.c, 2)
    532.34
    >>> float(np.round(r.loss(r.init_params(None)), 6))
    1.098612

    Theorem 1's time at L=16, n=3, M=3, from four numbers instead of 256 (the full model
    gives the same 0.0116245):

    >>> import gradflow as gf
    >>> traj = gf.integrate_flow(r, r.init_params(None), (0, 1.0), method="LSODA",
    ...                          rtol=1e-10, atol=1e-14, events=[r.perfect_event()],
    ...                          observables=False)
    >>> round(traj.event_time("perfect"), 7)
    0.0116245
    """

    name = "decision_list_reduced"

    def __init__(self, L: int, n: int, M: int, c: float | None = None) -> None:
        super().__init__(L, n, M)
        self.c = 4.0 * n * math.log(L) * L if c is None else float(c)
        if not self.c > 0:
            raise ValueError(f"c must be > 0, got {c}")

    def config(self) -> dict[str, Any]:
        """Constructor arguments.

        Returns
        -------
        dict
            ``L``, ``n``, ``M`` and ``c``.

        Examples
        --------
        >>> ReducedChain(8, 3, 2, c=10.0).config()
        {'L': 8, 'n': 3, 'M': 2, 'c': 10.0}
        """
        return {"L": self.L, "n": self.n, "M": self.M, "c": self.c}

    def _logits(self, w: np.ndarray) -> np.ndarray:
        return self.c * self._attention(w)

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        w = x / self.scale
        h = self._attention(w)  # per-token attention, (P, M+1)
        z = self.c * h  # logits of the present classes; absent classes have logit 0
        zmax = z.real.max(axis=1, keepdims=True)
        ez = np.where(self.mult > 0, np.exp(z - zmax), 0.0)
        tot = (self.mult * ez).sum(axis=1) + (self.L - self.n) * np.exp(-zmax[:, 0])
        F = ez / tot[:, None]  # softmax probability of one token's class
        ell = -(z * self._onehot).sum(axis=1) + zmax[:, 0] + np.log(tot)
        return {"h": h, "F": F, "ell": ell}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Population loss ``Σ_patterns prob·ℓ`` (= the full model's loss).

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``, isometric coordinates.

        Returns
        -------
        float
            The loss of eq. (2) on the symmetric subspace.

        Examples
        --------
        The full model at the W whose every column holds ``w`` has the same loss:

        >>> import numpy as np
        >>> from gradflow.models.decision_list import DecisionList
        >>> r, m = ReducedChain(8, 3, 2), DecisionList(8, 3, 2)
        >>> w = np.array([0.3, -0.2, 0.1])  # (w_1, w_2 = self, w_o)
        >>> W = np.full((8, 8), w[2])
        >>> for a, lst in enumerate(m.lists):
        ...     W[lst, a] = w[:2]
        >>> full = m.loss({"W": W, "V": m.c * m.P})
        >>> bool(abs(r.loss({"x": r.from_w(w)}) - full) < 1e-12)
        True
        """
        return np.dot(self.prob, self._forward(self._x(params))["ell"])

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and ``∇_x f``: slot gradient ``μ_j c h_j (F_j − [j=ℓ] − Σμ h F + h_ℓ)``.

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``, isometric coordinates.

        Returns
        -------
        loss : float
            The loss.
        grad : dict
            ``{"x": (M+1,)}``, the gradient in isometric coordinates.

        Examples
        --------
        The gradient is the full gradient summed over the entries each coordinate stands
        for, divided by the scale:

        >>> import numpy as np
        >>> from gradflow.models.decision_list import DecisionList
        >>> r, m = ReducedChain(8, 3, 2), DecisionList(8, 3, 2)
        >>> w = np.array([0.3, -0.2, 0.1])
        >>> W = np.full((8, 8), w[2])
        >>> for a, lst in enumerate(m.lists):
        ...     W[lst, a] = w[:2]
        >>> gW = m.grad({"W": W, "V": m.c * m.P})["W"]
        >>> inside = np.zeros((8, 8), dtype=bool)
        >>> for a, lst in enumerate(m.lists):
        ...     inside[lst, a] = True
        >>> summed = [sum(gW[lst[k], a] for a, lst in enumerate(m.lists)) for k in range(2)]
        >>> summed.append(gW[~inside].sum())
        >>> loss, g = r.loss_and_grad({"x": r.from_w(w)})
        >>> bool(np.allclose(g["x"], np.array(summed) / r.scale, rtol=1e-10, atol=1e-14))
        True
        """
        x = self._x(params)
        f = self._forward(x)
        h, F = f["h"], f["F"]
        gh = self.c * (F - self._onehot)  # ∂ℓ/∂h per token
        gu = h * (gh - (self.mult * h * gh).sum(axis=1, keepdims=True))
        gw = self.prob @ (self.mult * gu)
        return np.dot(self.prob, f["ell"]), {"x": gw / self.scale}

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient ``∇_x f`` (see :meth:`loss_and_grad`).

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``.

        Returns
        -------
        dict
            ``{"x": (M+1,)}``.

        Examples
        --------
        At ``W = 0`` the self entry is pushed up fastest when L ≫ nM (spec §5.1), so the
        initial rates are not yet in chain order:

        >>> import numpy as np
        >>> r = ReducedChain(16, 3, 3)
        >>> rates = -r.grad(r.init_params(None))["x"] / r.scale  # dw/dt at t = 0
        >>> int(np.argmax(rates)), r.initial_rates_ordered()  # slot 2 is a_3 = a
        (2, False)
        """
        return self.loss_and_grad(params)[1]


class LimitChain(_ChainBase):
    r"""The large-c limit flow of the chain in ``Ω = cW`` and ``τ = c²t`` (spec §5.3).

    ``ℓ_∞ = −log softmax_{b∈s}(Ω[b,a]/n)_{LDT}``: convex.  Parameter ``x`` holds Ω in the
    isometric coordinates of :class:`ReducedChain`; integrating to time τ gives
    ``T_perfect ≈ τ*/c²`` for the finite-c flow.

    Parameters
    ----------
    L : int
        Vocabulary size.
    n : int
        Sequence length (uniform n-subsets).
    M : int
        List length (every list).

    Examples
    --------
    >>> lim = LimitChain(16, 3, 3)
    >>> round(float(lim.loss(lim.init_params(None))), 6)  # log 3
    1.098612

    The limit time τ*; the finite-c flow at ``c = 532.337`` has ``c²T = 3294.2``:

    >>> import gradflow as gf
    >>> traj = gf.integrate_flow(lim, lim.init_params(None), (0, 1e9), method="LSODA",
    ...                          rtol=1e-10, atol=1e-12, events=[lim.perfect_event()],
    ...                          observables=False)
    >>> round(traj.event_time("perfect"), 2)
    3308.37
    """

    name = "decision_list_limit"

    def config(self) -> dict[str, Any]:
        """Constructor arguments.

        Returns
        -------
        dict
            ``L``, ``n`` and ``M``.

        Examples
        --------
        >>> LimitChain(8, 3, 2).config()
        {'L': 8, 'n': 3, 'M': 2}
        """
        return {"L": self.L, "n": self.n, "M": self.M}

    def _logits(self, w: np.ndarray) -> np.ndarray:
        return w / self.n

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss ``Σ prob·ℓ_∞`` and gradient ``μ_j (p_j − [j=ℓ])/n`` per slot.

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``: Ω in isometric coordinates.

        Returns
        -------
        loss : float
            ``𝓛_∞``.
        grad : dict
            ``{"x": (M+1,)}``.

        Examples
        --------
        Against a central difference along a random direction:

        >>> import numpy as np
        >>> lim = LimitChain(16, 3, 3)
        >>> rng = np.random.default_rng(0)
        >>> x, d = rng.standard_normal(4), rng.standard_normal(4)
        >>> loss, g = lim.loss_and_grad({"x": x})
        >>> fd = (lim.loss({"x": x + 1e-6 * d}) - lim.loss({"x": x - 1e-6 * d})) / 2e-6
        >>> bool(abs(fd - g["x"] @ d) < 1e-8)
        True
        """
        x = self._x(params)
        Om = x / self.scale
        p = self._attention(Om / self.n)  # softmax_{b∈s}(Ω_b/n), per token
        ell = -np.log((self._onehot * p).sum(axis=1))
        gw = self.prob @ (self.mult * (p - self._onehot)) / self.n
        return np.dot(self.prob, ell), {"x": gw / self.scale}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Limit loss ``𝓛_∞ = E[−log softmax_{b∈s}(Ω[b,a]/n)_LDT]`` (spec §5.3).

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``.

        Returns
        -------
        float
            ``𝓛_∞``.

        Examples
        --------
        Raising the first list entry far above the rest drives the loss of the patterns
        that contain it to 0; the others keep a loss:

        >>> import numpy as np
        >>> lim = LimitChain(16, 3, 3)
        >>> x0 = lim.init_params(None)
        >>> x1 = {"x": lim.from_w(np.array([60.0, 0.0, 0.0, 0.0]))}
        >>> bool(lim.loss(x1) < lim.loss(x0))
        True
        """
        return self.loss_and_grad(params)[0]

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient of :meth:`loss`.

        Parameters
        ----------
        params : dict
            ``{"x": (M+1,)}``.

        Returns
        -------
        dict
            ``{"x": (M+1,)}``.

        Examples
        --------
        Ω stays in the gauge-free subspace: the rates, weighted by how many entries each
        coordinate stands for, sum to zero (a column sum of W is conserved):

        >>> import numpy as np
        >>> lim = LimitChain(16, 3, 3)
        >>> rate_w = -lim.grad(lim.init_params(None))["x"] / lim.scale
        >>> counts = np.array([1, 1, 1, 16 - 3])  # entries per column
        >>> bool(abs(counts @ rate_w) < 1e-15)
        True
        """

        return self.loss_and_grad(params)[1]
