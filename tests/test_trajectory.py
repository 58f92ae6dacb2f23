"""Tests of Trajectory: exact save/load round trip and refusal of foreign files."""

import json
import zipfile

import numpy as np
import pytest

import gradflow as gf
from gradflow.trajectory import Trajectory, stack_observables


def make() -> Trajectory:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 5)
    return Trajectory(
        t=t,
        params={"W": rng.standard_normal((5, 2, 3)), "v": rng.standard_normal((5, 2))},
        loss=rng.random(5),
        grad_norm=rng.random(5),
        observables=stack_observables([{"a": i * 1.0, "S": np.eye(2) * i} for i in range(5)]),
        kind="gd",
        status="diverged",
        message="loss became nan at step 4",
        method="gd",
        lr=0.1,
        steps=np.arange(5),
        nfev=5,
        wall_time=0.25,
        events=[{"name": "half", "t": 0.5, "terminal": False}],
        stages=[{"name": "s1", "t_start": 0.0, "t_end": 1.0, "start": 0, "stop": 5}],
        metadata={"model": "toy", "config": {"n": np.int64(3), "shape": (2, 3)}},
    )


def test_round_trip_is_exact(tmp_path):
    tr = make()
    path = tr.save(tmp_path / "sub" / "run.npz")
    back = gf.load(path)
    for name in ("t", "loss", "grad_norm", "steps"):
        np.testing.assert_array_equal(getattr(back, name), getattr(tr, name))
    for k in tr.params:
        np.testing.assert_array_equal(back.params[k], tr.params[k])
    for k in tr.observables:
        np.testing.assert_array_equal(back.observables[k], tr.observables[k])
    for name in ("kind", "status", "message", "method", "lr", "nfev", "wall_time", "events"):
        assert getattr(back, name) == getattr(tr, name)
    assert back.stages == tr.stages
    assert back.metadata == {"model": "toy", "config": {"n": 3, "shape": [2, 3]}}
    assert back.event_time("half") == 0.5 and back.event_time("other") is None
    assert not back.success


def test_accessors():
    tr = make()
    assert len(tr) == 5
    np.testing.assert_array_equal(tr.final_params["W"], tr.params["W"][-1])
    assert tr.observables["S"].shape == (5, 2, 2)
    with pytest.raises(ValueError, match="no dense output"):
        tr.at(0.5)


def test_refuses_foreign_and_corrupt_files(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a gradflow trajectory"):
        gf.load(foreign)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        gf.load(garbage)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gf.load(tmp_path / "missing.npz")
    # a gradflow file with an entry removed
    good = make().save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(truncated, "w") as zout:
        for item in zin.infolist():
            if item.filename != "loss.npy":
                zout.writestr(item, zin.read(item.filename))
    with pytest.raises(ValueError, match="missing the entry"):
        gf.load(truncated)
    newer = tmp_path / "newer.npz"
    header = {"format": "gradflow-trajectory", "version": 99}
    np.savez(newer, __gradflow__=np.array(json.dumps(header)))
    with pytest.raises(ValueError, match="newer gradflow"):
        gf.load(newer)


def test_unserialisable_metadata_is_refused(tmp_path):
    tr = make()
    tr.metadata["fn"] = lambda x: x
    with pytest.raises(TypeError, match="cannot store function"):
        tr.save(tmp_path / "x.npz")
