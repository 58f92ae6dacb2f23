"""Tests of gradflow.checks: they must pass correct gradients and catch wrong ones by block."""

import numpy as np
import pytest
from toymodels import NotComplexSafe, TinyAttention, WrongBlock

import gradflow as gf
from gradflow.checks import GradientCheckError, check_gradient, check_model
from gradflow.model import Model


def point(model, seed=1):
    return model.init_params(np.random.default_rng(seed))


def test_correct_gradient_passes_every_check():
    model = TinyAttention()
    report = check_model(model)
    assert report.ok
    for grep in report.gradients:
        for b in grep.blocks:
            # complex step is exact to round-off; central differences to ~1e-10
            assert b.complex_step < 1e-12
            assert b.central_diff < 1e-8
            assert all(abs(s - 2) < 0.1 for s in b.taylor_slopes)
            assert b.taylor_slopes, "the loss is not linear along a random direction"
        for pair in grep.pairs:
            assert pair.asymmetry < 1e-6


@pytest.mark.parametrize("block", ["W", "v"])
def test_one_percent_wrong_block_is_caught_and_named(block):
    model = WrongBlock(block=block, factor=1.01)
    with pytest.raises(GradientCheckError) as err:
        check_model(model)
    msg = str(err.value)
    report = check_gradient(model, point(model))
    assert report.failing[0] == block
    failing_blocks = [b.block for b in report.blocks if not b.ok]
    assert failing_blocks == [block]
    assert f"{block}: directional derivative differs" in msg
    wrong = next(b for b in report.blocks if b.block == block)
    # 1 % error in the gradient gives a relative error near 1/2 %, far above the tolerances
    assert 1e-3 < wrong.central_diff < 1e-2
    assert 1e-3 < wrong.complex_step < 1e-2
    assert min(wrong.taylor_slopes) < 1.5


def test_symmetry_check_names_the_inconsistent_pair():
    # scaling one block of a gradient field breaks the symmetry of its Jacobian between that
    # block and the others (d(c·g_W)/dv != dg_v/dW): the pair W/v must be named
    report = check_gradient(WrongBlock(block="W", factor=1.01), point(TinyAttention()))
    bad_pairs = [p.blocks for p in report.pairs if not p.ok]
    assert ("W", "v") in bad_pairs
    assert ("v", "v") not in bad_pairs


def test_not_complex_safe_loss_is_reported():
    model = NotComplexSafe()
    report = check_gradient(model, point(model))
    assert not report.ok
    assert "imaginary part" in str(report)
    # the same model with the complex step switched off passes the other checks
    assert check_gradient(model, point(model), complex_step=False).ok


def test_structure_problems_are_reported():
    class BadShapes(TinyAttention):
        name = "bad_shapes"

        def grad(self, p):
            g = super().grad(p)
            return {"W": g["W"].ravel(), "v": g["v"]}

    with pytest.raises(GradientCheckError, match=r"grad\['W'\] has shape \(9,\)"):
        check_model(BadShapes(), symmetry=False, taylor=False)


def test_mutation_of_input_is_reported():
    class Mutates(TinyAttention):
        name = "mutates"

        def loss(self, p):
            p["v"] *= 1.0 + 1e-3
            return super().loss(p)

    report = check_model(Mutates(), raise_on_failure=False)
    assert any("modified its input" in s for s in report.structure)


def test_hvp_is_checked():
    class WithHvp(TinyAttention):
        name = "with_hvp"

        def hvp(self, p, v):
            # deliberately wrong: identity instead of the Hessian
            return {k: np.array(x) for k, x in v.items()}

    report = check_gradient(WithHvp(), point(TinyAttention()))
    assert any(np.isfinite(p.hvp_error) and not p.ok for p in report.pairs)


def test_bad_arguments():
    model = TinyAttention()
    with pytest.raises(TypeError, match="model must be a gradflow.Model"):
        check_model(object())
    with pytest.raises(ValueError, match=r"blocks \['U'\] are not parameters"):
        check_gradient(model, point(model), blocks=["U"])
    with pytest.raises(TypeError, match="params must be a dict"):
        check_gradient(model, [1, 2])


def test_public_names():
    assert gf.check_model is check_model
    assert gf.check_gradient is check_gradient
    assert issubclass(GradientCheckError, AssertionError)
    assert isinstance(TinyAttention(), Model)


def test_block_with_exactly_zero_gradient_passes():
    # at v = 0 the gradient with respect to W is exactly 0 (f does not depend on W):
    # central differences then see only round-off, which must not count as an error
    model = TinyAttention()
    p = point(model)
    p["v"] = np.zeros_like(p["v"])
    report = check_gradient(model, p)
    w = next(b for b in report.blocks if b.block == "W")
    assert w.grad_norm == 0.0
    assert report.ok


def test_frozen_block_and_hvp():
    class FrozenV(TinyAttention):
        name = "frozen_v"
        trainable = ("W",)

        def hvp(self, p, v):
            # finite differences of the hand gradient: enough to exercise the path where
            # the hvp direction has zeros in the frozen block V
            h = 1e-6
            gp = self.grad({k: p[k] + h * v[k] for k in p})
            gm = self.grad({k: p[k] - h * v[k] for k in p})
            return {k: (gp[k] - gm[k]) / (2 * h) for k in p}

    report = check_model(FrozenV())
    assert [b.block for b in report.gradients[0].blocks] == ["W"]
    assert all(
        np.isfinite(pc.hvp_error)
        for pc in report.gradients[0].pairs
        if pc.blocks[0] == pc.blocks[1]
    )
