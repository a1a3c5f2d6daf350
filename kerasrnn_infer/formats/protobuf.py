"""A minimal, bounded reader of the protobuf wire format (for SavedModels and TF checkpoints).

Protocol buffers are a sequence of fields, each a key (field number and wire type) and a value:
a varint, 8 or 4 fixed bytes, or a length-delimited run of bytes (strings, bytes, nested
messages, packed numbers). ``parse`` decodes a message along a *schema*: a dict from field
number to ``(name, kind)``, where kind is a scalar kind or a nested schema, and names ending
in ``[]`` are repeated; fields the schema does not name are skipped without being looked
into. Everything a buffer declares is checked against the buffer itself: a varint has at most
10 bytes and must fit 64 bits, a length must lie within its enclosing message, nesting is
bounded (``MAX_DEPTH``; schemas are not recursive, so real messages never come near it), and
so is the number of fields one message may hold (``max_fields``). Every problem is a
ModelFileError naming the file and what was being read. Nothing here allocates more than the
buffer it reads, and every loop advances through it.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterator, Tuple, Union

from ..errors import ModelFileError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_VARINT_BYTES = 10
MAX_DEPTH = 32
#: Fields of one message (a SavedModel's object graph has a few per object, a checkpoint's
#: object graph one per object: far below this).
MAX_FIELDS = 50_000_000

Buffer = Union[bytes, bytearray, memoryview]
Schema = Dict[int, Tuple[str, Any]]


def read_varint(buf: Buffer, pos: int, end: int, where: str) -> Tuple[int, int]:
    """(value, position after it) of the varint at ``pos``; at most 10 bytes, below 2**64."""
    value = shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= end:
            raise ModelFileError(f"{where}: a varint runs past the end of its message")
        b = buf[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if value >> 64:
                raise ModelFileError(f"{where}: a varint does not fit 64 bits")
            return value, pos + i + 1
        shift += 7
    raise ModelFileError(f"{where}: a varint is longer than {MAX_VARINT_BYTES} bytes")


def fields(buf: Buffer, start: int, end: int, where: str,
           max_fields: int = MAX_FIELDS) -> Iterator[Tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of each field in ``buf[start:end]``: an int for
    varints and fixed-size values, a ``(start, end)`` span for length-delimited ones."""
    pos, count = start, 0
    while pos < end:
        count += 1
        if count > max_fields:
            raise ModelFileError(f"{where}: a message holds more than {max_fields} fields")
        key, pos = read_varint(buf, pos, end, where)
        number, wire = key >> 3, key & 7
        value: Any
        if number == 0 or number > 0x1FFFFFFF:
            raise ModelFileError(f"{where}: invalid field number {number}")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end, where)
        elif wire == I64:
            if pos + 8 > end:
                raise ModelFileError(f"{where}: a 64-bit field runs past the end of its message")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == I32:
            if pos + 4 > end:
                raise ModelFileError(f"{where}: a 32-bit field runs past the end of its message")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == LEN:
            n, pos = read_varint(buf, pos, end, where)
            if n > end - pos:
                raise ModelFileError(f"{where}: field {number} declares {n} bytes, more than "
                                     f"the {end - pos} left in its message")
            value, pos = (pos, pos + n), pos + n
        else:       # groups (deprecated, never written by TensorFlow) and invalid types
            raise ModelFileError(f"{where}: field {number} has wire type {wire}, which "
                                 f"TensorFlow never writes (groups or an invalid type)")
        yield number, wire, value


def _signed(value: int, bits: int = 64) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(kind: str, buf: Buffer, wire: int, value: Any, where: str, name: str) -> Any:
    want = {"int": VARINT, "uint": VARINT, "int32": VARINT, "bool": VARINT, "enum": VARINT,
            "fixed32": I32, "float": I32, "fixed64": I64, "double": I64,
            "bytes": LEN, "string": LEN}[kind]
    if wire != want:
        raise ModelFileError(f"{where}: field {name} has wire type {wire}, expected {want}")
    if kind == "int":
        return _signed(value)
    if kind == "int32":
        return _signed(value, 32) if value < (1 << 32) else _signed(value)
    if kind in ("uint", "enum", "fixed32", "fixed64"):
        return value
    if kind == "bool":
        return value != 0
    if kind == "float":
        return struct.unpack("<f", value.to_bytes(4, "little"))[0]
    if kind == "double":
        return struct.unpack("<d", value.to_bytes(8, "little"))[0]
    data = bytes(buf[value[0]:value[1]])
    if kind == "bytes":
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{where}: field {name} is not UTF-8 text: {e}") from None


def parse(buf: Buffer, schema: Schema, where: str, start: int = 0, end: int = -1,
          depth: int = 0, max_fields: int = MAX_FIELDS) -> Dict[str, Any]:
    """The fields of the message in ``buf[start:end]`` that ``schema`` names (see the module
    docstring); repeated fields are lists (absent: empty), others the last value (absent: not
    in the dict). Kind ``"span"`` keeps a length-delimited value as its ``(start, end)`` in
    ``buf`` (to be parsed later, or not at all)."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{where}: messages nest deeper than {MAX_DEPTH} levels")
    if end < 0:
        end = len(buf)
    out: Dict[str, Any] = {}
    for name, _ in schema.values():
        if name.endswith("[]"):
            out[name[:-2]] = []
    for number, wire, value in fields(buf, start, end, where, max_fields):
        entry = schema.get(number)
        if entry is None:
            continue
        name, kind = entry
        repeated = name.endswith("[]")
        key = name[:-2] if repeated else name
        if isinstance(kind, dict):
            if wire != LEN:
                raise ModelFileError(f"{where}: field {key} should be a message, has wire "
                                     f"type {wire}")
            item: Any = parse(buf, kind, where, value[0], value[1], depth + 1, max_fields)
        elif kind == "span":
            if wire != LEN:
                raise ModelFileError(f"{where}: field {key} should be length-delimited, has "
                                     f"wire type {wire}")
            item = value
        elif repeated and wire == LEN and kind in ("int", "uint", "int32", "enum", "bool"):
            # packed repeated numbers
            pos, stop = value
            while pos < stop:
                v, pos = read_varint(buf, pos, stop, where)
                out[key].append(_scalar(kind, buf, VARINT, v, where, key))
            continue
        else:
            item = _scalar(kind, buf, wire, value, where, key)
        if repeated:
            out[key].append(item)
        else:
            out[key] = item
    return out
