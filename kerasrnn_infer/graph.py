"""Functional configs to plans: which layer call reads which tensors, in an order that runs.

A functional config lists layers with their inbound nodes (one per call). ``Graph`` turns them
into a static plan: calls in dependency order (a linear-time topological sort), each reading
tensors by key ``(layer name, call index, output index)``; ``executor.run_plan`` runs it. The
plan holds no values, so one graph serves any number of concurrent calls.

Node indices: a nested Functional model (and a tf-keras Sequential built with an input) owns
a pre-existing node 0, so configs number its first call 1 (KERAS_FACTS A4). The offset is read
from the references themselves (the smallest index used), which holds for every writer.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Tuple

import numpy as np

from ._util import as_list
from .dtypes import numeric_dtype
from .errors import ConfigError, UnsafeModelError, UnsupportedError

Layer = Any          # a layers.base.Layer (not imported: the layers use this module)


class Ref(NamedTuple):
    layer: str
    node: int
    tensor: int


class Node(NamedTuple):
    layer: Layer
    inputs: Any          # structure of Ref / constants: the first call argument (ops: all args)
    kwargs: Dict[str, Any]
    call: int            # call index of this node within its layer
    auto_mask: bool      # pass the inputs' masks when the call names none (see _auto_mask)


_CONST = "_CONSTANT_VALUE"


def map_refs(fn, obj):
    """``obj`` with every leaf replaced by ``fn(leaf)`` (lists, tuples and dicts kept)."""
    if isinstance(obj, Ref):
        return fn(obj)
    if isinstance(obj, list):
        return [map_refs(fn, o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(map_refs(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: map_refs(fn, v) for k, v in obj.items()}
    return fn(obj)


def leaves(obj):
    if isinstance(obj, Ref):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from leaves(o)
    else:
        yield obj


def _is_ref(spec) -> bool:
    return isinstance(spec, list) and len(spec) >= 3 and isinstance(spec[0], str) and \
        isinstance(spec[1], int)


def _io_template(spec, leaves: List[Any], depth: int):
    """``spec`` (a tensor reference, or lists and dicts of them) with each reference replaced
    by its index in ``leaves``, where it is appended: dict entries in sorted key order (as
    Keras flattens them), the template's dicts in the config's order."""
    if depth > 32:
        raise ConfigError("model inputs or outputs nest deeper than 32 levels")
    if _is_ref(spec):
        leaves.append(spec)
        return len(leaves) - 1
    if isinstance(spec, dict):
        done = {k: _io_template(spec[k], leaves, depth + 1) for k in sorted(spec, key=str)}
        return {k: done[k] for k in spec}
    if isinstance(spec, (list, tuple)):
        return [_io_template(v, leaves, depth + 1) for v in spec]
    leaves.append(spec)                         # not a reference: _ref says so
    return len(leaves) - 1


def pack_outputs(template, flat: List[Any]):
    """``flat`` outputs in ``template``'s nesting (Graph._parse_io ``output_structure``)."""
    if isinstance(template, int):
        return flat[template]
    if isinstance(template, dict):
        return {k: pack_outputs(v, flat) for k, v in template.items()}
    return [pack_outputs(v, flat) for v in template]


def unpack_outputs(template, y, flat: List[Any]) -> None:
    """The inverse of ``pack_outputs``: ``y``, nested as ``template``, into ``flat``."""
    if isinstance(template, int):
        flat[template] = y
    elif isinstance(template, dict):
        for k, v in template.items():
            unpack_outputs(v, y[k], flat)
    else:
        for v, part in zip(template, y):
            unpack_outputs(v, part, flat)


def _auto_mask(inputs, kwargs, explicit_masks: bool) -> bool:
    """Whether a call receives its inputs' masks without naming one (compat.explicit_masks:
    Keras 3 passes them only to a call with exactly one tensor argument, so an RNN called
    with ``initial_state`` gets no mask; Keras 1/2 always pass them)."""
    if not explicit_masks:
        return True
    tensor_args = [v for v in [inputs, *kwargs.values()]
                   if any(isinstance(l, Ref) for l in leaves(v))]
    return len(tensor_args) == 1


class Graph:
    """The calls of a functional model's layers, planned. ``layers`` are built (in config
    order, op nodes included) with their raw inbound nodes; ``where`` names the model."""

    def __init__(self, where: str, layers: List[Tuple[Layer, list]], config: dict,
                 explicit_masks: bool):
        self.where = where
        self.by_name: Dict[str, Layer] = {}
        for layer, _ in layers:
            if layer.name in self.by_name:
                raise ConfigError(f"{where}: two layers are named {layer.name!r}")
            self.by_name[layer.name] = layer
        parsed = [(layer, [self._parse_node(layer, n) for n in nodes]) for layer, nodes in layers]
        in_refs, _ = self._parse_io(config.get("input_layers"), "input_layers")
        out_refs, self.output_structure = self._parse_io(config.get("output_layers"),
                                                         "output_layers", True)
        self._offset = self._offsets(parsed, out_refs + in_refs)
        self.input_keys = [self.key(r) for r in in_refs]
        self.output_keys = [self.key(r) for r in out_refs]
        self.plan = self._plan(parsed, explicit_masks)
        if explicit_masks and any(getattr(l, "clears_input_masks", False) for l, _ in layers):
            self.plan = self._keras3_order(self.plan)

    # ----- parsing ----------------------------------------------------------------------------
    def _parse_io(self, spec, what, outputs=False) -> Tuple[List[Ref], Any]:
        """The model's input or output tensors in Keras's flat order, and for ``outputs``
        their structure, how ``predict`` returns them: None for one tensor or a flat
        list (an array, or a list of arrays), else the nesting the model was made with
        (``Model(x, {"a": y, "b": z})`` predicts a dict, ``[y, [h, c]]`` nested lists), each
        leaf its index in the flat order. Keras flattens dicts in sorted key order
        (``tree.flatten``, ``tf.nest.flatten``), which also orders ``output_names``."""
        if spec is None:
            raise ConfigError(f"{self.where}: functional config has no {what!r}")
        if isinstance(spec, dict) and not outputs:
            spec = list(spec.values())
        if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
            spec = [spec]
        leaves: List[Any] = []
        template = _io_template(spec, leaves, 0)
        refs = [self._ref(item, what) for item in leaves]
        if not refs:
            raise ConfigError(f"{self.where}: {what} is empty")
        flat = isinstance(spec, list) and all(isinstance(t, int) for t in template)
        return refs, (None if flat or not outputs else template)

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
            if layer.is_op:
                return args, kwargs
            names = getattr(layer, "call_args", ())    # e.g. MultiHeadAttention(query, value)
            if not args and names and names[0] in kwargs:
                args = [kwargs.pop(names[0])]
            if not args:
                raise ConfigError(f"{where}: has no arguments")
            if len(args) > max(1, len(names)):
                raise UnsupportedError(f"{where}: {len(args)} positional call arguments; "
                                       f"supported: {', '.join(names) or 'one (inputs)'} "
                                       f"plus keyword arguments")
            for name, arg in zip(names[1:], args[1:]):
                if name in kwargs:
                    raise ConfigError(f"{where}: call argument {name!r} is given twice")
                kwargs[name] = arg
            return args[0], kwargs
        if not isinstance(data, list) or not data:
            raise ConfigError(f"{where}: malformed node {str(data)[:200]}")
        if getattr(layer, "preserve_structure", False):
            return self._structured_node(data, where)
        items: List[Any] = []
        kwargs = {}
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
        if layer.is_op:
            inputs = as_list(inputs)
        return inputs, kwargs

    def _structured_node(self, data, where) -> Tuple[Any, dict]:
        """A tf-keras node that keeps its first argument's structure (tf-op layers, TFK
        ``_preserve_input_structure_in_config``): a tensor ``[name, node, tensor, kwargs]``,
        a constant ``["_CONSTANT_VALUE", -1, value, kwargs]``, or lists of them; the other
        call arguments are the kwargs (the same in every leaf)."""
        kwargs: Dict[str, Any] = {}

        def leaf(obj) -> bool:
            return (isinstance(obj, list) and len(obj) in (3, 4) and isinstance(obj[0], str) and
                    (obj[0] == _CONST or (isinstance(obj[1], int) and isinstance(obj[2], int))))

        def walk(obj, depth):
            if depth > 32:
                raise ConfigError(f"{where}: call arguments nest more than 32 deep")
            if leaf(obj):
                if len(obj) == 4 and obj[3]:
                    if not isinstance(obj[3], dict):
                        raise ConfigError(f"{where}: call kwargs {obj[3]!r:.200} are not an "
                                          f"object")
                    kwargs.update(obj[3])
                return obj[2] if obj[0] == _CONST else self._ref(obj, "inbound node")
            if isinstance(obj, list):
                return [walk(o, depth + 1) for o in obj]
            raise ConfigError(f"{where}: malformed call argument {str(obj)[:200]}")

        inputs = walk(data, 0)
        kwargs = {k: v for k, v in self._k2_kwargs(kwargs).items() if v is not None}
        return inputs, kwargs

    def _offsets(self, parsed, extra_refs) -> Dict[str, int]:
        """Config node indices to call positions, per layer (see the module docstring)."""
        used: Dict[str, set] = {}
        for _, nodes in parsed:
            for inputs, kwargs in nodes:
                for leaf in leaves([inputs, kwargs]):
                    if isinstance(leaf, Ref):
                        used.setdefault(leaf.layer, set()).add(leaf.node)
        for r in extra_refs:
            used.setdefault(r.layer, set()).add(r.node)
        offsets = {}
        for layer, nodes in parsed:
            idx = used.get(layer.name, set())
            off = 0
            if layer.is_model and idx and min(idx) > 0 and \
                    max(idx) >= len(nodes):
                off = min(idx)
            offsets[layer.name] = off
            n = max(len(nodes), 1)
            for i in idx:
                if not 0 <= i - off < n:
                    raise ConfigError(f"{self.where}: a tensor refers to call {i} of layer "
                                      f"{layer.name!r}, which has {len(nodes)} calls")
        return offsets

    def key(self, r: Ref) -> Ref:
        """The reference with its config node index turned into the call position."""
        return Ref(r.layer, r.node - self._offset.get(r.layer, 0), r.tensor)

    def _plan(self, parsed, explicit_masks: bool) -> List[Node]:
        """The nodes in an order where each comes after the calls it reads (Kahn's
        topological sort, linear in nodes and references; config order among equals)."""
        def fix(o):
            return self.key(o) if isinstance(o, Ref) else o

        nodes: List[Node] = []
        for layer, calls in parsed:
            for i, (inputs, kwargs) in enumerate(calls):
                nodes.append(Node(layer, map_refs(fix, inputs), map_refs(fix, kwargs), i,
                                  _auto_mask(inputs, kwargs, explicit_masks)))
        ready = {k[:2] for k in self.input_keys}
        waiting: Dict[Tuple[str, int], List[int]] = {}
        missing = [0] * len(nodes)
        queue: List[int] = []
        for n, node in enumerate(nodes):
            needs = {(l.layer, l.node) for l in leaves([node.inputs, node.kwargs])
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
            key = (node.layer.name, node.call)
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

    def _keras3_order(self, plan: List[Node]) -> List[Node]:
        """The plan in the order Keras 3 runs a functional model (``ops/function.py``:
        ``_build_map`` walks the graph depth first from the outputs, ``map_graph`` gives each
        node a depth, ``_run_through_graph`` runs the deepest first, in the order the depths
        were assigned). Needed where a call changes what later calls see: Keras 3's
        MultiHeadAttention clears the masks of its input tensors (compat.mha_clears_masks),
        so which other readers of those tensors still see them depends on this order. Calls
        that no output depends on (Keras 3 does not run them) come last."""
        by_key = {(n.layer.name, n.call): n for n in plan}
        inputs = {k[:2] for k in self.input_keys}

        def parents(key) -> List[Tuple[str, int]]:
            """Keras 3's ``Node.parent_nodes``: the calls behind each tensor argument, in
            ``tree.flatten((args, kwargs))`` order (positional ones first, then the keyword
            arguments by name)."""
            if key in inputs or key not in by_key:
                return []
            n = by_key[key]
            names = getattr(n.layer, "call_args", ())[1:]
            pos = [n.kwargs[a] for a in names if a in n.kwargs]
            rest = [n.kwargs[k] for k in sorted(n.kwargs) if k not in names]
            return [(r.layer, r.node) for r in leaves([n.inputs, pos, rest]) if isinstance(r, Ref)]

        finished: set = set()
        order: List[Tuple[str, int]] = []
        for out in self.output_keys:                    # _build_map, without recursion
            if out[:2] in finished:
                continue
            stack = [(out[:2], iter(parents(out[:2])))]
            while stack:
                key, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    if key not in finished:
                        finished.add(key)
                        order.append(key)
                elif nxt not in finished and all(nxt != k for k, _ in stack):
                    stack.append((nxt, iter(parents(nxt))))
        depths: Dict[Tuple[str, int], int] = {}         # map_graph (insertion order matters)
        layer_depth: Dict[str, int] = {}
        for key in reversed(order):
            d = max(depths.setdefault(key, 0), layer_depth.get(key[0], 0))
            layer_depth[key[0]] = depths[key] = d
            for p in parents(key):
                depths[p] = max(d + 1, depths.get(p, 0))
        ran = [key for d in sorted(set(depths.values()), reverse=True)
               for key, dk in depths.items() if dk == d and key in by_key and key not in inputs]
        seen = set(ran)
        return [by_key[k] for k in ran] + [n for n in plan if (n.layer.name, n.call) not in seen]

    # ----- naming -----------------------------------------------------------------------------
    def output_names(self) -> List[str]:
        """One unique name per output (see Model.output_names)."""
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
