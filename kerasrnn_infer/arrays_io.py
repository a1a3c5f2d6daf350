"""Arrays in and out of files, shared by the command line and :mod:`kerasrnn_infer.testing`.

- reading: :func:`read_inputs` (``.npy``, ``.npz``, ``.json`` or ``-`` for JSON on stdin) and
  :func:`coerce_inputs` (an array, a list, a dict or a file path);
- matching arrays to the model's inputs: :func:`arrays_in_model_order`;
- writing outputs: :func:`write_outputs` (``.npy``, ``.npz``, ``.json`` or JSON on stdout,
  keyed by ``Model.output_names``; float32 values as their shortest float32 repr,
  :func:`json_value`).

How named arrays (``.npz`` members, a JSON object, a dict) meet the model's inputs:

1. By name, as ``Model.predict(dict)``: when any key is an input name, the keys must be exactly
   the input names (any order); anything else is refused, naming the expected and received
   names.
2. Otherwise by position, with the keys that say so: ``in/0, in/1, ...`` (the golden and
   fixture layout) or ``arr_0, arr_1, ...`` (what ``np.savez(path, a, b)`` writes), one per
   input, numbered from 0.
3. Otherwise a single-input model takes a single array, whatever its key; arrays for several
   inputs are never matched by the order they are stored in (that would be a silent guess).

Golden-file extras (keys ``call*``, ``layer/*``, ``meta/*``, ``target/*``) are ignored, and so
are ``in/<i>`` keys next to a complete set of input names (a golden file that also names its
inputs). No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile
from typing import Dict, List, Sequence

import numpy as np

from ._util import as_list
from .errors import InputError, UsageError

__all__ = ["arrays_in_model_order", "coerce_inputs", "json_value", "read_inputs",
           "write_outputs"]

# keys of a golden file / fixture io.npz that are not inputs
GOLDEN_EXTRAS = ("call", "layer/", "meta/", "target/")
# positional layouts, in order of precedence
POSITIONAL = ("in/", "arr_")


def _names(model) -> List[str]:
    return [s.name for s in model.inputs]


def _few(keys, limit=20) -> str:
    """``keys`` as a list literal, at most ``limit`` of them."""
    shown = repr(list(keys[:limit]))
    return shown if len(keys) <= limit else shown[:-1] + f", ... {len(keys) - limit} more]"


def _positional_index(key: str, prefix: str):
    m = re.fullmatch(re.escape(prefix) + r"(\d+)", key)
    return int(m.group(1)) if m else None


def arrays_in_model_order(arrays: Dict[str, np.ndarray], model,
                          source: str = "inputs") -> List[np.ndarray]:
    """``arrays`` (a mapping, in stored order) as a list in model input order: by input name,
    by ``in/<i>`` or ``arr_<i>``, or (a one-input model) its one array; see the module
    docstring. Raises :class:`InputError` naming the expected and received keys."""
    names = _names(model)
    n = len(names)
    keys = list(arrays)
    # what was given as input arrays: golden extras dropped (an input name is never an extra)
    given = [k for k in keys if k in names or not k.startswith(GOLDEN_EXTRAS)]

    # 1. by name: exactly the input names
    if any(k in names for k in given):
        missing = [nm for nm in names if nm not in arrays]
        unknown = [k for k in given if k not in names
                   and _positional_index(k, "in/") is None]
        if missing or unknown:
            raise InputError(f"{source}: arrays by name must be exactly the model inputs "
                             f"{names}; received {_few(given)} (missing {missing}, unknown "
                             f"{_few(unknown)})")
        return [arrays[nm] for nm in names]

    # 2. by position: in/<i> or arr_<i>, one per input from 0
    positional = False
    for prefix in POSITIONAL:
        idx = [i for i in (_positional_index(k, prefix) for k in given) if i is not None]
        if not idx:
            continue
        positional = True
        if sorted(idx) == list(range(n)):
            return [arrays[f"{prefix}{i}"] for i in range(n)]
    if positional:
        got = [k for k in given if any(_positional_index(k, p) is not None for p in POSITIONAL)]
        raise InputError(f"{source}: {len(got)} arrays by position {_few(got, 10)}, but the "
                         f"model has {n} inputs ({', '.join(names)}); number them in/0..in/{n - 1} "
                         f"(or arr_0..arr_{n - 1}), or name them after the inputs")

    # 3. no names, no positions: a single input takes the single array, whatever its key;
    #    several inputs are never matched by stored order (a silent mix-up)
    if n == 1 and len(given) == 1:
        return [arrays[given[0]]]
    raise InputError(f"{source}: cannot match arrays {_few(given, 10)} to the model inputs "
                     f"{names}; name them after the inputs (or in/0, in/1, ...)")


def _from_json_value(value, model, source) -> List[np.ndarray]:
    specs = model.inputs
    names = _names(model)
    if isinstance(value, dict) and set(value) == {"inputs"}:
        value = value["inputs"]
    try:
        if isinstance(value, dict):
            return arrays_in_model_order({k: np.asarray(v) for k, v in value.items()},
                                         model, source)
        if isinstance(value, list):
            if len(specs) > 1:
                if len(value) != len(specs):
                    raise InputError(f"{source}: the model has {len(specs)} inputs ({names}); "
                                     f"give a list of {len(specs)} arrays or an object by name")
                return [np.asarray(v) for v in value]
            return [np.asarray(value)]
    except InputError:               # ours (an InputError is a ValueError too)
        raise
    except ValueError as e:          # ragged nested lists
        raise InputError(f"{source}: the arrays are not rectangular: {e}") from None
    raise InputError(f"{source}: expected a JSON array (one input), a list of arrays or an "
                     f"object mapping input names {names} to arrays")


def read_inputs(path: str, model, stdin=None, mmap: bool = False) -> List[np.ndarray]:
    """Inputs for ``model`` from ``.npy``, ``.npz``, ``.json`` or ``-`` (JSON on stdin); with
    ``mmap`` a ``.npy`` file is read as a memory map (nothing is read until it is used)."""
    if path == "-":
        text = (stdin or sys.stdin).read()
        try:
            value = json.loads(text)
        except ValueError as e:
            raise InputError(f"<stdin>: not valid JSON: {e}") from None
        return _from_json_value(value, model, "<stdin>")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".json":
            with open(path) as f:
                value = json.load(f)
            return _from_json_value(value, model, path)
        if ext == ".npy":
            arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
            if len(model.inputs) != 1:
                raise InputError(f"{path}: one array, but the model has {len(model.inputs)} "
                                 f"inputs ({', '.join(_names(model))}); use an "
                                 f".npz with one array per input")
            return [arr]
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return arrays_in_model_order(arrays, model, path)
    except InputError:               # ours (an InputError is a ValueError too)
        raise
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        hint = ""
        if "allow_pickle" in str(e):      # an object array: strings must be fixed-width
            hint = ("; strings must be saved as a NumPy str array (np.array(texts, dtype=str), "
                    "dtype '<U...'): object arrays need unpickling, which is never done")
        raise InputError(f"{path}: cannot read: {e}{hint}") from None
    raise InputError(f"{path}: unknown input file type {ext!r}; use .npy, .npz, .json or - "
                     f"(JSON on stdin)")


def coerce_inputs(x, model) -> List[np.ndarray]:
    """User inputs (array, list in input order, dict by input name, or a file path) as a list
    in model order."""
    if isinstance(x, (str, os.PathLike)):
        return read_inputs(os.fspath(x), model)
    if isinstance(x, dict):
        return arrays_in_model_order({k: np.asarray(v) for k, v in x.items()}, model)
    if isinstance(x, (list, tuple)) and len(model.inputs) > 1:
        return [np.asarray(v) for v in x]
    return [np.asarray(x)]


def json_value(y: np.ndarray):
    """``y`` as nested lists for JSON, float32 and float16 values written as their own
    shortest repr (``0.1``, not the double ``0.10000000149011612``): each parses back to the
    same float32 / float16 value. NaN and infinities are written as Python's json writes them
    (``NaN``, ``Infinity``)."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and y.dtype.itemsize < 8:
        # NumPy's str of a float32/float16 is its shortest round-trip repr; the double parsed
        # from it prints (repr) as the same digits
        return y.astype(str).astype(np.float64).tolist()
    return y.tolist()


def write_outputs(model, ys, path, stdout) -> None:
    """Write ``ys`` (``predict``'s result) to ``path``: ``.npy`` (one output), ``.npz`` or
    ``.json`` keyed by ``model.output_names``, or JSON on ``stdout`` when ``path`` is None or
    ``-``. Raises :class:`UsageError` for other extensions and for several outputs in ``.npy``."""
    ys = [np.asarray(y) for y in as_list(ys)]
    keys: Sequence[str] = list(model.output_names)
    if len(keys) != len(ys):
        keys = [f"out/{j}" for j in range(len(ys))]
    if path in (None, "-"):
        json.dump({k: json_value(y) for k, y in zip(keys, ys)}, stdout)
        stdout.write("\n")
        return
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        if len(ys) != 1:
            raise UsageError(f"{path}: the model has {len(ys)} outputs ({', '.join(keys)}); "
                             f"write them to an .npz or .json file")
        np.save(path, ys[0])
    elif ext == ".npz":
        np.savez(path, **dict(zip(keys, ys)))
    elif ext == ".json":
        with open(path, "w") as f:
            json.dump({k: json_value(y) for k, y in zip(keys, ys)}, f)
            f.write("\n")
    else:
        raise UsageError(f"{path}: unknown output file type {ext!r}; use .npy, .npz or .json "
                         f"(or no --output for JSON on stdout)")
