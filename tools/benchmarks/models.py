"""The benchmark's .keras files, written by tests/_build.py without Keras: one
``Sequential(InputLayer, <RNN>)`` per (layer, features, units) with seeded random weights, which
Keras 3 loads too; and the seeded inputs that every peer gets."""

import os
import zlib

import numpy as np

from kerasrnn_infer import activations
from kerasrnn_infer.cells import CellSpec

from .configurations import model_key
from _build import k3_layer, sequential, write_keras_zip  # tests/_build.py, on the path by __init__

KERAS_CLASS = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
INPUTS = "inputs.npz"


def cell_specs(layer, units, dtype="float32"):
    """The cell of each direction (forward, then backward for "bilstm"), as the file defines it:
    tanh / sigmoid, bias, GRU reset_after=True."""
    kind = "lstm" if layer == "bilstm" else layer
    spec = CellSpec(kind, units, activations.tanh,
                    None if kind == "simple_rnn" else activations.sigmoid,
                    reset_after=kind == "gru", dtype=np.dtype(dtype))
    return [spec] * (2 if layer == "bilstm" else 1)


def _rnn_layer(spec, name, go_backwards=False):
    extra = {"reset_after": True} if spec.reset_after else {}
    if spec.recurrent_activation:
        extra["recurrent_activation"] = spec.recurrent_activation.__name__
    return k3_layer(KERAS_CLASS[spec.kind], name, trainable=True, dtype="float32",
                    units=spec.units, activation=spec.activation.__name__, use_bias=spec.use_bias,
                    return_sequences=False, return_state=False, go_backwards=go_backwards,
                    stateful=False, unroll=False, **extra)


def _random_weights(rng, spec, features):
    """Kernel, recurrent kernel, bias in Keras's layout (gate order i,f,c,o / z,r,h)."""
    g = spec.gates * spec.units
    kernel = rng.normal(0.0, features ** -0.5, (features, g))
    recurrent = rng.normal(0.0, spec.units ** -0.5, (spec.units, g))
    bias = rng.uniform(-0.1, 0.1, spec.bias_shape())
    if spec.kind == "lstm":
        bias[spec.units:2 * spec.units] += 1.0                 # unit_forget_bias
    return [a.astype("float32") for a in (kernel, recurrent, bias)]


def build_model(layer, features, units, seed):
    """(config, {h5 group path: [arrays]}) of Sequential(Input(None, features), <layer>(units));
    the cells' groups come first, forward before backward."""
    rng = np.random.default_rng(seed)
    specs = cell_specs(layer, units)
    if layer == "bilstm":
        rnn = k3_layer("Bidirectional", "bidirectional", trainable=True, dtype="float32",
                       merge_mode="concat", layer=_rnn_layer(specs[0], "forward_lstm"),
                       backward_layer=_rnn_layer(specs[1], "backward_lstm", go_backwards=True))
        owner = "layers/bidirectional"
        cells = [owner + "/forward_layer/cell", owner + "/backward_layer/cell"]
    else:
        rnn, owner, cells = _rnn_layer(specs[0], layer), f"layers/{layer}", [f"layers/{layer}/cell"]
    tree = {path: _random_weights(rng, spec, features) for path, spec in zip(cells, specs)}
    tree[owner] = []
    inp = k3_layer("InputLayer", "input", batch_shape=[None, None, features], dtype="float32",
                   sparse=False)
    return sequential([inp, rnn], name="sequential"), tree


def cell_arrays(tree):
    """[kernel, recurrent kernel, bias] of each direction, forward first."""
    return [arrays for path, arrays in tree.items() if path.endswith("/cell")]


def build(c):
    """(config, weights tree) of config ``c``'s model, seeded by its model key: the same in
    every process."""
    return build_model(c["layer"], c["features"], c["units"], zlib.crc32(model_key(c).encode()))


def model_path(workdir, c):
    return os.path.join(workdir, model_key(c) + ".keras")


def make_inputs(c):
    rng = np.random.default_rng(zlib.crc32(c["id"].encode()))
    return rng.normal(0.0, 1.0, (c["batch"], c["steps"], c["features"])).astype("float32")


def write_files(workdir, configs):
    """Each model once (configs share them) and every config's inputs in one inputs.npz;
    returns ({model key: weights tree}, {config id: inputs})."""
    trees, inputs = {}, {}
    for c in configs:
        if model_key(c) not in trees:
            config, trees[model_key(c)] = build(c)
            write_keras_zip(model_path(workdir, c), config, trees[model_key(c)])
        inputs[c["id"]] = make_inputs(c)
    np.savez(os.path.join(workdir, INPUTS), **inputs)
    return trees, inputs
