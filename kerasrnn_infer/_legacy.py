"""Older Keras formats brought to the current one: Keras 1 config keys and per-gate weights,
CuDNN weight layouts (tf-keras ``saving/legacy/hdf5_format.py`` ``_convert_rnn_weights``)."""

from __future__ import annotations

from typing import List

import numpy as np

from .errors import UnsupportedError, WeightsError

# Keras 1 key -> current key (Keras 2 legacy/interfaces.py)
_RENAMES = {
    "output_dim": "units", "inner_activation": "recurrent_activation",
    "dropout_W": "dropout", "dropout_U": "recurrent_dropout", "consume_less": "implementation",
    "nb_filter": "filters", "filter_length": "kernel_size", "subsample_length": "strides",
    "border_mode": "padding", "pool_length": "pool_size", "stride": "strides",
}
_RNN = ("SimpleRNN", "LSTM", "GRU")
_MERGE_MODES = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average",
                "max": "Maximum"}


def normalize_layer_config(cls: str, cfg: dict, ctx) -> dict:
    """Rename Keras 1 keys and classes; returns a new dict (``__class_name__`` if renamed)."""
    out = dict(cfg)
    if cls in ("CuDNNLSTM", "CuDNNGRU"):
        out["__class_name__"] = cls[5:]
        out.setdefault("activation", "tanh")
        out.setdefault("recurrent_activation", "sigmoid")
        if cls == "CuDNNGRU":
            out["reset_after"] = True
        return out
    if cls == "TimeDistributedDense":
        out["__class_name__"] = "Dense"
    if cls == "Merge":
        if out.get("layers"):
            raise UnsupportedError(f"{ctx.source}: layer {out.get('name')!r} is a Keras 1 "
                                   f"Merge of Sequential branches (config 'layers'); supported: "
                                   f"Merge layers called on tensors in a functional model")
        mode = out.get("mode", "sum")
        if not isinstance(mode, str) or mode not in _MERGE_MODES:
            raise UnsupportedError(f"{ctx.source}: layer {out.get('name')!r} (Merge) has "
                                   f"mode={mode!r}; supported: {', '.join(_MERGE_MODES)}")
        out["__class_name__"] = _MERGE_MODES[mode]
        out["axis"] = out.get("concat_axis", -1)
    if cls == "Embedding" or cls == "Bidirectional":
        return out
    for old, new in _RENAMES.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    if "bias" in out and isinstance(out["bias"], bool):
        out["use_bias"] = out.pop("bias")
    return out


def _blocks(m: np.ndarray, n: int) -> List[np.ndarray]:
    return np.split(m, n, axis=-1)


def adapt_rnn_weights(cls: str, units: int, reset_after: bool, arrays: List[np.ndarray],
                      where: str) -> List[np.ndarray]:
    """Turn Keras 1 per-gate or CuDNN-layout RNN weights into kernel, recurrent, bias."""
    if cls == "LSTM" and len(arrays) == 12:
        w = arrays         # Keras 1: [W_i,U_i,b_i, W_c,U_c,b_c, W_f,U_f,b_f, W_o,U_o,b_o]
        order = (0, 6, 3, 9)
        return [np.concatenate([w[k] for k in order], -1),
                np.concatenate([w[k + 1] for k in order], -1),
                np.concatenate([w[k + 2] for k in order], -1)]
    if cls == "GRU" and len(arrays) == 9:
        w = arrays         # Keras 1: [W_z,U_z,b_z, W_r,U_r,b_r, W_h,U_h,b_h]
        return [np.concatenate([w[0], w[3], w[6]], -1), np.concatenate([w[1], w[4], w[7]], -1),
                np.concatenate([w[2], w[5], w[8]], -1)]
    if len(arrays) == 3 and cls in ("LSTM", "GRU"):
        gates = 4 if cls == "LSTM" else 3
        kernel, rec, bias = arrays
        if bias.ndim == 1 and bias.shape[0] == 2 * gates * units:      # CuDNN layout
            if cls == "GRU" and not reset_after:
                raise WeightsError(f"{where}: CuDNNGRU weights are not compatible with "
                                   f"GRU(reset_after=False)")
            kernel = np.concatenate([k.T.reshape(k.shape, order="F")
                                     for k in _blocks(kernel, gates)], -1)
            rec = np.concatenate([k.T for k in _blocks(rec, gates)], -1)
            if cls == "LSTM":
                bias = bias[:gates * units] + bias[gates * units:]
            else:
                bias = bias.reshape(2, gates * units)
            return [kernel, rec, bias]
    return arrays
