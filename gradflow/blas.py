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

    Returns
    -------
    contextlib.AbstractContextManager
        ``threadpoolctl.threadpool_limits(limits=1)``, or a ``contextlib.nullcontext()``
        without threadpoolctl.

    Examples
    --------
    >>> import numpy as np
    >>> with one_thread():
    ...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
    9.0

    With threadpoolctl installed, every BLAS pool reports one thread inside the block:

    >>> try:
    ...     from threadpoolctl import threadpool_info
    ... except ImportError:
    ...     threadpool_info = list
    >>> with one_thread():
    ...     all(pool["num_threads"] == 1 for pool in threadpool_info()
    ...         if pool["user_api"] == "blas")
    True
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)
