"""Activations: in-place use (as the recurrent loop does) equals out-of-place use, and the
formulas match float64 references, including the version-dependent hard_sigmoid."""

import math

import numpy as np
import pytest

from kerasrnn_infer import activations as A
from kerasrnn_infer.compat import Compat
from kerasrnn_infer.errors import UnsupportedError

K2, K3 = Compat.resolve("2.15.0"), Compat.resolve("3.15.1")

X = np.linspace(-4, 4, 41, dtype=np.float32).reshape(1, 41)


@pytest.mark.parametrize("name", A.supported_names())
def test_in_place_equals_out_of_place(name):
    fn = A.get(name, K3, "test")
    want = fn(X.copy())
    buf = X.copy()
    got = fn(buf, out=buf)
    assert got is buf
    np.testing.assert_array_equal(got, want)
    view = np.zeros((1, 82), np.float32)[:, ::2]
    view[...] = X
    assert np.array_equal(fn(view, out=view), want), "in place on a strided view"
    assert want.dtype == np.float32


REFERENCE = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "celu": lambda x: np.maximum(x, 0) + np.minimum(np.expm1(x), 0),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)),
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_formula(name):
    got = A.get(name, K3, "test")(X.copy())
    np.testing.assert_allclose(got, REFERENCE[name](X.astype(np.float64)), atol=2e-6, rtol=1e-6)


def test_hard_sigmoid_follows_the_writing_keras_version():
    k2 = A.get("hard_sigmoid", K2, "t")(X.copy())
    k3 = A.get("hard_sigmoid", K3, "t")(X.copy())
    np.testing.assert_allclose(k2, np.clip(0.2 * X + 0.5, 0, 1), atol=1e-7)
    np.testing.assert_allclose(k3, np.clip(X / 6 + 0.5, 0, 1), atol=1e-7)
    assert np.abs(k2 - k3).max() > 0.05


def test_unknown_activation_is_refused():
    with pytest.raises(UnsupportedError, match="layer x: activation 'nope' is not supported"):
        A.get("nope", K3, "layer x")
