"""Activation layers with parameters: ReLU, LeakyReLU, ELU, Softmax."""

from __future__ import annotations

import numpy as np

from .. import activations
from .base import Layer, feature_axes, single


class ReLU(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.max_value = self.float_opt("max_value", None, minimum=0.0)
        self.slope = self.float_opt("negative_slope", 0.0, minimum=0.0)
        self.threshold = self.float_opt("threshold", 0.0)

    def call(self, inputs, mask=None, training=None):
        # keras ReLU.static_call: threshold, then clip to max_value, then the negative slope
        x = self.cast_input(single(inputs, self.where))
        t = x.dtype.type(self.threshold)
        y = np.where(x > t, x, x.dtype.type(0)) if self.threshold else np.maximum(x, 0)
        if self.max_value is not None:
            y = np.clip(y, 0, x.dtype.type(self.max_value))
        if self.slope:
            y = y - x.dtype.type(self.slope) * np.maximum(t - x, 0)
        return y.astype(x.dtype, copy=False)


class LeakyReLU(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.slope = self.float_opt("negative_slope", 0.3)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        return activations.leaky_relu(x, negative_slope=self.slope)


class ELU(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.alpha = self.float_opt("alpha", 1.0)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        return activations.elu(x, alpha=self.alpha)


class Softmax(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.axes = tuple(self.axes_opt("axis", -1))

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        axes = self.axes
        if mask is not None:
            m = np.asarray(mask, bool)
            while m.ndim < x.ndim:
                m = m[..., None]
            x = x + np.where(m, 0, -1e9).astype(x.dtype)   # keras Softmax: -1e9 where masked
        e = np.exp(x - np.max(x, axis=axes, keepdims=True))
        return e / np.sum(e, axis=axes, keepdims=True)

    def stream_block(self):
        return None if feature_axes(self.axes) else "it normalizes across time"
