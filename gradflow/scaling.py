"""Power laws ``y = c · x^a``: fit the exponent with a confidence interval, and plot it.

Theory papers state scalings — a phase-I time ``∝ K²``, an end of phase 1 ``∝ 1/m``.  A sweep
(:func:`gradflow.sweep.sweep`) measures ``y`` at several sizes ``x`` (and seeds);
:func:`fit_power_law` fits ``log y = log c + a log x`` by least squares and gives the exponent
``a`` with a Student-t confidence interval, so that the theory's exponent is either inside the
interval or not; :func:`plot_power_law` draws the points, the fit and the theory's slope on
log-log axes.

The interval is the ordinary least-squares one: it assumes the log-residuals are independent
with a common variance.  Several seeds at the same ``x`` are separate points; a systematic
deviation from a pure power law (a log correction, a finite-size term) is *not* noise, and
makes the interval exclude the asymptotic exponent once the noise is small — which is the
honest answer for the sizes measured.

Examples
--------
>>> import numpy as np
>>> from gradflow.scaling import fit_power_law
>>> K = np.array([5.0, 10, 20, 40])
>>> fit = fit_power_law(K, 1.3 * K**2)
>>> round(fit.exponent, 12), round(fit.prefactor, 12)
(2.0, 1.3)
>>> fit.contains(2.0)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["PowerLawFit", "fit_power_law", "plot_power_law"]


@dataclass(frozen=True)
class PowerLawFit:
    """The result of :func:`fit_power_law`: ``y ≈ prefactor · x^exponent``.

    A frozen dataclass: each parameter is stored as an attribute of the same name.

    Parameters
    ----------
    exponent : float
        The fitted slope ``a`` of ``log y`` against ``log x``.
    prefactor : float
        ``c = exp(intercept)``.
    interval : tuple of float
        The ``confidence`` interval of the exponent: ``a ± t_{(1+confidence)/2, n−2} · stderr``.
    stderr : float
        Standard error of the exponent, ``s / sqrt(Σ (log x − mean)²)`` with
        ``s² = RSS / (n − 2)``.
    prefactor_interval : tuple of float
        The ``confidence`` interval of ``c`` (the intercept's interval, exponentiated).
    confidence : float
        The level of the intervals.
    n : int
        Number of points.
    r_squared : float
        Coefficient of determination of the log-log fit.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([10.0, 20, 40, 80])
    >>> fit = fit_power_law(m, 3.0 / m * np.exp([0.02, -0.02, 0.02, -0.02]))
    >>> print(fit)
    exponent -1.012, 95% CI [-1.082, -0.9413]; prefactor 3.118; n = 4, R² = 0.9995
    >>> fit.contains(-1.0), fit.contains(-0.5)
    (True, False)
    """

    exponent: float
    prefactor: float
    interval: tuple[float, float]
    stderr: float
    prefactor_interval: tuple[float, float]
    confidence: float
    n: int
    r_squared: float

    def predict(self, x: Any) -> np.ndarray:
        """``prefactor · x^exponent``.

        Parameters
        ----------
        x : array_like
            Sizes (any shape).

        Returns
        -------
        ndarray
            The fitted power law at ``x``, same shape.

        Examples
        --------
        >>> import numpy as np
        >>> K = np.array([2.0, 4.0, 8.0])
        >>> fit_power_law(K, 0.5 * K**3).predict([10.0, 100.0]).round(6).tolist()
        [500.0, 500000.0]
        """
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def as_dict(self) -> dict[str, Any]:
        """The fit as plain floats and lists (for a results JSON file).

        Returns
        -------
        dict
            ``exponent``, ``interval``, ``confidence``, ``stderr``, ``prefactor``,
            ``prefactor_interval``, ``n`` and ``r_squared``, JSON-serialisable.

        Examples
        --------
        >>> import json
        >>> import numpy as np
        >>> K = np.array([5.0, 10, 20, 40])
        >>> d = fit_power_law(K, 1.3 * K**2).as_dict()
        >>> round(d["exponent"], 12), d["n"], d["confidence"]
        (2.0, 4, 0.95)
        >>> json.loads(json.dumps(d)) == d
        True
        """
        return {
            "exponent": float(self.exponent),
            "interval": [float(v) for v in self.interval],
            "confidence": float(self.confidence),
            "stderr": float(self.stderr),
            "prefactor": float(self.prefactor),
            "prefactor_interval": [float(v) for v in self.prefactor_interval],
            "n": int(self.n),
            "r_squared": float(self.r_squared),
        }

    def contains(self, exponent: float) -> bool:
        """Whether ``exponent`` lies in the confidence interval.

        Parameters
        ----------
        exponent : float
            The exponent to test, e.g. the theory's.

        Returns
        -------
        bool
            ``interval[0] <= exponent <= interval[1]``.

        Examples
        --------
        >>> import numpy as np
        >>> K = np.array([4.0, 8, 16, 32, 64])
        >>> fit = fit_power_law(K, K**2 * np.exp([0.1, -0.1, 0.1, -0.1, 0.1]))
        >>> fit.contains(2.0), fit.contains(2.5)
        (True, False)
        """
        return bool(self.interval[0] <= exponent <= self.interval[1])

    def __str__(self) -> str:
        lo, hi = self.interval
        return (
            f"exponent {self.exponent:.4g}, {100 * self.confidence:g}% CI [{lo:.4g}, {hi:.4g}]; "
            f"prefactor {self.prefactor:.4g}; n = {self.n}, R² = {self.r_squared:.4f}"
        )


def _positive_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of positive numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(
            f"{name} must be finite and positive for a log-log fit; {int(bad.sum())} of "
            f"{arr.size} values are not (first: {arr[bad][0]!r}); drop failed runs first"
        )
    return arr


def fit_power_law(x: Any, y: Any, confidence: float = 0.95) -> PowerLawFit:
    """Fit ``y = c · x^a`` by least squares on ``log y = log c + a log x``.

    Parameters
    ----------
    x, y : array_like of shape (n,)
        Positive sizes and measurements (several points may share an ``x``, e.g. seeds).
    confidence : float
        Level of the intervals, in (0, 1).

    Returns
    -------
    PowerLawFit
        Exponent and prefactor with their Student-t intervals (``n − 2`` degrees of freedom).

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length, a value is not finite and positive, there are
        fewer than 3 points or fewer than 2 distinct ``x``, or ``confidence`` is not in (0, 1).
    TypeError
        If ``x`` or ``y`` is not numeric.

    Examples
    --------
    Exact data give back the exponent and the prefactor, with an interval of width 0:

    >>> import numpy as np
    >>> x = np.array([1.0, 2, 4, 8, 16])
    >>> fit = fit_power_law(x, 7.0 * x**-0.5)
    >>> round(fit.exponent, 12), round(fit.prefactor, 12), round(fit.r_squared, 12)
    (-0.5, 7.0, 1.0)
    >>> fit.interval[1] - fit.interval[0] < 1e-12
    True

    Seeds at the same size are separate points; a failed run (a zero) must be dropped first:

    >>> fit_power_law([10, 10, 20, 20], [1.0, 1.1, 4.1, 3.9]).n
    4
    >>> fit_power_law([10, 20, 40], [1.0, 0.0, 3.0])
    Traceback (most recent call last):
        ...
    ValueError: y must be finite and positive for a log-log fit; 1 of 3 values are not ...
    """
    x_arr = _positive_array(x, "x")
    y_arr = _positive_array(y, "y")
    if x_arr.size != y_arr.size:
        raise ValueError(f"x and y must have the same length, got {x_arr.size} and {y_arr.size}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    n = x_arr.size
    if n < 3:
        raise ValueError(f"a fit with a confidence interval needs at least 3 points, got {n}")
    lx, ly = np.log(x_arr), np.log(y_arr)
    lx_mean, ly_mean = lx.mean(), ly.mean()
    sxx = float(np.sum((lx - lx_mean) ** 2))
    if sxx <= 1e-24 * max(1.0, float(np.sum(lx**2))):
        raise ValueError("x must take at least 2 distinct values")
    slope = float(np.sum((lx - lx_mean) * (ly - ly_mean)) / sxx)
    intercept = float(ly_mean - slope * lx_mean)
    residuals = ly - (intercept + slope * lx)
    rss = float(residuals @ residuals)
    s2 = rss / (n - 2)
    stderr = math.sqrt(s2 / sxx)
    stderr_intercept = math.sqrt(s2 * (1.0 / n + lx_mean**2 / sxx))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 2))
    syy = float(np.sum((ly - ly_mean) ** 2))
    return PowerLawFit(
        exponent=slope,
        prefactor=math.exp(intercept),
        interval=(slope - t * stderr, slope + t * stderr),
        stderr=stderr,
        prefactor_interval=(
            math.exp(intercept - t * stderr_intercept),
            math.exp(intercept + t * stderr_intercept),
        ),
        confidence=float(confidence),
        n=n,
        r_squared=1.0 - rss / syy if syy > 0 else 1.0,
    )


def plot_power_law(
    x: Any,
    y: Any,
    fit: PowerLawFit | None = None,
    theory_exponent: float | None = None,
    ax: Any = None,
    *,
    label: str | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    color: str | None = None,
    theory_label: str = "theory",
) -> Any:
    """Draw ``y`` against ``x`` on log-log axes with the fitted line and the theory's slope.

    Parameters
    ----------
    x, y : array_like
        The measurements (as given to :func:`fit_power_law`).
    fit : PowerLawFit, optional
        Default: ``fit_power_law(x, y)``.
    theory_exponent : float, optional
        Draws a dotted line of this slope through the geometric mean of the points (so it
        compares slopes, not prefactors, which theories rarely give).
    ax : matplotlib Axes, optional
        Default: a new figure's axes.
    label, xlabel, ylabel, color, theory_label : str
        Legend label of the points, axis labels, colour, legend label of the theory line.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (log-log, with a legend).

    Raises
    ------
    TypeError
        If ``fit`` is given and is not a :class:`PowerLawFit`.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> K = np.array([5.0, 10, 20, 40])
    >>> ax = plot_power_law(K, 1.3 * K**2, theory_exponent=2.0, xlabel="K")
    >>> ax.get_xscale(), ax.get_yscale(), ax.get_xlabel()
    ('log', 'log', 'K')
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['measured', 'fit: slope 2.000 [2.000, 2.000] (95%)', 'theory: slope 2']
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    x_arr = _positive_array(x, "x")
    y_arr = _positive_array(y, "y")
    fit = fit_power_law(x_arr, y_arr) if fit is None else fit
    if not isinstance(fit, PowerLawFit):
        raise TypeError(f"fit must be a PowerLawFit, got {type(fit).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    points = ax.loglog(x_arr, y_arr, "o", color=color, alpha=0.7, label=label or "measured")[0]
    color = points.get_color()
    span = np.geomspace(x_arr.min(), x_arr.max(), 50)
    lo, hi = fit.interval
    ax.loglog(
        span,
        fit.predict(span),
        "-",
        color=color,
        label=f"fit: slope {fit.exponent:.3f} [{lo:.3f}, {hi:.3f}] ({100 * fit.confidence:g}%)",
    )
    if theory_exponent is not None:
        x0 = math.exp(np.log(x_arr).mean())
        y0 = math.exp(np.log(y_arr).mean())
        ax.loglog(
            span,
            y0 * (span / x0) ** theory_exponent,
            ":",
            color="k",
            label=f"{theory_label}: slope {theory_exponent:g}",
        )
    sizes = np.unique(x_arr)
    if sizes.size <= 10:  # label the measured sizes themselves
        ax.set_xticks(sizes, [f"{v:g}" for v in sizes])
        ax.set_xticks([], minor=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax
