"""Merging layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum. Each
merges its inputs' masks (an element is kept where every input keeps it; Concatenate as the
writing Keras does, see compat.concat_mask)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError
from .base import Layer, as_list, feature_axes


class _Merge(Layer):
    supports_masking = True
    streaming = None

    def inputs_list(self, inputs):
        xs = [self.cast_input(np.asarray(x)) for x in as_list(inputs)]
        if len(xs) < 2 and self.class_name != "Concatenate":
            raise InputError(f"{self.where}: expects at least 2 inputs, received {len(xs)}")
        return xs

    def call(self, inputs, mask=None, training=None):
        xs = self.inputs_list(inputs)
        try:
            return self.merge(xs)
        except ValueError as e:
            raise InputError(f"{self.where}: cannot merge inputs of shapes "
                             f"{[x.shape for x in xs]}: {e}") from None

    def compute_mask(self, inputs, mask):
        masks = as_list(mask) if mask is not None else []
        masks = [m for m in masks if m is not None]
        if not masks:
            return None
        out = np.asarray(masks[0], bool)
        for m in masks[1:]:
            out = out & np.asarray(m, bool)
        return out


class Add(_Merge):
    def merge(self, xs):
        y = xs[0].copy() if xs[0].ndim >= max(x.ndim for x in xs) else xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Subtract(_Merge):
    def merge(self, xs):
        if len(xs) != 2:
            raise InputError(f"{self.where}: expects exactly 2 inputs, received {len(xs)}")
        return xs[0] - xs[1]


class Multiply(_Merge):
    def merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


class Average(_Merge):
    def merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / y.dtype.type(len(xs))


class Maximum(_Merge):
    def merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = np.maximum(y, x)
        return y


class Minimum(_Merge):
    def merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = np.minimum(y, x)
        return y


class Concatenate(_Merge):
    def __init__(self, *a):
        super().__init__(*a)
        self.axis = self.axes_opt("axis", -1)
        if len(self.axis) != 1:
            raise ConfigError(f"{self.where}: axis={self.opt('axis')!r} must be one axis")
        self.axis = self.axis[0]

    def merge(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def compute_mask(self, inputs, mask):
        masks = as_list(mask) if mask is not None else []
        if not any(m is not None for m in masks):
            return None
        full = []
        for x, m in zip(as_list(inputs), masks):
            shape = np.shape(x)
            m = np.ones(shape, bool) if m is None else np.asarray(m, bool)
            if m.ndim < len(shape):
                m = np.broadcast_to(m[..., None], shape)
            full.append(m)
        joined = np.concatenate(full, axis=self.axis)
        # Keras 3 reduces with any(), tf-keras and Keras 2 with all() (merging/concatenate.py)
        if self.ctx.compat.concat_mask == "any":
            return np.any(joined, axis=-1)
        return np.all(joined, axis=-1)

    def stream_block(self):
        return None if feature_axes([self.axis]) else "it concatenates along time"
