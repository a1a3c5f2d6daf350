"""The dtypes a config may name: layer compute dtypes (policies) and plain numeric dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, UnsupportedError


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
