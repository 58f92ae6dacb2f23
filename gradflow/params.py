"""Named float64 arrays <-> one flat vector.

``solve_ivp`` integrates a 1-D state, while a model speaks of named matrices
(``W_Q``, ``W_K``, ...).  :class:`Params` is the bridge: it records the names and
shapes of a parameter dictionary, which of them are trainable, and packs the
trainable ones into one vector (in the order of the names) and back.  Frozen
parameters are kept aside and re-attached on unpacking, so they never move
under gradient flow, gradient descent or Adam.

Examples
--------
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
    size : int
        Length of the packed vector.
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
        """Concatenate the trainable entries of ``params`` into one vector."""
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
        copies.  Models must not modify their input (rule 3 of :class:`gradflow.Model`).
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
