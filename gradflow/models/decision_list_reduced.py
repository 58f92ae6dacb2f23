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

    Returns
    -------
    dict
        ``mult`` (P, M+1): multiplicity of each slot (list entries 1..M, then "other");
        ``prob`` (P,): pattern probability; ``ldt`` (P,): 0-based slot of the LDT.
        Patterns of probability 0 (not enough other tokens) are dropped.
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
        """``W₀ = 0`` (Theorem 1): ``x = 0``."""
        return {"x": np.zeros(self.M + 1)}

    def _x(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        return validate_params(params, {"x": (self.M + 1,)}, allow_complex=True)["x"]

    def to_w(self, x: np.ndarray) -> np.ndarray:
        """Column values ``w = (w_1..w_M, w_o)`` from isometric coordinates (any leading axes)."""
        return np.asarray(x) / self.scale

    def from_w(self, w: np.ndarray) -> np.ndarray:
        """Isometric coordinates from column values."""
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
        """
        w = np.real(self.to_w(self._x(params)))
        z = self._logits(w)
        zl = (z * self._onehot).sum(axis=1)
        # the LDT competes with every other present slot ("other" only when k ≥ 1)
        rivals = np.where((self.mult > 0) & (self._onehot == 0), z, -np.inf).max(axis=1)
        return zl - rivals

    def perfect_event(self, terminal: bool = True):
        """Event ``min margin − 1e-12`` (direction +1) for ``integrate_flow``."""

        def perfect(t: float, params: Mapping[str, np.ndarray]) -> float:
            return float(self.margins(params).min()) - MARGIN_THRESHOLD

        perfect.terminal = terminal
        perfect.direction = 1
        perfect.name = "perfect"
        return perfect

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """``chain`` = the column values w (M+1,), ``min_margin`` and ``perfect``."""
        mg = self.margins(params)
        return {
            "chain": np.real(self.to_w(self._x(params))),
            "min_margin": float(mg.min()),
            "perfect": float(mg.min() > MARGIN_THRESHOLD),
        }

    def initial_rates_ordered(self) -> bool:
        """True when ``−∇`` at ``W = 0`` already orders the chain (T_perfect = 0⁺, §8 #13)."""
        r = -self.grad(self.init_params(np.random.default_rng(0)))["x"] / self.scale
        return bool(np.all(np.diff(r) < 0))


class ReducedChain(_ChainBase):
    r"""The exact (M+1)-dimensional reduction of Theorem 1's W-only flow (spec §5.2).

    Parameters
    ----------
    L, n, M : int
        Vocabulary size, sequence length (no repeats), list length (all lists length M).
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
    """

    name = "decision_list_reduced"

    def __init__(self, L: int, n: int, M: int, c: float | None = None) -> None:
        super().__init__(L, n, M)
        self.c = 4.0 * n * math.log(L) * L if c is None else float(c)
        if not self.c > 0:
            raise ValueError(f"c must be > 0, got {c}")

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
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
        """Population loss ``Σ_patterns prob·ℓ`` (= the full model's loss)."""
        return np.dot(self.prob, self._forward(self._x(params))["ell"])

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and ``∇_x f``: slot gradient ``μ_j c h_j (F_j − [j=ℓ] − Σμ h F + h_ℓ)``."""
        x = self._x(params)
        f = self._forward(x)
        h, F = f["h"], f["F"]
        gh = self.c * (F - self._onehot)  # ∂ℓ/∂h per token
        gu = h * (gh - (self.mult * h * gh).sum(axis=1, keepdims=True))
        gw = self.prob @ (self.mult * gu)
        return np.dot(self.prob, f["ell"]), {"x": gw / self.scale}

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient ``∇_x f`` (see :meth:`loss_and_grad`)."""
        return self.loss_and_grad(params)[1]


class LimitChain(_ChainBase):
    r"""The large-c limit flow of the chain in ``Ω = cW`` and ``τ = c²t`` (spec §5.3).

    ``ℓ_∞ = −log softmax_{b∈s}(Ω[b,a]/n)_{LDT}``: convex.  Parameter ``x`` holds Ω in the
    isometric coordinates of :class:`ReducedChain`; integrating to time τ gives
    ``T_perfect ≈ τ*/c²`` for the finite-c flow.

    Examples
    --------
    >>> lim = LimitChain(16, 3, 3)
    >>> round(float(lim.loss(lim.init_params(None))), 6)  # log 3
    1.098612
    """

    name = "decision_list_limit"

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"L": self.L, "n": self.n, "M": self.M}

    def _logits(self, w: np.ndarray) -> np.ndarray:
        return w / self.n

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss ``Σ prob·ℓ_∞`` and gradient ``μ_j (p_j − [j=ℓ])/n`` per slot."""
        x = self._x(params)
        Om = x / self.scale
        p = self._attention(Om / self.n)  # softmax_{b∈s}(Ω_b/n), per token
        ell = -np.log((self._onehot * p).sum(axis=1))
        gw = self.prob @ (self.mult * (p - self._onehot)) / self.n
        return np.dot(self.prob, ell), {"x": gw / self.scale}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Limit loss ``𝓛_∞``."""
        return self.loss_and_grad(params)[0]

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient of :meth:`loss`."""
        return self.loss_and_grad(params)[1]
