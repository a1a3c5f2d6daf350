"""TensorFlow's TensorBundle: the ``<prefix>.index`` + ``<prefix>.data-NNNNN-of-NNNNN`` pair
that holds the variables of a SavedModel (``variables/variables``) and of a TF-format
checkpoint (``save_weights("ckpt/w")``) (KERAS_FACTS A5; TF ``core/util/tensor_bundle``).

The index is a LevelDB-format table (TF ``core/lib/io/table*``, ``format.cc``): a 48-byte
footer (two block handles, then the magic number), an index block whose values are the
handles of the data blocks, and data blocks of prefix-compressed entries followed by a
restart array. Each block is followed by a compression byte and a masked CRC-32C, which is
verified, as TensorFlow does. The entry with the empty key is a ``BundleHeaderProto``; every
other key names a tensor with a ``BundleEntryProto`` (dtype, shape, shard, offset, size,
masked CRC-32C of its bytes). Data shards are raw tensors; each tensor read is checked
against its CRC, as TensorFlow checks it on restore, which also catches an index paired with
another checkpoint's data.

Refused, with a message saying why: compressed blocks (TensorFlow writes bundle indexes
uncompressed), partitioned (sliced) variables, dtypes that are not plain numbers (except the
string tensor holding the object graph), index formats newer than version 1. Everything the
files declare is checked against the files: offsets and sizes against the actual file sizes,
keys sorted and unique, block ranges disjoint, the bytes keys expand to bounded, and the
tensors read from a shard never more than the shard holds (entries that overlap cannot make
a small file cost more reading than its size).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import ModelFileError
from . import crc32c
from .protobuf import parse, read_varint
from .safe_io import Directory, pread_into

MAGIC = 0xDB4775248B80FB57
FOOTER = 48
#: Bytes of an index file (a few hundred bytes per variable: millions of variables).
MAX_INDEX_BYTES = 256 << 20
#: Entries of one index; a key's length; the bytes all keys may expand to (prefix
#: compression lets a tiny block describe long keys, so their total is bounded).
MAX_ENTRIES = 2_000_000
MAX_KEY = 1 << 16
MAX_SHARDS = 1024

# TF DataType (types.proto) -> NumPy dtype of the stored bytes
DTYPES = {1: "f4", 2: "f8", 3: "i4", 4: "u1", 5: "i2", 6: "i1", 9: "i8", 10: "?", 14: "bf16",
          17: "u2", 19: "f2", 22: "u4", 23: "u8"}
DT_STRING = 7
_DT_NAMES = {7: "string", 8: "complex64", 18: "complex128", 20: "resource", 21: "variant"}

_VERSION = {1: ("producer", "int32"), 2: ("min_consumer", "int32"),
            3: ("bad_consumers[]", "int32")}
HEADER = {1: ("num_shards", "int32"), 2: ("endianness", "enum"), 3: ("version", _VERSION)}
_DIM = {1: ("size", "int"), 2: ("name", "string")}
SHAPE = {2: ("dim[]", _DIM), 3: ("unknown_rank", "bool")}
ENTRY = {1: ("dtype", "enum"), 2: ("shape", SHAPE), 3: ("shard_id", "int32"),
         4: ("offset", "int"), 5: ("size", "int"), 6: ("crc32c", "fixed32"),
         7: ("slices[]", "span")}


def _u32(buf, pos: int) -> int:
    return int.from_bytes(buf[pos:pos + 4], "little")


def _handle(buf, pos: int, end: int, where: str) -> Tuple[int, int, int]:
    offset, pos = read_varint(buf, pos, end, where)
    size, pos = read_varint(buf, pos, end, where)
    return offset, size, pos


def _varint32(buf, pos: int, end: int, where: str) -> Tuple[int, int]:
    v, pos = read_varint(buf, pos, end, where)
    if v >> 32:
        raise ModelFileError(f"{where}: a block entry length does not fit 32 bits")
    return v, pos


class _Keys:
    """Bounds on the keys one index expands to (see MAX_KEY, MAX_ENTRIES)."""

    def __init__(self, file_size: int):
        self.left = (64 << 20) + 8 * file_size
        self.count = 0


def _block(buf, offset: int, size: int, where: str, what: str) -> Tuple[int, int]:
    """(start, end) of a block's contents in ``buf``, its trailer checked: in the file, not
    compressed, CRC-32C as stored."""
    if offset + size + 5 > len(buf) - FOOTER:
        raise ModelFileError(f"{where}: the {what} block (bytes {offset}-{offset + size}) lies "
                             f"outside the index file")
    kind = buf[offset + size]
    stored = _u32(buf, offset + size + 1)
    if crc32c.value(memoryview(buf)[offset:offset + size + 1]) != crc32c.unmask(stored):
        raise ModelFileError(f"{where}: the {what} block is corrupt (CRC-32C mismatch)")
    if kind != 0:
        names = {1: "Snappy", 2: "Zlib", 3: "LZ4", 4: "ZSTD"}
        raise ModelFileError(f"{where}: the {what} block is compressed "
                             f"({names.get(kind, f'compression type {kind}')}); TensorFlow "
                             f"writes checkpoint indexes uncompressed, so kerasrnn_infer reads "
                             f"only those")
    return offset, offset + size


def _entries(buf, start: int, end: int, where: str, keys: _Keys):
    """(key, (value start, value end)) of each entry of the block ``buf[start:end]``."""
    if end - start < 4:
        raise ModelFileError(f"{where}: a block is too short to hold its restart count")
    restarts = _u32(buf, end - 4)
    if restarts == 0 or restarts > (end - start - 4) // 4:
        raise ModelFileError(f"{where}: a block declares {restarts} restart points, which do "
                             f"not fit it")
    limit = end - 4 - 4 * restarts
    points = {_u32(buf, limit + 4 * i) for i in range(restarts)}
    if 0 not in points or any(p and p >= limit - start for p in points):
        raise ModelFileError(f"{where}: a block's restart points lie outside its entries")
    pos, key = start, b""
    while pos < limit:
        here = pos - start
        shared, pos = _varint32(buf, pos, limit, where)
        own, pos = _varint32(buf, pos, limit, where)
        vlen, pos = _varint32(buf, pos, limit, where)
        if shared > len(key) or (here in points and shared):
            raise ModelFileError(f"{where}: a block entry shares more of the previous key "
                                 f"than it has")
        if own + vlen > limit - pos:
            raise ModelFileError(f"{where}: a block entry runs past the end of its block")
        if shared + own > MAX_KEY:
            raise ModelFileError(f"{where}: a key is longer than {MAX_KEY} bytes")
        keys.left -= shared + own
        keys.count += 1
        if keys.left < 0 or keys.count > MAX_ENTRIES:
            raise ModelFileError(f"{where}: its keys expand beyond the bounds of an index "
                                 f"({MAX_ENTRIES} entries); the file is corrupt or hostile")
        key = key[:shared] + bytes(buf[pos:pos + own])
        pos += own
        yield key, (pos, pos + vlen)
        pos += vlen


def read_index(data: bytes, where: str) -> Dict[bytes, Tuple[int, int]]:
    """``{key: (value start, value end)}`` of a TensorBundle index held in ``data``."""
    if len(data) < FOOTER:
        raise ModelFileError(f"{where}: is {len(data)} bytes, too short for a TensorFlow "
                             f"checkpoint index")
    foot = len(data) - FOOTER
    magic = _u32(data, foot + 40) | (_u32(data, foot + 44) << 32)
    if magic != MAGIC:
        raise ModelFileError(f"{where}: not a TensorFlow checkpoint index (no table magic "
                             f"number at its end)")
    _, _, pos = _handle(data, foot, foot + 40, where)       # metaindex (empty, unused)
    offset, size, _ = _handle(data, pos, foot + 40, where)
    keys = _Keys(len(data))
    start, end = _block(data, offset, size, where, "index")
    out: Dict[bytes, Tuple[int, int]] = {}
    last_end, last_key = -1, None
    for _, (vs, ve) in _entries(data, start, end, where, keys):
        boff, bsize, stop = _handle(data, vs, ve, where)
        if stop != ve:
            raise ModelFileError(f"{where}: an index entry is not a block handle")
        if boff < last_end:
            raise ModelFileError(f"{where}: data blocks overlap or are out of order")
        last_end = boff + bsize + 5
        dstart, dend = _block(data, boff, bsize, where, "data")
        if dstart < end and dend > start:
            raise ModelFileError(f"{where}: a data block overlaps the index block")
        for key, value in _entries(data, dstart, dend, where, keys):
            if last_key is not None and key <= last_key:
                raise ModelFileError(f"{where}: keys are not sorted and unique "
                                     f"({key[:80]!r} after {last_key[:80]!r})")
            last_key = key
            out[key] = value
    return out


def _dtype(code: int, key: str, where: str) -> str:
    if code in DTYPES:
        return DTYPES[code]
    name = _DT_NAMES.get(code, f"TF DataType {code}")
    raise ModelFileError(f"{where}: tensor {key!r} has dtype {name}; supported: plain numbers")


class TensorBundle:
    """One bundle, ``<prefix>.index`` and its data shards in directory ``folder``."""

    def __init__(self, folder: Directory, prefix: str):
        self.folder, self.prefix = folder, prefix
        self.where = folder.where(prefix + ".index")
        fd = folder.file(prefix + ".index")
        if fd is None:
            raise ModelFileError(f"{self.where}: no such file")
        self.data = folder.read(fd, MAX_INDEX_BYTES, "the checkpoint index")
        self.spans = read_index(self.data, self.where)
        if b"" not in self.spans:
            raise ModelFileError(f"{self.where}: has no bundle header; it is not a TensorFlow 2 "
                                 f"(V2) checkpoint")
        hs, he = self.spans.pop(b"")
        header = parse(self.data, HEADER, self.where, hs, he)
        self.num_shards = header.get("num_shards", 0)
        if not 1 <= self.num_shards <= MAX_SHARDS:
            raise ModelFileError(f"{self.where}: declares {self.num_shards} data shards; "
                                 f"supported: 1 to {MAX_SHARDS}")
        endianness = header.get("endianness", 0)
        if endianness not in (0, 1):
            raise ModelFileError(f"{self.where}: unknown endianness {endianness}")
        self.order = "<" if endianness == 0 else ">"
        version = header.get("version", {})
        if version.get("min_consumer", 0) > 1 or 1 in version.get("bad_consumers", []):
            raise ModelFileError(f"{self.where}: written in bundle format version "
                                 f"{version.get('producer')} (needs a reader of version "
                                 f"{version.get('min_consumer')}); supported: version 1")
        self._shards: Dict[int, int] = {}
        self._claimed: Dict[int, int] = {}     # bytes read per shard (tensors never overlap)

    def keys(self) -> List[str]:
        return [self._text(k) for k in self.spans]

    def _text(self, key: bytes) -> str:
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(f"{self.where}: a key is not UTF-8 text: {key[:80]!r}") from None

    def entry(self, key: str) -> Optional[dict]:
        span = self.spans.get(key.encode("utf-8"))
        if span is None:
            return None
        return parse(self.data, ENTRY, f"{self.where}: entry {key!r}", *span)

    def _shard(self, shard: int, key: str) -> int:
        if not 0 <= shard < self.num_shards:
            raise ModelFileError(f"{self.where}: tensor {key!r} lies in shard {shard}, but the "
                                 f"bundle has {self.num_shards}")
        if shard not in self._shards:
            name = f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}"
            fd = self.folder.file(name)
            if fd is None:
                raise ModelFileError(f"{self.folder.where(name)}: no such file (data shard of "
                                     f"{self.where})")
            self._shards[shard] = fd
        return self._shards[shard]

    def _bytes(self, key: str, e: dict) -> np.ndarray:
        if e.get("slices"):
            raise ModelFileError(f"{self.where}: variable {key!r} is partitioned (saved in "
                                 f"{len(e['slices'])} slices); partitioned variables are not "
                                 f"supported")
        offset, size = e.get("offset", 0), e.get("size", 0)
        fd = self._shard(e.get("shard_id", 0), key)
        total = self.folder.size(fd)
        if offset < 0 or size < 0 or offset + size > total:
            raise ModelFileError(f"{self.where}: tensor {key!r} (bytes {offset}-{offset + size}) "
                                 f"lies outside its data shard of {total} bytes")
        claimed = self._claimed.get(e.get("shard_id", 0), 0) + size
        if claimed > total:
            raise ModelFileError(f"{self.where}: its tensors claim more bytes than their data "
                                 f"shard holds ({total}); entries overlap, so the index is "
                                 f"corrupt or hostile")
        self._claimed[e.get("shard_id", 0)] = claimed
        raw = np.empty(size, np.uint8)
        if pread_into(fd, raw, offset) != size:
            raise ModelFileError(f"{self.where}: the data shard of tensor {key!r} is truncated")
        if "crc32c" in e and crc32c.value(raw) != crc32c.unmask(e["crc32c"]):
            raise ModelFileError(f"{self.where}: tensor {key!r} is corrupt (CRC-32C mismatch "
                                 f"with its data shard)")
        return raw

    def _shape(self, key: str, e: dict) -> Tuple[int, ...]:
        shape = e.get("shape", {})
        if shape.get("unknown_rank"):
            raise ModelFileError(f"{self.where}: tensor {key!r} has an unknown rank")
        dims = tuple(d.get("size", 0) for d in shape.get("dim", []))
        if len(dims) > 64 or any(d < 0 for d in dims):
            raise ModelFileError(f"{self.where}: tensor {key!r} has an invalid shape {dims}")
        return dims

    def tensor(self, key: str) -> np.ndarray:
        """The numeric tensor ``key``, checked (dtype, shape against size, CRC)."""
        e = self.entry(key)
        if e is None:
            raise ModelFileError(f"{self.where}: no tensor {key!r}")
        code = _dtype(e.get("dtype", 0), key, self.where)
        shape = self._shape(key, e)
        itemsize = 2 if code == "bf16" else np.dtype(code).itemsize
        count = 1
        for d in shape:
            count *= d
        if count * itemsize != e.get("size", 0):
            raise ModelFileError(f"{self.where}: tensor {key!r} declares shape {shape} of "
                                 f"{code} ({count * itemsize} bytes) but {e.get('size', 0)} "
                                 f"bytes")
        raw = self._bytes(key, e)
        if code == "bf16":        # the high half of a float32
            arr = raw.view(self.order + "u2").astype(np.uint32) << 16
            return arr.view(np.float32).reshape(shape)
        stored = np.dtype(self.order + code) if code != "?" else np.dtype(bool)
        return raw.view(stored).astype(stored.newbyteorder("="), copy=False).reshape(shape)

    def strings(self, key: str) -> List[bytes]:
        """The string tensor ``key`` (the object graph): varint64 lengths, a masked CRC-32C
        of the lengths (as uint32), then the bytes; the whole checked against its CRC."""
        e = self.entry(key)
        if e is None:
            raise ModelFileError(f"{self.where}: no tensor {key!r}")
        if e.get("dtype") != DT_STRING:
            raise ModelFileError(f"{self.where}: tensor {key!r} is not a string tensor")
        shape = self._shape(key, e)
        count = 1
        for d in shape:
            count *= d
        size = e.get("size", 0)
        if count > size:
            raise ModelFileError(f"{self.where}: string tensor {key!r} declares {count} "
                                 f"elements in {size} bytes")
        saved = e.pop("crc32c", None)   # checked below over the lengths as uint64
        raw = bytes(self._bytes(key, e))
        lengths, pos = [], 0
        for _ in range(count):
            n, pos = read_varint(raw, pos, len(raw), f"{self.where}: string tensor {key!r}")
            lengths.append(n)
        if pos + 4 + sum(lengths) != len(raw):
            raise ModelFileError(f"{self.where}: string tensor {key!r} does not add up to its "
                                 f"{len(raw)} bytes")
        lens = np.asarray(lengths, "<u4").tobytes()   # as uint32, as TF checksums them
        if crc32c.unmask(_u32(raw, pos)) != crc32c.value(lens):
            raise ModelFileError(f"{self.where}: string tensor {key!r} is corrupt (CRC-32C "
                                 f"mismatch of its lengths)")
        body = raw[pos:]
        if saved is not None and crc32c.value(body, crc32c.value(lens)) != crc32c.unmask(saved):
            raise ModelFileError(f"{self.where}: string tensor {key!r} is corrupt (CRC-32C "
                                 f"mismatch)")
        out, pos = [], 4
        for n in lengths:
            out.append(body[pos:pos + n])
            pos += n
        return out
