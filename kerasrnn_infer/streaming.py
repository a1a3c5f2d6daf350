"""Which models can be streamed chunk by chunk (``Model.step``).

A model streams when every layer works timestep by timestep (causally): per-step layers
(Dense, Embedding, activations, normalization over features, merges over features,
TimeDistributed) and forward recurrent layers, whose states the stream carries. Anything that
looks at other timesteps needs the whole sequence and is refused, naming the layer.
"""

from __future__ import annotations

from typing import Union

from .errors import UnsupportedError
from .layers import core
from .layers.bidirectional import Bidirectional
from .layers.ops import Op
from .layers.recurrent import RNN
from .layers.wrappers import CustomLayer, TimeDistributed

_PER_STEP = (core.Identity, core.Activation, core.ReLU, core.LeakyReLU, core.ELU, core.Dense,
             core.Embedding, core.Masking, core.Add, core.Subtract, core.Multiply,
             core.Average, core.Maximum, core.Minimum, TimeDistributed)
_ELEMENTWISE_OPS = {"NotEqual", "Equal", "Greater", "GreaterEqual", "Less", "LessEqual",
                    "LogicalAnd", "LogicalOr", "LogicalNot", "Add", "Subtract", "Multiply",
                    "Divide", "TrueDivide", "Maximum", "Minimum", "Negative", "Abs", "Absolute",
                    "Square", "Sqrt", "Exp", "Log", "Tanh", "Where", "Cast"}
_FEATURE_REDUCTIONS = {"Any", "All", "Sum", "Mean", "Max", "Min"}


def _feature_axis(axis) -> bool:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return all(isinstance(a, int) and (a == -1 or a >= 2) for a in axes)


def _why_not(layer) -> Union[str, None]:
    if isinstance(layer, RNN):
        return "go_backwards needs the whole sequence" if layer.go_backwards else None
    if isinstance(layer, Bidirectional):
        return "its backward half needs the whole sequence"
    if isinstance(layer, _PER_STEP):
        return None
    if isinstance(layer, core.Concatenate):
        return None if _feature_axis(layer.opt("axis", -1)) else "it concatenates along time"
    if isinstance(layer, (core.Softmax, core.LayerNormalization, core.BatchNormalization)):
        return None if _feature_axis(layer.opt("axis", -1)) else "it normalizes across time"
    if isinstance(layer, core.Conv1D):
        ok = layer.kernel_size == 1 and layer.strides == 1
        return None if ok else "its kernel spans several timesteps"
    if isinstance(layer, Op):
        if layer.class_name in _ELEMENTWISE_OPS:
            return None
        if layer.class_name in _FEATURE_REDUCTIONS and _feature_axis(layer.opt("axis")):
            return None
        return "this operation may mix timesteps"
    if isinstance(layer, CustomLayer):
        return "a custom layer may mix timesteps"
    return "it mixes timesteps"


def check_streamable(root) -> Union[bool, UnsupportedError]:
    """True, or the error naming the first layer that needs the whole sequence."""
    from .graph import Container, InputLayer   # graph imports this package's layers
    stack = [root]
    while stack:
        c = stack.pop()
        layers = [n.layer for n in c.plan] if hasattr(c, "plan") else list(c.layers)
        for layer in layers:
            if isinstance(layer, Container):
                stack.append(layer)
                continue
            if isinstance(layer, InputLayer):
                continue
            why = _why_not(layer)
            if why:
                return UnsupportedError(f"{layer.where} cannot be streamed with step(): {why}. "
                                        f"Use predict on the whole sequence")
    return True
