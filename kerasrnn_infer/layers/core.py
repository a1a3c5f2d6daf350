"""Layers around the recurrent ones: core, reshaping, merging, convolution, pooling,
normalization and activation layers."""

from __future__ import annotations

import numpy as np

from .. import activations, limits
from ..errors import ConfigError, InputError
from .base import Layer, WeightSlot, as_list, single


class Identity(Layer):
    """Layers that do nothing at inference: Dropout and its family, ActivityRegularization."""

    supports_masking = True

    def call(self, inputs, mask=None, training=None):
        return single(inputs, self.where)


class Activation(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.fn = activations.get(self.require("activation"), self.ctx.keras_major,
                                  f"{self.where} activation")

    def call(self, inputs, mask=None, training=None):
        return self.fn(self.cast_input(single(inputs, self.where)))


class ReLU(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.max_value = self.float_opt("max_value", None, minimum=0.0)
        self.slope = self.float_opt("negative_slope", 0.0, minimum=0.0)
        self.threshold = self.float_opt("threshold", 0.0)

    def call(self, inputs, mask=None, training=None):
        # keras ReLU.static_call: threshold, then clip to max_value, then the negative slope
        x = self.cast_input(single(inputs, self.where))
        t = x.dtype.type(self.threshold)
        y = np.where(x > t, x, x.dtype.type(0)) if self.threshold else np.maximum(x, 0)
        if self.max_value is not None:
            y = np.clip(y, 0, x.dtype.type(self.max_value))
        if self.slope:
            y = y - x.dtype.type(self.slope) * np.maximum(t - x, 0)
        return y.astype(x.dtype, copy=False)


class LeakyReLU(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.slope = self.float_opt("negative_slope", 0.3, aliases=("alpha",))

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        return activations.leaky_relu(x, negative_slope=self.slope)


class ELU(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.alpha = self.float_opt("alpha", 1.0)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        return activations.elu(x, alpha=self.alpha)


class Softmax(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.axes = tuple(self.axes_opt("axis", -1))

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        axes = self.axes
        if mask is not None:
            m = np.asarray(mask, bool)
            while m.ndim < x.ndim:
                m = m[..., None]
            x = x + np.where(m, 0, -1e9).astype(x.dtype)   # keras Softmax: -1e9 where masked
        e = np.exp(x - np.max(x, axis=axes, keepdims=True))
        return e / np.sum(e, axis=axes, keepdims=True)


class Dense(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.units = self.int_opt("units", None, aliases=("output_dim",))
        if self.units is None:
            raise ConfigError(f"{self.where}: config has no 'units'")
        for key in ("lora_rank", "quantization_config"):
            if self.opt(key):
                self.refuse(key, self.opt(key), "None")
        self.use_bias = self.bool_opt("use_bias", True)
        self.act = activations.get(self.opt("activation"), self.ctx.keras_major,
                                   f"{self.where} activation")
        self.slots = [WeightSlot("kernel", (None, self.units))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.units,)))

    def build_weights(self, arrays):
        self.kernel = np.ascontiguousarray(arrays[0], self.dtype)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        if x.ndim < 2 or x.shape[-1] != self.kernel.shape[0]:
            raise InputError(f"{self.where}: expects input (..., {self.kernel.shape[0]}), "
                             f"received shape {x.shape}")
        y = np.matmul(x, self.kernel)
        if self.bias is not None:
            y += self.bias
        return self.act(y, out=y)

    def describe(self):
        return f"units={self.units}"


class Embedding(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.require("input_dim")
        self.require("output_dim")
        self.input_dim = self.int_opt("input_dim")
        self.output_dim = self.int_opt("output_dim")
        self.mask_zero = self.bool_opt("mask_zero", False)
        for key in ("lora_rank", "quantization_config"):
            if self.opt(key):
                self.refuse(key, self.opt(key), "None")
        if self.bool_opt("sparse", False):
            self.refuse("sparse", True, "False")
        self.slots = [WeightSlot("embeddings", (self.input_dim, self.output_dim))]

    def build_weights(self, arrays):
        self.table = np.asarray(arrays[0], self.dtype)

    def _ids(self, x):
        x = np.asarray(x)
        if x.dtype.kind == "f":
            x = x.astype(np.int32)     # Keras casts non-integer ids to int32 (truncation)
        elif x.dtype.kind not in "iub":
            raise InputError(f"{self.where}: expects integer token ids, received dtype {x.dtype}")
        return x

    def call(self, inputs, mask=None, training=None):
        ids = self._ids(single(inputs, self.where))
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = ids[(ids < 0) | (ids >= self.input_dim)].flat[0]
            raise InputError(f"{self.where}: token id {bad} is outside the vocabulary "
                             f"[0, {self.input_dim})")
        return self.table[ids]

    def compute_mask(self, inputs, mask):
        if not self.mask_zero:
            return None
        return self._ids(single(inputs, self.where)) != 0

    def describe(self):
        return f"vocab={self.input_dim}, dim={self.output_dim}" + (", mask_zero" if self.mask_zero else "")


class Masking(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.mask_value = self.float_opt("mask_value", 0.0)

    def _mask(self, x):
        return np.any(x != x.dtype.type(self.mask_value), axis=-1)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        return np.where(self._mask(x)[..., None], x, x.dtype.type(0))

    def compute_mask(self, inputs, mask):
        return self._mask(self.cast_input(single(inputs, self.where)))

    def describe(self):
        return f"mask_value={self.mask_value}"


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
            raise InputError(f"{self.where}: dims={dims} do not permute an input of shape {x.shape}")
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


# ----- merging -------------------------------------------------------------------------------
class _Merge(Layer):
    supports_masking = True

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
        return np.any(joined, axis=-1) if self.ctx.keras_major >= 3 else np.all(joined, axis=-1)


# ----- convolution and pooling ---------------------------------------------------------------
def _same_pads(length, kernel, stride, dilation):
    eff = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + eff - length, 0)
    return total // 2, total - total // 2


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
        self.act = activations.get(self.opt("activation"), self.ctx.keras_major,
                                   f"{w} activation")
        self.slots = [WeightSlot("kernel", (self.kernel_size, None, self.filters))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.filters,)))

    def adapt_legacy(self, arrays, backend=None):
        """Keras 1 kernels are 4-D; Theano convolves (flips the kernel) where TensorFlow
        correlates, so Theano-written kernels are flipped (Keras 2 ``preprocess_weights``)."""
        if not arrays:
            return arrays
        k = np.asarray(arrays[0])
        if k.ndim == 4:
            if k.shape[1] == 1 and k.shape[3] == self.filters:     # (length, 1, in, filters)
                k = k[:, 0]
            else:                                                  # (filters, in, length, 1)
                k = np.transpose(k, (2, 3, 1, 0))[:, 0]
        if backend == "theano":
            k = k[::-1]
        return [k] + list(arrays[1:])

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
        if self.padding == "causal":
            x = np.pad(x, ((0, 0), ((k - 1) * d, 0), (0, 0)))
        elif self.padding == "same":
            x = np.pad(x, ((0, 0), _same_pads(x.shape[1], k, s, d), (0, 0)))
        n_out = (x.shape[1] - (k - 1) * d - 1) // s + 1
        if n_out <= 0:
            raise InputError(f"{self.where}: input of length {x.shape[1]} is shorter than the "
                             f"kernel span {(k - 1) * d + 1}")
        # windows: (batch, n_out, k, cin)
        idx = np.arange(n_out)[:, None] * s + np.arange(k)[None, :] * d
        win = x[:, idx, :]
        if g == 1:
            y = np.tensordot(win, self.kernel, axes=([2, 3], [0, 1]))
        else:
            cg, fg = cin // g, self.filters // g
            y = np.concatenate([np.tensordot(win[..., i * cg:(i + 1) * cg],
                                             self.kernel[:, :, i * fg:(i + 1) * fg],
                                             axes=([2, 3], [0, 1])) for i in range(g)], axis=-1)
        y = y.astype(self.dtype, copy=False)
        if self.bias is not None:
            y += self.bias
        return self.from_nwc(self.act(y, out=y))

    def describe(self):
        return f"filters={self.filters}, kernel={self.kernel_size}, padding={self.padding}"


class _Pool1D(_ChannelsLast1D):
    def __init__(self, *a):
        super().__init__(*a)
        w = self.where
        self.pool, = self.ints_opt("pool_size", 2, 1, aliases=("pool_length",))
        self.strides, = self.ints_opt("strides", self.pool, 1, aliases=("stride",))
        self.padding = self.choice_opt("padding", "valid", ("valid", "same"),
                                       aliases=("border_mode",))

    def call(self, inputs, mask=None, training=None):
        x = self.to_nwc(self.cast_input(single(inputs, self.where)))
        p, s = self.pool, self.strides
        length = x.shape[1]
        if self.padding == "same":
            lo, hi = _same_pads(length, p, s, 1)
        else:
            lo = hi = 0
        n_out = (length + lo + hi - p) // s + 1
        if n_out <= 0:
            raise InputError(f"{self.where}: input of length {length} is shorter than the pool {p}")
        idx = np.arange(n_out)[:, None] * s + np.arange(p)[None, :] - lo   # (n_out, p)
        valid = (idx >= 0) & (idx < length)
        win = x[:, np.clip(idx, 0, length - 1), :]                          # (b, n_out, p, c)
        return self.from_nwc(self.reduce(win, valid[None, :, :, None]).astype(x.dtype))


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


# ----- normalization --------------------------------------------------------------------------
class BatchNormalization(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        if self.bool_opt("renorm", False):
            self.refuse("renorm", True, "False")
        if self.opt("mode", 0) not in (0, None):
            self.refuse("mode", self.opt("mode"), "0 (feature-wise)")
        self.axis = self.axes_opt("axis", -1)
        if len(self.axis) != 1:
            self.refuse("axis", self.axis, "a single axis")
        self.eps = self.float_opt("epsilon", 1e-3, minimum=0.0)
        self.center = self.bool_opt("center", True)
        self.scale = self.bool_opt("scale", True)
        slots = []
        if self.scale:
            slots.append(WeightSlot("gamma", (None,)))
        if self.center:
            slots.append(WeightSlot("beta", (None,)))
        slots += [WeightSlot("moving_mean", (None,), False),
                  WeightSlot("moving_variance", (None,), False)]
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
        ax = self.axis[0] % x.ndim
        if x.shape[ax] != self.mul.shape[0]:
            raise InputError(f"{self.where}: expects {self.mul.shape[0]} features on axis "
                             f"{self.axis[0]}, received shape {x.shape}")
        shape = [1] * x.ndim
        shape[ax] = -1
        return x * self.mul.reshape(shape) + self.add.reshape(shape)


class LayerNormalization(Layer):
    supports_masking = True

    def __init__(self, *a):
        super().__init__(*a)
        self.axis = self.axes_opt("axis", -1)
        self.eps = self.float_opt("epsilon", 1e-3, minimum=0.0)
        self.center = self.bool_opt("center", True)
        self.scale = self.bool_opt("scale", True)
        self.rms = self.bool_opt("rms_scaling", False)
        self.slots = []
        if self.scale:
            self.slots.append(WeightSlot("gamma", (None,) * len(self.axis)))
        if self.center:
            self.slots.append(WeightSlot("beta", (None,) * len(self.axis)))

    def build_weights(self, arrays):
        it = iter(arrays)
        self.gamma = next(it).astype(self.dtype) if self.scale else None
        self.beta = next(it).astype(self.dtype) if self.center else None

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


LAYERS = {
    "Dense": Dense, "Embedding": Embedding, "Activation": Activation, "Masking": Masking,
    "Flatten": Flatten, "Reshape": Reshape, "Permute": Permute, "RepeatVector": RepeatVector,
    "Concatenate": Concatenate, "Add": Add, "Subtract": Subtract, "Multiply": Multiply,
    "Average": Average, "Maximum": Maximum, "Minimum": Minimum,
    "Conv1D": Conv1D, "Convolution1D": Conv1D, "MaxPooling1D": MaxPooling1D,
    "MaxPool1D": MaxPooling1D, "AveragePooling1D": AveragePooling1D,
    "AvgPool1D": AveragePooling1D, "GlobalMaxPooling1D": GlobalMaxPooling1D,
    "GlobalMaxPool1D": GlobalMaxPooling1D, "GlobalAveragePooling1D": GlobalAveragePooling1D,
    "GlobalAvgPool1D": GlobalAveragePooling1D,
    "BatchNormalization": BatchNormalization, "LayerNormalization": LayerNormalization,
    "ReLU": ReLU, "LeakyReLU": LeakyReLU, "ELU": ELU, "Softmax": Softmax,
    **{n: Identity for n in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                             "AlphaDropout", "ActivityRegularization")},
}
