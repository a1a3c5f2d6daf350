"""Valid random inputs for a model, from its input specs (:func:`generate_inputs`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_BATCH", "DEFAULT_STEPS", "generate_inputs"]

DEFAULT_BATCH = 4
DEFAULT_STEPS = 8


def _direct_consumers(model) -> Dict[int, Tuple[str, Any]]:
    """For each model input index, what it feeds directly: ("embedding", layer) or
    ("masking", layer), inside nested models too."""
    out: Dict[int, Tuple[str, Any]] = {}
    for i in range(len(model.inputs)):
        for layer in model._input_consumers(i):
            if layer.class_name == "Embedding":
                out[i] = ("embedding", layer)
                break
            if layer.class_name == "Masking" and i not in out:
                out[i] = ("masking", layer)
    return out


def generate_inputs(model, batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                    seed: int = 0) -> List[np.ndarray]:
    """Valid random inputs for ``model``, one array per input in model order.

    Floats ~ N(0, 0.5). Inputs feeding an Embedding get token ids inside its vocabulary; with
    ``mask_zero`` some rows end in padding zeros (every row keeps at least one token). Inputs
    feeding a Masking layer get some rows whose last steps equal its ``mask_value``. A fixed
    batch size in the specs wins over ``batch`` (default 4); unknown dimensions other than the
    batch are set to ``steps`` (default 8)."""
    rng = np.random.default_rng(seed)
    specs = model.inputs
    fixed = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
    if len(fixed) > 1:
        raise InputError(f"cannot generate inputs: the inputs have different fixed batch sizes "
                         f"{sorted(fixed)}; pass inputs from a file")
    b = fixed.pop() if fixed else (batch or DEFAULT_BATCH)
    feeds = _direct_consumers(model)
    out = []
    for i, spec in enumerate(specs):
        if spec.shape is None:
            raise InputError(f"cannot generate inputs: input {spec.name!r} has no recorded shape; "
                             f"pass inputs from a file (--input)")
        shape = (b,) + tuple(steps if d is None else d for d in spec.shape[1:])
        dtype = np.dtype(spec.dtype)
        kind, layer = feeds.get(i, (None, None))
        if kind == "embedding" or dtype.kind in "iub":
            vocab = int(getattr(layer, "input_dim", 0) or 10)
            mask_zero = bool(getattr(layer, "mask_zero", False))
            lo = 1 if mask_zero and vocab > 1 else 0
            x = rng.integers(lo, max(vocab, lo + 1), size=shape)
            if mask_zero and len(shape) >= 2 and shape[1] > 1:
                t = shape[1]
                for r in range(1, b, 2):                 # odd rows: padded at the end
                    keep = int(rng.integers(max(1, t // 3), t))
                    x[r, keep:] = 0
            if dtype.kind == "b":
                x = x % 2
            out.append(x.astype(dtype))
            continue
        xf = rng.normal(0.0, 0.5, size=shape)
        if kind == "masking" and layer is not None and len(shape) >= 3 and shape[1] > 1:
            t = shape[1]
            for r in range(1, b, 2):
                keep = int(rng.integers(max(1, t // 3), t))
                xf[r, keep:] = layer.mask_value
        out.append(xf.astype(dtype if dtype.kind == "f" else np.float32))
    return out
