"""Numeric preprocessing layers: Normalization, Rescaling, Discretization, CategoryEncoding,
and ``encode_categorical``, the one-hot / multi-hot / count encoding they share with the
lookup layers (``layers/text.py``).

Keras 3 ``layers/preprocessing/*.py``, tf-keras ``layers/preprocessing/*.py``:

- Normalization: ``(x - mean) / max(sqrt(variance), 1e-7)``; ``invert=True`` gives
  ``mean + x * max(sqrt(variance), 1e-7)``. ``axis`` names the axes kept (one mean per
  position along them); an adapted layer holds mean, variance and count as weights, one
  given to the constructor holds them in the config (broadcast from the last kept axis).
- Rescaling: ``x * scale + offset``.
- Discretization: the bin index is the number of boundaries <= x (a value on a boundary
  goes to the upper bin), from ``bin_boundaries`` (also an adapted Keras 3 layer's); an
  adapted tf-keras layer keeps only its quantile summary, from which the boundaries are
  computed as its ``finalize_state`` does.
- CategoryEncoding: one_hot, multi_hot or count of integer ids (``count_weights`` too).
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from .. import limits
from ..errors import ConfigError, InputError, UnsupportedError
from .base import Layer, WeightSlot, single


# ----- one_hot / multi_hot / count -------------------------------------------------------------
def encode_categorical(idx: np.ndarray, mode: str, depth: int, dtype: Any, where: str,
                       count_weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Keras's ``encode_categorical_inputs`` (Keras 3 ``utils/numerical_utils.py``, tf-keras
    ``preprocessing_utils.py``) for ids in ``idx``: ids outside [0, depth) count for nothing
    (tf.one_hot, tf.math.bincount with maxlength).

    - one_hot: (..., 1) and (...) give (..., depth).
    - multi_hot / count: one bag per row of a (batch, n) input; a rank-1 input is one bag
      (TensorFlow's bincount along the last axis), a scalar a bag of one.
    """
    idx = np.asarray(idx)
    if idx.ndim == 0:
        idx = idx[None]
    valid = (idx >= 0) & (idx < depth)
    if mode == "one_hot":
        if idx.ndim > 1 and idx.shape[-1] == 1:
            idx, valid = idx[..., 0], valid[..., 0]
        limits.check_elements(idx.shape[1:] + (depth,), where, "the one_hot output of one "
                              "sample")
        out = np.zeros(idx.shape + (depth,), dtype)
        hot = np.nonzero(valid)
        out[hot + (idx[hot],)] = 1
        return out
    if idx.ndim > 2:
        raise UnsupportedError(f"{where}: output_mode={mode!r} of a rank-{idx.ndim} input "
                               f"(shape {idx.shape}); supported: inputs of rank 1 or 2")
    rows = idx.reshape(-1, idx.shape[-1])
    valid = valid.reshape(rows.shape)
    weights = None
    if count_weights is not None:
        weights = np.asarray(count_weights)
        if weights.shape != idx.shape:
            raise InputError(f"{where}: count_weights has shape {weights.shape}, the input "
                             f"{idx.shape}")
        weights = weights.reshape(rows.shape)
        dtype = weights.dtype
    out = np.zeros((rows.shape[0], depth), dtype)
    r, c = np.nonzero(valid)
    if mode == "multi_hot":
        out[r, rows[r, c]] = 1
    else:
        np.add.at(out, (r, rows[r, c]), 1 if weights is None else weights[r, c])
    return out.reshape((depth,) if idx.ndim == 1 else (idx.shape[0], depth))


def _numbers(layer: Layer, key: str, value: Any) -> np.ndarray:
    """A config number or (nested) list of numbers (or a Keras 3 ``__numpy__`` object)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = (value.get("config") or {}).get("value")
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{layer.where}: {key}={str(value)[:100]} is not a number or a list "
                          f"of numbers") from None
    if arr.dtype == object or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{layer.where}: {key} must hold finite numbers")
    limits.check_elements(arr.shape, layer.where, key)
    return arr


# ----- Normalization ---------------------------------------------------------------------------
class Normalization(Layer):
    supports_masking = True          # Keras 3; tf-keras drops the mask (see __init__)

    def __init__(self, *a):
        super().__init__(*a)
        self.supports_masking = self.ctx.compat.rescale_identity_pass_masks
        axis = self.opt("axis", [-1])
        self.axis: Tuple[int, ...] = () if axis is None or axis == [] else \
            tuple(self.axes_opt("axis", [-1]))
        self.invert = self.bool_opt("invert", False)
        mean, var = self.opt("mean"), self.opt("variance")
        if (mean is None) != (var is None):
            raise ConfigError(f"{self.where}: mean and variance must both be given or both "
                              f"be null")
        self.given = mean is not None
        if self.given:
            self.mean = _numbers(self, "mean", mean)
            self.variance = _numbers(self, "variance", var)
            if self.mean.shape != self.variance.shape or self.mean.ndim > len(self.axis):
                raise ConfigError(f"{self.where}: mean {self.mean.shape} and variance "
                                  f"{self.variance.shape} must have one shape, of rank at "
                                  f"most len(axis)={len(self.axis)}")
            self.slots = []
        else:                  # adapted: the weights hold them (tf-keras mean:0, variance:0)
            shape = (None,) * len(self.axis)
            self.slots = [WeightSlot("mean", shape, False), WeightSlot("variance", shape, False),
                          WeightSlot("count", (), False)]

    def build_weights(self, arrays):
        self.mean = np.asarray(arrays[0])
        self.variance = np.asarray(arrays[1])

    def streaming_axes(self):
        return self.axis

    def stream_block(self):
        if all(a == -1 or a >= 2 for a in self.axis) or not self.axis:
            return None
        return "its mean and variance differ per timestep"

    def _broadcast(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        nd = x.ndim
        if any(not -nd <= a < nd for a in self.axis):
            raise InputError(f"{self.where}: axis={list(self.axis)} does not fit inputs of "
                             f"shape {x.shape}")
        keep = sorted(a % nd for a in self.axis)
        shape = [1] * nd
        if self.given:                            # Keras: expanded from the last kept axis
            if v.ndim == 0:
                return v.astype(self.dtype)
            for i in range(1, v.ndim + 1):
                shape[keep[-i]] = v.shape[-i]
        else:
            if v.shape != tuple(x.shape[d] for d in keep):
                raise InputError(f"{self.where}: mean of shape {v.shape} does not fit inputs "
                                 f"of shape {x.shape} along axis {list(self.axis)}")
            for i, d in enumerate(keep):
                shape[d] = v.shape[i]
        try:
            return np.broadcast_to(v.reshape(shape), x.shape).astype(self.dtype)
        except ValueError:
            raise InputError(f"{self.where}: mean of shape {v.shape} does not fit inputs of "
                             f"shape {x.shape}") from None

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(np.asarray(single(inputs, self.where)))
        if x.dtype.kind not in "fc":
            raise InputError(f"{self.where}: expects numbers, received dtype {x.dtype}")
        mean = self._broadcast(self.mean, x)
        std = np.maximum(np.sqrt(self._broadcast(self.variance, x)), x.dtype.type(1e-7))
        if self.invert:
            return mean + x * std
        return (x - mean) / std

    def describe(self):
        return f"axis={list(self.axis)}" + (", invert" if self.invert else "")


class Rescaling(Layer):
    supports_masking = True          # Keras 3; tf-keras drops the mask (see __init__)
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.supports_masking = self.ctx.compat.rescale_identity_pass_masks
        self.scale = _numbers(self, "scale", self.require("scale"))
        self.offset = _numbers(self, "offset", self.opt("offset", 0.0))

    def call(self, inputs, mask=None, training=None):
        x = self.cast_input(np.asarray(single(inputs, self.where)))
        if x.dtype.kind not in "fc":
            raise InputError(f"{self.where}: expects numbers, received dtype {x.dtype}")
        try:
            return x * self.scale.astype(x.dtype) + self.offset.astype(x.dtype)
        except ValueError:
            raise InputError(f"{self.where}: scale {self.scale.shape} and offset "
                             f"{self.offset.shape} do not fit inputs of shape {x.shape}") from None

    def describe(self):
        return f"scale={self.scale.tolist()}, offset={self.offset.tolist()}"


# ----- Discretization --------------------------------------------------------------------------
def _summary_boundaries(summary: np.ndarray, num_bins: int) -> np.ndarray:
    """tf-keras ``get_bin_boundaries(summary, num_bins)``: ``_compress_summary_numpy`` with
    epsilon 1/num_bins, all but the last value (``layers/preprocessing/discretization.py``)."""
    summary = np.asarray(summary, np.float32)
    epsilon = 1.0 / num_bins
    if summary.shape[1] * epsilon >= 1:
        percents = epsilon + np.arange(0.0, 1.0, epsilon)
        cum = summary[1].cumsum()
        summary = np.stack((np.interp(percents, cum / cum[-1], summary[0]),
                            np.zeros_like(percents))).astype(np.float32)
    return summary[0, :-1]


_MODES = ("int", "one_hot", "multi_hot", "count")


class Discretization(Layer):
    float_dtype = False          # tf-keras writes the output dtype ("int64") as its dtype
    streaming = None

    def __init__(self, *a):
        super().__init__(*a)
        self.mode = self.choice_opt("output_mode", "int", _MODES)
        if self.bool_opt("sparse", False):
            self.refuse("sparse", True, "False")
        bounds = self.opt("bin_boundaries")
        self.num_bins = self.int_opt("num_bins", None, minimum=0)
        self.boundaries: Optional[np.ndarray] = None
        self.slots = []
        if bounds is not None:
            b = _numbers(self, "bin_boundaries", bounds)
            if b.ndim != 1 or np.any(np.diff(b) < 0):
                raise ConfigError(f"{self.where}: bin_boundaries must be a sorted list of "
                                  f"numbers")
            self.boundaries = b.astype(np.float32)
        elif self.num_bins is None:
            raise ConfigError(f"{self.where}: config has neither bin_boundaries nor num_bins")
        else:                   # an adapted tf-keras layer: its quantile summary, (2, n)
            self.slots = [WeightSlot("summary", (2, None), False)]

    def build_weights(self, arrays):
        summary = np.asarray(arrays[0])
        if summary.shape[1] == 0:
            raise ConfigError(f"{self.where}: the layer was never adapted (empty summary)")
        self.boundaries = _summary_boundaries(summary, self.num_bins)

    def call(self, inputs, mask=None, training=None):
        if self.boundaries is None:
            raise ConfigError(f"{self.where}: no bin boundaries (neither in the config nor in "
                              f"the weights)")
        x = np.asarray(single(inputs, self.where))
        if x.dtype.kind not in "fiub":
            raise InputError(f"{self.where}: expects numbers, received dtype {x.dtype}")
        idx = np.searchsorted(self.boundaries, x.astype(np.float32), side="right")
        depth = len(self.boundaries) + 1
        if self.mode == "int":
            return idx.astype(self.ctx.compat.discretization_int_dtype)
        return encode_categorical(idx, self.mode, depth, np.float32, self.where)

    def stream_block(self):
        return None if self.mode in ("int",) else "its bags count over time"

    def describe(self):
        n = "?" if self.boundaries is None else len(self.boundaries) + 1
        return f"bins={n}, output_mode={self.mode}"


class CategoryEncoding(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.num_tokens = self.int_opt("num_tokens", None)
        if self.num_tokens is None:
            raise ConfigError(f"{self.where}: config has no num_tokens")
        self.mode = self.choice_opt("output_mode", "multi_hot", _MODES[1:] + ("binary",))
        if self.mode == "binary":
            self.mode = "multi_hot"
        if self.bool_opt("sparse", False):
            self.refuse("sparse", True, "False")

    def call(self, inputs, mask=None, training=None, count_weights=None):
        x = np.asarray(single(inputs, self.where))
        if x.dtype.kind == "f":
            x = x.astype(np.int64)
        elif x.dtype.kind not in "iub":
            raise InputError(f"{self.where}: expects integer ids, received dtype {x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.num_tokens):
            bad = x[(x < 0) | (x >= self.num_tokens)].flat[0]
            raise InputError(f"{self.where}: id {bad} is outside [0, {self.num_tokens}) "
                             f"(tf-keras refuses it, Keras 3 would count it nowhere)")
        if count_weights is not None and self.mode != "count":
            raise InputError(f"{self.where}: count_weights needs output_mode 'count'")
        return encode_categorical(x, self.mode, self.num_tokens, self.dtype, self.where,
                                  count_weights)

    def stream_block(self):
        return "its bags count over time" if self.mode != "one_hot" else None

    def describe(self):
        return f"num_tokens={self.num_tokens}, output_mode={self.mode}"


__all__: List[str] = ["CategoryEncoding", "Discretization", "Normalization", "Rescaling",
                      "encode_categorical"]
