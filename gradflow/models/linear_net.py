"""Two-layer linear network on whitened inputs: the exact solution of Saxe et al. (2014).

Saxe, McClelland & Ganguli, *Exact solutions to the nonlinear dynamics of learning in deep
linear neural networks*, ICLR 2014.  The network maps ``x ↦ W2 W1 x``
(``W1 = W²¹``: input → hidden, ``W2 = W³²``: hidden → output in the paper's notation).
With whitened inputs (``Σ¹¹ = E[xxᵀ] = I``) the squared loss depends on the data only
through the input–output correlation ``Σ³¹ = E[yxᵀ] = U S Vᵀ`` (SVD, ``S = diag(s)``):

    L(W1, W2) = 1/(2τ) ‖Σ³¹ − W2 W1‖²_F                                   (1)

(up to the constant ``½ tr Σ³³ − ½‖Σ³¹‖²`` which does not move the flow; we drop it so
that ``L = 0`` at the optimum).

**Time convention.**  gradflow integrates ``dθ/dt = −∇L``; with the ``1/τ`` in (1) this is
exactly the paper's continuous-time learning dynamics (whitened inputs),

    τ dW1/dt = W2ᵀ (Σ³¹ − W2 W1),      τ dW2/dt = (Σ³¹ − W2 W1) W1ᵀ,

so ``t`` is the paper's time and ``τ`` its time constant (the paper's ``τ`` is the inverse
learning rate; default ``τ = 1``).  Gradient descent with step ``η`` on (1) is recorded at
gradflow's ``t = η·k``.  ``tests/test_oracles.py`` checks ``d/dt exact(t) = −∇L`` for two
values of ``τ``.

**Aligned initialisation** (the paper's decoupled initial conditions):
``W1 = R diag(a₀) Vᵀ``, ``W2 = U diag(a₀) Rᵀ`` with an orthonormal ``R`` (hidden × r) and
``a₀ = √u₀``.  Then every mode ``α`` keeps its direction and its strength
``u_α = U_αᵀ W2 W1 V_α = a_α²`` follows ``τ u̇ = 2u(s − u)``, whose solution is the paper's
sigmoidal learning curve:

    u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀).                          (2)

It crosses ``s/2`` at ``t½ = τ/(2s) · log(s/u₀ − 1)``.  Gradient flow on a product
conserves ``W2ᵀW2 − W1W1ᵀ`` (Du, Hu & Lee 2018); it is an observable here.

Examples
--------
>>> import numpy as np
>>> from gradflow.models.linear_net import LinearNet
>>> net = LinearNet.paper()
>>> p0 = net.init_params(np.random.default_rng(0))
>>> net.observables(p0)["modes"].round(6).tolist()
[0.001, 0.001, 0.001]
>>> bool(np.allclose(np.diag(net.mode_strengths(net.half_time())), net.s / 2))
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradflow.model import Model

__all__ = ["LinearNet"]


def _orthonormal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """``rows × cols`` matrix with orthonormal columns (QR of a Gaussian matrix)."""
    Q, R = np.linalg.qr(rng.standard_normal((rows, cols)))
    return Q * np.sign(np.diag(R))


class LinearNet(Model):
    """Two-layer linear network ``x ↦ W2 W1 x`` trained on whitened inputs (Saxe et al. 2014).

    Parameters
    ----------
    s : sequence of float
        Singular values of the input–output correlation ``Σ³¹`` (the mode strengths the
        network learns), positive.
    n_in, n_hidden, n_out : int
        Layer widths; ``len(s) <= min(n_in, n_hidden, n_out)``.
    u0 : float or sequence of float
        Initial mode strength(s) ``u₀ > 0`` of the aligned initialisation.
    tau : float
        Time constant ``τ`` of eq. (1) (see the module docstring for the convention).
    init : {"aligned", "random"}
        ``"aligned"``: the paper's decoupled initialisation, deterministic (``rng`` is not
        used), with the exact solution :meth:`exact`.  ``"random"``: i.i.d.
        ``N(0, init_scale²)`` entries drawn with ``rng`` (no closed form).
    init_scale : float
        Standard deviation of the random initialisation.
    seed : int
        Seed of ``U``, ``V`` (the SVD of ``Σ³¹``) and ``R``.

    Attributes
    ----------
    sigma31 : ndarray, shape (n_out, n_in)
        ``Σ³¹ = U diag(s) Vᵀ``.
    U, V, R : ndarray
        Output modes (n_out × r), input modes (n_in × r), hidden directions (n_hidden × r).

    Raises
    ------
    ValueError
        If ``s`` or ``u0`` is not positive, a width is not a positive integer or is
        smaller than ``len(s)``, ``tau`` or ``init_scale`` is not positive, or ``init`` is
        not one of the two names.

    Examples
    --------
    Gradient flow from the aligned initialisation follows the closed form of Saxe et al.,
    eq. (2), mode by mode:

    >>> import numpy as np
    >>> from gradflow import integrate_flow
    >>> net = LinearNet(s=(2.0, 1.0), n_in=3, n_hidden=2, n_out=3, u0=0.01)
    >>> p0 = net.init_params(np.random.default_rng(0))
    >>> traj = integrate_flow(net, p0, t_span=(0.0, 2.0), rtol=1e-10, atol=1e-12)
    >>> p1 = {k: v[-1] for k, v in traj.params.items()}
    >>> bool(np.allclose(net.observables(p1)["modes"], net.mode_strengths(2.0), rtol=1e-6))
    True
    >>> bool(np.allclose(p1["W1"], net.exact(2.0)["W1"], atol=1e-7))
    True
    """

    name = "linear_net"
    citation = (
        "Saxe, McClelland & Ganguli, Exact solutions to the nonlinear dynamics of learning "
        "in deep linear neural networks, ICLR 2014"
    )
    dynamics = "gradient flow"

    def __init__(
        self,
        s: Sequence[float] = (3.0, 2.0, 1.0),
        n_in: int = 8,
        n_hidden: int = 4,
        n_out: int = 6,
        u0: float | Sequence[float] = 1e-3,
        tau: float = 1.0,
        init: str = "aligned",
        init_scale: float = 1e-2,
        seed: int = 0,
    ):
        s_arr = np.atleast_1d(np.asarray(s, dtype=np.float64))
        if s_arr.ndim != 1 or s_arr.size == 0 or not np.all(np.isfinite(s_arr) & (s_arr > 0)):
            raise ValueError(f"s must be a non-empty sequence of positive numbers, got {s!r}")
        for argname, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{argname} must be a positive integer, got {value!r}")
        r = s_arr.size
        if r > min(n_in, n_hidden, n_out):
            raise ValueError(
                f"len(s)={r} modes need n_in, n_hidden, n_out >= {r}; "
                f"got ({n_in}, {n_hidden}, {n_out})"
            )
        u0_arr = np.broadcast_to(np.asarray(u0, dtype=np.float64), (r,)).copy()
        if not np.all(np.isfinite(u0_arr) & (u0_arr > 0)):
            raise ValueError(f"u0 must be positive (one value or one per mode), got {u0!r}")
        if not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be a positive number, got {tau!r}")
        if init not in ("aligned", "random"):
            raise ValueError(f"init must be 'aligned' or 'random', got {init!r}")
        if not (np.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"init_scale must be a positive number, got {init_scale!r}")
        self.s, self.u0, self.tau = s_arr, u0_arr, float(tau)
        self.n_in, self.n_hidden, self.n_out = int(n_in), int(n_hidden), int(n_out)
        self.init, self.init_scale, self.seed = init, float(init_scale), seed
        rng = np.random.default_rng(seed)
        self.U = _orthonormal(rng, self.n_out, r)
        self.V = _orthonormal(rng, self.n_in, r)
        self.R = _orthonormal(rng, self.n_hidden, r)
        self.sigma31 = (self.U * self.s) @ self.V.T

    @classmethod
    def paper(cls, **overrides: Any) -> LinearNet:
        """A small aligned configuration: modes ``s = (3, 2, 1)``, widths 8 → 4 → 6, ``u₀ = 1e-3``.

        The three modes escape the plateau one after the other (``t½ ≈ 1.3, 1.9, 3.5``),
        the mode-by-mode staircase the paper describes (stronger modes are learned first).

        Parameters
        ----------
        **overrides
            Constructor arguments that replace the defaults (``s``, ``u0``, ``tau`` ...).

        Returns
        -------
        LinearNet
            The model.

        Examples
        --------
        >>> net = LinearNet.paper()
        >>> net.half_time().round(2).tolist()
        [1.33, 1.9, 3.45]
        >>> LinearNet.paper(tau=2.0).half_time().round(2).tolist()
        [2.67, 3.8, 6.91]
        """
        return cls(**overrides)

    def config(self) -> dict[str, Any]:
        """Constructor arguments.

        Returns
        -------
        dict
            JSON-serialisable keyword arguments that rebuild the model.

        Examples
        --------
        >>> net = LinearNet(s=(2.0,), n_in=2, n_hidden=2, n_out=2)
        >>> again = LinearNet(**net.config())
        >>> bool((again.sigma31 == net.sigma31).all()), net.config()["u0"]
        (True, [0.001])
        """
        return {
            "s": self.s.tolist(),
            "n_in": self.n_in,
            "n_hidden": self.n_hidden,
            "n_out": self.n_out,
            "u0": self.u0.tolist(),
            "tau": self.tau,
            "init": self.init,
            "init_scale": self.init_scale,
            "seed": self.seed,
        }

    # --- the contract -------------------------------------------------------------
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Aligned: ``W1 = R diag(√u₀) Vᵀ``, ``W2 = U diag(√u₀) Rᵀ``; or random Gaussian.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the random initialisation (not used by the aligned one).

        Returns
        -------
        dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).

        Examples
        --------
        The aligned layers are balanced (``W2ᵀW2 = W1W1ᵀ``, the conserved quantity is 0):

        >>> import numpy as np
        >>> net = LinearNet.paper()
        >>> p0 = net.init_params(np.random.default_rng(0))
        >>> p0["W1"].shape, p0["W2"].shape
        ((4, 8), (6, 4))
        >>> float(np.abs(net.observables(p0)["conserved"]).max()) < 1e-15
        True
        """
        if self.init == "random":
            return {
                "W1": self.init_scale * rng.standard_normal((self.n_hidden, self.n_in)),
                "W2": self.init_scale * rng.standard_normal((self.n_out, self.n_hidden)),
            }
        a0 = np.sqrt(self.u0)
        return {"W1": (self.R * a0) @ self.V.T, "W2": (self.U * a0) @ self.R.T}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """Eq. (1): ``L = 1/(2τ) ‖E‖²`` with the error ``E = Σ³¹ − W2 W1``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).

        Returns
        -------
        float
            The loss (0 at the optimum ``W2 W1 = Σ³¹``).

        Examples
        --------
        At zero weights the error is ``Σ³¹`` and ``‖Σ³¹‖² = Σ s²``:

        >>> import numpy as np
        >>> net = LinearNet(s=(3.0, 1.0), n_in=2, n_hidden=2, n_out=2, tau=2.0)
        >>> float(net.loss({"W1": np.zeros((2, 2)), "W2": np.zeros((2, 2))}))
        2.5
        """
        E = self.sigma31 - params["W2"] @ params["W1"]
        return np.sum(E * E) / (2 * self.tau)

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``∂L/∂W1 = −W2ᵀE/τ``, ``∂L/∂W2 = −E W1ᵀ/τ`` (same ``E`` as :meth:`loss`).

        Parameters
        ----------
        params : dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).

        Returns
        -------
        dict of str to ndarray
            Same keys and shapes as ``params``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradflow import check_model
        >>> net = LinearNet(s=(2.0, 1.0), n_in=3, n_hidden=2, n_out=3, init="random",
        ...                 init_scale=0.5)
        >>> check_model(net).ok
        True
        """
        return self.loss_and_grad(params)[1]

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient sharing the error ``E``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).

        Returns
        -------
        loss : float
            As :meth:`loss`.
        grad : dict of str to ndarray
            As :meth:`grad`.

        Examples
        --------
        >>> import numpy as np
        >>> net = LinearNet.paper(init="random")
        >>> p = net.init_params(np.random.default_rng(0))
        >>> loss, g = net.loss_and_grad(p)
        >>> bool(loss == net.loss(p)), bool(np.array_equal(g["W2"], net.grad(p)["W2"]))
        (True, True)
        """
        W1, W2 = params["W1"], params["W2"]
        E = self.sigma31 - W2 @ W1
        loss = np.sum(E * E) / (2 * self.tau)
        return loss, {"W1": -(W2.T @ E) / self.tau, "W2": -(E @ W1.T) / self.tau}

    def hvp(
        self, params: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Derivative of :meth:`grad` along ``v = (V1, V2)``.

        With ``dE = −(V2 W1 + W2 V1)``:
        ``d(∂L/∂W1) = −(V2ᵀE + W2ᵀdE)/τ`` and ``d(∂L/∂W2) = −(dE W1ᵀ + E V1ᵀ)/τ``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).
        v : dict of str to ndarray
            The direction ``(V1, V2)``, same keys and shapes as ``params``.

        Returns
        -------
        dict of str to ndarray
            ``∇²L·v``, same keys and shapes as ``v``.

        Examples
        --------
        Against central differences of the gradient:

        >>> import numpy as np
        >>> net = LinearNet.paper(init="random", init_scale=0.3)
        >>> rng = np.random.default_rng(1)
        >>> p = net.init_params(rng)
        >>> v = {k: rng.standard_normal(a.shape) for k, a in p.items()}
        >>> h = 1e-5
        >>> gp = net.grad({k: p[k] + h * v[k] for k in p})
        >>> gm = net.grad({k: p[k] - h * v[k] for k in p})
        >>> hv = net.hvp(p, v)
        >>> bool(all(np.allclose(hv[k], (gp[k] - gm[k]) / (2 * h), atol=1e-8) for k in p))
        True
        """
        W1, W2 = params["W1"], params["W2"]
        V1, V2 = v["W1"], v["W2"]
        E = self.sigma31 - W2 @ W1
        dE = -(V2 @ W1 + W2 @ V1)
        return {
            "W1": -(V2.T @ E + W2.T @ dE) / self.tau,
            "W2": -(dE @ W1.T + E @ V1.T) / self.tau,
        }

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``modes``: ``u_α = U_αᵀ W2 W1 V_α``; ``conserved``: ``W2ᵀW2 − W1W1ᵀ``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``W1`` (n_hidden × n_in) and ``W2`` (n_out × n_hidden).

        Returns
        -------
        dict of str to ndarray
            ``modes`` (shape (r,)) and ``conserved`` (n_hidden × n_hidden).

        Examples
        --------
        At the optimum ``W2 W1 = Σ³¹`` every mode strength equals its singular value:

        >>> net = LinearNet.paper()
        >>> opt = {"W1": net.R @ net.V.T, "W2": (net.U * net.s) @ net.R.T}
        >>> net.observables(opt)["modes"].round(12).tolist()
        [3.0, 2.0, 1.0]
        """
        W1, W2 = params["W1"], params["W2"]
        modes = np.einsum("oa,oh,hi,ia->a", self.U, W2, W1, self.V)
        return {"modes": modes, "conserved": W2.T @ W2 - W1 @ W1.T}

    # --- the closed form ------------------------------------------------------------
    def mode_strengths(self, t: float | np.ndarray) -> np.ndarray:
        """Eq. (2): ``u_α(t)`` of the aligned initialisation, shape (r,) or (m, r).

        Written as ``s / (1 + (s/u₀ − 1) e^{−2st/τ})`` (the same function), which does not
        overflow for large ``t``.

        Parameters
        ----------
        t : float or array_like, shape (m,)
            Flow time(s).

        Returns
        -------
        ndarray, shape (r,) or (m, r)
            ``u_α(t)``; time along the first axis when ``t`` is an array.

        Examples
        --------
        It starts at ``u₀``, tends to ``s`` and solves ``τ u̇ = 2u(s − u)``:

        >>> import numpy as np
        >>> net = LinearNet.paper(tau=2.0)
        >>> net.mode_strengths(0.0).tolist(), net.mode_strengths(1e3).tolist()
        ([0.001, 0.001, 0.001], [3.0, 2.0, 1.0])
        >>> t, h = 1.5, 1e-6
        >>> du = (net.mode_strengths(t + h) - net.mode_strengths(t - h)) / (2 * h)
        >>> u = net.mode_strengths(t)
        >>> bool(np.allclose(net.tau * du, 2 * u * (net.s - u), rtol=1e-7))
        True
        """
        t_arr = np.asarray(t, dtype=np.float64)[..., None]
        decay = np.exp(-2 * self.s * t_arr / self.tau)
        return self.s / (1 + (self.s / self.u0 - 1) * decay)

    def half_time(self) -> np.ndarray:
        """Time at which each mode reaches ``s/2``: ``τ/(2s) · log(s/u₀ − 1)`` (needs u₀ < s/2).

        Returns
        -------
        ndarray, shape (r,)
            ``t½`` of each mode, in flow time.

        Examples
        --------
        >>> import numpy as np
        >>> net = LinearNet.paper()
        >>> t_half = net.half_time()
        >>> bool(np.allclose(np.diag(net.mode_strengths(t_half)), net.s / 2))
        True
        """
        return self.tau / (2 * self.s) * np.log(self.s / self.u0 - 1)

    def exact(self, t: float | np.ndarray) -> dict[str, np.ndarray]:
        """The exact flow from the aligned initialisation.

        ``W1(t) = R diag(a(t)) Vᵀ`` and ``W2(t) = U diag(a(t)) Rᵀ`` with ``a = √u(t)``
        (both layers stay balanced).  Time along the first axis when ``t`` is an array.

        Parameters
        ----------
        t : float or array_like, shape (m,)
            Flow time(s).

        Returns
        -------
        dict of str to ndarray
            ``W1`` and ``W2`` at ``t``, shapes (n_hidden, n_in) and (n_out, n_hidden), or
            with a leading axis of length m.

        Raises
        ------
        ValueError
            If the model was built with ``init="random"`` (no closed form).

        Examples
        --------
        The closed form solves ``dθ/dt = −∇L``:

        >>> import numpy as np
        >>> net = LinearNet.paper()
        >>> t, h = 2.0, 1e-5
        >>> dW1 = (net.exact(t + h)["W1"] - net.exact(t - h)["W1"]) / (2 * h)
        >>> bool(np.allclose(dW1, -net.grad(net.exact(t))["W1"], atol=1e-8))
        True
        >>> net.exact(np.array([0.0, 1.0]))["W2"].shape
        (2, 6, 4)
        """
        if self.init != "aligned":
            raise ValueError("exact(t) needs init='aligned' (the closed form of Saxe et al.)")
        a = np.sqrt(self.mode_strengths(t))
        W1 = np.einsum("hr,...r,ir->...hi", self.R, a, self.V)
        W2 = np.einsum("or,...r,hr->...oh", self.U, a, self.R)
        return {"W1": W1, "W2": W2}
