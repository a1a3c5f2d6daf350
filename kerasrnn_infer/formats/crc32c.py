"""CRC-32C (Castagnoli), as TensorFlow checksums its checkpoints, in NumPy.

TensorFlow stores a *masked* CRC-32C of every LevelDB block of a bundle's ``.index`` and of
every tensor in its data shards (TF ``core/lib/hash/crc32c.h``: ``Mask``), and verifies them
when it restores. The standard library has only CRC-32 (zlib's polynomial), so this module
computes CRC-32C itself: a CRC is linear, so the data is cut into lanes that are updated
side by side (one vectorised table step per byte of a lane), and the lanes' CRCs are then
combined pairwise in a tree with "advance over n zero bytes" operators (GF(2)-linear maps,
each held as four 256-entry tables). That costs about L NumPy steps over arrays of n / L
values plus a few dozen for the tree: a 10 MB checkpoint is checked in well under a second.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

_POLY = 0x82F63B78           # CRC-32C, reflected
_MASK_DELTA = 0xA282EAD8


def _table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_POLY), t >> 1).astype(np.uint32)
    return t


_T = _table()
_TL = [int(v) for v in _T]
# the 32 x 4 inputs whose images define a linear map as four byte tables
_BASIS = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None])
_LANE = 512                  # bytes per lane for long inputs


def _apply(op: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear map ``op`` (4 x 256 tables) applied to the uint32 values ``x``."""
    return (op[0][x & 0xFF] ^ op[1][(x >> 8) & 0xFF] ^ op[2][(x >> 16) & 0xFF] ^
            op[3][x >> 24])


def _zero_byte(x: np.ndarray) -> np.ndarray:
    return _T[x & 0xFF] ^ (x >> 8)


_ONE = _zero_byte(_BASIS.copy())          # the map "advance over one zero byte"
_POWERS: Dict[int, np.ndarray] = {0: _ONE}     # advance over 2**k zero bytes


def _power(k: int) -> np.ndarray:
    if k not in _POWERS:
        half = _power(k - 1)
        _POWERS[k] = _apply(half, _apply(half, _BASIS))
    return _POWERS[k]


def _advance(x: np.ndarray, n: int) -> np.ndarray:
    """The registers ``x`` advanced over ``n`` zero bytes."""
    k = 0
    while n:
        if n & 1:
            x = _apply(_power(k), x)
        n >>= 1
        k += 1
    return x


def _raw_small(data, reg: int) -> int:
    t = _TL
    for b in data:
        reg = t[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _raw_zero_init(buf: np.ndarray) -> int:
    """The CRC register after ``buf`` (uint8) starting from 0, lanes in parallel."""
    n = buf.size
    lanes = -(-n // _LANE)
    width = 1 << max(0, (lanes - 1).bit_length())        # a power of two, for the tree
    padded = np.zeros(width * _LANE, np.uint8)
    padded[padded.size - n:] = buf      # leading zeros leave a zero register unchanged
    cols = padded.reshape(width, _LANE).T.copy()          # cols[j] = byte j of every lane
    reg = np.zeros(width, np.uint32)
    t = _T
    for j in range(_LANE):
        reg = t[(reg ^ cols[j]) & 0xFF] ^ (reg >> 8)
    span = _LANE
    while reg.size > 1:        # lane i comes before lane i + 1: advance it over its successor
        reg = _advance(reg[0::2], span) ^ reg[1::2]
        span *= 2
    return int(reg[0])


def value(data, crc: int = 0) -> int:
    """CRC-32C of ``data`` (bytes-like), continuing ``crc`` (TensorFlow ``crc32c::Extend``)."""
    view = memoryview(data).cast("B")
    init = (crc ^ 0xFFFFFFFF) & 0xFFFFFFFF
    if len(view) < 4096:
        return _raw_small(view, init) ^ 0xFFFFFFFF
    buf = np.frombuffer(view, np.uint8)
    reg = int(_advance(np.array([init], np.uint32), buf.size)[0]) ^ _raw_zero_init(buf)
    return reg ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """TensorFlow's masked CRC (stored so that a CRC of data holding CRCs stays strong)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


__all__: List[str] = ["mask", "unmask", "value"]
