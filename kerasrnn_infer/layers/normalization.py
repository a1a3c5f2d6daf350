"""Normalization layers: BatchNormalization (inference: moving statistics),
LayerNormalization (with rms_scaling), GroupNormalization and UnitNormalization;
``l2_normalize``, shared with Dot(normalize=True)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError
from .base import Layer, WeightSlot, feature_axes, single


class BatchNormalization(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        if self.bool_opt("renorm", False):
            self.refuse("renorm", True, "False")
        if self.opt("mode", 0) not in (0, None):
            self.refuse("mode", self.opt("mode"), "0 (feature-wise)")
        self.axis = self.axes_opt("axis", -1)       # any axis, or several (tf-keras)
        self.eps = self.float_opt("epsilon", 1e-3, minimum=0.0)
        self.center = self.bool_opt("center", True)
        self.scale = self.bool_opt("scale", True)
        slots = []
        shape = (None,) * len(self.axis)
        if self.scale:
            slots.append(WeightSlot("gamma", shape))
        if self.center:
            slots.append(WeightSlot("beta", shape))
        slots += [WeightSlot("moving_mean", shape, False),
                  WeightSlot("moving_variance", shape, False)]
        self.slots = slots

    def build_weights(self, arrays):
        it = iter(arrays)
        gamma = next(it) if self.scale else None
        beta = next(it) if self.center else None
        mean, var = next(it), next(it)
        if len({a.shape for a in arrays}) != 1:
            raise ConfigError(f"{self.where}: gamma/beta/moving stats have different shapes "
                              f"{[a.shape for a in arrays]}")
        dt = self.dtype
        inv = (1.0 / np.sqrt(var.astype(dt) + dt.type(self.eps))).astype(dt)
        if gamma is not None:
            inv = inv * gamma.astype(dt)
        shift = -mean.astype(dt) * inv
        if beta is not None:
            shift = shift + beta.astype(dt)
        self.mul, self.add = inv, shift

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        axes = [a % x.ndim if -x.ndim <= a < x.ndim else -1 for a in self.axis]
        if -1 in axes or 0 in axes or len(set(axes)) != len(axes) or \
                tuple(x.shape[a] for a in sorted(axes)) != self.mul.shape:
            raise InputError(f"{self.where}: expects {self.mul.shape} features on axes "
                             f"{self.axis}, received shape {x.shape}")
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        return x * self.mul.reshape(shape) + self.add.reshape(shape)

    def stream_block(self):
        return None if feature_axes(self.axis) else "it normalizes across time"


class _ScaleCenter(Layer):
    """A normalization's options ``epsilon``, ``scale`` and ``center``, and its optional
    ``gamma`` and ``beta`` weights (of ``rank`` axes)."""

    def _scale_center(self, rank: int) -> None:
        self.eps = self.float_opt("epsilon", 1e-3, minimum=0.0)
        self.center = self.bool_opt("center", True)
        self.scale = self.bool_opt("scale", True)
        self.slots = []
        if self.scale:
            self.slots.append(WeightSlot("gamma", (None,) * rank))
        if self.center:
            self.slots.append(WeightSlot("beta", (None,) * rank))

    def build_weights(self, arrays):
        it = iter(arrays)
        self.gamma = next(it).astype(self.dtype) if self.scale else None
        self.beta = next(it).astype(self.dtype) if self.center else None


class LayerNormalization(_ScaleCenter):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.axis = self.axes_opt("axis", -1)
        self.rms = self.bool_opt("rms_scaling", False)
        self._scale_center(len(self.axis))

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        axes = tuple(a % x.ndim for a in self.axis)
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        eps = x.dtype.type(self.eps)
        if self.rms:
            ms = np.mean(np.square(x), axis=axes, keepdims=True)
            y = x / np.sqrt(ms + eps)
            return y * self.gamma.reshape(shape) if self.gamma is not None else y
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + eps)
        if self.gamma is not None:
            inv = inv * self.gamma.reshape(shape)
        y = x * inv - mean * inv
        if self.beta is not None:
            y = y + self.beta.reshape(shape)
        return y.astype(x.dtype, copy=False)

    def stream_block(self):
        return None if feature_axes(self.axis) else "it normalizes across time"


def l2_normalize(x: np.ndarray, axis, style: str, epsilon: float) -> np.ndarray:
    """``x`` scaled to unit L2 norm along ``axis`` (None: all axes) as the writing Keras does
    (compat.l2_normalize): Keras 3 ``x * min(rsqrt(sum x^2), 1 / epsilon)`` (``ops/nn.py``
    ``_normalize``: epsilon bounds the norm), TensorFlow ``x * rsqrt(max(sum x^2, epsilon))``
    (``tf.math.l2_normalize``: epsilon bounds its square)."""
    ss = np.sum(np.square(x), axis=axis, keepdims=True)
    one = x.dtype.type(1)
    with np.errstate(divide="ignore"):
        if style == "keras3":
            inv = np.minimum(one / np.sqrt(ss), x.dtype.type(1.0 / epsilon))
        else:
            inv = one / np.sqrt(np.maximum(ss, x.dtype.type(epsilon)))
    return x * inv


class UnitNormalization(Layer):
    """keras ``UnitNormalization``: each vector along ``axis`` scaled to unit L2 norm (Keras 3
    with epsilon 1e-12; tf-keras ``tf.linalg.l2_normalize``)."""
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.axis = self.axes_opt("axis", -1)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        if any(not -x.ndim <= a < x.ndim for a in self.axis):
            raise InputError(f"{self.where}: axis {self.axis} is out of range for inputs of "
                             f"shape {x.shape}")
        return l2_normalize(x, tuple(self.axis), self.ctx.compat.l2_normalize, 1e-12)

    def stream_block(self):
        return None if feature_axes(self.axis) else "it normalizes across time"


class GroupNormalization(_ScaleCenter):
    """keras ``GroupNormalization``: the channels of ``axis`` split into ``groups``, each
    group normalized over every other axis but the batch (time included), then ``gamma`` and
    ``beta`` per channel. tf-keras weights the moments by the input mask (broadcast to the
    input, as it does; ``tf.nn.weighted_moments``); Keras 3 ignores it."""
    supports_masking = True
    streaming = "it normalizes across time"

    def __init__(self, *a):
        super().__init__(*a)
        self.groups = self.int_opt("groups", 32)
        axis = self.opt("axis", -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            self.refuse("axis", axis, "one channel axis (not the batch axis)")
        self.axis = axis
        self._scale_center(1)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        if not -x.ndim < self.axis < x.ndim:
            raise InputError(f"{self.where}: axis {self.axis} is out of range for inputs of "
                             f"shape {x.shape}")
        axis = self.axis % x.ndim
        c = x.shape[axis]
        if c % self.groups:
            raise InputError(f"{self.where}: {c} channels do not split into {self.groups} "
                             f"groups")
        for w in (self.gamma, self.beta):
            if w is not None and w.shape != (c,):
                raise InputError(f"{self.where}: weights of shape {w.shape} for {c} channels")
        shape = x.shape[:axis] + (self.groups, c // self.groups) + x.shape[axis + 1:]
        g = x.reshape(shape)
        reduce = tuple(i for i in range(1, g.ndim) if i != axis)
        if mask is not None and self.ctx.compat.group_norm_masked_moments:
            try:
                m = np.broadcast_to(np.asarray(mask, x.dtype), x.shape).reshape(shape)
            except ValueError:
                raise InputError(f"{self.where}: a mask of shape {np.shape(mask)} does not "
                                 f"broadcast to inputs of shape {x.shape} (nor does it in "
                                 f"tf-keras)") from None
            total = np.sum(m, axis=reduce, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.sum(m * g, axis=reduce, keepdims=True) / total
                var = np.sum(m * np.square(g - mean), axis=reduce, keepdims=True) / total
        else:
            mean = np.mean(g, axis=reduce, keepdims=True)
            var = np.mean(np.square(g - mean), axis=reduce, keepdims=True)
        bshape = [1] * g.ndim
        bshape[axis], bshape[axis + 1] = self.groups, c // self.groups
        inv = x.dtype.type(1) / np.sqrt(var + x.dtype.type(self.eps))
        if self.gamma is not None:
            inv = inv * self.gamma.reshape(bshape)
        res = -mean * inv
        if self.beta is not None:
            res = res + self.beta.reshape(bshape)
        return (g * inv + res).reshape(x.shape).astype(x.dtype, copy=False)
