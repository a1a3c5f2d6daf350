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
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ._isolate import FileRegion, read_isolated
from .errors import ModelFileError, UnsafeModelError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_MAX_CONFIG_BYTES = 64 << 20


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
    config: Optional[dict]
    keras_version: Optional[str]
    weights: object                  # LegacyWeights | Keras3Weights


def _decode(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return [_decode(x) for x in v.tolist()]
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def _attr(obj, name):
    """An HDF5 attribute, joined from ``name0``, ``name1``... chunks when split."""
    if name in obj.attrs:
        return _decode(obj.attrs[name])
    chunks, k = [], 0
    while f"{name}{k}" in obj.attrs:
        chunks.extend(_decode(obj.attrs[f"{name}{k}"]))
        k += 1
    return chunks if k else None


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


def _read_dataset(ds, path, name, budget: "_Budget") -> np.ndarray:
    h5py = _h5py()
    if not isinstance(ds, h5py.Dataset):
        raise ModelFileError(f"{path}: {name} is not a dataset")
    try:
        kind, shape, itemsize = ds.dtype.kind, ds.shape, ds.dtype.itemsize
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name}: {e}") from None
    bf16 = _decode(ds.attrs.get("dtype")) == "bfloat16" and itemsize == 2
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
    file, or a stored zip member), for zipfile and h5py; reads never move ``fd``'s own
    position, so the descriptor can be shared."""

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

    def readinto(self, b):
        n = max(0, min(len(b), self._size - self._pos))
        if not n:
            return 0
        got = _pread_into(self.fd, memoryview(b)[:n], self._base + self._pos)
        self._pos += got
        return got


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
    try:
        link = group.get(name, getlink=True)
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name!r}: {e}") from None
    h5py = _h5py()
    if link is None:
        return None
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        raise ModelFileError(f"{path}: {group.name}/{name} is a link; links are not followed")
    try:
        return group[name]
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name!r}: {e}") from None


def read_legacy_weights(group, path, budget: _Budget) -> LegacyWeights:
    names = _attr(group, "layer_names")
    if names is None:
        raise ModelFileError(f"{path}: weights group has no 'layer_names' attribute")
    weights: Dict[str, List[np.ndarray]] = {}
    for lname in names:
        g = _get(group, lname, path)
        if g is None:
            raise ModelFileError(f"{path}: layer {lname!r} is listed but has no group")
        wnames = _attr(g, "weight_names") or []
        arrays = []
        for wn in wnames:
            ds = _get(g, wn, path)
            if ds is None:
                raise ModelFileError(f"{path}: weight {wn!r} of layer {lname!r} is missing")
            arrays.append(_read_dataset(ds, path, f"{lname}/{wn}", budget))
        weights[lname] = arrays
    version = _attr(group, "keras_version")
    return LegacyWeights(list(names), weights, version, _attr(group, "backend"))


def read_keras3_weights(f, path, budget: _Budget) -> Keras3Weights:
    h5py = _h5py()
    store = Keras3Weights()

    def visit(group, prefix):
        for name in list(group.keys()):
            obj = _get(group, name, path)
            if not isinstance(obj, h5py.Group):
                continue
            sub = f"{prefix}/{name}" if prefix else name
            if name == "vars":
                keys = sorted(obj.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
                store.groups[prefix] = [_read_dataset(_get(obj, k, path), path, f"{sub}/{k}",
                                                      budget) for k in keys]
            else:
                store.prefixes.add(sub)
                visit(obj, sub)

    visit(f, "")
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


def _json(data: bytes, path: str, what: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{path}: {what} is not valid JSON: {e}") from None


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
        cfg_bytes = _zip_member(zf, "config.json", path, _MAX_CONFIG_BYTES)
        if cfg_bytes is None:
            raise ModelFileError(f"{path}: .keras archive has no config.json")
        config = _json(cfg_bytes, path, "config.json")
        meta_bytes = _zip_member(zf, "metadata.json", path, 1 << 20)
        meta = _json(meta_bytes, path, "metadata.json") if meta_bytes else {}
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        name = "model.weights.h5"
        info = zf.NameToInfo.get(name)
        if info is None:
            if "model.weights.npz" in zf.namelist():
                raise UnsafeModelError(
                    f"{path}: weights are stored as model.weights.npz, whose arrays Keras "
                    f"pickles; kerasrnn_infer never unpickles. Re-save the model with the "
                    f"default weights_format='h5'")
            raise ModelFileError(f"{path}: .keras archive has no model.weights.h5")
        base = _stored_offset(fd, info) if regions else None
        if base is not None:
            # stored (Keras's default): HDF5 reads its metadata straight from the archive and
            # the arrays stay in place as FileRegions; the checksum is still verified
            _check_stored(fd, path, name, base, info, _weights_limit(file_size))
            src, size = _Window(fd, base, info.file_size), info.file_size
        else:
            h5 = _zip_member(zf, name, path, _weights_limit(file_size))
            src, size = io.BytesIO(h5), len(h5)
    try:
        with _open_h5(src, path) as f:
            weights = read_keras3_weights(f, path, _Budget(size, base))
    finally:
        src.close()
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: config.json does not hold a model config object")
    return ModelSource(path, "keras-zip", config, version, weights)


def read_h5(fd: int, path: str, regions: bool = False) -> ModelSource:
    size = os.fstat(fd).st_size
    f = _open_h5(_Window(fd, 0, size), path)
    budget = _Budget(size, 0 if regions else None)
    with f:
        model_config = _attr(f, "model_config")
        version = _attr(f, "keras_version")
        if model_config is not None:
            config = _json(model_config.encode() if isinstance(model_config, str)
                           else model_config, path, "model_config")
            group = _get(f, "model_weights", path)
            if group is None:
                if "layer_names" not in f.attrs:
                    raise ModelFileError(f"{path}: legacy HDF5 model has no model_weights group")
                group = f
            weights = read_legacy_weights(group, path, budget)
            weights.backend = weights.backend or _attr(f, "backend")
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


def _to_plain(src: ModelSource) -> dict:
    kind = "legacy" if isinstance(src.weights, LegacyWeights) else "keras3"
    return {"path": src.path, "format": src.format, "config": src.config,
            "keras_version": src.keras_version, "kind": kind, "weights": vars(src.weights)}


def _from_plain(d: dict) -> ModelSource:
    cls = LegacyWeights if d["kind"] == "legacy" else Keras3Weights
    return ModelSource(d["path"], d["format"], d["config"], d["keras_version"],
                       cls(**d["weights"]))


def read_model_file(path) -> ModelSource:
    """Read a model or weights file, in a child process (see _isolate) so that a corrupt
    file can neither hang nor crash the caller."""
    path = os.fspath(path)
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
