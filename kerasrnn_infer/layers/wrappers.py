"""Layers that wrap other layers: TimeDistributed and user-supplied custom layers."""

from __future__ import annotations

from typing import List

import numpy as np

from ..errors import ConfigError, InputError, KerasRnnInferError
from .base import Layer, single


class TimeDistributed(Layer):
    supports_masking = True

    def __init__(self, class_name, name, config, ctx, make_layer):
        super().__init__(class_name, name, config, ctx)
        inner = self.require("layer")
        if not isinstance(inner, dict):
            raise ConfigError(f"{self.where}: 'layer' must be a serialized layer")
        with ctx.nested(self.where):
            self.inner = make_layer(inner, ctx)
        self.slots = self.inner.slots

    @property
    def weight_count(self):
        return self.inner.weight_count

    def keras3_paths(self) -> List[str]:
        return [("layer/" + p).rstrip("/") for p in self.inner.keras3_paths()]

    def legacy_order(self):
        return self.inner.legacy_order()

    def adapt_legacy(self, arrays, backend=None):
        return self.inner.adapt_legacy(arrays, backend)

    def set_weights(self, arrays):
        self.inner.set_weights(arrays)

    def get_weights(self):
        return self.inner.get_weights()

    def count_params(self):
        return self.inner.count_params()

    def call(self, inputs, mask=None, training=None):
        from ..graph import call_layer     # graph builds this layer
        x = single(inputs, self.where)
        if x.ndim < 3:
            raise InputError(f"{self.where}: expects input of rank >= 3 (batch, time, ...), "
                             f"received shape {x.shape}")
        b, t = x.shape[:2]
        y, _ = call_layer(self.inner, x.reshape((b * t,) + x.shape[2:]), None, {}, None)
        if isinstance(y, (list, tuple)):
            raise InputError(f"{self.where}: the wrapped {self.inner.class_name} gives "
                             f"{len(y)} outputs; TimeDistributed needs one")
        return y.reshape((b, t) + y.shape[1:])

    def describe(self):
        return f"layer={self.inner.class_name}"


class CustomLayer(Layer):
    """A layer class the file names and the user implements through ``custom_objects``.

    The factory receives ``(config, weights)`` and returns ``layer(inputs, mask=None)``.
    It takes whatever weights the file holds for the layer, in file order."""

    def __init__(self, class_name, name, config, ctx, factory):
        super().__init__(class_name, name, config, ctx)
        self.factory = factory
        self.fn = None
        self.slots = None     # unknown until the file says

    @property
    def weight_count(self):
        return None

    def legacy_order(self):
        return list(range(len(self._weights)))

    def set_weights(self, arrays):
        self._weights = [np.asarray(a) for a in arrays]
        try:
            self.fn = self.factory(dict(self.config), list(self._weights))
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise ConfigError(f"{self.where}: the custom_objects factory failed: "
                              f"{type(e).__name__}: {e}") from e
        if not callable(self.fn):
            raise ConfigError(f"{self.where}: the custom_objects factory returned "
                              f"{type(self.fn).__name__}, expected a callable layer")

    def call(self, inputs, mask=None, **kwargs):
        if self.fn is None:
            self.set_weights([])
        try:
            return self.fn(inputs, mask=mask, **kwargs) if kwargs else self.fn(inputs, mask=mask)
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise InputError(f"{self.where}: the custom layer raised {type(e).__name__}: {e}") from e

    def compute_mask(self, inputs, mask):
        fn = getattr(self.fn, "compute_mask", None)
        return fn(inputs, mask) if fn is not None else None
