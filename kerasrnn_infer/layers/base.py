"""The layer base class and the context layers are built in.

A layer is three separate things, as in Keras: its config (read once, at construction, with
typed option readers), its weights (``set_weights``, positional, in Keras's ``get_weights``
order; ``weight_node`` describes how Keras saves them, for the file formats) and its maths
(``call``; ``run`` is the one call path the executor uses). Layers hold no per-call state, so
one model can serve many threads.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import activations, limits
from .._util import as_list  # noqa: F401  (re-exported for the layers)
from ..compat import Compat
from ..dtypes import numeric_dtype, parse_dtype  # noqa: F401  (re-exported for the layers)
from ..errors import ConfigError, InputError, UnsupportedError, WeightsError


@dataclass
class BuildContext:
    """What a layer needs to know about the file it comes from (its path for messages, the
    writing Keras's behaviour, the user's custom layers), how to build the layers inside it
    (``build``, set by the registry), and what building has cost so far (layers, graph nodes,
    nesting: bounded by ``limits``)."""

    source: str = "<config>"                 # file path or "<config>", for messages
    compat: Compat = field(default_factory=lambda: Compat.resolve("3"))
    custom_objects: Dict[str, Callable] = field(default_factory=dict)
    build: Optional[Callable[[Any, "BuildContext"], "Layer"]] = None
    jit: Optional[bool] = None               # the compiled recurrent kernel: kernels.jit_setting
    layers: int = 0
    nodes: int = 0
    depth: int = 0

    @property
    def keras_version(self) -> str:
        return self.compat.version

    def build_layer(self, entry: Any) -> "Layer":
        """The layer (or nested model) of a serialized config entry."""
        if self.build is None:
            raise RuntimeError("BuildContext.build is not set")
        return self.build(entry, self)

    def count_layer(self, n: int = 1, where: Optional[str] = None) -> None:
        """Count ``n`` more layers (a container counts its list before building it)."""
        if self.layers + n > limits.MAX_LAYERS:
            raise ConfigError(f"{where or self.source}: the model declares at least "
                              f"{self.layers + n} layers, more than the {limits.MAX_LAYERS} "
                              f"read (op nodes and nested models' layers included)")
        self.layers += n

    def count_nodes(self, n: int, where: str) -> None:
        self.nodes += n
        if self.nodes > limits.MAX_NODES:
            raise ConfigError(f"{where}: the model declares more than {limits.MAX_NODES} layer "
                              f"calls (inbound nodes); at most {limits.MAX_NODES} are read")

    def nested(self, where: str) -> "_Nesting":
        """``with ctx.nested(where):`` around building the layers inside a model or wrapper."""
        return _Nesting(self, where)


class _Nesting:
    def __init__(self, ctx: BuildContext, where: str):
        self.ctx, self.where = ctx, where

    def __enter__(self):
        self.ctx.depth += 1
        if self.ctx.depth > limits.MAX_NESTING:
            raise ConfigError(f"{self.where}: models and wrappers nest more than "
                              f"{limits.MAX_NESTING} deep")
        return self

    def __exit__(self, *exc):
        self.ctx.depth -= 1


#: Activation layers (no weights, elementwise or along an axis) that a layer's
#: ``activation`` option may hold instead of a name (``Layer.activation_opt``).
ACTIVATION_LAYERS = ("ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU")


class _LayerActivation:
    """An activation layer used as a layer's activation: ``fn(x, out=None)`` as the
    functions of kerasrnn_infer.activations."""

    def __init__(self, layer: "Layer"):
        self.layer = layer

    def __call__(self, x, out=None):
        y = self.layer.call(x)
        if out is None:
            return y
        out[...] = y
        return out


@dataclass
class WeightSlot:
    """One weight of a layer: its Keras name, the shape it must have, and whether it trains.

    ``shape`` entries may be None where the config does not fix them (e.g. input features).
    """

    name: str
    shape: Sequence[Optional[int]]
    trainable: bool = True


@dataclass
class WeightNode:
    """How Keras saves a layer's weights: its own variables (``slots``, in creation order;
    None where only the file can say, as for custom layers) and the objects holding the rest,
    each under the attribute Keras tracks it by (``("cell", node)``, ``("forward_layer",
    node)``, ``("layers", [nodes])``...). File formats map their own naming onto this tree;
    a layer's ``get_weights`` order is the tree's own-then-children walk."""

    class_name: str
    slots: Optional[List[WeightSlot]]
    children: List[Tuple[str, Union["WeightNode", List["WeightNode"]]]] = field(
        default_factory=list)
    trainable: bool = True
    layer: Optional["Layer"] = None         # the layer whose set_weights takes this subtree

    def walk(self):
        """This node and every node below it, own-then-children order."""
        yield self
        for _, child in self.children:
            for c in as_list(child):
                yield from c.walk()

    def flat_slots(self, trainable: bool = True) -> Optional[List[WeightSlot]]:
        """Every slot of the subtree in ``get_weights`` order (trainable as Keras reports it:
        also false under a non-trainable parent); None if any part is unknown."""
        if self.slots is None:
            return None
        on = trainable and self.trainable
        out = [WeightSlot(s.name, s.shape, s.trainable and on) for s in self.slots]
        for _, child in self.children:
            for c in as_list(child):
                sub = c.flat_slots(on)
                if sub is None:
                    return None
                out += sub
        return out


class _ReadOnlyView:
    """A property that an instance attribute of the same name shadows (a non-data
    descriptor), so a layer may still assign an attribute of that name for itself."""

    def __init__(self, fget):
        self.fget = fget
        self.__doc__ = fget.__doc__

    def __get__(self, obj, cls=None):
        return self if obj is None else self.fget(obj)


class Weight:
    """One weight of a layer, as Keras's ``layer.weights`` lists them: ``name`` (``"kernel"``),
    ``path`` (``"lstm/cell/kernel"``-like: the layer, then the slot), ``shape``, ``dtype``,
    ``trainable`` and ``numpy()`` (a copy); ``np.asarray(w)`` works too."""

    __slots__ = ("name", "path", "trainable", "_value")

    def __init__(self, name: str, path: str, value: np.ndarray, trainable: bool = True):
        self.name, self.path, self.trainable = name, path, trainable
        self._value = value

    @property
    def shape(self) -> Tuple[int, ...]:
        """The array's shape."""
        return tuple(self._value.shape)

    @property
    def dtype(self) -> np.dtype:
        """The array's dtype."""
        return self._value.dtype

    def numpy(self) -> np.ndarray:
        """A copy of the value, as Keras's ``variable.numpy()``."""
        return self._value.copy()

    def __array__(self, dtype=None, copy=None):
        return self._value.astype(dtype) if dtype is not None else self._value.copy()

    def __repr__(self) -> str:
        return f"<Weight path={self.path!r}, shape={self.shape}, dtype={self.dtype.name}>"


def to_snake_case(name: str) -> str:
    """Keras's class-name-to-path rule (``SimpleRNN`` -> ``simple_rnn``), used in .keras files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class: a named Keras layer with positional weights and a NumPy ``call``.

    Subclasses set ``slots`` in ``__init__`` (their weights, in Keras order), implement
    ``call`` and, if the layer passes or makes masks, ``compute_mask``; layers holding other
    layers or cells describe them in ``weight_node``. ``streaming`` says whether the layer can
    run a sequence chunk by chunk (``Model.step``): None when it works timestep by timestep,
    else the reason it cannot (``stream_block`` may decide from the options).
    """

    supports_masking = False       # passes the input mask through unchanged
    is_op = False                  # a keras.ops node rather than a layer
    is_model = False               # a Sequential or Functional model (holds a graph)
    float_dtype = True             # config 'dtype' is a float compute dtype (not InputLayer's)
    #: Names of the positional call arguments (first: the inputs) for layers called with more
    #: than one, as Keras 3 records ``mha(query, value)``; graph.py maps the others to kwargs.
    call_args: Tuple[str, ...] = ()
    #: Call arguments whose tensors' own Keras masks the layer reads (Keras 3 passes them as
    #: ``<name>_mask``, tf-keras reads ``tensor._keras_mask``): the executor passes each as
    #: the ``<name>_mask`` keyword, the first being the inputs' mask.
    mask_args: Tuple[str, ...] = ()
    #: After its call, the input tensors of the ``mask_args`` carry no mask any more for the
    #: calls that run later (Keras 3 MultiHeadAttention; see compat.mha_clears_masks).
    clears_input_masks = False
    streaming: Optional[str] = "it mixes timesteps"
    #: An Embedding layer's next layer in a Sequential model, when that layer looks the
    #: embedding rows up itself where it can (``run_embedded``; executor.run_sequential),
    #: and that layer's ``embedding``.
    fused_next: Optional["Layer"] = None
    embedding: Optional["Layer"] = None
    #: Whether ``run_embedded`` can look the rows up (its kernel has that form), with
    #: ``direct`` an Embedding layer's direct step too (executor.direct_plan).
    looks_up_rows = False
    embedding_ids: Optional[np.dtype] = None      # the dtype of the ids it will look up

    def __init__(self, class_name: str, name: str, config: dict, ctx: BuildContext):
        self.class_name = class_name
        self.name = name
        self.config = config
        self.ctx = ctx
        self.trainable = self.bool_opt("trainable", True)
        self.dtype = parse_dtype(config.get("dtype") if self.float_dtype else None, self.where)
        self.slots: Optional[List[WeightSlot]] = []
        self._weights: List[np.ndarray] = []

    # ----- config helpers -------------------------------------------------------------------
    @functools.cached_property
    def where(self) -> str:
        """``<file>: layer 'name' (Class)``: how messages about this layer begin (made once:
        every call passes it to ``single``, and its name, class and file do not change)."""
        return f"{self.ctx.source}: layer {self.name!r} ({self.class_name})"

    def opt(self, key: str, default: Any = None) -> Any:
        """The config value ``key`` as the file holds it, or ``default``."""
        return self.config.get(key, default)

    def require(self, key: str) -> Any:
        """The config value ``key``; a ConfigError naming the layer when it is absent."""
        if key not in self.config:
            raise ConfigError(f"{self.where}: config has no {key!r}")
        return self.config[key]

    def activation_opt(self, key: str = "activation") -> Callable:
        """The activation function of option ``key``: a Keras activation (activations.get),
        or an activation layer passed as one (``Dense(3, activation=LeakyReLU(0.2))``: Keras
        serializes the layer, ``ACTIVATION_LAYERS``), which is built and applied as such."""
        spec = self.opt(key)
        if isinstance(spec, dict) and spec.get("class_name") in ACTIVATION_LAYERS and \
                isinstance(spec.get("config"), dict):
            if self.ctx.build is None:
                raise ConfigError(f"{self.where}: {key} is a layer, and no layer builder is set")
            return _LayerActivation(self.ctx.build(spec, self.ctx))
        return activations.get(spec, self.ctx.compat, f"{self.where} {key}")

    def refuse(self, option: str, value: Any, supported: str) -> None:
        """Raise UnsupportedError naming the layer, the option, its value and what is
        supported."""
        raise UnsupportedError(f"{self.where}: {option}={value!r} is not supported; "
                               f"supported: {supported}")

    # Typed options: each checks the value's type and range where the config is read, so a
    # damaged or hostile config is a ConfigError naming the layer, the option and the value.
    def _value(self, key: str, default: Any, aliases: Sequence[str]) -> Tuple[str, Any]:
        for k in (key, *aliases):
            if k in self.config and self.config[k] is not None:
                return k, self.config[k]
        return key, default

    def bool_opt(self, key: str, default: bool = False, aliases: Sequence[str] = ()) -> bool:
        """The config value ``key`` (or one of its ``aliases``) as a bool; a ConfigError for
        anything else."""
        k, v = self._value(key, default, aliases)
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, np.integer)) and v in (0, 1):
            return bool(v)
        raise ConfigError(f"{self.where}: {k}={v!r:.100} must be true or false")

    def int_opt(self, key: str, default: Any = None, minimum: int = 1,
                maximum: int = limits.MAX_DIM, aliases: Sequence[str] = ()) -> Any:
        """The config value ``key`` as an int within ``[minimum, maximum]`` (or None when
        that is the default); a ConfigError otherwise."""
        k, v = self._value(key, default, aliases)
        if v is None:
            return None
        return limits.check_dim(v, self.where, k, minimum, maximum)

    def float_opt(self, key: str, default: Any = None, aliases: Sequence[str] = (),
                  minimum: Optional[float] = None) -> Any:
        """The config value ``key`` as a finite float (at least ``minimum``); a ConfigError
        otherwise."""
        k, v = self._value(key, default, aliases)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or \
                not math.isfinite(v) or (minimum is not None and v < minimum):
            low = "" if minimum is None else f" of at least {minimum}"
            raise ConfigError(f"{self.where}: {k}={v!r:.100} must be a finite number{low}")
        return float(v)

    def choice_opt(self, key: str, default: Any, choices: Sequence[Any],
                   aliases: Sequence[str] = (), lower: bool = True) -> Any:
        """The config value ``key``, one of ``choices`` (compared lowercased when ``lower``);
        UnsupportedError listing the choices otherwise."""
        k, v = self._value(key, default, aliases)
        if lower and isinstance(v, str):
            v = v.lower()
        if v not in choices:
            self.refuse(k, v, ", ".join(str(c) for c in choices))
        return v

    def ints_opt(self, key: str, default: Any, n: int, minimum: int = 1,
                 aliases: Sequence[str] = (), maximum: int = limits.MAX_DIM) -> Tuple[int, ...]:
        """An int, or a list of ``n`` ints (Keras's ``standardize_tuple``)."""
        k, v = self._value(key, default, aliases)
        items = list(v) if isinstance(v, (list, tuple)) else [v] * n
        if len(items) != n:
            raise ConfigError(f"{self.where}: {k}={v!r:.100} must be an integer or a list of "
                              f"{n} integers")
        return tuple(limits.check_dim(i, self.where, k, minimum, maximum) for i in items)

    def axes_opt(self, key: str, default: Any) -> List[int]:
        """An axis or a list of axes (integers, negative allowed)."""
        k, v = self._value(key, default, ())
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        if not items or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                and -64 <= a < 64 for a in items):
            raise ConfigError(f"{self.where}: {k}={v!r:.100} must be an axis or a list of axes")
        return [int(a) for a in items]

    # ----- weights ----------------------------------------------------------------------------
    @property
    def weight_count(self) -> Optional[int]:
        """Number of weight arrays, or None where only the file can say (custom layers)."""
        return None if self.slots is None else len(self.slots)

    def weight_node(self) -> WeightNode:
        """How Keras saves this layer's weights (see WeightNode)."""
        return WeightNode(self.class_name, self.slots, [], self.trainable, self)

    def set_weights(self, arrays: Sequence[np.ndarray]) -> None:
        """Give the layer its weights in Keras's ``get_weights`` order, each checked against
        the shape its config implies (WeightsError naming the weight otherwise)."""
        slots = self.slots or []
        if len(arrays) != len(slots):
            raise WeightsError(f"{self.where}: expects {len(slots)} weight arrays "
                               f"({', '.join(s.name for s in slots) or 'none'}), "
                               f"received {len(arrays)}")
        checked = []
        for slot, arr in zip(slots, arrays):
            arr = np.asarray(arr)
            if arr.dtype.kind not in "fiu":
                raise WeightsError(f"{self.where}: weight {slot.name!r} has dtype {arr.dtype}, "
                                   f"expected a numeric array")
            ok = arr.ndim == len(slot.shape) and all(
                want is None or want == got for want, got in zip(slot.shape, arr.shape))
            if not ok:
                want = tuple("?" if d is None else d for d in slot.shape)
                raise WeightsError(f"{self.where}: weight {slot.name!r} has shape "
                                   f"{tuple(arr.shape)}, expected {want}")
            checked.append(arr)
        self._weights = checked
        self.build_weights(checked)

    def build_weights(self, arrays: List[np.ndarray]) -> None:
        """Prepare computation from the checked arrays (reorder, cast...)."""

    def get_weights(self) -> List[np.ndarray]:
        """Copies of the layer's weight arrays, in Keras's ``get_weights`` order."""
        return [w.copy() for w in self._weights]

    def count_params(self) -> int:
        """The number of weight values, as Keras's ``count_params``."""
        return int(sum(w.size for w in self._weights))

    @_ReadOnlyView
    def weights(self) -> List[Weight]:
        """The layer's weights as :class:`Weight` objects (``name``, ``path``, ``shape``,
        ``dtype``, ``trainable``, ``numpy()``), in ``get_weights`` order, as Keras's
        ``layer.weights``."""
        arrays = self.get_weights()
        slots = self.weight_node().flat_slots() or []
        paths = getattr(arrays, "paths", None) or []
        out = []
        for k, a in enumerate(arrays):
            slot = slots[k] if k < len(slots) else None
            name = slot.name if slot is not None else \
                str(paths[k]) if k < len(paths) and paths[k] else f"weight_{k}"
            out.append(Weight(name.rsplit("/", 1)[-1], f"{self.name}/{name}", a,
                              slot.trainable if slot is not None else self.trainable))
        return out

    @property
    def trainable_weights(self) -> List[Weight]:
        """The trainable part of ``weights`` (Keras's ``trainable_weights``)."""
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> List[Weight]:
        """The rest of ``weights`` (moving statistics, frozen layers)."""
        return [w for w in self.weights if not w.trainable]

    def get_config(self) -> Dict[str, Any]:
        """The layer's config as the file holds it (a deep copy), as Keras's
        ``get_config``."""
        import copy
        return copy.deepcopy(self.config)

    def _io_shape(self, which: int, attr: str) -> Any:
        provider = self.__dict__.get("_io_shapes")
        shapes = provider() if provider is not None else None
        got = shapes() if shapes is not None else {}
        if self.name not in got:
            raise AttributeError(f"layer {self.name!r} has no known {attr}: shapes are known "
                                 f"for the top-level layers of a model whose input shapes the "
                                 f"file records")
        return got[self.name][which]

    @property
    def input_shape(self) -> Any:
        """The shape of the layer's input in its model (first call), as tf-keras's
        ``layer.input_shape``: a tuple, a list for several inputs; None for sizes that depend
        on the inputs. Known for a model's top-level layers."""
        return self._io_shape(0, "input_shape")

    @property
    def output_shape(self) -> Any:
        """The shape of the layer's output in its model (first call), as tf-keras's
        ``layer.output_shape``; see ``input_shape``."""
        return self._io_shape(1, "output_shape")

    # ----- maths --------------------------------------------------------------------------------
    def cast_input(self, x: np.ndarray) -> np.ndarray:
        """Keras autocasts floating inputs to the layer's compute dtype."""
        if x.dtype != self.dtype and x.dtype.kind in "fiub":
            return x.astype(self.dtype)
        return x

    def run(self, inputs, mask, kwargs: Dict[str, Any], ctx) -> Tuple[Any, Any]:
        """One call, as the executor makes it: ``(outputs, output masks)``. ``ctx`` carries
        recurrent state across calls (stateful layers, streaming) or is None."""
        return self.call(inputs, mask=mask, **kwargs), self.compute_mask(inputs, mask)

    def call(self, inputs, mask=None, **kwargs):
        raise NotImplementedError

    def compute_mask(self, inputs, mask):
        """The mask of the layer's output, as Keras's ``compute_mask``: the input mask when
        the layer supports masking, else None."""
        return mask if self.supports_masking else None

    #: The layer returns its input unchanged at inference (Dropout and its family): a
    #: model's direct path (``direct``) leaves it out.
    inert = False

    def direct(self) -> Optional[Tuple[Any, bool]]:
        """This layer's direct form, for a model's direct path (executor.direct_plan: a plain
        ``predict``, one array in, no state, nothing collected): ``(fn, quiet)``, ``fn(x,
        mask)`` giving ``(output, output mask)`` as ``run`` does, or None where it does not
        take this ``x`` (then the whole call takes the general path), ``quiet`` when ``fn``
        raises no NumPy floating-point warning (else the path runs under ``np.errstate``,
        as ``Model._run``). None: the layer has no direct form. Here: ``run`` itself, as
        run_sequential calls it, not quiet."""
        return self._run_plain, False

    def _run_plain(self, x, mask):
        return self.run(x, mask, {}, None)

    def direct_ids(self, emb: "Layer", general: Any) -> Any:
        """The direct step of this layer on the output of Embedding layer ``emb``
        (``looks_up_rows``), taking the ids; ``general(x, mask)`` is the step that runs
        ``run_embedded`` (executor), which this one may hand any call to."""
        return general

    def stream_block(self) -> Optional[str]:
        """None if the layer can run a sequence chunk by chunk, else why not."""
        return self.streaming

    def describe(self) -> str:
        """Key options for summaries."""
        return ""

    def __repr__(self) -> str:
        return f"<{self.class_name} {self.name!r}>"


def single(inputs, where: str) -> np.ndarray:
    """The one input of a single-input layer."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 1:
            raise InputError(f"{where}: expects one input, received {len(inputs)}")
        return inputs[0]
    return inputs



def feature_axes(axes) -> bool:
    """Whether every axis in ``axes`` is a feature axis (-1 or from 2 on): a layer acting
    along them only works timestep by timestep (it can be streamed)."""
    return all(isinstance(a, int) and (a == -1 or a >= 2) for a in as_list(axes))
