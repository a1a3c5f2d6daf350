"""Activation layers with parameters: ReLU, LeakyReLU, PReLU, ThresholdedReLU, ELU,
Softmax."""

from __future__ import annotations

import numpy as np

from .. import activations
from ..errors import InputError, WeightsError
from .base import Layer, WeightSlot, feature_axes, single


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


class PReLU(Layer):
    """keras ``PReLU``: ``relu(x) - alpha relu(-x)``, ``alpha`` a weight of the input's shape
    without the batch axis, size 1 on ``shared_axes`` (input axes, counted from the batch
    axis as 0)."""
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        shared = self.opt("shared_axes", None)
        if shared is None:
            shared = []
        elif isinstance(shared, int) and not isinstance(shared, bool):
            shared = [shared]
        if not isinstance(shared, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shared):
            self.refuse("shared_axes", shared, "None or a list of input axes >= 1")
        self.shared = sorted(set(shared))
        # alpha's rank is the input's less one: known from the file's array (set_weights)
        self.slots = [WeightSlot("alpha", ())]
        self.alpha = None

    def set_weights(self, arrays):
        if len(arrays) == 1 and np.ndim(arrays[0]) >= 1:
            self.slots = [WeightSlot("alpha", (None,) * np.ndim(arrays[0]))]
        super().set_weights(arrays)

    def build_weights(self, arrays):
        alpha = arrays[0]
        for axis in self.shared:
            if axis > alpha.ndim or alpha.shape[axis - 1] != 1:
                raise WeightsError(f"{self.where}: weight 'alpha' has shape {alpha.shape}, "
                                   f"which is not 1 on shared axis {axis}")
        self.alpha = alpha

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        alpha = self.alpha
        if alpha is None:
            raise WeightsError(f"{self.where}: has no weights")
        if x.ndim != alpha.ndim + 1 or any(a not in (1, d) for a, d in
                                           zip(alpha.shape, x.shape[1:])):
            raise InputError(f"{self.where}: alpha of shape {alpha.shape} does not fit "
                             f"inputs of shape {x.shape}")
        a = alpha.astype(x.dtype, copy=False)
        # keras: relu(x) + (-alpha) relu(-x); the sign changes are exact, so this is alpha x
        return np.where(x > 0, x, a * x).astype(x.dtype, copy=False)

    def stream_block(self):
        alpha = self.alpha
        if alpha is not None and alpha.ndim >= 2 and alpha.shape[0] != 1:
            return "its alpha differs by timestep (shared_axes does not hold the time axis)"
        return None


class ThresholdedReLU(Layer):
    """tf-keras / Keras 2 ``ThresholdedReLU``: ``x`` where ``x > theta``, else 0."""
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.theta = self.float_opt("theta", 1.0, minimum=0.0)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        # tf-keras: x * cast(x > theta): the product keeps -0.0 and NaN as TensorFlow does
        return x * (x > x.dtype.type(self.theta)).astype(x.dtype)


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
