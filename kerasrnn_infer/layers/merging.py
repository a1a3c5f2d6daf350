"""Merging layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot. Each
but Dot merges its inputs' masks as the writing Keras does (compat.merge_mask; Concatenate:
compat.concat_mask); Dot's output has no mask."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError
from .base import Layer, as_list, feature_axes
from .normalization import l2_normalize


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
        if self.ctx.compat.merge_mask == "or":     # Keras 3: None if any input has none
            if not masks or any(m is None for m in masks):
                return None
            out = np.asarray(masks[0], bool)
            for m in masks[1:]:
                out = out | np.asarray(m, bool)
            return out
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


class Dot(_Merge):
    """Batchwise dot product of two inputs along ``axes`` (an axis for both, or one per
    input; negative axes count from each input's end), optionally of L2-normalised inputs
    (cosine similarity; compat.l2_normalize). The output has the first input's axes but the
    dot axis, then the second's but its batch and dot axes, at least (batch, 1); no mask
    (``layers/merging/dot.py``)."""

    supports_masking = False

    def __init__(self, *a):
        super().__init__(*a)
        axes = self.axes_opt("axes", -1)
        if len(axes) not in (1, 2):
            raise ConfigError(f"{self.where}: axes={self.opt('axes')!r} must be an axis or a "
                              f"pair of axes")
        self.axes = axes * 2 if len(axes) == 1 else axes
        self.normalize = self.bool_opt("normalize", False)

    def merge(self, xs):
        if len(xs) != 2:
            raise InputError(f"{self.where}: expects exactly 2 inputs, received {len(xs)}")
        x, y = xs
        if x.ndim < 2 or y.ndim < 2 or x.shape[0] != y.shape[0]:
            raise InputError(f"{self.where}: expects two batched inputs of rank >= 2 with the "
                             f"same batch size, received {x.shape} and {y.shape}")
        a0, a1 = self.axes[0] % x.ndim, self.axes[1] % y.ndim
        if 0 in (a0, a1) or x.shape[a0] != y.shape[a1]:
            raise InputError(f"{self.where}: cannot take the dot product of {x.shape} (axis "
                             f"{a0}) and {y.shape} (axis {a1})")
        if self.normalize:
            x, y = self._l2(x, a0), self._l2(y, a1)
        # Keras batch_dot: x's dot axis last, y's first after the batch, one matmul
        xm = np.moveaxis(x, a0, -1).reshape(x.shape[0], -1, x.shape[a0])
        ym = np.moveaxis(y, a1, 1).reshape(y.shape[0], y.shape[a1], -1)
        out = np.matmul(xm, ym)
        rest_x = [d for i, d in enumerate(x.shape) if i not in (0, a0)]
        rest_y = [d for i, d in enumerate(y.shape) if i not in (0, a1)]
        shape = [x.shape[0]] + rest_x + rest_y
        return out.reshape(shape if len(shape) > 1 else shape + [1])

    def _l2(self, x, axis):
        style = self.ctx.compat.l2_normalize        # Keras 3: its epsilon; tf: l2_normalize's
        return l2_normalize(x, axis, style, 1e-7 if style == "keras3" else 1e-12)

    def compute_mask(self, inputs, mask):
        return None

    def stream_block(self):
        return "it takes dot products across time"
