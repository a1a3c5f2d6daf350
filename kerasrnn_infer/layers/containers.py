"""Models as layers: Sequential and Functional. Their weights are their layers'; a Functional
model's calls are planned by ``graph.Graph`` and run by ``executor.run_plan``."""

from __future__ import annotations

import functools
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from ..errors import ConfigError, UnsupportedError, WeightsError
from ..executor import chain_plan, direct_plan, run_plan, run_sequential
from ..graph import Graph, Ref
from .base import Layer, WeightNode, WeightSlot, as_list, single
from .core import Embedding, InputLayer, kernel_ids


class TensorSpec(NamedTuple):
    name: str
    shape: Optional[Tuple[Optional[int], ...]]
    dtype: Optional[np.dtype]


class Container(Layer):
    """Shared weight handling of Sequential and Functional: weights are the sublayers'."""

    is_model = True
    streaming = None           # decided by its layers (streaming.check_streamable walks them)

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        self.layers: List[Layer] = []
        self.entries = config.get("layers")
        if not isinstance(self.entries, list):
            raise ConfigError(f"{self.where}: {class_name} config has no 'layers' list")
        ctx.count_layer(len(self.entries), self.where)     # before building any of them
        ctx.layers -= len(self.entries)                    # build_layer counts each again

    #: The model's direct path for a plain predict (executor.direct_plan), or None.
    direct_path = None
    #: How ``predict`` nests the outputs (Functional: graph ``pack_outputs``); None: flat.
    output_structure = None

    def weighted_layers(self) -> List[Layer]:
        return [l for l in self.layers if not isinstance(l, InputLayer)]

    @property
    def slots(self):
        """The sublayers' weight slots in order (None when a custom layer's are unknown);
        computed once: a container's layers never change after it is built."""
        cached = self.__dict__.get("_slots_cache", False)
        if cached is not False:
            return cached
        if not self.layers:
            return []                # not built yet
        out: Optional[List[WeightSlot]] = []
        for l in self.weighted_layers():
            ls = l.slots
            if ls is None:
                out = None
                break
            out += [WeightSlot(s.name, s.shape, s.trainable and l.trainable) for s in ls]
        self.__dict__["_slots_cache"] = out
        return out

    @slots.setter
    def slots(self, value):
        pass

    def weight_node(self) -> WeightNode:
        """Keras 3 lists a model's layers under ``layers`` (a Functional's InputLayers too)."""
        return WeightNode(self.class_name, [], [("layers", [l.weight_node() for l in self.layers])],
                          self.trainable, self)

    def set_weights(self, arrays):
        n = self.weight_count
        if n is None:
            raise WeightsError(f"{self.where}: holds a custom layer, whose weights are given to "
                               f"it from the file; it cannot take a flat weight list")
        if len(arrays) != n:
            raise WeightsError(f"{self.where}: expects {n} weight arrays, received {len(arrays)}")
        k = 0
        for l in self.weighted_layers():
            c = l.weight_count
            l.set_weights(arrays[k:k + c])
            k += c

    def get_weights(self):
        return [w for l in self.weighted_layers() for w in l.get_weights()]

    def count_params(self):
        return sum(l.count_params() for l in self.weighted_layers())

    def run(self, inputs, mask, kwargs, ctx):
        if kwargs:
            raise UnsupportedError(f"{self.where}: call arguments {sorted(kwargs)} to a nested "
                                   f"model are not supported")
        return self.call_with_mask(inputs, mask, ctx)

    def call(self, inputs, mask=None, **kwargs):
        return self.run(inputs, mask, kwargs, None)[0]

    @property
    def input_specs(self) -> List[TensorSpec]:
        raise NotImplementedError

    def output_names(self) -> List[str]:
        raise NotImplementedError

    def consumers(self, index: int) -> List[Layer]:
        raise NotImplementedError


def _expand_consumers(layer: Layer, position: int) -> List[Layer]:
    """``layer`` itself, or for a nested model the layers its input ``position`` feeds."""
    if isinstance(layer, Container):
        try:
            return layer.consumers(position)
        except IndexError:
            return []
    return [layer]


class Sequential(Container):
    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        entries = self.entries
        with ctx.nested(self.where):
            built = [ctx.build_layer(e) for e in entries]
        self.input_layer = None
        if built and isinstance(built[0], InputLayer):
            self.input_layer = built.pop(0)
        elif built:
            first = entries[0].get("config") or {}
            shape = first.get("batch_input_shape", first.get("batch_shape"))
            if shape is None and config.get("build_input_shape") is not None:
                shape = config["build_input_shape"]
            if shape is not None:
                cfg = {"batch_input_shape": shape, "name": f"{built[0].name}_input",
                       "dtype": first.get("input_dtype", _first_input_dtype(entries[0]))}
                self.input_layer = InputLayer("InputLayer", cfg["name"], cfg, ctx)
        if not built:
            raise ConfigError(f"{self.where}: Sequential model has no layers")
        self.layers = built
        # an Embedding layer whose output only the next layer reads, a recurrent layer that
        # can look the rows up itself where its kernel can (run_sequential; the kernel
        # compiles that lookup at load, recurrent.RNN.build_weights)
        for k, (emb, nxt) in enumerate(zip(built, built[1:])):
            if type(emb) is Embedding and hasattr(nxt, "run_embedded"):
                emb.fused_next, nxt.embedding = nxt, emb
                # the ids it will see: the model's input, cast to its dtype (Model._feeds)
                nxt.embedding_ids = kernel_ids(self.input_specs[0].dtype if k == 0 else None)

    @property
    def input_specs(self):
        il = self.input_layer
        if il is None:
            return [TensorSpec(f"{self.layers[0].name}_input", None, np.dtype(np.float32))]
        return [TensorSpec(il.name, il.shape, il.input_dtype)]

    def output_names(self) -> List[str]:
        return [self.layers[-1].name]

    def consumers(self, index: int) -> List[Layer]:
        if index != 0:
            raise IndexError(index)
        return _expand_consumers(self.layers[0], 0)

    def run_model(self, feeds, collect=None, ctx=None):
        (feed,) = feeds
        return [run_sequential(self.layers, feed, collect, ctx)]

    @functools.cached_property
    def direct_path(self):
        """The layers' direct path (executor.direct_plan), or None: made on first use, from
        the layers' configs alone (each step reads the layer's weights when it runs)."""
        return direct_plan(self.layers)

    def call_with_mask(self, inputs, mask, ctx=None):
        return run_sequential(self.layers, (single(inputs, self.where), mask), None, ctx)


def _first_input_dtype(entry):
    cls = entry.get("class_name")
    cfg = entry.get("config") or {}
    if cls == "Embedding":
        return "int32" if "dtype" not in cfg else cfg.get("dtype")
    return cfg.get("dtype")


class Functional(Container):
    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        raw: List[Tuple[Layer, list]] = []
        with ctx.nested(self.where):
            for e in self.entries:
                layer = ctx.build_layer(e)
                nodes = e.get("inbound_nodes") or []
                if not isinstance(nodes, list):
                    raise ConfigError(f"{self.where}: inbound_nodes of {layer.name!r} is not a "
                                      f"list")
                ctx.count_nodes(len(nodes), self.where)
                raw.append((layer, nodes))
        self.layers = [l for l, _ in raw if not l.is_op]
        self.graph = Graph(self.where, raw, config, ctx.compat.explicit_masks)
        self.by_name = self.graph.by_name
        for k in self.graph.input_keys:
            if not isinstance(self.by_name[k[0]], InputLayer):
                raise ConfigError(f"{self.where}: model input {k[0]!r} is not an InputLayer")

    @property
    def input_keys(self):
        return self.graph.input_keys

    @property
    def output_keys(self):
        return self.graph.output_keys

    @property
    def output_structure(self):
        """How ``predict`` nests the outputs (graph ``pack_outputs``), or None: flat."""
        return self.graph.output_structure

    @property
    def plan(self):
        return self.graph.plan

    @property
    def input_specs(self):
        out = []
        for name, _, _ in self.graph.input_keys:
            il = self.by_name[name]
            out.append(TensorSpec(il.name, il.shape, il.input_dtype))
        return out

    def output_names(self) -> List[str]:
        return self.graph.output_names()

    def consumers(self, index: int) -> List[Layer]:
        key = self.graph.input_keys[index]
        found: List[Layer] = []
        for node in self.graph.plan:
            refs = node.inputs if isinstance(node.inputs, list) else [node.inputs]
            for pos, r in enumerate(refs):
                if isinstance(r, Ref) and r[:2] == key[:2]:
                    for layer in _expand_consumers(node.layer, pos):
                        if layer not in found:
                            found.append(layer)
        return found

    def run_model(self, feeds, collect=None, ctx=None):
        return run_plan(self.graph, feeds, collect, ctx)

    @functools.cached_property
    def direct_path(self):
        """A chain of layers' direct path (executor.chain_plan), or None; as Sequential's."""
        return chain_plan(self.graph)

    def call_with_mask(self, inputs, mask, ctx=None):
        xs = as_list(inputs)
        ms = as_list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(xs)
        if len(xs) != len(self.graph.input_keys):
            raise ConfigError(f"{self.where}: expects {len(self.graph.input_keys)} inputs, "
                              f"received {len(xs)}")
        res = self.run_model(list(zip(xs, ms)), None, ctx)
        if len(res) == 1:
            return res[0]
        return [r[0] for r in res], [r[1] for r in res]


