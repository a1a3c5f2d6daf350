"""The layer registry: every Keras class name this library implements, in one literal table,
and ``build_layer``, which turns a serialized layer config into a layer.

Adding a layer is one class (in the module of its Keras family) and one line here.
"""

from __future__ import annotations

from typing import Any, Dict, List

from .. import compat
from ..errors import ConfigError, UnsafeModelError, UnsupportedError
from .advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import BuildContext, Layer, to_snake_case
from .bidirectional import Bidirectional
from .containers import Functional, Sequential
from .conv_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                            Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D)
from .core import Activation, Dense, Embedding, Identity, InputLayer, KerasIdentity, Masking
from .custom import CustomLayer
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                            UnitNormalization)
from .ops import OPS, Op, is_op
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .preprocessing import CategoryEncoding, Discretization, Normalization, Rescaling
from .recurrent import RNN
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Flatten, Permute, RepeatVector,
                        Reshape, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D,
                        ZeroPadding2D, ZeroPadding3D)
from .tf_ops import TFOpLambda
from .text import IntegerLookup, StringLookup, TextVectorization
from .wrappers import TimeDistributed

REGISTRY: Dict[str, type] = {
    # models
    "Sequential": Sequential, "Functional": Functional, "Model": Functional,
    "InputLayer": InputLayer,
    # recurrent
    "SimpleRNN": RNN, "LSTM": RNN, "GRU": RNN, "RNN": RNN, "Bidirectional": Bidirectional,
    "ConvLSTM1D": ConvLSTM1D, "ConvLSTM2D": ConvLSTM2D, "ConvLSTM3D": ConvLSTM3D,
    # core
    "Dense": Dense, "Embedding": Embedding, "Activation": Activation, "Masking": Masking,
    "TimeDistributed": TimeDistributed,
    # reshaping
    "Flatten": Flatten, "Reshape": Reshape, "Permute": Permute, "RepeatVector": RepeatVector,
    "ZeroPadding1D": ZeroPadding1D, "ZeroPadding2D": ZeroPadding2D,
    "ZeroPadding3D": ZeroPadding3D,
    "Cropping1D": Cropping1D, "Cropping2D": Cropping2D, "Cropping3D": Cropping3D,
    "UpSampling1D": UpSampling1D, "UpSampling2D": UpSampling2D, "UpSampling3D": UpSampling3D,
    # merging
    "Concatenate": Concatenate, "Add": Add, "Subtract": Subtract, "Multiply": Multiply,
    "Average": Average, "Maximum": Maximum, "Minimum": Minimum, "Dot": Dot,
    # attention
    "Attention": Attention, "AdditiveAttention": AdditiveAttention,
    "MultiHeadAttention": MultiHeadAttention,
    # convolution (Keras 1 names: compat.normalize) and pooling
    "Conv1D": Conv1D, "Convolution1D": Conv1D, "Conv2D": Conv2D, "Convolution2D": Conv2D,
    "Conv3D": Conv3D, "Convolution3D": Conv3D,
    "SeparableConv1D": SeparableConv1D, "SeparableConvolution1D": SeparableConv1D,
    "SeparableConv2D": SeparableConv2D, "SeparableConvolution2D": SeparableConv2D,
    "DepthwiseConv1D": DepthwiseConv1D, "DepthwiseConv2D": DepthwiseConv2D,
    "Conv1DTranspose": Conv1DTranspose, "Convolution1DTranspose": Conv1DTranspose,
    "Conv2DTranspose": Conv2DTranspose, "Convolution2DTranspose": Conv2DTranspose,
    "Conv3DTranspose": Conv3DTranspose, "Convolution3DTranspose": Conv3DTranspose,
    "MaxPooling1D": MaxPooling1D, "MaxPool1D": MaxPooling1D,
    "MaxPooling2D": MaxPooling2D, "MaxPool2D": MaxPooling2D,
    "MaxPooling3D": MaxPooling3D, "MaxPool3D": MaxPooling3D,
    "AveragePooling1D": AveragePooling1D, "AvgPool1D": AveragePooling1D,
    "AveragePooling2D": AveragePooling2D, "AvgPool2D": AveragePooling2D,
    "AveragePooling3D": AveragePooling3D, "AvgPool3D": AveragePooling3D,
    "GlobalMaxPooling1D": GlobalMaxPooling1D, "GlobalMaxPool1D": GlobalMaxPooling1D,
    "GlobalMaxPooling2D": GlobalMaxPooling2D, "GlobalMaxPool2D": GlobalMaxPooling2D,
    "GlobalMaxPooling3D": GlobalMaxPooling3D, "GlobalMaxPool3D": GlobalMaxPooling3D,
    "GlobalAveragePooling1D": GlobalAveragePooling1D,
    "GlobalAvgPool1D": GlobalAveragePooling1D,
    "GlobalAveragePooling2D": GlobalAveragePooling2D,
    "GlobalAvgPool2D": GlobalAveragePooling2D,
    "GlobalAveragePooling3D": GlobalAveragePooling3D,
    "GlobalAvgPool3D": GlobalAveragePooling3D,
    # normalization and activations
    "BatchNormalization": BatchNormalization, "LayerNormalization": LayerNormalization,
    "UnitNormalization": UnitNormalization, "GroupNormalization": GroupNormalization,
    "ReLU": ReLU, "LeakyReLU": LeakyReLU, "PReLU": PReLU, "ThresholdedReLU": ThresholdedReLU,
    "ELU": ELU, "Softmax": Softmax,
    # preprocessing
    "Normalization": Normalization, "Rescaling": Rescaling, "Discretization": Discretization,
    "CategoryEncoding": CategoryEncoding, "IntegerLookup": IntegerLookup,
    "StringLookup": StringLookup, "TextVectorization": TextVectorization,
    # identity at inference
    "Dropout": Identity, "SpatialDropout1D": Identity, "SpatialDropout2D": Identity,
    "SpatialDropout3D": Identity, "GaussianNoise": Identity,
    "GaussianDropout": Identity, "AlphaDropout": Identity, "ActivityRegularization": Identity,
    "Identity": KerasIdentity,
    # tf.keras 2.x tf-op layers: a TensorFlow symbol by name, no code (layers/tf_ops.py)
    "TFOpLambda": TFOpLambda, "SlicingOpLambda": TFOpLambda,
}

# layers whose config holds Python code
_UNSAFE = ("Lambda",)


def supported_layers() -> List[str]:
    """The Keras layer class names this library implements."""
    return sorted(REGISTRY)


def build_layer(entry: Any, ctx: BuildContext) -> Layer:
    """Build one layer (or nested model) from its serialized config."""
    if ctx.build is None:
        ctx.build = build_layer
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ConfigError(f"{ctx.source}: expected a layer config with a 'class_name', "
                          f"received {str(entry)[:200]}")
    ctx.count_layer()
    cls = entry["class_name"]
    cfg = entry.get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, (dict, list)):
        raise ConfigError(f"{ctx.source}: layer config of class {cls!r} must be an object, "
                          f"received {str(cfg)[:200]}")
    if isinstance(cfg, list):          # Keras 1 / early Keras 2 Sequential: a bare list
        cfg = {"layers": cfg}
    name = entry.get("name") or cfg.get("name") or to_snake_case(cls)
    if not isinstance(name, str):
        raise ConfigError(f"{ctx.source}: layer name {name!r} of class {cls!r} is not a string")
    registered = entry.get("registered_name")
    for key in (cls, registered, cls.rsplit(">", 1)[-1]):   # "package>Class": Class too
        if isinstance(key, str) and key in ctx.custom_objects:
            return CustomLayer(cls, name, cfg, ctx, ctx.custom_objects[key])
    if cls in _UNSAFE:
        raise UnsafeModelError(
            f"{ctx.source}: layer {name!r} is a {cls}, which holds Python code from the file; "
            f"kerasrnn_infer never runs code from model files. Supply a NumPy implementation "
            f"with custom_objects={{{cls!r}: factory}}, where factory(config, weights) returns "
            f"a callable layer(inputs, mask=None)")
    if is_op(cls, entry):
        if cls in OPS:
            return Op(cls, name, cfg, ctx)
        raise UnsupportedError(f"{ctx.source}: operation node {name!r} ({cls}) is not "
                               f"supported; supported ops: {', '.join(sorted(OPS))}")
    cls, cfg = compat.normalize(cls, cfg, ctx.source)
    layer_class = REGISTRY.get(cls)
    if layer_class is None:
        raise UnsupportedError(_unknown_class(ctx, name, cls, entry))
    return layer_class(cls, name, cfg, ctx)


def _unknown_class(ctx: BuildContext, name: str, cls: str, entry: dict) -> str:
    """The message for a class the registry lacks: a Keras built-in (Keras 3 configs say so
    in ``module``) lists what is supported; a custom layer says how to supply it, from Python
    and from the command line."""
    module = entry.get("module")
    supply = (f"supply a NumPy version: custom_objects={{{cls!r}: factory}} in Python, or on "
              f"the command line --custom FILE.py whose CUSTOM_OBJECTS dict maps {cls!r} to "
              f"the factory; factory(config, weights) returns layer(inputs, mask=None)")
    if isinstance(module, str) and module.split(".")[0] == "keras":
        return (f"{ctx.source}: layer {name!r} has class {cls!r} ({module}), which is not "
                f"supported; supported: {', '.join(supported_layers())}. To run it anyway, "
                f"{supply}")
    import difflib
    close = difflib.get_close_matches(cls, list(REGISTRY), n=3, cutoff=0.75)
    return (f"{ctx.source}: layer {name!r} has class {cls!r}, "
            + (f"a custom layer ({module})" if isinstance(module, str) else
               "a custom layer or a Keras layer this library does not implement")
            + (f" (close supported names: {', '.join(close)})" if close else "")
            + f"; {supply}. kerasrnn_infer.supported_layers() lists the "
              f"{len(REGISTRY)} Keras layer classes supported")
