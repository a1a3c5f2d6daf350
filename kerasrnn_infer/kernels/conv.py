"""Sliding windows for convolution and pooling layers: padding as Keras computes it, and
windows gathered with index arrays (no Python loop over positions), so that a convolution is
one tensor product over all windows (one per group).

Shapes are channels-last: ``(batch, length, channels)`` for 1-D; layers move channels-first
data in and out themselves.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """(before, after) padding of ``padding="same"``: TensorFlow's rule, the extra element
    after (``tf.nn.convolution``)."""
    eff = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + eff - length, 0)
    return total // 2, total - total // 2


def pad_1d(x: np.ndarray, kernel: int, stride: int, dilation: int, padding: str) -> np.ndarray:
    """``x`` (batch, length, channels) padded with zeros for "valid", "same" or "causal"."""
    if padding == "causal":
        return np.pad(x, ((0, 0), ((kernel - 1) * dilation, 0), (0, 0)))
    if padding == "same":
        return np.pad(x, ((0, 0), same_pads(x.shape[1], kernel, stride, dilation), (0, 0)))
    return x


def window_index(n_out: int, kernel: int, stride: int, dilation: int = 1,
                 offset: int = 0) -> np.ndarray:
    """(n_out, kernel) positions read by each output position."""
    return np.arange(n_out)[:, None] * stride + np.arange(kernel)[None, :] * dilation - offset


def conv_1d(x: np.ndarray, kernel: np.ndarray, stride: int, dilation: int,
            groups: int) -> Optional[np.ndarray]:
    """Cross-correlation of padded ``x`` (batch, length, cin) with ``kernel`` (k, cin/groups,
    filters), as Keras's Conv1D; None if the input is shorter than the kernel's span."""
    k = kernel.shape[0]
    n_out = (x.shape[1] - (k - 1) * dilation - 1) // stride + 1
    if n_out <= 0:
        return None
    win = x[:, window_index(n_out, k, stride, dilation), :]         # (batch, n_out, k, cin)
    if groups == 1:
        return np.tensordot(win, kernel, axes=([2, 3], [0, 1]))
    cg, fg = x.shape[2] // groups, kernel.shape[2] // groups
    return np.concatenate([np.tensordot(win[..., i * cg:(i + 1) * cg],
                                        kernel[:, :, i * fg:(i + 1) * fg],
                                        axes=([2, 3], [0, 1])) for i in range(groups)], axis=-1)


def pool_windows_1d(x: np.ndarray, pool: int, stride: int, padding: str):
    """``(windows, valid)`` of a 1-D pooling: windows (batch, n_out, pool, channels) and which
    of their elements are real (not padding), shaped to broadcast with them; None if the input
    is shorter than the pool."""
    length = x.shape[1]
    lo = same_pads(length, pool, stride)[0] if padding == "same" else 0
    hi = same_pads(length, pool, stride)[1] if padding == "same" else 0
    n_out = (length + lo + hi - pool) // stride + 1
    if n_out <= 0:
        return None
    idx = window_index(n_out, pool, stride, 1, lo)                      # (n_out, pool)
    valid = (idx >= 0) & (idx < length)
    return x[:, np.clip(idx, 0, length - 1), :], valid[None, :, :, None]
