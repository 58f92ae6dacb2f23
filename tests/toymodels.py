"""Small models used by the engine tests: a correct one and deliberately broken variants."""

from __future__ import annotations

import numpy as np

from gradflow.model import Model


def softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax shifted by the real part's max (complex-step safe)."""
    e = np.exp(s - s.real.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class TinyAttention(Model):
    """One softmax-attention head with squared loss, two parameter blocks.

    ``s_i = X_iᵀ W q_i``, ``a_i = softmax(s_i)``, ``f_i = vᵀ X_i a_i``,
    ``L = ½ mean_i (f_i − y_i)²``.  Gradients by hand, used to test the checks.
    """

    name = "tiny_attention"
    citation = "test model"
    dynamics = "gradient flow"

    def __init__(self, n: int = 5, d: int = 3, T: int = 4, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, d, T))
        self.q = rng.standard_normal((n, d))
        self.y = rng.standard_normal(n)
        self.d = d

    def config(self) -> dict:
        return {"n": len(self.y), "d": self.d}

    def init_params(self, rng: np.random.Generator) -> dict:
        return {
            "W": 0.5 * rng.standard_normal((self.d, self.d)),
            "v": rng.standard_normal(self.d),
        }

    def _forward(self, p: dict) -> tuple:
        s = np.einsum("ndt,de,ne->nt", self.X, p["W"], self.q)
        a = softmax(s)
        z = np.einsum("ndt,nt->nd", self.X, a)
        f = z @ p["v"]
        return s, a, z, f

    def loss(self, p: dict) -> float:
        *_, f = self._forward(p)
        return 0.5 * np.mean((f - self.y) ** 2)

    def grad(self, p: dict) -> dict:
        _, a, z, f = self._forward(p)
        df = (f - self.y) / len(self.y)
        dv = z.T @ df
        da = df[:, None] * np.einsum("ndt,d->nt", self.X, p["v"])
        ds = a * (da - np.sum(a * da, axis=1, keepdims=True))
        dW = np.einsum("ndt,nt,ne->de", self.X, ds, self.q)
        return {"W": dW, "v": dv}


class WrongBlock(TinyAttention):
    """The gradient of one block is 1 % too large."""

    name = "wrong_block"

    def __init__(self, block: str = "W", factor: float = 1.01, **kw):
        super().__init__(**kw)
        self.block, self.factor = block, factor

    def grad(self, p: dict) -> dict:
        g = super().grad(p)
        g[self.block] = self.factor * g[self.block]
        return g


class NotComplexSafe(TinyAttention):
    """Correct gradient, but the loss drops imaginary parts (float preallocation)."""

    name = "not_complex_safe"

    def loss(self, p: dict) -> float:
        W = np.empty((self.d, self.d))
        W[:] = p["W"]
        return super().loss({"W": W, "v": p["v"]})
