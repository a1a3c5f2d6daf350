"""Convolution layers: Conv1D (and Keras 1's Convolution1D). The windows and products are in
kernels/conv.py."""

from __future__ import annotations

import numpy as np

from .. import activations
from ..errors import ConfigError, InputError
from ..kernels import conv as K
from .base import Layer, WeightSlot, single


class _ChannelsLast1D(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.channels_first = self.choice_opt("data_format", "channels_last", (
            "channels_last", "channels_first")) == "channels_first"

    def to_nwc(self, x):
        if x.ndim != 3:
            raise InputError(f"{self.where}: expects input of rank 3, received shape {x.shape}")
        return x.swapaxes(1, 2) if self.channels_first else x

    def from_nwc(self, y):
        return np.ascontiguousarray(y.swapaxes(1, 2)) if self.channels_first else y


class Conv1D(_ChannelsLast1D):
    def __init__(self, *a):
        super().__init__(*a)
        w = self.where
        self.require("filters")
        self.require("kernel_size")
        self.filters = self.int_opt("filters")
        self.kernel_size, = self.ints_opt("kernel_size", None, 1)
        self.strides, = self.ints_opt("strides", 1, 1)
        self.dilation, = self.ints_opt("dilation_rate", 1, 1)
        self.groups = self.int_opt("groups", 1)
        if self.filters % self.groups:
            raise ConfigError(f"{w}: filters={self.filters} is not a multiple of "
                              f"groups={self.groups}")
        self.padding = self.choice_opt("padding", "valid", ("valid", "same", "causal"))
        self.use_bias = self.bool_opt("use_bias", True)
        self.act = activations.get(self.opt("activation"), self.ctx.compat,
                                   f"{w} activation")
        self.slots = [WeightSlot("kernel", (self.kernel_size, None, self.filters))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.filters,)))

    def build_weights(self, arrays):
        self.kernel = np.asarray(arrays[0], self.dtype)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None

    def call(self, inputs, mask=None, training=None):
        x = self.to_nwc(self.cast_input(single(inputs, self.where)))
        k, d, s, g = self.kernel_size, self.dilation, self.strides, self.groups
        cin = x.shape[2]
        if cin != self.kernel.shape[1] * g:
            raise InputError(f"{self.where}: expects {self.kernel.shape[1] * g} channels, "
                             f"received shape {x.shape}")
        x = K.pad_1d(x, k, s, d, self.padding)
        y = K.conv_1d(x, self.kernel, s, d, g)
        if y is None:
            raise InputError(f"{self.where}: input of length {x.shape[1]} is shorter than the "
                             f"kernel span {(k - 1) * d + 1}")
        y = y.astype(self.dtype, copy=False)
        if self.bias is not None:
            y += self.bias
        return self.from_nwc(self.act(y, out=y))

    def describe(self):
        return f"filters={self.filters}, kernel={self.kernel_size}, padding={self.padding}"

    def stream_block(self):
        ok = self.kernel_size == 1 and self.strides == 1
        return None if ok else "its kernel spans several timesteps"
