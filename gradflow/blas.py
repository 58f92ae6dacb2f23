"""Pinning BLAS to one thread for the small matrix products of these models.

The models multiply matrices of a few hundred rows at most.  On a busy 2-core machine a
multi-threaded OpenBLAS made such products 10-20x slower than one thread (measured: one
MNIST GD step of the two-mixture model took 253 ms with two threads against 13 ms with
one).  :func:`one_thread` pins BLAS with ``threadpoolctl`` when it is installed (the
``bench`` and ``test`` extras bring it) and does nothing otherwise.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["one_thread"]


def one_thread() -> contextlib.AbstractContextManager[Any]:
    """Context manager that limits BLAS to one thread when threadpoolctl is installed.

    Examples
    --------
    >>> import numpy as np
    >>> with one_thread():
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)
