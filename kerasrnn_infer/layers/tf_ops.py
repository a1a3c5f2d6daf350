"""tf-op layers of tf.keras 2.x functional models: ``TFOpLambda`` and ``SlicingOpLambda``
(TFK ``layers/core/tf_op_layer.py``), and the slicing helpers shared with Keras 3's
``GetItem`` op node.

When a tf.keras 2.x functional model applies a TensorFlow function to a Keras tensor
(``tf.concat``, ``tf.reduce_mean(x, axis=1)``, ``x[:, -1, :]``, ``x * 2.0 + 1.0``), the
config records a layer whose ``function`` names a public TF symbol (``"math.reduce_mean"``,
``"__operators__.getitem"``). It carries no code: the symbol and its arguments are data. The
call's first argument is the inbound node itself, its structure kept (a tensor, or a list
of tensors for ``concat``; ``["_CONSTANT_VALUE", -1, value]`` for a constant such as the
2.0 of ``2.0 - x``); every other argument is a keyword in the node (``{"axis": 1}``,
``{"y": ["dense", 0, 0]}`` for a tensor, slices as ``{"start", "stop", "step"}`` dicts).

The symbols below are mapped to NumPy with TensorFlow's semantics (Python constants take the
tensor's dtype, as ``tf.convert_to_tensor`` gives them); any other symbol, or an argument a
symbol does not know, is refused naming it. tf-op layers take no masks and give none, as in
tf.keras.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .. import activations, limits
from ..errors import ConfigError, InputError, UnsupportedError
from .base import Layer, numeric_dtype
from .normalization import l2_normalize


class Symbol(NamedTuple):
    fn: Callable[[Any, Dict[str, Any]], Any]     # (first argument, other arguments)
    params: Tuple[str, ...]                       # the other arguments, TF's names and order
    defaults: Dict[str, Any]
    kind: str                                     # "elementwise", "reduce" or "other"


def _array(v) -> np.ndarray:
    return v if isinstance(v, np.ndarray) else np.asarray(v)


def _pair(a, b) -> Tuple[np.ndarray, np.ndarray]:
    """Two operands as TensorFlow converts them: a Python constant takes the dtype of the
    tensor beside it."""
    if isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return a, np.asarray(b, a.dtype)
    if isinstance(b, np.ndarray) and not isinstance(a, np.ndarray):
        return np.asarray(a, b.dtype), b
    return _array(a), _array(b)


def _binary(fn) -> Callable:
    def run(x, p):
        a, b = _pair(x, p["y"])
        return fn(a, b)
    return run


def _unary(fn) -> Callable:
    return lambda x, p: fn(_array(x))


def _activation(fn) -> Callable:
    def run(x, p):
        x = _array(x)
        if x.dtype.kind != "f":
            raise InputError(f"expects floating-point input, received {x.dtype}")
        return fn(x)
    return run


def _axis(v, what="axis"):
    if v is None:
        return None
    items = v if isinstance(v, list) else [v]
    if not all(isinstance(a, int) and not isinstance(a, bool) and -64 <= a < 64 for a in items):
        raise ConfigError(f"{what}={v!r:.100} must be an axis or a list of axes")
    return tuple(items) if isinstance(v, list) else v


def _bool(v, what):
    if not isinstance(v, bool):
        raise ConfigError(f"{what}={v!r:.100} must be true or false")
    return v


def _reduce(fn) -> Callable:
    def run(x, p):
        return fn(_array(x), axis=_axis(p["axis"]), keepdims=_bool(p["keepdims"], "keepdims"))
    return run


def _mean(x, axis, keepdims):
    out = np.mean(x, axis=axis, keepdims=keepdims)
    return out.astype(x.dtype) if x.dtype.kind in "iu" else out


def _tensors(values, what) -> List[np.ndarray]:
    if not isinstance(values, list) or not values:
        raise InputError(f"{what} expects a list of tensors, received {type(values).__name__}")
    return [_array(v) for v in values]


def _concat(x, p):
    axis = _axis(p["axis"])
    if not isinstance(axis, int):
        raise ConfigError(f"axis={p['axis']!r} must be one axis")
    return np.concatenate(_tensors(x, "concat"), axis=axis)


def _stack(x, p):
    axis = _axis(p["axis"])
    if not isinstance(axis, int):
        raise ConfigError(f"axis={p['axis']!r} must be one axis")
    return np.stack(_tensors(x, "stack"), axis=axis)


def _shape_arg(v, what):
    if not isinstance(v, list) or not all(isinstance(d, int) and not isinstance(d, bool) and
                                          -1 <= d <= limits.MAX_DIM for d in v):
        raise ConfigError(f"{what}={v!r:.100} must be a list of sizes")
    limits.check_elements([d for d in v if d > 0], "tf-op layer", what)
    return v


def _reshape(x, p):
    return np.reshape(_array(x), _shape_arg(p["shape"], "shape"))


def _transpose(x, p):
    if p.get("conjugate") not in (None, False):
        raise UnsupportedError(f"conjugate={p['conjugate']!r} is not supported (real tensors)")
    perm = p["perm"]
    if perm is not None:
        perm = _axis(list(perm) if isinstance(perm, list) else perm, "perm")
    return np.transpose(_array(x), perm)


def _squeeze(x, p):
    return np.squeeze(_array(x), _axis(p["axis"]))


def _expand_dims(x, p):
    axis = _axis(p["axis"])
    if not isinstance(axis, int):
        raise ConfigError(f"axis={p['axis']!r} must be one axis")
    return np.expand_dims(_array(x), axis)


def _l2_normalize(x, p):
    axis = _axis(p["dim"] if p["axis"] is None and p["dim"] is not None else p["axis"])
    eps = p["epsilon"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ConfigError(f"epsilon={eps!r:.100} must be a number >= 0")
    x = _array(x)
    if x.dtype.kind != "f":
        raise InputError(f"l2_normalize of {x.dtype} values (TensorFlow takes floats)")
    return l2_normalize(x, axis, "tf", eps)


def _where(x, p):
    """tf.where(condition, x, y): ``condition`` the first argument; without x and y it gives
    the indices of the true values, a size only the data decides (refused)."""
    if p["x"] is None or p["y"] is None:
        raise UnsupportedError("tf.where without x and y (the indices of true values) is not "
                               "supported")
    a, b = _pair(p["x"], p["y"])
    return np.where(_array(x).astype(bool), a, b)


def _cumsum(x, p):
    """tf.math.cumsum with ``exclusive`` (the sum of the values before) and ``reverse``."""
    axis = _axis(p["axis"])
    if not isinstance(axis, int):
        raise ConfigError(f"axis={p['axis']!r:.50} must be one axis")
    exclusive, reverse = _bool(p["exclusive"], "exclusive"), _bool(p["reverse"], "reverse")
    a = _array(x)
    if reverse:
        a = np.flip(a, axis)
    y = np.cumsum(a, axis=axis, dtype=a.dtype)
    if exclusive:
        y = np.concatenate([np.zeros_like(np.take(y, [0], axis=axis)),
                            np.take(y, np.arange(y.shape[axis] - 1), axis=axis)], axis=axis)
    return np.flip(y, axis) if reverse else y


def _arg(fn):
    def run(x, p):
        axis = p["axis"] if p["axis"] is not None else p["dimension"]
        axis = 0 if axis is None else _axis(axis)               # TensorFlow: axis 0
        if not isinstance(axis, int):
            raise ConfigError(f"axis={axis!r:.50} must be one axis")
        out = p["output_type"]
        dtype = np.int64 if out is None else numeric_dtype(out, "output_type")
        if dtype not in (np.int32, np.int64):
            raise UnsupportedError(f"output_type={out!r:.50} is not supported; supported: "
                                   f"int32, int64")
        return fn(_array(x), axis=axis).astype(dtype)
    return run


def _reverse(x, p):
    axis = _axis(p["axis"])
    if axis is None:
        raise ConfigError("tf.reverse needs axis")
    return np.flip(_array(x), axis)


def _repeat(x, p):
    a = _array(x)
    reps = np.asarray(p["repeats"])
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps < 0).any():
        raise ConfigError(f"repeats={p['repeats']!r:.100} must be a count or a list of counts")
    axis = _axis(p["axis"])
    if axis is not None and not isinstance(axis, int):
        raise ConfigError(f"axis={p['axis']!r:.50} must be one axis")
    per_sample = a.size // max(1, a.shape[0]) if a.ndim else 1
    limits.check_elements((per_sample, int(reps.max(initial=1))), "tf-op layer",
                          "the repeated output of one sample")
    return np.repeat(a, reps, axis=axis)


def padded(a: np.ndarray, width, key: str, mode: str, value) -> np.ndarray:
    """``a`` padded as tf.pad and keras.ops.pad do: ``width`` (option ``key``) a [before,
    after] pair per axis, ``mode`` constant (with ``value``), reflect or symmetric (the modes
    TensorFlow has), the padded sample bounded."""
    if not isinstance(width, list) or len(width) != a.ndim or not all(
            isinstance(w, list) and len(w) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= limits.MAX_DIM
                for v in w) for w in width):
        raise ConfigError(f"{key}={width!r:.100} must list [before, after] sizes per axis of "
                          f"the {a.ndim}-D input")
    m = str(mode).lower()
    if m not in ("constant", "reflect", "symmetric"):
        raise UnsupportedError(f"pad mode={mode!r:.50} is not supported; supported: constant, "
                               f"reflect, symmetric")
    limits.check_elements([d + w[0] + w[1] for d, w in zip(a.shape[1:], width[1:])],
                          "pad", "the padded output of one sample")
    if m == "reflect":
        return np.pad(a, width, mode="reflect")
    if m == "symmetric":
        return np.pad(a, width, mode="symmetric")
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"constant_values={value!r:.50} must be a number")
    return np.pad(a, width, mode="constant", constant_values=value)


def _pad(x, p):
    return padded(_array(x), p["paddings"], "paddings", p["mode"], p["constant_values"])


def _softmax(x, p):
    axis = _axis(p["axis"])
    return activations.softmax(_array(x), axis=-1 if axis is None else axis)


def _leaky_relu(x, p):
    return activations.leaky_relu(_array(x), negative_slope=float(p["alpha"]))


def _cast(x, p):
    return _array(x).astype(numeric_dtype(p["dtype"], "dtype"))


def _tile(x, p):
    reps = p["multiples"]
    x = _array(x)
    if not isinstance(reps, list) or len(reps) != x.ndim or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in reps):
        raise ConfigError(f"multiples={reps!r:.100} must list one count per axis")
    per_sample = x.size // max(1, x.shape[0]) if x.ndim else 1
    limits.check_elements((per_sample, int(np.prod(reps[1:], dtype=float))), "tf-op layer",
                          "the tiled output of one sample")
    return np.tile(x, reps)


def _matmul(x, p):
    """tf.linalg.matmul: ``transpose_*`` and ``adjoint_*`` swap the last two axes of that
    operand (the same for real values: the only kind here); the sparsity hints change how
    TensorFlow computes, not what."""
    flips = []
    for side in ("a", "b"):
        t, adj = p.get(f"transpose_{side}"), p.get(f"adjoint_{side}")
        for key, v in ((f"transpose_{side}", t), (f"adjoint_{side}", adj),
                       (f"{side}_is_sparse", p.get(f"{side}_is_sparse"))):
            if v not in (None, False, True):
                raise UnsupportedError(f"{key}={v!r} is not supported; supported: True, False")
        if t and adj:
            raise ConfigError(f"transpose_{side} and adjoint_{side} are both True (TensorFlow "
                              f"refuses that)")
        flips.append(bool(t or adj))
    if p.get("output_type") is not None:
        raise UnsupportedError(f"output_type={p['output_type']!r} is not supported")
    a, b = _pair(x, p["b"])
    if (flips[0] and a.ndim < 2) or (flips[1] and b.ndim < 2):
        raise InputError(f"matmul transposes an operand of fewer than 2 axes: shapes "
                         f"{a.shape}, {b.shape}")
    return np.matmul(np.swapaxes(a, -1, -2) if flips[0] else a,
                     np.swapaxes(b, -1, -2) if flips[1] else b)


# TF symbol -> Symbol. Binary ops take (x, y, name); unary ones (x, name).
_NAME: Dict[str, Any] = {"name": None}
_XY = ("y", "name")
_X = ("name",)
_RED = ("axis", "keepdims", "name")
_RED_DEF = {"axis": None, "keepdims": False, "name": None}


def _e(fn, params=_XY, defaults=None) -> Symbol:
    return Symbol(fn, params, dict(defaults or _NAME), "elementwise")


SYMBOLS: Dict[str, Symbol] = {
    # arithmetic (x + y is __operators__.add, x * y math.multiply, x - y math.subtract)
    "__operators__.add": _e(_binary(np.add)),
    "math.add": _e(_binary(np.add)),
    "math.subtract": _e(_binary(np.subtract)),
    "math.multiply": _e(_binary(np.multiply)),
    "math.truediv": _e(_binary(np.true_divide)),
    "math.divide": _e(_binary(np.true_divide)),
    "math.maximum": _e(_binary(np.maximum)),
    "math.minimum": _e(_binary(np.minimum)),
    "math.pow": _e(_binary(np.power)),
    "math.squared_difference": _e(_binary(lambda a, b: np.square(a - b))),
    "math.negative": _e(_unary(np.negative), _X),
    "math.abs": _e(_unary(np.abs), _X),
    "math.square": _e(_unary(np.square), _X),
    "math.sqrt": _e(_unary(np.sqrt), _X),
    "math.exp": _e(_unary(np.exp), _X),
    "math.log": _e(_unary(np.log), _X),
    # comparisons and logic
    "math.equal": _e(_binary(np.equal)),
    "math.not_equal": _e(_binary(np.not_equal)),
    "math.greater": _e(_binary(np.greater)),
    "math.greater_equal": _e(_binary(np.greater_equal)),
    "math.less": _e(_binary(np.less)),
    "math.less_equal": _e(_binary(np.less_equal)),
    "math.logical_and": _e(_binary(np.logical_and)),
    "math.logical_or": _e(_binary(np.logical_or)),
    "math.logical_not": _e(_unary(np.logical_not), _X),
    # activations (the same formulas as the Keras activations of the same names)
    "nn.relu": _e(_activation(activations.relu), _X),
    "nn.relu6": _e(_activation(activations.relu6), _X),
    "nn.elu": _e(_activation(activations.elu), _X),
    "nn.selu": _e(_activation(activations.selu), _X),
    "math.sigmoid": _e(_activation(activations.sigmoid), _X),
    "math.tanh": _e(_activation(activations.tanh), _X),
    "math.softplus": _e(_activation(activations.softplus), _X),
    "nn.softsign": _e(_activation(activations.softsign), _X),
    "nn.leaky_relu": _e(_leaky_relu, ("alpha", "name"), {"alpha": 0.2, "name": None}),
    "nn.softmax": Symbol(_softmax, ("axis", "name"), {"axis": None, "name": None}, "other"),
    "where": _e(_where, ("x", "y", "name"), {"x": None, "y": None, "name": None}),
    "math.cumsum": Symbol(_cumsum, ("axis", "exclusive", "reverse", "name"),
                          {"axis": 0, "exclusive": False, "reverse": False, "name": None},
                          "other"),
    "math.argmax": Symbol(_arg(np.argmax), ("axis", "name", "dimension", "output_type"),
                          {"axis": None, "name": None, "dimension": None, "output_type": None},
                          "other"),
    "math.argmin": Symbol(_arg(np.argmin), ("axis", "name", "dimension", "output_type"),
                          {"axis": None, "name": None, "dimension": None, "output_type": None},
                          "other"),
    "reverse": Symbol(_reverse, ("axis", "name"), {"name": None}, "other"),
    "repeat": Symbol(_repeat, ("repeats", "axis", "name"), {"axis": None, "name": None},
                     "other"),
    "compat.v1.pad": Symbol(_pad, ("paddings", "mode", "name", "constant_values"),
                            {"mode": "CONSTANT", "name": None, "constant_values": 0}, "other"),
    "pad": Symbol(_pad, ("paddings", "mode", "constant_values", "name"),
                  {"mode": "CONSTANT", "name": None, "constant_values": 0}, "other"),
    "math.l2_normalize": Symbol(_l2_normalize, ("axis", "epsilon", "name", "dim"),
                                {"axis": None, "epsilon": 1e-12, "name": None, "dim": None},
                                "other"),
    "cast": _e(_cast, ("dtype", "name")),
    # reductions
    "math.reduce_mean": Symbol(_reduce(_mean), _RED, _RED_DEF, "reduce"),
    "math.reduce_sum": Symbol(_reduce(np.sum), _RED, _RED_DEF, "reduce"),
    "math.reduce_max": Symbol(_reduce(np.max), _RED, _RED_DEF, "reduce"),
    "math.reduce_min": Symbol(_reduce(np.min), _RED, _RED_DEF, "reduce"),
    "math.reduce_prod": Symbol(_reduce(np.prod), _RED, _RED_DEF, "reduce"),
    "math.reduce_any": Symbol(_reduce(np.any), _RED, _RED_DEF, "reduce"),
    "math.reduce_all": Symbol(_reduce(np.all), _RED, _RED_DEF, "reduce"),
    # shapes
    "concat": Symbol(_concat, ("axis", "name"), {"name": None}, "other"),
    "stack": Symbol(_stack, ("axis", "name"), {"axis": 0, "name": None}, "other"),
    "expand_dims": Symbol(_expand_dims, ("axis", "name"), {"name": None}, "other"),
    "compat.v1.squeeze": Symbol(_squeeze, ("axis", "name", "squeeze_dims"),
                                {"axis": None, "name": None, "squeeze_dims": None}, "other"),
    "squeeze": Symbol(_squeeze, ("axis", "name"), {"axis": None, "name": None}, "other"),
    "reshape": Symbol(_reshape, ("shape", "name"), {"name": None}, "other"),
    "compat.v1.transpose": Symbol(_transpose, ("perm", "name", "conjugate"),
                                  {"perm": None, "name": None, "conjugate": False}, "other"),
    "transpose": Symbol(_transpose, ("perm", "conjugate", "name"),
                        {"perm": None, "conjugate": False, "name": None}, "other"),
    "tile": Symbol(_tile, ("multiples", "name"), {"name": None}, "other"),
    "linalg.matmul": Symbol(_matmul, ("b", "transpose_a", "transpose_b", "adjoint_a",
                                      "adjoint_b", "a_is_sparse", "b_is_sparse",
                                      "output_type", "name"),
                            {"transpose_a": False, "transpose_b": False, "adjoint_a": False,
                             "adjoint_b": False, "a_is_sparse": False, "b_is_sparse": False,
                             "output_type": None, "name": None}, "other"),
}


# ----- slicing (TF __operators__.getitem, Keras 3 GetItem) --------------------------------------
def _bound(v, what):
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and
                     abs(v) <= limits.MAX_DIM * 64):
        return v
    raise ConfigError(f"slice {what}={v!r:.100} must be an integer or null")


def index_item(item, where: str):
    """One item of a slice spec: a slice (``{"start","stop","step"}``, or Keras 3's
    ``__slice__``), an index, ``None`` (a new axis) or an ellipsis."""
    if isinstance(item, dict):
        name = item.get("class_name")
        if name == "__ellipsis__":
            return Ellipsis
        cfg = item.get("config") if name == "__slice__" else item
        if isinstance(cfg, dict) and set(cfg) <= {"start", "stop", "step"}:
            step = _bound(cfg.get("step"), "step")
            if step == 0:
                raise ConfigError(f"{where}: a slice step cannot be 0")
            return slice(_bound(cfg.get("start"), "start"), _bound(cfg.get("stop"), "stop"),
                         step)
    elif item is None or (isinstance(item, int) and not isinstance(item, bool)):
        return _bound(item, "index")
    raise UnsupportedError(f"{where}: slice item {item!r:.100} is not supported; supported: "
                           f"integers, slices, None (new axis), an ellipsis")


def slice_key(spec, where: str):
    items = spec if isinstance(spec, list) else [spec]
    if len(items) > 64:
        raise ConfigError(f"{where}: a slice spec with {len(items)} items")
    key = tuple(index_item(i, where) for i in items)
    if sum(k is Ellipsis for k in key) > 1:
        raise ConfigError(f"{where}: a slice spec with more than one ellipsis")
    return key if isinstance(spec, list) else key[0]


def _getitem(x, p):
    if p.get("var") is not None:
        raise UnsupportedError(f"var={p['var']!r} is not supported")
    return _array(x)[p["_key"]]


SYMBOLS["__operators__.getitem"] = Symbol(_getitem, ("slice_spec", "var"), {"var": None},
                                          "other")


class TFOpLambda(Layer):
    """A TF symbol applied to tensors (also ``SlicingOpLambda``)."""

    preserve_structure = True       # the inbound node is the call's first argument as is

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        symbol = config.get("function")
        if not isinstance(symbol, str):
            raise ConfigError(f"{self.where}: 'function' must name a TensorFlow symbol, "
                              f"received {symbol!r:.100}")
        if symbol.startswith("tf."):
            symbol = symbol[3:]
        self.symbol = symbol
        spec = SYMBOLS.get(symbol)
        if spec is None:
            raise UnsupportedError(
                f"{self.where}: TensorFlow symbol tf.{symbol} is not supported; supported: "
                f"{', '.join('tf.' + s for s in sorted(SYMBOLS))}. A NumPy version can be "
                f"supplied with custom_objects={{{class_name!r}: factory}}")
        self.spec = spec

    def _arguments(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        unknown = sorted(k for k in kwargs if k not in self.spec.params)
        if unknown:
            raise UnsupportedError(f"{self.where}: tf.{self.symbol} argument(s) {unknown} are "
                                   f"not supported; supported: "
                                   f"{', '.join(self.spec.params)}")
        p = dict(self.spec.defaults)
        p.update(kwargs)
        missing = [k for k in self.spec.params if k not in p]
        if missing:
            raise ConfigError(f"{self.where}: tf.{self.symbol} is called without {missing}")
        if self.symbol == "__operators__.getitem":
            p["_key"] = slice_key(p["slice_spec"], self.where)
        if self.symbol == "compat.v1.squeeze" and p.get("squeeze_dims") is not None:
            p["axis"] = p["squeeze_dims"]
        return p

    def run(self, inputs, mask, kwargs, ctx):
        return self.call(inputs, **kwargs), None

    def call(self, inputs, mask=None, **kwargs):
        p = self._arguments(kwargs)
        try:
            return self.spec.fn(inputs, p)
        except ConfigError as e:
            raise type(e)(f"{self.where}: tf.{self.symbol}: {e}") from None
        except InputError as e:
            raise InputError(f"{self.where}: tf.{self.symbol}: {e}") from None
        except (ValueError, TypeError, IndexError) as e:     # np.AxisError is both
            shapes = [np.shape(a) for a in (inputs if isinstance(inputs, list) else [inputs])]
            raise InputError(f"{self.where}: tf.{self.symbol} failed on inputs of shapes "
                             f"{shapes}: {e}") from None

    def stream_block(self) -> Optional[str]:
        if self.spec.kind == "elementwise":
            return None
        return "this TensorFlow operation may mix timesteps"

    def describe(self) -> str:
        return f"tf.{self.symbol}"

