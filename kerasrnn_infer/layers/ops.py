"""Keras 3 operation nodes (``keras.ops`` calls recorded in functional configs).

Keras 3 writes the masks it computes automatically as op nodes (``NotEqual`` for
``Embedding(mask_zero=True)``, ``NotEqual`` + ``Any`` for ``Masking``) and users write
``keras.ops`` calls between layers. Each op here receives its positional arguments as a list.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import Layer


def _axis(v):
    if isinstance(v, list):
        return tuple(v)
    return v


def _reduce(fn):
    return lambda cfg, a: fn(a[0], axis=_axis(cfg.get("axis")), keepdims=bool(cfg.get("keepdims",
                                                                                     False)))


def _binary(fn):
    return lambda cfg, a: fn(np.asarray(a[0]), np.asarray(a[1]))


def _unary(fn):
    return lambda cfg, a: fn(np.asarray(a[0]))


_OPS = {
    "NotEqual": _binary(np.not_equal),
    "Equal": _binary(np.equal),
    "Greater": _binary(np.greater),
    "GreaterEqual": _binary(np.greater_equal),
    "Less": _binary(np.less),
    "LessEqual": _binary(np.less_equal),
    "LogicalAnd": _binary(np.logical_and),
    "LogicalOr": _binary(np.logical_or),
    "LogicalNot": _unary(np.logical_not),
    "Add": _binary(np.add),
    "Subtract": _binary(np.subtract),
    "Multiply": _binary(np.multiply),
    "Divide": _binary(np.divide),
    "TrueDivide": _binary(np.divide),
    "Maximum": _binary(np.maximum),
    "Minimum": _binary(np.minimum),
    "Matmul": _binary(np.matmul),
    "Negative": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Absolute": _unary(np.abs),
    "Square": _unary(np.square),
    "Sqrt": _unary(np.sqrt),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Tanh": _unary(np.tanh),
    "Any": _reduce(np.any),
    "All": _reduce(np.all),
    "Sum": _reduce(np.sum),
    "Mean": _reduce(np.mean),
    "Max": _reduce(np.max),
    "Min": _reduce(np.min),
    "ExpandDims": lambda cfg, a: np.expand_dims(a[0], _axis(cfg["axis"])),
    "Squeeze": lambda cfg, a: np.squeeze(a[0], _axis(cfg.get("axis"))),
    "Transpose": lambda cfg, a: np.transpose(a[0], _axis(cfg.get("axes"))),
    "Reshape": lambda cfg, a: np.reshape(a[0], cfg["newshape"]),
    "Concatenate": lambda cfg, a: np.concatenate(a[0], axis=cfg.get("axis", 0)),
    "Stack": lambda cfg, a: np.stack(a[0], axis=cfg.get("axis", 0)),
    "Where": lambda cfg, a: np.where(a[0], a[1], a[2]),
    "Cast": lambda cfg, a: np.asarray(a[0]).astype(_dtype_name(cfg.get("dtype"))),
    "ZerosLike": lambda cfg, a: np.zeros(np.shape(a[0]), _like_dtype(cfg, a[0])),
    "OnesLike": lambda cfg, a: np.ones(np.shape(a[0]), _like_dtype(cfg, a[0])),
    "BroadcastTo": lambda cfg, a: np.broadcast_to(a[0], cfg["shape"]),
    "Tile": lambda cfg, a: np.tile(a[0], cfg.get("repeats", a[1] if len(a) > 1 else 1)),
    "Repeat": lambda cfg, a: np.repeat(a[0], cfg.get("repeats"), axis=cfg.get("axis")),
    "LogicalXor": _binary(np.logical_xor),
}


def _like_dtype(cfg, x):
    return _dtype_name(cfg["dtype"]) if cfg.get("dtype") else np.asarray(x).dtype


def _dtype_name(spec):
    if isinstance(spec, dict):
        spec = (spec.get("config") or {}).get("name")
    return np.dtype(spec or "float32")


def is_op(class_name: str, entry: dict) -> bool:
    """A keras.ops node. Keras 3 names their module; its legacy .h5 configs drop it, but an
    op's config has no ``trainable`` key (every layer's has) and its nodes are Keras 3 dicts."""
    module = entry.get("module")
    if module is not None:
        return str(module).startswith(("keras.src.ops", "keras.ops"))
    cfg = entry.get("config")
    nodes = entry.get("inbound_nodes") or []
    return (class_name in _OPS and isinstance(cfg, dict) and "trainable" not in cfg and
            bool(nodes) and all(isinstance(n, dict) for n in nodes))



class Op(Layer):
    """One ``keras.ops`` call; ``inputs`` are its positional arguments."""

    is_op = True
    float_dtype = False     # an op's 'dtype' is its output dtype, not a compute policy

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        self.fn = _OPS[class_name]

    def call(self, inputs, mask=None, **kwargs):
        cfg = dict(self.config)
        cfg.update(kwargs)
        try:
            return self.fn(cfg, list(inputs))
        except (ValueError, TypeError, IndexError, KeyError) as e:
            raise InputError(f"{self.where}: op failed on inputs of shapes "
                             f"{[np.shape(a) for a in inputs]}: {e}") from None


OPS = _OPS
