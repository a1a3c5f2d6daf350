"""Write TensorFlow-format pieces by hand (no TensorFlow) for hostile and layout tests: protobuf
fields, LevelDB-format tables (a TensorBundle ``.index``), bundle entries, and copies of real
fixture checkpoints with one thing changed."""

import os
import shutil
from typing import Callable, Dict, List, Optional, Tuple

from kerasrnn_infer.formats import crc32c
from kerasrnn_infer.formats.safe_io import Directory
from kerasrnn_infer.formats.tensor_bundle import MAGIC, TensorBundle, read_index


# ----- protobuf ---------------------------------------------------------------------------------
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def f_bytes(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def f_fixed32(field: int, value: int) -> bytes:
    return varint(field << 3 | 5) + value.to_bytes(4, "little")


def bundle_entry(dtype: int, shape, size: int, offset: int = 0, shard: int = 0,
                 crc: Optional[int] = None, slices: int = 0) -> bytes:
    shape_msg = b"".join(f_bytes(2, f_varint(1, d)) for d in shape)
    out = f_varint(1, dtype) + f_bytes(2, shape_msg) + f_varint(3, shard) + \
        f_varint(4, offset) + f_varint(5, size)
    if crc is not None:
        out += f_fixed32(6, crc)
    return out + b"".join(f_bytes(7, f_bytes(1, f_varint(1, 0))) for _ in range(slices))


# ----- LevelDB tables ---------------------------------------------------------------------------
def block(entries: List[Tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    buf, restarts, prev = bytearray(), [], b""
    for i, (k, v) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(buf))
            shared = 0
        else:
            shared = len(os.path.commonprefix([prev, k]))
        buf += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
        prev = k
    restarts = restarts or [0]
    buf += b"".join(r.to_bytes(4, "little") for r in restarts)
    return bytes(buf + len(restarts).to_bytes(4, "little"))


def _trailer(data: bytes, kind: int, good_crc: bool = True) -> bytes:
    crc = crc32c.mask(crc32c.value(data + bytes([kind])))
    return bytes([kind]) + (crc if good_crc else crc ^ 1).to_bytes(4, "little")


def _handle(offset: int, size: int) -> bytes:
    return varint(offset) + varint(size)


def table(entries: List[Tuple[bytes, bytes]], compression: int = 0, good_crc: bool = True,
          raw_data_block: Optional[bytes] = None) -> bytes:
    """A LevelDB table of ``entries`` (one data block), as TensorFlow's table builder lays it
    out; ``compression`` is the data block's compression byte (0 = none)."""
    data = raw_data_block if raw_data_block is not None else block(entries)
    out = data + _trailer(data, compression, good_crc)
    meta = block([])
    meta_at = len(out)
    out += meta + _trailer(meta, 0)
    last = entries[-1][0] if entries else b""
    index = block([(last, _handle(0, len(data)))])
    index_at = len(out)
    out += index + _trailer(index, 0)
    footer = _handle(meta_at, len(meta)) + _handle(index_at, len(index))
    footer += bytes(40 - len(footer)) + MAGIC.to_bytes(8, "little")
    return out + footer


def index_entries(path: str) -> Dict[bytes, bytes]:
    """``{key: value bytes}`` of a real ``.index`` file (read with the library's reader)."""
    data = open(path, "rb").read()
    return {k: data[s:e] for k, (s, e) in read_index(data, path).items()}


def rewrite_index(path: str, change: Callable[[Dict[bytes, bytes]], None], **table_kw) -> None:
    entries = index_entries(path)
    change(entries)
    with open(path, "wb") as f:
        f.write(table(sorted(entries.items()), **table_kw))


def copy_case(src: str, dst: str) -> str:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def tensor_entry(path_prefix: str, key: str) -> dict:
    """The parsed BundleEntryProto of ``key`` in checkpoint ``path_prefix``."""
    folder, prefix = os.path.split(path_prefix)
    with Directory.open(folder) as d:
        return TensorBundle(d, prefix).entry(key)
