"""Golden files: Keras's numbers for one set of inputs, recorded once and compared in CI.

The layout is the fixtures' ``io.npz``: ``in/<i>`` (inputs), ``call0/out/<j>`` (model
outputs), ``layer/<name>/<j>`` (per-layer outputs). ``golden`` also writes ``meta/model`` (the
model file's name), ``meta/input_names`` and ``meta/output_names`` (strings), so that a golden
file compared with another model says so (:func:`check_fits`). Other keys (``target/*``,
further calls) are ignored when reading.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from ..errors import InputError

__all__ = ["Reference", "check_fits", "read_golden", "write_golden"]


@dataclass
class Reference:
    """Keras's numbers for one set of inputs."""
    inputs: List[np.ndarray]
    outputs: List[np.ndarray]
    layers: Dict[str, List[np.ndarray]] = field(default_factory=dict)
    skipped: List[str] = field(default_factory=list)      # layers Keras could not probe
    source: str = ""
    meta: Dict[str, List[str]] = field(default_factory=dict)  # model, input/output names


def write_golden(path: str, ref: Reference) -> None:
    """Write ``ref`` to the ``.npz`` ``path`` (atomically: a temporary file, then a rename)."""
    arrays = {f"in/{i}": np.asarray(x) for i, x in enumerate(ref.inputs)}
    arrays.update({f"call0/out/{j}": np.asarray(y) for j, y in enumerate(ref.outputs)})
    for name, outs in ref.layers.items():
        arrays.update({f"layer/{name}/{j}": np.asarray(y) for j, y in enumerate(outs)})
    for key, values in ref.meta.items():
        arrays[f"meta/{key}"] = np.asarray(list(values), dtype=str)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def read_golden(path: str) -> Reference:
    """The :class:`Reference` in the golden ``.npz`` ``path``; ``InputError`` if it is not one."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such golden file")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a golden .npz file: {e}") from None
    if not hasattr(z, "files"):
        raise InputError(f"{path}: holds one array, not a golden .npz (keys in/i, call0/out/j, "
                         f"layer/<name>/<j>); record one with 'kerasrnn-infer golden'")
    with z:
        arrays = {k: z[k] for k in z.files}
    n_in = sum(1 for k in arrays if k.startswith("in/"))
    n_out = sum(1 for k in arrays if k.startswith("call0/out/"))
    if n_out == 0:
        raise InputError(f"{path}: holds no reference outputs (call0/out/0, ...); record one "
                         f"with 'kerasrnn-infer golden MODEL --out FILE'")
    try:
        inputs = [arrays[f"in/{i}"] for i in range(n_in)]
        outputs = [arrays[f"call0/out/{j}"] for j in range(n_out)]
    except KeyError as e:
        raise InputError(f"{path}: array {e} is missing (keys must be numbered from 0)") from None
    layers: Dict[str, Dict[int, np.ndarray]] = {}
    meta: Dict[str, List[str]] = {}
    for k, v in arrays.items():
        if k.startswith("layer/"):
            name, j = k[len("layer/"):].rsplit("/", 1)
            layers.setdefault(name, {})[int(j)] = v
        elif k.startswith("meta/") and v.dtype.kind == "U":
            meta[k[len("meta/"):]] = [str(x) for x in v.reshape(-1)]
    return Reference(inputs, outputs,
                     {n: [d[j] for j in sorted(d)] for n, d in layers.items()}, [], path, meta)


def check_fits(model, ref: Reference, model_label: str) -> None:
    """Raise :class:`InputError` naming both files when the golden file ``ref`` was not
    recorded for ``model``: other output names (recorded by ``golden``), another number of
    inputs or outputs, inputs the model cannot take, or none of its layers."""
    golden = ref.source or "the golden file"
    why = ""
    recorded = ref.meta.get("output_names")
    if recorded is not None and recorded != list(model.output_names):
        why = (f"it holds outputs {recorded}, the model's are "
               f"{list(model.output_names)}")
    elif len(ref.outputs) != len(model.output_names):
        why = (f"it holds {len(ref.outputs)} output(s), the model has "
               f"{len(model.output_names)} ({', '.join(model.output_names)})")
    elif ref.inputs and len(ref.inputs) != len(model.inputs):
        why = (f"it holds {len(ref.inputs)} input(s), the model has {len(model.inputs)} "
               f"({', '.join(s.name for s in model.inputs)})")
    elif ref.layers and not any(l.name in ref.layers for l in model.layers):
        why = (f"none of its layers ({', '.join(list(ref.layers)[:8])}) is a layer of the "
               f"model ({', '.join(l.name for l in model.layers[:8])})")
    elif ref.inputs:
        try:
            model._feeds(ref.inputs if len(ref.inputs) > 1 else ref.inputs[0])
        except InputError as e:
            why = f"its inputs do not fit the model's: {e}"
    if why:
        names = ref.meta.get("model")
        raise InputError(f"{golden} does not fit {model_label}: {why}. It was recorded for "
                         f"another model{f' ({names[0]})' if names else ''}; record one for "
                         f"this model with 'kerasrnn-infer golden {model_label} --out FILE' "
                         f"(where TensorFlow is installed)")
