"""Word co-occurrence with three attention matrices and a linear MLP.

Yang, Kailkhura, Wang, Liang, *Training Dynamics of Transformers to Recognize Word
Co-occurrence via Gradient Flow Analysis*, NeurIPS 2024 (arXiv 2410.09605).  Spec:
``shared/specs/cooccurrence.md``; derivation: ``docs/models/cooccurrence.md``.

A sentence is ``L`` one-hot tokens ``x_l = e_tok[l]`` of dimension ``d`` (spec §2).  Token
0 and 1 are the target words ``μ1, μ2``, token 2 is the common word ``μ3`` that every
sentence holds, tokens ``3..d-1`` are random words.  The label is ``+1`` exactly when
both targets occur (type 1); types 2, 3, 4 hold only ``μ1``, only ``μ2``, or neither.

The model (eq. (1), spec §3) with ``u = Wᵀa`` and the d×d tables used everywhere here::

    M = W_Kᵀ W_Q              (d, d)   attention score table, row = key, column = query
    G = W_Vᵀ u                (d,)     linear-MLP value G(μ) = uᵀ W_V μ of every token
    s[i, l, h] = M[tok_h, tok_l] / √m     score of key h for query l
    p[i, l, :] = softmax_h s[i, l, :]
    F_i = Σ_l Σ_h p[i, l, h] G[tok_h]     (sum over all L queries, no 1/L)
    L̂ = (1/n) Σ_i log(1 + exp(-y_i F_i))

The gradient (spec §5) needs the two aggregates ``z`` (d,) and ``Π`` (d, d), built by
scatter-adding per-sample terms into the token tables (index gathers, no one-hot)::

    c_i = g(y_i F_i) y_i / n,   g(x) = 1 / (1 + eˣ)
    z = Σ_i c_i Σ_h S[i, h] e_tok_h,        S[i, h] = Σ_l p[i, l, h]
    Π = Σ_i c_i Σ_{l,h} δ[i, l, h] e_tok_h e_tok_lᵀ,
        δ[i, l, h] = p[i, l, h] (G[tok_h] - Σ_h' p[i, l, h'] G[tok_h'])
    ∇W   = -a (W_V z)ᵀ      ∇W_V = -u zᵀ
    ∇W_K = -W_Q Πᵀ / √m    ∇W_Q = -W_K Π / √m

Two parametrisations are provided.  :class:`CoOccurrence` trains ``(W_Q, W_K, W_V, W)``
as in the paper.  :class:`CoOccurrenceU` trains ``(W_Q, W_K, W_V, u_bar)`` with
``u = √m1 · u_bar``: because ``∇W`` is rank one along ``a`` (spec §5.3), ``W`` moves only
through ``u = Wᵀa`` and ``u̇ = m1 W_V z``; the rescaling by ``√m1`` makes this the exact
gradient flow (and the exact gradient descent) of the same loss in fewer variables.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from gradflow.model import Model
from gradflow.params import validate_params

__all__ = [
    "CoOccurrence",
    "CoOccurrenceU",
    "sample_cooccurrence",
    "random_slot_count",
    "TYPE_FRACTIONS",
    "INITS",
]

#: Probabilities of the four sentence types (spec §2.2): both targets, μ1 only, μ2 only, none.
TYPE_FRACTIONS = (1 / 2, 1 / 6, 1 / 6, 1 / 6)
#: Initialisations (spec §3.3 and §9.4).
INITS = ("theory", "torch_default", "kaiming_normal")

_C128 = np.dtype(np.complex128)
_CITATION = (
    "H. Yang, B. Kailkhura, Z. Wang, Y. Liang. Training Dynamics of Transformers to Recognize "
    "Word Co-occurrence via Gradient Flow Analysis. NeurIPS 2024 (arXiv 2410.09605)."
)


# --------------------------------------------------------------------------------------
# Data (spec §2)
# --------------------------------------------------------------------------------------
def random_slot_count(types: np.ndarray, L: int) -> int:
    """Number of positions that hold random words, over a whole set of sentences.

    A sentence of type 1 holds μ1, μ2 and μ3, so ``L - 3`` of its positions are random
    words; types 2 and 3 hold one target and μ3 (``L - 2``); type 4 holds only μ3
    (``L - 1``).  With the exact fractions of Assumption 2.3(i) the total is
    ``n (L - 7/3)``: the number of distinct random tokens Assumption 2.3(ii) needs.

    Parameters
    ----------
    types : array_like of int
        Sentence types, each in 1..4.
    L : int
        Sentence length.

    Returns
    -------
    int
        The total number of random-word positions.

    Examples
    --------
    The paper's training set (n = 60 as 30/10/10/10, L = 5) has 160 random slots, more
    than the 61 random tokens that d = 64 offers (spec §2.3):

    >>> types = np.repeat([1, 2, 3, 4], [30, 10, 10, 10])
    >>> random_slot_count(types, 5), round(60 * (5 - 7 / 3))
    (160, 160)
    """
    per_type = np.array([0, L - 3, L - 2, L - 2, L - 1])
    return int(per_type[np.asarray(types)].sum())


def sample_cooccurrence(
    n: int,
    L: int,
    d: int,
    rng: np.random.Generator,
    *,
    distinct: bool = False,
    exact_fractions: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` sentences of the co-occurrence task (spec §2.2, Assumption 2.3).

    Parameters
    ----------
    n, L, d : int
        Number of sentences, sentence length (>= 3), vocabulary size (>= 4).
    rng : numpy.random.Generator
        Source of randomness.
    distinct : bool
        Assumption 2.3(ii): every random token occurs at most once in the whole set (drawn
        without replacement).  Needs ``d - 3 >= (number of random slots)``, which is
        ``n (L - 7/3)`` with exact fractions.  When False, random tokens are i.i.d. uniform
        over ``{3, ..., d-1}`` (the paper's Appendix A, where d = 64 is too small).
    exact_fractions : bool
        Assumption 2.3(i): exactly ``n/2, n/6, n/6, n/6`` sentences of types 1-4, in that
        order (``n`` must be divisible by 6).  When False, types are i.i.d. with those
        probabilities (fresh samples for the population loss).

    Returns
    -------
    tokens : ndarray of int, shape (n, L)
        Token ids: 0 = μ1, 1 = μ2, 2 = μ3 (common), 3.. = random.
    y : ndarray of float, shape (n,)
        Labels, +1 for type 1 and -1 otherwise.
    types : ndarray of int, shape (n,)
        Sentence types 1..4.

    Raises
    ------
    ValueError
        If ``n`` is not divisible by 6 with exact fractions, ``L < 3``, ``d < 4``, or
        ``distinct`` is asked for with too small a ``d``.

    Examples
    --------
    >>> tok, y, types = sample_cooccurrence(6, 5, 30, np.random.default_rng(0))
    >>> tok.shape, y.tolist(), types.tolist()
    ((6, 5), [1.0, 1.0, 1.0, -1.0, -1.0, -1.0], [1, 1, 1, 2, 3, 4])
    """
    n, L, d = int(n), int(L), int(d)
    if L < 3:
        raise ValueError(f"L (sentence length) must be >= 3 to hold μ1, μ2 and μ3; got {L}")
    if d < 4:
        raise ValueError(f"d (vocabulary size) must be >= 4 (3 special tokens + random); got {d}")
    if n < 1:
        raise ValueError(f"n (number of sentences) must be >= 1; got {n}")
    if exact_fractions:
        if n % 6:
            raise ValueError(
                f"n must be divisible by 6 for the exact type fractions 1/2, 1/6, 1/6, 1/6 of "
                f"Assumption 2.3(i); got n={n}"
            )
        types = np.repeat([1, 2, 3, 4], [n // 2, n // 6, n // 6, n // 6])
    else:
        types = rng.choice(4, size=n, p=TYPE_FRACTIONS) + 1
    n_random = random_slot_count(types, L)
    if distinct and n_random > d - 3:
        raise ValueError(
            f"distinct_tokens=True (Assumption 2.3(ii)) needs one random token per random slot: "
            f"{n_random} slots but only d - 3 = {d - 3} random tokens; use d >= {n_random + 3} "
            f"or distinct_tokens=False"
        )
    # A random order of positions per sentence: slot 0 gets μ3, slots 1-2 the targets.
    order = np.argsort(rng.random((n, L)), axis=1)
    tokens = np.full((n, L), -1, dtype=np.int64)
    rows = np.arange(n)
    tokens[rows, order[:, 0]] = 2
    has1 = (types == 1) | (types == 2)
    tokens[rows[has1], order[has1, 1]] = 0
    tokens[rows[types == 1], order[types == 1, 2]] = 1
    tokens[rows[types == 3], order[types == 3, 1]] = 1
    free = tokens < 0
    if distinct:
        tokens[free] = rng.choice(d - 3, size=n_random, replace=False) + 3
    else:
        tokens[free] = rng.integers(3, d, size=n_random)
    y = np.where(types == 1, 1.0, -1.0)
    return tokens, y, types


# --------------------------------------------------------------------------------------
# Shared primitives: logistic loss, its derivative, softmax, scatter-add
# --------------------------------------------------------------------------------------
def _logistic_loss_and_g(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ℓ(x) = log(1 + e^{-x})`` and ``g(x) = -ℓ'(x) = 1/(1 + eˣ)``, stable and analytic.

    Real input: ``np.logaddexp(0, -x)`` and ``expit(-x)``.  Complex input (complex step):
    with ``σ = sign(Re x)`` (locally constant) and ``t = σx`` (``Re t >= 0``),
    ``ℓ(x) = log1p(e^{-t}) + (t - x)/2`` and ``g(x) = e^{-t}/(1 + e^{-t})`` when σ = +1,
    ``1/(1 + e^{-t})`` when σ = -1: the same analytic functions, evaluated without overflow.
    """
    if x.dtype.kind != "c":  # (a dtype test: np.iscomplexobj costs more than the math)
        minus_x = -x
        return np.logaddexp(0.0, minus_x), expit(minus_x)
    positive = x.real >= 0
    t = np.where(positive, x, -x)
    e = np.exp(-t)
    ell = np.log1p(e) + 0.5 * (t - x)
    g = np.where(positive, e, 1.0) / (1.0 + e)
    return ell, g


@functools.cache
def _ones(k: int) -> np.ndarray:
    """A read-only vector of ``k`` ones: ``x @ _ones(k)`` sums the last axis in one BLAS call."""
    ones = np.ones(k)
    ones.flags.writeable = False
    return ones


def _softmax_last(s: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, complex-safe, computed in place in ``s`` (returned).

    Softmax is unchanged by any real shift of a row, so the shift is exact: one global
    shift (the real max) when the scores span less than 600 (no row can underflow to
    all zeros), the per-row real max otherwise.  The row sums are a product with a
    vector of ones: one BLAS call instead of a reduction loop per row of length ``L``.
    """
    re = s.real
    hi = re.max()
    if hi - re.min() < 600.0:
        s -= hi
    else:
        s -= re.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    L = s.shape[-1]
    s /= (s.reshape(-1, L) @ _ones(L)).reshape(s.shape[:-1] + (1,))
    return s


def _scatter_add(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``out[k] = Σ_{index == k} weights`` (``np.bincount``; complex weights split in two)."""
    index = index.ravel()
    weights = weights.ravel()
    if weights.dtype.kind == "c":
        re = np.bincount(index, weights=weights.real, minlength=size)
        im = np.bincount(index, weights=weights.imag, minlength=size)
        return re + 1j * im
    return np.bincount(index, weights=weights, minlength=size)


# --------------------------------------------------------------------------------------
# Shared core: forward pass and the aggregates z, Π (spec §3.2, §5.2)
# --------------------------------------------------------------------------------------
def _forward(G, M, data: _Data):
    """Forward pass from the tables ``G = W_Vᵀu`` (d,) and ``M = W_KᵀW_Q`` (d, d) (spec §3.2).

    Returns ``F (n,)``, ``P (n, L, L)`` (query l, key h), ``gamma (n, L, L)`` = G(x_h) at
    every (query l, key h) and ``e (n, L)`` = Σ_h p_lh γ_h, the value each query position
    outputs.

    At the paper's size each array here holds at most n L² = 1,500 numbers, so the cost
    is the number of NumPy calls, not the arithmetic: the look-ups are single ``take``
    calls on precomputed flat indices, sums over a short axis are products with a vector
    of ones (one BLAS call each) and the scores are scaled and exponentiated in place.
    """
    n, L = data.tokens.shape
    ones = _ones(L)
    s = M.take(data.pair_index)  # s[i, l, h] = M[tok_h, tok_l] ...
    s /= data.sqrt_m  # ... / √m
    P = _softmax_last(s)
    gamma = G.take(data.key_tokens).reshape(n, L, L)  # gamma[i, l, h] = G(x_h)
    e = (P * gamma).reshape(n * L, L) @ ones  # e_l = Σ_h p_lh γ_h
    F = e.reshape(n, L) @ ones  # F = Σ_l e_l
    return F, P, gamma, e.reshape(n, L)


def _loss_and_aggregates(G, M, data: _Data, need_grad: bool = True):
    """Loss, per-sample margins and ``g``, and the gradient aggregates ``z``, ``Π``.

    Everything depends on the weights only through the tables ``G`` and ``M``.
    """
    F, P, gamma, e = _forward(G, M, data)
    margin = data.y * F
    ell, g = _logistic_loss_and_g(margin)
    loss = ell.sum() / data.n  # the mean, without np.mean's Python overhead
    if not need_grad:
        return loss, {"F": F, "P": P, "ell": ell, "g": g, "margin": margin}
    c = g * data.y_over_n  # c_i = g(y_i F_i) y_i / n
    cP = P * c[:, None, None]  # c_i p_lh
    # z_μ = Σ_i c_i Σ_{l,h} p_lh [x_h = μ]: attention received by key h, summed over
    # queries (scattered by the key token of every (i, l, h)).
    z = _scatter_add(data.key_tokens, cP, data.d)
    # Π_νμ = Σ_i c_i Σ_{l,h} δ_lh [x_h = ν][x_l = μ]: softmax backward of F_i, with
    # δ_lh = p_lh (γ_h - e_l).
    Pi = _scatter_add(data.pair_index, cP * (gamma - e[:, :, None]), data.d**2)
    Pi = Pi.reshape(data.d, data.d)
    return loss, {"F": F, "P": P, "ell": ell, "g": g, "margin": margin, "z": z, "Pi": Pi}


class _Data:
    """The training set in the index form the hot path uses."""

    def __init__(self, tokens: np.ndarray, y: np.ndarray, d: int, m: int):
        self.tokens = tokens
        self.y = y
        self.n = tokens.shape[0]
        self.d = d
        self.sqrt_m = math.sqrt(m)
        # pair_index[i, l, h] = tok_h * d + tok_l: the flat index of M[key h, query l].
        self.pair_index = tokens[:, None, :] * d + tokens[:, :, None]
        # key_tokens[i, l, h] = tok_h, flat: where G(x_h) is read and c_i p_lh lands in z.
        self.key_tokens = np.broadcast_to(tokens[:, None, :], self.pair_index.shape).ravel()
        self.y_over_n = y / self.n


# --------------------------------------------------------------------------------------
# Shared construction and observables
# --------------------------------------------------------------------------------------
class _CoOccurrenceBase(Model):
    """Data, fixed readout ``a``, initialisation and observables shared by both models."""

    citation: ClassVar[str] = _CITATION
    dynamics: ClassVar[str] = "gradient flow"

    def __init__(
        self,
        n: int = 60,
        L: int = 5,
        d: int = 64,
        m: int = 128,
        m1: int = 256,
        init: str = "theory",
        init_scale: float = 0.5,
        distinct_tokens: bool = False,
        seed: int = 0,
    ):
        for argname, value, low in (("n", n, 6), ("L", L, 3), ("d", d, 4), ("m", m, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{argname} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"{argname} must be >= {low}, got {value}")
        if isinstance(m1, bool) or not isinstance(m1, (int, np.integer)) or m1 < 1:
            raise ValueError(f"m1 (number of MLP neurons) must be an int >= 1, got {m1!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)):
            raise TypeError(f"init_scale must be a float, got {type(init_scale).__name__}")
        if not (math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"init_scale must be a finite float > 0, got {init_scale}")
        if not isinstance(distinct_tokens, (bool, np.bool_)):
            raise TypeError(f"distinct_tokens must be a bool, got {type(distinct_tokens).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.n, self.L, self.d, self.m, self.m1 = int(n), int(L), int(d), int(m), int(m1)
        self.init = init
        self.init_scale = float(init_scale)
        self.distinct_tokens = bool(distinct_tokens)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        #: token ids (n, L): 0 = μ1, 1 = μ2, 2 = μ3, 3.. random
        self.tokens, self.y, self.types = sample_cooccurrence(
            self.n, self.L, self.d, rng, distinct=self.distinct_tokens
        )
        #: fixed MLP readout a (m1,), i.i.d. uniform on {±1} (spec §3.1, §9.3)
        self.a = rng.choice([-1.0, 1.0], size=self.m1)
        self.a.flags.writeable = False  # fixed, never trained (_a_outer caches its values)
        self._a_rows = None  # (a, its distinct values, where each entry sits), see _a_outer
        self._data = _Data(self.tokens, self.y, self.d, self.m)
        self._type_masks = [self.types == k for k in (1, 2, 3, 4)]
        attention = (self.m, self.d)
        self._shapes = {"W_Q": attention, "W_K": attention, "W_V": attention, **self._mlp_shape()}

    @classmethod
    def paper(cls, seed: int = 0, **overrides: Any):
        """The experiment of the paper's Appendix A.

        n = 60 sentences (30/10/10/10), L = 5, d = 64, m = 128, m1 = 256, "Kaiming
        initialization" read as PyTorch's ``nn.Linear`` default (``init="torch_default"``,
        spec §9.4), random tokens i.i.d. (d = 64 is too small for Assumption 2.3(ii)).  The
        paper trains it with full-batch GD, η = 0.01, for 30,000 steps (flow time t = 300).

        Parameters
        ----------
        seed : int
            Seed of the data and of the readout ``a``.
        **overrides
            Constructor arguments that replace the paper's.

        Returns
        -------
        model
            An instance of the class it is called on (:class:`CoOccurrence` or
            :class:`CoOccurrenceU`).

        Examples
        --------
        >>> model = CoOccurrence.paper(seed=0)
        >>> model.config()["m"], model.init, model.tokens.shape
        (128, 'torch_default', (60, 5))
        >>> sum(int(np.prod(s)) for s in model.param_shapes().values())  # trained numbers
        57344
        >>> sum(int(np.prod(s)) for s in CoOccurrenceU.paper().param_shapes().values())
        24704
        """
        kwargs = dict(n=60, L=5, d=64, m=128, m1=256, init="torch_default", seed=seed)
        kwargs.update(overrides)
        return cls(**kwargs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), saved with every run.

        Returns
        -------
        dict
            ``n, L, d, m, m1, init, init_scale, distinct_tokens, seed``.

        Examples
        --------
        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6, seed=3)
        >>> CoOccurrence(**model.config()).tokens.tolist() == model.tokens.tolist()
        True
        """
        return {
            "n": self.n,
            "L": self.L,
            "d": self.d,
            "m": self.m,
            "m1": self.m1,
            "init": self.init,
            "init_scale": self.init_scale,
            "distinct_tokens": self.distinct_tokens,
            "seed": self.seed,
        }

    @property
    def sigmas(self) -> tuple[float, float]:
        """Standard deviations ``(σ0, σ1)`` of the attention/value and MLP weights at init.

        ``theory``: ``σ0 = c/√(Lm)``, ``σ1 = c/√m1`` with ``c = init_scale`` (Condition 1,
        spec §3.3).  ``torch_default``: U(±1/√fan_in), std ``1/√(3 fan_in)``, fan_in = d for
        W_Q, W_K, W_V and m for W.  ``kaiming_normal``: N(0, 2/fan_in).

        Examples
        --------
        >>> model = CoOccurrence(n=12, L=5, d=20, m=80, m1=16, init_scale=0.5)
        >>> [round(s, 4) for s in model.sigmas]  # 0.5/√(5·80), 0.5/√16
        [0.025, 0.125]
        """
        c = self.init_scale
        if self.init == "theory":
            return c / math.sqrt(self.L * self.m), c / math.sqrt(self.m1)
        if self.init == "torch_default":
            return 1 / math.sqrt(3 * self.d), 1 / math.sqrt(3 * self.m)
        return math.sqrt(2 / self.d), math.sqrt(2 / self.m)

    def _init_full(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw ``W_Q, W_K, W_V`` (m, d) and ``W`` (m1, m) in that order (spec §3.3)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        shapes = {
            "W_Q": (self.m, self.d),
            "W_K": (self.m, self.d),
            "W_V": (self.m, self.d),
            "W": (self.m1, self.m),
        }
        s0, s1 = self.sigmas
        out = {}
        for name, shape in shapes.items():
            std = s1 if name == "W" else s0
            if self.init == "torch_default":
                bound = math.sqrt(3) * std
                out[name] = rng.uniform(-bound, bound, size=shape)
            else:
                out[name] = rng.normal(0.0, std, size=shape)
        return out

    def _a_outer(self, v: np.ndarray) -> np.ndarray:
        """``a vᵀ`` (m1, len(v)), the shape of the gradient of ``W``.

        ``a`` takes only the two values ±1, so ``a vᵀ`` has only two distinct rows (one
        per distinct value of ``a``): they are computed once and copied into place
        (``take``).  The same numbers as ``np.outer(a, v)``, which NumPy computes with one
        multiply loop per row (256 loops at the paper's size, slower than the arithmetic).
        """
        if self._a_rows is None or self._a_rows[0] is not self.a:
            self._a_rows = (self.a, *np.unique(self.a, return_inverse=True))
        _, values, where = self._a_rows
        return np.multiply.outer(values, v).take(where, axis=0)

    # --- the pieces each parametrisation supplies ---------------------------------
    def _mlp_shape(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of the trained MLP block (``W`` or ``u_bar``)."""
        raise NotImplementedError

    def _u(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _tables(self, params: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``G = W_Vᵀu`` (d,) and ``M = W_KᵀW_Q`` (d, d): all the loss depends on."""
        return params["W_V"].T @ self._u(params), params["W_K"].T @ params["W_Q"]

    def _check(
        self, params: Mapping[str, np.ndarray], allow_complex: bool = True
    ) -> Mapping[str, np.ndarray]:
        """Names, shapes and dtypes of ``params`` (cheap on the hot path).

        A mapping with exactly the expected names, shapes and float64 (or, with
        ``allow_complex``, complex128) arrays passes as is; anything else goes through
        :func:`gradflow.params.validate_params`, which raises a clear error.  Non-finite
        entries are caught after the fact by :meth:`_finite`.
        """
        ok = isinstance(params, Mapping) and len(params) == len(self._shapes)
        if ok:
            for name, shape in self._shapes.items():
                arr = params.get(name)
                if not (
                    isinstance(arr, np.ndarray)
                    and arr.shape == shape
                    and (arr.dtype == np.float64 or (allow_complex and arr.dtype == _C128))
                ):
                    ok = False
                    break
        if ok:
            return params
        return validate_params(params, self._shapes, argname="params", allow_complex=allow_complex)

    def _finite(self, loss, params: Mapping[str, np.ndarray]):
        """Return ``loss`` as a float (complex kept); a non-finite loss from non-finite
        parameters raises the ValueError of :func:`validate_params`."""
        if isinstance(loss, complex):  # np.complex128 is a complex
            return loss
        if not math.isfinite(loss):
            validate_params(params, self._shapes, argname="params", allow_complex=True)
        return float(loss)

    # --- forward quantities --------------------------------------------------------
    def outputs(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """The network outputs ``F(X^(i))`` of eq. (1), one per training sentence.

        ``F_i = Σ_l Σ_h p[i, l, h] G[tok_h] = Σ_h S[i, h] G[tok_h]``, with the attention
        ``S[i, h] = Σ_l p[i, l, h]`` that key ``h`` receives from all ``L`` queries.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        ndarray, shape (n,)
            The outputs (complex for complex parameters).

        Examples
        --------
        With ``W_K = 0`` every score is 0, attention is uniform (``S = 1``) and ``F`` is the
        bag-of-words sum of the linear-MLP values ``G(μ) = uᵀ W_V μ``, ``u = Wᵀa``:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["W_K"] = np.zeros_like(theta["W_K"])
        >>> G = theta["W_V"].T @ (theta["W"].T @ model.a)
        >>> np.allclose(model.outputs(theta), G[model.tokens].sum(axis=1))
        True
        """
        p = self._check(params)
        G, M = self._tables(p)
        F, _, _, _ = _forward(G, M, self._data)
        return F

    def margins(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """The margins ``y_i F_i``: positive when sentence ``i`` is classified correctly.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        ndarray, shape (n,)
            ``y * outputs(params)``.

        Examples
        --------
        The loss is the mean of ``log(1 + exp(-margin))``:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> margin = model.margins(theta)
        >>> bool(np.isclose(model.loss(theta), np.mean(np.log1p(np.exp(-margin)))))
        True
        """
        return self.y * self.outputs(params)

    def min_margin(self, params: Mapping[str, np.ndarray]) -> float:
        """``min_i y_i F_i``: it crosses 0 at the end of Phase 1 (Theorem 3.1(b), spec §9.6).

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        float
            The smallest margin (real part for complex parameters).

        Examples
        --------
        At a small initialisation ``F ≈ 0`` and some sentences are on the wrong side:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> model.min_margin(theta) < 0
        True
        """
        return float(np.min(self.margins(params).real))

    def phase1_event(self, terminal: bool = False):
        """The end of Phase 1 as a flow event: ``min_i y_i F_i`` crosses 0 upwards.

        The paper does not say where its Figure 1 draws the phase boundary; this is the
        spec's choice (§9.6): the first time every training sentence is classified
        correctly, Theorem 3.1(b).

        Parameters
        ----------
        terminal : bool
            Stop the integration (or the GD run) when the event fires.

        Returns
        -------
        callable
            ``g(t, params)`` made by :func:`gradflow.flow.event` with ``direction=+1`` and
            ``name="phase1_end"``; pass it in ``events=[...]`` to
            :func:`gradflow.integrate_flow` or :func:`gradflow.gradient_descent`.

        Examples
        --------
        >>> import gradflow as gf
        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> flow = gf.integrate_flow(
        ...     model, theta, (0, 50), events=[model.phase1_event(terminal=True)], n_eval=5
        ... )
        >>> flow.status, round(flow.event_time("phase1_end"), 2)
        ('event', 1.53)
        >>> abs(model.min_margin(flow.final_params)) < 1e-8
        True
        """
        from gradflow.flow import event

        def min_margin(t: float, params: Mapping[str, np.ndarray]) -> float:
            return self.min_margin(params)

        return event(min_margin, terminal=terminal, direction=1, name="phase1_end")

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Empirical logistic loss ``L̂ = (1/n) Σ_i log(1 + exp(-y_i F_i))`` (eq. (2)).

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        float
            The loss (complex for complex parameters, for the complex-step check).

        Examples
        --------
        With ``W_V = 0`` every output is 0 and the loss is exactly ``log 2``:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["W_V"] = np.zeros_like(theta["W_V"])
        >>> bool(np.isclose(model.loss(theta), np.log(2)))
        True
        """
        p = self._check(params)
        G, M = self._tables(p)
        loss, _ = _loss_and_aggregates(G, M, self._data, need_grad=False)
        return self._finite(loss, p)

    def population_loss(
        self,
        params: Mapping[str, np.ndarray],
        n_samples: int = 20_000,
        rng: np.random.Generator | None = None,
        return_error: bool = False,
    ) -> float | tuple[float, float]:
        """Monte-Carlo estimate of the population loss ``E ℓ(y F(X))`` (spec §4).

        Fresh sentences of §2.2 with i.i.d. types and random tokens uniform over
        ``{3, ..., d-1}`` (possibly unseen in training).  Standard error ≈
        std(ℓ)/√n_samples.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).
        n_samples : int
            Number of fresh sentences.
        rng : numpy.random.Generator, optional
            Source of the sentences; a fixed ``default_rng(12345)`` when None, so that
            two calls compare parameters on the same sentences.
        return_error : bool
            Also return the test error ``P(y F(X) <= 0)``.

        Returns
        -------
        loss : float
            The Monte-Carlo population loss.
        error : float
            The test error, only with ``return_error``.

        Examples
        --------
        With ``W_V = 0`` every output is 0: loss ``log 2``, and every sentence counts as
        an error (``y F <= 0``):

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["W_V"] = np.zeros_like(theta["W_V"])
        >>> model.population_loss(theta, n_samples=100, return_error=True)
        (0.6931..., 1.0)
        """
        p = self._check(params, allow_complex=False)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        rng = np.random.default_rng(12345) if rng is None else rng
        tokens, y, _ = sample_cooccurrence(
            int(n_samples), self.L, self.d, rng, exact_fractions=False
        )
        G, M = self._tables(p)
        F, _, _, _ = _forward(G, M, _Data(tokens, y, self.d, self.m))
        ell, _ = _logistic_loss_and_g(y * F)
        if return_error:
            return float(ell.mean()), float(np.mean(y * F <= 0))
        return float(ell.mean())

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """What the paper's lemmas track (spec §7), at ``params``.

        Keys (μ1, μ2, μ3 = tokens 0, 1, 2; ``M = W_KᵀW_Q``, ``A = W_VᵀW_V``):

        ``type_loss`` (4,)
            Per-type mean losses ``L̂_k`` (Fig. 1b; spec §9.7).
        ``S`` (4,)
            Gradient masses ``S_k = Σ_{i∈I_k} g(y_i F_i)`` (unnormalised, as in the proofs).
        ``G`` (3,)
            Linear-MLP values ``G(μ_k) = uᵀW_Vμ_k``.
        ``G_dot`` (3,)
            ``Ġ = r z + m1 A z`` restricted to μ1..μ3 (spec §6.2, eq. (4)).
        ``attention_correlation`` (3, 3)
            ``M[:3, :3]``, ``μ_iᵀ W_Kᵀ W_Q μ_j`` with row = key i, column = query j.
        ``attention_velocity`` (3, 3)
            ``Ṁ[:3, :3]`` under gradient flow (Lemma 4.7 / F.16 signs).
        ``value_correlation``, ``value_velocity`` (3, 3)
            ``A[:3, :3]`` and ``Ȧ = z Gᵀ + G zᵀ`` there (Lemma F.11).
        ``r``
            ``‖u‖²``, the sum of neuron correlations (Lemma F.4).
        ``S2_over_S3``, ``R``
            Balancing ratios ``S_2/S_3`` (Lemma 4.4) and
            ``R = (S_234 - S_1)/(S_1 - S_2)`` (Lemma 4.5).
        ``kappa``
            ``κ = -dL̂/dt / (r L̂²) = ‖∇L̂‖²/(r L̂²)`` (Theorem F.8).
        ``min_margin``
            ``min_i y_i F_i`` (> 0 after Phase 1).
        ``attention_deviation``
            ``max |p_lh - 1/L|``: how far attention is from uniform.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        dict of str to float or ndarray
            The keys above.

        Examples
        --------
        With ``W_V = 0`` every output is 0, so every ``g_i = 1/2`` and the gradient masses
        are half the type counts (6, 2, 2, 2 sentences of n = 12): ``S = (3, 1, 1, 1)``,
        ``S_2/S_3 = 1`` and ``R = (3 - 3)/(3 - 1) = 0``:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["W_V"] = np.zeros_like(theta["W_V"])
        >>> obs = model.observables(theta)
        >>> obs["S"].tolist(), obs["S2_over_S3"], obs["R"]
        ([3.0, 1.0, 1.0, 1.0], 1.0, 0.0)
        >>> u = theta["W"].T @ model.a
        >>> bool(np.isclose(obs["r"], u @ u))
        True
        """
        p = self._check(params, allow_complex=False)
        u, W_V, W_K, W_Q = self._u(p), p["W_V"], p["W_K"], p["W_Q"]
        G = W_V.T @ u
        loss, aux = _loss_and_aggregates(G, W_K.T @ W_Q, self._data)
        z, Pi, g, ell, P = aux["z"], aux["Pi"], aux["g"], aux["ell"], aux["P"]
        sm = self._data.sqrt_m
        r = float(u @ u)
        A3 = W_V[:, :3].T @ W_V
        # Ġ = r z + m1 A z ; Ȧ = z Gᵀ + G zᵀ (spec §6.2)
        G_dot = r * z[:3] + self.m1 * (A3 @ z)
        value_velocity = np.outer(z[:3], G[:3]) + np.outer(G[:3], z[:3])
        # Ṁ = Ẇ_Kᵀ W_Q + W_Kᵀ Ẇ_Q with Ẇ_K = W_Q Πᵀ/√m, Ẇ_Q = W_K Π/√m (spec §5.2)
        dWK3 = W_Q @ Pi[:3, :].T / sm
        dWQ3 = W_K @ Pi[:, :3] / sm
        attention_velocity = dWK3.T @ W_Q[:, :3] + W_K[:, :3].T @ dWQ3
        S_k = np.array([g[mask].sum() for mask in self._type_masks])
        type_loss = np.array([ell[mask].mean() for mask in self._type_masks])
        grad_sq = (
            self.m1 * float(np.sum((W_V @ z) ** 2))
            + r * float(z @ z)
            + float(np.sum((W_Q @ Pi.T) ** 2) + np.sum((W_K @ Pi) ** 2)) / self.m
        )
        return {
            "type_loss": type_loss,
            "S": S_k,
            "G": G[:3].copy(),
            "G_dot": G_dot,
            "attention_correlation": W_K[:, :3].T @ W_Q[:, :3],
            "attention_velocity": attention_velocity,
            "value_correlation": A3[:, :3].copy(),
            "value_velocity": value_velocity,
            "r": r,
            "S2_over_S3": float(S_k[1] / S_k[2]),
            "R": float((S_k[1:].sum() - S_k[0]) / (S_k[0] - S_k[1])),
            "kappa": grad_sq / (r * float(loss) ** 2),
            "min_margin": float(aux["margin"].min()),
            "attention_deviation": float(np.max(np.abs(P - 1.0 / self.L))),
        }

    # --- the closed Gram system (spec §6.2) ----------------------------------------
    def gram_state(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The Gram quantities of spec §6.2, the state of the closed system :meth:`gram_rhs`.

        ``r = ‖u‖²``, ``G = W_Vᵀu`` (d,) and the d×d matrices ``A = W_VᵀW_V``,
        ``M = W_KᵀW_Q``, ``B = W_KᵀW_K``, ``C = W_QᵀW_Q``.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's parameter blocks (see :meth:`param_shapes`).

        Returns
        -------
        dict
            ``"r"`` (float), ``"G"`` (d,) and ``"A"``, ``"M"``, ``"B"``, ``"C"`` (d, d).

        Examples
        --------
        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> state = model.gram_state(theta)
        >>> np.allclose(state["M"][:3, :3], model.observables(theta)["attention_correlation"])
        True
        """
        p = self._check(params, allow_complex=False)
        u, W_V, W_K, W_Q = self._u(p), p["W_V"], p["W_K"], p["W_Q"]
        return {
            "r": float(u @ u),
            "G": W_V.T @ u,
            "A": W_V.T @ W_V,
            "M": W_K.T @ W_Q,
            "B": W_K.T @ W_K,
            "C": W_Q.T @ W_Q,
        }

    def gram_rhs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Time derivatives of the Gram state under gradient flow (spec §6.2, exact).

        The loss, ``z`` and ``Π`` depend only on ``(G, M)``, so the system closes::

            ṙ = 2 m1 Gᵀz                 Ġ = r z + m1 A z        Ȧ = z Gᵀ + G zᵀ
            Ṁ = (Π C + B Π)/√m           Ḃ = (Π Mᵀ + M Πᵀ)/√m    Ċ = (Πᵀ M + Mᵀ Π)/√m

        ``4d² + d + 1`` numbers, independent of ``m`` and ``m1`` except through the
        factors ``√m``, ``m1`` and the initial values.  Not exact for discrete GD.

        Parameters
        ----------
        state : mapping
            The Gram state, as :meth:`gram_state` returns it.

        Returns
        -------
        dict
            The time derivatives, same keys and shapes as ``state``.

        Examples
        --------
        The rates agree with the velocities :meth:`observables` computes from the weights:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> rates = model.gram_rhs(model.gram_state(theta))
        >>> obs = model.observables(theta)
        >>> np.allclose(rates["G"][:3], obs["G_dot"])
        True
        >>> np.allclose(rates["M"][:3, :3], obs["attention_velocity"])
        True
        """
        r, G, A, M, B, C = (state[k] for k in ("r", "G", "A", "M", "B", "C"))
        _, aux = _loss_and_aggregates(G, M, self._data)
        z, Pi = aux["z"], aux["Pi"]
        sm = self._data.sqrt_m
        zG = np.outer(z, G)
        PiM = Pi @ M.T
        PitM = Pi.T @ M
        return {
            "r": 2 * self.m1 * float(G @ z),
            "G": r * z + self.m1 * (A @ z),
            "A": zG + zG.T,
            "M": (Pi @ C + B @ Pi) / sm,
            "B": (PiM + PiM.T) / sm,
            "C": (PitM + PitM.T) / sm,
        }


class CoOccurrence(_CoOccurrenceBase):
    """One-layer transformer of eq. (1) on the word co-occurrence task (Yang et al. 2024).

    Trains ``W_Q, W_K, W_V`` (m, d) and the hidden MLP layer ``W`` (m1, m); the readout
    ``a`` (m1,) is fixed (spec §3.1).  Token embeddings are one-hot (spec §9.1).

    Parameters
    ----------
    n : int
        Training sentences, divisible by 6 (types 1-4 in fractions 1/2, 1/6, 1/6, 1/6).
    L : int
        Sentence length (>= 3).
    d : int
        Vocabulary size = token dimension (>= 4).
    m : int
        Head dimension of Q/K/V ("embedding dimension").
    m1 : int
        Number of MLP neurons.
    init : {"theory", "torch_default", "kaiming_normal"}
        ``theory``: N(0, σ0²) with ``σ0 = c/√(Lm)`` for W_Q, W_K, W_V and N(0, σ1²) with
        ``σ1 = c/√m1`` for W, ``c = init_scale`` (Condition 1; the paper's polylogs are
        unspecified, spec §9.4).  ``torch_default``: PyTorch ``nn.Linear`` default
        U(±1/√fan_in), our reading of the experiment's "Kaiming initialization".
        ``kaiming_normal``: N(0, 2/fan_in).
    init_scale : float
        ``c`` of the theory init (ignored by the others).  The theory wants ``|F(0)|``
        small, which needs ``c`` about 0.1-0.5.
    distinct_tokens : bool
        Assumption 2.3(ii): each random token used at most once in the training set.
    seed : int
        Seed of the data and of ``a``.  Weights are drawn by :meth:`init_params`.

    Attributes
    ----------
    tokens : ndarray of int, shape (n, L)
        Token ids of the training sentences: 0 = μ1, 1 = μ2, 2 = μ3, 3.. random.
    y : ndarray, shape (n,)
        Labels, +1 for type 1 and -1 otherwise.
    types : ndarray of int, shape (n,)
        Sentence types 1..4, in blocks of n/2, n/6, n/6, n/6.
    a : ndarray, shape (m1,)
        The fixed ±1 readout of the MLP.

    See Also
    --------
    CoOccurrenceU : the same dynamics in the variables ``(W_Q, W_K, W_V, u_bar)``.

    Examples
    --------
    >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    >>> params = model.init_params(np.random.default_rng(0))
    >>> sorted(params), model.tokens.shape
    (['W', 'W_K', 'W_Q', 'W_V'], (12, 4))
    >>> bool(abs(model.loss(params) - np.log(2)) < 0.05)  # F(0) small: loss near log 2
    True
    """

    name: ClassVar[str] = "cooccurrence"

    def _mlp_shape(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.m1, self.m)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W_Q, W_K, W_V`` (m, d) and ``W`` (m1, m) drawn as ``init`` says.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the weights, drawn in the order ``W_Q, W_K, W_V, W``.

        Returns
        -------
        dict of str to ndarray
            The four float64 blocks, with the standard deviations :attr:`sigmas`.

        Examples
        --------
        >>> model = CoOccurrence(n=12, L=5, d=64, m=64, m1=8)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> {k: v.shape for k, v in theta.items()}
        {'W_Q': (64, 64), 'W_K': (64, 64), 'W_V': (64, 64), 'W': (8, 64)}
        >>> round(float(theta["W_V"].std()) / model.sigmas[0], 1)  # σ0 = 0.5/√(L m)
        1.0
        """
        return self._init_full(rng)

    def _u(self, params):
        return params["W"].T @ self.a

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss (eq. (2)) and its hand gradient (Appendix B, spec §5.2), one forward pass.

        With ``c_i = g(y_i F_i) y_i / n`` and the aggregates ``z`` (d,) and ``Π`` (d, d) of
        the module docstring::

            ∇W = -a (W_V z)ᵀ    ∇W_V = -u zᵀ    ∇W_K = -W_Q Πᵀ/√m    ∇W_Q = -W_K Π/√m

        Parameters
        ----------
        params : mapping of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``W`` (m1, m), float64 or complex128.

        Returns
        -------
        loss : float
            The mean logistic loss (complex for complex parameters).
        grad : dict of str to ndarray
            The gradient, same keys and shapes as ``params``.

        Examples
        --------
        The gradient predicts the loss's change along any direction ``v``; the complex
        step ``Im L̂(θ + i h v)/h`` measures that change without cancellation:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> loss, grad = model.loss_and_grad(theta)
        >>> rng = np.random.default_rng(1)
        >>> v = {k: rng.normal(size=x.shape) for k, x in theta.items()}
        >>> h = 1e-20
        >>> measured = model.loss({k: theta[k] + 1j * h * v[k] for k in theta}).imag / h
        >>> predicted = sum(np.sum(grad[k] * v[k]) for k in theta)
        >>> bool(np.isclose(measured, predicted, rtol=1e-10))
        True
        """
        p = self._check(params)
        u, W_V, W_K, W_Q = self._u(p), p["W_V"], p["W_K"], p["W_Q"]
        loss, aux = _loss_and_aggregates(W_V.T @ u, W_K.T @ W_Q, self._data)
        z, Pi = aux["z"], aux["Pi"]
        sm = self._data.sqrt_m
        minus_z = -z
        Pi_s = Pi / -sm  # the signs and 1/√m applied to the d×d table, not the m×d results
        grad = {
            "W_Q": W_K @ Pi_s,  # -W_K Π / √m
            "W_K": W_Q @ Pi_s.T,  # -W_Q Πᵀ / √m
            "W_V": u[:, None] * minus_z,  # -u zᵀ
            "W": self._a_outer(W_V @ minus_z),  # -a (W_V z)ᵀ
        }
        return self._finite(loss, p), grad

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient of :meth:`loss` (Appendix B, spec §5.2): see :meth:`loss_and_grad`.

        Parameters
        ----------
        params : mapping of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``W`` (m1, m).

        Returns
        -------
        dict of str to ndarray
            The gradient, same keys and shapes as ``params``.

        Examples
        --------
        ``∇W = -a (W_V z)ᵀ`` and ``∇W_V = -u zᵀ`` are outer products: rank one.

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> grad = model.grad(theta)
        >>> [int(np.linalg.matrix_rank(grad[k])) for k in ("W", "W_V")]
        [1, 1]
        """
        return self.loss_and_grad(params)[1]

    def reduced(self) -> CoOccurrenceU:
        """The same model in the ``u``-parametrisation (spec §5.3).

        Returns
        -------
        CoOccurrenceU
            Built from :meth:`config`: the same sentences, labels and readout ``a``.

        Examples
        --------
        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> small = model.reduced()
        >>> np.array_equal(small.tokens, model.tokens), np.array_equal(small.a, model.a)
        (True, True)
        >>> small.param_shapes()["u_bar"]
        (8,)
        """
        return CoOccurrenceU(**self.config())

    def to_reduced(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Map ``(W_Q, W_K, W_V, W)`` to ``(W_Q, W_K, W_V, u_bar)``, ``u_bar = Wᵀa/√m1``.

        Parameters
        ----------
        params : mapping of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``W`` (m1, m), float64.

        Returns
        -------
        dict of str to ndarray
            Parameters of :meth:`reduced` (copies): the same loss and the same flow.

        Examples
        --------
        ``m1 ‖u_bar‖² = ‖u‖² = r``, the paper's sum of neuron correlations:

        >>> model = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> reduced = model.to_reduced(theta)
        >>> r = model.observables(theta)["r"]
        >>> bool(np.isclose(model.m1 * reduced["u_bar"] @ reduced["u_bar"], r))
        True
        >>> bool(np.isclose(model.reduced().loss(reduced), model.loss(theta)))
        True
        """
        p = self._check(params, allow_complex=False)
        return {
            "W_Q": p["W_Q"].copy(),
            "W_K": p["W_K"].copy(),
            "W_V": p["W_V"].copy(),
            "u_bar": self._u(p) / math.sqrt(self.m1),
        }


class CoOccurrenceU(_CoOccurrenceBase):
    """The exact ``W → u`` reduction of :class:`CoOccurrence` (spec §5.3).

    ``F`` depends on ``W`` only through ``u = Wᵀa``, and ``∇_W L̂ = -a (W_V z)ᵀ`` is rank
    one along ``a``, so under gradient flow (and gradient descent) ``W(t) = W(0) +
    a β(t)ᵀ`` and ``u̇ = aᵀa W_V z = m1 W_V z``.  This model trains ``u_bar = u/√m1``:
    ``∇_{u_bar} L̂ = -√m1 W_V z`` gives ``u̇ = √m1 · u_bar' = m1 W_V z``, so both its
    gradient flow and its gradient descent equal those of :class:`CoOccurrence` exactly,
    with ``m(3d + 1)`` variables instead of ``3md + m1 m`` (24,704 instead of 57,344 at
    the paper's size).

    Parameters
    ----------
    n : int
        Training sentences, divisible by 6.
    L : int
        Sentence length (>= 3).
    d : int
        Vocabulary size = token dimension (>= 4).
    m : int
        Head dimension of Q/K/V.
    m1 : int
        Number of MLP neurons: the length of ``a`` and the factor ``aᵀa`` above.
    init : {"theory", "torch_default", "kaiming_normal"}
        As in :class:`CoOccurrence`; ``u_bar`` starts at the reduction of the full
        model's ``W``.
    init_scale : float
        ``c`` of the theory init.
    distinct_tokens : bool
        Assumption 2.3(ii): each random token used at most once in the training set.
    seed : int
        Seed of the data and of ``a`` (the same as :class:`CoOccurrence` with this seed).

    See Also
    --------
    CoOccurrence : the paper's parametrisation; :meth:`CoOccurrence.reduced` and
        :meth:`CoOccurrence.to_reduced` map a model and its parameters here.

    Examples
    --------
    One gradient-descent step taken in either parametrisation lands on the same point:

    >>> full = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
    >>> theta = full.init_params(np.random.default_rng(0))
    >>> small = full.reduced()
    >>> grad_full, grad_small = full.grad(theta), small.grad(full.to_reduced(theta))
    >>> step_full = full.to_reduced({k: theta[k] - 0.1 * grad_full[k] for k in theta})
    >>> reduced = full.to_reduced(theta)
    >>> step_small = {k: reduced[k] - 0.1 * grad_small[k] for k in reduced}
    >>> all(np.allclose(step_full[k], step_small[k], rtol=1e-12) for k in reduced)
    True
    """

    name: ClassVar[str] = "cooccurrence_u"

    def _mlp_shape(self) -> dict[str, tuple[int, ...]]:
        return {"u_bar": (self.m,)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The full model's initialisation, reduced: the same ``rng`` gives the same flow.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the weights, drawn exactly as :meth:`CoOccurrence.init_params` does.

        Returns
        -------
        dict of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``u_bar = Wᵀa/√m1`` (m,).

        Examples
        --------
        >>> full = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = full.reduced().init_params(np.random.default_rng(0))
        >>> from_full = full.to_reduced(full.init_params(np.random.default_rng(0)))
        >>> all(np.array_equal(theta[k], from_full[k]) for k in theta)
        True
        """
        full = self._init_full(rng)
        full["u_bar"] = full.pop("W").T @ self.a / math.sqrt(self.m1)
        return full

    def _u(self, params):
        return math.sqrt(self.m1) * params["u_bar"]

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient; ``∇_{u_bar} L̂ = -√m1 W_V z``, the rest as in the full model.

        Parameters
        ----------
        params : mapping of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``u_bar`` (m,), float64 or complex128.

        Returns
        -------
        loss : float
            The mean logistic loss (eq. (2)).
        grad : dict of str to ndarray
            The gradient, same keys and shapes as ``params``.

        Examples
        --------
        The full model's ``∇W = -a (W_V z)ᵀ`` gives ``aᵀ∇W = -m1 W_V z``, so
        ``∇u_bar = aᵀ∇W / √m1``:

        >>> full = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = full.init_params(np.random.default_rng(0))
        >>> loss, grad = full.reduced().loss_and_grad(full.to_reduced(theta))
        >>> np.allclose(grad["u_bar"], full.a @ full.grad(theta)["W"] / np.sqrt(full.m1))
        True
        """
        p = self._check(params)
        u, W_V, W_K, W_Q = self._u(p), p["W_V"], p["W_K"], p["W_Q"]
        loss, aux = _loss_and_aggregates(W_V.T @ u, W_K.T @ W_Q, self._data)
        z, Pi = aux["z"], aux["Pi"]
        sm = self._data.sqrt_m
        minus_z = -z
        Pi_s = Pi / -sm
        grad = {
            "W_Q": W_K @ Pi_s,  # -W_K Π / √m
            "W_K": W_Q @ Pi_s.T,  # -W_Q Πᵀ / √m
            "W_V": u[:, None] * minus_z,  # -u zᵀ
            "u_bar": math.sqrt(self.m1) * (W_V @ minus_z),  # -√m1 W_V z
        }
        return self._finite(loss, p), grad

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient of :meth:`loss`: see :meth:`loss_and_grad`.

        Parameters
        ----------
        params : mapping of str to ndarray
            ``W_Q, W_K, W_V`` (m, d) and ``u_bar`` (m,).

        Returns
        -------
        dict of str to ndarray
            The gradient, same keys and shapes as ``params``.

        Examples
        --------
        The attention and value blocks get the full model's gradient:

        >>> full = CoOccurrence(n=12, L=4, d=20, m=8, m1=6)
        >>> theta = full.init_params(np.random.default_rng(0))
        >>> grad = full.reduced().grad(full.to_reduced(theta))
        >>> all(np.allclose(grad[k], full.grad(theta)[k]) for k in ("W_Q", "W_K", "W_V"))
        True
        """
        return self.loss_and_grad(params)[1]
