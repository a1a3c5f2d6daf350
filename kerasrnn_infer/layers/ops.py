"""Keras 3 operation nodes (``keras.ops`` calls recorded in functional configs).

Keras 3 writes the masks it computes automatically as op nodes (``NotEqual`` for
``Embedding(mask_zero=True)``, ``NotEqual`` + ``Any`` for ``Masking``) and users write
``keras.ops`` calls between layers (``x[:, -1]`` is a ``GetItem`` node whose key holds
``__slice__``, ``__ellipsis__``, ``None`` and integers). Each op here receives its
positional arguments as a list.
"""

from __future__ import annotations

import re

import numpy as np

from .. import activations, limits
from ..errors import ConfigError, InputError, UnsupportedError
from .base import Layer, feature_axes, numeric_dtype
from .normalization import l2_normalize
from .tf_ops import padded, slice_key


def _axis(v):
    if isinstance(v, list):
        return tuple(v)
    return v


def _kind(kind, fn):
    """``fn`` marked with how it treats the time axis (for streaming): "elementwise" ops
    work timestep by timestep, "reduce" ops do when they reduce feature axes only."""
    fn.kind = kind
    return fn


def _reduce(fn):
    return _kind("reduce", lambda cfg, a: fn(a[0], axis=_axis(cfg.get("axis")),
                                             keepdims=bool(cfg.get("keepdims", False))))


def _operand(v):
    """An op's argument: Python numbers stay Python numbers, which NumPy (2) treats as
    Keras does, weakly (``h * 2`` of float32 ``h`` stays float32); anything else an array."""
    if isinstance(v, (bool, int, float)):
        return v
    return np.asarray(v)


def _binary(fn, kind="elementwise"):
    return _kind(kind, lambda cfg, a: fn(_operand(a[0]), _operand(a[1])))


def _number(cfg, key, default):
    v = cfg.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key}={v!r:.50} must be a number")
    return v


def _floats(a, what):
    x = np.asarray(a[0])
    if x.dtype.kind != "f":
        raise InputError(f"{what} of {x.dtype} values (floats only here)")
    return x


def _act(fn, **params):
    """An activation op (``keras.ops.relu``, ...): ``fn`` of kerasrnn_infer.activations with
    its options from the config (name: (config key, Keras's default))."""
    def run(cfg, a):
        kw = {}
        for p, (key, default) in params.items():
            if isinstance(default, bool):
                v = cfg.get(key, default)
                if not isinstance(v, bool):
                    raise ConfigError(f"{key}={v!r:.50} must be true or false")
                kw[p] = v
            else:
                kw[p] = _number(cfg, key, default)
        return fn(_floats(a, "an activation"), **kw)
    return _kind("elementwise", run)


def _pad(cfg, a):
    """keras.ops.pad (tf_ops.padded)."""
    return padded(np.asarray(a[0]), cfg.get("pad_width"), "pad_width",
                  cfg.get("mode", "constant"), cfg.get("constant_values"))


def _average(cfg, a):
    x = np.asarray(a[0])
    weights = cfg.get("weights")
    if weights is None:
        return np.mean(x, axis=_axis(cfg.get("axis")))
    return np.average(x, axis=_axis(cfg.get("axis")), weights=np.asarray(weights))


def _cumulative(fn):
    def run(cfg, a):
        dt = cfg.get("dtype")
        return fn(np.asarray(a[0]), axis=_axis(cfg.get("axis")),
                  dtype=None if dt is None else _dtype_name(dt))
    return run


def _arg(fn):
    def run(cfg, a):
        x = np.asarray(a[0])
        return fn(x, axis=_axis(cfg.get("axis")),
                  keepdims=bool(cfg.get("keepdims", False))).astype(np.int32)   # Keras: int32
    return run


_EINSUM = re.compile(r"[a-zA-Z]+|\.\.\.")
#: the products an einsum may take: the sizes of all its labels multiplied
MAX_EINSUM_WORK = 1 << 32


def _einsum(cfg, a):
    """keras.ops.einsum, its work (every label's size multiplied: what the contraction
    loops over) bounded."""
    sub = cfg.get("subscripts")
    if not isinstance(sub, str) or len(sub) > 256 or \
            re.fullmatch(r"[a-zA-Z.,\->\s]*", sub) is None:
        raise ConfigError(f"einsum subscripts={sub!r:.100} must be an einsum equation")
    terms = sub.replace(" ", "").split("->")[0].split(",")
    arrays = [np.asarray(v) for v in a]
    if len(terms) != len(arrays):
        raise InputError(f"einsum {sub!r} takes {len(terms)} operands, received {len(arrays)}")
    sizes: dict = {}
    for term, arr in zip(terms, arrays):
        labels = [c for part in _EINSUM.findall(term) for c in
                  ([part] if part == "..." else list(part))]
        if len(labels) - ("..." in labels) > arr.ndim:
            raise InputError(f"einsum {sub!r}: operand of shape {arr.shape} has too few axes")
        dims = list(arr.shape)
        if "..." in labels:
            k = labels.index("...")
            n_ell = arr.ndim - (len(labels) - 1)
            sizes["..."] = max(sizes.get("...", 1), int(np.prod(dims[k:k + n_ell])))
            dims = dims[:k] + dims[k + n_ell:]
            labels = labels[:k] + labels[k + 1:]
        for lab, d in zip(labels, dims):
            sizes[lab] = max(sizes.get(lab, 1), d)
    work = 1
    for d in sizes.values():
        work *= d
    if work > MAX_EINSUM_WORK:
        raise InputError(f"einsum {sub!r} on shapes {[v.shape for v in arrays]} would take "
                         f"{work} products, more than {MAX_EINSUM_WORK}")
    return np.einsum(sub, *arrays)


def _softmax(cfg, a):
    x = np.asarray(a[0])
    if x.dtype.kind != "f":
        raise InputError(f"softmax of {x.dtype} values")
    return activations.softmax(x, axis=_axis(cfg.get("axis", -1)))


def _normalize(cfg, a):
    """keras.ops.normalize: order 2 only, ``x * min(rsqrt(sum x^2), 1 / epsilon)``."""
    if cfg.get("order", 2) != 2:
        raise UnsupportedError(f"normalize order={cfg.get('order')!r:.50} is not supported; "
                               f"supported: 2")
    eps = cfg.get("epsilon")
    eps = 1e-7 if eps is None else eps                  # keras.backend.epsilon()
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ConfigError(f"normalize epsilon={eps!r:.50} must be a number > 0")
    x = np.asarray(a[0])
    if x.dtype.kind != "f":
        raise InputError(f"normalize of {x.dtype} values")
    if x.ndim == 0:
        x = x[None]
    return l2_normalize(x, _axis(cfg.get("axis", -1)), "keras3", eps)


def _unary(fn):
    return _kind("elementwise", lambda cfg, a: fn(np.asarray(a[0])))


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
    "Matmul": _binary(np.matmul, "other"),
    "Power": _binary(np.power),
    "Softmax": _kind("reduce", _softmax),
    "Normalize": _kind("reduce", _normalize),
    "LogSoftmax": _kind("reduce", lambda cfg, a: activations.log_softmax(
        _floats(a, "log_softmax"), axis=_axis(cfg.get("axis", -1)))),
    "Relu": _act(activations.relu),
    "Relu6": _act(activations.relu6),
    "Sigmoid": _act(activations.sigmoid),
    "HardSigmoid": _act(activations.hard_sigmoid_keras3),
    "Softplus": _act(activations.softplus),
    "Softsign": _act(activations.softsign),
    "Silu": _act(activations.silu),
    "Swish": _act(activations.silu),
    "HardSilu": _act(activations.hard_silu),
    "HardSwish": _act(activations.hard_silu),
    "LogSigmoid": _act(activations.log_sigmoid),
    "Selu": _act(activations.selu),
    "Elu": _act(activations.elu, alpha=("alpha", 1.0)),
    "LeakyRelu": _act(activations.leaky_relu, negative_slope=("negative_slope", 0.2)),
    "Gelu": _act(activations.gelu, approximate=("approximate", True)),
    "Flip": lambda cfg, a: np.flip(np.asarray(a[0]), _axis(cfg.get("axis"))),
    "Cumsum": _cumulative(np.cumsum),
    "Cumprod": _cumulative(np.cumprod),
    "Argmax": _arg(np.argmax),
    "Argmin": _arg(np.argmin),
    "Pad": _pad,
    "Average": _kind("reduce", _average),
    "Dot": lambda cfg, a: np.dot(np.asarray(a[0]), np.asarray(a[1])),
    "Einsum": _einsum,
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
    "ExpandDims": lambda cfg, a: np.expand_dims(a[0], _axis(cfg.get("axis", 0))),
    "Squeeze": lambda cfg, a: np.squeeze(a[0], _axis(cfg.get("axis"))),
    "Transpose": lambda cfg, a: np.transpose(a[0], _axis(cfg.get("axes"))),
    "Reshape": lambda cfg, a: np.reshape(a[0], cfg.get("newshape", cfg.get("new_shape"))),
    "Concatenate": lambda cfg, a: np.concatenate(a[0], axis=cfg.get("axis", 0)),
    "Stack": lambda cfg, a: np.stack(a[0], axis=cfg.get("axis", 0)),
    "Where": _kind("elementwise", lambda cfg, a: np.where(a[0], a[1], a[2])),
    "Cast": _kind("elementwise",
                  lambda cfg, a: np.asarray(a[0]).astype(_dtype_name(cfg.get("dtype")))),
    "ZerosLike": lambda cfg, a: np.zeros(np.shape(a[0]), _like_dtype(cfg, a[0])),
    "OnesLike": lambda cfg, a: np.ones(np.shape(a[0]), _like_dtype(cfg, a[0])),
    "BroadcastTo": lambda cfg, a: np.broadcast_to(a[0], cfg["shape"]),
    "Tile": lambda cfg, a: np.tile(a[0], _expanded(cfg, a, "repeats", "tiled")),
    "Repeat": lambda cfg, a: np.repeat(a[0], _expanded(cfg, a, "repeats", "repeated"),
                                       axis=cfg.get("axis")),
    "LogicalXor": _binary(np.logical_xor),
    "GetItem": lambda cfg, a: np.asarray(a[0])[slice_key(a[1], "GetItem")],
    # Keras 3 Attention/AdditiveAttention record their output mask as convert_to_tensor(mask)
    "ConvertToTensor": _kind("elementwise", lambda cfg, a: _converted(cfg, a[0])),
}


def _converted(cfg, x):
    if cfg.get("sparse") or cfg.get("ragged"):
        raise ConfigError("convert_to_tensor to a sparse or ragged tensor is not supported")
    return np.asarray(x).astype(_dtype_name(cfg["dtype"])) if cfg.get("dtype") else np.asarray(x)


def _like_dtype(cfg, x):
    return _dtype_name(cfg["dtype"]) if cfg.get("dtype") else np.asarray(x).dtype


def _dtype_name(spec):
    return numeric_dtype(spec, "op dtype")


def _expanded(cfg, args, key, what):
    """``cfg[key]`` (or the second argument): repeats, checked so that the result stays within
    the elements a config may make one sample hold."""
    reps = cfg.get(key, args[1] if len(args) > 1 else 1)
    reps = np.asarray(reps)
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps < 0).any():
        raise ConfigError(f"{key}={reps.tolist()!r:.100} must be a count or a list of counts")
    x = np.asarray(args[0])
    per_sample = x.size // max(1, x.shape[0]) if x.ndim else 1
    limits.check_elements((per_sample, int(np.prod(reps, dtype=float))), "op", f"the {what} "
                          f"output of one sample")
    return reps.tolist()


def _check_params(cfg: dict, where: str) -> None:
    """Type and range of the op options that decide sizes or axes."""
    for key in ("axis", "axes"):
        v = cfg.get(key)
        items = v if isinstance(v, list) else [v]
        if v is not None and not all(isinstance(a, int) and not isinstance(a, bool) and
                                     -64 <= a < 64 for a in items):
            raise ConfigError(f"{where}: {key}={v!r:.100} must be an axis or a list of axes")
    for key in ("keepdims",):
        if key in cfg and not isinstance(cfg[key], bool):
            raise ConfigError(f"{where}: {key}={cfg[key]!r:.100} must be true or false")
    for key in ("shape", "newshape", "new_shape"):
        v = cfg.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(d, int) and not isinstance(d, bool) and
                                              -1 <= d <= limits.MAX_DIM for d in v):
            raise ConfigError(f"{where}: {key}={v!r:.100} must be a list of sizes")
        limits.check_elements([d for d in v if d > 0], where, key)
    if cfg.get("dtype") is not None:
        numeric_dtype(cfg["dtype"], where)


def is_op(class_name: str, entry: dict) -> bool:
    """A keras.ops node. Keras 3 names their module; its legacy .h5 configs drop it, but an
    op's config has no ``trainable`` key (a layer's has, but for a few: SpatialDropout2D,
    Discretization...) and its nodes are Keras 3 dicts; so a class both an op and a layer
    (``Average``) is told apart by that key."""
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

    def stream_block(self):
        kind = getattr(self.fn, "kind", "other")
        if kind == "elementwise":
            return None
        if kind == "reduce" and feature_axes(self.opt("axis")) and self.opt("axis") is not None:
            return None
        return "this operation may mix timesteps"

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        self.fn = _OPS[class_name]
        _check_params(self.config, self.where)

    def call(self, inputs, mask=None, **kwargs):
        cfg = dict(self.config)
        if kwargs:
            _check_params(kwargs, self.where)
            cfg.update(kwargs)
        try:
            return self.fn(cfg, list(inputs))
        except ConfigError as e:                  # UnsupportedError stays one
            raise type(e)(f"{self.where}: {e}") from None
        except (ValueError, TypeError, IndexError, KeyError) as e:
            raise InputError(f"{self.where}: op failed on inputs of shapes "
                             f"{[np.shape(a) for a in inputs]}: {e}") from None


OPS = _OPS
