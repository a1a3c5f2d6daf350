"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector; ZeroPadding, Cropping and
UpSampling in 1-D to 3-D (channels_last and channels_first)."""

from __future__ import annotations

import numpy as np

from .. import limits
from ..errors import ConfigError, InputError
from .base import Layer, single
from .convolutional import _rank_class, _Spatial


class Flatten(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.channels_first = self.choice_opt("data_format", "channels_last", (
            "channels_last", "channels_first")) == "channels_first"

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        if self.channels_first and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


class Reshape(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        target = self.require("target_shape")
        if not isinstance(target, (list, tuple)) or not all(
                isinstance(d, int) and not isinstance(d, bool) and
                (d == -1 or 0 <= d <= limits.MAX_DIM) for d in target) or \
                list(target).count(-1) > 1:
            raise ConfigError(f"{self.where}: target_shape={target!r:.100} must be a list of "
                              f"sizes (at most one -1)")
        self.target = list(target)
        limits.check_elements([d for d in target if d != -1], self.where, "target_shape")

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        target = list(self.target)
        if -1 in target and x.shape[0] == 0:     # -1 cannot be inferred from an empty batch
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(x.shape[1:])) // max(known, 1)
        try:
            return x.reshape((x.shape[0], *target))
        except ValueError:
            raise InputError(f"{self.where}: cannot reshape input of shape {x.shape} to "
                             f"(batch, {', '.join(map(str, target))})") from None


class Permute(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        dims = self.require("dims")
        if not isinstance(dims, (list, tuple)) or sorted(
                d if isinstance(d, int) else -1 for d in dims) != list(range(1, len(dims) + 1)):
            raise ConfigError(f"{self.where}: dims={dims!r:.100} must be a permutation of "
                              f"1..{len(dims) if isinstance(dims, (list, tuple)) else 'n'}")
        self.dims = list(dims)

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        dims = self.dims
        if sorted(dims) != list(range(1, x.ndim)):
            raise InputError(f"{self.where}: dims={dims} do not permute an input of shape "
                             f"{x.shape}")
        return np.ascontiguousarray(x.transpose([0] + dims))


class RepeatVector(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.require("n")
        self.n = self.int_opt("n")

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        if x.ndim != 2:
            raise InputError(f"{self.where}: expects input of rank 2, received shape {x.shape}")
        limits.check_elements((self.n, x.shape[1]), self.where, "each repeated sample")
        return np.repeat(x[:, None, :], self.n, axis=1)


# ----- spatial padding, cropping, upsampling (1-D to 3-D) -----------------------------------


class _Margins(_Spatial):
    """What ZeroPadding and Cropping read: ``key`` as an int (every side), one int per axis
    (both sides) or a (before, after) pair per axis (1-D: one pair)."""

    key = "padding"
    default = 1

    def __init__(self, *a):
        super().__init__(*a)
        v = self.opt(self.key, self.default)
        r, w = self.rank, self.where
        if isinstance(v, (list, tuple)) and r == 1 and len(v) == 2 and \
                all(not isinstance(i, (list, tuple)) for i in v):
            v = [v]
        if isinstance(v, (list, tuple)) and len(v) == r:
            pairs = [p if isinstance(p, (list, tuple)) else (p, p) for p in v]
        elif isinstance(v, (list, tuple)):
            raise ConfigError(f"{w}: {self.key}={v!r:.100} must be an integer, {r} integers or "
                              f"{r} (before, after) pairs")
        else:
            pairs = [(v, v)] * r
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise ConfigError(f"{w}: {self.key}={v!r:.100} must be an integer, {r} integers or "
                              f"{r} (before, after) pairs")
        self.margins = [(limits.check_dim(a, w, self.key, 0), limits.check_dim(b, w, self.key, 0))
                        for a, b in pairs]

    def describe(self):
        return f"{self.key}={self.margins}"


class ZeroPadding(_Margins):
    def call(self, inputs, mask=None, training=None):
        x = self.to_last(single(inputs, self.where))
        limits.check_elements([n + a + b for n, (a, b) in zip(x.shape[1:-1], self.margins)] +
                              [x.shape[-1]], self.where, "one padded sample")
        return self.from_last(np.pad(x, [(0, 0), *self.margins, (0, 0)]))


class Cropping(_Margins):
    key = "cropping"

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(single(inputs, self.where))
        if any(a + b >= n for n, (a, b) in zip(x.shape[1:-1], self.margins)):
            raise InputError(f"{self.where}: cropping {self.margins} leaves nothing of an "
                             f"input of shape {self.shape_of(x)}")
        index = (slice(None),) + tuple(slice(a, n - b) for n, (a, b) in
                                       zip(x.shape[1:-1], self.margins))
        return self.from_last(np.ascontiguousarray(x[index]))


class UpSampling(_Spatial):
    """UpSampling1D/2D/3D: "nearest" repeats; UpSampling2D "bilinear" is tf.image.resize
    (half-pixel centres, no antialias) in both writers."""

    def __init__(self, *a):
        super().__init__(*a)
        self.size = self.ints_opt("size", 2, self.rank, aliases=("length",))
        methods = ("nearest", "bilinear") if self.rank == 2 else ("nearest",)
        self.interpolation = self.choice_opt("interpolation", "nearest", methods)

    def call(self, inputs, mask=None, training=None):
        x = self.to_last(single(inputs, self.where))
        limits.check_elements([n * s for n, s in zip(x.shape[1:-1], self.size)] +
                              [x.shape[-1]], self.where, "one upsampled sample")
        if self.interpolation == "bilinear":
            y = x.astype(self.dtype) if x.dtype.kind != "f" else x
            for axis, s in ((2, self.size[1]), (1, self.size[0])):    # width, then height (TF)
                y = _lerp_axis(y, axis, s)
            return self.from_last(y)
        for axis, s in enumerate(self.size, start=1):
            x = np.repeat(x, s, axis=axis)
        return self.from_last(x)

    def describe(self):
        return f"size={self.size}, interpolation={self.interpolation}"


def _lerp_axis(x: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """``x`` resized ``scale`` times along ``axis`` by linear interpolation with half-pixel
    centres (TensorFlow's ``compute_interpolation_weights``)."""
    n = x.shape[axis]
    src = (np.arange(n * scale, dtype=np.float32) + np.float32(0.5)) / np.float32(scale) - \
        np.float32(0.5)
    floor = np.floor(src)
    lo = np.maximum(floor, 0).astype(np.intp)
    hi = np.minimum(np.ceil(src), n - 1).astype(np.intp)
    shape = [1] * x.ndim
    shape[axis] = -1
    lerp = (src - floor).astype(x.dtype).reshape(shape)
    a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
    return a + (b - a) * lerp


ZeroPadding1D = _rank_class(ZeroPadding, 1, "ZeroPadding1D")
ZeroPadding2D = _rank_class(ZeroPadding, 2, "ZeroPadding2D")
ZeroPadding3D = _rank_class(ZeroPadding, 3, "ZeroPadding3D")
Cropping1D = _rank_class(Cropping, 1, "Cropping1D")
Cropping2D = _rank_class(Cropping, 2, "Cropping2D")
Cropping3D = _rank_class(Cropping, 3, "Cropping3D")
UpSampling1D = _rank_class(UpSampling, 1, "UpSampling1D")
UpSampling2D = _rank_class(UpSampling, 2, "UpSampling2D")
UpSampling3D = _rank_class(UpSampling, 3, "UpSampling3D")
