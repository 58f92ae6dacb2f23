"""Quadratic loss ``L(θ) = ½ θᵀHθ``: an exact-solution oracle for the engine.

Gradient flow ``dθ/dt = −Hθ`` has the closed form ``θ(t) = expm(−Ht) θ₀``.  With the
eigendecomposition ``H = Q Λ Qᵀ`` this is ``Q exp(−Λt) Qᵀ θ₀``: every eigen-coordinate
``(Qᵀθ)_i`` decays as ``exp(−λ_i t)``.  A Hessian with eigenvalues spread over many decades
(:meth:`Quadratic.stiff`) is the textbook stiff problem of ``specs/numerics.md`` §3.1.

Examples
--------
>>> import numpy as np
>>> from gradflow.models.quadratic import Quadratic
>>> model = Quadratic(np.diag([1.0, 4.0]))
>>> theta0 = {"theta": np.array([1.0, 1.0])}
>>> float(model.loss(theta0))
2.5
>>> model.grad(theta0)["theta"].tolist()
[1.0, 4.0]
>>> np.round(model.exact(0.5, theta0["theta"]), 6).tolist()
[0.606531, 0.135335]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradflow.model import Model

__all__ = ["Quadratic"]


class Quadratic(Model):
    """The quadratic loss ``L(θ) = ½ θᵀHθ`` with a symmetric Hessian ``H``.

    Parameters
    ----------
    H : array_like, shape (n, n)
        Symmetric, finite Hessian.  It need not be positive definite (a negative
        eigenvalue makes the flow grow along that direction).

    Attributes
    ----------
    H : ndarray, shape (n, n)
        The Hessian.
    eigenvalues : ndarray, shape (n,)
        Eigenvalues ``λ`` of ``H`` in ascending order.
    eigenvectors : ndarray, shape (n, n)
        Orthonormal eigenvectors ``Q`` (columns), ``H = Q diag(λ) Qᵀ``.

    Raises
    ------
    TypeError
        If ``H`` is not a real matrix.
    ValueError
        If ``H`` is not square, is empty, has non-finite entries or is not symmetric.

    Notes
    -----
    ``loss``, ``grad`` and ``hvp`` are one line each: ``L = ½ θᵀHθ``, ``∇L = Hθ``,
    ``∇²L·v = Hv``.  The initialisation is a standard normal ``θ₀``.

    Examples
    --------
    The integrated flow agrees with the closed form ``expm(−Ht) θ₀``:

    >>> import numpy as np
    >>> from scipy.linalg import expm
    >>> from gradflow import integrate_flow
    >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
    >>> theta0 = np.array([1.0, -1.0])
    >>> traj = integrate_flow(model, {"theta": theta0}, t_span=(0.0, 1.0), rtol=1e-10,
    ...                       atol=1e-12)
    >>> theta1 = traj.params["theta"][-1]
    >>> bool(np.allclose(theta1, expm(-model.H) @ theta0, rtol=1e-7, atol=1e-9))
    True
    >>> model.eigenvalues.round(6).tolist()
    [1.381966, 3.618034]
    """

    name = "quadratic"
    citation = "exact oracle: gradient flow on L = ½ θᵀHθ is θ(t) = expm(−Ht) θ₀"
    dynamics = "gradient flow"

    def __init__(self, H: Sequence[Sequence[float]] | np.ndarray):
        H = np.asarray(H)
        if H.dtype.kind not in "iuf":
            raise TypeError(f"H must be a real matrix, got dtype {H.dtype}")
        H = H.astype(np.float64)
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
            raise ValueError(f"H must be a square (n, n) matrix with n >= 1, got shape {H.shape}")
        if not np.all(np.isfinite(H)):
            raise ValueError("H contains non-finite values (nan or inf)")
        if not np.allclose(H, H.T, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(H).max())):
            raise ValueError("H must be symmetric (H == H.T up to rounding)")
        self.H = 0.5 * (H + H.T)
        self.eigenvalues, self.eigenvectors = np.linalg.eigh(self.H)
        self._config: dict[str, Any] = {"H": self.H.tolist()}

    # --- constructors -----------------------------------------------------------
    @classmethod
    def paper(cls, kappa: float = 10.0, angle: float = np.pi / 6) -> Quadratic:
        """A 2-D quadratic with eigenvalues 1 and ``kappa``, axes rotated by ``angle``.

        Small enough to draw as a phase portrait; the flow lines are the curves
        ``c₂ = C·c₁^kappa`` in eigen-coordinates.

        Parameters
        ----------
        kappa : float
            Condition number: the eigenvalues are 1 and ``kappa``.
        angle : float
            Rotation of the eigenvectors from the coordinate axes, in radians.

        Returns
        -------
        Quadratic
            The model; its :meth:`config` records ``constructor="paper"`` and the arguments.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic.paper()
        >>> model.eigenvalues.round(12).tolist()
        [1.0, 10.0]
        >>> bool(np.allclose(np.abs(model.eigenvectors[:, 0]), [np.cos(np.pi / 6), 0.5]))
        True
        >>> model.config()
        {'constructor': 'paper', 'kappa': 10.0, 'angle': 0.5235987755982988}
        """
        c, s = np.cos(angle), np.sin(angle)
        Q = np.array([[c, -s], [s, c]])
        model = cls(Q @ np.diag([1.0, float(kappa)]) @ Q.T)
        model._config = {"constructor": "paper", "kappa": float(kappa), "angle": float(angle)}
        return model

    @classmethod
    def stiff(cls, n: int = 20, kappa: float = 1e4, seed: int = 0) -> Quadratic:
        """A stiff quadratic: eigenvalues log-spaced from 1 to ``kappa`` in a random rotation.

        Parameters
        ----------
        n : int
            Dimension.
        kappa : float
            Condition number (largest eigenvalue; the smallest is 1).
        seed : int
            Seed of the random orthogonal matrix (QR of a Gaussian matrix).

        Returns
        -------
        Quadratic
            The model; its :meth:`config` records ``constructor="stiff"`` and the arguments.

        Raises
        ------
        ValueError
            If ``n < 1`` or ``kappa`` is not a finite number ``>= 1``.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic.stiff(5, 100.0)
        >>> model.eigenvalues.round(9).tolist()
        [1.0, 3.16227766, 10.0, 31.622776602, 100.0]
        >>> bool(np.allclose(model.H, model.H.T)), float(np.linalg.cond(model.H).round(6))
        (True, 100.0)
        """
        if int(n) < 1:
            raise ValueError(f"n must be a positive integer, got {n}")
        if not np.isfinite(kappa) or kappa < 1:
            raise ValueError(f"kappa must be a finite number >= 1, got {kappa}")
        rng = np.random.default_rng(seed)
        Q, R = np.linalg.qr(rng.standard_normal((int(n), int(n))))
        Q = Q * np.sign(np.diag(R))
        lam = np.geomspace(1.0, float(kappa), int(n))
        model = cls((Q * lam) @ Q.T)
        model._config = {"constructor": "stiff", "n": int(n), "kappa": float(kappa), "seed": seed}
        return model

    # --- the contract -------------------------------------------------------------
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A standard normal ``θ₀`` of length ``n``.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the draw.

        Returns
        -------
        dict of str to ndarray
            ``{"theta": θ₀}``, shape (n,).

        Examples
        --------
        >>> import numpy as np
        >>> p = Quadratic.stiff(4).init_params(np.random.default_rng(0))
        >>> p["theta"].shape, bool(np.array_equal(
        ...     p["theta"], np.random.default_rng(0).standard_normal(4)))
        ((4,), True)
        """
        return {"theta": rng.standard_normal(self.H.shape[0])}

    def loss(self, params: Mapping[str, np.ndarray]) -> float:
        """``L = ½ θᵀHθ``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``{"theta": θ}``, shape (n,).

        Returns
        -------
        float
            The loss.

        Examples
        --------
        >>> import numpy as np
        >>> float(Quadratic(np.diag([2.0, 6.0])).loss({"theta": np.array([1.0, 1.0])}))
        4.0
        """
        theta = params["theta"]
        return 0.5 * theta @ (self.H @ theta)

    def grad(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``∇L = Hθ``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``{"theta": θ}``, shape (n,).

        Returns
        -------
        dict of str to ndarray
            ``{"theta": Hθ}``.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
        >>> model.grad({"theta": np.array([1.0, -1.0])})["theta"].tolist()
        [1.0, -2.0]
        """
        return {"theta": self.H @ params["theta"]}

    def loss_and_grad(
        self, params: Mapping[str, np.ndarray]
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradient sharing ``Hθ``.

        Parameters
        ----------
        params : dict of str to ndarray
            ``{"theta": θ}``, shape (n,).

        Returns
        -------
        loss : float
            ``½ θᵀHθ``, the same number as :meth:`loss`.
        grad : dict of str to ndarray
            ``{"theta": Hθ}``, the same as :meth:`grad`.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
        >>> loss, g = model.loss_and_grad({"theta": np.array([1.0, -1.0])})
        >>> float(loss), g["theta"].tolist()
        (1.5, [1.0, -2.0])
        """
        theta = params["theta"]
        H_theta = self.H @ theta
        return 0.5 * theta @ H_theta, {"theta": H_theta}

    def hvp(
        self, params: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """``∇²L·v = Hv`` (independent of ``θ``).

        Parameters
        ----------
        params : dict of str to ndarray
            ``{"theta": θ}`` (not used: the Hessian is constant).
        v : dict of str to ndarray
            The direction, ``{"theta": v}``.

        Returns
        -------
        dict of str to ndarray
            ``{"theta": Hv}``.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic([[2.0, 1.0], [1.0, 3.0]])
        >>> p = {"theta": np.zeros(2)}
        >>> model.hvp(p, {"theta": np.array([0.0, 1.0])})["theta"].tolist()
        [1.0, 3.0]
        """
        return {"theta": self.H @ v["theta"]}

    def observables(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``theta`` (the coordinates) and ``eig_coords = Qᵀθ`` (each decays as ``e^{−λt}``).

        Parameters
        ----------
        params : dict of str to ndarray
            ``{"theta": θ}``, shape (n,).

        Returns
        -------
        dict of str to ndarray
            ``theta`` (a copy) and ``eig_coords``.

        Examples
        --------
        >>> import numpy as np
        >>> model = Quadratic.paper()
        >>> theta = model.eigenvectors[:, 1] * 2.0
        >>> model.observables({"theta": theta})["eig_coords"].round(12).tolist()
        [0.0, 2.0]
        """
        theta = params["theta"]
        return {"theta": np.array(theta), "eig_coords": self.eigenvectors.T @ theta}

    def config(self) -> dict[str, Any]:
        """Constructor arguments: the Hessian, or the named constructor and its arguments.

        Returns
        -------
        dict
            JSON-serialisable: ``{"H": [[...]]}``, or ``{"constructor": ..., ...}`` for a
            model built by :meth:`paper` or :meth:`stiff`.

        Examples
        --------
        >>> Quadratic([[1.0, 0.0], [0.0, 2.0]]).config()
        {'H': [[1.0, 0.0], [0.0, 2.0]]}
        >>> Quadratic.stiff(3, 10.0).config()
        {'constructor': 'stiff', 'n': 3, 'kappa': 10.0, 'seed': 0}
        """
        return dict(self._config)

    def __repr__(self) -> str:
        lo, hi = self.eigenvalues[0], self.eigenvalues[-1]
        return f"Quadratic(n={self.H.shape[0]}, eigenvalues in [{lo:.3g}, {hi:.3g}])"

    # --- the closed form ------------------------------------------------------------
    def exact(self, t: float | np.ndarray, theta0: np.ndarray) -> np.ndarray:
        """The exact flow ``θ(t) = Q exp(−Λt) Qᵀ θ₀ = expm(−Ht) θ₀``.

        Parameters
        ----------
        t : float or array_like, shape (m,)
            Flow time(s).
        theta0 : array_like, shape (n,)
            Initial parameters.

        Returns
        -------
        ndarray, shape (n,) or (m, n)
            ``θ(t)``; time along the first axis when ``t`` is an array.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.linalg import expm
        >>> model = Quadratic.stiff(4, 10.0)
        >>> theta0 = np.arange(1.0, 5.0)
        >>> bool(np.allclose(model.exact(0.3, theta0), expm(-0.3 * model.H) @ theta0))
        True
        >>> model.exact(np.array([0.0, 0.3]), theta0).shape
        (2, 4)
        """
        theta0 = np.asarray(theta0, dtype=np.float64)
        Q, lam = self.eigenvectors, self.eigenvalues
        c0 = Q.T @ theta0
        t_arr = np.asarray(t, dtype=np.float64)
        decay = np.exp(-np.multiply.outer(t_arr, lam))
        return (decay * c0) @ Q.T
