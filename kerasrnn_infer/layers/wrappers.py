"""TimeDistributed: one layer (or a whole nested model) applied to every timestep."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError
from ..executor import call_layer
from .base import Layer, WeightNode, single


class TimeDistributed(Layer):
    supports_masking = True
    streaming = None

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        inner = self.require("layer")
        if not isinstance(inner, dict):
            raise ConfigError(f"{self.where}: 'layer' must be a serialized layer")
        with ctx.nested(self.where):
            self.inner = ctx.build_layer(inner)
        self.slots = self.inner.slots

    @property
    def weight_count(self):
        return self.inner.weight_count

    def weight_node(self) -> WeightNode:
        return WeightNode(self.class_name, [], [("layer", self.inner.weight_node())],
                          self.trainable, self)

    def set_weights(self, arrays):
        self.inner.set_weights(arrays)

    def get_weights(self):
        return self.inner.get_weights()

    def count_params(self):
        return self.inner.count_params()

    def run(self, inputs, mask, kwargs, ctx):
        """``(outputs, mask)``: the wrapped layer on (batch * time, ...) samples. A mask with
        axes beyond (batch, time) (one a previous TimeDistributed made) reaches the wrapped
        layer as (batch * time, ...), as in Keras; a (batch, time) mask does not (Keras would
        hand it over as (batch * time,), which no layer it wraps can use). The output mask
        follows the writing Keras (``compat.time_distributed_mask``)."""
        x = single(inputs, self.where)
        if x.ndim < 3:
            raise InputError(f"{self.where}: expects input of rank >= 3 (batch, time, ...), "
                             f"received shape {x.shape}")
        b, t = x.shape[:2]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        mask = None if mask is None else np.asarray(mask, bool)
        if mask is not None and mask.shape[:2] != (b, t):
            raise InputError(f"{self.where}: mask shape {mask.shape} does not match input "
                             f"shape {x.shape}")
        inner_mask = mask.reshape((b * t,) + mask.shape[2:]) if mask is not None and \
            mask.ndim > 2 else None
        y, m = call_layer(self.inner, x.reshape((b * t,) + x.shape[2:]), inner_mask, {}, None)
        if isinstance(y, (list, tuple)):
            raise InputError(f"{self.where}: the wrapped {self.inner.class_name} gives "
                             f"{len(y)} outputs; TimeDistributed needs one")
        y = y.reshape((b, t) + y.shape[1:])
        if self.ctx.compat.time_distributed_mask == "input":
            return y, mask
        if isinstance(m, (list, tuple)):
            m = m[0]
        if m is not None:
            return y, np.asarray(m, bool).reshape((b, t) + np.shape(m)[1:])
        if mask is not None and mask.ndim > 2:
            return y, mask.any(axis=tuple(range(2, mask.ndim)))
        return y, mask

    def call(self, inputs, mask=None, training=None):
        return self.run(inputs, mask, {}, None)[0]

    def stream_block(self):
        return None

    def describe(self):
        return f"layer={self.inner.class_name}"
