"""Pooling layers: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D
(masked mean, as Keras)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..kernels import conv as K
from .base import single
from .convolutional import _ChannelsLast1D


class _Pool1D(_ChannelsLast1D):
    def __init__(self, *a):
        super().__init__(*a)
        self.pool, = self.ints_opt("pool_size", 2, 1)
        self.strides, = self.ints_opt("strides", self.pool, 1)
        self.padding = self.choice_opt("padding", "valid", ("valid", "same"))

    def call(self, inputs, mask=None, training=None):
        x = self.to_nwc(self.cast_input(single(inputs, self.where)))
        found = K.pool_windows_1d(x, self.pool, self.strides, self.padding)
        if found is None:
            raise InputError(f"{self.where}: input of length {x.shape[1]} is shorter than the "
                             f"pool {self.pool}")
        win, valid = found                                            # (b, n_out, p, c)
        return self.from_nwc(self.reduce(win, valid).astype(x.dtype))


class MaxPooling1D(_Pool1D):
    def reduce(self, win, valid):
        return np.max(np.where(valid, win, -np.inf), axis=2)


class AveragePooling1D(_Pool1D):
    def reduce(self, win, valid):   # 'same' padding averages over the real elements only
        return np.sum(np.where(valid, win, 0), axis=2) / np.sum(valid, axis=2)


class _GlobalPool1D(_ChannelsLast1D):
    def __init__(self, *a):
        super().__init__(*a)
        self.keepdims = self.bool_opt("keepdims", False)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        if x.ndim != 3:
            raise InputError(f"{self.where}: expects input of rank 3, received shape {x.shape}")
        axis = 2 if self.channels_first else 1
        return self.reduce(x, axis, mask)


class GlobalMaxPooling1D(_GlobalPool1D):
    def reduce(self, x, axis, mask):
        return np.max(x, axis=axis, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPool1D):

    def reduce(self, x, axis, mask):
        keep = self.keepdims
        if mask is None:
            return np.mean(x, axis=axis, keepdims=keep)
        m = np.asarray(mask, x.dtype)
        m = m[:, :, None] if axis == 1 else m[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):   # all-masked rows: NaN, as Keras
            return (np.sum(x * m, axis=axis, keepdims=keep) /
                    np.sum(m, axis=axis, keepdims=keep))
