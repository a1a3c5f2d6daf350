"""Legacy HDF5 files (Keras 1 and 2, tf.keras, tf-keras, Keras 3 ``save("x.h5")``) and
legacy weights files (``save_weights("x.h5")``) (KERAS_FACTS A3), with the converters for the
layouts older writers stored: Keras 1 per-gate RNN weights, CuDNN RNN weights, Keras 1
convolution kernels and Theano's flipped kernels (tf-keras ``saving/legacy/hdf5_format.py``
``preprocess_weights_for_loading``).

Each top-level layer's weights are one flat list in ``weight_names`` order: trainable
weights first, then non-trainable ones, over the whole layer (Keras ``_legacy_weights``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import ModelFileError, WeightsError
from ..layers.custom import WeightList
from . import keras3
from .hdf5 import Budget, get, names_attr, open_h5, read_dataset, text_attr
from .safe_io import H5Window
from .source import Source, config_text


@dataclass
class LegacyWeights:
    """Per-layer weight lists of a legacy HDF5 file, in ``weight_names`` order."""

    layer_names: List[str]
    weights: Dict[str, List[Any]]          # arrays (or FileRegions, leaving the reader)
    keras_version: Optional[str]
    backend: Optional[str]
    names: Dict[str, List[str]] = field(default_factory=dict)   # weight_names, per layer
    kind = "legacy"

    def to_plain(self) -> dict:
        return {"layer_names": self.layer_names, "weights": self.weights,
                "keras_version": self.keras_version, "backend": self.backend,
                "names": self.names}

    def assign(self, root, path: str) -> None:
        """Give the model's layers their weights: paired with the file's layers by name, or
        by position when the names differ (Keras ``load_weights_from_hdf5_group``)."""
        mine = [l for l in root.weighted_layers() if l.weight_count != 0]
        theirs = [n for n in self.layer_names if self.weights.get(n)]
        if all(l.name in self.weights for l in mine):
            pairs = [(l, l.name) for l in mine]
            extra = [n for n in theirs if n not in {l.name for l in mine}]
            if extra:
                raise WeightsError(f"{path}: weights for layers the model does not have: "
                                   f"{extra[:10]}")
        else:
            if len(mine) != len(theirs):
                raise WeightsError(
                    f"{path}: the file holds weights for {len(theirs)} layers "
                    f"({', '.join(theirs[:8])}), the model has {len(mine)} layers with weights "
                    f"({', '.join(l.name for l in mine[:8])}); layer names differ, so they are "
                    f"paired by position, which needs equal counts")
            pairs = list(zip(mine, theirs))
        for layer, name in pairs:
            arrays = WeightList(self.weights[name], self.names.get(name))
            layer.set_weights(_in_keras_order(layer, arrays, self.backend, path,
                                              self.keras_version))


def read_legacy_weights(group, path, budget: Budget) -> LegacyWeights:
    names = names_attr(group, "layer_names", path)
    if names is None:
        raise ModelFileError(f"{path}: weights group has no 'layer_names' attribute")
    weights: Dict[str, List[Any]] = {}
    stored: Dict[str, List[str]] = {}
    for lname in names:
        g = get(group, lname, path)
        if g is None:
            raise ModelFileError(f"{path}: layer {lname!r} is listed but has no group")
        wnames = names_attr(g, "weight_names", path) or []
        arrays = []
        for wn in wnames:
            ds = get(g, wn, path)
            if ds is None:
                raise ModelFileError(f"{path}: weight {wn!r} of layer {lname!r} is missing")
            arrays.append(read_dataset(ds, path, f"{lname}/{wn}", budget))
        weights[lname] = arrays
        stored[lname] = list(wnames)
    version = text_attr(group, "keras_version", path)
    return LegacyWeights(list(names), weights, version, text_attr(group, "backend", path), stored)


def read_h5(fd: int, path: str, regions: bool = False) -> Source:
    """Any Keras HDF5 file read through descriptor ``fd``: a legacy full model, legacy
    weights (``save_weights``), or a Keras 3 ``.weights.h5`` tree."""
    size = os.fstat(fd).st_size
    f = open_h5(H5Window(fd, 0, size), path)
    budget = Budget(size, 0 if regions else None)
    with f:
        model_config = text_attr(f, "model_config", path, "model_config")
        version = text_attr(f, "keras_version", path)
        if model_config is not None:
            config = config_text(model_config.encode("utf-8"), path, "model_config")
            group = get(f, "model_weights", path)
            if group is None:
                if "layer_names" not in f.attrs:
                    raise ModelFileError(f"{path}: legacy HDF5 model has no model_weights group")
                group = f
            weights = read_legacy_weights(group, path, budget)
            weights.backend = weights.backend or text_attr(f, "backend", path)
            if weights.keras_version is None:
                # Keras 1 wrote keras_version on the file only, not on the weights group
                weights.keras_version = "1" if version is None else version
            return Source(path, "legacy-h5", config, version or weights.keras_version, weights)
        if "layer_names" in f.attrs or any(k.startswith("layer_names") for k in f.attrs):
            weights = read_legacy_weights(f, path, budget)
            if weights.keras_version is None:
                weights.keras_version = "1"
            return Source(path, "legacy-weights", None, weights.keras_version, weights)
        group = get(f, "model_weights", path)
        if group is not None and "layer_names" in group.attrs:
            weights = read_legacy_weights(group, path, budget)
            return Source(path, "legacy-weights", None, weights.keras_version, weights)
        if any(k in f for k in ("layers", "_layer_checkpoint_dependencies", "vars")):
            return Source(path, "keras3-weights", None, None, keras3.read_tree(f, path, budget))
        raise ModelFileError(f"{path}: HDF5 file holds neither a Keras model "
                             f"(model_config) nor Keras weights (layer_names or layers/)")


# ----- weights in Keras's order -----------------------------------------------------------------
def _in_keras_order(layer, arrays: List[np.ndarray], backend: Optional[str],
                    path: str, version: Optional[str] = None) -> List[np.ndarray]:
    """A layer's arrays as stored, converted to today's layouts and put in get_weights order
    (custom layers take them as they are)."""
    slots = layer.weight_node().flat_slots()
    if slots is None:                         # custom layers take them as they are
        return arrays
    arrays = convert(layer, arrays, backend, version)
    train = [i for i, s in enumerate(slots) if s.trainable]
    order = train + [i for i in range(len(slots)) if i not in train]
    if len(arrays) != len(order):
        raise WeightsError(f"{path}: layer {layer.name!r} ({layer.class_name}) has "
                           f"{len(arrays)} weight arrays in the file, expected {len(order)}")
    out: List[np.ndarray] = list(arrays)
    paths = list(getattr(arrays, "paths", None) or [None] * len(arrays))
    out_paths = list(paths)
    for k, i in enumerate(order):
        out[i] = arrays[k]
        out_paths[i] = paths[k]
    return WeightList(out, out_paths)           # the weight names travel with the arrays


# the layers whose kernels Keras 2 flipped for Theano files (multi-backend Keras 2
# ``engine/saving.py`` ``preprocess_weights_for_loading``: conv_layers)
_FLIPPED = {"Conv1D", "Convolution1D", "Conv2D", "Convolution2D", "Conv3D", "Convolution3D",
            "Conv2DTranspose", "Convolution2DTranspose", "ConvLSTM2D"}


def convert(layer, arrays: List[np.ndarray], backend: Optional[str],
            version: Optional[str] = None) -> List[np.ndarray]:
    """Weights as an older writer stored them, in today's layout for ``layer``."""
    cls = layer.class_name
    if cls == "Bidirectional":
        half = len(arrays) // 2
        return (convert(layer.forward, arrays[:half], backend, version) +
                convert(layer.backward, arrays[half:], backend, version))
    if cls == "TimeDistributed":
        return convert(layer.inner, arrays, backend, version)
    if cls in ("LSTM", "GRU"):
        spec = layer.specs[0]
        return rnn_weights(cls, spec.units, spec.reset_after, arrays, layer.where)
    if cls in ("Conv1D", "Convolution1D"):
        return conv1d_weights(layer.filters, arrays, backend)
    if cls in _FLIPPED:
        return conv_weights(layer, arrays, backend, version)
    return arrays


def _blocks(m: np.ndarray, n: int) -> List[np.ndarray]:
    return np.split(m, n, axis=-1)


def rnn_weights(cls: str, units: int, reset_after: bool, arrays: List[np.ndarray],
                where: str) -> List[np.ndarray]:
    """Keras 1 per-gate or CuDNN-layout LSTM/GRU weights as kernel, recurrent, bias."""
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
    if len(arrays) == 3:
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


def conv1d_weights(filters: int, arrays: List[np.ndarray], backend: Optional[str]
                   ) -> List[np.ndarray]:
    """Keras 1 kernels are 4-D; Theano convolves (flips the kernel) where TensorFlow
    correlates, so Theano-written kernels are flipped (Keras 2 ``preprocess_weights``)."""
    if not arrays:
        return arrays
    k = np.asarray(arrays[0])
    if k.ndim == 4:
        if k.shape[1] == 1 and k.shape[3] == filters:            # (length, 1, in, filters)
            k = k[:, 0]
        else:                                                    # (filters, in, length, 1)
            k = np.transpose(k, (2, 3, 1, 0))[:, 0]
    if backend == "theano":
        k = k[::-1]
    return [k] + list(arrays[1:])


def conv_weights(layer, arrays: List[np.ndarray], backend: Optional[str],
                 version: Optional[str]) -> List[np.ndarray]:
    """Conv2D/3D, Conv2DTranspose and ConvLSTM2D kernels as Keras 1 and Theano stored them
    (tf-keras and multi-backend Keras 2 ``preprocess_weights_for_loading``): Keras 1 wrote
    ConvLSTM2D per gate (W, U, b for i, c, f, o) and ``dim_ordering="th"`` kernels as
    (filters, channels, *k); Theano convolves where TensorFlow correlates, so every spatial
    axis of a Theano kernel is flipped (``conv_utils.convert_kernel``)."""
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return arrays
    cls = layer.class_name
    lstm = cls == "ConvLSTM2D"
    if lstm and len(arrays) == 12:       # Keras 1: [W_i,U_i,b_i, W_c,U_c,b_c, W_f,U_f,b_f, ...]
        order = (0, 6, 3, 9)
        arrays = [np.concatenate([arrays[k + j] for k in order], -1) for j in range(3)]
    keras1 = str(version or "").startswith("1")
    if keras1 and getattr(layer, "channels_first", False) and "Transpose" not in cls:
        nd = arrays[0].ndim                      # (filters, channels, *k) -> (*k, channels, f)
        perm = tuple(range(2, nd)) + (1, 0)
        kernels = 2 if lstm else 1
        arrays = [np.transpose(a, perm) if i < kernels and a.ndim == nd else a
                  for i, a in enumerate(arrays)]
    if backend == "theano":
        kernels = 2 if lstm else 1
        arrays = [np.ascontiguousarray(a[(slice(None, None, -1),) * (a.ndim - 2)])
                  if i < kernels else a for i, a in enumerate(arrays)]
    return arrays
