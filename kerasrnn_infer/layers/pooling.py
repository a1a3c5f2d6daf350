"""Pooling layers, 1-D to 3-D: MaxPooling, AveragePooling ("same" averages over the real
elements only, as TensorFlow), GlobalMaxPooling and GlobalAveragePooling (``keepdims``; the
1-D average is a masked mean, as Keras). Windows are in kernels/conv.py."""

from __future__ import annotations

import numpy as np

from ..kernels import conv as K
from .base import single
from .convolutional import _rank_class, _Spatial


class _Pool(_Spatial):
    kind = "max"

    def __init__(self, *a):
        super().__init__(*a)
        r = self.rank
        self.pool = self.ints_opt("pool_size", 2, r)
        self.strides = self.ints_opt("strides", self.pool, r)
        self.padding = self.choice_opt("padding", "valid", ("valid", "same"))

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        y = K.pool(x, self.pool, self.strides, self.padding, self.kind)
        if y is None:
            raise self.short(x, self.pool)
        return self.from_last(y.astype(x.dtype, copy=False))

    def describe(self):
        return f"pool={self.pool}, strides={self.strides}, padding={self.padding}"


class _AvgPool(_Pool):
    kind = "avg"


class _GlobalPool(_Spatial):
    def __init__(self, *a):
        super().__init__(*a)
        self.keepdims = self.bool_opt("keepdims", False)

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        axes = tuple(range(1, 1 + self.rank))
        y = self.reduce(x, axes, mask)
        return self.from_last(y) if self.keepdims else y


class _GlobalMax(_GlobalPool):
    def reduce(self, x, axes, mask):
        return np.max(x, axis=axes, keepdims=self.keepdims)


class _GlobalAverage(_GlobalPool):
    def reduce(self, x, axes, mask):
        keep = self.keepdims
        if mask is None or self.rank != 1:
            return np.mean(x, axis=axes, keepdims=keep)
        m = np.asarray(mask, x.dtype)[:, :, None]                 # (batch, steps, 1)
        with np.errstate(invalid="ignore", divide="ignore"):   # all-masked rows: NaN, as Keras
            return (np.sum(x * m, axis=axes, keepdims=keep) /
                    np.sum(m, axis=axes, keepdims=keep))


MaxPooling1D = _rank_class(_Pool, 1, "MaxPooling1D")
MaxPooling2D = _rank_class(_Pool, 2, "MaxPooling2D")
MaxPooling3D = _rank_class(_Pool, 3, "MaxPooling3D")
AveragePooling1D = _rank_class(_AvgPool, 1, "AveragePooling1D")
AveragePooling2D = _rank_class(_AvgPool, 2, "AveragePooling2D")
AveragePooling3D = _rank_class(_AvgPool, 3, "AveragePooling3D")
GlobalMaxPooling1D = _rank_class(_GlobalMax, 1, "GlobalMaxPooling1D")
GlobalMaxPooling2D = _rank_class(_GlobalMax, 2, "GlobalMaxPooling2D")
GlobalMaxPooling3D = _rank_class(_GlobalMax, 3, "GlobalMaxPooling3D")
GlobalAveragePooling1D = _rank_class(_GlobalAverage, 1, "GlobalAveragePooling1D")
GlobalAveragePooling2D = _rank_class(_GlobalAverage, 2, "GlobalAveragePooling2D")
GlobalAveragePooling3D = _rank_class(_GlobalAverage, 3, "GlobalAveragePooling3D")
