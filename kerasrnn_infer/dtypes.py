"""The dtypes a config may name: layer compute dtypes (policies) and plain numeric dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, InputError, UnsupportedError


_NUMERIC_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "float16", "float32", "float64", "half", "float", "double"}


def numeric_dtype(spec: Any, where: str, default: str = "float32") -> np.dtype:
    """A plain numeric dtype named by a config (a name, or a serialized policy/dtype object).
    Only scalar type names are accepted: NumPy would also read a sub-array spec such as
    ``'(1000000000,)f8'`` as a dtype, and allocate by it."""
    if isinstance(spec, dict):
        spec = (spec.get("config") or {}).get("name", spec.get("class_name"))
    if spec is None:
        spec = default
    if isinstance(spec, str) and spec.startswith("mixed_"):
        spec = "float32"           # a mixed policy's variables (and inputs) are float32
    if not isinstance(spec, str) or spec not in _NUMERIC_DTYPES:
        raise UnsupportedError(f"{where}: dtype {spec!r:.100} is not supported; supported: "
                               f"{', '.join(sorted(_NUMERIC_DTYPES))}")
    return np.dtype({"half": "float16", "float": "float32", "double": "float64"}.get(spec, spec))


_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64,
           "half": np.float16, "float": np.float32, "double": np.float64}
_MIXED = {"mixed_float16": np.float16}


def parse_dtype(spec: Any, where: str, default=np.float32) -> np.dtype:
    """The compute dtype of a serialized layer ``dtype`` (string, Policy or DTypePolicy)."""
    if spec is None:
        return np.dtype(default)
    if isinstance(spec, dict):
        cfg = spec.get("config") or {}
        spec = cfg.get("name", spec.get("class_name"))
    if not isinstance(spec, str):
        raise ConfigError(f"{where}: dtype {spec!r} is not a dtype name")
    if spec in _DTYPES:
        return np.dtype(_DTYPES[spec])
    if spec in _MIXED:
        return np.dtype(_MIXED[spec])
    raise UnsupportedError(f"{where}: dtype policy {spec!r} is not supported; supported: "
                           f"{', '.join(sorted(set(_DTYPES) | set(_MIXED)))}")


#: The dtype of string inputs (an InputLayer with dtype "string"): NumPy ``str`` arrays.
STRING = np.dtype(str)
_STRING_NAMES = {"string", "str"}


def is_string(dtype: Any) -> bool:
    """Whether ``dtype`` (a NumPy dtype, or None) is the string input dtype."""
    return dtype is not None and np.dtype(dtype).kind == "U"


def input_dtype(spec: Any, where: str, default: str = "float32") -> np.dtype:
    """The dtype of an InputLayer: a plain numeric dtype, or :data:`STRING` for Keras's
    ``"string"`` (tf.string) inputs, which only the string layers (TextVectorization,
    StringLookup) read."""
    name = spec
    if isinstance(spec, dict):
        name = (spec.get("config") or {}).get("name", spec.get("class_name"))
    if isinstance(name, str) and name in _STRING_NAMES:
        return STRING
    return numeric_dtype(spec, where, default)


def as_strings(arr: np.ndarray, where: str) -> np.ndarray:
    """A string input as a NumPy ``str`` array: ``str`` arrays and lists of strings as they
    are, ``bytes`` as UTF-8 (what TensorFlow's string tensors hold), object arrays whose
    items are all ``str`` or ``bytes``. Anything else (numbers, None, text that is not
    UTF-8) is an InputError naming the input."""
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind in "SO":
        flat = arr.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, v in enumerate(flat):
            if isinstance(v, (bytes, np.bytes_)):
                try:
                    v = bytes(v).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputError(f"{where}: item {i} is not UTF-8 text: {e}") from None
            elif not isinstance(v, str):
                raise InputError(f"{where}: expects strings, item {i} is "
                                 f"{type(v).__name__} {str(v)[:50]!r}")
            out[i] = v
        return (out.astype(str) if out.size else np.zeros(0, str)).reshape(arr.shape)
    raise InputError(f"{where}: expects strings (a NumPy str array or a list of strings), "
                     f"received dtype {arr.dtype}")
