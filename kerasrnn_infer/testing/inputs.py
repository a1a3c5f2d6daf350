"""Valid random inputs for a model, from its input specs (:func:`generate_inputs`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_BATCH", "DEFAULT_STEPS", "generate_inputs"]

DEFAULT_BATCH = 4
DEFAULT_STEPS = 8


_VOCABULARY_LAYERS = {"TextVectorization": "text", "StringLookup": "lookup",
                      "IntegerLookup": "lookup", "CategoryEncoding": "categories"}


def _direct_consumers(model) -> Dict[int, Tuple[str, Any]]:
    """For each model input index, what it feeds directly: ("embedding", layer),
    ("masking", layer), ("text", TextVectorization), ("lookup", String/IntegerLookup) or
    ("categories", CategoryEncoding), inside nested models too."""
    out: Dict[int, Tuple[str, Any]] = {}
    for i in range(len(model.inputs)):
        for layer in model._input_consumers(i):
            kind = _VOCABULARY_LAYERS.get(layer.class_name)
            if kind is not None and (i not in out or _stricter(layer, out[i][1])):
                out[i] = (kind, layer)
            if layer.class_name == "Embedding":
                out[i] = ("embedding", layer)
                break
            if layer.class_name == "Masking" and i not in out:
                out[i] = ("masking", layer)
    return out


def _stricter(layer, other) -> bool:
    """Whether ``layer`` constrains generated tokens more than ``other`` does (no OOV index:
    only vocabulary tokens; a mask token: padding)."""
    if getattr(other, "class_name", None) not in _VOCABULARY_LAYERS:
        return False
    rank = (getattr(layer, "num_oov", 1) == 0, getattr(layer, "mask_token", None) is not None)
    return rank > (getattr(other, "num_oov", 1) == 0,
                   getattr(other, "mask_token", None) is not None)


_UNKNOWN_WORDS = ["zqxv", "Blorft", "ünbekannt", "неизвестно", "🦄"]
_PUNCTUATION = ["", "", "", ",", "!", "?", ".", ":", "'s"]


def _vocabulary(layer) -> List[Any]:
    """The tokens of a lookup layer's vocabulary (decoded), without mask and OOV."""
    index = getattr(layer, "index", None) or {}
    return [k.decode("utf-8", "replace") if isinstance(k, bytes) else k for k in index]


def _texts(rng, layer, n: int, words: int) -> List[str]:
    """Texts for a TextVectorization: vocabulary words (some capitalised, some with
    punctuation attached), unknown words, and one empty text."""
    vocab = [w for w in _vocabulary(layer) if w] or ["word"]
    if getattr(layer, "ngrams", None):
        vocab = [w for w in vocab if " " not in w] or vocab
    texts = []
    for r in range(n):
        if n > 2 and r == 2:
            texts.append("")
            continue
        k = int(rng.integers(1, max(words, 1) + 1))
        out = []
        for _ in range(k):
            if rng.random() < 0.2:
                w = _UNKNOWN_WORDS[int(rng.integers(len(_UNKNOWN_WORDS)))]
            else:
                w = vocab[int(rng.integers(len(vocab)))]
            if rng.random() < 0.3:
                w = w[:1].upper() + w[1:]
            out.append(w + _PUNCTUATION[int(rng.integers(len(_PUNCTUATION)))])
        texts.append(" ".join(out))
    return texts


def _tokens(rng, layer, shape) -> np.ndarray:
    """Tokens for a String/IntegerLookup: vocabulary entries, unknown ones (unless the layer
    has no OOV index) and, where the layer has a mask token, padding at the end of odd rows."""
    vocab = _vocabulary(layer)
    strings = layer.class_name == "StringLookup"
    if not vocab:
        vocab = ["word"] if strings else [1]
    pool = list(vocab)
    if getattr(layer, "num_oov", 1):
        pool += ["zqxv", "Unknown"] if strings else [int(max(vocab)) + 7, -3]
    x = np.array(pool, dtype=object)[rng.integers(0, len(pool), size=shape)]
    mask = getattr(layer, "mask_token", None)
    if mask is not None and len(shape) >= 2 and shape[1] > 1:
        for r in range(1, shape[0], 2):
            x[r, int(rng.integers(max(1, shape[1] // 3), shape[1])):] = mask
    return x.astype(str) if strings else x.astype(np.int64)


def generate_inputs(model, batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                    seed: int = 0) -> List[np.ndarray]:
    """Valid random inputs for ``model``, one array per input in model order.

    Floats ~ N(0, 0.5). Inputs feeding an Embedding get token ids inside its vocabulary; with
    ``mask_zero`` some rows end in padding zeros (every row keeps at least one token). Inputs
    feeding a Masking layer get some rows whose last steps equal its ``mask_value``. String
    inputs feeding a TextVectorization get texts of up to ``steps`` words: vocabulary words,
    some capitalised or with punctuation attached, unknown words, one empty text; inputs
    feeding a String/IntegerLookup get vocabulary tokens, unknown ones and mask padding;
    inputs feeding a CategoryEncoding get ids below its num_tokens. A fixed
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
        if kind == "text":
            n = int(np.prod(shape))
            out.append(np.array(_texts(rng, layer, n, steps), dtype=str).reshape(shape))
            continue
        if kind == "lookup":
            out.append(_tokens(rng, layer, shape).astype(dtype if dtype.kind != "U" else str))
            continue
        if dtype.kind == "U":
            raise InputError(f"cannot generate inputs: string input {spec.name!r} does not feed "
                             f"a TextVectorization or StringLookup; pass inputs from a file")
        if kind == "categories":
            vocab = int(getattr(layer, "num_tokens", 10))
            out.append(rng.integers(0, vocab, size=shape).astype(dtype))
            continue
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
