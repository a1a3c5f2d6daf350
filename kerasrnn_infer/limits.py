"""What a model file may make kerasrnn_infer allocate or loop over: every bound, with its reason.

A model file is data from anywhere. Whatever it declares (sizes, counts, nesting) is checked
against the bounds below where it is parsed, so that a small file can cost neither unbounded
memory nor unbounded time. Each bound is far above what real Keras models need (the reason is
given with it); a file beyond one is refused with an error naming the bound.

Weights are bounded by the file itself (``_files``: declared datasets may total 50 times the
file, a compressed ``.keras`` may expand 200 times), so sizes that must match the weights
(units, filters, vocabulary) cannot grow memory by themselves; the bounds here cover what does
not meet a weight: config text, structure, and sizes the config alone decides.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

import numpy as np

#: Bytes of a config (``config.json``, ``model_config``, ``model.to_json()`` text). The largest
#: real configs are a few MB (a 1,000-layer model writes about 2 MB).
MAX_CONFIG_BYTES = 64 << 20

#: JSON values (objects, arrays, numbers, strings) in a config. Parsed JSON costs 50-100 bytes a
#: value, so this keeps a config under about 200 MB of memory; a 1,000-layer model has about
#: 100,000 values.
MAX_CONFIG_VALUES = 2_000_000

#: Nesting of arrays and objects in a config. Each nested model adds 3 levels, a layer config 4
#: or 5; Python's own parser and every walk over the config are recursive.
MAX_CONFIG_DEPTH = 128

#: Models and wrappers inside one another (Sequential in Functional in TimeDistributed ...).
#: Real models nest 2-4 deep.
MAX_NESTING = 32

#: Layers and op nodes in a model, all nesting levels together. The largest published Keras
#: models have a few thousand; building a layer costs tens of microseconds.
MAX_LAYERS = 50_000

#: Calls of layers (graph nodes) in a model, all levels together: layers shared across
#: timesteps of an unrolled decoder are called many times.
MAX_NODES = 200_000

#: Any size a config declares (units, filters, repeats, shape entries, pool and kernel sizes).
#: 2**24 is 16.7 million: no Keras layer has that many units.
MAX_DIM = 1 << 24

#: Elements of a tensor whose size the config decides by itself, not only the inputs
#: (``RepeatVector(n)``, broadcasts and tiles, declared input shapes): 2**28 float32 values are
#: 1 GiB.
MAX_DECLARED_ELEMENTS = 1 << 28

#: Groups and datasets visited in one HDF5 file, and how deep its groups nest. A model with a
#: thousand layers has a few thousand groups; Keras nests about 8 levels per nested model.
MAX_H5_OBJECTS = 1_000_000
MAX_H5_DEPTH = 256

#: Number of names in one ``layer_names`` / ``weight_names`` attribute.
MAX_NAMES = 1_000_000

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


class JSONBoundError(ValueError):
    """A JSON text beyond the bounds above (message says which)."""


def check_json_text(data: bytes) -> None:
    """Raise JSONBoundError if ``data`` (JSON text) exceeds the byte, value or depth bound.
    Linear time and no parsing: strings are blanked, then brackets and commas are counted."""
    if len(data) > MAX_CONFIG_BYTES:
        raise JSONBoundError(f"is {len(data)} bytes, more than the {MAX_CONFIG_BYTES} allowed")
    bare = _STRING.sub(b'""', data)
    values = bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1
    if values > MAX_CONFIG_VALUES:
        raise JSONBoundError(f"holds more than {MAX_CONFIG_VALUES} values "
                             f"(about {values}); the file is corrupt or hostile")
    brackets = np.frombuffer(bare.translate(None, _NOT_BRACKETS), np.uint8)
    depth = int(np.cumsum(_STEP[brackets], dtype=np.int64).max()) if brackets.size else 0
    if depth > MAX_CONFIG_DEPTH:
        raise JSONBoundError(f"nests deeper than {MAX_CONFIG_DEPTH} levels ({depth}); the file "
                             f"is corrupt or hostile")


def parse_json(data, error: type, where: str, what: str) -> Any:
    """Parse JSON ``data`` (str or bytes) within the bounds above; any problem raises
    ``error(f"{where}: {what} ...")``."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as e:
            raise error(f"{where}: {what} is not valid text: {e}") from None
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"{where}: {what} must be JSON text, received {type(data).__name__}")
    data = bytes(data)
    try:
        check_json_text(data)
    except JSONBoundError as e:
        raise error(f"{where}: {what} {e}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise error(f"{where}: {what} is not valid JSON: {e}") from None
    except RecursionError:
        raise error(f"{where}: {what} nests too deeply") from None


def check_dim(value: Any, where: str, key: str, minimum: int = 1,
              maximum: int = MAX_DIM) -> int:
    """``value`` as a size in ``[minimum, maximum]``; ConfigError otherwise."""
    from .errors import ConfigError
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{where}: {key}={value!r} must be an integer")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{where}: {key}={value!r} must be at least {minimum} and at most "
                          f"{maximum}")
    return int(value)


def check_elements(shape, where: str, what: str, limit: Optional[int] = None) -> None:
    """Refuse a tensor of ``shape`` that the config alone makes larger than the bound."""
    from .errors import ConfigError
    n = 1
    for d in shape:
        n *= int(d)
    limit = MAX_DECLARED_ELEMENTS if limit is None else limit
    if n > limit:
        raise ConfigError(f"{where}: {what} would hold {n} elements, more than the {limit} a "
                          f"config may declare")
