"""Reading Keras model files. The only module that touches zip archives and HDF5.

Everything is read into memory at load time and the file is closed: a loaded model holds
NumPy arrays only. Formats are detected by content, never by extension.

- Keras 3 ``.keras``: a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``
  (a tree addressed by class-name paths, KERAS_FACTS A1).
- Legacy HDF5 (Keras 1/2, tf.keras, tf-keras, Keras 3 ``save("x.h5")``): ``model_config`` attr
  and a ``model_weights`` group listing ``layer_names`` and per-layer ``weight_names`` (A3).
- Weights-only: Keras 3 ``.weights.h5`` (the tree at the root) or legacy ``save_weights``
  (``layer_names`` at the root).
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from . import limits
from ._isolate import FileRegion, read_isolated
from .errors import KerasRnnInferError, ModelFileError, UnsafeModelError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# HDF5 filters that libhdf5 (and h5py, for lzf) have built in. Any other filter id makes
# libhdf5 search HDF5_PLUGIN_PATH and load a shared library: code from outside the file.
_BUILTIN_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit",
                    6: "scaleoffset", 32000: "lzf"}


@dataclass
class LegacyWeights:
    """Per-layer weight lists of a legacy HDF5 file, in ``weight_names`` order."""

    layer_names: List[str]
    weights: Dict[str, List[np.ndarray]]
    keras_version: Optional[str]
    backend: Optional[str]


@dataclass
class Keras3Weights:
    """``{group path: [vars/0, vars/1, ...]}`` of a Keras 3 weights tree."""

    groups: Dict[str, List[np.ndarray]] = field(default_factory=dict)
    prefixes: set = field(default_factory=set)

    def has(self, path: str) -> bool:
        return path in self.groups or path in self.prefixes


@dataclass
class ModelSource:
    path: str
    format: str                      # "keras-zip", "legacy-h5", "legacy-weights", "keras3-weights"
    config: Optional[dict]           # the parsed config (JSON text while it crosses from the reader)
    keras_version: Optional[str]
    weights: object                  # LegacyWeights | Keras3Weights


def _raw_attr(obj, name, path):
    """An HDF5 attribute as h5py reads it, or None; chunks ``name0``, ``name1``... of a split
    attribute come back as a list."""
    try:
        attrs = obj.attrs
        if name in attrs:
            return attrs[name]
        chunks = []
        while f"{name}{len(chunks)}" in attrs:
            if len(chunks) >= limits.MAX_NAMES:
                raise ModelFileError(f"{path}: attribute {name!r} of {obj.name} is split into "
                                     f"more than {limits.MAX_NAMES} parts")
            chunks.append(attrs[f"{name}{len(chunks)}"])
        return chunks if chunks else None
    except KerasRnnInferError:
        raise
    except Exception as e:   # noqa: BLE001 - h5py raises many types on damaged attributes
        raise ModelFileError(f"{path}: attribute {name!r} of {obj.name} cannot be read: "
                             f"{type(e).__name__}: {e}") from None


def _as_text(v, path, what) -> str:
    if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "SUOV":
        v = v.reshape(-1)[0]
    if isinstance(v, np.void):
        v = v.tobytes()
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelFileError(f"{path}: {what} is not UTF-8 text: {e}") from None
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ModelFileError(f"{path}: {what} is not valid text: {e}") from None
        return v
    held = (f"an array of {v.dtype} {v.shape}" if isinstance(v, np.ndarray) else
            f"a {type(v).__name__} ({str(v)[:80]})")
    raise ModelFileError(f"{path}: {what} must be text, but holds {held}")


def _text_attr(obj, name, path, what=None) -> Optional[str]:
    v = _raw_attr(obj, name, path)
    if v is None:
        return None
    what = what or f"attribute {name!r}"
    if isinstance(v, list):         # split text attributes are joined
        return "".join(_as_text(c, path, what) for c in v)
    return _as_text(v, path, what)


def _names_attr(obj, name, path) -> Optional[List[str]]:
    """A list-of-names attribute (``layer_names``, ``weight_names``), or None."""
    v = _raw_attr(obj, name, path)
    if v is None:
        return None
    parts = v if isinstance(v, list) else [v]
    names: List[str] = []
    for part in parts:
        if isinstance(part, np.ndarray):
            if part.dtype.kind not in "SUO" and part.size:
                raise ModelFileError(f"{path}: attribute {name!r} of {obj.name} must hold names, "
                                     f"but holds {part.dtype} values")
            items = part.reshape(-1).tolist()
        else:
            items = [part]
        names += [_as_text(x, path, f"a name in attribute {name!r} of {obj.name}")
                  for x in items]
        if len(names) > limits.MAX_NAMES:
            raise ModelFileError(f"{path}: attribute {name!r} of {obj.name} lists more than "
                                 f"{limits.MAX_NAMES} names")
    return names


def _open_model(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``. Everything about the file is
    read through it, in this process and in the reader child, so a file replaced meanwhile
    (say by an atomic rename) is never half one file and half the other. Pipes and devices
    are refused without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) |
                     getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        fd = None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode if fd is not None else stat.S_IFDIR
    if stat.S_ISREG(mode):
        return fd
    if fd is not None:
        os.close(fd)
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"{path}: is a directory, expected a .keras or .h5 file "
                             f"(a SavedModel directory needs TensorFlow)")
    raise ModelFileError(f"{path}: is not a regular file (a pipe or device); "
                         f"expected a .keras or .h5 file")


def _pread_into(fd: int, buf, offset: int) -> int:
    """Read into ``buf`` (a writable byte buffer) from ``offset`` of ``fd``, without moving
    the descriptor's position; the number of bytes read (short at the end of the file)."""
    view, got = memoryview(buf).cast("B"), 0
    while got < len(view):
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[got:]], offset + got)
        else:
            data = os.pread(fd, len(view) - got, offset + got)
            n = len(data)
            view[got:got + n] = data
        if n <= 0:
            break
        got += n
    return got


def _h5py():
    import h5py   # imported on first use: keeps `import kerasrnn_infer` fast
    return h5py


def _open_h5(src, path):
    h5py = _h5py()
    try:
        try:
            return h5py.File(src, "r", locking=False)
        except TypeError:     # h5py < 3.5 has no locking argument
            return h5py.File(src, "r")
    except Exception as e:   # h5py raises OSError, ValueError and others on corrupt files
        raise ModelFileError(f"{path}: not a readable HDF5 file: {e}") from None


class _Budget:
    """Bytes the datasets of one file may declare in total: generous (50 times the file),
    but bounded, so a corrupt or hostile header cannot make us allocate without limit."""

    def __init__(self, file_size: int, raw_base: Optional[int] = None):
        self.left = max(64 << 20, 50 * file_size)
        # byte offset of the HDF5 image in the file, when datasets may be handed over as
        # FileRegions for the parent process to read (see _isolate); regions must lie
        # within the image's file_size bytes
        self.raw_base = raw_base
        self.image_size = file_size

    def take(self, nbytes: int, path: str, name: str) -> None:
        if nbytes > self.left:
            raise ModelFileError(f"{path}: {name} declares {nbytes} bytes, more than the file "
                                 f"can hold; the file is corrupt")
        self.left -= nbytes


def _check_storage(ds, path, name) -> None:
    """Refuse datasets whose bytes would come from outside the file: external storage (raw
    data in other files, FIFOs included), virtual datasets (mapped from other files) and
    filters libhdf5 would load as plugins (shared libraries)."""
    h5py = _h5py()
    try:
        plist = ds.id.get_create_plist()
        external = plist.get_external_count()
        layout = plist.get_layout()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    except Exception as e:   # noqa: BLE001 - damaged dataset headers
        raise ModelFileError(f"{path}: cannot read the storage of {name}: {e}") from None
    if external:
        raise ModelFileError(f"{path}: {name} uses external storage (its bytes live in other "
                             f"files); kerasrnn_infer reads nothing outside the model file")
    if layout == getattr(h5py.h5d, "VIRTUAL", 3):
        raise ModelFileError(f"{path}: {name} is a virtual dataset (mapped from other files); "
                             f"kerasrnn_infer reads nothing outside the model file")
    for fid in filters:
        if fid not in _BUILTIN_FILTERS:
            raise ModelFileError(f"{path}: {name} is compressed with HDF5 filter {fid}, which "
                                 f"libhdf5 would load as a plugin (code from outside the file); "
                                 f"supported filters: {', '.join(sorted(_BUILTIN_FILTERS.values()))}")


def _read_dataset(ds, path, name, budget: "_Budget") -> np.ndarray:
    h5py = _h5py()
    if not isinstance(ds, h5py.Dataset):
        raise ModelFileError(f"{path}: {name} is not a dataset")
    try:
        kind, shape, itemsize = ds.dtype.kind, ds.shape, ds.dtype.itemsize
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name}: {e}") from None
    _check_storage(ds, path, name)
    dtype_attr = _raw_attr(ds, "dtype", path)
    bf16 = isinstance(dtype_attr, (str, bytes)) and _as_text(dtype_attr, path, "dtype") == \
        "bfloat16" and itemsize == 2
    if kind not in "fiub" and not bf16:
        raise ModelFileError(f"{path}: {name} has non-numeric dtype {ds.dtype}")
    if shape is None:
        raise ModelFileError(f"{path}: {name} has no shape")
    budget.take(int(np.prod(shape, dtype=float)) * itemsize, path, name)
    if budget.raw_base is not None and not bf16:
        region = _region(ds, budget.raw_base, budget.image_size, shape)
        if region is not None:
            return region
    try:
        arr = np.asarray(ds[()])
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name}: {e}") from None
    if bf16 and arr.dtype.kind != "f":    # Keras 3 bfloat16: the high half of a float32
        arr = (arr.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return arr


def _region(ds, base: int, image_size: int, shape) -> Optional[FileRegion]:
    """The dataset as a FileRegion when its bytes lie raw in the HDF5 image: contiguous
    layout, no filters, no external storage, fully written, inside the image. None
    otherwise."""
    h5py = _h5py()
    try:
        plist = ds.id.get_create_plist()
        if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_nfilters() or \
                plist.get_external_count() or ds.dtype.fields is not None:
            return None
        offset = ds.id.get_offset()
        nbytes = int(np.prod(shape, dtype=np.int64)) * ds.dtype.itemsize
        if offset is None or nbytes == 0 or ds.id.get_storage_size() != nbytes or \
                offset + nbytes > image_size:
            return None
    except Exception:   # noqa: BLE001 - any doubt: read the dataset the ordinary way
        return None
    return FileRegion(base + offset, ds.dtype.str, shape)


def _stored_offset(fd: int, info) -> Optional[int]:
    """File offset of an uncompressed, unencrypted zip member's bytes, or None."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
        return None
    head = bytearray(30)
    if _pread_into(fd, head, info.header_offset) != 30 or head[:4] != _ZIP_MAGIC:
        return None
    return info.header_offset + 30 + int.from_bytes(head[26:28], "little") + \
        int.from_bytes(head[28:30], "little")


class _Window(io.RawIOBase):
    """Read-only file object over ``size`` bytes at ``base`` of descriptor ``fd`` (a whole
    file, or a stored zip member), for zipfile; reads never move ``fd``'s own position, so
    the descriptor can be shared."""

    def __init__(self, fd: int, base: int, size: int):
        super().__init__()
        self.fd, self._base, self._size, self._pos = fd, base, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, start + offset)
        return self._pos

    def _fill(self, view, offset: int) -> int:
        return _pread_into(self.fd, view, self._base + offset)

    def readinto(self, b):
        n = max(0, min(len(b), self._size - self._pos))
        if not n:
            return 0
        got = self._fill(memoryview(b)[:n], self._pos)
        self._pos += got
        return got


class _H5Window(_Window):
    """The same for libhdf5 (through h5py's file-object driver), over a descriptor or over
    bytes in memory. Reads past the end give zeros rather than a short read: libhdf5 reports
    the truncation from the size (seek to the end), and never sees bytes a short read left
    unset in its buffers, which differ from one process to the next."""

    def __init__(self, fd: int, base: int, size: int, data: Optional[bytes] = None):
        super().__init__(fd, base, size)
        self._data = data

    def _fill(self, view, offset: int) -> int:
        if self._data is None:
            return super()._fill(view, offset)
        chunk = self._data[offset:offset + len(view)]
        view[:len(chunk)] = chunk
        return len(chunk)

    def readinto(self, b):
        view = memoryview(b).cast("B")
        got = super().readinto(view)
        view[got:] = bytes(len(view) - got)
        self._pos += len(view) - got
        return len(view)



def _check_stored(fd: int, path: str, name: str, base: int, info, limit: int) -> None:
    """Size and CRC-32 of a stored zip member, streamed (what zipfile checks on a read)."""
    if info.file_size > limit:
        raise ModelFileError(f"{path}: archive member {name} declares {info.file_size} bytes, "
                             f"more than the {limit} allowed")
    crc, done = 0, 0
    buf = memoryview(bytearray(1 << 20))
    while done < info.file_size:
        got = _pread_into(fd, buf[:min(info.file_size - done, len(buf))], base + done)
        if not got:
            raise ModelFileError(f"{path}: archive member {name} is truncated")
        crc = zlib.crc32(buf[:got], crc)
        done += got
    if crc != info.CRC:
        raise ModelFileError(f"{path}: archive member {name} is corrupt (CRC-32 mismatch)")


def _get(group, name, path):
    """``group[name]`` or None, following no link: a name with ``/`` is walked one part at a
    time, each checked, since HDF5 would otherwise follow a soft or external link met on the
    way (into another file)."""
    h5py = _h5py()
    obj = group
    parts = [p for p in str(name).split("/") if p]
    if not parts:
        raise ModelFileError(f"{path}: empty HDF5 path {name!r} under {group.name}")
    for k, part in enumerate(parts):
        if not isinstance(obj, h5py.Group):
            raise ModelFileError(f"{path}: {obj.name} is not a group, so {name!r} cannot be "
                                 f"under it")
        try:
            link = obj.get(part, getlink=True)
        except Exception as e:  # noqa: BLE001 - damaged link table
            raise ModelFileError(f"{path}: cannot read {name!r}: {e}") from None
        if link is None:
            return None
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            where = "/".join([obj.name.rstrip("/"), part])
            raise ModelFileError(f"{path}: {where} is a link; links are not followed")
        try:
            obj = obj[part]
        except Exception as e:  # noqa: BLE001
            raise ModelFileError(f"{path}: cannot read {name!r}: {e}") from None
    return obj


def read_legacy_weights(group, path, budget: _Budget) -> LegacyWeights:
    names = _names_attr(group, "layer_names", path)
    if names is None:
        raise ModelFileError(f"{path}: weights group has no 'layer_names' attribute")
    weights: Dict[str, List[np.ndarray]] = {}
    for lname in names:
        g = _get(group, lname, path)
        if g is None:
            raise ModelFileError(f"{path}: layer {lname!r} is listed but has no group")
        wnames = _names_attr(g, "weight_names", path) or []
        arrays = []
        for wn in wnames:
            ds = _get(g, wn, path)
            if ds is None:
                raise ModelFileError(f"{path}: weight {wn!r} of layer {lname!r} is missing")
            arrays.append(_read_dataset(ds, path, f"{lname}/{wn}", budget))
        weights[lname] = arrays
    version = _text_attr(group, "keras_version", path)
    return LegacyWeights(list(names), weights, version, _text_attr(group, "backend", path))


def _keys(group, path) -> List[str]:
    try:
        return list(group.keys())
    except Exception as e:   # noqa: BLE001 - damaged group index
        raise ModelFileError(f"{path}: cannot list {group.name}: {e}") from None


def read_keras3_weights(f, path, budget: _Budget) -> Keras3Weights:
    """The ``vars`` of every group, walked without recursion. HDF5 groups are a graph, not a
    tree (a group may be linked from several places, its own descendants included): a group
    met twice is refused, and the walk is bounded in depth and size (limits.MAX_H5_*)."""
    h5py = _h5py()
    store = Keras3Weights()
    seen = {f.id}
    stack = [(f, "", 0)]
    visited = 0
    while stack:
        group, prefix, depth = stack.pop()
        for name in _keys(group, path):
            visited += 1
            if visited > limits.MAX_H5_OBJECTS:
                raise ModelFileError(f"{path}: holds more than {limits.MAX_H5_OBJECTS} HDF5 "
                                     f"objects; the file is corrupt or hostile")
            obj = _get(group, name, path)
            if not isinstance(obj, h5py.Group):
                continue
            sub = f"{prefix}/{name}" if prefix else name
            if obj.id in seen:
                raise ModelFileError(f"{path}: group {sub} is linked from more than one place "
                                     f"(a cycle or a shared group); Keras never writes such files")
            seen.add(obj.id)
            if name == "vars":
                keys = sorted(_keys(obj, path),
                              key=lambda k: int(k) if k.isdigit() and len(k) < 10 else 1 << 30)
                store.groups[prefix] = [_read_dataset(_get(obj, k, path), path, f"{sub}/{k}",
                                                      budget) for k in keys]
            else:
                if depth >= limits.MAX_H5_DEPTH:
                    raise ModelFileError(f"{path}: groups nest deeper than "
                                         f"{limits.MAX_H5_DEPTH} levels at {sub}")
                store.prefixes.add(sub)
                stack.append((obj, sub, depth + 1))
    return store


def _zip_member(zf, name, path, limit):
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise ModelFileError(f"{path}: archive member {name} declares {info.file_size} bytes, "
                             f"more than the {limit} allowed")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise ModelFileError(f"{path}: archive member {name} cannot be read: {e}") from None
    except Exception as e:  # zlib.error and friends on corrupt data
        raise ModelFileError(f"{path}: archive member {name} is corrupt: {e}") from None
    if len(data) > limit:
        raise ModelFileError(f"{path}: archive member {name} expands beyond {limit} bytes")
    return data


def _config_text(data: bytes, path: str, what: str) -> bytes:
    """A config's JSON text, checked against the bounds (limits) where it is read; it is
    parsed later, by the caller's process, so that only bytes cross from the reader."""
    try:
        limits.check_json_text(data)
    except limits.JSONBoundError as e:
        raise ModelFileError(f"{path}: {what} {e}") from None
    return data


def _weights_limit(size: int) -> int:
    """Bound on decompressed weights: generous, but never unbounded (zip bombs)."""
    return max(64 << 20, 200 * size)


def read_keras_zip(fd: int, path: str, regions: bool = False) -> ModelSource:
    file_size = os.fstat(fd).st_size
    try:
        zf = zipfile.ZipFile(io.BufferedReader(_Window(fd, 0, file_size)))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable .keras archive: {e}") from None
    with zf:
        cfg_bytes = _zip_member(zf, "config.json", path, limits.MAX_CONFIG_BYTES)
        if cfg_bytes is None:
            raise ModelFileError(f"{path}: .keras archive has no config.json")
        config = _config_text(cfg_bytes, path, "config.json")
        meta_bytes = _zip_member(zf, "metadata.json", path, 1 << 20)
        meta = limits.parse_json(meta_bytes, ModelFileError, path, "metadata.json") \
            if meta_bytes else {}
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        if version is not None and not isinstance(version, str):
            raise ModelFileError(f"{path}: metadata.json keras_version={version!r:.80} is not "
                                 f"a version string")
        name = "model.weights.h5"
        info = zf.NameToInfo.get(name)
        if info is None:
            if "model.weights.npz" in zf.namelist():
                raise UnsafeModelError(
                    f"{path}: weights are stored as model.weights.npz, whose arrays Keras "
                    f"pickles; kerasrnn_infer never unpickles. Re-save the model with the "
                    f"default weights_format='h5'")
            raise ModelFileError(f"{path}: .keras archive has no model.weights.h5")
        base = _stored_offset(fd, info)
        if base is not None:
            # stored (Keras's default): HDF5 reads its metadata straight from the archive (and
            # in the forked reader the arrays stay in place as FileRegions); the checksum is
            # still verified
            _check_stored(fd, path, name, base, info, _weights_limit(file_size))
            src, size = _H5Window(fd, base, info.file_size), info.file_size
        else:
            h5 = _zip_member(zf, name, path, _weights_limit(file_size))
            src, size = _H5Window(-1, 0, len(h5), h5), len(h5)
    try:
        with _open_h5(src, path) as f:
            weights = read_keras3_weights(f, path,
                                          _Budget(size, base if regions else None))
    finally:
        src.close()
    return ModelSource(path, "keras-zip", config, version, weights)


def read_h5(fd: int, path: str, regions: bool = False) -> ModelSource:
    size = os.fstat(fd).st_size
    f = _open_h5(_H5Window(fd, 0, size), path)
    budget = _Budget(size, 0 if regions else None)
    with f:
        model_config = _text_attr(f, "model_config", path, "model_config")
        version = _text_attr(f, "keras_version", path)
        if model_config is not None:
            config = _config_text(model_config.encode("utf-8"), path, "model_config")
            group = _get(f, "model_weights", path)
            if group is None:
                if "layer_names" not in f.attrs:
                    raise ModelFileError(f"{path}: legacy HDF5 model has no model_weights group")
                group = f
            weights = read_legacy_weights(group, path, budget)
            weights.backend = weights.backend or _text_attr(f, "backend", path)
            if weights.keras_version is None:
                # Keras 1 wrote keras_version on the file only, not on the weights group
                weights.keras_version = "1" if version is None else version
            return ModelSource(path, "legacy-h5", config, version or weights.keras_version,
                               weights)
        if "layer_names" in f.attrs or any(k.startswith("layer_names") for k in f.attrs):
            weights = read_legacy_weights(f, path, budget)
            if weights.keras_version is None:
                weights.keras_version = "1"
            return ModelSource(path, "legacy-weights", None, weights.keras_version, weights)
        group = _get(f, "model_weights", path)
        if group is not None and "layer_names" in group.attrs:
            weights = read_legacy_weights(group, path, budget)
            return ModelSource(path, "legacy-weights", None, weights.keras_version, weights)
        if any(k in f for k in ("layers", "_layer_checkpoint_dependencies", "vars")):
            return ModelSource(path, "keras3-weights", None, None,
                               read_keras3_weights(f, path, budget))
        raise ModelFileError(f"{path}: HDF5 file holds neither a Keras model "
                             f"(model_config) nor Keras weights (layer_names or layers/)")


_CONFIG_NAMES = {"keras-zip": "config.json", "legacy-h5": "model_config"}


def _to_plain(src: ModelSource) -> dict:
    kind = "legacy" if isinstance(src.weights, LegacyWeights) else "keras3"
    config = None if src.config is None else np.frombuffer(src.config, np.uint8)
    return {"path": src.path, "format": src.format, "config": config,
            "keras_version": src.keras_version, "kind": kind, "weights": vars(src.weights)}


def _from_plain(d: dict) -> ModelSource:
    cls = LegacyWeights if d["kind"] == "legacy" else Keras3Weights
    config = d["config"]
    if config is not None:      # JSON text, parsed here within the bounds (limits)
        what = _CONFIG_NAMES.get(d["format"], "the config")
        config = limits.parse_json(np.asarray(config, np.uint8).tobytes(), ModelFileError,
                                   d["path"], what)
        if not isinstance(config, dict):
            raise ModelFileError(f"{d['path']}: {what} does not hold a model config object")
    return ModelSource(d["path"], d["format"], config, d["keras_version"], cls(**d["weights"]))


def file_path(path) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, or a ModelFileError saying why not."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ModelFileError(f"expected a file path (str, bytes or os.PathLike), received "
                             f"{type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\0" in path:
        raise ModelFileError(f"{path!r}: a file path cannot contain a NUL character")
    return path


def read_model_file(path) -> ModelSource:
    """Read a model or weights file, in a child process (see _isolate) so that a corrupt
    file can neither hang nor crash the caller."""
    path = file_path(path)
    fd = _open_model(path)
    try:
        head = os.pread(fd, 8, 0)
        reader = read_keras_zip if head.startswith(_ZIP_MAGIC) else \
            read_h5 if head.startswith(_HDF5_MAGIC) else None
        if reader is not None:
            _h5py()         # imported once in this process, not in every child
            before = os.fstat(fd)
            plain = read_isolated(lambda p, regions: _to_plain(reader(fd, p, regions)), path,
                                  before.st_size,
                                  lambda offset, dtype, shape: _read_region(fd, path, offset,
                                                                            dtype, shape))
            after = os.fstat(fd)
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
                raise ModelFileError(f"{path}: the file changed while it was being read")
            return _from_plain(plain)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if head.lstrip()[:1] in (b"{", b"["):
        raise ModelFileError(f"{path}: is a JSON file; use model_from_json(text) and then "
                             f"load_weights(weights_path)")
    raise ModelFileError(f"{path}: not a Keras model file (expected a .keras zip archive or an "
                         f"HDF5 file; the file starts with {head!r})")


def _read_region(fd: int, path: str, offset: int, dtype: str, shape) -> np.ndarray:
    """A FileRegion's array, read by the parent from the descriptor the child read."""
    try:
        arr = np.empty(shape, np.dtype(dtype))
    except (TypeError, ValueError, MemoryError) as e:
        raise ModelFileError(f"{path}: bad array {dtype} {shape}: {e}") from None
    if arr.nbytes and _pread_into(fd, arr, offset) != arr.nbytes:
        raise ModelFileError(f"{path}: an array at byte {offset} runs past the end of the "
                             f"file")
    return arr
