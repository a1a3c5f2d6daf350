"""Reading model files: the only package that touches files, zip archives and HDF5.

A file is recognised by its content, never by its extension, and read in a forked child
(``isolate``) through one descriptor (``safe_io``), HDF5 through ``hdf5``'s safe accessors.
Each format is one module that reads its files into a ``Source`` (config, writing Keras
version, weights store) and whose store gives a built model its weights:

- ``keras3``: Keras 3 ``.keras`` zips and ``.weights.h5`` trees;
- ``legacy_h5``: legacy HDF5 models and weights (Keras 1 and 2, tf.keras, tf-keras, Keras 3
  ``save("x.h5")``), with the converters of older weight layouts;
- ``saved_model``: TensorFlow SavedModel directories (tf.keras ``model.save("dir")``) and
  checkpoint directories, over ``tf_checkpoint`` (TF-format checkpoints and their object
  graphs), ``tensor_bundle`` (the ``.index`` table and data shards), ``protobuf`` (a bounded
  wire-format reader) and ``crc32c`` (TensorFlow's checksums).

A directory is read through ``safe_io.Directory`` (each member opened relative to it, no
symbolic link followed), in the same forked reader as a file.

Everything is read at load time and the file is closed: a loaded model holds NumPy arrays.
"""

from __future__ import annotations

import json
import os
from typing import Dict

import numpy as np

from .. import limits
from ..errors import ModelFileError, WeightsError
from . import keras3, legacy_h5, saved_model, tf_checkpoint
from .hdf5 import h5py_module
from .isolate import read_isolated
from .safe_io import (HDF5_MAGIC, ZIP_MAGIC, Directory, file_path, open_model, open_source,
                      read_region)
from .source import Source
from .tensor_bundle import MAGIC as TABLE_MAGIC

__all__ = ["Source", "assign_weights", "file_path", "read_model_file"]

_STORES: Dict[str, type] = {keras3.Keras3Weights.kind: keras3.Keras3Weights,
                            legacy_h5.LegacyWeights.kind: legacy_h5.LegacyWeights,
                            tf_checkpoint.CheckpointWeights.kind:
                                tf_checkpoint.CheckpointWeights}
_CONFIG_NAMES = {"keras-zip": "config.json", "legacy-h5": "model_config",
                 "saved-model": "the model config"}


def _to_plain(src: Source) -> dict:
    """What crosses from the reader: plain data, the config as bytes."""
    config = None if src.config is None else np.frombuffer(src.config, np.uint8)
    return {"path": src.path, "format": src.format, "config": config,
            "keras_version": src.keras_version, "kind": src.weights.kind,
            "weights": src.weights.to_plain()}


def _from_plain(d: dict) -> Source:
    cls = _STORES[d["kind"]]
    config = d["config"]
    if config is not None:      # JSON text, parsed here within the bounds (limits)
        what = _CONFIG_NAMES.get(d["format"], "the config")
        config = limits.parse_json(np.asarray(config, np.uint8).tobytes(), ModelFileError,
                                   d["path"], what)
        if not isinstance(config, dict):
            raise ModelFileError(f"{d['path']}: {what} does not hold a model config object")
    return Source(d["path"], d["format"], config, d["keras_version"], cls(**d["weights"]))


def _read_folder(path: str, reader) -> Source:
    """``reader(Directory, path)`` on directory ``path`` in the forked reader; the child reads
    through its own duplicate of the directory's descriptor and closes what it opens."""
    top = Directory.open(path)
    try:
        size = _folder_size(top)

        def run(p, regions):
            folder = Directory(os.dup(top.fd), path)
            try:
                return _to_plain(reader(folder, p))
            finally:
                folder.close()

        return _from_plain(read_isolated(run, path, size, _no_regions))
    finally:
        top.close()


def _no_regions(offset, dtype, shape):
    raise ModelFileError("a directory reader handed back a file region")


def _folder_size(top: Directory) -> int:
    """Bytes of the regular files in a directory and its ``variables/`` (for the reader's
    deadline and memory allowance), without following links."""
    total = 0
    for sub in ("", "variables"):
        try:
            fd = top.fd if not sub else os.open(sub, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
                                                | getattr(os, "O_NOFOLLOW", 0), dir_fd=top.fd)
        except (OSError, NotImplementedError):
            continue
        try:
            with os.scandir(fd) as it:
                for n, entry in enumerate(it):
                    if n > 100_000:
                        break
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except (OSError, TypeError):
            pass
        finally:
            if sub:
                os.close(fd)
    return total


def _checkpoint_prefix(path: str) -> Source:
    folder, prefix = os.path.split(path)
    return _read_folder(folder or ".", lambda d, p: saved_model.read_checkpoint(d, prefix, path))


def read_model_file(source) -> Source:
    """Read a model or weights file (a path, bytes holding one, or a binary file object), a
    SavedModel or checkpoint directory, or a TF checkpoint by its prefix, in a child process
    (see isolate) so that a corrupt file can neither hang nor crash the caller."""
    if isinstance(source, (str, os.PathLike)) or (
            isinstance(source, bytes) and not source.startswith((ZIP_MAGIC, HDF5_MAGIC))):
        path = file_path(source)
        if os.path.isdir(path):
            return _read_folder(path, saved_model.read_directory)
        if not os.path.lexists(path) and os.path.isfile(path + ".index"):
            return _checkpoint_prefix(path)                  # save_weights("ckpt/w")
    fd, path = open_source(source)
    model_json = False
    try:
        head = os.pread(fd, 8, 0)
        model_json = head.lstrip()[:1] in (b"{", b"[") and _is_model_json(fd)
        reader = keras3.read_zip if head.startswith(ZIP_MAGIC) else \
            legacy_h5.read_h5 if head.startswith(HDF5_MAGIC) else None
        if reader is not None:
            h5py_module()         # imported once in this process, not in every child
            before = os.fstat(fd)
            plain = read_isolated(lambda p, regions: _to_plain(reader(fd, p, regions)), path,
                                  before.st_size,
                                  lambda offset, dtype, shape: read_region(fd, path, offset,
                                                                           dtype, shape))
            after = os.fstat(fd)
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
                raise ModelFileError(f"{path}: the file changed while it was being read")
            return _from_plain(plain)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if model_json:
        raise ModelFileError(f"{path}: is a model architecture JSON (model.to_json()), which "
                             f"holds no weights; use model_from_json(text) and then "
                             f"load_weights(weights_path) (command line: --architecture "
                             f"{path} with the weights file as MODEL)")
    if path.endswith(".index") and _has_table_magic(path):
        return _checkpoint_prefix(path[:-len(".index")])      # the checkpoint's index file
    raise ModelFileError(f"{path}: not a Keras model file (expected a .keras zip archive, an "
                         f"HDF5 file, a SavedModel directory or a TF checkpoint; the file "
                         f"starts with {head!r})")


def _has_table_magic(path: str) -> bool:
    try:
        fd = open_model(path)
    except ModelFileError:
        return False
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 8, size - 8) if size >= 48 else b""
    finally:
        os.close(fd)
    return len(tail) == 8 and int.from_bytes(tail, "little") == TABLE_MAGIC


def _is_model_json(fd: int) -> bool:
    """Whether the file is a Keras architecture JSON (``{"class_name": ..., "config": ...}``,
    as ``to_json`` writes), read within the config bounds; any other text is not."""
    size = os.fstat(fd).st_size
    if size > limits.MAX_CONFIG_BYTES:
        return False
    data = os.pread(fd, size, 0)
    try:
        limits.check_json_text(data)
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):         # UnicodeDecodeError is a ValueError
        return False
    return isinstance(obj, dict) and isinstance(obj.get("class_name"), str) and \
        isinstance(obj.get("config"), (dict, list))


def assign_weights(root, src: Source) -> None:
    """Give model ``root`` the weights of ``src``, then check that every layer that needs
    weights has them."""
    src.weights.assign(root, src.path)
    for node in root.weight_node().walk():
        layer = node.layer
        check = getattr(layer, "check_loaded", None)
        if check is not None:          # what is not a weight: lookup vocabularies
            check(src.path)
        if layer is None or not layer.slots:
            continue
        if any(c.layer is not None for _, cs in node.children for c in _items(cs)):
            continue                  # a model or wrapper: its parts are checked themselves
        if not layer._weights:
            raise WeightsError(f"{src.path}: no weights for layer {layer.name!r} "
                               f"({layer.class_name})")


def _items(child):
    return child if isinstance(child, list) else [child]
