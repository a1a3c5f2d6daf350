"""Reading HDF5 through h5py without ever leaving the file or trusting its metadata.

Every access goes through these helpers: ``get`` follows no link (soft or external, anywhere
on a path), ``read_dataset`` refuses storage outside the file (external raw data, virtual
datasets) and filters libhdf5 would load as plugins, and bounds the bytes datasets may declare
(``Budget``); attributes are read as text or names only. h5py is imported on first use, so
``import kerasrnn_infer`` stays fast.
"""

from __future__ import annotations

from typing import List, Optional, Union

import numpy as np

from .. import limits
from ..errors import KerasRnnInferError, ModelFileError
from .isolate import FileRegion

# HDF5 filters that libhdf5 (and h5py, for lzf) have built in. Any other filter id makes
# libhdf5 search HDF5_PLUGIN_PATH and load a shared library: code from outside the file.
BUILTIN_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit",
                   6: "scaleoffset", 32000: "lzf"}


def h5py_module():
    import h5py   # imported on first use: keeps `import kerasrnn_infer` fast
    return h5py


def open_h5(src, path):
    h5py = h5py_module()
    try:
        try:
            return h5py.File(src, "r", locking=False)
        except TypeError:     # h5py < 3.5 has no locking argument
            return h5py.File(src, "r")
    except Exception as e:   # h5py raises OSError, ValueError and others on corrupt files
        raise ModelFileError(f"{path}: not a readable HDF5 file: {e}") from None


class Budget:
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


def raw_attr(obj, name, path):
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


def as_text(v, path, what) -> str:
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


def text_attr(obj, name, path, what=None) -> Optional[str]:
    v = raw_attr(obj, name, path)
    if v is None:
        return None
    what = what or f"attribute {name!r}"
    if isinstance(v, list):         # split text attributes are joined
        return "".join(as_text(c, path, what) for c in v)
    return as_text(v, path, what)


def names_attr(obj, name, path) -> Optional[List[str]]:
    """A list-of-names attribute (``layer_names``, ``weight_names``), or None."""
    v = raw_attr(obj, name, path)
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
        names += [as_text(x, path, f"a name in attribute {name!r} of {obj.name}")
                  for x in items]
        if len(names) > limits.MAX_NAMES:
            raise ModelFileError(f"{path}: attribute {name!r} of {obj.name} lists more than "
                                 f"{limits.MAX_NAMES} names")
    return names


def check_storage(ds, path, name) -> None:
    """Refuse datasets whose bytes would come from outside the file: external storage (raw
    data in other files, FIFOs included), virtual datasets (mapped from other files) and
    filters libhdf5 would load as plugins (shared libraries)."""
    h5py = h5py_module()
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
        if fid not in BUILTIN_FILTERS:
            raise ModelFileError(f"{path}: {name} is compressed with HDF5 filter {fid}, which "
                                 f"libhdf5 would load as a plugin (code from outside the file); "
                                 f"supported filters: "
                                 f"{', '.join(sorted(BUILTIN_FILTERS.values()))}")


def read_dataset(ds, path, name, budget: "Budget") -> Union[np.ndarray, FileRegion]:
    """A dataset's array (checked: numeric, in the file, within the budget), or where it lies
    in the file (a FileRegion) when the budget says regions may be handed over."""
    h5py = h5py_module()
    if not isinstance(ds, h5py.Dataset):
        raise ModelFileError(f"{path}: {name} is not a dataset")
    try:
        kind, shape, itemsize = ds.dtype.kind, ds.shape, ds.dtype.itemsize
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name}: {e}") from None
    check_storage(ds, path, name)
    dtype_attr = raw_attr(ds, "dtype", path)
    bf16 = isinstance(dtype_attr, (str, bytes)) and as_text(dtype_attr, path, "dtype") == \
        "bfloat16" and itemsize == 2
    if kind not in "fiub" and not bf16:
        raise ModelFileError(f"{path}: {name} has non-numeric dtype {ds.dtype}")
    if shape is None:
        raise ModelFileError(f"{path}: {name} has no shape")
    budget.take(int(np.prod(shape, dtype=float)) * itemsize, path, name)
    if budget.raw_base is not None and not bf16:
        found = region(ds, budget.raw_base, budget.image_size, shape)
        if found is not None:
            return found
    try:
        arr = np.asarray(ds[()])
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read {name}: {e}") from None
    if bf16 and arr.dtype.kind != "f":    # Keras 3 bfloat16: the high half of a float32
        arr = (arr.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return arr


def region(ds, base: int, image_size: int, shape) -> Optional[FileRegion]:
    """The dataset as a FileRegion when its bytes lie raw in the HDF5 image: contiguous
    layout, no filters, no external storage, fully written, inside the image. None
    otherwise."""
    h5py = h5py_module()
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


def get(group, name, path):
    """``group[name]`` or None, following no link: a name with ``/`` is walked one part at a
    time, each checked, since HDF5 would otherwise follow a soft or external link met on the
    way (into another file)."""
    h5py = h5py_module()
    obj = group
    parts = [p for p in str(name).split("/") if p]
    if not parts:
        raise ModelFileError(f"{path}: empty HDF5 path {name!r} under {group.name}")
    for part in parts:
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


def keys(group, path) -> List[str]:
    try:
        return list(group.keys())
    except Exception as e:   # noqa: BLE001 - damaged group index
        raise ModelFileError(f"{path}: cannot list {group.name}: {e}") from None
