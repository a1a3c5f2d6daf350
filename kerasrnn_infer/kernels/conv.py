"""Windows, padding and products for convolution and pooling layers, in any number of spatial
dimensions (1-D, 2-D, 3-D convolutions, pooling, ConvLSTM).

Shapes are channels-last: ``(batch, *spatial, channels)``; layers move channels-first data in
and out themselves. A window set is a strided view (``sliding_window_view``), never a Python
loop over positions: a convolution is one matrix product over all windows (one per group, or
one batched product for depthwise kernels), a pooling one reduction over the window axes.

Padding follows TensorFlow (``tf.nn.convolution``): "same" puts the extra element after,
"causal" (1-D) pads only before.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Pads = List[Tuple[int, int]]


def span(kernel: int, dilation: int = 1) -> int:
    """The extent of a dilated kernel."""
    return (kernel - 1) * dilation + 1


def same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """(before, after) padding of ``padding="same"``: TensorFlow's rule, the extra element
    after (``tf.nn.convolution``)."""
    out = -(-length // stride)
    total = max((out - 1) * stride + span(kernel, dilation) - length, 0)
    return total // 2, total - total // 2


def pads(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
         dilation: Sequence[int], padding: str) -> Pads:
    """Per spatial axis (before, after) of "valid", "same" or "causal" (1-D) padding."""
    if padding == "same":
        return [same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
    if padding == "causal":
        return [(span(k, d) - 1, 0) for k, d in zip(kernel, dilation)]
    return [(0, 0)] * len(spatial)


def pad(x: np.ndarray, spatial_pads: Pads, value=0) -> np.ndarray:
    """``x`` (batch, *spatial, channels) padded on its spatial axes (no copy when none)."""
    if not any(lo or hi for lo, hi in spatial_pads):
        return x
    return np.pad(x, [(0, 0), *spatial_pads, (0, 0)], constant_values=value)


def out_sizes(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dilation: Sequence[int]) -> Tuple[int, ...]:
    """Output sizes of a window scan over (already padded) ``spatial``; <= 0 when the input
    is shorter than the kernel's span."""
    return tuple((n - span(k, d)) // s + 1
                 for n, k, s, d in zip(spatial, kernel, strides, dilation))


def windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
            dilation: Sequence[int]) -> Optional[np.ndarray]:
    """A view (batch, *out, channels, *kernel) of every window of padded ``x`` (batch,
    *spatial, channels); None if some spatial size is shorter than the kernel's span."""
    nd = len(kernel)
    if min(out_sizes(x.shape[1:1 + nd], kernel, strides, dilation)) <= 0:
        return None
    eff = tuple(span(k, d) for k, d in zip(kernel, dilation))
    v = sliding_window_view(x, eff, axis=tuple(range(1, 1 + nd)))
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),) + \
        tuple(slice(None, None, d) for d in dilation)
    return v[index]


def windows_last(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                 dilation: Sequence[int]) -> Optional[np.ndarray]:
    """``windows`` as (batch, *out, *kernel, channels): each window's channels stay the
    contiguous innermost run of a channels-last input, so gathering the windows into one
    matrix (im2col) copies runs, not single elements."""
    win = windows(x, kernel, strides, dilation)
    return None if win is None else np.moveaxis(win, 1 + len(kernel), -1)


def kernel_matrices(kernel: np.ndarray, groups: int = 1) -> List[np.ndarray]:
    """A Keras kernel (*k, cin/groups, filters) as one contiguous (prod(k) * cin/groups,
    filters/groups) matrix per group, rows in the (*k, channel) order of ``windows_last``."""
    m = kernel.reshape(-1, kernel.shape[-1])
    fg = kernel.shape[-1] // groups
    return [np.ascontiguousarray(m[:, g * fg:(g + 1) * fg]) for g in range(groups)]


#: bytes of gathered windows per product: larger gathers are made a few samples at a time, so
#: that the matrix the product reads is still in cache (measured: a 32-image batch of 100x25x32
#: maps with 3x3 kernels takes 38 ms sample by sample, 85 ms gathered at once)
TILE_BYTES = 3 << 20


def conv(x: np.ndarray, matrices: Sequence[np.ndarray], kernel: Sequence[int],
         strides: Sequence[int], dilation: Sequence[int],
         post: Optional[Callable[[np.ndarray], object]] = None) -> Optional[np.ndarray]:
    """Cross-correlation of padded ``x`` (batch, *spatial, cin) with ``kernel_matrices``
    (one per group): (batch, *out, filters); None if the input is shorter than the kernel.
    Each group is one product over all windows (gathered ``TILE_BYTES`` at a time);
    ``post(y)`` (bias, activation: in place) runs on each part of the output as it is made,
    while it is in cache."""
    win = windows_last(x, kernel, strides, dilation)
    if win is None:
        return None
    nd = len(kernel)
    lead = win.shape[:1 + nd]
    groups = len(matrices)
    dtype = np.result_type(x.dtype, matrices[0].dtype)
    if groups == 1:
        return _product(win, matrices[0], lead, dtype, post)
    cg = x.shape[-1] // groups
    y = np.concatenate([_product(win[..., g * cg:(g + 1) * cg], m, lead, dtype)
                        for g, m in enumerate(matrices)], axis=-1)   # a product per group
    if post is not None:
        post(y)
    return y


def _product(win: np.ndarray, m: np.ndarray, lead: Tuple[int, ...], dtype,
             post: Optional[Callable[[np.ndarray], object]] = None) -> np.ndarray:
    """``windows @ m`` for a (batch, *out, *k, c) window view: (batch, *out, filters)."""
    batch, k = lead[0], m.shape[0]
    per_sample = int(np.prod(lead[1:], dtype=np.int64)) * k * np.dtype(dtype).itemsize
    step = max(1, TILE_BYTES // max(per_sample, 1))
    if step >= batch:
        y = (win.reshape(-1, k) @ m).reshape(lead + (m.shape[1],))   # one gather (im2col)
        if post is not None:
            post(y)
        return y
    out = np.empty(lead + (m.shape[1],), dtype)
    cols = np.empty((step,) + win.shape[1:], dtype)
    for s in range(0, batch, step):                               # a few samples at a time
        e = min(batch, s + step)
        np.copyto(cols[:e - s], win[s:e])
        np.matmul(cols[:e - s].reshape(-1, k), m, out=out[s:e].reshape(-1, m.shape[1]))
        if post is not None:
            post(out[s:e])
    return out


def depthwise_matrices(kernel: np.ndarray) -> np.ndarray:
    """A depthwise kernel (*k, C, mult) as (C, prod(k), mult), for ``depthwise``."""
    nd = kernel.ndim - 2
    c, mult = kernel.shape[-2:]
    return np.ascontiguousarray(np.moveaxis(kernel, nd, 0).reshape(c, -1, mult))


def depthwise(x: np.ndarray, matrices: np.ndarray, kernel: Sequence[int],
              strides: Sequence[int], dilation: Sequence[int]) -> Optional[np.ndarray]:
    """Depthwise cross-correlation of padded ``x`` (batch, *spatial, C): (batch, *out,
    C * mult), output channel ``c * mult + m`` (Keras): one batched product over channels."""
    win = windows(x, kernel, strides, dilation)
    if win is None:
        return None
    nd = len(kernel)
    lead = win.shape[:1 + nd]
    c, kk, mult = matrices.shape
    cols = win.reshape(-1, c, kk).transpose(1, 0, 2)              # (C, N, prod(k))
    y = np.matmul(cols, matrices)                                 # (C, N, mult)
    return y.transpose(1, 0, 2).reshape(lead + (c * mult,))


def transpose_pads(n_in: Sequence[int], n_out: Sequence[int], kernel: Sequence[int],
                   strides: Sequence[int], dilation: Sequence[int], padding: str) -> Pads:
    """(before, after) padding of the stride-dilated input of a transposed convolution,
    turning it into a direct convolution with the flipped kernel (negative: crop). ``n_out``
    is the output size (``transpose_out_size``); the forward convolution that maps it back to
    ``n_in`` pads it with TensorFlow's rule."""
    out = []
    for n, length, k, s, d in zip(n_in, n_out, kernel, strides, dilation):
        lo = same_pads(length, k, s, d)[0] if padding == "same" else 0
        before = span(k, d) - 1 - lo
        after = length + span(k, d) - 1 - before - ((n - 1) * s + 1)
        out.append((before, after))
    return out


def transpose_out_size(n: int, kernel: int, stride: int, dilation: int, padding: str,
                       output_padding: Optional[int]) -> int:
    """Output length of a transposed convolution (Keras ``backend_utils``
    ``_get_output_shape_given_tf_padding``)."""
    eff = span(kernel, dilation)
    if output_padding is None:
        if padding == "same":
            return n * stride
        output_padding = max(eff, stride) - eff
        return (n - 1) * stride + eff + output_padding
    if padding == "same":
        return (n - 1) * stride + eff % 2 + output_padding
    return (n - 1) * stride + eff + output_padding


def dilate_and_pad(x: np.ndarray, strides: Sequence[int], spatial_pads: Pads) -> np.ndarray:
    """``x`` (batch, *spatial, C) with ``stride - 1`` zeros between elements on each spatial
    axis, then padded (positive) or cropped (negative) per ``spatial_pads``: one allocation
    and one strided assignment."""
    nd = len(strides)
    spatial = x.shape[1:1 + nd]
    dil = [(n - 1) * s + 1 for n, s in zip(spatial, strides)]
    lo = [max(b, 0) for b, _ in spatial_pads]
    shape = [d + max(b, 0) + max(a, 0) for d, (b, a) in zip(dil, spatial_pads)]
    out = np.zeros((x.shape[0], *shape, x.shape[-1]), x.dtype)
    out[(slice(None),) + tuple(slice(l, l + d, s) for l, d, s in zip(lo, dil, strides))] = x
    crop = (slice(None),) + tuple(slice(max(-b, 0), n - max(-a, 0))
                                  for (b, a), n in zip(spatial_pads, shape))
    return out[crop]


def pool(x: np.ndarray, size: Sequence[int], strides: Sequence[int], padding: str,
         kind: str) -> Optional[np.ndarray]:
    """Max or average pooling of ``x`` (batch, *spatial, C): (batch, *out, C); "same"
    padding never wins a max and is not counted in an average (TensorFlow); None if the
    input is shorter than the pool."""
    nd = len(size)
    ones = (1,) * nd
    p = pads(x.shape[1:1 + nd], size, strides, ones, padding)
    fill = (-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min) if kind == "max" else 0
    win = windows(pad(x, p, fill), size, strides, ones)
    if win is None:
        return None
    # window axes first: each reduction combines whole (batch, *out, C) slabs elementwise,
    # much faster than reducing the short innermost window axes
    win = np.moveaxis(win, tuple(range(2 + nd, 2 + 2 * nd)), tuple(range(nd)))
    reduce = np.maximum.reduce if kind == "max" else np.add.reduce
    y = win
    for _ in range(nd):
        y = reduce(y, axis=0)
    if kind == "max":
        return y
    total = y
    axes = tuple(range(2 + nd, 2 + 2 * nd))
    if not any(lo or hi for lo, hi in p):
        return total / x.dtype.type(int(np.prod(size)))
    inside = windows(pad(np.ones((1, *x.shape[1:1 + nd], 1), x.dtype), p), size, strides, ones)
    if inside is None:
        return None
    return total / np.sum(inside, axis=axes)                     # real elements per window
