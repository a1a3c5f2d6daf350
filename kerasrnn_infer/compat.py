"""Where Keras versions compute differently: every difference as one named field, resolved once
when a model is loaded, each with its Keras source.

The numbers a model gives depend on the Keras that wrote it, not on any Keras installed here,
so each field follows the writing version (``keras_version`` in the file; ``load_model(...,
keras_version=...)`` overrides it). Older config spellings are brought to today's names here
too (``normalize``), so layers read one spelling only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .errors import UnsupportedError


@dataclass(frozen=True)
class Compat:
    """The behaviour of the Keras version that wrote a model."""

    version: str
    major: int
    #: ``hard_sigmoid``: Keras 1/2 and tf-keras ``clip(0.2 x + 0.5, 0, 1)``; Keras 3
    #: ``clip(x / 6 + 0.5, 0, 1)`` (keras-team/keras PR #19477, ``activations/activations.py``).
    hard_sigmoid: str
    #: What LSTM/GRU use when a config has no ``recurrent_activation``: ``hard_sigmoid`` in Keras 1
    #: and multi-backend Keras 2.0-2.2, ``sigmoid`` from Keras 2.3, tf.keras and Keras 3
    #: (keras 2.3.0 release notes; ``layers/recurrent.py`` defaults).
    default_recurrent_activation: str
    #: What ConvLSTM1D/2D/3D use when a config has no ``recurrent_activation``: ``hard_sigmoid``
    #: in Keras 2 and tf-keras (``layers/rnn/conv_lstm2d.py``), ``sigmoid`` in Keras 3.
    conv_lstm_recurrent_activation: str
    #: ``hard_silu`` / ``hard_swish`` exist from Keras 3 only (``activations/__init__.py``).
    has_hard_silu: bool
    #: How ``Concatenate`` merges the masks of its inputs into one per timestep: Keras 3 keeps a
    #: step if any input keeps it, tf-keras and Keras 2 only if all do
    #: (``layers/merging/concatenate.py`` ``compute_mask``: ``ops.any`` vs ``backend.all``).
    concat_mask: str
    #: How Add, Subtract, Multiply, Average, Maximum and Minimum merge their inputs' masks:
    #: Keras 3 ORs them and gives no mask if any input has none (``layers/merging/
    #: base_merge.py`` ``compute_mask``); tf-keras and Keras 2 AND the masks there are.
    merge_mask: str
    #: A stateful RNN given ``initial_state``: Keras 3 uses it on every call
    #: (``layers/rnn/rnn.py``), tf-keras and Keras 2 only while the stored states are all zero
    #: (``layers/rnn/base_rnn.py`` ``_process_inputs``).
    stateful_initial_state: str
    #: The mask TimeDistributed outputs: Keras 3 passes its input mask on (``Layer.compute_mask``);
    #: tf-keras and Keras 2 take the wrapped layer's own mask, reshaped to (batch, time, ...),
    #: else the input mask reduced to (batch, time) (``layers/rnn/time_distributed.py``).
    time_distributed_mask: str
    #: Keras 3 call nodes (``{"args", "kwargs"}``): a call receives its inputs' masks only when
    #: it has exactly one tensor argument (``Layer.__call__``, "Populate mask argument(s)"), and
    #: configs record the masks they passed; Keras 1/2 always pass them (``base_layer.py``).
    explicit_masks: bool
    #: Attention/AdditiveAttention zero the outputs at masked query steps with ``where`` in
    #: Keras 3 (``layers/attention/attention.py`` ``call``) and by multiplying with the mask
    #: in tf-keras (``layers/attention/base_dense_attention.py``): the same numbers except
    #: where an output is NaN or infinite (Keras 3 gives 0 there).
    attention_query_mask: str
    #: MultiHeadAttention's masked softmax. Keras 3: the Softmax layer replaces masked scores
    #: by -1e9 and then zeroes masked weights, so a query that may attend to nothing gets
    #: all-zero weights (``layers/activations/softmax.py``), except on the path through
    #: ``ops.dot_product_attention`` (3-D inputs, no dropout in the config, no
    #: return_attention_scores: ``multi_head_attention.py`` ``_compute_attention``), whose
    #: masked logits are -0.7 * float32 max, uniform weights for such a query. tf-keras adds
    #: -1e9 * (1 - mask) (``layers/activation/softmax.py``): uniform weights there too.
    mha_softmax: str
    #: Keras 3's MultiHeadAttention clears the Keras masks of its query, value and key
    #: tensors when called (``multi_head_attention.py`` ``call``: ``set_keras_mask(query,
    #: None)``...), so calls that Keras runs after it and that read the same tensors see no
    #: mask: a second MultiHeadAttention or an RNN on the same masked sequence computes
    #: unmasked (checked live). Which calls run after it follows Keras 3's graph order
    #: (graph.Graph._keras3_order). tf-keras leaves the masks alone.
    mha_clears_masks: bool
    #: Negative ``attention_axes``: Keras 3 counts them from the projected rank
    #: (``_build_attention``: ``(rank - 1) + axis``); tf-keras uses them as they are, which
    #: makes a different (or failing) einsum, so they are refused for tf-keras files.
    negative_attention_axes: bool
    #: ``Dot(normalize=True)``: Keras 3 ``x * min(rsqrt(sum x^2), 1e7)`` (``ops/nn.py``
    #: ``_normalize``), tf-keras ``tf.linalg.l2_normalize``: ``x * rsqrt(max(sum x^2, 1e-12))``
    #: (``layers/merging/dot.py``).
    l2_normalize: str
    #: The dtype of StringLookup/IntegerLookup/TextVectorization one_hot, multi_hot and count
    #: outputs: int64 in Keras 3 (``index_lookup.py`` encodes with its int64 value dtype),
    #: float32 in tf-keras (the layer's float dtype). tf_idf is float32 in both.
    lookup_bag_dtype: str
    #: How an adapted lookup's ``vocabulary.txt`` asset is read back: Keras 3 with
    #: ``str.splitlines()``, dropping trailing empty lines (``index_lookup.py``
    #: ``load_assets``), so a token holding \x0b, \x0c, \x1c-\x1e, \x85, U+2028 or U+2029
    #: becomes two; tf-keras with ``split("\n")`` after universal newlines.
    vocabulary_lines: str
    #: The dtype of Discretization's bin indices (output_mode "int"): int32 in Keras 3
    #: (``discretization.py``), int64 in tf-keras.
    discretization_int_dtype: str
    #: Whether Rescaling, Normalization and Identity pass their input's mask on: Keras 3
    #: sets ``supports_masking`` on all three; tf-keras does not, and a layer without it
    #: outputs no mask (``engine/base_layer.py`` ``_set_mask_metadata`` returns early), so an
    #: LSTM after ``Embedding(mask_zero=True) -> Rescaling`` runs unmasked there (checked
    #: live).
    rescale_identity_pass_masks: bool
    #: GroupNormalization's moments: tf-keras weights them by the input mask broadcast to the
    #: input (``tf.nn.weighted_moments``, ``layers/normalization/group_normalization.py``);
    #: Keras 3 ignores the mask.
    group_norm_masked_moments: bool

    @classmethod
    def resolve(cls, version: Optional[str], config: Any = None) -> "Compat":
        """The behaviour of ``version`` (a keras_version string such as "2.2.4", "2.13.1-tf",
        "3.15.1"; missing: guessed from the config), with the node style of ``config``."""
        version = str(version or guess_version(config))
        m = re.match(r"\s*(\d+)(?:\.(\d+))?", version)
        major = int(m.group(1)) if m else 3
        minor = int(m.group(2) or 0) if m else 0
        old_default = major == 1 or (major == 2 and minor < 3 and "tf" not in version)
        return cls(version=version, major=major,
                   hard_sigmoid="keras3" if major >= 3 else "keras2",
                   default_recurrent_activation="hard_sigmoid" if old_default else "sigmoid",
                   conv_lstm_recurrent_activation="sigmoid" if major >= 3 else "hard_sigmoid",
                   has_hard_silu=major >= 3,
                   concat_mask="any" if major >= 3 else "all",
                   merge_mask="or" if major >= 3 else "and",
                   stateful_initial_state="always" if major >= 3 else "while_zero",
                   time_distributed_mask="input" if major >= 3 else "inner",
                   explicit_masks=_has_keras3_nodes(config),
                   attention_query_mask="where" if major >= 3 else "multiply",
                   mha_softmax="keras3" if major >= 3 else "add",
                   mha_clears_masks=major >= 3,
                   negative_attention_axes=major >= 3,
                   l2_normalize="keras3" if major >= 3 else "tf",
                   lookup_bag_dtype="int64" if major >= 3 else "float32",
                   vocabulary_lines="splitlines" if major >= 3 else "newline",
                   discretization_int_dtype="int32" if major >= 3 else "int64",
                   rescale_identity_pass_masks=major >= 3,
                   group_norm_masked_moments=major < 3)


def guess_version(obj: Any) -> str:
    """The writing Keras major version of a config with no ``keras_version``: Keras 3 marks
    (serialized tensors, DTypePolicy, ``batch_shape``), else Keras 1 keys (``output_dim``
    without ``units``, ``inner_activation``), else 2."""
    keys: set = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if o.get("class_name") in ("__keras_tensor__", "DTypePolicy") or "batch_shape" in o:
                return "3"
            keys.update(k for k in o if k in ("output_dim", "units", "inner_activation"))
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    if "inner_activation" in keys or ("output_dim" in keys and "units" not in keys):
        return "1"
    return "2"


def _has_keras3_nodes(config: Any) -> bool:
    """Whether a config records calls as Keras 3 ``{"args", "kwargs"}`` nodes."""
    stack = [config]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            nodes = o.get("inbound_nodes")
            if isinstance(nodes, list) and any(isinstance(n, dict) for n in nodes):
                return True
            stack.extend(v for v in o.values() if isinstance(v, (dict, list)))
        elif isinstance(o, list):
            stack.extend(v for v in o if isinstance(v, (dict, list)))
    return False


# ----- older config spellings ------------------------------------------------------------------
# Keras 1 key -> current key (multi-backend Keras 2 ``legacy/interfaces.py``)
_KERAS1_KEYS = {
    "output_dim": "units", "inner_activation": "recurrent_activation",
    "dropout_W": "dropout", "dropout_U": "recurrent_dropout", "consume_less": "implementation",
    "nb_filter": "filters", "filter_length": "kernel_size", "subsample_length": "strides",
    "border_mode": "padding", "pool_length": "pool_size", "stride": "strides",
}
# per class: tf-keras spelling -> Keras 3 spelling (``layers/activations/leaky_relu.py``)
_CLASS_KEYS: Dict[str, Dict[str, str]] = {"LeakyReLU": {"alpha": "negative_slope"}}
# Keras 1 Merge(mode) -> the merge layer class (multi-backend Keras 2 ``legacy/layers.py``)
_MERGE_MODES = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average",
                "max": "Maximum"}
# Keras 2.0-2.3 CuDNN layers: the same maths as LSTM/GRU with fixed activations
# (tf-keras ``layers/rnn/cudnn_{lstm,gru}.py``)
_CUDNN = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}


# Keras 1 convolution classes with a Keras 2 name of their own (``legacy/layers.py``)
_KERAS1_CLASSES = {"AtrousConvolution1D": "Conv1D", "AtrousConvolution2D": "Conv2D"}
_DIM_ORDERING = {"th": "channels_first", "tf": "channels_last"}


def _keras1_spatial(out: dict, where: str) -> None:
    """Keras 1 spellings of convolution and pooling options (``legacy/interfaces.py``):
    ``dim_ordering`` th/tf, ``nb_row``/``nb_col`` and ``kernel_dim1..3`` kernel sizes,
    ``subsample`` strides, ``atrous_rate`` dilation."""
    if "dim_ordering" in out and "data_format" not in out:
        v = out.pop("dim_ordering")
        if v not in _DIM_ORDERING:
            raise UnsupportedError(f"{where}: layer {out.get('name')!r} has dim_ordering="
                                   f"{v!r:.50}; supported: th, tf")
        out["data_format"] = _DIM_ORDERING[v]
    if "nb_row" in out and "kernel_size" not in out:
        out["kernel_size"] = [out.pop("nb_row"), out.pop("nb_col", None)]
    if "kernel_dim1" in out and "kernel_size" not in out:
        out["kernel_size"] = [out.pop(f"kernel_dim{i}", None) for i in (1, 2, 3)]
    for old, new in (("subsample", "strides"), ("atrous_rate", "dilation_rate")):
        if old in out and new not in out:
            out[new] = out.pop(old)


def normalize(cls: str, cfg: dict, where: str) -> tuple:
    """``(class name, config)`` in today's spelling: Keras 1 keys and classes renamed, CuDNN
    layers as LSTM/GRU. Returns a new dict; the input is not changed."""
    out = dict(cfg)
    if cls in _CUDNN:
        out.setdefault("activation", "tanh")
        out.setdefault("recurrent_activation", "sigmoid")
        if cls == "CuDNNGRU":
            out["reset_after"] = True
        return _CUDNN[cls], out
    if cls == "TimeDistributedDense":
        cls = "Dense"
    if cls == "Merge":
        if out.get("layers"):
            raise UnsupportedError(f"{where}: layer {out.get('name')!r} is a Keras 1 Merge of "
                                   f"Sequential branches (config 'layers'); supported: Merge "
                                   f"layers called on tensors in a functional model")
        mode = out.get("mode", "sum")
        if not isinstance(mode, str) or mode not in _MERGE_MODES:
            raise UnsupportedError(f"{where}: layer {out.get('name')!r} (Merge) has "
                                   f"mode={mode!r:.100}; supported: {', '.join(_MERGE_MODES)}")
        cls = _MERGE_MODES[mode]
        out["axis"] = out.get("concat_axis", -1)
    for old, new in _CLASS_KEYS.get(cls, {}).items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    if cls in ("Embedding", "Bidirectional"):     # their output_dim is not Keras 1's units
        return cls, out
    cls = _KERAS1_CLASSES.get(cls, cls)
    _keras1_spatial(out, where)
    for old, new in _KERAS1_KEYS.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    if "bias" in out and isinstance(out["bias"], bool):
        out["use_bias"] = out.pop("bias")
    return cls, out
