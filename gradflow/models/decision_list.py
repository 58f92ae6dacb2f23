r"""Decision lists learned by the one-layer transformer :math:`f_{W,V}(X) = σ(V X σ(XᵀWX))`.

Paper: *Provable Gradient-Descent-Based Learning of Decision Lists by Transformers*
(anonymous extended abstract).  Spec: ``specs/decision_lists.md``; derivation page:
``docs/models/decision_list.md``.

The task (§2 of the spec).  Tokens ``0..L-1`` are embedded one-hot, ``X = [e_{s_1}|…|e_{s_n}]``.
A permutation ``π`` (matrix ``P`` with ``P[π(b), b] = 1``) and, for every token ``a``, a list
``L_a = (a_1, …, a_m)`` with ``a_m = a`` define the label of ``a`` in a sequence ``s``:
``π(a_j)`` for the smallest ``j`` with ``a_j ∈ s`` (``a_j`` is the *label-determining token*,
LDT).  The model is eq. (1) of the paper, with ``σ`` the column softmax::

    S = XᵀWX            (n×n; row = key position, column = query position)
    A = σ(S)            column softmax over the keys
    H = XA              (L×n; H[b, j] = attention mass query j puts on token b)
    Z = VH,  F = σ(Z)   softmax over the L vocabulary rows

and the loss is eq. (2), ``ℓ = (1/n) Σ_j −log F[y_j, j]``, averaged over the population.

What the paper leaves open (the data distribution, δ, γ, "perfect classification") is
resolved as the spec recommends (§3, §8) and is a constructor parameter:

* sequences are uniform n-subsets in random order (``repeats=False``, §8 #1), or i.i.d.
  uniform tokens (``repeats=True``);
* every list has length ``M`` (``m_mode="fixed"``) or a uniform length in ``1..M``
  (``m_mode="random"``), entries distinct and uniform (§8 #2);
* ``δ = min_a Pr[s_j = a]`` and ``γ = min_{a, k ≤ m_a} Pr[LDT = a_k | s_j = a]`` are computed
  from the example table (§3.3, §8 #3);
* "perfect classification" = the correct logit beats every other logit strictly at every
  position of every sequence of the support (§8 #4).

Two exact forms of the loss and gradient are implemented and must agree:
:meth:`DecisionList.loss_grad_pos` (eq. (1) literally, einsum over sequences and positions,
§4.1) and :meth:`DecisionList.loss_grad_tok` (one softmax per (sequence, query token)
example, §4.2; the default, 10-100x cheaper).  :meth:`DecisionList.hvp` is the exact
Hessian-vector product (forward-over-reverse, §4.3).  All are analytic in ``(W, V)`` so the
complex-step check applies.

The reduced (M+1)-dimensional ODE (§5.2) and its large-c limit (§5.3) are in
:mod:`gradflow.models.decision_list_reduced`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradflow.model import Model
from gradflow.params import validate_params

__all__ = [
    "DecisionList",
    "ExampleTable",
    "make_task",
    "perm_matrix",
    "label_determining_rank",
    "exact_population",
    "mc_population",
    "theorem1_bound",
    "theorem2_feasibility",
    "MARGIN_THRESHOLD",
]

#: Event threshold on the minimum logit margin.  At W = 0 every present token ties and the
#: margin is exactly 0, so "perfect" is declared at margin > 1e-12, not at 0 (spec §6.1).
MARGIN_THRESHOLD = 1e-12

CITATION = (
    "Provable Gradient-Descent-Based Learning of Decision Lists by Transformers "
    "(anonymous extended abstract)"
)


# ------------------------------------------------------------------------------------------
# The task and the population
# ------------------------------------------------------------------------------------------
def make_task(
    L: int, M: int, rng: np.random.Generator, m_mode: str = "fixed"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Draw the permutation π and the decision lists (spec §3.1, steps 1-2).

    Parameters
    ----------
    L : int
        Vocabulary size.
    M : int
        Maximum list length (``1 ≤ M ≤ L``).
    rng : numpy.random.Generator
        Source of randomness.
    m_mode : {"fixed", "random"}
        ``"fixed"``: every list has length ``M`` (spec default, §8 #2); ``"random"``:
        ``m_a ~ Unif{1..M}``.

    Returns
    -------
    perm : ndarray of int, shape (L,)
        ``perm[b] = π(b)``.
    lists : list of ndarray of int
        ``lists[a] = (a_1, …, a_m)`` with ``a_m = a`` and distinct entries.

    Examples
    --------
    >>> import numpy as np
    >>> perm, lists = make_task(5, 2, np.random.default_rng(0))
    >>> sorted(perm.tolist())  # π is a permutation of the vocabulary
    [0, 1, 2, 3, 4]
    >>> [int(lst[-1]) for lst in lists]  # every list L_a ends in a
    [0, 1, 2, 3, 4]
    >>> {len(lst) for lst in lists}  # m_mode="fixed": every list has length M
    {2}
    """
    perm = rng.permutation(L)
    lists = []
    for a in range(L):
        m = M if m_mode == "fixed" else int(rng.integers(1, M + 1))
        others = np.delete(np.arange(L), a)
        head = rng.choice(others, size=m - 1, replace=False)
        lists.append(np.concatenate([head, [a]]).astype(np.int64))
    return perm.astype(np.int64), lists


def perm_matrix(perm: np.ndarray) -> np.ndarray:
    """Permutation matrix with ``P[π(b), b] = 1``, so ``P e_b = e_{π(b)}`` (spec §2).

    Parameters
    ----------
    perm : ndarray of int, shape (L,)
        ``perm[b] = π(b)``.

    Returns
    -------
    ndarray, shape (L, L)
        The matrix ``P``; with ``V = cP`` the logit of class ``π(b)`` is ``c·H[b, j]``.

    Examples
    --------
    >>> import numpy as np
    >>> P = perm_matrix(np.array([1, 2, 0]))  # π(0) = 1, π(1) = 2, π(2) = 0
    >>> P
    array([[0., 0., 1.],
           [1., 0., 0.],
           [0., 1., 0.]])
    >>> (P @ np.eye(3)[0]).tolist()  # P e_0 = e_π(0) = e_1
    [0.0, 1.0, 0.0]
    """
    L = len(perm)
    P = np.zeros((L, L))
    P[perm, np.arange(L)] = 1.0
    return P


def label_determining_rank(
    present: np.ndarray, queries: np.ndarray, lists_pad: np.ndarray
) -> np.ndarray:
    """Rank ``k`` (0-based) of the label-determining token of each example.

    Parameters
    ----------
    present : ndarray of bool, shape (E, L)
        Which tokens occur in the example's sequence.
    queries : ndarray of int, shape (E,)
        The query token ``a`` of each example (it occurs in the sequence).
    lists_pad : ndarray of int, shape (L, M)
        ``lists_pad[a, :m_a]`` is ``L_a``; the rest is ``-1``.

    Returns
    -------
    ndarray of int, shape (E,)
        Smallest ``k`` with ``L_a[k] ∈ s``; the LDT is ``lists_pad[a, k]``.

    Examples
    --------
    Token 0 has the list ``L_0 = (1, 0)``: its label is decided by token 1 when 1 is in the
    sequence, and by 0 itself otherwise.

    >>> import numpy as np
    >>> lists_pad = np.array([[1, 0], [1, -1], [0, 2], [3, -1]])  # L_1 = (1,), L_3 = (3,)
    >>> present = np.array([[True, False, True, False],   # s = {0, 2}
    ...                     [True, True, False, False]])  # s = {0, 1}
    >>> label_determining_rank(present, np.array([0, 0]), lists_pad).tolist()
    [1, 0]
    """
    entries = lists_pad[queries]
    hit = (entries >= 0) & np.take_along_axis(present, np.maximum(entries, 0), axis=1)
    return np.argmax(hit, axis=1)


@dataclass
class ExampleTable:
    """The population as a table of examples (sequence, query token), spec §3.2.

    Positions of a sequence that share a token have the same loss and are merged into one
    example for exact populations; Monte-Carlo tables keep one example per position.  Built
    by :func:`exact_population` and :func:`mc_population`; ``E`` is the number of examples,
    ``B`` the number of sequences.  Every parameter is kept as the attribute of the same name.

    Parameters
    ----------
    cnt : ndarray, shape (E, L)
        Token counts of the example's sequence.
    q : ndarray of int, shape (E,)
        Query token.
    y : ndarray of int, shape (E,)
        Label ``π(LDT)``.
    w : ndarray, shape (E,)
        Weight ``Pr(s)·cnt[q]/n``; the weights sum to 1.
    ldt : ndarray of int, shape (E,)
        Label-determining token.
    rank : ndarray of int, shape (E,)
        Its 0-based rank in ``L_q``.
    seq : ndarray of int, shape (E,)
        Index of the sequence in ``seqs``.
    seqs : ndarray of int, shape (B, n)
        The sequences (position-level form).
    seqy : ndarray of int, shape (B, n)
        Labels of every position.
    seqw : ndarray, shape (B,)
        Sequence probabilities (sum to 1).
    kind : str
        ``"exact"`` or ``"monte_carlo"``.

    Examples
    --------
    >>> import numpy as np
    >>> perm, lists = make_task(5, 2, np.random.default_rng(0))
    >>> table = exact_population(5, 3, perm, lists)
    >>> table.size, table.kind  # n·C(L, n) = 3·10 examples
    (30, 'exact')
    >>> round(float(table.w.sum()), 12)
    1.0
    >>> bool(np.all(table.y == perm[table.ldt]))  # label = π(LDT)
    True
    """

    cnt: np.ndarray
    q: np.ndarray
    y: np.ndarray
    w: np.ndarray
    ldt: np.ndarray
    rank: np.ndarray
    seq: np.ndarray
    seqs: np.ndarray
    seqy: np.ndarray
    seqw: np.ndarray
    kind: str

    @property
    def size(self) -> int:
        """Number of examples E."""
        return len(self.q)


def _pad_lists(lists: Sequence[np.ndarray], M: int) -> np.ndarray:
    pad = -np.ones((len(lists), M), dtype=np.int64)
    for a, lst in enumerate(lists):
        pad[a, : len(lst)] = lst
    return pad


def _table(
    seqs: np.ndarray,
    seqw: np.ndarray,
    perm: np.ndarray,
    lists: Sequence[np.ndarray],
    merge: bool,
    kind: str,
) -> ExampleTable:
    """Build the example table from sequences and their probabilities (vectorised)."""
    B, n = seqs.shape
    L = len(perm)
    M = max(len(x) for x in lists)
    cnt = np.zeros((B, L))
    np.add.at(cnt, (np.repeat(np.arange(B), n), seqs.ravel()), 1.0)
    b_idx = np.repeat(np.arange(B), n)
    q = seqs.ravel()
    if merge:
        # keep the first occurrence of each token in its sequence, weight cnt[q]/n
        srt = np.sort(seqs, axis=1)
        first = np.ones_like(srt, dtype=bool)
        first[:, 1:] = srt[:, 1:] != srt[:, :-1]
        b_idx = np.repeat(np.arange(B), n).reshape(B, n)[first]
        q = srt[first]
        w = seqw[b_idx] * cnt[b_idx, q] / n
    else:
        w = seqw[b_idx] / n
    lists_pad = _pad_lists(lists, M)
    present = cnt[b_idx] > 0
    rank = label_determining_rank(present, q, lists_pad)
    ldt = lists_pad[q, rank]
    y = perm[ldt]
    # labels of every position (position-level form)
    pos_present = cnt[np.repeat(np.arange(B), n)] > 0
    pos_rank = label_determining_rank(pos_present, seqs.ravel(), lists_pad)
    seqy = perm[lists_pad[seqs.ravel(), pos_rank]].reshape(B, n)
    return ExampleTable(
        cnt=cnt[b_idx],
        q=q.astype(np.int64),
        y=y.astype(np.int64),
        w=w,
        ldt=ldt.astype(np.int64),
        rank=rank.astype(np.int64),
        seq=b_idx.astype(np.int64),
        seqs=seqs.astype(np.int64),
        seqy=seqy.astype(np.int64),
        seqw=seqw,
        kind=kind,
    )


def exact_population(
    L: int, n: int, perm: np.ndarray, lists: Sequence[np.ndarray], repeats: bool = False
) -> ExampleTable:
    """Enumerate the whole support (spec §3.2).

    Without repeats: all ``C(L, n)`` subsets with probability ``1/C(L, n)`` (order is
    irrelevant: the model has no positional encoding).  With repeats: all multisets with
    multinomial weights ``n!/∏cnt! / Lⁿ``.

    Parameters
    ----------
    L : int
        Vocabulary size.
    n : int
        Sequence length.
    perm : ndarray of int, shape (L,)
        ``perm[b] = π(b)``.
    lists : sequence of ndarray of int
        ``lists[a] = L_a``, ending in ``a``.
    repeats : bool
        ``False``: uniform n-subsets; ``True``: i.i.d. uniform tokens.

    Returns
    -------
    ExampleTable
        One example per (sequence, distinct query token), weights summing to 1:
        ``n·C(L, n)`` examples without repeats.

    Examples
    --------
    Four tokens, ``π`` the identity, and ``L_0 = (1, 0)``: the label of 0 is 1 when token 1
    is present, else 0.

    >>> import numpy as np
    >>> lists = [np.array([1, 0]), np.array([1]), np.array([0, 2]), np.array([3])]
    >>> table = exact_population(4, 2, np.arange(4), lists)
    >>> table.size  # n·C(L, n) = 2·6
    12
    >>> sel = table.q == 0
    >>> table.seqs[table.seq[sel]].tolist(), table.ldt[sel].tolist()
    ([[0, 1], [0, 2], [0, 3]], [1, 0, 0])
    >>> rep = exact_population(4, 2, np.arange(4), lists, repeats=True)
    >>> rep.size, round(float(rep.w.sum()), 12)  # 10 multisets; (b, b) gives one example
    (16, 1.0)
    """
    if repeats:
        seqs = np.array(list(itertools.combinations_with_replacement(range(L), n)))
        counts = np.stack([np.sum(seqs == b, axis=1) for b in range(L)], axis=1)
        logfact = np.array([math.lgamma(k + 1) for k in range(n + 1)])
        logw = math.lgamma(n + 1) - logfact[counts].sum(axis=1) - n * math.log(L)
        seqw = np.exp(logw)
    else:
        seqs = np.array(list(itertools.combinations(range(L), n)))
        seqw = np.full(len(seqs), 1.0 / math.comb(L, n))
    return _table(seqs, seqw, perm, lists, merge=True, kind="exact")


def mc_population(
    L: int,
    n: int,
    perm: np.ndarray,
    lists: Sequence[np.ndarray],
    n_samples: int,
    rng: np.random.Generator,
    repeats: bool = False,
) -> ExampleTable:
    """Empirical population of ``n_samples`` sampled sequences, each of weight ``1/N``.

    Use when ``C(L, n)`` is too large to enumerate (spec §3.2); the gradient error is about
    ``4/√N`` at L=16, n=3, M=3.

    Parameters
    ----------
    L : int
        Vocabulary size.
    n : int
        Sequence length.
    perm : ndarray of int, shape (L,)
        ``perm[b] = π(b)``.
    lists : sequence of ndarray of int
        ``lists[a] = L_a``, ending in ``a``.
    n_samples : int
        Number N of sequences drawn.
    rng : numpy.random.Generator
        Source of the sample.
    repeats : bool
        ``False``: uniform n-subsets in random order; ``True``: i.i.d. uniform tokens.

    Returns
    -------
    ExampleTable
        One example per position (``N·n`` examples, weight ``1/(Nn)`` each), kind
        ``"monte_carlo"``.

    Examples
    --------
    >>> import numpy as np
    >>> perm, lists = make_task(6, 2, np.random.default_rng(0))
    >>> table = mc_population(6, 3, perm, lists, 100, np.random.default_rng(1))
    >>> table.size, table.kind
    (300, 'monte_carlo')
    >>> bool(np.allclose(table.w, 1 / 300))
    True
    """
    if repeats:
        seqs = rng.integers(0, L, size=(n_samples, n))
    else:
        seqs = np.argsort(rng.random((n_samples, L)), axis=1)[:, :n]
    seqw = np.full(n_samples, 1.0 / n_samples)
    return _table(seqs, seqw, perm, lists, merge=False, kind="monte_carlo")


# ------------------------------------------------------------------------------------------
# The theorems' constants
# ------------------------------------------------------------------------------------------
def theorem1_bound(M: int, L: int, gamma: float) -> float:
    """Theorem 1's time bound ``4M/(log(L)·γ)`` (natural log).

    Parameters
    ----------
    M : int
        Maximum list length.
    L : int
        Vocabulary size.
    gamma : float
        γ, the smallest conditional probability that a list entry is the LDT.

    Returns
    -------
    float
        The flow time within which Theorem 1 promises perfect classification.

    Examples
    --------
    At L=16, n=3, M=3 the smallest conditional LDT probability is
    ``C(13, 1)/C(15, 2) = 13/105`` (spec §3.3):

    >>> round(theorem1_bound(3, 16, 13 / 105), 2)
    34.96
    """
    return 4.0 * M / (math.log(L) * gamma)


def theorem2_feasibility(n: int, m: int, loss0: float, eps: float) -> dict[str, Any]:
    """Check Theorem 2's hypotheses: some ``A`` with ``𝓛₀ − 6ε/n > A > √(4m𝓛₀/ε)`` (§6.2).

    Parameters
    ----------
    n : int
        Sequence length.
    m : int
        List length.
    loss0 : float
        ``𝓛₀``, the population loss at the initialisation.
    eps : float
        Theorem 2's ε.

    Returns
    -------
    dict
        ``feasible`` (bool), ``A_low = √(4m𝓛₀/ε)``, ``A_high = 𝓛₀ − 6ε/n``, and
        ``eps_best = n𝓛₀/18`` (the ε that widens the window most) with
        ``feasible_somewhere`` = ``n𝓛₀² > 162 m`` (true for some ε).

    Examples
    --------
    The hypotheses can hold only for long sequences: n = 29 with m = 2 (the spec's §6.2
    run, ``𝓛₀ = 3.40`` and ``ε = n log n/18``), not n = 3.

    >>> import math
    >>> f = theorem2_feasibility(29, 2, 3.40, 29 * math.log(29) / 18)
    >>> f["feasible"], round(f["A_low"], 3), round(f["A_high"], 3)
    (True, 2.239, 2.278)
    >>> theorem2_feasibility(3, 2, math.log(3), 0.5)["feasible_somewhere"]
    False
    """

    A_low = math.sqrt(4.0 * m * loss0 / eps)
    A_high = loss0 - 6.0 * eps / n
    return {
        "feasible": bool(A_high > A_low),
        "A_low": A_low,
        "A_high": A_high,
        "eps_best": n * loss0 / 18.0,
        "feasible_somewhere": bool(n * loss0**2 > 162 * m),
    }


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------
_INITS = ("theorem1", "theorem2", "v_only", "random")


class DecisionList(Model):
    r"""Population loss of ``σ(V X σ(XᵀWX))`` on the decision-list task.

    Parameters
    ----------
    L : int
        Vocabulary size = embedding dimension (≥ 3).
    n : int
        Sequence length (``2 ≤ n ≤ L`` without repeats).
    M : int
        Maximum list length (``1 ≤ M < L``).
    repeats : bool
        ``False`` (default, §8 #1): sequences are uniform n-subsets.  ``True``: i.i.d. tokens.
    population : {"exact", "monte_carlo"}
        Enumerate the support, or sample ``n_samples`` sequences.
    n_samples : int, optional
        Number of sequences for ``population="monte_carlo"``.
    train : tuple of str
        ``("W",)`` (Theorem 1), ``("W", "V")`` (Theorem 2, joint) or ``("V",)`` (the
        uniform-attention V-only flow).  Sets :attr:`trainable`; the rest stays frozen.
    c : float, optional
        Scale of ``V = cP``.  Default: Theorem 1's ``4n log(L)/δ`` with δ computed from the
        distribution (``4nL log L`` for the defaults; 532.34 at L=16, n=3).
    seed : int
        Seed of the task (π, lists) and of the Monte-Carlo sample.
    m_mode : {"fixed", "random"}
        List lengths (§8 #2).
    init : {"theorem1", "theorem2", "v_only", "random"}, optional
        What :meth:`init_params` returns.  Default: ``"theorem1"`` for ``train=("W",)``,
        ``"theorem2"`` for ``("W", "V")``, ``"v_only"`` for ``("V",)``.
    eps : float
        Theorem 2's ε (``‖V₀ − cP‖_max ≤ ε/2``, entrywise reading, §8 #8).
    init_scale : float
        Standard deviation of the small random initialisations (``v_only``, ``random``).
    chain_token : int
        The column ``a`` whose priority chain ``(W[a_1,a], …, W[a_M,a], mean others)`` is
        reported by :meth:`observables`.
    track_sharpness : bool
        Add ``lambda_max`` (largest Hessian eigenvalue over the trainable block) to the
        observables.  Costly: an eigensolve per recorded sample.
    delta : float, optional
        Override δ, the paper's undefined constant (§8 #3).  Default: the smallest query
        mass ``min_a Pr[s_j = a]`` computed from the distribution (1/L here).  ``delta=1``
        is the reading under which Theorem 1's bound fails for L ≥ 256 (docs, §5).

    Attributes
    ----------
    perm : ndarray of int, shape (L,)
        π.
    lists : list of ndarray of int
        ``lists[a]`` is ``L_a``, ending in ``a``.
    P : ndarray, shape (L, L)
        Permutation matrix, ``P[π(b), b] = 1``.
    table : ExampleTable
        The population.
    delta : float
        The δ used in c (and in Theorem 2's c): ``delta`` if given, else
        ``delta_min_mass``.
    delta_min_mass, gamma, gamma_joint : float
        ``min_a Pr[s_j = a]``, γ and ``γ·δ_min_mass`` computed from the distribution (§3.3).
    V_ref : ndarray, shape (L, L)
        Reference for ``ΔV = V − V_ref`` in ``cos(ΔV, P_c)``; set to ``V₀`` by
        :meth:`init_params` (zero before).

    Examples
    --------
    >>> import numpy as np
    >>> m = DecisionList(8, 3, 2)
    >>> round(m.delta, 6), round(m.c, 2)  # δ = 1/L, c = 4nL log L
    (0.125, 199.63)
    >>> p = m.init_params(np.random.default_rng(0))
    >>> float(m.observables(p)["min_margin"])
    0.0
    """

    name = "decision_list"
    citation = CITATION
    dynamics = "gradient flow"

    def __init__(
        self,
        L: int,
        n: int,
        M: int,
        repeats: bool = False,
        population: str = "exact",
        n_samples: int | None = None,
        train: Sequence[str] = ("W",),
        c: float | None = None,
        seed: int = 0,
        *,
        m_mode: str = "fixed",
        init: str | None = None,
        eps: float = 0.5,
        init_scale: float = 0.01,
        chain_token: int = 0,
        track_sharpness: bool = False,
        delta: float | None = None,
    ) -> None:
        for name, val in (("L", L), ("n", n), ("M", M), ("seed", seed)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(val).__name__}")
        if L < 3:
            raise ValueError(f"L must be >= 3, got {L}")
        if n < 2 or (not repeats and n > L):
            raise ValueError(f"n must satisfy 2 <= n <= L (no repeats), got n={n}, L={L}")
        if not 1 <= M < L:
            raise ValueError(f"M must satisfy 1 <= M < L, got M={M}, L={L}")
        if population not in ("exact", "monte_carlo"):
            raise ValueError(f"population must be 'exact' or 'monte_carlo', got {population!r}")
        if population == "monte_carlo" and (n_samples is None or int(n_samples) < 1):
            raise ValueError("population='monte_carlo' needs n_samples >= 1")
        if m_mode not in ("fixed", "random"):
            raise ValueError(f"m_mode must be 'fixed' or 'random', got {m_mode!r}")
        if isinstance(train, str):
            train = (train,)
        train = tuple(train)
        if train not in (("W",), ("W", "V"), ("V", "W"), ("V",)):
            raise ValueError(f"train must be ('W',), ('W', 'V') or ('V',), got {train!r}")
        if init is None:
            init = {("W",): "theorem1", ("V",): "v_only"}.get(train, "theorem2")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not 0 <= chain_token < L:
            raise ValueError(f"chain_token must be in [0, L), got {chain_token}")
        self.L, self.n, self.M = int(L), int(n), int(M)
        self.repeats = bool(repeats)
        self.population = population
        self.n_samples = None if n_samples is None else int(n_samples)
        self.seed = int(seed)
        self.m_mode = m_mode
        self.init = init
        self.eps = float(eps)
        self.init_scale = float(init_scale)
        self.chain_token = int(chain_token)
        self.track_sharpness = bool(track_sharpness)
        self.trainable = tuple(x for x in ("W", "V") if x in train)

        if c is not None and not float(c) > 0:
            raise ValueError(f"c must be > 0, got {c}")
        if delta is not None and not 0 < float(delta) <= 1:
            raise ValueError(f"delta must be in (0, 1], got {delta}")
        self._delta_arg = None if delta is None else float(delta)
        self._c_arg = None if c is None else float(c)
        self.c = self._c_arg
        self.V_ref = np.zeros((self.L, self.L))
        rng = np.random.default_rng(seed)
        perm, lists = make_task(self.L, self.M, rng, m_mode)
        self._build(perm, lists, rng)

    # --- construction helpers --------------------------------------------------------------
    @classmethod
    def paper(cls, **overrides: Any) -> DecisionList:
        """The spec's reference configuration: L=16, n=3, M=3, Theorem 1 (W only).

        Parameters
        ----------
        **overrides
            Constructor arguments that replace the defaults (``L``, ``n``, ``M``, ``train`` ...).

        Returns
        -------
        DecisionList
            The model; ``c = 4nL log L = 532.337`` and Theorem 1's bound is 34.96.

        Examples
        --------
        >>> m = DecisionList.paper()
        >>> m.table.size, round(m.c, 3), round(m.bound_theorem1, 2)  # 3·C(16, 3) examples
        (1680, 532.337, 34.96)
        """
        kw: dict[str, Any] = {"L": 16, "n": 3, "M": 3}
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def from_task(
        cls, perm: Sequence[int], lists: Sequence[Sequence[int]], n: int, **kwargs: Any
    ) -> DecisionList:
        """A model on a given task: ``perm[b] = π(b)`` and ``lists[a]`` ending in ``a``.

        Parameters
        ----------
        perm : sequence of int
            The permutation π, ``perm[b] = π(b)``.
        lists : sequence of sequence of int
            ``lists[a] = L_a``: distinct tokens ending in ``a``.  ``M`` is the longest list.
        n : int
            Sequence length.
        **kwargs
            The other constructor arguments (``repeats``, ``train``, ``c`` ...).  ``seed``
            then only seeds a Monte-Carlo sample.

        Returns
        -------
        DecisionList
            The model on that task.

        Raises
        ------
        ValueError
            If ``perm`` is not a permutation or a list does not end in its token.

        Examples
        --------
        >>> m = DecisionList.from_task([1, 2, 3, 0], [[1, 0], [1], [0, 2], [3]], n=2)
        >>> m.M, m.table.size, m.perm.tolist()
        (2, 12, [1, 2, 3, 0])
        """
        perm = np.asarray(perm, dtype=np.int64)
        L = len(perm)
        if sorted(perm.tolist()) != list(range(L)):
            raise ValueError("perm must be a permutation of 0..L-1")
        if len(lists) != L:
            raise ValueError(f"lists must hold one list per token ({L}), got {len(lists)}")
        lists = [np.asarray(x, dtype=np.int64) for x in lists]
        for a, lst in enumerate(lists):
            if len(lst) < 1 or lst[-1] != a or len(set(lst.tolist())) != len(lst):
                raise ValueError(f"lists[{a}] must hold distinct tokens and end in {a}")
        model = cls(L, n, max(len(x) for x in lists), **kwargs)
        model._build(perm, lists, np.random.default_rng(model.seed))
        return model

    def _build(self, perm: np.ndarray, lists: list[np.ndarray], rng: np.random.Generator) -> None:
        """Set the task, the population and the fixed arrays of both gradient forms."""
        self.perm, self.lists = perm, lists
        self.P = perm_matrix(self.perm)
        self.Pc = self.P - 1.0 / self.L
        if self.population == "exact":
            self.table = exact_population(self.L, self.n, self.perm, self.lists, self.repeats)
        else:
            self.table = mc_population(
                self.L, self.n, self.perm, self.lists, self.n_samples, rng, self.repeats
            )
        t = self.table
        # fixed per-example data of the token-level form (§4.2), examples on the LAST axis
        # (reductions over rows then run along contiguous memory).  Only the S ≤ n tokens
        # present in an example are stored: tok (S, E), padded where a sequence has fewer
        # distinct tokens; pen = log cnt, or −∞ on padding (exp(−∞) = 0 exactly).
        E, L = t.size, self.L
        present = t.cnt > 0
        S = int(present.sum(axis=1).max())
        order = np.argsort(~present, axis=1, kind="stable")[:, :S]  # present tokens first
        valid = np.take_along_axis(present, order, axis=1)
        cnt = np.take_along_axis(t.cnt, order, axis=1)
        self._tok = order.T.copy()
        self._pen = np.where(valid, np.log(np.where(valid, cnt, 1.0)), -np.inf).T.copy()
        self._arE = np.arange(E)
        self._scatter_h = (self._tok * E + self._arE).ravel()  # (b, e) -> H[b, e]
        self._scatter_w = (self._tok * L + t.q).ravel()  # (b, q_e) -> ∂W[b, q]
        self._Yt = np.zeros((L, E))
        self._Yt[t.y, self._arE] = 1.0
        # position level (§4.1): one-hot X (B, L, n) and labels Y (B, L, n)
        B = len(t.seqs)
        self._X = np.zeros((B, self.L, self.n))
        bb, jj = np.meshgrid(np.arange(B), np.arange(self.n), indexing="ij")
        self._X[bb, t.seqs, jj] = 1.0
        self._Xy = np.zeros((B, self.L, self.n))
        self._Xy[bb, t.seqy, jj] = 1.0
        self.delta_min_mass, self.gamma = self._delta_gamma()
        self.delta = self.delta_min_mass if self._delta_arg is None else self._delta_arg
        self.gamma_joint = self.gamma * self.delta_min_mass
        if self._c_arg is None:
            self.c = 4.0 * self.n * math.log(self.L) / self.delta

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable).

        Returns
        -------
        dict
            Keyword arguments that rebuild the same model.

        Examples
        --------
        >>> m = DecisionList(8, 3, 2, seed=3)
        >>> m2 = DecisionList(**m.config())
        >>> m2.perm.tolist() == m.perm.tolist(), m2.c == m.c
        (True, True)
        """
        return {
            "L": self.L,
            "n": self.n,
            "M": self.M,
            "repeats": self.repeats,
            "population": self.population,
            "n_samples": self.n_samples,
            "train": list(self.trainable),
            "c": self._c_arg,
            "seed": self.seed,
            "m_mode": self.m_mode,
            "init": self.init,
            "eps": self.eps,
            "init_scale": self.init_scale,
            "chain_token": self.chain_token,
            "track_sharpness": self.track_sharpness,
            "delta": self._delta_arg,
        }

    def _delta_gamma(self) -> tuple[float, float]:
        """δ = min_a Pr[s_j = a] and γ = min_{a,k≤m_a} Pr[LDT = a_k | s_j = a] (§3.3)."""
        t = self.table
        mass = np.bincount(t.q, weights=t.w, minlength=self.L)
        joint = np.zeros((self.L, self.M))
        np.add.at(joint, (t.q, t.rank), t.w)
        lengths = np.array([len(x) for x in self.lists])
        valid = np.arange(self.M)[None, :] < lengths[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = joint / mass[:, None]
        cond = np.where(valid & (mass[:, None] > 0), cond, np.inf)
        return float(mass.min()), float(cond.min())

    def conditional_ldt(self) -> np.ndarray:
        """``Pr[LDT = a_k | s_j = a]`` as an (L, M) array (0 beyond ``m_a``).

        Returns
        -------
        ndarray, shape (L, M)
            Row ``a``: the probability that list entry ``a_k`` decides the label of ``a``;
            γ is the smallest entry within the lists.

        Examples
        --------
        Without repeats, ``Pr[LDT = a_1 | a] = C(L−2, n−2)/C(L−1, n−1) = 6/21`` at L=8, n=3
        (spec §3.3), and the self entry takes the rest:

        >>> m = DecisionList(8, 3, 2)
        >>> m.conditional_ldt()[0].round(4).tolist(), round(m.gamma * 21, 6)
        ([0.2857, 0.7143], 6.0)
        """
        t = self.table
        mass = np.bincount(t.q, weights=t.w, minlength=self.L)
        joint = np.zeros((self.L, self.M))
        np.add.at(joint, (t.q, t.rank), t.w)
        return joint / mass[:, None]

    @property
    def bound_theorem1(self) -> float:
        """Theorem 1's time bound ``4M/(log(L)·γ)``."""
        return theorem1_bound(self.M, self.L, self.gamma)

    # --- initialisations --------------------------------------------------------------------
    def init_theorem1(self) -> dict[str, np.ndarray]:
        """Theorem 1: ``W₀ = 0``, ``V = cP``.

        Returns
        -------
        dict
            ``{"W": zeros (L, L), "V": c·P}``.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2)
        >>> p = m.init_theorem1()
        >>> float(np.abs(p["W"]).max()), bool(np.array_equal(p["V"], m.c * m.P))
        (0.0, True)
        """
        return {"W": np.zeros((self.L, self.L)), "V": self.c * self.P}

    def theorem2_setup(
        self,
        rng: np.random.Generator,
        eps: float | None = None,
        iters: int = 50,
        norm: str = "max",
    ) -> dict[str, Any]:
        """Theorem 2's initialisation and constants, by fixed-point iteration (§6.2, §8 #7).

        ``V₀ = cP + U`` with ``U ~ Unif(−ε/2, ε/2)`` entrywise (drawn once), and
        ``c = 10n²𝓛₀/δ + 4εn`` with ``𝓛₀ = 𝓛(0, V₀)`` solved by iterating ``c ← c(𝓛₀(c))``.
        ``norm`` reads ``‖V₀ − cP‖_∞ ≤ ε/2`` (§8 #8): ``"max"`` (entrywise, the default)
        draws ``U(−ε/2, ε/2)``; ``"induced"`` (max row sum) draws ``U(−ε/2L, ε/2L)``.

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws the perturbation ``U`` once.
        eps : float, optional
            Theorem 2's ε; default the constructor's ``eps``.
        iters : int
            Maximum number of fixed-point iterations (they stop at a 1e-12 relative change).
        norm : {"max", "induced"}
            Reading of ``‖·‖_∞``.

        Returns
        -------
        dict
            ``W0``, ``V0``, ``c``, ``loss0``, ``noise``, ``iterations`` and the entries of
            :func:`theorem2_feasibility`.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2, train=("W", "V"))
        >>> s = m.theorem2_setup(np.random.default_rng(0))
        >>> c_again = 10 * m.n**2 * s["loss0"] / m.delta + 4 * m.eps * m.n  # the fixed point
        >>> bool(abs(s["c"] - c_again) < 1e-9 * s["c"]), bool(np.abs(s["noise"]).max() <= m.eps / 2)
        (True, True)
        >>> s["feasible"]  # n = 3 is far too short for the hypotheses
        False
        """
        eps = self.eps if eps is None else float(eps)
        if norm not in ("max", "induced"):
            raise ValueError(f"norm must be 'max' or 'induced', got {norm!r}")
        half = eps / 2 if norm == "max" else eps / (2 * self.L)
        noise = rng.uniform(-half, half, size=(self.L, self.L))
        W0 = np.zeros((self.L, self.L))
        c = 10 * self.n**2 * math.log(self.n) / self.delta + 4 * eps * self.n
        iterations = 0
        while iterations < iters:
            iterations += 1
            loss0 = self.loss({"W": W0, "V": c * self.P + noise})
            c_new = 10 * self.n**2 * loss0 / self.delta + 4 * eps * self.n
            converged = abs(c_new - c) <= 1e-12 * c_new
            c = c_new
            if converged:
                break
        loss0 = self.loss({"W": W0, "V": c * self.P + noise})
        out = {"W0": W0, "V0": c * self.P + noise, "c": c, "loss0": loss0, "noise": noise}
        out["iterations"] = iterations
        out.update(theorem2_feasibility(self.n, self.M, loss0, eps))
        return out

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The initialisation named by ``init`` (see the class docstring).

        * ``"theorem1"``: ``W = 0, V = cP``;
        * ``"theorem2"``: ``W = 0, V₀ = c₂P + Unif(±ε/2)`` with Theorem 2's fixed-point c₂;
        * ``"v_only"``: ``W = 0`` (uniform attention), ``V₀ = init_scale·N(0, 1)``;
        * ``"random"``: ``W, V`` both ``init_scale·N(0, 1)``.

        Also sets :attr:`V_ref` to ``V₀``.

        Parameters
        ----------
        rng : numpy.random.Generator or None
            Source of the random parts (unused, and may be ``None``, for ``"theorem1"``).

        Returns
        -------
        dict
            ``{"W": (L, L), "V": (L, L)}``.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2, train=("V",))  # init "v_only"
        >>> p = m.init_params(np.random.default_rng(0))
        >>> float(np.abs(p["W"]).max()), bool(np.array_equal(m.V_ref, p["V"]))
        (0.0, True)
        """
        L = self.L
        if self.init == "theorem1":
            params = self.init_theorem1()
        elif self.init == "theorem2":
            setup = self.theorem2_setup(rng)
            params = {"W": setup["W0"], "V": setup["V0"]}
        elif self.init == "v_only":
            params = {"W": np.zeros((L, L)), "V": self.init_scale * rng.standard_normal((L, L))}
        else:
            params = {
                "W": self.init_scale * rng.standard_normal((L, L)),
                "V": self.init_scale * rng.standard_normal((L, L)),
            }
        self.V_ref = params["V"].copy()
        return params

    # --- loss and gradient: position level (eq. (1) literally, §4.1) -----------------------
    def _check(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        shape = (self.L, self.L)
        return validate_params(params, {"W": shape, "V": shape}, allow_complex=True)

    def forward_pos(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eq. (1) for every sequence: ``S, A, H, Z, F`` with a batch axis (§4.1).

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        dict
            ``S`` (B, n, n) shifted by its column max, ``A = σ(S)`` (B, n, n),
            ``H = XA`` (B, L, n), ``Z = VH`` (B, L, n) and ``logF = log σ(Z)`` (B, L, n),
            for the B sequences of :attr:`table`.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2)
        >>> f = m.forward_pos(m.init_params(None))
        >>> f["A"].shape, f["H"].shape  # C(6, 3) = 20 sequences
        ((20, 3, 3), (20, 6, 3))
        >>> bool(np.allclose(f["A"], 1 / 3))  # W = 0: uniform attention
        True
        """
        p = self._check(params)
        W, V, X = p["W"], p["V"], self._X
        S = np.einsum("bpi,pq,bqj->bij", X, W, X)  # S[b,i,j] = W[s_i, s_j]
        S = S - S.real.max(axis=1, keepdims=True)
        A = np.exp(S)
        A = A / A.sum(axis=1, keepdims=True)  # column softmax over keys i
        H = np.einsum("bli,bij->blj", X, A)  # H = X A
        Z = np.einsum("kl,blj->bkj", V, H)  # Z = V H
        Zs = Z - Z.real.max(axis=1, keepdims=True)
        logF = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))  # log σ(Z), over rows
        return {"S": S, "A": A, "H": H, "Z": Z, "logF": logF}

    def loss_grad_pos(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss (2) and its gradient, written on ``S = XᵀWX`` literally (§4.1).

        ``∂𝓛/∂V = E[G_Z Hᵀ]``, ``∂𝓛/∂W = E[X G_S Xᵀ]`` with ``G_Z = (F − Y)/n`` and
        ``G_S = A ⊙ (G_A − 1ₙ1ₙᵀ(A ⊙ G_A))``, ``G_A = XᵀVᵀG_Z``.

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``, real or complex (complex step).

        Returns
        -------
        loss : float
            The population loss.
        grad : dict
            ``{"W": ∂𝓛/∂W, "V": ∂𝓛/∂V}``, both blocks whatever :attr:`trainable` is.

        Examples
        --------
        The position-level and token-level forms are separate code paths; they agree:

        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2)
        >>> rng = np.random.default_rng(0)
        >>> p = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> (lp, gp), (lt, gt) = m.loss_grad_pos(p), m.loss_grad_tok(p)
        >>> bool(abs(lp - lt) < 1e-14)
        True
        >>> max(float(np.abs(gp[k] - gt[k]).max()) for k in "WV") < 1e-14
        True
        """
        f = self.forward_pos(params)
        V, X, Y = params["V"], self._X, self._Xy
        A, H, logF = f["A"], f["H"], f["logF"]
        om = self.table.seqw
        loss = -(om[:, None, None] * logF * Y).sum() / self.n
        GZ = (om / self.n)[:, None, None] * (np.exp(logF) - Y)
        dV = np.einsum("bkj,blj->kl", GZ, H)  # Σ_b G_Z Hᵀ
        GH = np.einsum("kl,bkj->blj", V, GZ)  # Vᵀ G_Z
        GA = np.einsum("bli,blj->bij", X, GH)  # Xᵀ G_H
        GS = A * (GA - (A * GA).sum(axis=1, keepdims=True))  # column-softmax backward
        dW = np.einsum("bpi,bij,bqj->pq", X, GS, X)  # Σ_b X G_S Xᵀ
        return loss, {"W": dW, "V": dV}

    # --- loss and gradient: token level (§4.2) ---------------------------------------------
    def _scatter(self, index: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
        """Sum ``values`` (S, E) into a dense array of ``shape`` at flat ``index``.

        ``np.bincount`` is real-only, so a complex input (complex step) is scattered as
        real and imaginary parts: the map is linear, hence still analytic.
        """
        size = shape[0] * shape[1]
        vals = values.ravel()
        out = np.bincount(index, weights=vals.real, minlength=size)
        if np.iscomplexobj(vals):
            out = out + 1j * np.bincount(index, weights=vals.imag, minlength=size)
        return out.reshape(shape)

    def _forward_tok(self, W: np.ndarray, V: np.ndarray) -> dict[str, np.ndarray]:
        """Token-level forward pass, one column per example.

        ``h`` (S, E) holds the attention on the present tokens ``tok``; ``H`` (L, E) is the
        same scattered over the vocabulary (column q of ``H = XA``); ``z, F`` are (L, E).
        """
        t = self.table
        u = W[self._tok, t.q] + self._pen  # u_b = W[b, q] + log cnt_b, b ∈ s
        h = np.exp(u - u.real.max(axis=0))
        h = h / h.sum(axis=0)  # h = softmax over the tokens of s
        H = self._scatter(self._scatter_h, h, (self.L, t.size))
        z = V @ H  # z = V h
        zs = z - z.real.max(axis=0)
        ez = np.exp(zs)
        tot = ez.sum(axis=0)
        F = ez / tot  # F = σ(z)
        logF = zs - np.log(tot)
        return {"h": h, "H": H, "z": z, "F": F, "logF": logF}

    def loss_grad_tok(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient, one softmax per example (sequence, query token) (§4.2).

        Per example: ``h = softmax_{b∈s}(W[b,q] + log cnt_b)``, ``z = Vh``, ``F = σ(z)``,
        ``G_z = w(F − e_y)``; ``∂V = Σ G_z hᵀ``; ``g_h = VᵀG_z``,
        ``G_u = h ⊙ (g_h − hᵀg_h)``, ``∂W[:, q] += G_u``.

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``, real or complex (complex step).

        Returns
        -------
        loss : float
            The population loss.
        grad : dict
            ``{"W": ∂𝓛/∂W, "V": ∂𝓛/∂V}``.

        Examples
        --------
        A softmax over keys ignores a constant added to a column of W, and a softmax over
        classes a constant added to a column of V: the gradients have zero column sums.

        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2)
        >>> rng = np.random.default_rng(0)
        >>> p = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> loss, g = m.loss_grad_tok(p)
        >>> [float(np.abs(g[k].sum(axis=0)).max()) < 1e-15 for k in "WV"]
        [True, True]
        """
        p = self._check(params)
        W, V = p["W"], p["V"]
        f = self._forward_tok(W, V)
        h, H, F, logF = f["h"], f["H"], f["F"], f["logF"]
        w = self.table.w
        loss = -np.dot(w, logF[self.table.y, self._arE])
        Gz = (F - self._Yt) * w  # G_z = w (F − e_y)
        dV = Gz @ H.T  # ∂V = Σ_e G_z hᵀ
        Gh = (V.T @ Gz)[self._tok, self._arE]  # g_h = Vᵀ G_z, on the present tokens
        Gu = h * (Gh - (h * Gh).sum(axis=0))  # softmax backward
        dW = self._scatter(self._scatter_w, Gu, (self.L, self.L))  # ∂W[:, q_e] += G_u
        return loss, {"W": dW, "V": dV}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Population loss ``𝓛 = −Σ_e w_e log F_e[y_e]``: eq. (2) averaged (token-level form).

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        float
            The population loss.

        Examples
        --------
        With ``V = 0`` every class has logit 0, so the loss is ``log L``:

        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2)
        >>> round(float(m.loss({"W": np.zeros((6, 6)), "V": np.zeros((6, 6))})), 12)
        1.791759469228
        >>> round(float(np.log(6)), 12)
        1.791759469228
        """
        p = self._check(params)
        logF = self._forward_tok(p["W"], p["V"])["logF"]
        return -np.dot(self.table.w, logF[self.table.y, self._arE])

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient ``(∂𝓛/∂W, ∂𝓛/∂V)`` of eq. (2) (token-level form, §4.2).

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        dict
            ``{"W": (L, L), "V": (L, L)}``.

        Examples
        --------
        At Theorem 1's start the rates are known in closed form (spec §5.1),
        ``−∂𝓛/∂W[b, a] = (c/n)·Pr[s_j = a]·(Pr[LDT = b | a] − Pr[b ∈ s | a]/n)``: at L=8,
        n=3, M=2 that is ``c/126`` for ``a_1`` and ``c/63`` for the self entry.

        >>> m = DecisionList(8, 3, 2)
        >>> g = m.grad(m.init_params(None))["W"]
        >>> a = 0
        >>> a1 = m.lists[a][0]
        >>> round(float(-g[a1, a] * 126 / m.c), 12), round(float(-g[a, a] * 63 / m.c), 12)
        (1.0, 1.0)
        """
        return self.loss_grad_tok(params)[1]

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient sharing the forward pass (token-level form, §4.2).

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        loss : float
            The population loss.
        grad : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Examples
        --------
        >>> m = DecisionList(6, 3, 2)
        >>> p = m.init_params(None)
        >>> loss, g = m.loss_and_grad(p)
        >>> bool(loss == m.loss(p)), bool((g["W"] == m.grad(p)["W"]).all())
        (True, True)
        """
        return self.loss_grad_tok(params)

    # --- Hessian-vector product (§4.3) -----------------------------------------------------
    def hvp(
        self, params: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Exact Hessian-vector product (forward-over-reverse R-operator, §4.3).

        ``v`` may hold ``W``, ``V`` or both (a missing block is a zero direction); the
        result has the same keys as ``v``.

        Parameters
        ----------
        params : dict
            The point ``{"W": (L, L), "V": (L, L)}``.
        v : dict
            The direction, with keys among ``"W"``, ``"V"``.

        Returns
        -------
        dict
            ``H v``, restricted to the keys of ``v``.

        Raises
        ------
        ValueError
            If ``v`` is empty or has another key.

        Examples
        --------
        The Hessian is symmetric, and the gauge directions ``1uᵀ`` are in its kernel:

        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2, train=("W", "V"))
        >>> rng = np.random.default_rng(0)
        >>> p = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> a = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> b = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> Ha, Hb = m.hvp(p, a), m.hvp(p, b)
        >>> ab = sum(float(np.sum(a[k] * Hb[k])) for k in "WV")
        >>> ba = sum(float(np.sum(b[k] * Ha[k])) for k in "WV")
        >>> abs(ab - ba) < 1e-12
        True
        >>> gauge = m.hvp(p, {"W": np.outer(np.ones(6), rng.standard_normal(6))})
        >>> float(np.abs(gauge["W"]).max()) < 1e-15
        True
        """
        p = self._check(params)
        if not isinstance(v, Mapping) or not set(v) <= {"W", "V"} or not v:
            raise ValueError("v must be a dict with keys among 'W', 'V'")
        W, V = p["W"], p["V"]
        zero = np.zeros((self.L, self.L))
        pW = np.asarray(v.get("W", zero))
        pV = np.asarray(v.get("V", zero))
        f = self._forward_tok(W, V)
        h, H, F = f["h"], f["H"], f["F"]
        tok, arE, w = self._tok, self._arE, self.table.w
        Gz = (F - self._Yt) * w
        Gh = (V.T @ Gz)[tok, arE]
        hGh = (h * Gh).sum(axis=0)
        # forward (R) pass: directional derivatives of u, h, z, F, G_z
        du = pW[tok, self.table.q]
        dh = h * (du - (h * du).sum(axis=0))
        dH = self._scatter(self._scatter_h, dh, H.shape)
        dz = V @ dH + pV @ H
        dF = F * (dz - (F * dz).sum(axis=0))
        dGz = dF * w
        # the reverse pass, differentiated
        out = {}
        if "V" in v:
            out["V"] = dGz @ H.T + Gz @ dH.T
        if "W" in v:
            dGh = (V.T @ dGz + pV.T @ Gz)[tok, arE]
            dGu = dh * (Gh - hGh) + h * (dGh - (dh * Gh).sum(axis=0) - (h * dGh).sum(axis=0))
            out["W"] = self._scatter(self._scatter_w, dGu, (self.L, self.L))
        return {k: out[k] for k in v}

    def _hvp_flat(self, params: Mapping[str, np.ndarray], names: tuple[str, ...]):
        """The HVP as a map of flat vectors over the blocks ``names`` (ordered W, V)."""
        n2 = self.L * self.L

        def matvec(x: np.ndarray) -> np.ndarray:
            x = np.ravel(x)
            d = {nm: x[i * n2 : (i + 1) * n2].reshape(self.L, self.L) for i, nm in enumerate(names)}
            hv = self.hvp(params, d)
            return np.concatenate([hv[nm].ravel() for nm in names])

        return matvec

    def _names(self, trainable: Sequence[str] | None) -> tuple[str, ...]:
        names = self.trainable if trainable is None else tuple(trainable)
        if not names or not set(names) <= {"W", "V"}:
            raise ValueError(f"trainable must name 'W' and/or 'V', got {trainable!r}")
        return tuple(x for x in ("W", "V") if x in names)

    def hessian(
        self, params: Mapping[str, np.ndarray], trainable: Sequence[str] | None = None
    ) -> np.ndarray:
        """Dense Hessian over the ``trainable`` blocks (default :attr:`trainable`), from HVPs.

        Ordering: blocks ``W`` then ``V``, each raveled row-major.  Costs one HVP per
        coordinate: for small L only.

        Parameters
        ----------
        params : dict
            The point ``{"W": (L, L), "V": (L, L)}``.
        trainable : sequence of str, optional
            Blocks to include (``"W"`` and/or ``"V"``); default :attr:`trainable`.

        Returns
        -------
        ndarray, shape (kL², kL²)
            The Hessian, ``k`` the number of blocks.

        Examples
        --------
        The gauge gives ``2L`` zero eigenvalues over (W, V):

        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2, train=("W", "V"))
        >>> rng = np.random.default_rng(0)
        >>> p = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> H = m.hessian(p)
        >>> H.shape, bool(np.allclose(H, H.T, atol=1e-15))
        ((72, 72), True)
        >>> ev = np.linalg.eigvalsh(H)
        >>> int(np.sum(np.abs(ev) < 1e-9 * np.abs(ev).max()))
        12
        """
        names = self._names(trainable)
        matvec = self._hvp_flat(params, names)
        eye = np.eye(len(names) * self.L * self.L)
        return np.stack([matvec(e) for e in eye], axis=1)

    def lam_max(
        self,
        params: Mapping[str, np.ndarray],
        trainable: Sequence[str] | None = None,
        method: str = "eigsh",
    ) -> float:
        """Largest Hessian eigenvalue over the trainable blocks (§4.3, §8 #9).

        ``method="eigsh"`` (default): Lanczos (``scipy.sparse.linalg.eigsh``, ``which="LA"``)
        on the exact HVP, converged to 1e-10.  ``method="power"``: the engine's
        :func:`gradflow.descent.sharpness` (the name is historical: the engine's estimate was
        power iteration at first; it is now Lanczos as well, with tolerance 1e-8).

        Parameters
        ----------
        params : dict
            The point ``{"W": (L, L), "V": (L, L)}``.
        trainable : sequence of str, optional
            Blocks to include; default :attr:`trainable`.
        method : {"eigsh", "power"}
            Lanczos here (default) or the engine's :func:`gradflow.descent.sharpness`.

        Returns
        -------
        float
            ``λ_max``; Theorem 2 takes ``η ≤ 1/λ_max``.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(6, 3, 2, train=("W", "V"))
        >>> rng = np.random.default_rng(0)
        >>> p = {"W": rng.standard_normal((6, 6)), "V": rng.standard_normal((6, 6))}
        >>> lam = m.lam_max(p)
        >>> bool(abs(lam - np.linalg.eigvalsh(m.hessian(p)).max()) < 1e-9 * lam)
        True
        """
        names = self._names(trainable)
        if method == "power":
            from gradflow.descent import sharpness

            return float(sharpness(self, params, trainable=names))
        if method != "eigsh":
            raise ValueError(f"method must be 'eigsh' or 'power', got {method!r}")
        from scipy.sparse.linalg import LinearOperator, eigsh

        size = len(names) * self.L * self.L
        op = LinearOperator((size, size), matvec=self._hvp_flat(params, names), dtype=float)
        v0 = np.ones(size)
        return float(eigsh(op, k=1, which="LA", v0=v0, tol=1e-10, return_eigenvectors=False)[0])

    # --- observables (§7, §8) ---------------------------------------------------------------
    def logits(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-example logits ``z = Vh``, shape (L, E) (one column per example).

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        ndarray, shape (L, E)
            Column ``e``: the logits of example ``e`` over the L classes.

        Examples
        --------
        At Theorem 1's start the attention is uniform, ``h = 1/n`` on the present tokens,
        so the largest logit is ``c/n``:

        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2)
        >>> z = m.logits(m.init_params(None))
        >>> z.shape, bool(np.isclose(z.max(), m.c / 3))
        ((8, 168), True)
        """
        p = self._check(params)
        return self._forward_tok(p["W"], p["V"])["z"]

    def margins(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-example logit margin ``z_y − max_{k≠y} z_k`` (E,); > 0 means correct.

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        ndarray, shape (E,)
            The margins (real part).

        Examples
        --------
        At ``W = 0`` every present token ties (margin exactly 0).  A W that ranks each
        column's list, ``W[a_1, a] > … > W[a, a] > W[others, a]``, classifies every example:

        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2)
        >>> float(np.abs(m.margins(m.init_params(None))).max())
        0.0
        >>> W = np.zeros((8, 8))
        >>> for a, lst in enumerate(m.lists):
        ...     W[lst, a] = len(lst) - np.arange(len(lst))
        >>> bool(m.margins({"W": W, "V": m.c * m.P}).min() > 0)
        True
        """
        z = np.real(self.logits(params))
        zy = z[self.table.y, self._arE]
        return zy - np.where(self._Yt > 0, -np.inf, z).max(axis=0)

    def chain(self, W: np.ndarray, a: int | None = None) -> np.ndarray:
        """Priority chain of column ``a``: ``(W[a_1,a], …, W[a_m,a], mean of the others)``.

        Parameters
        ----------
        W : ndarray, shape (L, L)
            Attention weights.
        a : int, optional
            Query token; default :attr:`chain_token`.

        Returns
        -------
        ndarray, shape (m_a + 1,)
            The list entries of column ``a`` in list order, then the mean over the rest.

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2)
        >>> W = np.zeros((8, 8))
        >>> W[m.lists[0], 0] = [2.0, 1.0]  # W[a_1, 0] = 2, W[0, 0] = 1
        >>> m.chain(W, 0).tolist()
        [2.0, 1.0, 0.0]
        """
        a = self.chain_token if a is None else a
        lst = self.lists[a]
        others = np.setdiff1d(np.arange(self.L), lst)
        return np.concatenate([W[lst, a], [W[others, a].mean()]])

    def attention(self, params: Mapping[str, np.ndarray], seqs: np.ndarray) -> np.ndarray:
        """Attention matrices ``A = σ(XᵀWX)`` (k, n, n) for sequences ``seqs`` (k, n).

        Parameters
        ----------
        params : dict
            Holds ``"W"`` (L, L); other keys are ignored.
        seqs : ndarray of int, shape (k, n)
            Token sequences.

        Returns
        -------
        ndarray, shape (k, n, n)
            ``A[i, j]``: attention of query position j on key position i (columns sum to 1).

        Examples
        --------
        >>> import numpy as np
        >>> m = DecisionList(8, 3, 2)
        >>> W = np.zeros((8, 8))
        >>> W[1, 0] = np.log(2.0)  # query token 0 attends twice as much to token 1
        >>> m.attention({"W": W}, np.array([[0, 1, 2]]))[0][:, 0].tolist()
        [0.25, 0.5, 0.25]
        """
        W = np.asarray(params["W"])
        S = W[seqs[:, :, None], seqs[:, None, :]]  # S[i, j] = W[s_i, s_j]
        S = S - S.max(axis=1, keepdims=True)
        A = np.exp(S)
        return A / A.sum(axis=1, keepdims=True)

    def cos_dV_Pc(self, V: np.ndarray) -> float:
        """``cos(V − V_ref, P_c)`` with ``P_c = P − 11ᵀ/L`` (§8 #11); 0 while ΔV = 0.

        Parameters
        ----------
        V : ndarray, shape (L, L)
            Value matrix.

        Returns
        -------
        float
            The cosine of ``ΔV = V − V_ref`` with ``P_c``.

        Examples
        --------
        Before :meth:`init_params` the reference is 0.  The gauge keeps column sums fixed,
        so the raw P can reach at most ``√(1 − 1/L)``:

        >>> import math
        >>> m = DecisionList(8, 3, 2, train=("V",))
        >>> round(m.cos_dV_Pc(m.Pc), 12), round(m.cos_dV_Pc(m.P), 6), round(math.sqrt(7 / 8), 6)
        (1.0, 0.935414, 0.935414)
        """
        dV = np.asarray(V) - self.V_ref
        nrm = np.linalg.norm(dV) * np.linalg.norm(self.Pc)
        return float(np.sum(dV * self.Pc) / nrm) if nrm > 0 else 0.0

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """What the theorems track.

        ``margins`` (E,), ``min_margin``, ``accuracy`` (weighted fraction of examples with
        margin > 0), ``perfect`` (1.0 iff every margin > 1e-12, §8 #4), ``chain`` (M+1,) of
        :attr:`chain_token`; when V trains: ``cos_dV_Pc``, ``diag_PtV`` (mean of
        ``diag(PᵀV)``) and ``offP_max`` (largest entry of V off the support of P); with
        ``track_sharpness``: ``lambda_max``.

        Parameters
        ----------
        params : dict
            ``{"W": (L, L), "V": (L, L)}``.

        Returns
        -------
        dict
            The observables named above.

        Examples
        --------
        >>> m = DecisionList(8, 3, 2)
        >>> obs = m.observables(m.init_params(None))
        >>> sorted(obs)
        ['accuracy', 'chain', 'margins', 'min_margin', 'perfect']
        >>> obs["min_margin"], obs["perfect"]  # W = 0: every present token ties
        (0.0, 0.0)
        """
        p = self._check(params)
        W, V = np.real(p["W"]), np.real(p["V"])
        mg = self.margins({"W": W, "V": V})
        out: dict[str, Any] = {
            "margins": mg,
            "min_margin": float(mg.min()),
            "accuracy": float(np.sum(self.table.w * (mg > 0))),
            "perfect": float(mg.min() > MARGIN_THRESHOLD),
            "chain": self.chain(W),
        }
        if "V" in self.trainable:
            out["cos_dV_Pc"] = self.cos_dV_Pc(V)
            out["diag_PtV"] = float(np.mean(V[self.perm, np.arange(self.L)]))
            out["offP_max"] = float(np.max(np.where(self.P > 0, -np.inf, V)))
        if self.track_sharpness:
            out["lambda_max"] = self.lam_max({"W": W, "V": V})
        return out

    def perfect_event(self, terminal: bool = True):
        """Event ``g(t, params) = min margin − 1e-12`` (direction +1) for ``integrate_flow``.

        At W = 0 the margin is exactly 0, so the threshold is 1e-12 (spec §6.1).

        Parameters
        ----------
        terminal : bool
            Stop the integration at the event.

        Returns
        -------
        callable
            ``perfect(t, params) -> float`` with attributes ``terminal``, ``direction = 1``
            and ``name = "perfect"``.

        Examples
        --------
        Theorem 1's flow at L=8, n=3, M=2 is perfect long before its bound:

        >>> import gradflow as gf
        >>> m = DecisionList(8, 3, 2)
        >>> traj = gf.integrate_flow(m, m.init_params(None), (0, 1.0), method="DOP853",
        ...                          rtol=1e-10, atol=1e-12, events=[m.perfect_event()],
        ...                          observables=False)
        >>> round(traj.event_time("perfect"), 6), round(m.bound_theorem1, 2)
        (0.012379, 13.47)
        """

        def perfect(t: float, params: Mapping[str, np.ndarray]) -> float:
            return float(self.margins(params).min()) - MARGIN_THRESHOLD

        perfect.terminal = terminal
        perfect.direction = 1
        perfect.name = "perfect"
        return perfect
