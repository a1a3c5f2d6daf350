"""NumPy implementations of the custom layers in ../shared/realworld, supplied through
``custom_objects`` exactly as a user would (maths from each case.json)."""

import numpy as np


def _softmax_time(e):
    e = np.exp(e - e.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def attention_layer(config, weights):
    """suresh_intent_bilstm_attention: e = tanh(x W + b_t), a = softmax over time, sum a x."""
    W, b = weights

    def call(x, mask=None):
        a = _softmax_time(np.tanh(x @ W + b))
        return np.sum(a * x, axis=1)
    return call


def attention_weighted_average(config, weights):
    """textgenrnn: l = x W, a = exp(l - max) (* mask), a / (sum a + 1e-7), sum a x."""
    (W,) = weights

    def call(x, mask=None):
        logits = (x @ W)[..., 0]
        a = np.exp(logits - logits.max(axis=1, keepdims=True))
        if mask is not None:
            a = a * mask
        a = a / (a.sum(axis=1, keepdims=True) + 1e-7)
        return np.sum(a[..., None] * x, axis=1)
    return call


CUSTOM_OBJECTS = {"AttentionLayer": attention_layer,
                  "AttentionWeightedAverage": attention_weighted_average}
