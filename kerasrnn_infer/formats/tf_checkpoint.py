"""TF-format checkpoints: ``save_weights("ckpt/w")`` (tf.keras, tf-keras), ``ModelCheckpoint``
directories and the variables of SavedModels (KERAS_FACTS A5).

A checkpoint is a TensorBundle (``tensor_bundle``) whose ``_CHECKPOINTABLE_OBJECT_GRAPH``
tensor is a serialized ``TrackableObjectGraph``: every tracked object with its named children
(``layer_with_weights-0``, ``layer-3``, ``cell``, ``kernel``, ...) and, for variables, the key
their value is stored under. Keys depend on how the model was saved (a traced SavedModel
stores an LSTM's kernel under ``variables/0/...``, ``save_weights`` under
``layer_with_weights-0/cell/kernel/...``), so weights are found only by walking the object
graph from the model along child names, never from the keys' spelling: a model's ``i``-th
layer is its child ``layer-i`` (``model.layers`` order: a Sequential's InputLayer is not
among them, a Functional's InputLayers and tf-op layers are), and below a layer each
``WeightNode`` attribute (``cell``, ``forward_layer``, ``layer``, ``cells`` then ``0``, ``1``,
...) and each weight slot (``kernel``, ``recurrent_kernel``, ``bias``, ``embeddings``, ...)
is a child of the same name. The model is the root object, or in a ``tf.train.Checkpoint(
model=model, optimizer=...)`` the root's one child that holds layers. Optimizer variables
(the ``optimizer`` child and its slot variables) are never read; stored states of stateful
RNNs are not weights and are ignored (states start from zeros, as after ``reset_states``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import ModelFileError, WeightsError
from ..layers.custom import WeightList
from .protobuf import parse
from .safe_io import Directory
from .tensor_bundle import TensorBundle

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_VALUE = "VARIABLE_VALUE"
#: Nodes of one object graph (a traced SavedModel tracks about 40 objects per layer).
MAX_OBJECTS = 5_000_000

_OBJREF = {1: ("node_id", "int32"), 2: ("local_name", "string")}
_SERIALIZED = {1: ("name", "string"), 2: ("full_name", "string"),
               3: ("checkpoint_key", "string")}
_TRACKABLE = {1: ("children[]", _OBJREF), 2: ("attributes[]", _SERIALIZED)}
OBJECT_GRAPH = {1: ("nodes[]", _TRACKABLE)}

# Children a SavedModel adds to every Keras object for its own serialization: they lead to
# the same variables again (``variables/0``...) or to traced functions, never to weights of
# their own (skipped when a custom layer's variables are gathered).
_SERIALIZATION_CHILDREN = frozenset({
    "variables", "trainable_variables", "non_trainable_variables", "regularization_losses",
    "keras_api", "__call__", "call_and_return_all_conditional_losses",
    "call_and_return_conditional_losses", "_default_save_signature", "signatures",
    "_random_generator", "state_spec", "state_size", "optimizer", "save_counter"})


@dataclass
class CheckpointWeights:
    """The object graph of a TF checkpoint (children by name per node, the stored key of each
    variable) and the arrays of the model's variables (by key)."""

    children: List[List[List[Any]]]            # per node: [[local name, node id], ...]
    keys: List[Optional[str]]                  # per node: key of its VARIABLE_VALUE, or None
    names: List[Optional[str]]                 # per node: the variable's full name, or None
    tensors: Dict[str, Any] = field(default_factory=dict)    # key -> array, or why not
    # per lookup-table object of a SavedModel: {"strings": [lengths, utf-8 blob]} or
    # {"ints": array}, and "values" (saved_model.read_tables)
    tables: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    kind = "tf-checkpoint"

    def to_plain(self) -> dict:
        return {"children": self.children, "keys": self.keys, "names": self.names,
                "tensors": self.tensors, "tables": self.tables}

    def table(self, node: int, paths, path: str, layer) -> Optional[Tuple[list, Any]]:
        """(keys, ids) of the lookup table below layer object ``node`` along one of
        ``paths`` (tuples of child names), or None if the file holds none there."""
        for names in paths:
            nid: Optional[int] = node
            for name in names:
                nid = self.child(nid, name)
            if nid is None or nid not in self.tables:
                continue
            t = self.tables[nid]
            if "ints" in t:
                return [int(v) for v in np.asarray(t["ints"])], np.asarray(t["values"])
            lengths, blob = (np.asarray(a) for a in t["strings"])
            data = np.asarray(blob, np.uint8).tobytes()
            if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or (lengths < 0).any() or \
                    int(lengths.sum()) != len(data):
                raise WeightsError(f"{path}: the lookup table of layer {layer.name!r} is "
                                   f"malformed")
            keys, pos = [], 0
            for n in lengths.tolist():
                try:
                    keys.append(data[pos:pos + n].decode("utf-8"))
                except UnicodeDecodeError as e:
                    raise WeightsError(f"{path}: the lookup table of layer {layer.name!r} "
                                       f"holds a token that is not UTF-8: {e}") from None
                pos += n
            return keys, np.asarray(t["values"])
        return None

    # ----- the object graph -------------------------------------------------------------------
    def child(self, node: Optional[int], name: str) -> Optional[int]:
        """The child ``name`` of object ``node`` (the first of that name), or None."""
        if node is None:
            return None
        cache = self.__dict__.setdefault("_by_name", {})
        names = cache.get(node)
        if names is None:
            names = cache[node] = {}
            for local, nid in self.children[node]:
                names.setdefault(local, nid)
        return names.get(name)

    def value(self, node: int, path: str, what: str):
        key = self.keys[node]
        if key is None:
            raise WeightsError(f"{path}: {what} is not a variable in the checkpoint")
        arr = self.tensors.get(key)
        if arr is None or isinstance(arr, str):
            raise WeightsError(f"{path}: {what} (key {key!r}) cannot be read"
                               f"{': ' + arr if isinstance(arr, str) else ''}")
        return arr

    def under(self, node: int, path: str) -> WeightList:
        """Every variable below ``node`` (a custom layer), depth first in the order the
        objects were tracked, each with its path of child names (``w``, ``dense/kernel``)."""
        out = WeightList()
        seen = {node}
        stack: List[Tuple[int, str]] = [(node, "")]
        while stack:
            nid, rel = stack.pop()
            if self.keys[nid] is not None:           # a variable
                out.append(self.value(nid, path, rel))
                out.paths.append(rel)
                continue
            kids = []
            for name, c in self.children[nid]:
                if name in _SERIALIZATION_CHILDREN or c in seen:
                    continue
                seen.add(c)
                kids.append((c, f"{rel}/{name}" if rel else name))
            stack.extend(reversed(kids))
        return out

    # ----- assignment -------------------------------------------------------------------------
    def assign(self, root, path: str) -> None:
        """Give every layer of model ``root`` its weights by walking the object graph."""
        node = root.weight_node()
        top, where = self.model_object(path)
        _assign_model(node, self, top, path, where)

    def model_object(self, path: str) -> Tuple[int, str]:
        """(object, path prefix) of the model: the root (Keras ``save_weights``, SavedModels),
        or, for a ``tf.train.Checkpoint(model=model, ...)``, the one child of the root that
        holds layers (the optimizer and the save counter are never it)."""
        def holds_layers(nid: int) -> bool:
            return any(name.startswith("layer-") for name, _ in self.children[nid])

        if holds_layers(0):
            return 0, ""
        found = [(name, nid) for name, nid in self.children[0]
                 if name not in ("optimizer", "save_counter") and holds_layers(nid)]
        if len(found) == 1:
            return found[0][1], found[0][0] + "/"
        names = ", ".join(name for name, _ in self.children[0][:20]) or "none"
        raise WeightsError(f"{path}: the checkpoint holds no Keras model: its root object has "
                           f"no layers (children: {names})"
                           + (f" and {len(found)} children that hold layers" if found else ""))


def _missing(path: str, layer, where: str) -> WeightsError:
    return WeightsError(f"{path}: no weights for layer {layer.name!r} ({layer.class_name}): the "
                        f"checkpoint's object graph has no {where}")


def _flat(node, store: CheckpointWeights, nid: Optional[int], path: str, layer,
          where: str) -> List:
    """The arrays of a layer's WeightNode subtree in get_weights order."""
    if nid is None:
        raise _missing(path, layer, where)
    if node.slots is None:
        return store.under(nid, path)
    arrays = []
    for slot in node.slots:
        vid = store.child(nid, slot.name)
        if vid is None:
            raise _missing(path, layer, f"{where}/{slot.name}")
        arrays.append(store.value(vid, path, f"weight {where}/{slot.name} of layer "
                                             f"{layer.name!r}"))
    for attr, child in node.children:
        cid = store.child(nid, attr)
        if cid is None:                 # tf-keras tracks some as private attributes
            cid = store.child(nid, "_" + attr)
        if isinstance(child, list):
            for j, c in enumerate(child):
                if c.flat_slots() == []:
                    continue
                arrays += _flat(c, store, store.child(cid, str(j)), path, layer,
                                f"{where}/{attr}/{j}")
        elif child.flat_slots() != []:
            arrays += _flat(child, store, cid, path, layer, f"{where}/{attr}")
    return arrays


def _assign_model(model, store: CheckpointWeights, nid: int, path: str, where: str) -> None:
    from .keras3 import _model_inside
    (_, items), = model.children
    for i, node in enumerate(items):
        layer = node.layer
        if layer.class_name == "InputLayer" or \
                (node.flat_slots() == [] and not hasattr(layer, "set_table")):
            continue
        name = f"{where}layer-{i}"
        lid = store.child(nid, f"layer-{i}")
        if lid is None:
            raise _missing(path, layer, name)
        inner = _model_inside(node)
        if inner is not None:
            if inner is not node:
                lid, name = store.child(lid, "layer"), f"{name}/layer"
                if lid is None:
                    raise _missing(path, layer, name)
            _assign_model(inner, store, lid, path, name + "/")
        else:
            layer.set_weights(_flat(node, store, lid, path, layer, name))
            take_table = getattr(layer, "set_table", None)
            if take_table is not None:       # adapted lookups in a SavedModel
                found = store.table(lid, layer.table_paths, path, layer)
                if found is not None:
                    take_table(*found, f"{path}: {name}")


# ----- reading --------------------------------------------------------------------------------
def read_object_graph(bundle: TensorBundle) -> Tuple[list, list, list]:
    """(children, keys, full names) per node of the bundle's object graph."""
    if bundle.entry(OBJECT_GRAPH_KEY) is None:
        raise ModelFileError(f"{bundle.where}: has no {OBJECT_GRAPH_KEY} entry; it is a "
                             f"name-based (TF1-style) checkpoint, which does not say which "
                             f"weight is which layer's; supported: TensorFlow 2 object-based "
                             f"checkpoints (tf.keras save_weights, ModelCheckpoint, "
                             f"SavedModels)")
    data = bundle.strings(OBJECT_GRAPH_KEY)
    if len(data) != 1:
        raise ModelFileError(f"{bundle.where}: {OBJECT_GRAPH_KEY} holds {len(data)} strings, "
                             f"expected one")
    graph = parse(data[0], OBJECT_GRAPH, f"{bundle.where}: the object graph")
    nodes = graph["nodes"]
    if not nodes or len(nodes) > MAX_OBJECTS:
        raise ModelFileError(f"{bundle.where}: the object graph has {len(nodes)} objects; "
                             f"expected 1 to {MAX_OBJECTS}")
    children, keys, names = [], [], []
    for k, n in enumerate(nodes):
        kids = []
        for c in n["children"]:
            cid = c.get("node_id", 0)
            if not 0 <= cid < len(nodes):
                raise ModelFileError(f"{bundle.where}: object {k} of the object graph refers to "
                                     f"object {cid}, which does not exist")
            kids.append([c.get("local_name", ""), cid])
        children.append(kids)
        attr = next((a for a in n["attributes"] if a.get("name") == VARIABLE_VALUE), None)
        keys.append(None if attr is None else attr.get("checkpoint_key", ""))
        names.append(None if attr is None else attr.get("full_name"))
    return children, keys, names


def read_bundle_weights(bundle: TensorBundle) -> CheckpointWeights:
    """The object graph and every model variable reachable from its root (not through the
    optimizer), read and checked."""
    children, keys, names = read_object_graph(bundle)
    store = CheckpointWeights(children, keys, names)
    top = {nid for _, nid in children[0]}     # a tf.train.Checkpoint's attributes
    seen = {0}
    stack = [0]
    while stack:
        nid = stack.pop()
        key = keys[nid]
        if key is not None and key not in store.tensors:
            e = bundle.entry(key)
            if e is None:
                raise ModelFileError(f"{bundle.where}: the object graph names key {key!r}, "
                                     f"which the index does not hold")
            if e.get("dtype") == 7:
                store.tensors[key] = "it is a string tensor, not numbers"
            else:
                store.tensors[key] = bundle.tensor(key)
        for name, cid in children[nid]:
            if name in ("optimizer", "save_counter") and (nid == 0 or nid in top):
                continue
            if cid not in seen:
                seen.add(cid)
                stack.append(cid)
    return store


_LATEST = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"\s*$', re.M)


def latest_prefix(folder: Directory) -> Optional[str]:
    """The prefix a ``checkpoint`` file names (``model_checkpoint_path: "cp-0002.ckpt"``), as a
    name in ``folder``: only its last component is used, since the checkpoint is read from
    this directory and nothing outside it (the file may record an absolute path of the
    machine that trained)."""
    fd = folder.file("checkpoint")
    if fd is None:
        return None
    text = folder.read(fd, 1 << 20, "the checkpoint state file")
    try:
        m = _LATEST.search(text.decode("utf-8"))
    except UnicodeDecodeError:
        m = None
    if m is None:
        raise ModelFileError(f"{folder.where('checkpoint')}: names no model_checkpoint_path")
    raw = m.group(1)
    try:
        name = raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
        name = name.encode("latin-1").decode("utf-8")
    except (UnicodeError, ValueError):
        name = raw
    base = re.split(r"[/\\]", name)[-1]
    if not base or base in (".", ".."):
        raise ModelFileError(f"{folder.where('checkpoint')}: model_checkpoint_path "
                             f"{name!r:.200} names no checkpoint file")
    return base


def read_prefix(folder: Directory, prefix: str) -> CheckpointWeights:
    bundle = TensorBundle(folder, prefix)
    return read_bundle_weights(bundle)
