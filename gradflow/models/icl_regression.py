"""In-context linear regression with one softmax-attention layer.

Huang, Cheng, Liang, *In-context Convergence of Transformers*, ICML 2024
(arXiv 2310.05249).  Spec: ``shared/specs/icl_convergence.md``; derivations:
``docs/models/icl_regression.md``.

The model (spec §2-§3).  Features ``v_1..v_K`` are orthonormal vectors of R^d (the rows
of ``Vf``).  A prompt holds N tokens ``x_i`` and a query ``x_q``, each drawn from the
features with probabilities ``p``; a task ``w ~ N(0, I_d)`` labels them ``y_i = <w, x_i>``.
One softmax-attention layer with merged key-query matrix ``Q`` (d x d, the only trained
weight, zero at initialisation) predicts

    s_i = x_iᵀ Q x_q,   a = softmax(s),   ŷ = Σ_i a_i y_i,

and the loss is ``L(Q) = ½ E (ŷ − <w, x_q>)²``.

Everything the theory tracks lives in the K x K matrix ``S = Vf Q Vfᵀ``
(``S[m, k] = v_mᵀ Q v_k``; the paper's ``A_k = S[k, k]`` and ``B_{k,n} = S[n, k]``).
Column k of S is what a query ``v_k`` sees; columns evolve independently (spec §6.1).

Three ways to evaluate the loss (the constructor's ``population``):

``"exact"``
    the population loss with ``w`` integrated out (spec §4.2) and the expectation over the
    token counts ``c ~ Multinomial(N, p)`` taken by enumerating all ``C(N+K-1, K-1)`` count
    vectors (spec §5.3).  Small K and N only.
``"mean_field"``
    the counts replaced by their means ``N p`` (spec §6.1b): drops the O(1/N) variance.
``"empirical"``
    the training loss on M sampled prompts (spec §4.3, §5.1), as in the paper's Adam
    experiment.  The sample is exposed as ``model.X``, ``model.y``, ``model.x_query``,
    ``model.y_query``.

The reduced dynamics of spec §6 (a 1-D ODE for a column whose off-target features are
exchangeable, a 2-D ODE for an under-represented query) are the classes
:class:`SymmetricColumn` and :class:`UnderrepresentedColumn`.  They are plain ODE
right-hand sides integrated with :func:`scipy.integrate.solve_ivp`, not
:class:`gradflow.Model` subclasses: the reduced flow is the full gradient flow restricted
to a symmetric subspace, which in the coordinates ``(A_k, B_{k,1})`` is a gradient flow in
a non-Euclidean metric, not ``dθ/dt = −∇L̃(θ)``.  Their exact expectations use the
binomial and trinomial sums of spec §6.2-6.3.  :func:`mean_field_time` is the closed-form
time ``t(u)`` of the mean-field flow of a symmetric column.

Choices where the paper could not be read (spec §8), each a parameter:

* A1 ``include_query=False``: the query does not attend to itself (the softmax runs over
  the N prompt tokens).  ``True`` adds the query as a key with value 0.
* A3 ``B_{k,n} = v_nᵀ Q v_k`` (query feature first).
* A4 the paper analyses gradient descent; gradient flow time is ``t = η · iterations``.
* A5/A6 balanced ``p_k = 1/K``; imbalanced ``p_1 = 1/2`` (see :func:`imbalanced_p`).
* §4.3 the empirical loss is normalised as ``1/(2M) Σ_j r_j²``.
* §7.6 the Adam experiment (:meth:`ICLRegression.paper`): random orthonormal features,
  d = 20, K = 5, N = 30, M = 300; PyTorch-default Adam with lr 0.002 for 400 steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import gammaln

from gradflow.model import Model
from gradflow.params import validate_params

__all__ = [
    "ICLRegression",
    "PAPER_ADAM",
    "SymmetricColumn",
    "UnderrepresentedColumn",
    "ReducedSolution",
    "attention_column_loss",
    "imbalanced_p",
    "mean_field_time",
    "phase1_time",
    "time_to_feature_loss",
]

CITATION = (
    "Yu Huang, Yuan Cheng, Yingbin Liang. In-context Convergence of Transformers. "
    "ICML 2024 (arXiv 2310.05249)."
)

#: Largest number of count vectors x K^2 the exact enumeration builds (memory ~ 8 arrays of it).
MAX_ENUMERATION = 4_000_000

#: The Adam experiment of spec §7.6 (paper: M = 300 prompts, 400 full-batch epochs, lr 0.002).
PAPER_ADAM = {"lr": 0.002, "steps": 400}


# --------------------------------------------------------------------------------------
# The shared primitive: loss of one query column and its gradient (spec §5.3)
# --------------------------------------------------------------------------------------
def attention_column_loss(
    S: np.ndarray,
    counts: np.ndarray,
    counts_sq: np.ndarray,
    target: np.ndarray,
    include_query: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query loss ``ℓ_k`` and ``∂ℓ_k/∂S[·, k]`` for every count vector (spec §5.3).

    The keys of a prompt are grouped: group ``g`` holds ``counts[i, g]`` tokens, all with
    score ``S[g, k]`` under query column ``k``.  A group is a single feature (the full
    model) or several exchangeable features (the reduced ODEs), in which case
    ``counts_sq[i, g] = E[Σ_{m in g} c_m² | counts]``; for a single feature it is
    ``counts[i, g]**2``.  Row ``target[k]`` of column ``k`` is the query's own feature.

    Forward, for one column (the ``w``-integrated loss of spec §4.2)::

        w_g     = counts_g e^{S_g}            Z = Σ_g w_g  (+ e^{S_target} if include_query)
        attn_g  = w_g / Z                     T_g = counts_sq_g e^{2 S_g} / Z²
        Σ2      = Σ_g T_g                     (= E Σ_m attn_m², the attention's square mass)
        ℓ       = ½ (1 − 2 attn_t + Σ2)       (= ½[(1 − attn_t)² + Σ_{m≠t} attn_m²])

    Backward (``∂attn_g/∂S_h = attn_g(δ_gh − attn_h)``, ``∂T_g/∂S_h = 2T_g(δ_gh − attn_h)``)::

        ∂ℓ/∂S_h = T_h − attn_h (Σ2 − attn_t) − δ_{h,t} attn_t − δ_{h,t} α_q (Σ2 − attn_t)

    with ``α_q = e^{S_target}/Z`` the query's self-attention (0 when it is excluded).
    Single-feature groups give the spec's ``∂ℓ/∂A_k = −2 attn_k ℓ`` and
    ``∂ℓ/∂B_{k,n} = attn_n(attn_n + attn_k − Σ2)``.  The derivatives of a column sum to 0
    (softmax is shift-invariant).

    Parameters
    ----------
    S : ndarray, shape (G, K)
        Scores: ``S[g, k]`` is the score of group ``g`` for query column ``k``.  May be
        complex (complex-step differentiation): the softmax shift uses the real part.
    counts, counts_sq : ndarray, shape (n, G)
        Group counts and the expected sum of squared feature counts of each group, for
        ``n`` count vectors.
    target : ndarray of int, shape (K,)
        The row of each column's own feature.
    include_query : bool
        The query attends to itself (spec §8 A1).

    Returns
    -------
    loss : ndarray, shape (n, K)
        ``ℓ_k`` per count vector and column.
    dloss : ndarray, shape (n, G, K)
        ``∂ℓ_k/∂S[g, k]``.
    attn : ndarray, shape (n, G, K)
        Attention mass of each group.

    Examples
    --------
    One column at ``S = 0`` with counts ``(2, 1, 1)`` and the target in row 0: the
    attention is the count share, ``ℓ = ½[(1 − ½)² + ¼² + ¼²]``, the target derivative is
    ``−2 attn_k ℓ`` and the column of derivatives sums to zero.

    >>> import numpy as np
    >>> counts = np.array([[2.0, 1.0, 1.0]])
    >>> S, target = np.zeros((3, 1)), np.array([0])
    >>> loss, dloss, attn = attention_column_loss(S, counts, counts**2, target)
    >>> attn[0, :, 0].tolist(), float(loss[0, 0])
    ([0.5, 0.25, 0.25], 0.1875)
    >>> dloss[0, :, 0].tolist()          # [−2·½·0.1875, ¼(¼ + ½ − 0.375), same]
    [-0.1875, 0.09375, 0.09375]
    >>> abs(float(dloss.sum())) < 1e-15
    True
    """
    cols = np.arange(S.shape[1])
    shift = S.real.max(axis=0)  # per column; softmax is shift-invariant
    e = np.exp(S - shift)  # (G, K)
    s_t = S[target, cols] - shift
    w = counts[:, :, None] * e[None]  # (n, G, K)
    Z = w.sum(axis=1)  # (n, K)
    if include_query:
        Z = Z + np.exp(s_t)[None]
    attn = w / Z[:, None, :]
    T = counts_sq[:, :, None] * (e * e)[None] / (Z * Z)[:, None, :]
    sigma2 = T.sum(axis=1)  # (n, K)
    attn_t = attn[:, target, cols]  # (n, K)
    loss = 0.5 * (1.0 - 2.0 * attn_t + sigma2)
    # backward, same names
    excess = sigma2 - attn_t
    dloss = T - attn * excess[:, None, :]
    diag = -attn_t
    if include_query:
        alpha_q = np.exp(s_t)[None] / Z
        diag = diag - alpha_q * excess
    dloss[:, target, cols] += diag
    return loss, dloss, attn


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
def imbalanced_p(K: int, p1: float = 0.5) -> np.ndarray:
    """Feature probabilities with one dominant feature (spec §2, §8 A6).

    ``p_1 = p1`` and ``p_k = (1 − p1)/(K − 1)`` for ``k ≥ 2``.

    Parameters
    ----------
    K : int
        Number of features (``K ≥ 2``).
    p1 : float
        Probability of the dominant feature ``v_1``, in (0, 1); default 1/2 (spec A6).

    Returns
    -------
    ndarray, shape (K,)
        ``(p1, (1 − p1)/(K − 1), ..., (1 − p1)/(K − 1))``, summing to 1.

    Examples
    --------
    >>> imbalanced_p(3, 0.5).tolist()
    [0.5, 0.25, 0.25]
    >>> float(imbalanced_p(10).sum())
    1.0
    """
    K = _check_int(K, "K", 2)
    if not 0.0 < float(p1) < 1.0:
        raise ValueError(f"p1 must lie in (0, 1), got {p1!r}")
    return np.array([float(p1)] + [(1.0 - float(p1)) / (K - 1)] * (K - 1))


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_p(p: Any, K: int) -> np.ndarray:
    if p is None:
        return np.full(K, 1.0 / K)
    arr = np.asarray(p, dtype=float)
    if arr.shape != (K,):
        raise ValueError(f"p must have shape ({K},) (one probability per feature), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"p must hold positive probabilities, got {arr.tolist()}")
    if abs(arr.sum() - 1.0) > 1e-10:
        raise ValueError(f"p must sum to 1, got sum {arr.sum()!r}")
    return arr


def _compositions(N: int, K: int) -> np.ndarray:
    """All count vectors ``c ∈ N^K`` with ``Σ c = N`` (stars and bars), shape (n, K)."""
    bars = np.array(list(combinations(range(N + K - 1), K - 1)), dtype=np.int64)
    bars = bars.reshape(-1, K - 1)
    edges = np.concatenate(
        [np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), N + K - 1)], axis=1
    )
    return np.diff(edges, axis=1) - 1


def _multinomial_pmf(counts: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Multinomial probabilities of the rows of ``counts`` (float array, any group sizes)."""
    N = counts.sum(axis=1)
    log = gammaln(N + 1) - gammaln(counts + 1).sum(axis=1) + (counts * np.log(p)).sum(axis=1)
    return np.exp(log)


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
class ICLRegression(Model):
    """One softmax-attention layer trained on in-context linear regression (Huang et al. 2024).

    Parameters
    ----------
    K : int
        Number of orthonormal features (``K ≥ 2``).
    N : int
        Prompt length (tokens besides the query).
    p : array_like of shape (K,), optional
        Feature probabilities; ``None`` is balanced, ``p_k = 1/K``.  See
        :func:`imbalanced_p` for the imbalanced setting.
    d : int, optional
        Ambient dimension (``d ≥ K``); default ``K``.
    features : {"basis", "random"}
        ``v_k = e_k``, or the first K columns of the QR factor of a d x K Gaussian matrix.
        GD and gradient flow are invariant under this choice; Adam is not (spec §7.6).
    population : {"exact", "mean_field", "empirical"}
        Which loss (see the module docstring).  ``"exact"`` enumerates
        ``C(N+K-1, K-1)`` count vectors and refuses sizes above :data:`MAX_ENUMERATION`.
    M : int
        Number of training prompts in empirical mode (the paper: 300).
    include_query : bool
        The query token attends to itself (spec §8 A1; default False, the recommended
        resolution: otherwise the error has a floor of about ``½ E[1/(c_k+1)²]``).
    seed : int
        Seed of the features (random mode) and of the sampled prompts.
    M_test : int
        Size of the fresh test set of empirical mode, on which the ``test_*`` observables
        are measured (spec §7.6: 5000).

    Attributes
    ----------
    Vf : ndarray, shape (K, d)
        The features as rows.
    p : ndarray, shape (K,)
        The feature probabilities.
    X, y, x_query, y_query, w : ndarray
        Empirical mode only: tokens (M, N, d), labels (M, N), queries (M, d), targets (M,)
        and tasks (M, d).  ``token_ids`` (M, N) and ``query_ids`` (M,) are the feature
        indices.

    Notes
    -----
    The paper's theorems are about **gradient descent** with step size η
    (``dynamics = "gradient descent"``); :func:`gradflow.gradient_descent` with ``lr = η``
    records step ``k`` at flow time ``t = ηk``, and gradient flow is its η → 0 limit.

    Observables (population modes: expectations over the counts; empirical mode: averages
    over the training prompts whose query is ``v_k``):

    ``S`` (K, K)
        ``S[m, k] = v_mᵀ Q v_k``.
    ``attn`` (K, K)
        ``attn[m, k]``: attention mass on feature m for query feature k (spec §3).
    ``attn_target`` (K,)
        ``attn[k, k]``.
    ``feature_loss`` (K,)
        ``L_k = ½ E[(ŷ − y_q)² | x_q = v_k]``.
    ``A`` (K,), ``B`` (K, K)
        ``A_k = S[k, k]``; ``B[k, n] = S[n, k]`` for ``n ≠ k`` (query index first,
        spec §8 A3), ``B[k, k] = 0``.
    ``column_sum`` (K,)
        ``A_k + Σ_n B_{k,n}``: conserved, 0 from zero initialisation (spec §6.1).
    ``test_attn``, ``test_feature_loss``
        Empirical mode: the same on ``M_test`` fresh prompts.

    Examples
    --------
    >>> import numpy as np
    >>> m = ICLRegression(K=3, N=4)
    >>> Q0 = m.init_params(np.random.default_rng(0))
    >>> round(m.loss(Q0), 6)        # spec §4.2: L(0) = ½ Σ p_k[(1−p_k)² + Σ p_m² + ...]
    0.416667
    """

    name = "icl"
    citation = CITATION
    dynamics = "gradient descent"
    complex_safe = True
    trainable = ("Q",)

    def __init__(
        self,
        K: int,
        N: int,
        p: Sequence[float] | np.ndarray | None = None,
        d: int | None = None,
        features: str = "basis",
        population: str = "exact",
        M: int = 300,
        include_query: bool = False,
        seed: int = 0,
        M_test: int = 5000,
    ) -> None:
        self.K = _check_int(K, "K", 2)
        self.N = _check_int(N, "N", 1)
        self.p = _check_p(p, self.K)
        self.d = self.K if d is None else _check_int(d, "d", self.K)
        if features not in ("basis", "random"):
            raise ValueError(f"features must be 'basis' or 'random', got {features!r}")
        if population not in ("exact", "mean_field", "empirical"):
            raise ValueError(
                f"population must be 'exact', 'mean_field' or 'empirical', got {population!r}"
            )
        if not isinstance(include_query, (bool, np.bool_)):
            raise TypeError(f"include_query must be a bool, got {type(include_query).__name__}")
        self.features = features
        self.population = population
        self.M = _check_int(M, "M", 1)
        self.M_test = _check_int(M_test, "M_test", 1)
        self.include_query = bool(include_query)
        self.seed = _check_int(seed, "seed", 0)
        self.balanced = p is None
        rng = np.random.default_rng(self.seed)
        if features == "basis":
            self.Vf = np.eye(self.K, self.d)
        else:
            q_factor, _ = np.linalg.qr(rng.standard_normal((self.d, self.K)))
            self.Vf = np.ascontiguousarray(q_factor[:, : self.K].T)
        self._target = np.arange(self.K)
        if population == "exact":
            n_comp = math.comb(self.N + self.K - 1, self.K - 1)
            if n_comp * self.K**2 > MAX_ENUMERATION:
                raise ValueError(
                    f"population='exact' would enumerate C(N+K-1, K-1) = {n_comp} count "
                    f"vectors for K={self.K}, N={self.N} (limit {MAX_ENUMERATION} / K²); use "
                    "population='mean_field', or SymmetricColumn / UnderrepresentedColumn "
                    "(exact binomial / trinomial sums) for symmetric classes"
                )
            counts = _compositions(self.N, self.K).astype(float)
            self._grid = counts
            self._grid_sq = counts**2
            self._grid_w = _multinomial_pmf(counts, self.p)
        elif population == "mean_field":
            self._grid = (self.N * self.p)[None]
            self._grid_sq = self._grid**2
            self._grid_w = np.ones(1)
        else:
            self._sample_into(rng, self.M, prefix="")
            self._sample_into(np.random.default_rng([self.seed, 1]), self.M_test, "test_")

    # --- data sampler (spec §2) ----------------------------------------------------
    def sample(self, rng: np.random.Generator, M: int) -> dict[str, np.ndarray]:
        """Draw ``M`` prompts: tokens, labels, queries, targets, tasks (spec §2).

        Tokens and queries are features drawn i.i.d. with probabilities ``p``; each prompt
        has its own task ``w ~ N(0, I_d)``, and the labels are ``y_i = <w, x_i>``,
        ``y_q = <w, x_q>``.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the draws.
        M : int
            Number of prompts.

        Returns
        -------
        dict
            ``X`` (M, N, d), ``y`` (M, N), ``x_query`` (M, d), ``y_query`` (M,),
            ``w`` (M, d), ``token_ids`` (M, N), ``query_ids`` (M,).

        Examples
        --------
        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=4, d=5, features="random")
        >>> batch = m.sample(np.random.default_rng(0), 2)
        >>> batch["X"].shape, batch["y"].shape, batch["x_query"].shape
        ((2, 4, 5), (2, 4), (2, 5))
        >>> bool(np.allclose(batch["y"], np.einsum("mnd,md->mn", batch["X"], batch["w"])))
        True
        >>> bool(np.allclose(batch["X"], m.Vf[batch["token_ids"]]))   # tokens are features
        True
        """
        M = _check_int(M, "M", 1)
        token_ids = rng.choice(self.K, size=(M, self.N), p=self.p)
        query_ids = rng.choice(self.K, size=M, p=self.p)
        w = rng.standard_normal((M, self.d))
        X = self.Vf[token_ids]
        x_query = self.Vf[query_ids]
        return {
            "X": X,
            "y": np.einsum("mnd,md->mn", X, w),
            "x_query": x_query,
            "y_query": np.einsum("md,md->m", x_query, w),
            "w": w,
            "token_ids": token_ids,
            "query_ids": query_ids,
        }

    def _sample_into(self, rng: np.random.Generator, M: int, prefix: str) -> None:
        for key, value in self.sample(rng, M).items():
            setattr(self, prefix + key, value)
        ids = getattr(self, prefix + "token_ids")
        setattr(self, prefix + "_token_onehot", np.eye(self.K)[ids])  # (M, N, K)
        setattr(self, prefix + "_query_onehot", np.eye(self.K)[getattr(self, prefix + "query_ids")])

    # --- construction helpers ------------------------------------------------------
    @classmethod
    def paper(cls, imbalanced: bool = False, **overrides: Any) -> ICLRegression:
        """The configuration recommended for the paper's Adam experiment (spec §7.6).

        Random orthonormal features, d = 20, K = 5, N = 30, M = 300 training prompts,
        empirical loss; balanced, or with ``p = (0.6, 0.1, 0.1, 0.1, 0.1)`` when
        ``imbalanced``.  The paper's d, K, N and p are unknown (spec §8 A8).  Train with
        ``gf.adam(model, Q0, **PAPER_ADAM)`` (lr 0.002, 400 steps).

        Parameters
        ----------
        imbalanced : bool
            Use ``p = (0.6, 0.1, 0.1, 0.1, 0.1)`` instead of the balanced ``p_k = 1/5``.
        **overrides
            Constructor arguments that replace the defaults above (e.g. ``M=50``).

        Returns
        -------
        ICLRegression
            The model, with its M training and ``M_test`` test prompts already drawn.

        Examples
        --------
        >>> m = ICLRegression.paper(M=50, M_test=100)
        >>> m.K, m.N, m.d, m.features, m.population, m.X.shape
        (5, 30, 20, 'random', 'empirical', (50, 30, 20))
        >>> ICLRegression.paper(imbalanced=True, M=10, M_test=10).p.tolist()
        [0.6, 0.1, 0.1, 0.1, 0.1]
        """
        config: dict[str, Any] = {
            "K": 5,
            "N": 30,
            "d": 20,
            "features": "random",
            "population": "empirical",
            "M": 300,
        }
        if imbalanced:
            config["p"] = [0.6, 0.1, 0.1, 0.1, 0.1]
        config.update(overrides)
        return cls(**config)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable).

        Returns
        -------
        dict
            ``K``, ``N``, ``p`` (None when balanced), ``d``, ``features``, ``population``,
            ``M``, ``include_query``, ``seed``, ``M_test``: ``ICLRegression(**config)``
            rebuilds the same model.

        Examples
        --------
        >>> m = ICLRegression(K=3, N=4, p=[0.5, 0.25, 0.25], population="mean_field")
        >>> m.config()["p"], ICLRegression(**m.config()).config() == m.config()
        ([0.5, 0.25, 0.25], True)
        """
        return {
            "K": self.K,
            "N": self.N,
            "p": None if self.balanced else self.p.tolist(),
            "d": self.d,
            "features": self.features,
            "population": self.population,
            "M": self.M,
            "include_query": self.include_query,
            "seed": self.seed,
            "M_test": self.M_test,
        }

    def init_params(self, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """``Q = 0`` (spec §3): every score is 0, so the attention is uniform.

        Parameters
        ----------
        rng : numpy.random.Generator, optional
            Unused: the initialisation is deterministic (accepted for the Model contract).

        Returns
        -------
        dict
            ``{"Q": zeros((d, d))}``.

        Examples
        --------
        >>> m = ICLRegression(K=3, N=4, d=5)
        >>> Q0 = m.init_params()
        >>> Q0["Q"].shape, float(abs(Q0["Q"]).max())
        ((5, 5), 0.0)
        """
        return {"Q": np.zeros((self.d, self.d))}

    def _Q(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        checked = validate_params(params, {"Q": (self.d, self.d)}, allow_complex=True)
        return checked["Q"]

    # --- population loss in feature space (spec §4.2, §5.3) -------------------------
    def S_of(self, Q: np.ndarray) -> np.ndarray:
        """The feature-space weights ``S = Vf Q Vfᵀ``, ``S[m, k] = v_mᵀ Q v_k`` (spec §3).

        Parameters
        ----------
        Q : ndarray, shape (d, d)
            Merged key-query matrix.

        Returns
        -------
        ndarray, shape (K, K)
            ``S``; column ``k`` holds the scores a query ``v_k`` gives each feature.

        Examples
        --------
        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=4, d=5, features="random")
        >>> Q = np.arange(25.0).reshape(5, 5)
        >>> S = m.S_of(Q)
        >>> S.shape, bool(np.isclose(S[2, 0], m.Vf[2] @ Q @ m.Vf[0]))
        ((3, 3), True)
        """
        return self.Vf @ Q @ self.Vf.T

    def population_S(self, S: np.ndarray) -> tuple[complex | float, np.ndarray, dict]:
        """Population loss ``L(S) = Σ_k p_k E_c[ℓ_k]`` and ``∇_S L`` (spec §5.3).

        Uses the counts of this model's mode: all count vectors with their multinomial
        weights for ``"exact"``, the mean ``N p`` for ``"mean_field"``; empirical models
        use the mean field here.  Each column goes through :func:`attention_column_loss`.

        Parameters
        ----------
        S : ndarray, shape (K, K)
            Feature-space weights (see :meth:`S_of`); may be complex (complex step).

        Returns
        -------
        L : float
        dS : ndarray, shape (K, K)
            ``∂L/∂S[n, k] = p_k E_c[∂ℓ_k/∂S[n, k]]``.
        aux : dict
            ``feature_loss`` (K,) and ``attn`` (K, K), the count-expectations.

        Examples
        --------
        At ``S = 0`` the mean-field attention is ``p`` and, balanced with K = 3, the loss is
        ``½[(1 − ⅓)² + 2·(⅓)²] = ⅓``; every column of ``∇_S L`` sums to zero (spec §6.1).

        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=30, population="mean_field")
        >>> L, dS, aux = m.population_S(np.zeros((3, 3)))
        >>> round(float(L), 12), aux["attn"][0].round(4).tolist()
        (0.333333333333, [0.3333, 0.3333, 0.3333])
        >>> bool(np.all(np.diag(dS) < 0)), bool(np.allclose(dS.sum(axis=0), 0))
        (True, True)
        """
        counts, counts_sq, weights = self._population_counts()
        loss, dloss, attn = attention_column_loss(
            S, counts, counts_sq, self._target, self.include_query
        )
        # expectations over the counts as einsum (no BLAS threads on this small contraction)
        feature_loss = np.einsum("i,ik->k", weights, loss)  # L_k = E_c[ℓ_k]
        L = self.p @ feature_loss
        dS = self.p[None, :] * np.einsum("i,igk->gk", weights, dloss)
        aux = {"feature_loss": feature_loss, "attn": np.einsum("i,igk->gk", weights, attn)}
        return L, dS, aux

    def _population_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.population != "empirical":
            return self._grid, self._grid_sq, self._grid_w
        mf = (self.N * self.p)[None]
        return mf, mf**2, np.ones(1)

    # --- empirical loss (spec §4.3, §5.1) -------------------------------------------
    def _empirical(
        self, Q: np.ndarray, prefix: str = ""
    ) -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
        X = getattr(self, prefix + "X")
        y = getattr(self, prefix + "y")
        xq = getattr(self, prefix + "x_query")
        yq = getattr(self, prefix + "y_query")
        M = len(yq)
        # forward: s_i = x_iᵀ Q x_q, a = softmax(s), ŷ = Σ a_i y_i, r = ŷ − y_q
        # einsum rather than BLAS matmul: these are many small products, and threaded BLAS
        # on a busy machine costs more than it saves
        Qxq = np.einsum("de,me->md", Q, xq)  # (M, d): Q x_q
        s = np.einsum("mnd,md->mn", X, Qxq)
        s_q = np.einsum("md,md->m", xq, Qxq)  # the query's own score (include_query)
        shift = s.real.max(axis=1)
        if self.include_query:
            shift = np.maximum(shift, s_q.real)
        e = np.exp(s - shift[:, None])
        Z = e.sum(axis=1)
        if self.include_query:
            Z = Z + np.exp(s_q - shift)
        a = e / Z[:, None]
        y_hat = np.einsum("mn,mn->m", a, y)
        r = y_hat - yq
        L = 0.5 * np.mean(r * r)
        # backward: ∂ℓ/∂s_i = r a_i (y_i − ŷ); the query key has value 0
        ds = (r[:, None] * a * (y - y_hat[:, None])) / M
        dQ = np.einsum("md,me->de", np.einsum("mn,mnd->md", ds, X), xq)  # Σ ∂ℓ/∂s_i x_i x_qᵀ
        if self.include_query:
            a_q = np.exp(s_q - shift) / Z
            ds_q = r * a_q * (0.0 - y_hat) / M
            dQ = dQ + np.einsum("md,me->de", ds_q[:, None] * xq, xq)
        return L, dQ, {"a": a, "r": r}

    # --- the contract ----------------------------------------------------------------
    def loss_and_grad(self, params: Mapping[str, np.ndarray]) -> tuple[float, dict[str, Any]]:
        """Loss and hand gradient ``∇_Q L`` (spec §5.1; population: ``Vfᵀ ∇_S L Vf``, §5.3).

        Parameters
        ----------
        params : dict
            ``{"Q": ndarray (d, d)}``, real or complex.

        Returns
        -------
        loss : float
            ``L(Q)`` (complex for a complex ``Q``).
        grads : dict
            ``{"Q": ∇_Q L}``, shape (d, d).

        Examples
        --------
        The gradient against a central difference, on random features:

        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=4, d=4, features="random", p=[0.5, 0.3, 0.2])
        >>> Q = np.random.default_rng(0).standard_normal((4, 4))
        >>> L, g = m.loss_and_grad({"Q": Q})
        >>> E = np.zeros((4, 4)); E[1, 2] = 1e-6
        >>> fd = (m.loss({"Q": Q + E}) - m.loss({"Q": Q - E})) / 2e-6
        >>> bool(abs(fd - g["Q"][1, 2]) < 1e-8)
        True
        """
        Q = self._Q(params)
        if self.population == "empirical":
            L, dQ, _ = self._empirical(Q)
        else:
            L, dS, _ = self.population_S(self.S_of(Q))
            dQ = self.Vf.T @ dS @ self.Vf
        return (float(L) if np.isrealobj(L) else L), {"Q": dQ}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """The loss (population or empirical, per ``population``; spec §4.2, §4.3).

        Parameters
        ----------
        params : dict
            ``{"Q": ndarray (d, d)}``.

        Returns
        -------
        float
            ``½ E (ŷ − y_q)²`` (population modes) or ``1/(2M) Σ_j r_j²`` (empirical).

        Examples
        --------
        Mean field at ``Q = 0``, balanced K = 3: ``½[(1 − ⅓)² + 2·(⅓)²] = ⅓``.

        >>> m = ICLRegression(K=3, N=30, population="mean_field")
        >>> round(m.loss(m.init_params()), 12)
        0.333333333333
        """
        return self.loss_and_grad(params)[0]

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient ``{"Q": ∇_Q L}`` (spec §5).

        Parameters
        ----------
        params : dict
            ``{"Q": ndarray (d, d)}``.

        Returns
        -------
        dict
            ``{"Q": ∇_Q L}``, shape (d, d).

        Examples
        --------
        At ``Q = 0`` in the standard basis, ``∇_Q L = ∇_S L``: the diagonal (``A_k``) is
        negative, so gradient descent raises each ``A_k``, and columns sum to zero.

        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=4)
        >>> G = m.grad(m.init_params())["Q"]
        >>> bool(np.all(np.diag(G) < 0)), bool(np.allclose(G.sum(axis=0), 0))
        (True, True)
        """
        return self.loss_and_grad(params)[1]

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """``S``, ``attn``, ``attn_target``, ``feature_loss``, ``A``, ``B``, ``column_sum``.

        See the class docstring; empirical mode adds ``test_attn``, ``test_feature_loss``.

        Parameters
        ----------
        params : dict
            ``{"Q": ndarray (d, d)}``.

        Returns
        -------
        dict
            The observables by name (arrays of the shapes listed in the class docstring).

        Examples
        --------
        >>> import numpy as np
        >>> m = ICLRegression(K=3, N=30, population="mean_field")
        >>> obs = m.observables({"Q": np.diag([1.0, 0.0, 0.0])})
        >>> sorted(obs)
        ['A', 'B', 'S', 'attn', 'attn_target', 'column_sum', 'feature_loss']
        >>> obs["A"].tolist(), obs["column_sum"].tolist()
        ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0])
        >>> round(float(obs["attn_target"][0]), 4)      # e/(e + 2)
        0.5761
        """
        Q = self._Q(params)
        S = self.S_of(Q)
        out: dict[str, Any] = {"S": S}
        if self.population == "empirical":
            for prefix in ("", "test_"):
                attn, feature_loss = self._empirical_per_feature(Q, prefix)
                out[prefix + "attn"] = attn
                out[prefix + "feature_loss"] = feature_loss
            out["attn_target"] = np.diag(out["attn"]).copy()
        else:
            _, _, aux = self.population_S(S)
            out["attn"] = aux["attn"]
            out["attn_target"] = np.diag(aux["attn"]).copy()
            out["feature_loss"] = aux["feature_loss"]
        out["A"] = np.diag(S).copy()
        out["B"] = S.T - np.diag(np.diag(S))
        out["column_sum"] = S.sum(axis=0)
        return out

    def _empirical_per_feature(self, Q: np.ndarray, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature attention (K, K) and loss (K,), averaged over prompts by query feature."""
        _, _, aux = self._empirical(Q, prefix)
        onehot = getattr(self, prefix + "_token_onehot")  # (M, N, K)
        q_onehot = getattr(self, prefix + "_query_onehot")  # (M, K)
        attn_feat = np.einsum("mn,mnk->mk", aux["a"], onehot)  # attention mass per feature
        n_query = q_onehot.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            attn = np.einsum("mk,mn->nk", q_onehot, attn_feat) / n_query[None, :]  # [m, k]
            feature_loss = 0.5 * np.einsum("mk,m->k", q_onehot, aux["r"] ** 2) / n_query
        return attn, feature_loss

    # --- phase boundaries as flow events (spec §7.4) ---------------------------------
    def attention_event(self, k: int, level: float = 0.5, name: str | None = None) -> Callable:
        """Event ``attn_target[k] = level``, rising: end of the plateau (spec §7.4).

        Parameters
        ----------
        k : int
            Query feature.
        level : float
            Attention level; 1/2 is the end of phase I.
        name : str, optional
            Event name in ``traj.events``; default ``"attn_{k}={level}"``.

        Returns
        -------
        callable
            A :func:`gradflow.flow.event` ``g(t, params) = attn[k, k] − level``, direction +1.

        Examples
        --------
        The flow's event against the closed-form mean-field time (:func:`phase1_time`):

        >>> import gradflow as gf
        >>> m = ICLRegression(K=3, N=30, population="mean_field")
        >>> flow = gf.integrate_flow(m, m.init_params(), (0, 10), rtol=1e-10, atol=1e-12,
        ...                          events=[m.attention_event(0)])
        >>> round(flow.event_time("attn_0=0.5"), 6), round(phase1_time(3), 6)
        (6.605922, 6.605922)
        """
        from gradflow.flow import event

        def g(t: float, params: Mapping[str, np.ndarray]) -> float:
            _, _, aux = self.population_S(self.S_of(params["Q"]))
            return float(aux["attn"][k, k] - level)

        return event(g, direction=1, name=name or f"attn_{k}={level:g}")

    def feature_loss_event(self, k: int, eps: float, name: str | None = None) -> Callable:
        """Event ``L_k = eps``, falling (time to ε-error for query feature k).

        Parameters
        ----------
        k : int
            Query feature.
        eps : float
            Level of the per-feature error ``L_k``.
        name : str, optional
            Event name; default ``"L_{k}={eps}"``.

        Returns
        -------
        callable
            A :func:`gradflow.flow.event` ``g(t, params) = L_k − eps``, direction −1.

        Examples
        --------
        >>> m = ICLRegression(K=3, N=30, population="mean_field")
        >>> ev = m.feature_loss_event(0, 0.01)
        >>> ev.name, ev.direction, round(ev(0.0, m.init_params()), 6)   # L_k(0) = 1/3
        ('L_0=0.01', -1, 0.323333)
        """
        from gradflow.flow import event

        def g(t: float, params: Mapping[str, np.ndarray]) -> float:
            _, _, aux = self.population_S(self.S_of(params["Q"]))
            return float(aux["feature_loss"][k] - eps)

        return event(g, direction=-1, name=name or f"L_{k}={eps:g}")

    def crossing_event(self, k: int, n: int, name: str | None = None) -> Callable:
        """Event ``attn[n, k] = attn[k, k]``, attention on feature n falling below the target's.

        For an under-represented query ``k`` and the dominant feature ``n`` this is the end
        of phase II (spec §7.4).

        Parameters
        ----------
        k : int
            Query feature.
        n : int
            The off-target feature whose attention is compared.
        name : str, optional
            Event name; default ``"attn_{n},{k}=attn_{k},{k}"``.

        Returns
        -------
        callable
            A :func:`gradflow.flow.event` ``g = attn[n, k] − attn[k, k]``, direction −1.

        Examples
        --------
        At ``Q = 0`` the attention is ``p``: the dominant feature (1/2) is ahead of
        query 1's own feature (1/6).

        >>> m = ICLRegression(K=4, N=30, p=imbalanced_p(4), population="mean_field")
        >>> ev = m.crossing_event(1, 0)
        >>> ev.name, round(ev(0.0, m.init_params()), 6)
        ('attn_0,1=attn_1,1', 0.333333)
        """
        from gradflow.flow import event

        def g(t: float, params: Mapping[str, np.ndarray]) -> float:
            _, _, aux = self.population_S(self.S_of(params["Q"]))
            return float(aux["attn"][n, k] - aux["attn"][k, k])

        return event(g, direction=-1, name=name or f"attn_{n},{k}=attn_{k},{k}")

    def peak_event(self, k: int, n: int, name: str | None = None) -> Callable:
        """Event ``dB_{k,n}/dt = 0``, falling: the off-target weight ``B_{k,n}`` peaks.

        With ``n`` neither ``k`` nor the dominant feature, ``B_{k,n}`` is the weight ``C``
        whose peak ends phase I of an under-represented query (spec §7.4).

        Parameters
        ----------
        k : int
            Query feature (column of ``S``).
        n : int
            Off-target feature (row of ``S``).
        name : str, optional
            Event name; default ``"B_{k},{n} peak"``.

        Returns
        -------
        callable
            A :func:`gradflow.flow.event` ``g = −∂L/∂S[n, k]`` (the flow's rate of
            ``B_{k,n}``), direction −1.

        Examples
        --------
        With K = 10 and p_1 = 1/2, ``C`` rises at ``Q = 0`` (spec §6.3: ``Σ p_m² > ρ + q``),
        so the event function starts positive:

        >>> m = ICLRegression(K=10, N=30, p=imbalanced_p(10), population="mean_field")
        >>> ev = m.peak_event(1, 2)
        >>> ev.name, ev(0.0, m.init_params()) > 0
        ('B_1,2 peak', True)
        """
        from gradflow.flow import event

        def g(t: float, params: Mapping[str, np.ndarray]) -> float:
            _, dS, _ = self.population_S(self.S_of(params["Q"]))
            return float(-dS[n, k])

        return event(g, direction=-1, name=name or f"B_{k},{n} peak")

    def phase_events(self, k: int, dominant: int = 0, eps: float = 1e-3) -> list[Callable]:
        """Phase boundaries of query feature ``k`` (spec §7.4), as flow events.

        For an under-represented query (``k != dominant`` in an imbalanced model) the four
        phases end at ``"C peak"`` (an off-target weight other than the dominant one
        peaks), ``"attn_dom=attn_k"``, ``"attn_k=1/2"``; for a balanced or dominant column
        phase I ends at ``"attn_k=1/2"``.  ``"L_k=eps"`` marks convergence.  These are the
        spec's operational definitions, not the paper's (unverified) thresholds.

        Parameters
        ----------
        k : int
            Query feature.
        dominant : int
            Index of the dominant feature (imbalanced models).
        eps : float
            Level of ``L_k`` for the ``"L_k=eps"`` event.

        Returns
        -------
        list of callable
            :func:`gradflow.flow.event` functions, in the order the phases end.

        Examples
        --------
        >>> m = ICLRegression(K=4, N=30, p=imbalanced_p(4), population="mean_field")
        >>> [e.name for e in m.phase_events(1)]
        ['C peak', 'attn_dom=attn_k', 'attn_k=1/2', 'L_k=eps']
        >>> [e.name for e in m.phase_events(0)]          # the dominant query: one phase
        ['attn_k=1/2', 'L_k=eps']
        """
        events = [
            self.attention_event(k, 0.5, "attn_k=1/2"),
            self.feature_loss_event(k, eps, "L_k=eps"),
        ]
        if not self.balanced and k != dominant:
            other = next(m for m in range(self.K) if m not in (k, dominant))
            events = [
                self.peak_event(k, other, "C peak"),
                self.crossing_event(k, dominant, "attn_dom=attn_k"),
                *events,
            ]
        return events


# --------------------------------------------------------------------------------------
# Reduced dynamics (spec §6.2, §6.3)
# --------------------------------------------------------------------------------------
@dataclass
class ReducedSolution:
    """Solution of a reduced ODE: times, states, observables and event times.

    Returned by ``solve`` of :class:`SymmetricColumn` and :class:`UnderrepresentedColumn`.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Sample times (GD iterations of step η; flow time when η = 1).
    y : ndarray, shape (n, dim)
        States at those times, one row per time (columns named by ``names``).
    names : tuple of str
        Names of the state components: ``("A",)`` or ``("A", "B1")``.
    observables : dict
        ``loss`` (n,), the per-feature error ``L_k``; ``attn`` (G, n), the expected
        attention of each group (target first); ``scores`` (G, n), the group scores.
    events : dict
        First time each event fired (``nan`` if it did not).
    status : int
        :func:`scipy.integrate.solve_ivp`'s status (0: reached ``t_end``).
    message : str
        Its message.
    nfev : int
        Right-hand-side evaluations.
    sol : callable, optional
        SciPy's dense interpolant: ``sol(t)`` gives the state at any ``t``.

    Examples
    --------
    >>> sol = SymmetricColumn(5, 30, population="mean_field").solve(50.0)
    >>> sol.names, sol.y.shape[1], sol.status
    (('A',), 1, 0)
    >>> round(sol.events["attn_k=1/2"], 3)        # = phase1_time(5)
    31.608
    """

    t: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    observables: dict[str, np.ndarray]
    events: dict[str, float]
    status: int
    message: str
    nfev: int
    sol: Any = field(default=None, repr=False)


class _ReducedColumn:
    """A query column with groups of exchangeable features (spec §6.1 item 4).

    Subclasses set ``self.group_p`` (probability of each group, target first),
    ``self.group_size`` (features per group) and ``scores(y)``; ``state_rows`` says which
    group's score each state component is.
    """

    names: tuple[str, ...] = ()
    state_rows: tuple[int, ...] = ()

    def __init__(
        self, K: int, N: int, population: str, include_query: bool, eta: float, prune: float
    ) -> None:
        if population not in ("exact", "mean_field"):
            raise ValueError(f"population must be 'exact' or 'mean_field', got {population!r}")
        if not float(eta) > 0:
            raise ValueError(f"eta must be positive, got {eta!r}")
        if not 0.0 <= float(prune) < 1e-6:
            raise ValueError(f"prune must lie in [0, 1e-6), got {prune!r}")
        self.K, self.N = K, N
        self.population = population
        self.include_query = bool(include_query)
        self.eta = float(eta)
        self.prune = float(prune)
        self._last: tuple[np.ndarray, dict] | None = None

    def _build_counts(self) -> None:
        """Count grid: the exact binomial / trinomial support, or the mean counts."""
        G = len(self.group_p)
        if self.population == "mean_field":
            counts = (self.N * np.asarray(self.group_p))[None]
            weights = np.ones(1)
        else:
            axes = np.meshgrid(*[np.arange(self.N + 1)] * (G - 1), indexing="ij")
            free = np.stack([a.ravel() for a in axes], axis=1)
            free = free[free.sum(axis=1) <= self.N]
            counts = np.concatenate([free, self.N - free.sum(axis=1, keepdims=True)], axis=1)
            counts = counts.astype(float)
            weights = _multinomial_pmf(counts, np.asarray(self.group_p))
            keep = weights >= self.prune * weights.max()
            counts, weights = counts[keep], weights[keep]
        sizes = np.asarray(self.group_size, dtype=float)
        # E[Σ_{m in g} c_m² | n_g] for n_g tokens spread uniformly over the group's features:
        # n(1 − 1/size) + n²/size (exact); the mean field keeps only n²/size (spec §6.2).
        if self.population == "exact":
            counts_sq = counts * (1.0 - 1.0 / sizes) + counts**2 / sizes
        else:
            counts_sq = counts**2 / sizes
        self.counts, self.counts_sq, self.weights = counts, counts_sq, weights

    def scores(self, y: np.ndarray) -> np.ndarray:
        """Group scores (G, P) of P states ``y`` (dim, P), target group first."""
        raise NotImplementedError

    def evaluate(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Rates and observables at states ``y`` of shape (dim,) or (dim, P) (vectorised).

        The last result is cached (solve_ivp evaluates the events at the state its
        right-hand side has just seen): do not modify the returned arrays.

        Parameters
        ----------
        y : ndarray, shape (dim,) or (dim, P)
            One state, or ``P`` states as columns (``dim`` = ``len(self.names)``).

        Returns
        -------
        dict
            ``rate`` (dim, ...), ``dy/dt``; ``group_rate`` (G, ...), the rate of one
            feature's weight in each group; ``loss`` (...), the per-feature error
            ``L_k = E[ℓ_k]``; ``attn`` (G, ...), the expected attention of each group
            (target first); ``scores`` (G, ...), the group scores.

        Examples
        --------
        A balanced mean-field column at ``A = 0``: attention ``1/K`` on the own feature,
        ``L_k = ½[(1 − 1/K)² + (K − 1)/K²]``, and ``dA/dt = 2 p attn_k L_k``:

        >>> import numpy as np
        >>> col = SymmetricColumn(5, 30, population="mean_field")
        >>> ev = col.evaluate(np.zeros(1))
        >>> round(float(ev["attn"][0]), 12), round(float(ev["loss"]), 12)
        (0.2, 0.4)
        >>> bool(np.isclose(ev["rate"][0], 2 * 0.2 * 0.2 * 0.4))
        True
        """
        y = np.asarray(y, dtype=float)
        if (
            self._last is not None
            and self._last[0].shape == y.shape
            and np.array_equal(self._last[0], y)
        ):
            return self._last[1]  # the solver's events look at the state rhs just saw
        flat = y.reshape(len(self.names), -1)
        S = self.scores(flat)  # (G, P)
        target = np.zeros(S.shape[1], dtype=int)
        loss, dloss, attn = attention_column_loss(
            S, self.counts, self.counts_sq, target, self.include_query
        )
        q = self.group_p[0]
        # dS_g/dt for ONE feature of group g: the group derivative split evenly (spec §6.1)
        group_rate = -self.eta * q * np.einsum("i,igk->gk", self.weights, dloss)
        group_rate = group_rate / np.asarray(self.group_size, float)[:, None]
        rate = group_rate[list(self.state_rows)]
        shape = y.shape[1:]
        out = {
            "rate": rate.reshape(y.shape),
            "group_rate": group_rate.reshape((-1, *shape)),
            "loss": np.einsum("i,ik->k", self.weights, loss).reshape(shape),
            "attn": np.einsum("i,igk->gk", self.weights, attn).reshape((-1, *shape)),
            "scores": S.reshape((-1, *shape)),
        }
        self._last = (y.copy(), out)
        return out

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """Right-hand side ``dy/dt`` for :func:`scipy.integrate.solve_ivp`.

        Parameters
        ----------
        t : float
            Time (unused: the system is autonomous).
        y : ndarray, shape (dim,)
            State.

        Returns
        -------
        ndarray, shape (dim,)
            ``dy/dt`` (a copy of ``evaluate(y)["rate"]``).

        Examples
        --------
        >>> import numpy as np
        >>> col = UnderrepresentedColumn(10, 100, population="mean_field")
        >>> rate = col.rhs(0.0, np.zeros(2))
        >>> rate.shape, bool(rate[0] > 0 > rate[1])   # A_k rises, B_{k,1} falls
        ((2,), True)
        """
        return self.evaluate(y)["rate"].copy()

    def _event_functions(self, eps: float) -> dict[str, Callable]:
        out: dict[str, Callable] = {
            "attn_k=1/2": lambda t, y: self.evaluate(y)["attn"][0] - 0.5,
            "L_k=eps": lambda t, y: self.evaluate(y)["loss"] - eps,
        }
        out["attn_k=1/2"].direction = 1
        out["L_k=eps"].direction = -1
        return out

    def solve(
        self,
        t_end: float,
        *,
        t_eval: np.ndarray | None = None,
        eps: float = 1e-3,
        rtol: float = 1e-10,
        atol: float = 1e-12,
        method: str = "LSODA",
        y0: Sequence[float] | None = None,
    ) -> ReducedSolution:
        """Integrate the reduced flow from zero (or ``y0``) to ``t_end``.

        The phase boundaries are solve_ivp events, their first crossing times in
        ``ReducedSolution.events``: ``"attn_k=1/2"`` and ``"L_k=eps"`` (``L_k = eps``), and
        for :class:`UnderrepresentedColumn` also ``"C peak"`` (the other off-target weights
        stop rising) and ``"attn_1=attn_k"`` (spec §7.4).  The right-hand side carries the
        factor η, so times count GD iterations of step η (with η = 1, the flow time).
        Defaults follow spec §6.1b (LSODA, rtol 1e-10, atol 1e-12).

        Parameters
        ----------
        t_end : float
            Final time (positive).
        t_eval : ndarray, optional
            Times at which to store the solution; default ``0`` and 300 geometrically
            spaced times from 1e-2 to ``t_end``.
        eps : float
            Level of the ``"L_k=eps"`` event.
        rtol, atol : float
            Tolerances of :func:`scipy.integrate.solve_ivp`.
        method : str
            solve_ivp method.
        y0 : sequence of float, optional
            Initial state; default zero (``Q = 0``).

        Returns
        -------
        ReducedSolution
            Samples, observables, event times and solver counters.

        Examples
        --------
        Balanced K = 10, mean field: the end of phase I and ``L_k = 1e-3`` at the
        closed-form times (spec §7.3 L2, L3: 143.79 and 2810.5):

        >>> sol = SymmetricColumn(10, 100, population="mean_field").solve(3000.0)
        >>> round(sol.events["attn_k=1/2"], 2), round(sol.events["L_k=eps"], 1)
        (143.79, 2810.5)
        """
        if not float(t_end) > 0:
            raise ValueError(f"t_end must be positive, got {t_end!r}")
        fns = self._event_functions(eps)
        events = []
        for fn in fns.values():
            fn.terminal = False
            events.append(fn)
        if t_eval is None:
            t_eval = np.concatenate([[0.0], np.geomspace(1e-2, t_end, 300)])
        y_start = np.zeros(len(self.names)) if y0 is None else np.asarray(y0, dtype=float)
        res = solve_ivp(
            self.rhs,
            (0.0, float(t_end)),
            y_start,
            method=method,
            t_eval=t_eval,
            events=events,
            rtol=rtol,
            atol=atol,
            dense_output=True,
        )
        ev = self.evaluate(res.y)
        obs = {"loss": ev["loss"], "attn": ev["attn"], "scores": ev["scores"]}
        times = {
            name: (float(te[0]) if len(te) else float("nan"))
            for name, te in zip(fns, res.t_events, strict=True)
        }
        return ReducedSolution(
            t=res.t,
            y=res.y.T,
            names=self.names,
            observables=obs,
            events=times,
            status=res.status,
            message=res.message,
            nfev=res.nfev,
            sol=res.sol,
        )


class SymmetricColumn(_ReducedColumn):
    """1-D reduced flow of a column whose K−1 off-target features share one probability.

    Covers every column of the balanced model and the dominant column of the imbalanced
    one (spec §6.2).  State ``A = A_k``; every ``B_{k,n} = −A/(K−1)`` (conservation from
    zero, §6.1).  With ``c ~ Bin(N, p)``, ``r = N − c``::

        E[R | c] = r(1 − 1/(K−1)) + r²/(K−1),   Z = c e^A + r e^B,   attn_k = c e^A / Z
        dA/dt    = η p Σ_c Bin(c; N, p) attn_k [(1 − attn_k)² + e^{2B} E[R|c]/Z²]

    ``population="mean_field"`` uses the mean counts and drops the O(1/N) term of E[R].
    The methods ``evaluate``, ``rhs`` and ``solve`` (events ``"attn_k=1/2"``,
    ``"L_k=eps"``) are shared with :class:`UnderrepresentedColumn`.

    Parameters
    ----------
    K : int
        Number of features (``K ≥ 2``).
    N : int
        Prompt length.
    p : float, optional
        Probability of the query's own feature; default ``1/K`` (balanced).  The other
        K−1 features share ``1 − p`` equally.
    population : {"exact", "mean_field"}
        Exact binomial sum over ``c``, or the mean counts ``N p``.
    include_query : bool
        The query attends to itself (spec §8 A1).
    eta : float
        Learning rate η: the right-hand side is multiplied by η, so ``t`` counts GD
        iterations of step η (with the default η = 1, ``t`` is also the flow time of
        :class:`ICLRegression`).
    prune : float
        Drop binomial terms below ``prune × max`` (default 1e-16; their total mass is below
        ``(N+1)·1e-16·max``, so the sums stay exact to round-off).  0 keeps all.

    Examples
    --------
    The mean-field column reaches ``attn_k = 1/2`` at the closed-form time; at finite N the
    exact binomial sum is a little slower (balanced K = 10, N = 200: spec §6.5 quotes
    the GD side of this, η·iterations = 147 at η = 0.5).

    >>> mf = SymmetricColumn(10, 200, population="mean_field").solve(300.0)
    >>> round(mf.events["attn_k=1/2"], 2), round(phase1_time(10), 2)
    (143.79, 143.79)
    >>> exact = SymmetricColumn(10, 200).solve(300.0)
    >>> round(exact.events["attn_k=1/2"], 1)
    146.8
    """

    names = ("A",)
    state_rows = (0,)

    def __init__(
        self,
        K: int,
        N: int,
        p: float | None = None,
        population: str = "exact",
        include_query: bool = False,
        eta: float = 1.0,
        prune: float = 1e-16,
    ) -> None:
        K = _check_int(K, "K", 2)
        super().__init__(K, _check_int(N, "N", 1), population, include_query, eta, prune)
        self.p = 1.0 / K if p is None else float(p)
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"p must lie in (0, 1), got {p!r}")
        self.group_p = (self.p, 1.0 - self.p)
        self.group_size = (1, K - 1)
        self._build_counts()

    def scores(self, y: np.ndarray) -> np.ndarray:
        """Group scores ``(A, B)`` with ``B = −A/(K−1)`` (conservation, spec §6.1).

        Parameters
        ----------
        y : ndarray, shape (1, P)
            ``P`` states ``A``.

        Returns
        -------
        ndarray, shape (2, P)
            Score of the target group (``A``) and of each off-target feature (``B``).

        Examples
        --------
        >>> import numpy as np
        >>> SymmetricColumn(10, 20).scores(np.array([[9.0]])).ravel().tolist()
        [9.0, -1.0]
        """
        A = y[0]
        return np.stack([A, -A / (self.K - 1)])


class UnderrepresentedColumn(_ReducedColumn):
    """2-D reduced flow of an under-represented query in the imbalanced model (spec §6.3).

    State ``(A, B1) = (A_k, B_{k,1})``; the other K−2 off-target weights are all
    ``C = −(A + B1)/(K−2)``.  With ``(c_k, c_1, r) ~ Mult(N; q, π, 1 − q − π)``::

        E[R'|r] = r(1 − 1/(K−2)) + r²/(K−2),   Z = c_k e^A + c_1 e^{B1} + r e^C
        dA/dt   =  η q E[attn_k((1 − attn_k)² + attn_1² + T)]
        dB1/dt  = −η q E[attn_1(attn_1 + attn_k − Σ2)],   T = e^{2C} E[R'|r]/Z²

    Besides ``solve`` (events ``"C peak"``, ``"attn_1=attn_k"``, ``"attn_k=1/2"``,
    ``"L_k=eps"``), :meth:`field` and :meth:`phase` evaluate the vector field and the
    phase on grids of states, for phase portraits.

    Parameters
    ----------
    K : int
        Number of features, ``K ≥ 3``.
    N : int
        Prompt length.
    p1 : float
        Dominant probability π.
    q : float, optional
        The query's probability; default ``(1 − p1)/(K − 1)``.  The remaining K−2
        features share ``1 − q − p1`` equally.
    population, include_query, eta, prune
        As in :class:`SymmetricColumn`.

    Examples
    --------
    The four phase boundaries of spec §7.4 (mean field, K = 10, p_1 = 1/2; the spec's
    table: 86.8, 197, 321):

    >>> sol = UnderrepresentedColumn(10, 100, population="mean_field").solve(400.0)
    >>> [round(sol.events[n], 1) for n in ("C peak", "attn_1=attn_k", "attn_k=1/2")]
    [86.9, 197.0, 320.0]
    """

    names = ("A", "B1")
    state_rows = (0, 1)

    def __init__(
        self,
        K: int,
        N: int,
        p1: float = 0.5,
        q: float | None = None,
        population: str = "exact",
        include_query: bool = False,
        eta: float = 1.0,
        prune: float = 1e-16,
    ) -> None:
        K = _check_int(K, "K", 3)
        super().__init__(K, _check_int(N, "N", 1), population, include_query, eta, prune)
        self.p1 = float(p1)
        self.q = (1.0 - self.p1) / (K - 1) if q is None else float(q)
        if not (0 < self.p1 < 1 and 0 < self.q < 1 and self.p1 + self.q < 1):
            raise ValueError(f"need 0 < p1, q and p1 + q < 1, got p1={p1!r}, q={self.q!r}")
        self.group_p = (self.q, self.p1, 1.0 - self.q - self.p1)
        self.group_size = (1, 1, K - 2)
        self._build_counts()

    def scores(self, y: np.ndarray) -> np.ndarray:
        """Group scores ``(A, B1, C)`` with ``C = −(A + B1)/(K−2)`` (spec §6.3).

        Parameters
        ----------
        y : ndarray, shape (2, P)
            ``P`` states ``(A, B1)``.

        Returns
        -------
        ndarray, shape (3, P)
            Scores of the query's own feature, the dominant feature and each of the other
            K−2 features.

        Examples
        --------
        >>> import numpy as np
        >>> UnderrepresentedColumn(4, 9).scores(np.array([[1.0], [-0.5]])).ravel().tolist()
        [1.0, -0.5, -0.25]
        """
        A, B1 = y[0], y[1]
        return np.stack([A, B1, -(A + B1) / (self.K - 2)])

    def field(self, A: np.ndarray, B1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vector field ``(dA/dt, dB1/dt)`` on arrays of states (for phase portraits).

        Parameters
        ----------
        A : array_like
            Values of ``A_k``.
        B1 : array_like
            Values of ``B_{k,1}``, broadcast against ``A``.

        Returns
        -------
        dA, dB1 : ndarray
            The rates, of the broadcast shape.

        Examples
        --------
        At ``S = 0``, the mean-field initial rates of spec §6.3: ``dA/dt = q²((1 − q)² +
        Σ_{m≠k} p_m²) = 7/1944`` and ``dB1/dt = −qπ(π + q − Σ_m p_m²) = −1/129.6`` for
        K = 10, π = 1/2, q = 1/18: ``B1`` falls about twice as fast as ``A`` rises.

        >>> import numpy as np
        >>> col = UnderrepresentedColumn(10, 100, population="mean_field")
        >>> dA, dB1 = col.field(np.zeros(2), np.zeros(2))
        >>> dA.shape, round(float(dA[0]) * 1944, 9), round(float(dB1[0]) * 129.6, 9)
        ((2,), 7.0, -1.0)
        """
        A, B1 = np.broadcast_arrays(np.asarray(A, float), np.asarray(B1, float))
        rate = self.evaluate(np.stack([A, B1]))["rate"]
        return rate[0], rate[1]

    def phase(self, A: np.ndarray, B1: np.ndarray) -> np.ndarray:
        """Phase (1-4) of states, by the boundaries of spec §7.4.

        I: C rising; II: C falling, ``attn_1 > attn_k``; III: ``attn_1 ≤ attn_k`` and
        ``attn_k < 1/2``; IV: ``attn_k ≥ 1/2``.

        Parameters
        ----------
        A : array_like
            Values of ``A_k``.
        B1 : array_like
            Values of ``B_{k,1}``, broadcast against ``A``.

        Returns
        -------
        ndarray of int
            The phase, 1 to 4, of each state.

        Examples
        --------
        >>> import numpy as np
        >>> col = UnderrepresentedColumn(10, 100, population="mean_field")
        >>> col.phase(np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.0, -1.0, -1.5, -2.0])).tolist()
        [1, 2, 3, 4]
        """
        A, B1 = np.broadcast_arrays(np.asarray(A, float), np.asarray(B1, float))
        ev = self.evaluate(np.stack([A, B1]))
        attn_k, attn_1, c_rate = ev["attn"][0], ev["attn"][1], ev["group_rate"][2]
        return np.select([attn_k >= 0.5, attn_1 <= attn_k, c_rate <= 0], [4, 3, 2], default=1)

    def _event_functions(self, eps: float) -> dict[str, Callable]:
        out: dict[str, Callable] = {}
        out["C peak"] = lambda t, y: self.evaluate(y)["group_rate"][2]
        out["C peak"].direction = -1
        out["attn_1=attn_k"] = lambda t, y: np.diff(self.evaluate(y)["attn"][:2], axis=0)[0]
        out["attn_1=attn_k"].direction = -1
        out.update(super()._event_functions(eps))
        return out


# --------------------------------------------------------------------------------------
# Closed form of the mean-field flow of a symmetric column (spec §6.2)
# --------------------------------------------------------------------------------------
def _F(u: np.ndarray, b: float) -> np.ndarray:
    """``F_b(u) = u²/2 + 3bu + 3b² ln u − b³/u``, an antiderivative of (u+b)³/u²."""
    return u * u / 2 + 3 * b * u + 3 * b * b * np.log(u) - b**3 / u


def mean_field_time(u: Any, K: int, p: float | None = None, eta: float = 1.0) -> np.ndarray:
    """Time at which the mean-field flow of a symmetric column reaches ``u = e^{A−B}``.

    With ``κ = K/(K−1)``, ``Δ = A − B = κA``, ``u = e^Δ``, ``b = (1−p)/p`` (spec §6.2)::

        du/dt = η κ² ((1−p)²/p) u²/(u + b)³
        t(u)  = [F_b(u) − F_b(1)] / (η κ² (1−p)²/p)

    and ``attn_k = u/(u+b)``, ``ℓ_k = κ b²/(2(u+b)²)``.

    Parameters
    ----------
    u : float or array_like
        ``u = e^{A−B} ≥ 1`` (1 at ``Q = 0``).
    K : int
        Number of features.
    p : float, optional
        Probability of the query's own feature; default ``1/K`` (balanced).
    eta : float
        Learning rate η: the time is in GD iterations of step η (flow time when η = 1).

    Returns
    -------
    ndarray
        ``t(u)``, of the shape of ``u``.

    Raises
    ------
    ValueError
        If some ``u < 1``.

    Examples
    --------
    >>> round(float(mean_field_time(4.0, K=5)), 2)     # balanced K = 5: attn_k = 1/2
    31.61
    >>> mean_field_time([1.0, 9.0], K=10).round(3).tolist()   # K = 10: attn_k = 1/10, 1/2
    [0.0, 143.793]
    """
    K = _check_int(K, "K", 2)
    p = 1.0 / K if p is None else float(p)
    u = np.asarray(u, dtype=float)
    if np.any(u < 1):
        raise ValueError("u = e^{A-B} starts at 1 and grows; u must be >= 1")
    kappa = K / (K - 1)
    b = (1 - p) / p
    rate = eta * kappa**2 * (1 - p) ** 2 / p
    return (_F(u, b) - _F(1.0, b)) / rate


def phase1_time(K: int, p: float | None = None, eta: float = 1.0) -> float:
    """Mean-field time to ``attn_k = 1/2`` (``u = b``): the end of phase I (spec §7.3 L2).

    ``t(b)`` of :func:`mean_field_time`; 0 when ``p ≥ 1/2`` (the attention starts at or
    above 1/2).

    Parameters
    ----------
    K : int
        Number of features.
    p : float, optional
        Probability of the query's own feature; default ``1/K`` (balanced).
    eta : float
        Learning rate η (time in GD iterations of step η; flow time when η = 1).

    Returns
    -------
    float
        The time ``T_I``.

    Examples
    --------
    The spec's L2 table (η = 1): 31.61, 143.79, 544.64 for K = 5, 10, 20, and
    ``T_I/K²`` drifting down from 1.44 (the ``1 + O(log K / K)`` factor):

    >>> [round(phase1_time(K), 2) for K in (5, 10, 20)]
    [31.61, 143.79, 544.64]
    >>> round(phase1_time(10) / 10**2, 2), round(phase1_time(20, eta=2.0), 2)
    (1.44, 272.32)
    """
    p_ = 1.0 / K if p is None else float(p)
    return float(mean_field_time(max((1 - p_) / p_, 1.0), K, p_, eta))


def time_to_feature_loss(eps: float, K: int, p: float | None = None, eta: float = 1.0) -> float:
    """Mean-field time to ``L_k = eps`` in a symmetric column (spec §7.3 L3).

    ``t(u_ε)`` of :func:`mean_field_time` with ``u_ε + b = b sqrt(κ/(2ε))``.

    Parameters
    ----------
    eps : float
        Level of the per-feature error ``L_k``.
    K : int
        Number of features.
    p : float, optional
        Probability of the query's own feature; default ``1/K``.  ``p = p_1`` gives the
        dominant column of the imbalanced model (spec L5).
    eta : float
        Learning rate η (time in GD iterations of step η; flow time when η = 1).

    Returns
    -------
    float
        The time at which ``L_k = eps``.

    Examples
    --------
    Spec L3 (balanced, K = 10: 2810.5) and L5 (dominant, p_1 = 1/2: 533 for K = 10,
    590 for K = 80, nearly independent of K):

    >>> round(time_to_feature_loss(1e-3, 10), 1)
    2810.5
    >>> round(time_to_feature_loss(1e-3, 10, 0.5), 1), round(time_to_feature_loss(1e-3, 80, 0.5), 1)
    (533.3, 589.6)
    """
    p_ = 1.0 / K if p is None else float(p)
    kappa, b = K / (K - 1), (1 - p_) / p_
    u = b * math.sqrt(kappa / (2 * eps)) - b
    return float(mean_field_time(u, K, p_, eta))
