"""Keras 3 files: ``.keras`` zips (``config.json``, ``metadata.json``, ``model.weights.h5``)
and ``.weights.h5`` weights trees (KERAS_FACTS A1, A2).

The weights tree addresses each saveable object by its path: a model's layers under
``layers/<snake_case class>[_n]`` (a counter per class, in layer order; tf-keras 2.13 wrote
``_layer_checkpoint_dependencies/`` instead), other objects under the attribute that holds
them (``cell``, ``forward_layer``, ``layer``, ``cells/<snake_case class>[_n]``), each with its
own variables in ``vars/0, vars/1, ...``. ``assign`` walks a built model's ``WeightNode`` tree
along the same paths.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import limits
from ..errors import ModelFileError, UnsafeModelError, WeightsError
from ..layers.base import WeightNode, to_snake_case
from ..layers.custom import WeightList
from .hdf5 import Budget, get, h5py_module, keys, open_h5, read_dataset
from .safe_io import H5Window, Window, check_stored, stored_offset, weights_limit, zip_member
from .source import Source, config_text


@dataclass
class Keras3Weights:
    """``{group path: [vars/0, vars/1, ...]}`` of a Keras 3 weights tree (and the paths of
    the groups without ``vars``)."""

    groups: Dict[str, List[Any]] = field(default_factory=dict)    # arrays (or FileRegions)
    prefixes: set = field(default_factory=set)
    # a .keras archive's lookup vocabularies: {"layers/<snake>": {"vocabulary.txt": bytes as
    # a uint8 array}} from assets/layers/<snake>/vocabulary.txt (Keras's save_assets)
    assets: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    kind = "keras3"

    def has(self, path: str) -> bool:
        return path in self.groups or path in self.prefixes

    def to_plain(self) -> dict:
        return {"groups": self.groups, "prefixes": self.prefixes, "assets": self.assets}

    def assign(self, root, path: str) -> None:
        """Give every layer of model ``root`` its weights from this tree."""
        _assign_model(root.weight_node(), self, "", path)

    def under(self, group: str, rel: str = "") -> WeightList:
        """Every array at or below ``group``: its own vars first, then each group below it
        depth first in name order (a custom layer's weights; see layers/custom.py), with
        each array's path below ``group`` (``vars/0``, ``dense_q/vars/1``...)."""
        own = self.groups.get(group, [])
        out = WeightList(own, [f"{rel}vars/{i}" for i in range(len(own))])
        children = sorted({p[len(group) + 1:].split("/")[0] for p in
                           set(self.groups) | self.prefixes if p.startswith(group + "/")})
        for child in children:
            if child != "vars":
                sub = self.under(f"{group}/{child}", f"{rel}{child}/")
                out.extend(sub)
                out.paths.extend(sub.paths)
        return out


def read_tree(f, path, budget: Budget) -> Keras3Weights:
    """The ``vars`` of every group, walked without recursion. HDF5 groups are a graph, not a
    tree (a group may be linked from several places, its own descendants included): a group
    met twice is refused, and the walk is bounded in depth and size (limits.MAX_H5_*)."""
    h5py = h5py_module()
    store = Keras3Weights()
    seen = {f.id}
    stack = [(f, "", 0)]
    visited = 0
    while stack:
        group, prefix, depth = stack.pop()
        for name in keys(group, path):
            visited += 1
            if visited > limits.MAX_H5_OBJECTS:
                raise ModelFileError(f"{path}: holds more than {limits.MAX_H5_OBJECTS} HDF5 "
                                     f"objects; the file is corrupt or hostile")
            obj = get(group, name, path)
            if not isinstance(obj, h5py.Group):
                continue
            sub = f"{prefix}/{name}" if prefix else name
            if obj.id in seen:
                raise ModelFileError(f"{path}: group {sub} is linked from more than one place "
                                     f"(a cycle or a shared group); Keras never writes such files")
            seen.add(obj.id)
            if name == "vars":
                names = sorted(keys(obj, path),
                               key=lambda k: int(k) if k.isdigit() and len(k) < 10 else 1 << 30)
                store.groups[prefix] = [read_dataset(get(obj, k, path), path, f"{sub}/{k}",
                                                     budget) for k in names]
            else:
                if depth >= limits.MAX_H5_DEPTH:
                    raise ModelFileError(f"{path}: groups nest deeper than "
                                         f"{limits.MAX_H5_DEPTH} levels at {sub}")
                store.prefixes.add(sub)
                stack.append((obj, sub, depth + 1))
    return store


def read_zip(fd: int, path: str, regions: bool = False) -> Source:
    """A ``.keras`` archive read through descriptor ``fd``; with ``regions`` (the forked
    reader) plain arrays of a stored archive are left in the file as FileRegions."""
    file_size = os.fstat(fd).st_size
    try:
        zf = zipfile.ZipFile(io.BufferedReader(Window(fd, 0, file_size)))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable .keras archive: {e}") from None
    with zf:
        cfg_bytes = zip_member(zf, "config.json", path, limits.MAX_CONFIG_BYTES)
        if cfg_bytes is None:
            raise ModelFileError(f"{path}: .keras archive has no config.json")
        config = config_text(cfg_bytes, path, "config.json")
        meta_bytes = zip_member(zf, "metadata.json", path, 1 << 20)
        meta = limits.parse_json(meta_bytes, ModelFileError, path, "metadata.json") \
            if meta_bytes else {}
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        if version is not None and not isinstance(version, str):
            raise ModelFileError(f"{path}: metadata.json keras_version={version!r:.80} is not "
                                 f"a version string")
        assets = read_assets(zf, path, weights_limit(file_size))
        name = "model.weights.h5"
        info = zf.NameToInfo.get(name)
        if info is None:
            if "model.weights.npz" in zf.namelist():
                raise UnsafeModelError(
                    f"{path}: weights are stored as model.weights.npz, whose arrays Keras "
                    f"pickles; kerasrnn_infer never unpickles. Re-save the model with the "
                    f"default weights_format='h5'")
            raise ModelFileError(f"{path}: .keras archive has no model.weights.h5")
        base = stored_offset(fd, info)
        if base is not None:
            # stored (Keras's default): HDF5 reads its metadata straight from the archive (and
            # in the forked reader the arrays stay in place as FileRegions); the checksum is
            # still verified
            check_stored(fd, path, name, base, info, weights_limit(file_size))
            src, size = H5Window(fd, base, info.file_size), info.file_size
        else:
            h5 = zip_member(zf, name, path, weights_limit(file_size))
            src, size = H5Window(-1, 0, len(h5), h5), len(h5)
    try:
        with open_h5(src, path) as f:
            weights = read_tree(f, path, Budget(size, base if regions else None))
    finally:
        src.close()
    weights.assets = assets
    return Source(path, "keras-zip", config, version, weights)


#: the asset files read: what Keras's lookup layers save (``index_lookup.py`` save_assets)
ASSET_FILES = ("vocabulary.txt",)


def read_assets(zf, path: str, limit: int) -> Dict[str, Dict[str, Any]]:
    """The vocabularies under ``assets/`` (``assets/<object path>/vocabulary.txt``), each and
    all together at most ``limit`` bytes, as uint8 arrays by object path and file name."""
    out: Dict[str, Dict[str, Any]] = {}
    total = 0
    names = [n for n in zf.namelist() if n.startswith("assets/") and
             n.rsplit("/", 1)[-1] in ASSET_FILES]
    if len(names) > limits.MAX_LAYERS:
        raise ModelFileError(f"{path}: the archive holds {len(names)} asset vocabularies, more "
                             f"than the {limits.MAX_LAYERS} layers a model may have")
    for name in names:
        data = zip_member(zf, name, path, limit - total)
        if data is None:
            continue
        total += len(data)
        folder, file = name[len("assets/"):].rsplit("/", 1) if "/" in name[len("assets/"):] \
            else ("", name[len("assets/"):])
        out.setdefault(folder, {})[file] = np.frombuffer(data, np.uint8).copy()
    return out


# ----- assignment ------------------------------------------------------------------------------
def _item_names(items: List[WeightNode]) -> List[str]:
    """Keras 3's names for the items of a list attribute: snake-case class names with a
    counter per class, in order (``utils/naming.py``, ``saving_lib._get_unique_name``)."""
    seen: Dict[str, int] = {}
    out = []
    for node in items:
        snake = to_snake_case(node.class_name)
        n = seen.get(snake, -1) + 1
        seen[snake] = n
        out.append(snake if n == 0 else f"{snake}_{n}")
    return out


def _child_groups(store: Keras3Weights, base: str, attr: str, items: List[WeightNode]
                  ) -> List[Tuple[Optional[str], str]]:
    """(group or None, expected name) of each item of a list attribute (``layers``,
    ``cells``): class names with a counter per class; a model's layers may also sit directly
    under the model's group, or under ``_layer_checkpoint_dependencies`` (Keras-2 ``.keras``
    zips of tf.keras 2.12 ``save_format="keras_v3"`` and 2.13), where the counter skips a
    number after every layer with weights: tf.keras tracks each such layer twice (as
    ``layer_with_weights-k`` and ``layer-i``) and the writer counts both, saving the first
    (``lstm``, ``lstm_2``, ``lstm_4``; a weightless ``dropout``, ``dropout_1``)."""
    skipping = attr == "layers" and store.has(f"{base}_layer_checkpoint_dependencies")
    seen: Dict[str, int] = {}
    out = []
    for node in items:
        snake = to_snake_case(node.class_name)
        n = seen.get(snake, 0)
        name = snake if n == 0 else f"{snake}_{n}"
        if attr != "layers":
            cands = [f"{base}{attr}/{name}"]
        elif skipping:
            cands = [f"{base}_layer_checkpoint_dependencies/{name}"]
        else:
            cands = [f"{base}layers/{name}", f"{base}{name}"]
        group = next((c for c in cands if store.has(c)), None)
        seen[snake] = n + (2 if skipping and _tracked_twice(node, store, group) else 1)
        out.append((group, name))
    return out


def _tracked_twice(node: WeightNode, store: Keras3Weights, group: Optional[str]) -> bool:
    """Whether tf.keras tracked this layer twice (it has weights: ``if layer.weights``);
    for a custom layer, whose weights only the file knows, whether its group holds any."""
    flat = node.flat_slots()
    if flat is None:
        return group is not None and len(store.under(group)) > 0
    return bool(flat)


def _flat(node: WeightNode, store: Keras3Weights, group: str, path: str, who) -> List:
    """The arrays of a layer's subtree in get_weights order, from ``group``."""
    if node.slots is None:                              # a custom layer: everything below
        return store.under(group)
    arrays = []
    if node.slots:
        if group not in store.groups:
            raise WeightsError(f"{path}: weights of layer {who.name!r} ({who.class_name}) are "
                               f"missing: no {group}/vars")
        arrays += store.groups[group]
    for attr, child in node.children:
        if isinstance(child, list):
            for c, (g, _) in zip(child, _child_groups(store, group + "/", attr, child)):
                if c.flat_slots() == []:
                    continue
                if g is None:
                    raise WeightsError(f"{path}: weights of layer {who.name!r} "
                                       f"({who.class_name}) are missing: no group for its "
                                       f"{attr} item {c.class_name}")
                arrays += _flat(c, store, g, path, who)
        elif child.flat_slots() != []:
            sub = f"{group}/{attr}"
            if not store.has(sub) and store.has(f"{group}/_{attr}"):
                sub = f"{group}/_{attr}"        # tf-keras saves private attributes as named
            arrays += _flat(child, store, sub, path, who)
    return arrays


def _assign_model(model: WeightNode, store: Keras3Weights, prefix: str, path: str) -> None:
    """Assign each layer of a model node (``("layers", [...])``), recursing into models."""
    (attr, items), = model.children
    assert isinstance(items, list)
    for node, (group, gname) in zip(items, _child_groups(store, prefix, attr, items)):
        layer = node.layer
        assert layer is not None                        # every item of a model is a layer
        if layer.class_name == "InputLayer":
            continue
        take_assets = getattr(layer, "set_assets", None)
        if take_assets is not None:       # lookup vocabularies (assets/<same path as weights>)
            files = store.assets.get(group or f"{prefix}layers/{gname}")
            if files:
                take_assets({k: np.asarray(v, np.uint8).tobytes() for k, v in files.items()},
                            path)
        inner = _model_inside(node)
        if inner is not None:                           # a nested model (or one wrapped)
            if inner.flat_slots() == []:
                continue
            sub = group if inner is node else (f"{group}/layer" if group else None)
            if sub is None or not store.has(sub):
                what = "nested model" if inner is node else "the model inside"
                raise WeightsError(f"{path}: no weights group for {what} {layer.name!r} "
                                   f"(expected {prefix}layers/{gname}"
                                   f"{'' if inner is node else '/layer'})")
            _assign_model(inner, store, sub + "/", path)
            continue
        if node.slots is None:                          # custom layer
            layer.set_weights(store.under(group) if group else [])
            continue
        if not node.flat_slots() and node.flat_slots() is not None:
            continue
        if group is None:
            raise WeightsError(f"{path}: no weights for layer {layer.name!r} "
                               f"({layer.class_name}); expected group {prefix}layers/{gname}")
        layer.set_weights(_flat(node, store, group, path, layer))


def _model_inside(node: WeightNode) -> Optional[WeightNode]:
    """The model node of a nested model, or of a TimeDistributed wrapping one."""
    if node.layer is not None and node.layer.is_model:
        return node
    if node.class_name == "TimeDistributed":
        (_, inner), = node.children
        if isinstance(inner, WeightNode) and inner.layer is not None and inner.layer.is_model:
            return inner
    return None


# ----- writing (Model.to_bytes) ----------------------------------------------------------------
def tree_of(root) -> Dict[str, List[np.ndarray]]:
    """The weights of a built model as the Keras 3 tree ``assign`` reads (its inverse):
    ``{group path: [vars/0, vars/1, ...]}``."""
    out: Dict[str, List[np.ndarray]] = {}
    _tree_model(root.weight_node(), "", out)
    return out


def _tree_model(model: WeightNode, prefix: str, out: Dict[str, List[np.ndarray]]) -> None:
    (_, items), = model.children
    assert isinstance(items, list)
    for node, name in zip(items, _item_names(items)):
        layer = node.layer
        assert layer is not None
        group = f"{prefix}layers/{name}"
        if layer.class_name == "InputLayer":
            continue
        inner = _model_inside(node)
        if inner is not None:
            _tree_model(inner, group + "/" if inner is node else group + "/layer/", out)
            continue
        arrays = layer.get_weights()
        _tree_node(node, group, WeightList(arrays, getattr(arrays, "paths", None)), out)


def _tree_node(node: WeightNode, group: str, arrays: list, out) -> None:
    """Take this subtree's arrays from the front of ``arrays`` into ``out``."""
    if node.slots is None:                      # a custom layer: back where they came from
        paths = getattr(arrays, "paths", None) or [None] * len(arrays)
        for a, p in zip(arrays, paths):
            sub = p.rsplit("/vars/", 1)[0] if isinstance(p, str) and "/vars/" in p else None
            if isinstance(p, str) and p.startswith("vars/"):
                sub = ""
            key = group if sub in (None, "") else f"{group}/{sub}"
            out.setdefault(key, []).append(a)
        del arrays[:]
        return
    if node.slots:
        out[group] = [arrays.pop(0) for _ in node.slots]
    for attr, child in node.children:
        if isinstance(child, list):
            for c, name in zip(child, _item_names(child)):
                _tree_node(c, f"{group}/{attr}/{name}", arrays, out)
        else:
            _tree_node(child, f"{group}/{attr}", arrays, out)


def write_zip(root, config: dict, keras_version: str) -> bytes:
    """A ``.keras`` archive of a built model: its config as loaded, the writing Keras version
    it was loaded as, and its weights in the Keras 3 tree; stored (not compressed), so that
    loading reads the arrays in place. The same model always gives the same bytes (no
    timestamps), so they can key caches."""
    import json
    h5py = h5py_module()
    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=False) as f:
        for group, arrays in tree_of(root).items():
            g = f.require_group(group + "/vars")
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=np.asarray(a), track_times=False)
    members = {"metadata.json": json.dumps({"keras_version": keras_version,
                                            "writer": "kerasrnn_infer"}).encode(),
               "config.json": json.dumps(config).encode(), "model.weights.h5": buf.getvalue()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()
