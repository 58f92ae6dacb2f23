"""Tests of gradflow.params: packing round-trips, frozen entries, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradflow.params import Params, validate_params


@settings(max_examples=30, deadline=None)
@given(
    shapes=st.lists(
        st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4
    ),
    data=st.data(),
)
def test_pack_unpack_round_trip(shapes, data):
    rng = np.random.default_rng(0)
    params = {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    trainable = data.draw(st.sets(st.sampled_from(list(params)), min_size=1))
    spec = Params(params, trainable=trainable)
    vec = spec.pack(params)
    assert vec.shape == (sum(params[k].size for k in spec.trainable),)
    back = spec.unpack(vec)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    moved = spec.unpack(vec + 1.0)
    for k in params:
        expected = params[k] + 1.0 if k in trainable else params[k]
        np.testing.assert_array_equal(moved[k], expected)


def test_order_of_trainable_follows_template():
    p = {"a": np.zeros(2), "b": np.zeros((2, 2)), "c": np.ones(1)}
    spec = Params(p, trainable=["c", "a"])
    assert spec.trainable == ("a", "c")
    np.testing.assert_array_equal(spec.pack(p), [0.0, 0.0, 1.0])


def test_frozen_values_are_copies():
    p = {"a": np.zeros(2), "b": np.ones(2)}
    spec = Params(p, trainable=["a"])
    p["b"][0] = 5.0
    assert spec.unpack(np.zeros(2))["b"][0] == 1.0


def test_complex_vectors_pack():
    p = {"a": np.zeros(2)}
    spec = Params(p)
    v = spec.pack({"a": np.array([1 + 1j, 2.0])})
    assert v.dtype == np.complex128


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ([1.0], TypeError, "params must be a dict"),
        ({"a": np.zeros(2, dtype=np.float32)}, TypeError, r"params\['a'\] has dtype float32"),
        ({"a": np.arange(3)}, TypeError, r"params\['a'\] has dtype int64"),
        ({"a": np.array([1.0, np.nan])}, ValueError, "non-finite"),
        ({"a": np.array([np.inf])}, ValueError, "non-finite"),
        ({}, ValueError, "params is empty"),
    ],
)
def test_bad_params(params, exc, match):
    with pytest.raises(exc, match=match):
        Params(params)


def test_expected_names_and_shapes():
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['c'\]"):
        validate_params({"a": np.zeros(1), "c": np.zeros(1)}, {"a": (1,), "b": (1,)})
    with pytest.raises(ValueError, match=r"params\['a'\] has shape \(2,\); expected \(3,\)"):
        validate_params({"a": np.zeros(2)}, {"a": (3,)})


def test_bad_trainable():
    p = {"a": np.zeros(2)}
    with pytest.raises(ValueError, match=r"trainable names \['x'\] are not parameters"):
        Params(p, trainable=["x"])
    with pytest.raises(ValueError, match="trainable is empty"):
        Params(p, trainable=[])
    assert Params(p, trainable="a").trainable == ("a",)


def test_unpack_wrong_length():
    with pytest.raises(ValueError, match=r"vector has shape \(3,\); expected \(2,\)"):
        Params({"a": np.zeros(2)}).unpack(np.zeros(3))
