"""Model graphs: the layer registry, InputLayer, Sequential and Functional containers.

A functional config lists layers with their inbound nodes (one per call). Loading turns them
into a static plan: calls in dependency order, each reading tensors by key
``(layer name, call index, output index)``. Running the plan keeps values and masks in a local
dict, so one graph serves any number of concurrent calls.

Node indices: a nested Functional model (and a tf-keras Sequential built with an input) owns
a pre-existing node 0, so configs number its first call 1 (KERAS_FACTS A4). We read the offset
from the references themselves (the smallest index used), which holds for every writer.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import limits
from ._legacy import normalize_layer_config
from .errors import (ConfigError, InputError, KerasRnnInferError, UnsafeModelError,
                     UnsupportedError, WeightsError)
from .layers.base import (BuildContext, Layer, WeightSlot, as_list, numeric_dtype, single,
                          to_snake_case)
from .layers.core import LAYERS
from .layers.ops import OPS, Op, is_op
from .layers.recurrent import RNN
from .layers.wrappers import CustomLayer, TimeDistributed
from .layers.bidirectional import Bidirectional

RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU", "RNN")
CONTAINERS = ("Sequential", "Functional", "Model")
_UNSAFE = ("Lambda", "TFOpLambda", "SlicingOpLambda")


def supported_layers() -> List[str]:
    return sorted(set(LAYERS) | set(RNN_CLASSES) | set(CONTAINERS) |
                  {"InputLayer", "TimeDistributed", "Bidirectional"})


def make_layer(entry: Any, ctx: BuildContext) -> Layer:
    """Build one layer (or nested model) from its serialized config."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ConfigError(f"{ctx.source}: expected a layer config with a 'class_name', "
                          f"received {str(entry)[:200]}")
    ctx.count_layer()
    cls = entry["class_name"]
    cfg = entry.get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, (dict, list)):
        raise ConfigError(f"{ctx.source}: layer config of class {cls!r} must be an object, "
                          f"received {str(cfg)[:200]}")
    if isinstance(cfg, list):          # Keras 1 / early Keras 2 Sequential: a bare list
        cfg = {"layers": cfg}
    name = entry.get("name") or cfg.get("name") or to_snake_case(cls)
    if not isinstance(name, str):
        raise ConfigError(f"{ctx.source}: layer name {name!r} of class {cls!r} is not a string")
    registered = entry.get("registered_name")
    for key in (cls, registered):
        if key and key in ctx.custom_objects:
            return CustomLayer(cls, name, cfg, ctx, ctx.custom_objects[key])
    if cls in _UNSAFE:
        raise UnsafeModelError(
            f"{ctx.source}: layer {name!r} is a {cls}, which holds Python code from the file; "
            f"kerasrnn_infer never runs code from model files. Supply a NumPy implementation "
            f"with custom_objects={{{cls!r}: factory}}, where factory(config, weights) returns "
            f"a callable layer(inputs, mask=None)")
    if is_op(cls, entry):
        if cls in OPS:
            return Op(cls, name, cfg, ctx)
        raise UnsupportedError(f"{ctx.source}: operation node {name!r} ({cls}) is not "
                               f"supported; supported ops: {', '.join(sorted(OPS))}")
    cfg = normalize_layer_config(cls, cfg, ctx)
    cls = cfg.pop("__class_name__", cls)
    if cls in ("Sequential",):
        return Sequential(cls, name, cfg, ctx)
    if cls in ("Functional", "Model"):
        return Functional(cls, name, cfg, ctx)
    if cls == "InputLayer":
        return InputLayer(cls, name, cfg, ctx)
    if cls in RNN_CLASSES:
        return RNN(cls, name, cfg, ctx)
    if cls == "TimeDistributed":
        return TimeDistributed(cls, name, cfg, ctx, make_layer)
    if cls == "Bidirectional":
        return Bidirectional(cls, name, cfg, ctx, make_layer)
    if cls in LAYERS:
        return LAYERS[cls](cls, name, cfg, ctx)
    raise UnsupportedError(
        f"{ctx.source}: layer {name!r} has class {cls!r}, which is not supported; supported: "
        f"{', '.join(supported_layers())}. A custom layer can be supplied with "
        f"custom_objects={{{cls!r}: factory}}, factory(config, weights) -> layer(inputs, mask=None)")


class InputLayer(Layer):
    float_dtype = False

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
        self.input_dtype = parse_input_dtype(dt, self.where)

    def call(self, inputs, mask=None, **kwargs):
        return inputs


def parse_input_dtype(dt, where) -> np.dtype:
    return numeric_dtype(dt, f"{where}: input")


class TensorSpec(NamedTuple):
    name: str
    shape: Tuple[Optional[int], ...]
    dtype: np.dtype


# ----- containers --------------------------------------------------------------------------------
class Container(Layer):
    """Shared weight handling of Sequential and Functional: weights are the sublayers'."""

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        self.layers: List[Layer] = []
        self.entries = config.get("layers")
        if not isinstance(self.entries, list):
            raise ConfigError(f"{self.where}: {class_name} config has no 'layers' list")
        ctx.count_layer(len(self.entries), self.where)     # before building any of them
        ctx.layers -= len(self.entries)                    # make_layer counts each again

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

    @property
    def weight_count(self):
        s = self.slots
        return None if s is None else len(s)

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

    def keras3_children(self) -> List[Tuple[Layer, str]]:
        """(layer, its group name) in a Keras 3 weights file: class names with counters."""
        seen: Dict[str, int] = {}
        out = []
        for l in self.layers:
            base = to_snake_case(l.class_name)
            n = seen.get(base, -1) + 1
            seen[base] = n
            out.append((l, base if n == 0 else f"{base}_{n}"))
        return out

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
            built = [make_layer(e, ctx) for e in entries]
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

    def run(self, feeds, collect=None, ctx=None):
        (x, m), = feeds
        for l in self.layers:
            x, m = call_layer(l, x, m, {}, ctx)
            if collect is not None and l.name not in collect:
                collect[l.name] = x
        return [(x, m)]

    def call_with_mask(self, inputs, mask, ctx=None, **kwargs):
        (y, m), = self.run([(single(inputs, self.where), mask)], None, ctx)
        return y, m


def _first_input_dtype(entry):
    cls = entry.get("class_name")
    cfg = entry.get("config") or {}
    if cls == "Embedding":
        return "int32" if "dtype" not in cfg else cfg.get("dtype")
    return cfg.get("dtype")


class Ref(NamedTuple):
    layer: str
    node: int
    tensor: int


class Node(NamedTuple):
    layer: Layer
    inputs: Any          # structure of Ref / constants: the first call argument (ops: all args)
    kwargs: Dict[str, Any]
    index: int           # call index of this node within its layer
    auto_mask: bool      # pass the inputs' masks when the call names none (see _auto_mask)


_CONST = "_CONSTANT_VALUE"


def _map(fn, obj):
    if isinstance(obj, Ref):
        return fn(obj)
    if isinstance(obj, list):
        return [_map(fn, o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_map(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: _map(fn, v) for k, v in obj.items()}
    return fn(obj)


def _leaves(obj):
    if isinstance(obj, Ref):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _leaves(o)
    else:
        yield obj


class Functional(Container):
    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        entries = self.entries
        self.by_name: Dict[str, Layer] = {}
        raw: List[Tuple[Layer, list]] = []
        with ctx.nested(self.where):
            for e in entries:
                layer = make_layer(e, ctx)
                if layer.name in self.by_name:
                    raise ConfigError(f"{self.where}: two layers are named {layer.name!r}")
                self.by_name[layer.name] = layer
                nodes = e.get("inbound_nodes") or []
                if not isinstance(nodes, list):
                    raise ConfigError(f"{self.where}: inbound_nodes of {layer.name!r} is not a "
                                      f"list")
                ctx.count_nodes(len(nodes), self.where)
                raw.append((layer, nodes))
        self.layers = [l for l, _ in raw if not getattr(l, "is_op", False)]
        parsed = [(layer, [self._parse_node(layer, n) for n in nodes]) for layer, nodes in raw]
        in_refs = self._parse_io(config.get("input_layers"), "input_layers")
        out_refs = self._parse_io(config.get("output_layers"), "output_layers")
        self._keras3_nodes = any(isinstance(n, dict) for _, nodes in raw for n in nodes)
        self._fix_offsets(parsed, out_refs + in_refs)
        self.input_keys = [self._key(r) for r in in_refs]
        self.output_keys = [self._key(r) for r in out_refs]
        for k in self.input_keys:
            if not isinstance(self.by_name[k[0]], InputLayer):
                raise ConfigError(f"{self.where}: model input {k[0]!r} is not an InputLayer")
        self.plan = self._plan(parsed)

    # ----- parsing ----------------------------------------------------------------------------
    def _parse_io(self, spec, what) -> List[Ref]:
        if spec is None:
            raise ConfigError(f"{self.where}: functional config has no {what!r}")
        if isinstance(spec, dict):
            spec = list(spec.values())
        if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
            spec = [spec]
        refs = []
        for item in _leaves_refs(spec):
            refs.append(self._ref(item, what))
        if not refs:
            raise ConfigError(f"{self.where}: {what} is empty")
        return refs

    def _ref(self, item, what) -> Ref:
        if not (isinstance(item, (list, tuple)) and len(item) >= 3 and isinstance(item[0], str)
                and isinstance(item[1], int) and isinstance(item[2], int)):
            raise ConfigError(f"{self.where}: {what}: {item!r:.200} is not a tensor reference")
        if item[0] not in self.by_name:
            raise ConfigError(f"{self.where}: {what} refers to unknown layer {item[0]!r}")
        return Ref(item[0], item[1], item[2])

    def _tensor_leaf(self, obj):
        """A Ref for a serialized tensor (Keras 3 ``__keras_tensor__``), else the constant."""
        if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
            hist = (obj.get("config") or {}).get("keras_history")
            return self._ref(hist, "keras_history")
        return obj

    def _deserialize_k3(self, obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "__keras_tensor__":
                return self._tensor_leaf(obj)
            if obj.get("class_name") in ("__lambda__",):
                raise UnsafeModelError(f"{self.where}: a call argument holds a Python lambda; "
                                       f"kerasrnn_infer never runs code from model files")
            if obj.get("class_name") == "__numpy__":
                cfg = obj.get("config") if isinstance(obj.get("config"), dict) else {}
                dtype = numeric_dtype(cfg.get("dtype"), f"{self.where}: a constant call argument")
                try:
                    return np.asarray(cfg.get("value"), dtype)
                except (TypeError, ValueError, OverflowError) as e:
                    raise ConfigError(f"{self.where}: a constant call argument "
                                      f"{str(cfg.get('value'))[:100]} is not an array of "
                                      f"{dtype}: {e}") from None
            return {k: self._deserialize_k3(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._deserialize_k3(o) for o in obj]
        return obj

    def _k2_kwargs(self, obj):
        """tf-keras writes tensors in call kwargs as [layer, node, tensor] lists."""
        if isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str) and \
                obj[0] in self.by_name and isinstance(obj[1], int) and isinstance(obj[2], int):
            return Ref(*obj)
        if isinstance(obj, list):
            return [self._k2_kwargs(o) for o in obj]
        if isinstance(obj, dict):
            return {k: self._k2_kwargs(v) for k, v in obj.items()}
        return obj

    def _parse_node(self, layer, data) -> Tuple[Any, dict]:
        where = f"{self.where}: inbound node of {layer.name!r}"
        if isinstance(data, dict):                       # Keras 3: {"args": [...], "kwargs": {}}
            args = self._deserialize_k3(data.get("args", []))
            kwargs = self._deserialize_k3(data.get("kwargs", {}) or {})
            if isinstance(kwargs, dict):
                kwargs = {k: v for k, v in kwargs.items() if v is not None}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ConfigError(f"{where}: malformed args/kwargs")
            if getattr(layer, "is_op", False):
                return args, kwargs
            if not args:
                raise ConfigError(f"{where}: has no arguments")
            if len(args) > 1:
                raise UnsupportedError(f"{where}: {len(args)} positional call arguments; "
                                       f"supported: one (inputs) plus keyword arguments")
            return args[0], kwargs
        if not isinstance(data, list) or not data:
            raise ConfigError(f"{where}: malformed node {str(data)[:200]}")
        items, kwargs = [], {}
        for entry in data:                                # Keras 1/2: [[name, node, tensor, kw]]
            if not isinstance(entry, list) or len(entry) < 3:
                raise ConfigError(f"{where}: malformed tensor reference {str(entry)[:200]}")
            if entry[0] == _CONST:
                items.append(np.asarray(entry[2]))
            else:
                items.append(self._ref(entry, "inbound node"))
            if len(entry) > 3 and entry[3] and not kwargs:
                if not isinstance(entry[3], dict):
                    raise ConfigError(f"{where}: call kwargs {entry[3]!r:.200} are not an object")
                kwargs = {k: v for k, v in self._k2_kwargs(entry[3]).items() if v is not None}
        inputs = items[0] if len(items) == 1 else items
        if getattr(layer, "is_op", False):
            inputs = as_list(inputs)
        return inputs, kwargs

    def _fix_offsets(self, parsed, extra_refs):
        """Map config node indices to call positions (see module docstring)."""
        used: Dict[str, set] = {}
        for _, nodes in parsed:
            for inputs, kwargs in nodes:
                for leaf in _leaves([inputs, kwargs]):
                    if isinstance(leaf, Ref):
                        used.setdefault(leaf.layer, set()).add(leaf.node)
        for r in extra_refs:
            used.setdefault(r.layer, set()).add(r.node)
        self._offset = {}
        for layer, nodes in parsed:
            idx = used.get(layer.name, set())
            off = 0
            if isinstance(layer, Container) and idx and min(idx) > 0 and \
                    max(idx) >= len(nodes):
                off = min(idx)
            self._offset[layer.name] = off
            n = max(len(nodes), 1)
            for i in idx:
                if not 0 <= i - off < n:
                    raise ConfigError(f"{self.where}: a tensor refers to call {i} of layer "
                                      f"{layer.name!r}, which has {len(nodes)} calls")
        self._parsed = parsed

    def _key(self, r: Ref) -> Ref:
        """The reference with its config node index turned into the call position."""
        return Ref(r.layer, r.node - self._offset.get(r.layer, 0), r.tensor)

    def _plan(self, parsed) -> List[Node]:
        """The nodes in an order where each comes after the calls it reads (Kahn's
        topological sort, linear in nodes and references; config order among equals)."""
        nodes: List[Node] = []
        for layer, calls in parsed:
            for i, (inputs, kwargs) in enumerate(calls):
                fix = (lambda o: self._key(o) if isinstance(o, Ref) else o)
                nodes.append(Node(layer, _map(fix, inputs), _map(fix, kwargs), i,
                                  _auto_mask(inputs, kwargs, self._keras3_nodes)))
        ready = {k[:2] for k in self.input_keys}
        waiting: Dict[Tuple[str, int], List[int]] = {}
        missing = [0] * len(nodes)
        queue: List[int] = []
        for n, node in enumerate(nodes):
            needs = {(l.layer, l.node) for l in _leaves([node.inputs, node.kwargs])
                     if isinstance(l, Ref)} - ready
            missing[n] = len(needs)
            for key in needs:
                waiting.setdefault(key, []).append(n)
            if not needs:
                queue.append(n)
        plan: List[Node] = []
        queue.reverse()
        while queue:
            node = nodes[queue.pop()]
            plan.append(node)
            key = (node.layer.name, node.index)
            ready.add(key)
            woken = []
            for m in waiting.pop(key, ()):
                missing[m] -= 1
                if not missing[m]:
                    woken.append(m)
            queue.extend(sorted(woken, reverse=True))
        if len(plan) != len(nodes):
            names = sorted({nodes[n].layer.name for n in range(len(nodes)) if missing[n]})
            raise ConfigError(f"{self.where}: the graph has a cycle or refers to missing "
                              f"tensors at layers {names[:10]}")
        for k in self.output_keys:
            if k[:2] not in ready:
                raise ConfigError(f"{self.where}: output {k[0]!r} is never computed")
        return plan

    def output_names(self) -> List[str]:
        calls: Dict[Tuple[str, int], set] = {}
        for r in self.output_keys:
            calls.setdefault((r.layer, r.node), set()).add(r.tensor)
        names = []
        for r in self.output_keys:
            name = r.layer if r.node == 0 else f"{r.layer}@{r.node}"
            if r.tensor or len(calls[(r.layer, r.node)]) > 1:
                name += f"/{r.tensor}"
            names.append(name)
        seen: Dict[str, int] = {}
        for i, n in enumerate(names):          # the same tensor output twice
            if n in seen:
                seen[n] += 1
                names[i] = f"{n}#{seen[n]}"
            else:
                seen[n] = 0
        return names

    def consumers(self, index: int) -> List[Layer]:
        key = self.input_keys[index]
        found: List[Layer] = []
        for node in self.plan:
            refs = node.inputs if isinstance(node.inputs, list) else [node.inputs]
            for pos, r in enumerate(refs):
                if isinstance(r, Ref) and r[:2] == key[:2]:
                    for layer in _expand_consumers(node.layer, pos):
                        if layer not in found:
                            found.append(layer)
        return found

    # ----- running ---------------------------------------------------------------------------
    @property
    def input_specs(self):
        out = []
        for name, _, _ in self.input_keys:
            il = self.by_name[name]
            out.append(TensorSpec(il.name, il.shape, il.input_dtype))
        return out

    def run(self, feeds, collect=None, ctx=None):
        env: Dict[Ref, Tuple[Any, Any]] = {}
        for key, feed in zip(self.input_keys, feeds):
            env[key] = feed
            if collect is not None and key[0] not in collect:
                collect[key[0]] = feed[0]

        def get(r):
            try:
                return env[r]
            except KeyError:
                raise ConfigError(self._bad_ref(r, env)) from None

        for node in self.plan:
            vals = _map(lambda r: get(r)[0] if isinstance(r, Ref) else r, node.inputs)
            masks = _map(lambda r: get(r)[1] if isinstance(r, Ref) else None, node.inputs)
            kwargs = _map(lambda r: get(r)[0] if isinstance(r, Ref) else r, node.kwargs)
            kwargs.pop("training", None)
            if "mask" in kwargs:
                mask = kwargs.pop("mask")
            elif node.auto_mask:
                mask = masks if any(m is not None for m in _leaves(masks)) else None
            else:
                mask = None
            out, out_mask = call_layer(node.layer, vals, mask, kwargs, ctx)
            outs = as_list(out)
            oms = as_list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
            name = node.layer.name
            for j, o in enumerate(outs):
                env[Ref(name, node.index, j)] = (o, oms[j] if j < len(oms) else None)
            if collect is not None and name not in collect and not getattr(node.layer, "is_op", 0):
                collect[name] = out
        return [get(k) for k in self.output_keys]

    def _bad_ref(self, r: Ref, env) -> str:
        have = sum(1 for k in env if k[:2] == r[:2])
        return (f"{self.where}: a tensor refers to output {r.tensor} of call {r.node} of layer "
                f"{r.layer!r}, which has {have} output{'s' if have != 1 else ''}")

    def call_with_mask(self, inputs, mask, ctx=None, **kwargs):
        xs = as_list(inputs)
        ms = as_list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(xs)
        if len(xs) != len(self.input_keys):
            raise ConfigError(f"{self.where}: expects {len(self.input_keys)} inputs, "
                              f"received {len(xs)}")
        res = self.run(list(zip(xs, ms)), None, ctx)
        if len(res) == 1:
            return res[0]
        return [r[0] for r in res], [r[1] for r in res]


def _auto_mask(inputs, kwargs, keras3: bool) -> bool:
    """Whether a call receives its inputs' masks without naming one.

    tf-keras and Keras 2 always pass them. Keras 3 passes them only to a call with exactly one
    tensor argument (``Layer.__call__`` step "Populate mask argument(s)"), so an RNN called with
    ``initial_state`` gets no mask; Keras 3 configs also record the masks it passed."""
    if not keras3:
        return True
    tensor_args = [v for v in [inputs, *kwargs.values()]
                   if any(isinstance(l, Ref) for l in _leaves(v))]
    return len(tensor_args) == 1


def _leaves_refs(spec):
    if isinstance(spec, list) and len(spec) >= 3 and isinstance(spec[0], str) and \
            isinstance(spec[1], int):
        yield spec
    elif isinstance(spec, (list, tuple)):
        for s in spec:
            yield from _leaves_refs(s)


def call_layer(layer: Layer, inputs, mask, kwargs, ctx):
    """Run one layer call; returns (outputs, output masks). NumPy's own errors (shapes that
    do not fit) become InputError naming the layer."""
    try:
        return _call_layer(layer, inputs, mask, kwargs, ctx)
    except KerasRnnInferError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError) as e:
        shapes = [np.shape(a) for a in as_list(inputs)]
        raise InputError(f"{layer.where}: cannot run on inputs of shapes {shapes}: "
                         f"{type(e).__name__}: {e}") from e


def _call_layer(layer: Layer, inputs, mask, kwargs, ctx):
    if isinstance(layer, Container):
        if kwargs:
            raise UnsupportedError(f"{layer.where}: call arguments {sorted(kwargs)} to a nested "
                                   f"model are not supported")
        return layer.call_with_mask(inputs, mask, ctx=ctx)
    if isinstance(layer, RNN) or isinstance(layer, Bidirectional):
        out = layer.call(inputs, mask=mask, state_ctx=ctx, **kwargs)
    else:
        out = layer.call(inputs, mask=mask, **kwargs)
    return out, layer.compute_mask(inputs, mask)
