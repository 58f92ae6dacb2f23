"""Tests of the Model base class: counters, defaults, hvp detection."""

import numpy as np
import pytest
from toymodels import TinyAttention

from gradflow.model import Model


def test_counts_outermost_calls_only():
    m = TinyAttention()
    p = m.init_params(np.random.default_rng(0))
    m.loss(p)
    m.grad(p)
    m.loss_and_grad(p)  # default implementation calls loss and grad: counted once
    assert m.counts == {"loss": 1, "grad": 1, "loss_and_grad": 1, "hvp": 0}
    m.reset_counts()
    assert m.counts["loss"] == 0


def test_counts_survive_exceptions():
    class Fails(TinyAttention):
        def loss(self, p):
            raise RuntimeError("boom")

    m = Fails()
    with pytest.raises(RuntimeError):
        m.loss({})
    p = m.init_params(np.random.default_rng(0))
    m.grad(p)
    assert m.counts["grad"] == 1


def test_has_hvp_and_defaults():
    class WithHvp(TinyAttention):
        def hvp(self, p, v):
            return v

    assert not TinyAttention().has_hvp
    assert WithHvp().has_hvp
    m = TinyAttention()
    assert m.observables({}) == {}
    assert m.param_shapes() == {"W": (3, 3), "v": (3,)}
    assert repr(m) == "TinyAttention(n=5, d=3)"
    with pytest.raises(NotImplementedError, match="has no hvp"):
        m.hvp({}, {})


def test_base_methods_raise_clearly():
    m = Model()
    for call in (lambda: m.init_params(None), lambda: m.loss({}), lambda: m.grad({})):
        with pytest.raises(NotImplementedError, match="must implement"):
            call()
