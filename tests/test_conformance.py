"""The conformance suite, run over every registered model (diffrax-style registry test).

Each model's ``paper()`` configuration must pass :func:`gradflow.check_model`: structure,
central differences, complex step (when complex-safe), Taylor slopes and Hessian symmetry,
at the initialisation and at a random point near it.
"""

import time

import numpy as np
import pytest

import gradflow as gf
from gradflow import models

NAMES = models.names()


def test_registry_lists_installed_models():
    assert {"quadratic", "linear_net"} <= set(NAMES)
    for name in NAMES:
        cls = models.get(name)
        assert issubclass(cls, gf.Model)
        assert getattr(models, cls.__name__) is cls
    with pytest.raises(ValueError, match="model 'nope' is unknown"):
        models.get("nope")


@pytest.mark.parametrize("name", NAMES)
def test_model_declares_its_contract(name):
    cls = models.get(name)
    assert cls.name and cls.citation
    assert cls.dynamics in ("gradient flow", "gradient descent", "staged")
    assert callable(getattr(cls, "paper", None)), f"{cls.__name__} has no paper() constructor"


@pytest.mark.parametrize("name", NAMES)
def test_paper_configuration_passes_check_model(name):
    start = time.perf_counter()
    model = models.get(name).paper()
    report = gf.check_model(model, rng=np.random.default_rng(0))
    assert report.ok
    assert len(report.gradients) == 2
    # a conformance run must stay cheap enough to be part of every test run
    assert time.perf_counter() - start < 60
