"""TensorFlow SavedModel directories written by tf.keras / tf-keras ``model.save("dir")``
(KERAS_FACTS A5), and the directory forms of TF checkpoints.

A SavedModel holds the Keras architecture as JSON metadata: in ``keras_metadata.pb`` (tf.keras
2.5 and later: a ``SavedMetadata`` message, one node per tracked Keras object, the root's
metadata holding the model's ``class_name`` and ``config``) or, in older SavedModels, in
``saved_model.pb`` (``SavedModel.meta_graphs[0].object_graph_def``, each object's
``user_object.metadata``). The weights are the TensorBundle ``variables/variables``, mapped
onto the layers through its object graph (``tf_checkpoint``). The traced TensorFlow graphs
``saved_model.pb`` also holds are never looked at: a model is rebuilt from its config.

Refused with a message that says why: subclassed models (their ``call`` is Python code; only
traced graphs are stored, which this library does not execute) naming their layers, and
SavedModels without Keras metadata (``tf.saved_model.save`` of a ``tf.Module``: a bare graph).
Shapes in the metadata JSON may be ``{"class_name": "__tuple__" | "TensorShape", "items":
[...]}`` (TFK ``saving/legacy/saved_model/json_utils.py``); they are decoded to lists.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import limits
from ..errors import ModelFileError, UnsupportedError
from .protobuf import parse
from .safe_io import Directory
from .source import Source, config_text
from .tf_checkpoint import _OBJREF, latest_prefix, read_bundle_weights, read_prefix
from .tensor_bundle import DT_STRING, SHAPE, TensorBundle

#: Bytes of ``keras_metadata.pb`` (every layer's config, several times over) and of
#: ``saved_model.pb`` (traced graphs: large for big models; read only when it holds the
#: metadata, in SavedModels older than tf.keras 2.5).
MAX_METADATA_BYTES = 4 * limits.MAX_CONFIG_BYTES
MAX_SAVED_MODEL_BYTES = 1 << 30

_META_NODE = {2: ("node_id", "int32"), 3: ("node_path", "string"), 4: ("identifier", "string"),
              5: ("metadata", "span")}
SAVED_METADATA = {1: ("nodes[]", _META_NODE)}
_USER_OBJECT = {1: ("identifier", "string"), 3: ("metadata", "span")}
_SAVED_OBJECT = {1: ("children[]", _OBJREF), 4: ("user_object", _USER_OBJECT)}
_META_GRAPH = {7: ("object_graph_def", {1: ("nodes[]", _SAVED_OBJECT)})}
SAVED_MODEL = {2: ("meta_graphs[]", _META_GRAPH)}

_GRAPH_CLASSES = ("Sequential", "Functional", "Model")

# What the lookup tables of adapted StringLookup / IntegerLookup / TextVectorization layers
# need (tf-keras keeps their vocabulary nowhere else): the object graph's resources, their
# ``_initialize`` functions and the constants those capture, the functions' argument names,
# and the graph's Const nodes.
_FUNCTION = {1: ("concrete_functions[]", "string")}
_CONSTANT = {1: ("operation", "string")}
_TABLE_OBJECT = {1: ("children[]", _OBJREF), 6: ("function", _FUNCTION),
                 9: ("constant", _CONSTANT), 10: ("resource", {})}
_CONCRETE = {1: ("key", "string"), 2: ("value", {2: ("bound_inputs[]", "int32")})}
_TABLE_GRAPH = {1: ("nodes[]", _TABLE_OBJECT), 2: ("concrete_functions[]", _CONCRETE)}
_SIGNATURE = {1: ("name", "string"), 2: ("input_arg[]", {1: ("name", "string")})}
_TENSOR = {1: ("dtype", "enum"), 2: ("shape", SHAPE), 4: ("tensor_content", "span"),
           8: ("string_val[]", "bytes"), 10: ("int64_val[]", "int")}
_ATTR = {1: ("key", "string"), 2: ("value", {8: ("tensor", _TENSOR)})}
_NODE = {1: ("name", "string"), 2: ("op", "string"), 5: ("attr[]", "span")}
_GRAPH = {1: ("node[]", _NODE),
          2: ("library", {1: ("function[]", {1: ("signature", _SIGNATURE)})})}
_TABLE_META = {2: ("graph_def", _GRAPH), 7: ("object_graph_def", _TABLE_GRAPH)}
TABLE_SAVED_MODEL = {2: ("meta_graphs[]", _TABLE_META)}
#: Lookup tables, and entries of one table, a SavedModel may declare.
MAX_TABLES = 10_000
_LOOKUP_CLASSES = (b'"StringLookup"', b'"IntegerLookup"', b'"TextVectorization"')


def decode_shapes(obj: Any) -> Any:
    """The metadata JSON with ``__tuple__`` and ``TensorShape`` objects as lists (depth is
    bounded by the JSON bounds checked before parsing)."""
    if isinstance(obj, dict):
        if obj.get("class_name") in ("__tuple__", "TensorShape") and "items" in obj and \
                len(obj) == 2:
            items = obj["items"]
            return None if items is None else [decode_shapes(i) for i in as_items(items)]
        return {k: decode_shapes(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_shapes(v) for v in obj]
    return obj


def as_items(items: Any) -> list:
    if not isinstance(items, list):
        raise ModelFileError(f"a serialized tuple holds {str(items)[:100]}, not a list")
    return items


def _json(data: bytes, where: str, what: str) -> Any:
    return limits.parse_json(data, ModelFileError, where, what)


class _Metadata:
    """The Keras objects of a SavedModel: (node path, identifier, metadata bytes) per node,
    the root first."""

    def __init__(self, where: str, nodes: List[Tuple[str, str, bytes]]):
        self.where, self.nodes = where, nodes

    @classmethod
    def from_keras_metadata(cls, data: bytes, where: str) -> "_Metadata":
        msg = parse(data, SAVED_METADATA, where)
        nodes = []
        for n in msg["nodes"]:
            s, e = n.get("metadata", (0, 0))
            nodes.append((n.get("node_path", ""), n.get("identifier", ""), data[s:e]))
        nodes.sort(key=lambda t: t[0] != "root")
        return cls(where, nodes)

    @classmethod
    def from_saved_model(cls, data: bytes, where: str) -> Optional["_Metadata"]:
        msg = parse(data, SAVED_MODEL, where)
        if not msg["meta_graphs"]:
            raise ModelFileError(f"{where}: holds no meta graph")
        graph = msg["meta_graphs"][0].get("object_graph_def")
        if not graph or not graph["nodes"]:
            return None
        objs = graph["nodes"]
        # the root and its children are all that is needed (the model; a subclassed model's
        # layers): deeper paths are never built, so a long chain of objects costs nothing
        members = [("root", 0)] + [(f"root.{c.get('local_name', '')}", c.get("node_id", 0))
                                   for c in objs[0]["children"]]
        nodes = []
        for path, k in members:
            user = objs[k].get("user_object") if 0 <= k < len(objs) else None
            if user is None:
                continue
            s, e = user.get("metadata", (0, 0))
            nodes.append((path, user.get("identifier", ""), data[s:e]))
        return cls(where, nodes)

    def root(self) -> Tuple[str, bytes]:
        path, ident, meta = self.nodes[0] if self.nodes else ("", "", b"")
        return (ident, meta) if path == "root" else ("", b"")

    def layers(self) -> List[str]:
        """``name (ClassName)`` of each Keras layer directly below the root."""
        out = []
        for path, ident, meta in self.nodes:
            if path.count(".") != 1 or not ident.startswith("_tf_keras") or not meta:
                continue
            try:
                obj = _json(meta, self.where, f"the metadata of {path}")
            except ModelFileError:
                continue
            if isinstance(obj, dict):
                out.append(f"{obj.get('name', path[5:])} ({obj.get('class_name', '?')})")
        return out


def _architecture(meta: _Metadata, where: str) -> Tuple[bytes, Optional[str]]:
    """(config JSON text, keras_version) of the root model, or the reason it cannot be had."""
    ident, raw = meta.root()
    if ident.startswith("_tf_keras") and not raw:
        raise ModelFileError(
            f"{where}: its root object is a Keras model ({ident!r}) saved without its Keras "
            f"metadata (tf.saved_model.save(model) or model.export(path) keep the TensorFlow "
            f"graph only), so there is no layer config to rebuild it from, and kerasrnn_infer "
            f"does not execute TensorFlow graphs; save it with model.save(path) (tf-keras) or "
            f"as a .keras or .h5 file")
    if not ident.startswith("_tf_keras") or not raw:
        raise ModelFileError(
            f"{where}: holds a TensorFlow graph without Keras metadata (root object "
            f"{ident or 'unknown'!r}); it was not written by Keras model.save (perhaps "
            f"tf.saved_model.save of a tf.Module), so there is no layer config to rebuild it "
            f"from, and kerasrnn_infer does not execute TensorFlow graphs")
    root = _json(raw, where, "the model's metadata")
    if not isinstance(root, dict):
        raise ModelFileError(f"{where}: the model's metadata is not a JSON object")
    cls = root.get("class_name")
    graph = root.get("is_graph_network", cls in _GRAPH_CLASSES)
    config = root.get("config")
    if ident == "_tf_keras_model" or graph is False or cls not in _GRAPH_CLASSES:
        layers = meta.layers()
        names = ", ".join(layers[:30]) + (" ..." if len(layers) > 30 else "") or "none found"
        raise UnsupportedError(
            f"{where}: is a subclassed Keras model (class {cls or root.get('name', '?')!r}): "
            f"its call() is Python code, which a SavedModel does not store (at most "
            f"TensorFlow graphs traced from it, which kerasrnn_infer does not execute), so "
            f"there is no layer graph to rebuild. Its layers: {names}. Rebuild the "
            f"architecture as a Sequential or Functional model in Keras, copy the weights "
            f"over (set_weights) and save that")
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: the model's metadata holds no model config (config="
                             f"{str(config)[:80]})")
    text = json.dumps({"class_name": cls, "config": decode_shapes(config)}).encode("utf-8")
    version = root.get("keras_version")
    return config_text(text, where, "the model config"), \
        version if isinstance(version, str) else None


def _const(data: bytes, node: dict, where: str) -> Tuple[str, Any]:
    """(kind, value) of a Const node: ("strings", [bytes]) or ("ints", int64 array)."""
    tensor = None
    for s, e in node.get("attr", []):
        attr = parse(data, _ATTR, where, s, e)
        if attr.get("key") == "value":
            tensor = attr.get("value", {}).get("tensor")
    if tensor is None:
        raise ModelFileError(f"{where}: constant {node.get('name')!r} holds no tensor")
    dims = [d.get("size", 0) for d in tensor.get("shape", {}).get("dim", [])]
    if len(dims) != 1 or not 0 <= dims[0] <= limits.MAX_DIM:
        raise ModelFileError(f"{where}: constant {node.get('name')!r} has shape {dims}; a "
                             f"lookup table's keys and values are vectors of at most "
                             f"{limits.MAX_DIM} entries")
    n = dims[0]
    dtype = tensor.get("dtype", 0)
    if dtype == DT_STRING:
        strings = tensor["string_val"]
        if len(strings) == 1 and n > 1:
            strings = strings * n                  # one value stands for all (never for tables)
        if len(strings) != n:
            raise ModelFileError(f"{where}: constant {node.get('name')!r} declares {n} strings "
                                 f"but holds {len(strings)}")
        return "strings", strings
    if dtype == 9:                                  # int64
        span = tensor.get("tensor_content")
        if span is not None:
            raw = data[span[0]:span[1]]
            if len(raw) != 8 * n:
                raise ModelFileError(f"{where}: constant {node.get('name')!r} declares {n} "
                                     f"int64 values in {len(raw)} bytes")
            return "ints", np.frombuffer(raw, "<i8").astype(np.int64)
        vals = tensor["int64_val"]
        if len(vals) == 1 and n > 1:
            vals = vals * n
        if len(vals) != n:
            raise ModelFileError(f"{where}: constant {node.get('name')!r} declares {n} int64 "
                                 f"values but holds {len(vals)}")
        return "ints", np.asarray(vals, np.int64)
    raise ModelFileError(f"{where}: constant {node.get('name')!r} has TF dtype {dtype}; a "
                         f"lookup table holds strings or int64")


def read_tables(data: bytes, where: str) -> Dict[int, dict]:
    """The lookup tables of a SavedModel, by object id: ``{"keys": {"strings": [bytes]} |
    {"ints": array}, "values": int64 array}``.

    tf-keras builds an adapted lookup layer's table as a ``StaticHashTable`` whose initializer
    (the resource's ``_initialize`` function) imports two constants, keys and values: the
    SavedModel captures them as ``constant`` objects bound to that function's arguments
    (named ``..._keys`` and ``..._values``), and those name Const nodes of the graph."""
    msg = parse(data, TABLE_SAVED_MODEL, where)
    if not msg["meta_graphs"]:
        return {}
    meta = msg["meta_graphs"][0]
    objs = meta.get("object_graph_def", {}).get("nodes", [])
    bound = {f.get("key", ""): f.get("value", {}).get("bound_inputs", [])
             for f in meta.get("object_graph_def", {}).get("concrete_functions", [])}
    graph = meta.get("graph_def", {})
    args = {f["signature"].get("name", ""): [a.get("name", "") for a in
                                              f["signature"]["input_arg"]]
            for f in graph.get("library", {}).get("function", []) if "signature" in f}
    wanted: Dict[int, Tuple[str, str]] = {}          # table object -> (keys op, values op)
    for k, obj in enumerate(objs):
        if "resource" not in obj:
            continue
        init = next((c.get("node_id", -1) for c in obj["children"]
                     if c.get("local_name") == "_initialize"), -1)
        if not 0 <= init < len(objs):
            continue
        names = objs[init].get("function", {}).get("concrete_functions", [])
        if len(names) != 1:
            continue
        ins, arg_names = bound.get(names[0], []), args.get(names[0], [])
        if len(ins) != 3 or len(arg_names) != 3 or ins[0] != k or \
                not arg_names[1].endswith("_keys") or not arg_names[2].endswith("_values"):
            continue                   # not a table imported from two constants
        ops = []
        for i in ins[1:]:
            op = objs[i].get("constant", {}).get("operation") if 0 <= i < len(objs) else None
            if op is None:
                break
            ops.append(op)
        if len(ops) == 2:
            wanted[k] = (ops[0], ops[1])
        if len(wanted) > MAX_TABLES:
            raise ModelFileError(f"{where}: declares more than {MAX_TABLES} lookup tables")
    if not wanted:
        return {}
    names_needed = {op for pair in wanted.values() for op in pair}
    consts = {}
    for node in graph.get("node", []):
        if node.get("name") in names_needed and node.get("op") == "Const":
            consts[node["name"]] = _const(data, node, where)
    tables: Dict[int, dict] = {}
    for k, (kop, vop) in wanted.items():
        if kop not in consts or vop not in consts:
            raise ModelFileError(f"{where}: lookup table object {k} imports constants "
                                 f"{kop!r} and {vop!r}, which the graph does not hold")
        (kkind, keys), (vkind, values) = consts[kop], consts[vop]
        if vkind != "ints" or len(keys) != len(values):
            raise ModelFileError(f"{where}: lookup table object {k} maps {len(keys)} keys to "
                                 f"{len(values)} {vkind} values; expected one int64 id per key")
        if kkind == "strings":
            lengths = np.asarray([len(b) for b in keys], np.int64)
            blob = np.frombuffer(b"".join(keys), np.uint8)
            tables[k] = {"strings": [lengths, blob], "values": values}
        else:
            tables[k] = {"ints": keys, "values": values}
    return tables


def read_saved_model(folder: Directory, path: str) -> Source:
    """A SavedModel directory: its Keras architecture and its variables."""
    pb = folder.file("saved_model.pb")
    if pb is None:
        if folder.file("saved_model.pbtxt") is not None:
            raise ModelFileError(f"{path}: holds a text-format saved_model.pbtxt; supported: "
                                 f"binary saved_model.pb (what Keras writes)")
        raise ModelFileError(f"{path}: is not a SavedModel (no saved_model.pb)")
    kmeta = folder.file("keras_metadata.pb")
    pb_data: Optional[bytes] = None          # read once, only where it is needed
    if kmeta is not None:
        where = folder.where("keras_metadata.pb")
        meta: Optional[_Metadata] = _Metadata.from_keras_metadata(
            folder.read(kmeta, MAX_METADATA_BYTES, "keras_metadata.pb"), where)
    else:
        where = folder.where("saved_model.pb")
        pb_data = folder.read(pb, MAX_SAVED_MODEL_BYTES, "saved_model.pb")
        meta = _Metadata.from_saved_model(pb_data, where)
    if meta is None:
        raise ModelFileError(f"{where}: holds no object graph, hence no Keras metadata; "
                             f"it was not written by Keras model.save (TensorFlow 1 "
                             f"SavedModels hold graphs only)")
    config, version = _architecture(meta, path)
    variables = folder.subdir("variables")
    if variables is None:
        raise ModelFileError(f"{path}: has no variables/ directory (the weights)")
    weights = read_bundle_weights(TensorBundle(variables, "variables"))
    if any(name in config for name in _LOOKUP_CLASSES):
        # adapted lookup layers keep their vocabulary only in the graph's constants
        if pb_data is None:
            pb_data = folder.read(pb, MAX_SAVED_MODEL_BYTES, "saved_model.pb")
        weights.tables = read_tables(pb_data, folder.where("saved_model.pb"))
    folder.check_unchanged()
    return Source(path, "saved-model", config, version, weights)


def read_checkpoint_dir(folder: Directory, path: str) -> Source:
    """A directory of TF checkpoints (``ModelCheckpoint``): the one its ``checkpoint`` file
    names as the latest."""
    prefix = latest_prefix(folder)
    if prefix is None:
        raise ModelFileError(f"{path}: has no checkpoint file")
    weights = read_prefix(folder, prefix)
    folder.check_unchanged()
    return Source(os.path.join(path, prefix), "tf-checkpoint", None, None, weights)


def read_checkpoint(folder: Directory, prefix: str, path: str) -> Source:
    """The TF checkpoint ``<prefix>.index`` + data shards in ``folder``."""
    weights = read_prefix(folder, prefix)
    folder.check_unchanged()
    return Source(path, "tf-checkpoint", None, None, weights)


def read_directory(folder: Directory, path: str) -> Source:
    """Whatever directory ``path`` is: a SavedModel, or a checkpoint directory."""
    names = set(folder.names())
    if names & {"saved_model.pb", "saved_model.pbtxt", "keras_metadata.pb"}:
        return read_saved_model(folder, path)
    if "checkpoint" in names:
        return read_checkpoint_dir(folder, path)
    shown = ", ".join(sorted(names)[:10]) + (" ..." if len(names) > 10 else "")
    raise ModelFileError(f"{path}: is a directory but neither a TensorFlow SavedModel (no "
                         f"saved_model.pb) nor a checkpoint directory (no checkpoint file); "
                         f"it holds: {shown or 'nothing'}")


__all__ = ["decode_shapes", "read_checkpoint", "read_directory", "read_saved_model"]
