"""Convolution layers, 1-D to 3-D: Conv1D/2D/3D (``groups``), SeparableConv1D/2D,
DepthwiseConv1D/2D and Conv1D/2D/3DTranspose, channels_last and channels_first. The windows
and products are in kernels/conv.py.

Kernel layouts (Keras ``layers/convolutional/``): Conv (*k, cin/groups, filters); depthwise
(*k, C, mult), output channel ``c * mult + m``; separable = depthwise then a pointwise
(1..., C*mult, filters) kernel, one bias after; transposed (*k, filters, cin).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import limits
from ..errors import ConfigError, InputError
from ..kernels import conv as K
from .base import Layer, WeightSlot, single


class _Spatial(Layer):
    """A layer over ``rank`` spatial axes: reads ``data_format`` and moves channels last and
    back (every kernel works channels-last)."""

    rank = 1
    streaming: Optional[str] = "it mixes timesteps"

    def __init__(self, *a):
        super().__init__(*a)
        self.channels_first = self.choice_opt("data_format", "channels_last", (
            "channels_last", "channels_first")) == "channels_first"

    def to_last(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != self.rank + 2:
            raise InputError(f"{self.where}: expects input of rank {self.rank + 2} (batch, "
                             f"{'channels, ' if self.channels_first else ''}"
                             f"{self.rank} spatial axes"
                             f"{'' if self.channels_first else ', channels'}), "
                             f"received shape {x.shape}")
        return np.moveaxis(x, 1, -1) if self.channels_first else x

    def from_last(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(y, -1, 1)) if self.channels_first else y

    def shape_of(self, x: np.ndarray) -> Tuple[int, ...]:
        """The shape of channels-last ``x`` as the layer received it."""
        return tuple(np.moveaxis(x, -1, 1).shape if self.channels_first else x.shape)

    def check_channels(self, x: np.ndarray, want: int) -> None:
        if x.shape[-1] != want:
            raise InputError(f"{self.where}: expects {want} channels (axis "
                             f"{1 if self.channels_first else -1}), received shape "
                             f"{self.shape_of(x)}")

    def short(self, x: np.ndarray, span) -> InputError:
        return InputError(f"{self.where}: input of shape {self.shape_of(x)} is smaller than "
                          f"the window span {tuple(span)}")


class _Conv(_Spatial):
    """What every convolution reads: filters, kernel_size, strides, dilation_rate, padding,
    activation, use_bias."""

    transposed = False
    bias: Optional[np.ndarray] = None

    def __init__(self, *a):
        super().__init__(*a)
        r = self.rank
        self.require("kernel_size")
        self.kernel_size = self.ints_opt("kernel_size", None, r)
        self.strides = self.ints_opt("strides", 1, r)
        self.dilation = self.ints_opt("dilation_rate", 1, r)
        paddings = ("valid", "same", "causal") if r == 1 and not self.transposed else \
            ("valid", "same")
        self.padding = self.choice_opt("padding", "valid", paddings)
        self.use_bias = self.bool_opt("use_bias", True)
        self.act = self.activation_opt()

    def post(self, y: np.ndarray) -> None:
        """Bias and activation, in place on (part of) a channels-last output."""
        if self.bias is not None:
            y += self.bias
        self.act(y, out=y)

    def finish(self, y: np.ndarray, done: bool = False) -> np.ndarray:
        """The layer's output from channels-last ``y`` (``done``: bias and activation were
        applied by the kernel)."""
        if y.dtype != self.dtype:
            y = y.astype(self.dtype)
        if not done:
            self.post(y)
        return self.from_last(y)

    def padded(self, x: np.ndarray) -> np.ndarray:
        nd = self.rank
        return K.pad(x, K.pads(x.shape[1:1 + nd], self.kernel_size, self.strides,
                               self.dilation, self.padding))

    def spans(self):
        return [K.span(k, d) for k, d in zip(self.kernel_size, self.dilation)]

    def describe(self):
        return (f"filters={getattr(self, 'filters', '?')}, kernel={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding}")

    def stream_block(self):
        ok = self.rank == 1 and self.kernel_size == (1,) and self.strides == (1,) and \
            not self.transposed
        return None if ok else "its kernel spans several timesteps"


class Conv(_Conv):
    """Conv1D, Conv2D, Conv3D (and Keras 1's Convolution1D/2D/3D)."""

    def __init__(self, *a):
        super().__init__(*a)
        w = self.where
        self.require("filters")
        self.filters = self.int_opt("filters")
        self.groups = self.int_opt("groups", 1)
        if self.filters % self.groups:
            raise ConfigError(f"{w}: filters={self.filters} is not a multiple of "
                              f"groups={self.groups}")
        self.slots = [WeightSlot("kernel", (*self.kernel_size, None, self.filters))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.filters,)))

    def build_weights(self, arrays):
        self.kernel = np.asarray(arrays[0], self.dtype)
        self.matrices = K.kernel_matrices(self.kernel, self.groups)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        self.check_channels(x, self.kernel.shape[-2] * self.groups)
        fused = self.post if self.dtype == np.result_type(x.dtype, self.kernel.dtype) else None
        y = K.conv(self.padded(x), self.matrices, self.kernel_size, self.strides, self.dilation,
                   fused)
        if y is None:
            raise self.short(x, self.spans())
        return self.finish(y, done=fused is not None)


def _rank_class(base, rank: int, name: str):
    return type(name, (base,), {"rank": rank})


class _Depthwise(_Conv):
    """DepthwiseConv1D/2D: ``depth_multiplier`` kernels per input channel."""

    def __init__(self, *a):
        super().__init__(*a)
        self.mult = self.int_opt("depth_multiplier", 1)
        self.slots = [WeightSlot(self.kernel_name, (*self.kernel_size, None, self.mult))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (None,)))

    kernel_name = "depthwise_kernel"

    def build_weights(self, arrays):
        kernel = np.asarray(arrays[0], self.dtype)
        self.channels = kernel.shape[-2]
        self.dw = K.depthwise_matrices(kernel)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None
        if self.bias is not None and self.bias.shape[0] != self.channels * self.mult:
            raise ConfigError(f"{self.where}: bias has {self.bias.shape[0]} values, the "
                              f"kernel makes {self.channels * self.mult} channels")

    def depthwise(self, x):
        self.check_channels(x, self.channels)
        y = K.depthwise(self.padded(x), self.dw, self.kernel_size, self.strides, self.dilation)
        if y is None:
            raise self.short(x, self.spans())
        return y

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        return self.finish(self.depthwise(x))


class DepthwiseConv(_Depthwise):
    pass


class SeparableConv(_Depthwise):
    """SeparableConv1D/2D: a depthwise convolution, then a pointwise (1x1) one, then bias."""

    def __init__(self, *a):
        super().__init__(*a)
        self.require("filters")
        self.filters = self.int_opt("filters")
        self.slots = [WeightSlot("depthwise_kernel", (*self.kernel_size, None, self.mult)),
                      WeightSlot("pointwise_kernel", (*(1,) * self.rank, None, self.filters))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.filters,)))

    def build_weights(self, arrays):
        dw = np.asarray(arrays[0], self.dtype)
        self.channels = dw.shape[-2]
        self.dw = K.depthwise_matrices(dw)
        pw = np.asarray(arrays[1], self.dtype)
        if pw.shape[-2] != self.channels * self.mult:
            raise ConfigError(f"{self.where}: pointwise_kernel takes {pw.shape[-2]} channels, "
                              f"the depthwise kernel makes {self.channels * self.mult}")
        self.pw = np.ascontiguousarray(pw.reshape(pw.shape[-2], pw.shape[-1]))
        self.bias = np.asarray(arrays[2], self.dtype) if self.use_bias else None

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        return self.finish(self.depthwise(x) @ self.pw)


class ConvTranspose(_Conv):
    """Conv1D/2D/3DTranspose: the direct convolution, with the flipped kernel, of the input
    dilated by the strides and padded so that the output has Keras's size."""

    transposed = True

    def __init__(self, *a):
        super().__init__(*a)
        self.require("filters")
        self.filters = self.int_opt("filters")
        op = self.opt("output_padding")
        self.output_padding: Optional[Tuple[int, ...]] = None if op is None else \
            self.ints_opt("output_padding", None, self.rank, minimum=0)
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ConfigError(f"{self.where}: output_padding={self.output_padding} must be "
                              f"smaller than strides={self.strides}")
        self.slots = [WeightSlot("kernel", (*self.kernel_size, self.filters, None))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.filters,)))

    def build_weights(self, arrays):
        kernel = np.asarray(arrays[0], self.dtype)
        self.cin = kernel.shape[-1]
        nd = self.rank
        flipped = kernel[(slice(None, None, -1),) * nd].swapaxes(-1, -2)   # (*k, cin, filters)
        self.matrices = K.kernel_matrices(flipped)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None

    def out_sizes(self, spatial):
        ops = self.output_padding or (None,) * self.rank
        return [K.transpose_out_size(n, k, s, d, self.padding, p) for n, k, s, d, p in
                zip(spatial, self.kernel_size, self.strides, self.dilation, ops)]

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(self.cast_input(single(inputs, self.where)))
        self.check_channels(x, self.cin)
        spatial = x.shape[1:-1]
        out = self.out_sizes(spatial)
        if min(out) <= 0:
            raise InputError(f"{self.where}: input of shape {self.shape_of(x)} gives an empty "
                             f"output")
        limits.check_elements((*out, self.filters), self.where, "one output sample")
        p = K.transpose_pads(spatial, out, self.kernel_size, self.strides, self.dilation,
                             self.padding)
        xd = K.dilate_and_pad(x, self.strides, p)
        ones = (1,) * self.rank
        y = K.conv(xd, self.matrices, self.kernel_size, ones, self.dilation)
        if y is None or list(y.shape[1:-1]) != out:
            raise InputError(f"{self.where}: cannot run on input of shape {self.shape_of(x)}")
        return self.finish(y)


Conv1D = _rank_class(Conv, 1, "Conv1D")
Conv2D = _rank_class(Conv, 2, "Conv2D")
Conv3D = _rank_class(Conv, 3, "Conv3D")
DepthwiseConv1D = _rank_class(DepthwiseConv, 1, "DepthwiseConv1D")
DepthwiseConv2D = _rank_class(DepthwiseConv, 2, "DepthwiseConv2D")
SeparableConv1D = _rank_class(SeparableConv, 1, "SeparableConv1D")
SeparableConv2D = _rank_class(SeparableConv, 2, "SeparableConv2D")
Conv1DTranspose = _rank_class(ConvTranspose, 1, "Conv1DTranspose")
Conv2DTranspose = _rank_class(ConvTranspose, 2, "Conv2DTranspose")
Conv3DTranspose = _rank_class(ConvTranspose, 3, "Conv3DTranspose")
