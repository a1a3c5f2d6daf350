"""Keras activations in NumPy, looked up by the names Keras serializes.

Every function takes ``(x, out=None)`` and returns an array of ``x``'s dtype; with ``out`` it
writes there (``out`` may be ``x`` itself), so the recurrent loop can work in place without
allocating. ``hard_sigmoid`` depends on the Keras major version that wrote the model: Keras 1/2
and tf-keras use ``clip(0.2x + 0.5, 0, 1)``, Keras 3 uses ``clip(x/6 + 0.5, 0, 1)``
(keras-team/keras PR #19477).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from .errors import UnsupportedError

Activation = Callable[..., np.ndarray]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _out(x: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
    if out is None:
        return np.array(x, copy=True)
    if out is not x:
        np.copyto(out, x)
    return out


def linear(x, out=None):
    return _out(x, out)


def tanh(x, out=None):
    return np.tanh(x, out=out)


def sigmoid(x, out=None):
    # 0.5 * tanh(x/2) + 0.5: exact to an ulp, never overflows, and works in place.
    h = x.dtype.type(0.5)
    if out is None:             # the same operations, each allocating (NumPy's in-place
        return np.tanh(x * h) * h + h       # calls cost ~0.5 us more each on small arrays)
    y = np.multiply(x, h, out=out)
    np.tanh(y, out=y)
    y *= h
    y += h
    return y


def hard_sigmoid_keras2(x, out=None):
    y = np.multiply(x, x.dtype.type(0.2), out=out)
    y += x.dtype.type(0.5)
    return np.clip(y, 0, 1, out=y)


def hard_sigmoid_keras3(x, out=None):
    y = np.divide(x, x.dtype.type(6.0), out=out)
    y += x.dtype.type(0.5)
    return np.clip(y, 0, 1, out=y)


def relu(x, out=None):
    return np.maximum(x, 0, out=out)


def relu6(x, out=None):
    y = np.maximum(x, 0, out=out)
    return np.minimum(y, 6, out=y)


def elu(x, out=None, alpha=1.0):
    neg = np.expm1(np.minimum(x, 0))
    neg *= x.dtype.type(alpha)
    y = _out(x, out)
    np.copyto(y, neg, where=y < 0)
    return y


def selu(x, out=None):
    y = elu(x, out=out, alpha=_SELU_ALPHA)
    y *= x.dtype.type(_SELU_SCALE)
    return y


def celu(x, out=None, alpha=1.0):
    a = x.dtype.type(alpha)
    neg = np.expm1(np.minimum(x, 0) / a) * a
    y = np.maximum(x, 0, out=out)
    y += neg
    return y


def softplus(x, out=None):
    return np.logaddexp(x, x.dtype.type(0), out=out)


def softsign(x, out=None):
    d = np.abs(x) + x.dtype.type(1)
    return np.divide(x, d, out=out)


def exponential(x, out=None):
    return np.exp(x, out=out)


def silu(x, out=None):
    s = sigmoid(x)
    return np.multiply(x, s, out=out)


def hard_silu(x, out=None):
    return np.multiply(x, hard_sigmoid_keras3(x), out=out)


def leaky_relu(x, out=None, negative_slope=0.2):
    return np.maximum(x, x * x.dtype.type(negative_slope), out=out)


def mish(x, out=None):
    return np.multiply(x, np.tanh(softplus(x)), out=out)


def log_sigmoid(x, out=None):
    y = softplus(-x, out=out)
    return np.negative(y, out=y)


def hard_tanh(x, out=None):
    return np.clip(x, -1, 1, out=out)


def tanh_shrink(x, out=None):
    return np.subtract(x, np.tanh(x), out=out)


def soft_shrink(x, out=None, threshold=0.5):
    t = x.dtype.type(threshold)
    y = np.where(x > t, x - t, np.where(x < -t, x + t, x.dtype.type(0)))
    return _out(y, out)


def hard_shrink(x, out=None, threshold=0.5):
    y = np.where(np.abs(x) > x.dtype.type(threshold), x, x.dtype.type(0))
    return _out(y, out)


def sparse_plus(x, out=None):
    one = x.dtype.type(1)
    quad = (x + one) ** 2 * x.dtype.type(0.25)
    y = np.where(x <= -one, x.dtype.type(0), np.where(x < one, quad, x))
    return _out(y, out)


def sparse_sigmoid(x, out=None):
    y = np.clip((x + x.dtype.type(1)) * x.dtype.type(0.5), 0, 1)
    return _out(y, out)


def squareplus(x, out=None, b=4.0):
    y = np.sqrt(x * x + x.dtype.type(b))
    y += x
    return np.multiply(y, x.dtype.type(0.5), out=out)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf computed in float64 (Numerical Recipes erfc, fractional error < 1.2e-7)."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def gelu(x, out=None, approximate=False):
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        inner = np.tanh(x.dtype.type(c) * (x + x.dtype.type(0.044715) * x ** 3))
        y = x * (x.dtype.type(0.5) * (inner + x.dtype.type(1)))
    else:
        y = (x * (_erf(x / math.sqrt(2.0)) + 1.0) / 2.0).astype(x.dtype)
    return _out(y, out)


def softmax(x, out=None, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return _out(e, out)


def log_softmax(x, out=None, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    y = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return _out(y, out)


def sparsemax(x, out=None, axis=-1):
    srt = -np.sort(-x, axis=axis)
    cum = np.cumsum(srt, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    r = np.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(shape)
    support = srt - (cum - 1) / r > 0
    k = np.sum(support, axis=axis, keepdims=True)
    tau = (np.sum(np.where(support, cum, 0), axis=axis, keepdims=True) - 1) / k
    return _out(np.maximum(x - tau, 0).astype(x.dtype), out)


# Shape-preserving activations shared by every Keras version (hard_sigmoid is added per version).
_COMMON = {
    "linear": linear,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "relu": relu,
    "relu6": relu6,
    "elu": elu,
    "selu": selu,
    "celu": celu,
    "softplus": softplus,
    "softsign": softsign,
    "exponential": exponential,
    "silu": silu,
    "swish": silu,
    "gelu": gelu,
    "leaky_relu": leaky_relu,
    "mish": mish,
    "log_sigmoid": log_sigmoid,
    "hard_tanh": hard_tanh,
    "tanh_shrink": tanh_shrink,
    "soft_shrink": soft_shrink,
    "hard_shrink": hard_shrink,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "squareplus": squareplus,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "sparsemax": sparsemax,
    "hard_silu": hard_silu,
    "hard_swish": hard_silu,
}


def supported_names() -> list:
    return sorted(set(_COMMON) | {"hard_sigmoid"})


def get(spec, compat, where: str) -> Activation:
    """The activation Keras would apply for a serialized ``activation`` value.

    ``spec`` is a name, ``None`` (linear) or a serialized Keras object with a ``class_name``
    naming a function; ``compat`` (kerasrnn_infer.compat.Compat) is the writing Keras's
    behaviour. ``where`` names the layer and option for error messages.
    """
    if spec is None:
        return linear
    name = spec
    if isinstance(spec, dict):
        name = spec.get("config", spec.get("class_name"))
        if isinstance(name, dict):  # {"class_name": "function", "config": "tanh"} and similar
            name = spec.get("class_name")
    if not isinstance(name, str):
        raise UnsupportedError(f"{where}: activation {spec!r:.200} is not a Keras activation name; "
                               f"supported: {', '.join(supported_names())}")
    key = name.lower()
    if key == "hard_sigmoid":
        return hard_sigmoid_keras3 if compat.hard_sigmoid == "keras3" else hard_sigmoid_keras2
    if key in ("hard_silu", "hard_swish") and not compat.has_hard_silu:
        # tf-keras has no hard_silu; a Keras 2 file naming it is a custom function.
        raise UnsupportedError(f"{where}: activation {key!r} does not exist in Keras "
                               f"{compat.version}; supported: {', '.join(supported_names())}")
    fn = _COMMON.get(key)
    if fn is None:
        raise UnsupportedError(f"{where}: activation {name!r} is not supported; supported: "
                               f"{', '.join(supported_names())} (a custom activation needs a "
                               f"NumPy implementation through custom_objects)")
    return fn
