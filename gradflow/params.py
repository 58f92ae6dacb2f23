"""Named float64 arrays <-> one flat vector.

``solve_ivp`` integrates a 1-D state, while a model speaks of named matrices
(``W_Q``, ``W_K``, ...).  :class:`Params` is the bridge: it records the names and
shapes of a parameter dictionary, which of them are trainable, and packs the
trainable ones into one vector (in the order of the names) and back.  Frozen
parameters are kept aside and re-attached on unpacking, so they never move
under gradient flow, gradient descent or Adam.

A dictionary with a trainable matrix and a frozen vector: only the matrix is packed, and
the frozen entry comes back unchanged whatever vector is unpacked:

>>> import numpy as np
>>> from gradflow.params import Params
>>> p = {"W": np.ones((2, 2)), "a": np.zeros(3)}
>>> spec = Params(p, trainable=("W",))
>>> spec.size
4
>>> v = spec.pack(p)
>>> spec.unpack(2 * v)["W"]
array([[2., 2.],
       [2., 2.]])
>>> spec.unpack(2 * v)["a"]
array([0., 0., 0.])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["Params", "validate_params"]


def validate_params(
    params: object,
    expected: Mapping[str, tuple[int, ...]] | None = None,
    argname: str = "params",
    allow_complex: bool = False,
) -> dict[str, np.ndarray]:
    """Check a parameter dictionary and return it with float64 arrays.

    Parameters
    ----------
    params : mapping of str to array_like
        The parameters.
    expected : mapping of str to shape, optional
        Names and shapes the parameters must have (exactly these names).
    argname : str
        Name of the argument, used in error messages.
    allow_complex : bool
        Accept complex arrays (for complex-step differentiation).

    Returns
    -------
    dict of str to ndarray
        The same arrays (not copied when already float64).

    Raises
    ------
    TypeError
        If ``params`` is not a mapping, or an entry is not a real float64 array.
    ValueError
        If names or shapes differ from ``expected``, or a value is not finite.

    Examples
    --------
    Float64 arrays pass through without a copy; anything else is refused with a message
    that names the entry:

    >>> import numpy as np
    >>> W = np.ones((2, 3))
    >>> validate_params({"W": W}, expected={"W": (2, 3)})["W"] is W
    True
    >>> validate_params({"W": np.ones(3, dtype=np.int64)})
    Traceback (most recent call last):
    ...
    TypeError: params['W'] has dtype int64; gradflow computes in float64: pass ...
    >>> validate_params({"W": W}, expected={"W": (3, 2)}, argname="params0")
    Traceback (most recent call last):
    ...
    ValueError: params0['W'] has shape (2, 3); expected (3, 2)
    >>> validate_params({"W": np.array([1.0, np.nan])})
    Traceback (most recent call last):
    ...
    ValueError: params['W'] contains non-finite values (nan or inf)
    """
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{argname} must be a dict of name -> numpy array, got {type(params).__name__}"
        )
    if expected is not None:
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        if missing or extra:
            raise ValueError(
                f"{argname} has the wrong names: missing {missing}, unexpected {extra}; "
                f"expected exactly {sorted(expected)}"
            )
    out: dict[str, np.ndarray] = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"{argname} keys must be str, got {name!r}")
        arr = np.asarray(value)
        if arr.dtype == np.float64 or (allow_complex and arr.dtype == np.complex128):
            pass
        elif arr.dtype.kind in "iub" or arr.dtype == np.float32 or arr.dtype == np.float16:
            raise TypeError(
                f"{argname}[{name!r}] has dtype {arr.dtype}; gradflow computes in float64: "
                f"pass np.asarray(value, dtype=np.float64)"
            )
        else:
            raise TypeError(f"{argname}[{name!r}] has dtype {arr.dtype}; expected float64")
        if expected is not None and arr.shape != tuple(expected[name]):
            raise ValueError(
                f"{argname}[{name!r}] has shape {arr.shape}; expected {tuple(expected[name])}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{argname}[{name!r}] contains non-finite values (nan or inf)")
        out[name] = arr
    return out


class Params:
    """Layout of a parameter dictionary and its trainable subset as a flat vector.

    Parameters
    ----------
    template : mapping of str to ndarray
        A parameter dictionary; its names, shapes and (for the frozen entries) values are
        recorded.  Entries are validated (float64, finite).
    trainable : iterable of str, optional
        Names that move.  ``None`` means all.  The flat vector holds only these, in the
        order of ``template``.

    Attributes
    ----------
    names : tuple of str
        All parameter names, in template order.
    trainable : tuple of str
        The names packed into the vector.
    shapes : dict of str to tuple
        Shape of every parameter.
    frozen : dict of str to ndarray
        Copies of the entries that do not move, re-attached by :meth:`unpack`.
    slices : dict of str to slice
        Where each trainable entry sits in the packed vector.
    size : int
        Length of the packed vector.

    Raises
    ------
    ValueError
        If ``template`` is empty, ``trainable`` is empty or names something that is not a
        parameter (and as :func:`validate_params` for bad entries).

    Examples
    --------
    The vector follows the order of ``template``, not the order of ``trainable``:

    >>> import numpy as np
    >>> template = {"W_Q": np.zeros((2, 2)), "W_K": np.ones(3), "v": np.zeros(2)}
    >>> spec = Params(template, trainable=["v", "W_Q"])
    >>> spec
    Params(trainable=['W_Q', 'v'], frozen=['W_K'], size=6)
    >>> spec.slices
    {'W_Q': slice(0, 4, None), 'v': slice(4, 6, None)}
    >>> Params(template, trainable=["W_V"])
    Traceback (most recent call last):
    ...
    ValueError: trainable names ['W_V'] are not parameters; the parameters are ['W_Q', 'W_K', 'v']
    """

    def __init__(self, template: Mapping[str, np.ndarray], trainable: Iterable[str] | None = None):
        checked = validate_params(template, argname="params")
        if not checked:
            raise ValueError("params is empty: a model needs at least one parameter")
        self.names: tuple[str, ...] = tuple(checked)
        self.shapes: dict[str, tuple[int, ...]] = {k: v.shape for k, v in checked.items()}
        if trainable is None:
            train = self.names
        else:
            if isinstance(trainable, str):
                trainable = (trainable,)
            train_set = list(trainable)
            unknown = sorted(set(train_set) - set(self.names))
            if unknown:
                raise ValueError(
                    f"trainable names {unknown} are not parameters; the parameters are "
                    f"{list(self.names)}"
                )
            if not train_set:
                raise ValueError("trainable is empty: name at least one parameter that moves")
            train = tuple(n for n in self.names if n in train_set)
        self.trainable: tuple[str, ...] = train
        self.frozen: dict[str, np.ndarray] = {
            k: v.copy() for k, v in checked.items() if k not in self.trainable
        }
        sizes = [int(np.prod(self.shapes[k], dtype=np.int64)) for k in self.trainable]
        self.slices: dict[str, slice] = {}
        start = 0
        for name, n in zip(self.trainable, sizes, strict=True):
            self.slices[name] = slice(start, start + n)
            start += n
        self.size: int = start

    def __repr__(self) -> str:
        return (
            f"Params(trainable={list(self.trainable)}, frozen={list(self.frozen)}, "
            f"size={self.size})"
        )

    def pack(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate the trainable entries of ``params`` into one vector.

        Parameters
        ----------
        params : mapping of str to ndarray
            A parameter dictionary with (at least) the trainable names, in the recorded
            shapes; the frozen entries are ignored.

        Returns
        -------
        ndarray, shape (size,)
            A new vector, float64 (complex128 when the entries are complex, for the
            complex-step check), the entries raveled in C order one after the other.

        Examples
        --------
        >>> import numpy as np
        >>> p = {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([5.0])}
        >>> Params(p).pack(p)
        array([1., 2., 3., 4., 5.])
        >>> Params(p, trainable=["b"]).pack(p)
        array([5.])
        """
        if not self.trainable:
            return np.zeros(0)
        first = np.asarray(params[self.trainable[0]])
        dtype = np.result_type(first.dtype, np.float64)
        vec = np.empty(self.size, dtype=dtype)
        for name in self.trainable:
            vec[self.slices[name]] = np.asarray(params[name]).ravel()
        return vec

    def unpack(self, vec: np.ndarray) -> dict[str, np.ndarray]:
        """Split a vector into named arrays (views of ``vec``) and re-attach frozen entries.

        The returned trainable arrays are views of ``vec``; the frozen ones are the stored
        copies.  Models must not modify their input (rule 6 of :class:`gradflow.Model`).

        Parameters
        ----------
        vec : ndarray, shape (size,)
            A packed vector, e.g. the ODE state or a GD iterate.

        Returns
        -------
        dict of str to ndarray
            Every parameter (trainable and frozen) in template order and shape.

        Raises
        ------
        ValueError
            If ``vec`` does not have shape ``(size,)``.

        Examples
        --------
        ``unpack`` inverts :meth:`pack`, without copying the trainable part:

        >>> import numpy as np
        >>> p = {"W": np.arange(6.0).reshape(2, 3), "b": np.ones(2)}
        >>> spec = Params(p, trainable=["W"])
        >>> v = spec.pack(p)
        >>> out = spec.unpack(v)
        >>> bool(np.array_equal(out["W"], p["W"])), np.shares_memory(out["W"], v)
        (True, True)
        >>> out["b"]
        array([1., 1.])
        >>> spec.unpack(np.zeros(5))
        Traceback (most recent call last):
        ...
        ValueError: vector has shape (5,); expected (6,)
        """
        vec = np.asarray(vec)
        if vec.shape != (self.size,):
            raise ValueError(f"vector has shape {vec.shape}; expected ({self.size},)")
        out: dict[str, np.ndarray] = {}
        for name in self.names:
            if name in self.slices:
                out[name] = vec[self.slices[name]].reshape(self.shapes[name])
            else:
                out[name] = self.frozen[name]
        return out
