"""Core layers: InputLayer, Dense, Embedding, Activation, Masking, and the layers that do
nothing at inference (Dropout and its family, ActivityRegularization)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import activations, limits
from ..dtypes import input_dtype
from ..errors import ConfigError, InputError
from ..kernels import dense_kernel
from .base import Layer, WeightSlot, single

_SMALL = 4096       # values: Dense's activation allocates below this, works in place above


class InputLayer(Layer):
    float_dtype = False
    streaming = None

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if shape is None and isinstance(config.get("input_shape"), (list, tuple)):
            shape = [None] + list(config["input_shape"])
        if shape is not None and (not isinstance(shape, (list, tuple)) or len(shape) > 64 or
                                  not all(d is None or (isinstance(d, int) and not
                                          isinstance(d, bool) and 0 <= d <= limits.MAX_DIM)
                                          for d in shape)):
            raise ConfigError(f"{self.where}: batch shape {shape!r:.200} is not a list of sizes "
                              f"(each at most {limits.MAX_DIM})")
        self.shape = None if shape is None else tuple(shape)
        if self.shape is not None:
            limits.check_elements([d for d in self.shape[1:] if d is not None], self.where,
                                  "one sample of the declared batch shape")
        for key in ("sparse", "ragged"):
            if self.bool_opt(key, False):
                self.refuse(key, True, "False")
        dt = config.get("dtype", config.get("input_dtype"))
        self.input_dtype = input_dtype(dt, f"{self.where}: input")

    def call(self, inputs, mask=None, **kwargs):
        return inputs


class Identity(Layer):
    """Layers that do nothing at inference: Dropout and its family, ActivityRegularization."""

    supports_masking = True
    streaming = None
    inert = True

    def call(self, inputs, mask=None, training=None):
        return single(inputs, self.where)


class KerasIdentity(Identity):
    """keras ``Identity``: its inputs as they are; the mask passes in Keras 3 only
    (compat.rescale_identity_pass_masks), so in tf-keras files it is a step of its own."""

    def __init__(self, *a):
        super().__init__(*a)
        self.supports_masking = self.inert = self.ctx.compat.rescale_identity_pass_masks


class Activation(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.fn = activations.get(self.require("activation"), self.ctx.compat,
                                  f"{self.where} activation")

    def call(self, inputs, mask=None, training=None):
        return self.fn(self.cast_input(single(inputs, self.where)))


class Dense(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.units = self.int_opt("units", None)
        if self.units is None:
            raise ConfigError(f"{self.where}: config has no 'units'")
        for key in ("lora_rank", "quantization_config"):
            if self.opt(key):
                self.refuse(key, self.opt(key), "None")
        self.use_bias = self.bool_opt("use_bias", True)
        self.act = self.activation_opt()
        self.slots = [WeightSlot("kernel", (None, self.units))]
        if self.use_bias:
            self.slots.append(WeightSlot("bias", (self.units,)))

    def build_weights(self, arrays):
        self.kernel = np.ascontiguousarray(arrays[0], self.dtype)
        self.bias = np.asarray(arrays[1], self.dtype) if self.use_bias else None
        # the compiled form (the jit extra; kernels/numba_dense.py), compiled now, or None
        self.compiled = dense_kernel(self.kernel, self.bias, self.act, self.dtype,
                                     self.ctx.jit, self.where)

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(single(inputs, self.where))
        if x.ndim < 2 or x.shape[-1] != self.kernel.shape[0]:
            raise InputError(f"{self.where}: expects input (..., {self.kernel.shape[0]}), "
                             f"received shape {x.shape}")
        return self._apply(x)

    def direct(self):
        """``Layer.direct``: ``call``; quiet with the compiled form (which runs NumPy's,
        under ``np.errstate``, past its rows)."""
        if self.compiled is not None:
            return self.compiled.direct(self, self._direct), True
        return self._direct, False

    def _direct(self, x, mask):
        x = self.cast_input(x)
        if x.ndim < 2 or x.shape[-1] != self.kernel.shape[0]:
            return self._run_plain(x, mask)             # its checks, its errors
        compiled = self.compiled
        if compiled is not None and x.size // x.shape[-1] > compiled.max_rows:
            with np.errstate(all="ignore"):
                return self._apply(x), mask
        return self._apply(x), mask

    def _apply(self, x):
        """The layer's output for a checked input of its dtype."""
        compiled = self.compiled
        if (compiled is not None and x.size and x.dtype == compiled.dtype and
                x.size // x.shape[-1] <= compiled.max_rows):
            rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            if not (rows.flags.c_contiguous and rows.flags.aligned):
                rows = np.array(rows, order="C")        # the compiled call's layout
            y = compiled.run(rows)
            return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (self.units,))
        y = np.dot(x, self.kernel) if x.ndim == 2 else np.matmul(x, self.kernel)
        if self.bias is not None:
            y += self.bias
        # in place saves memory on large outputs; on small ones NumPy's in-place calls cost
        # more than the allocations (~0.5 us a call)
        return self.act(y, out=y) if y.size > _SMALL else self.act(y)

    def describe(self):
        return f"units={self.units}"


class Embedding(Layer):
    streaming = None

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
            # Keras casts non-integer ids to int32 (truncation); NaN and infinities become
            # ids outside the vocabulary, reported as such (no NumPy warning on the way)
            with np.errstate(invalid="ignore"):
                x = x.astype(np.int32)
        elif x.dtype.kind not in "iub":
            raise InputError(f"{self.where}: expects integer token ids, received dtype {x.dtype}")
        return x

    def run(self, inputs, mask, kwargs, ctx):
        if kwargs:
            return super().run(inputs, mask, kwargs, ctx)
        ids = self._ids(single(inputs, self.where))      # once for the output and the mask
        return self._lookup(ids), (ids != 0 if self.mask_zero else None)

    def call(self, inputs, mask=None, training=None):
        return self._lookup(self._ids(single(inputs, self.where)))

    def direct(self):
        """``Layer.direct``: ``run`` (a lookup, quiet)."""
        return self._direct, True

    def _direct(self, x, mask):
        return self.run(x, mask, {}, None)

    def _lookup(self, ids):
        if ids.dtype.itemsize < 8:
            # one pass: seen unsigned, a negative id is out of range too (8-byte ids would
            # turn negative again as indices)
            index = ids.view(f"u{ids.itemsize}") if ids.dtype.kind == "i" else ids
            try:
                return self.table.take(index, axis=0, mode="raise")
            except IndexError:
                pass                                    # reported below
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            self.out_of_range(ids[(ids < 0) | (ids >= self.input_dim)].flat[0])
        return self.table[ids]

    def out_of_range(self, bad):
        raise InputError(f"{self.where}: token id {bad} is outside the vocabulary "
                         f"[0, {self.input_dim})")

    def ids_for_kernel(self, inputs):
        """The ids as a recurrent kernel looks them up itself (``fused_next``: this layer's
        output goes to that layer only; kernels/numba_rnn.py ``run_ids``): int32 or int64
        (``kernel_ids``), as ``call`` reads them; None when they are not a (batch, time)
        array of numbers."""
        if not isinstance(inputs, np.ndarray) or inputs.ndim != 2:
            return None
        ids = self._ids(inputs)
        want = kernel_ids(ids.dtype)
        if want is None:
            return None
        return ids if ids.dtype == want else ids.astype(want)

    def compute_mask(self, inputs, mask):
        if not self.mask_zero:
            return None
        return self._ids(single(inputs, self.where)) != 0

    def describe(self):
        masks = ", mask_zero" if self.mask_zero else ""
        return f"vocab={self.input_dim}, dim={self.output_dim}{masks}"


def kernel_ids(dtype) -> Optional[np.dtype]:
    """The dtype ``Embedding.ids_for_kernel`` gives ids of ``dtype``: int64 for int64 and
    uint32 (whose values may not fit int32), None for uint64 (past int64's range: the
    layer's own lookup and message), else int32 (floats are cast to int32 as the layer
    casts them; so is any other input, and None: an input of unknown dtype)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint64:
        return None
    if dtype == np.int64 or dtype == np.uint32:
        return np.dtype(np.int64)
    return np.dtype(np.int32)


class Masking(Layer):
    supports_masking = True
    streaming = None

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
