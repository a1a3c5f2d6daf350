"""TimeDistributed: one layer (or a whole nested model) applied to every timestep."""

from __future__ import annotations

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

    def call(self, inputs, mask=None, training=None):
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

    def stream_block(self):
        return None

    def describe(self):
        return f"layer={self.inner.class_name}"
