"""Every public function, class and method of gradflow has a numpydoc docstring with an example.

The public objects are found by walking the package: for each module whose name does not
start with an underscore, the names in its ``__all__`` (or, without one, its names that do
not start with an underscore) that are functions or classes *defined in that module*, and
the public methods those classes define themselves.  Each docstring is validated by
``numpydoc.validate`` for the rules below; the examples themselves run as doctests
(``--doctest-modules`` in ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import gradflow

validate = pytest.importorskip("numpydoc.validate").validate

#: numpydoc's rule codes checked here (see numpydoc's documentation, "Validation")
RULES = {
    "GL08": "the object has a docstring",
    "EX01": "there is an Examples section",
    "PR01": "every parameter of the signature is documented",
    "PR02": "no documented parameter is missing from the signature",
    "PR07": "every parameter has a description",
    "RT01": "a function that returns something has a Returns section",
}


def _own_public_methods(cls: type) -> list[str]:
    """Public methods ``cls`` defines, or inherits from a private gradflow base class.

    A method written once in, say, ``_CoOccurrenceBase`` is part of the public API of
    ``CoOccurrence`` and ``CoOccurrenceU``; one inherited from a public class (``Model``) is
    checked there.
    """
    names: list[str] = []
    for base in cls.__mro__:
        private_base = base.__module__.startswith("gradflow") and base.__name__.startswith("_")
        if base is not cls and not private_base:
            continue
        for attr, member in vars(base).items():
            if attr.startswith("_") or attr in names:
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if inspect.isfunction(member):
                names.append(attr)
    return names


def _public_objects() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(gradflow.__path__, "gradflow."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None) or [n for n in dir(module) if n[0] != "_"]
        for name in names:
            obj = getattr(module, name, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ != info.name:
                continue
            found.append(f"{info.name}.{name}")
            if inspect.isclass(obj):
                found += [f"{info.name}.{name}.{attr}" for attr in _own_public_methods(obj)]
    return sorted(found)


PUBLIC = _public_objects()


def test_the_walk_finds_the_public_api():
    """The walk is not vacuous: the design's public names are among what it checks."""
    for name in ("gradflow.flow.integrate_flow", "gradflow.descent.gradient_descent",
                 "gradflow.checks.check_model", "gradflow.model.Model.grad",
                 "gradflow.trajectory.Trajectory.save",
                 "gradflow.models.cooccurrence.CoOccurrence.phase1_event"):  # fmt: skip
        assert name in PUBLIC
    assert len(PUBLIC) > 150


@pytest.mark.parametrize("qualname", PUBLIC)
def test_numpydoc_docstring_with_example(qualname):
    errors = [(code, msg) for code, msg in validate(qualname)["errors"] if code in RULES]
    assert not errors, f"{qualname}: " + "; ".join(f"{c} {m}" for c, m in errors)
