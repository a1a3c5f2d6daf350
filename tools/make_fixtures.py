"""Generate the Keras recurrent-model fixtures in ``fixtures/`` with real Keras.

Run from the project root::

    /work/venv/bin/python tools/make_fixtures.py [--only NAME[,NAME]] [--out DIR]
                                                 [--all-formats]

Each case is built twice, once per writer: ``keras3`` (Keras 3, TensorFlow
backend) and ``tf_keras`` (tf-keras 2.x). A case folder
``<out>/<case>__<writer>/`` holds the model saved in the writer's native
format (``model.keras`` / ``model.h5``) plus, for the cases that ask for them
or with --all-formats, the writer's other formats (see FORMATS); ``io.npz``
(inputs, ``model.predict`` outputs, per-layer outputs); and ``case.json``
(load specs, tolerance, provenance, what failed).

The module is importable without side effects; Keras is imported lazily::

    import make_fixtures as mf
    info = mf.build("rnn_basic", "keras3", seed=123)   # {"model", "inputs", ...}
    mf.save_case(info, "keras3", "/tmp/rnn_basic__keras3")

Builders are registered with ``@case``; a builder returns ``(model, inputs)``, or
``(model, inputs, Calls([...]))`` for a sequence of predict/reset calls (stateful models).
"""

import argparse
import importlib
import json
import logging
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# the harness of the checkout this file is in (not an installed copy): Keras is probed the
# same way for the fixtures as for `kerasrnn-infer verify`
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from kerasrnn_infer.testing.keras_ref import (is_keras3, predict as _predict,  # noqa: E402
                                              probe_layers, reset_states)

SEED = 1234
BATCH = 3
STEPS = 7
TOL = 1e-5
RELOAD_TOL = 1e-6

WRITER_MODULES = {"keras3": "keras", "tf_keras": "tf_keras"}
ALL_WRITERS = tuple(WRITER_MODULES)

# Names accepted as `activation` / `recurrent_activation` that keep the shape
# of their input (`glu` halves the last axis and `threshold` needs extra
# arguments, so both are left out). Names a writer does not know are dropped
# for that writer. Each name is paired with a bounded one so that no state
# can blow up: a bounded `activation` caps an LSTM's output whatever its
# gates do, and a `recurrent_activation` with values in [0, 1] keeps a GRU's
# update a convex mix whatever its candidate does. `exponential` stays last
# so that it always lands in a GRU (as an LSTM gate it would explode).
UNIT_INTERVAL_ACTIVATIONS = (
    "sigmoid", "hard_sigmoid", "softmax", "sparsemax", "sparse_sigmoid",
)
BOUNDED_ACTIVATIONS = UNIT_INTERVAL_ACTIVATIONS + (
    "tanh", "softsign", "hard_tanh", "relu6",
)
UNBOUNDED_ACTIVATIONS = (
    "relu", "linear", "elu", "selu", "softplus", "swish", "silu", "gelu",
    "leaky_relu", "mish", "log_softmax", "hard_silu", "hard_swish",
    "log_sigmoid", "tanh_shrink", "celu", "sparse_plus", "squareplus",
    "soft_shrink", "hard_shrink", "exponential",
)


# --------------------------------------------------------------------------
# Keras access
# --------------------------------------------------------------------------

def keras_module(writer):
    """The Keras module behind `writer` ("keras3" -> keras, "tf_keras")."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return importlib.import_module(WRITER_MODULES[writer])


class Calls(list):
    """A builder's sequence of calls for stateful models: ("predict", inputs or None for the
    case inputs, batch_size) and ("reset",). Per-layer outputs are not recorded for them."""


# --------------------------------------------------------------------------
# Weights and inputs
# --------------------------------------------------------------------------

def _random_weight(kind, shape, rng):
    """A random value for a weight, chosen by the weight's short name."""
    if kind == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, 0.6 / np.sqrt(fan_in), shape)
    if kind in ("depthwise_kernel", "pointwise_kernel"):
        return rng.normal(0.0, 0.8 / np.sqrt(np.prod(shape[:-1])), shape)
    if kind == "recurrent_kernel":       # (units, g), or ConvLSTM's (*k, filters, 4 filters)
        return rng.normal(0.0, 0.6 / np.sqrt(np.prod(shape[:-1])), shape)
    if kind in ("bias", "beta", "moving_mean"):
        return rng.uniform(-0.5, 0.5, shape)
    if kind == "gamma":
        return rng.uniform(0.7, 1.3, shape)
    if kind == "moving_variance":
        return rng.uniform(0.5, 1.5, shape)
    if kind == "embeddings":
        return rng.normal(0.0, 0.5, shape)
    if kind in ("scale", "concat_score_weight", "variance"):   # attention, Normalization
        return rng.uniform(0.5, 1.5, shape)
    if kind == "mean":
        return rng.uniform(-1.0, 1.0, shape)
    if kind == "alpha":                  # PReLU's negative slopes (Keras starts them at 0)
        return rng.uniform(0.05, 0.6, shape)
    raise ValueError(f"no random rule for weight kind {kind!r}")


# weights whose adapted values are kept: a Normalization's sample count, the idf weights of
# lookup layers (tf-keras names its idf table "Variable"), tf-keras Discretization's summary
KEPT_WEIGHTS = ("count", "idf_weights", "Variable", "summary")


def randomize_weights(model, rng):
    """Overwrite every weight of `model` (nested layers included)."""
    for weight in model.weights:
        if not hasattr(weight, "assign"):   # tf-keras lookup tables (VocabWeightHandler)
            continue
        kind = weight.name.split("/")[-1].split(":")[0]
        if kind in KEPT_WEIGHTS:
            continue
        dtype = getattr(weight.dtype, "name", weight.dtype)  # tf.DType or str
        weight.assign(_random_weight(kind, tuple(weight.shape), rng).astype(dtype))
    _refresh_normalization(model)


def _refresh_normalization(model):
    """An adapted Normalization computes from copies of its mean and variance made when it
    was adapted (``finalize_state``); refresh them from the randomized weights, as loading
    the saved file does."""
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ == "Normalization" and getattr(layer, "input_mean", 1) is None:
            layer.finalize_state()
        _refresh_normalization(layer)


def floats(rng, *shape, dtype="float32", scale=0.5):
    return rng.normal(0.0, scale, shape).astype(dtype)


def tokens(rng, vocab, *shape):
    return rng.integers(1, vocab, shape).astype("int32")


# --------------------------------------------------------------------------
# Case registry
# --------------------------------------------------------------------------

CASES = {}


def case(note, writers=ALL_WRITERS, extra_formats=(), jit=False, live_only=False, tol=TOL,
         lossy_formats=()):
    """Register `fn(K, rng) -> (model, inputs)` as a case named fn.__name__.

    The committed fixtures hold each writer's native format and the format
    kinds ("keras", "h5", "json") named in extra_formats (see case_formats).
    `jit=True` records the outputs with `compile(jit_compile=True)`: TensorFlow
    runs channels_first convolutions and pooling on CPU only through XLA
    (KERAS_FACTS_WIDE "Writers, CPU limits"); the maths is the same.
    `live_only=True`: no committed fixture (tests/test_live_keras.py still runs
    it with every writer and format), for coverage the fixtures' size budget
    cannot hold. `tol`: the case's max abs tolerance (float16 models: see
    kerasrnn_infer.testing.compare.FLOAT16_TOL).
    lossy_formats names the kinds that lose part of the model, so that Keras
    cannot reload them either (an adapted vocabulary outside .keras): they
    are never written for the case.
    """
    def register(fn):
        fn.note = " ".join(note.split())
        fn.writers = tuple(writers)
        fn.extra_formats = tuple(extra_formats)
        fn.jit = jit
        fn.live_only = live_only
        fn.tol = tol
        fn.lossy_formats = tuple(lossy_formats)
        CASES[fn.__name__] = fn
        return fn
    return register


def build(name, writer, seed=SEED):
    """Build case `name` with `writer`'s Keras and fill it with random weights.

    Returns {"name", "writer", "note", "model", "inputs"}, inputs being the
    list of numpy arrays in model input order.
    """
    builder = CASES[name]
    if writer not in builder.writers:
        raise ValueError(f"case {name!r} does not support writer {writer!r}")
    K = keras_module(writer)
    K.backend.clear_session()  # restart auto-naming so layer names are stable
    rng = np.random.default_rng(seed)
    model, inputs, *calls = builder(K, rng)
    randomize_weights(model, rng)
    if builder.jit:
        model.compile(jit_compile=True)
    return {"name": name, "writer": writer, "note": builder.note, "jit": builder.jit,
            "tol": builder.tol,
            "model": model, "inputs": inputs, "calls": calls[0] if calls else None}


@case("""Stacked functional model: SimpleRNN -> LSTM -> GRU(reset_after=True)
      -> GRU(reset_after=False), all return_sequences=True, and each of the
      four layer kinds again with return_sequences=False on the top of the
      stack. Default activations (tanh / sigmoid).""")
def rnn_basic(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.SimpleRNN(5, return_sequences=True)(x)
    s = L.LSTM(6, return_sequences=True)(s)
    s = L.GRU(5, return_sequences=True)(s)
    s = L.GRU(4, reset_after=False, return_sequences=True, name="gru_ra_false")(s)
    last = [L.SimpleRNN(4)(s), L.LSTM(4)(s), L.GRU(4)(s),
            L.GRU(3, reset_after=False, name="gru_ra_false_last")(s)]
    return K.Model(x, [s, *last]), [floats(rng, BATCH, STEPS, 4)]


@case("""Sequential model, use_bias=False everywhere: SimpleRNN, LSTM, GRU
      (reset_after=True), GRU(reset_after=False), Dense.""")
def rnn_no_bias(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.SimpleRNN(5, use_bias=False, return_sequences=True),
        L.LSTM(5, use_bias=False, return_sequences=True),
        L.GRU(4, use_bias=False, return_sequences=True),
        L.GRU(4, use_bias=False, reset_after=False),
        L.Dense(3, use_bias=False),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


def _known_activations(K, names):
    known = []
    for name in names:
        try:
            K.activations.get(name)
        except ValueError:
            continue
        known.append(name)
    return known


@case("""Every shape-keeping activation name the writer knows, one branch
      per pair of names on the same input, all return_sequences and
      concatenated. LSTM i has activation=bounded[i] (sigmoid, hard_sigmoid,
      tanh, softsign, softmax, ...) and recurrent_activation=unbounded[i]
      (relu, linear, elu, ...); the remaining unbounded names are the
      activation of GRUs whose recurrent_activation cycles through the
      names with values in [0, 1] (sigmoid, hard_sigmoid, softmax, ...).
      hard_sigmoid thus appears in both roles; its formula differs between
      tf_keras (clip(0.2x+0.5)) and Keras 3 (relu6(x+3)/6).
      Layer names are <lstm|gru>_<activation>__<recurrent_activation>.""")
def activations(K, rng):
    L = K.layers
    bounded = _known_activations(K, BOUNDED_ACTIVATIONS)
    unbounded = _known_activations(K, UNBOUNDED_ACTIVATIONS)
    gates = _known_activations(K, UNIT_INTERVAL_ACTIVATIONS)
    layers = [(L.LSTM, act, rec) for act, rec in zip(bounded, unbounded)]
    layers += [(L.GRU, act, gates[i % len(gates)])
               for i, act in enumerate(unbounded[len(bounded):])]
    x = K.Input((STEPS, 4), name="x")
    branches = [rnn(3, activation=act, recurrent_activation=rec, return_sequences=True,
                    name=f"{rnn.__name__.lower()}_{act}__{rec}")(x)
                for rnn, act, rec in layers]
    y = L.Concatenate(name="all_branches")(branches)
    return K.Model(x, y), [floats(rng, BATCH, STEPS, 4, scale=0.25)]


@case("""go_backwards=True for SimpleRNN, LSTM and GRU, each with
      return_sequences=True (outputs come in processing order, not flipped
      back) and False; the LSTM without sequences is stacked on the backward
      SimpleRNN sequence.""")
def go_backwards(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    srnn_seq = L.SimpleRNN(4, go_backwards=True, return_sequences=True)(x)
    outputs = [
        srnn_seq,
        L.SimpleRNN(3, go_backwards=True)(x),
        L.LSTM(4, go_backwards=True, return_sequences=True)(x),
        L.LSTM(3, go_backwards=True)(srnn_seq),
        L.GRU(4, go_backwards=True, return_sequences=True)(x),
        L.GRU(3, go_backwards=True)(x),
    ]
    return K.Model(x, outputs), [floats(rng, BATCH, STEPS, 4)]


@case("""return_state=True for LSTM ([out, h, c]), GRU and SimpleRNN
      ([out, h]); initial_state from extra model Inputs: LSTM gets [h0, c0],
      GRU and SimpleRNN get one tensor (a bare tensor in Keras 3, a one-item
      list in tf_keras); a decoder LSTM starts from the encoder LSTM's final
      [h, c] (seq2seq pattern). Input order: x, h0, c0, g0, s0.""")
def return_state_initial_state(K, rng):
    L = K.layers
    single = (lambda t: t) if is_keras3(K) else (lambda t: [t])
    x = K.Input((STEPS, 4), name="x")
    h0 = K.Input((5,), name="h0")
    c0 = K.Input((5,), name="c0")
    g0 = K.Input((4,), name="g0")
    s0 = K.Input((3,), name="s0")
    enc, h, c = L.LSTM(5, return_sequences=True, return_state=True,
                       name="lstm_enc")(x, initial_state=[h0, c0])
    dec = L.LSTM(5, return_sequences=True, name="lstm_dec")(enc, initial_state=[h, c])
    g_out, g_h = L.GRU(4, return_state=True, name="gru_state")(x, initial_state=single(g0))
    s_out, s_h = L.SimpleRNN(3, return_sequences=True, return_state=True,
                             name="srnn_state")(x, initial_state=single(s0))
    z_out, z_h = L.GRU(3, reset_after=False, return_state=True,
                       go_backwards=True, name="gru_zero_state")(x)
    model = K.Model([x, h0, c0, g0, s0],
                    [enc, h, c, dec, g_out, g_h, s_out, s_h, z_out, z_h])
    inputs = [floats(rng, BATCH, STEPS, 4), floats(rng, BATCH, 5),
              floats(rng, BATCH, 5), floats(rng, BATCH, 4), floats(rng, BATCH, 3)]
    return model, inputs


@case("""unroll=True (fixed number of timesteps): SimpleRNN -> LSTM -> GRU,
      all return_sequences, topped by GRU(reset_after=False,
      go_backwards=True) without sequences.""")
def unroll(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.SimpleRNN(4, unroll=True, return_sequences=True)(x)
    s = L.LSTM(5, unroll=True, return_sequences=True)(s)
    s = L.GRU(4, unroll=True, return_sequences=True)(s)
    top = L.GRU(3, unroll=True, reset_after=False, go_backwards=True)(s)
    return K.Model(x, [s, top]), [floats(rng, BATCH, STEPS, 4)]


@case("""Generic RNN wrapper: RNN(SimpleRNNCell), RNN(LSTMCell,
      return_state), RNN(GRUCell, return_sequences+return_state),
      RNN(GRUCell(reset_after=False)), and stacked cells
      RNN([LSTMCell, GRUCell, SimpleRNNCell], return_sequences,
      return_state) whose states are [lstm h, lstm c, gru h, srnn h].""",
      extra_formats=("keras", "h5"))
def rnn_cells(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    outputs = [L.RNN(L.SimpleRNNCell(4), return_sequences=True, name="rnn_srnn")(x)]
    outputs += L.RNN(L.LSTMCell(5), return_state=True, name="rnn_lstm")(x)
    outputs += L.RNN(L.GRUCell(4), return_sequences=True, return_state=True,
                     name="rnn_gru")(x)
    outputs.append(L.RNN(L.GRUCell(3, reset_after=False), name="rnn_gru_ra_false")(x))
    stacked = L.RNN([L.LSTMCell(4), L.GRUCell(3), L.SimpleRNNCell(5)],
                    return_sequences=True, return_state=True, name="rnn_stacked")
    outputs += stacked(x)
    return K.Model(x, outputs), [floats(rng, BATCH, STEPS, 4)]


@case("""Sequential model entirely in float64: float64 Input, LSTM, GRU,
      SimpleRNN and Dense with dtype="float64"; float64 inputs and
      outputs.""")
def float64(K, rng):
    L = K.layers
    f64 = {"dtype": "float64"}
    model = K.Sequential([
        K.Input((STEPS, 4), dtype="float64"),
        L.LSTM(5, return_sequences=True, **f64),
        L.GRU(4, return_sequences=True, **f64),
        L.SimpleRNN(4, **f64),
        L.Dense(3, **f64),
    ])
    return model, [floats(rng, BATCH, STEPS, 4, dtype="float64")]


@case("""Mixed precision: a float32 Sequential model in which a SimpleRNN and an
      LSTM run in float64 (dtype="float64"; Keras casts their inputs up and
      the next float32 layer casts back down).""")
def float64_mixed(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.Dense(5),
        L.SimpleRNN(5, return_sequences=True, dtype="float64"),
        L.GRU(4, return_sequences=True),
        L.LSTM(4, dtype="float64"),
        L.Dense(3),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Mixed precision as keras.mixed_precision.set_global_policy(
      "mixed_float16") sets it, per layer: LSTM, GRU, SimpleRNN and a tanh Dense
      compute in float16 (float32 variables, float16 outputs), the last Dense in
      float32 (the usual output layer). Float16 results land one or two float16
      units apart from Keras's (sums in another order), so the tolerance is
      2e-3 (kerasrnn_infer.testing.compare.FLOAT16_TOL, measured by
      tools/measure_fp16_tolerance.py), not 1e-5.""", tol=2e-3)
def mixed_float16(K, rng):
    L = K.layers
    m16 = {"dtype": "mixed_float16"}
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.LSTM(6, return_sequences=True, **m16),
        L.GRU(5, return_sequences=True, **m16),
        L.SimpleRNN(4, **m16),
        L.Dense(4, activation="tanh", **m16),
        L.Dense(3, dtype="float32"),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Inference no-ops: dropout and recurrent_dropout on SimpleRNN, LSTM,
      GRU, GRU(reset_after=False); Dropout, SpatialDropout1D, GaussianNoise,
      GaussianDropout, AlphaDropout and ActivityRegularization layers. The
      LSTM is the classic Keras 2 configuration: recurrent_activation=
      "hard_sigmoid" (formula differs between writers) with
      recurrent_dropout (implementation 1).""")
def dropouts(K, rng):
    L = K.layers
    drop = {"dropout": 0.3, "recurrent_dropout": 0.2}
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.SimpleRNN(5, return_sequences=True, **drop),
        L.Dropout(0.5),
        L.LSTM(5, recurrent_activation="hard_sigmoid", return_sequences=True, **drop),
        L.SpatialDropout1D(0.3),
        L.GaussianNoise(0.2),
        L.GRU(4, return_sequences=True, **drop),
        L.GaussianDropout(0.3),
        L.AlphaDropout(0.2),
        L.ActivityRegularization(l1=0.01, l2=0.01),
        L.GRU(4, reset_after=False, **drop),
        L.Dense(3),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Sequential encoder-decoder on token ids (mask_zero=False, ids in
      [1, 12)): Embedding -> Dense on 3-D input -> LSTM encoder ->
      RepeatVector(4) -> LSTM decoder(seq) -> TimeDistributed(Dense) ->
      Activation(softsign) -> Permute((2, 1)) -> Reshape((2, 8)) -> Flatten
      -> Dense(softmax).""")
def embedding_td_repeat(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(12, 5),
        L.Dense(5),
        L.LSTM(6, name="encoder"),
        L.RepeatVector(4),
        L.LSTM(5, return_sequences=True, name="decoder"),
        L.TimeDistributed(L.Dense(4)),
        L.Activation("softsign"),
        L.Permute((2, 1)),
        L.Reshape((2, 8)),
        L.Flatten(),
        L.Dense(4, activation="softmax"),
    ])
    return model, [tokens(rng, 12, BATCH, STEPS)]


@case("""Sequential text classifier whose Embedding rows the recurrent kernel looks up
      itself (kerasrnn_infer.executor.run_sequential): Embedding(mask_zero) ->
      Bidirectional(LSTM, seq) -> GRU(go_backwards) -> Dense(sigmoid). Rows pre-padded
      (pad_sequences' default) to different lengths, unpadded, fully padded.""",
      extra_formats=("h5",))
def embedding_bilstm_text(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(30, 6, mask_zero=True),
        L.Bidirectional(L.LSTM(5, return_sequences=True)),
        L.GRU(4, go_backwards=True),
        L.Dense(1, activation="sigmoid"),
    ])
    ids = tokens(rng, 30, 4, STEPS)
    ids[0, :3] = 0
    ids[1, :5] = 0
    ids[3, :] = 0
    return model, [ids]


@case("""Sequential tagger, the Embedding rows looked up by the LSTM's kernel:
      Embedding(mask_zero) -> LSTM(seq) -> Dense on 3-D (passes the mask) -> SimpleRNN.
      Rows post-padded to different lengths, longest not first.""")
def embedding_lstm_tagger(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(25, 5, mask_zero=True),
        L.LSTM(4, return_sequences=True),
        L.Dense(3),
        L.SimpleRNN(3),
    ])
    ids = tokens(rng, 25, 4, STEPS)
    ids[0, 2:] = 0
    ids[2, 5:] = 0
    ids[3, 4:] = 0
    return model, [ids]


@case("""Sequential text classifiers on the direct path's one-frame steps (kerasrnn_infer
      executor.direct_plan): Embedding(mask_zero) -> Bidirectional(LSTM) -> Dropout ->
      Dense(softmax), the rows looked up and both halves run in one compiled call, their
      last outputs concatenated. Rows post-padded to different lengths, longest not first
      (run sorted by length), one unpadded.""")
def embedding_bilstm_classifier(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(40, 6, mask_zero=True),
        L.Bidirectional(L.LSTM(5)),
        L.Dropout(0.3),
        L.Dense(3, activation="softmax"),
    ])
    ids = tokens(rng, 40, 4, STEPS)
    for row, n in zip(ids, (3, STEPS, 5, 1)):
        row[n:] = 0
    return model, [ids]


@case("""Sequential Embedding(mask_zero) -> GRU(go_backwards) -> Dense(tanh): the direct
      path's one-frame step of one recurrent layer on ids; rows pre-padded.""")
def embedding_gru_classifier(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(25, 4, mask_zero=True),
        L.GRU(6, go_backwards=True),
        L.Dense(2, activation="tanh"),
    ])
    ids = tokens(rng, 25, BATCH, STEPS)
    ids[0, :2] = 0
    ids[2, :4] = 0
    return model, [ids]


@case("""Sequential on float inputs: Bidirectional(GRU) (both halves in one compiled call,
      last outputs concatenated) -> Dense(relu) -> Dense(sigmoid).""")
def bigru_float_head(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.Bidirectional(L.GRU(5)),
        L.Dense(4, activation="relu"),
        L.Dense(1, activation="sigmoid"),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Sequential, Embedding without a mask (mask_zero=False, id 0 an ordinary row) ->
      GRU(seq, go_backwards), the rows looked up by the GRU's kernel, -> LSTM.""")
def embedding_gru_unmasked(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS,), dtype="int32"),
        L.Embedding(15, 4),
        L.GRU(5, return_sequences=True, go_backwards=True),
        L.LSTM(3),
    ])
    ids = tokens(rng, 15, BATCH, STEPS)
    ids[0, 1] = 0
    return model, [ids]


@case("""Merge layers on RNN outputs of a two-input functional model (LSTM on
      input a, GRU on input b, both return_sequences, 5 units):
      Concatenate(axis=-1), Concatenate(axis=1), Add, Subtract, Multiply,
      Average, Maximum, Minimum; the axis=1 concatenation feeds a
      SimpleRNN.""")
def merges(K, rng):
    L = K.layers
    xa = K.Input((STEPS, 4), name="a")
    xb = K.Input((STEPS, 3), name="b")
    a = L.LSTM(5, return_sequences=True)(xa)
    b = L.GRU(5, return_sequences=True)(xb)
    time_concat = L.Concatenate(axis=1, name="concat_time")([a, b])
    outputs = [
        L.Concatenate(axis=-1, name="concat_features")([a, b]),
        time_concat,
        L.Add()([a, b]),
        L.Subtract()([a, b]),
        L.Multiply()([a, b]),
        L.Average()([a, b]),
        L.Maximum()([a, b]),
        L.Minimum()([a, b]),
        L.SimpleRNN(3)(time_concat),
    ]
    inputs = [floats(rng, BATCH, STEPS, 4), floats(rng, BATCH, STEPS, 3)]
    return K.Model([xa, xb], outputs), inputs


@case("""Convolution and pooling around RNNs (9 timesteps): Conv1D valid+relu
      -> MaxPooling1D(2, valid); Conv1D same, strides=2 -> AveragePooling1D(2,
      same); both concatenated -> GRU. Conv1D causal, dilation_rate=2, tanh
      -> MaxPooling1D(2, same) -> LSTM(seq) -> GlobalMaxPooling1D, and ->
      AveragePooling1D(2, valid) -> SimpleRNN(seq) -> GlobalAveragePooling1D.""")
def conv_pool(K, rng):
    L = K.layers
    steps = 9
    x = K.Input((steps, 3), name="x")
    p1 = L.MaxPooling1D(2, padding="valid")(
        L.Conv1D(4, 3, padding="valid", activation="relu")(x))
    p2 = L.AveragePooling1D(2, padding="same")(
        L.Conv1D(4, 3, padding="same", strides=2)(x))
    g = L.GRU(5)(L.Concatenate()([p1, p2]))
    causal = L.Conv1D(4, 2, padding="causal", dilation_rate=2, activation="tanh")(x)
    gmax = L.GlobalMaxPooling1D()(
        L.LSTM(4, return_sequences=True)(L.MaxPooling1D(2, padding="same")(causal)))
    gavg = L.GlobalAveragePooling1D()(
        L.SimpleRNN(4, return_sequences=True)(L.AveragePooling1D(2, padding="valid")(causal)))
    return K.Model(x, [g, gmax, gavg]), [floats(rng, BATCH, steps, 3)]


@case("""Normalization and activation layers (Sequential): Dense(3-D) ->
      BatchNormalization -> LSTM(seq) -> BatchNormalization(center=False,
      scale=False) -> LayerNormalization -> ReLU(max_value=1.2,
      negative_slope=0.1, threshold=0.05) -> GRU(seq) ->
      LayerNormalization(center=False) -> LeakyReLU(slope 0.2) ->
      SimpleRNN(seq) -> LayerNormalization(scale=False) -> Softmax(axis=-1).""")
def normalization(K, rng):
    L = K.layers
    slope = {"negative_slope" if is_keras3(K) else "alpha": 0.2}
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.Dense(5),
        L.BatchNormalization(),
        L.LSTM(6, return_sequences=True),
        L.BatchNormalization(center=False, scale=False),
        L.LayerNormalization(),
        L.ReLU(max_value=1.2, negative_slope=0.1, threshold=0.05),
        L.GRU(5, return_sequences=True),
        L.LayerNormalization(center=False),
        L.LeakyReLU(**slope),
        L.SimpleRNN(4, return_sequences=True),
        L.LayerNormalization(scale=False),
        L.Softmax(axis=-1),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Activation layers with weights or thresholds (Sequential): LSTM(seq)
      -> PReLU(shared_axes=[1]: a slope per feature) -> GRU(seq) -> PReLU (a
      slope per timestep and feature) -> [tf-keras: ThresholdedReLU(theta=0.1)]
      -> SimpleRNN(seq) -> Flatten -> Dense -> PReLU (on 2-D inputs).""")
def prelu(K, rng):
    L = K.layers
    layers = [K.Input((STEPS, 4)), L.LSTM(6, return_sequences=True),
              L.PReLU(shared_axes=[1]), L.GRU(5, return_sequences=True), L.PReLU()]
    if not is_keras3(K):
        layers.append(L.ThresholdedReLU(theta=0.1))
    layers += [L.SimpleRNN(4, return_sequences=True), L.Flatten(), L.Dense(3), L.PReLU()]
    return K.Sequential(layers), [floats(rng, BATCH, STEPS, 4)]


@case("""Activation layers given as a layer's activation (Keras serializes the layer into
      the option): LSTM(seq) -> Dense(activation=LeakyReLU(0.2)) -> Conv1D(same,
      activation=ELU(0.5)) -> Dense(activation=ReLU(max_value=0.6, threshold=0.05)) ->
      GRU -> Dense(activation=Softmax()).""")
def activation_layer_options(K, rng):
    L = K.layers
    slope = {"negative_slope" if is_keras3(K) else "alpha": 0.2}
    model = K.Sequential([
        K.Input((STEPS, 4)), L.LSTM(6, return_sequences=True),
        L.Dense(5, activation=L.LeakyReLU(**slope)),
        L.Conv1D(4, 3, padding="same", activation=L.ELU(alpha=0.5)),
        L.Dense(4, activation=L.ReLU(max_value=0.6, threshold=0.05)),
        L.GRU(5), L.Dense(3, activation=L.Softmax())])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""Outputs nested as the model was made: a dict {"zseq": LSTM sequence, "alast":
      Dense on its last step, "states": [h, [h, c]] of RNN([GRUCell, LSTMCell],
      return_state=True)}. Keras flattens dicts in sorted key order (alast, states..., zseq:
      output_names and the recorded outputs) and predicts the dict.""")
def graph_dict_outputs(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.LSTM(5, return_sequences=True, name="lstm")(x)
    _, h_gru, lstm_states = L.RNN([L.GRUCell(4), L.LSTMCell(3)], return_state=True,
                                  name="stack")(x)
    head = L.Dense(2, name="head")(L.GRU(3, name="gru")(s))
    return K.Model(x, {"zseq": s, "alast": head, "states": [h_gru, list(lstm_states)]}), \
        [floats(rng, BATCH, STEPS, 4)]


@case("""GroupNormalization around recurrent layers (Sequential): Conv1D(8, same) ->
      GroupNormalization(groups=4) -> LSTM(seq) -> GroupNormalization(groups=2, center=False,
      epsilon=0.01) -> GRU(seq) -> GroupNormalization(groups=1, scale=False) (each group
      normalized over time and its channels).""")
def group_normalization(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input((STEPS, 4)), L.Conv1D(8, 3, padding="same"), L.GroupNormalization(groups=4),
        L.LSTM(6, return_sequences=True), L.GroupNormalization(groups=2, center=False,
                                                               epsilon=0.01),
        L.GRU(4, return_sequences=True), L.GroupNormalization(groups=1, scale=False)])
    return model, [floats(rng, BATCH, STEPS, 4, scale=1.0)]


@case("""Two inputs (float sequence, token ids) and three outputs in a
      non-alphabetical order: a TimeDistributed(Dense) sequence, a softmax head
      on the concatenated LSTM/GRU summaries, and the LSTM's final cell state.
      Input order: seq, ids.""")
def graph_multi_io(K, rng):
    L = K.layers
    seq = K.Input((STEPS, 4), name="seq")
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    lstm_out, _, lstm_c = L.LSTM(5, return_state=True, name="lstm")(seq)
    gru_seq = L.GRU(4, return_sequences=True, name="gru")(L.Embedding(10, 3)(ids))
    gru_last = L.SimpleRNN(4, name="srnn")(gru_seq)
    head = L.Dense(3, activation="softmax", name="z_head")(
        L.Concatenate()([lstm_out, gru_last]))
    per_step = L.TimeDistributed(L.Dense(2), name="y_steps")(gru_seq)
    model = K.Model([seq, ids], [per_step, head, lstm_c])
    return model, [floats(rng, BATCH, STEPS, 4), tokens(rng, 10, BATCH, STEPS)]


@case("""Shared layers: one LSTM(return_sequences) called on two inputs, one
      GRU called on both LSTM outputs and one Dense called on both GRU outputs;
      their per-layer outputs are not recorded (layers_skipped). The branches
      meet in Subtract and Concatenate.""")
def graph_shared(K, rng):
    L = K.layers
    x1 = K.Input((STEPS, 4), name="x1")
    x2 = K.Input((STEPS, 4), name="x2")
    lstm = L.LSTM(5, return_sequences=True, name="shared_lstm")
    gru = L.GRU(4, name="shared_gru")
    dense = L.Dense(3, name="shared_dense")
    g1, g2 = gru(lstm(x1)), gru(lstm(x2))
    diff = L.Subtract()([dense(g1), dense(g2)])
    both = L.Concatenate()([g1, g2])
    model = K.Model([x1, x2], [diff, both])
    return model, [floats(rng, BATCH, STEPS, 4), floats(rng, BATCH, STEPS, 4)]


@case("""Nested models inside a functional model: a Sequential
      (SimpleRNN(seq) -> Dense) called on the outer input, a Functional model
      (GRU(seq) -> LSTM) also called directly on the outer Input, and a GRU on
      the nested Sequential's output; outputs concatenated.""",
      extra_formats=("keras", "h5"))
def graph_nested(K, rng):
    L = K.layers
    inner_seq = K.Sequential([
        K.Input((STEPS, 4)),
        L.SimpleRNN(5, return_sequences=True),
        L.Dense(4),
    ], name="inner_seq")
    i = K.Input((STEPS, 4), name="inner_x")
    inner_fn = K.Model(i, L.LSTM(3)(L.GRU(4, return_sequences=True)(i)),
                       name="inner_fn")
    x = K.Input((STEPS, 4), name="x")
    y = L.GRU(3, name="outer_gru")(inner_seq(x))
    out = L.Concatenate()([y, inner_fn(x)])
    return K.Model(x, out), [floats(rng, BATCH, STEPS, 4)]


@case("""A Functional model (LSTM(seq) -> GRU(seq)) nested inside a
      Sequential: Input -> Dense -> inner_fn -> SimpleRNN -> Dense.""",
      extra_formats=("keras", "h5", "json"))
def graph_nested_sequential(K, rng):
    L = K.layers
    i = K.Input((STEPS, 3), name="inner_x")
    inner_fn = K.Model(i, L.GRU(4, return_sequences=True)(
        L.LSTM(5, return_sequences=True)(i)), name="inner_fn")
    model = K.Sequential([
        K.Input((STEPS, 4)),
        L.Dense(3),
        inner_fn,
        L.SimpleRNN(4),
        L.Dense(2),
    ])
    return model, [floats(rng, BATCH, STEPS, 4)]


@case("""TimeDistributed over whole models: a nested Sequential (Dense(tanh) -> Dense) and a
      nested Functional model (Dense -> LayerNormalization) applied to every timestep, each
      feeding an LSTM; the two LSTM summaries concatenated.""", extra_formats=("keras", "h5"))
def td_nested_models(K, rng):
    L = K.layers
    per_step_seq = K.Sequential([K.Input((4,)), L.Dense(5, activation="tanh"), L.Dense(3)],
                                name="per_step_seq")
    i = K.Input((4,), name="step_in")
    per_step_fn = K.Model(i, L.LayerNormalization()(L.Dense(3)(i)), name="per_step_fn")
    x = K.Input((STEPS, 4), name="x")
    a = L.LSTM(4, name="lstm_a")(L.TimeDistributed(per_step_seq, name="td_seq")(x))
    b = L.LSTM(3, name="lstm_b")(L.TimeDistributed(per_step_fn, name="td_fn")(x))
    return K.Model(x, L.Concatenate()([a, b])), [floats(rng, BATCH, STEPS, 4)]


@case("""Keras 3 GetItem op nodes (indexing a Keras tensor): x[:, -1, :], x[:, ::2] (feeding a
      GRU), x[..., 1] and x[:, None, 2:4] on an LSTM sequence.""", writers=("keras3",),
      extra_formats=("h5",))
def ops_getitem(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.LSTM(5, return_sequences=True, name="lstm")(x)
    g = L.GRU(3, name="gru")(s[:, ::2])
    return K.Model(x, [s[:, -1, :], g, s[..., 1], s[:, None, 2:4]]), [floats(rng, BATCH, STEPS,
                                                                             4)]


@case("""Ops between layers on an LSTM sequence s, as each writer records them. Keras 3 op
      nodes: (s * 2 + 1.5) ** 2 (Python constants: the output stays float32), softmax over
      time, normalize over features, s ** 3. tf-keras TFOpLambda layers: tf.matmul(s, s,
      transpose_b=True) (attention scores), tf.math.l2_normalize over features,
      tf.linalg.matmul(s[:, -1:], s, adjoint_b=True).""")
def ops_scores(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.LSTM(5, return_sequences=True, name="lstm")(x)
    if is_keras3(K):
        ops = K.ops
        outs = [(s * 2 + 1.5) ** 2, ops.softmax(s, axis=1), ops.normalize(s, axis=-1),
                ops.power(s, 3)]
    else:
        import tensorflow as tf
        outs = [tf.matmul(s, s, transpose_b=True), tf.math.l2_normalize(s, axis=-1),
                tf.linalg.matmul(s[:, -1:], s, adjoint_b=True)]
    return K.Model(x, outs), [floats(rng, BATCH, STEPS, 4)]


@case("""More Keras 3 op nodes on an LSTM sequence s (inputs of scale 1: the activations'
      curved parts): relu, sigmoid, leaky_relu(0.1), elu(0.5), gelu (approximate and
      exact), silu, softplus, selu, relu6, softsign, hard_sigmoid, log_softmax, flip over
      time, cumsum over time, argmax (int32), pad (constant 0.5 and reflect), average over
      time (plain and weighted), dot of two steps, einsum (step-by-step scores, a sum over
      time) (.keras only: Keras cannot reload its own .h5 of these).""", writers=("keras3",))
def ops_more(K, rng):
    L = K.layers
    ops = K.ops
    x = K.Input((STEPS, 4), name="x")
    s = L.LSTM(5, return_sequences=True, name="lstm")(x)
    w = np.linspace(0.5, 2.0, STEPS).astype("float32")
    outs = [ops.relu(s), ops.sigmoid(s), ops.leaky_relu(s, 0.1), ops.elu(s, 0.5), ops.gelu(s),
            ops.gelu(s, approximate=False), ops.silu(s), ops.softplus(s), ops.selu(s),
            ops.relu6(s), ops.softsign(s), ops.hard_sigmoid(s), ops.log_softmax(s, axis=-1),
            ops.flip(s, axis=1), ops.cumsum(s, axis=1), ops.argmax(s, axis=-1),
            ops.pad(s, [[0, 0], [1, 2], [0, 0]], constant_values=0.5),
            ops.pad(s, [[0, 0], [2, 1], [0, 0]], mode="reflect"), ops.average(s, axis=1),
            ops.average(s, axis=1, weights=w), ops.dot(s[:, -1], ops.transpose(s[:, 0])),
            ops.einsum("btf,bsf->bts", s, s), ops.einsum("btf->bf", s)]
    return K.Model(x, outs), [floats(rng, BATCH, STEPS, 4, scale=1.0)]


@case("""More tf-keras tf-op layers on an LSTM sequence s: tf.where(s > 0, s, 0.1 s),
      tf.cumsum over time (plain, and exclusive reversed), tf.argmax (int64) and
      tf.math.argmax(output_type=int32), tf.math.argmin, tf.reverse over time, tf.repeat (a
      count and a list of counts), tf.pad (CONSTANT 0.5, REFLECT, SYMMETRIC).""",
      writers=("tf_keras",))
def tf_ops_more(K, rng):
    import tensorflow as tf
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    s = L.LSTM(5, return_sequences=True, name="lstm")(x)
    outs = [tf.where(s > 0, s, 0.1 * s), tf.cumsum(s, axis=1),
            tf.math.cumsum(s, axis=1, exclusive=True, reverse=True), tf.argmax(s, axis=-1),
            tf.math.argmax(s, axis=1, output_type=tf.int32), tf.math.argmin(s, axis=-1),
            tf.reverse(s, axis=[1]), tf.repeat(s, 2, axis=1),
            tf.repeat(s, [1, 2, 1, 3, 1, 1, 2], axis=1),
            tf.pad(s, [[0, 0], [1, 2], [0, 0]], constant_values=0.5),
            tf.pad(s, [[0, 0], [1, 1], [0, 0]], mode="REFLECT"),
            tf.pad(s, [[0, 0], [2, 1], [0, 0]], mode="SYMMETRIC")]
    return K.Model(x, outs), [floats(rng, BATCH, STEPS, 4, scale=1.0)]


# --------------------------------------------------------------------------
# Masks, Bidirectional, stateful
# --------------------------------------------------------------------------

MASK_BATCH = 5


def padded_tokens(rng, vocab, steps=STEPS):
    """Token ids with padding 0: post-, pre- and mid-padded rows, a fully padded row and an
    unpadded one (in that order)."""
    ids = tokens(rng, vocab, MASK_BATCH, steps)
    ids[0, -3:] = 0
    ids[1, :4] = 0
    ids[2, 2:4] = 0
    ids[3, :] = 0
    return ids


def padded_floats(rng, features, value=0.0, steps=STEPS):
    """Float sequences where whole timesteps equal `value` (masked by Masking), in the same
    row patterns as padded_tokens, plus one step only partly equal to it (not masked)."""
    x = floats(rng, MASK_BATCH, steps, features)
    x[0, -3:] = value
    x[1, :4] = value
    x[2, 2:4] = value
    x[3, :] = value
    x[4, 3, :features // 2] = value
    return x


@case("""Embedding(mask_zero=True) masks through a stack: LSTM(seq) -> GRU(seq) ->
      SimpleRNN (last step); GRU(go_backwards, seq) on the LSTM sequence; Dense on 3-D
      (passes the mask) -> TimeDistributed(Dense) -> GlobalAveragePooling1D (masked mean;
      NaN for the fully padded row, as in Keras). Rows: post-, pre-, mid-padded, fully
      padded, unpadded.""", extra_formats=("h5",))
def mask_embedding(K, rng):
    L = K.layers
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    l1 = L.LSTM(5, return_sequences=True)(e)
    g = L.GRU(4, return_sequences=True)(l1)
    last = L.SimpleRNN(3)(g)
    back = L.GRU(3, go_backwards=True, return_sequences=True, reset_after=False)(l1)
    d = L.Dense(4)(g)
    td = L.TimeDistributed(L.Dense(2))(d)
    gap = L.GlobalAveragePooling1D()(td)
    return K.Model(ids, [last, back, td, gap]), [padded_tokens(rng, 20)]


@case("""Layers whose mask passing differs by writer: Embedding(mask_zero=True) ->
      Rescaling(0.5, offset=0.1) -> LSTM(seq); -> Normalization(mean, variance) -> GRU(seq);
      -> Identity -> UnitNormalization -> SimpleRNN(seq). Keras 3 passes the mask through
      Rescaling, Normalization and Identity (the RNNs run masked); tf-keras outputs none
      from them (unmasked), and UnitNormalization passes what it is given in both.""")
def mask_rescale_identity(K, rng):
    L = K.layers
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    a = L.LSTM(5, return_sequences=True)(L.Rescaling(0.5, offset=0.1)(e))
    b = L.GRU(4, return_sequences=True)(
        L.Normalization(mean=[0.1, -0.2, 0.0, 0.3], variance=[2.0, 0.5, 1.0, 1.5])(e))
    c = L.SimpleRNN(3, return_sequences=True)(L.UnitNormalization()(L.Identity()(e)))
    return K.Model(ids, [a, b, c]), [padded_tokens(rng, 20)]


@case("""Masking(mask_value=0.0) and Masking(mask_value=-1.0) on float sequences:
      LSTM(seq) -> Dense -> LSTM (last); GRU(seq) with a non-zero initial_state from an
      Input while the first steps are masked (tf-keras and Keras 3 TF backend: the output at
      a leading masked step is zeros, the state is kept); SimpleRNN(zero_output_for_mask)
      (Keras 3 only). Input order: x, h0, y.""")
def mask_masking(K, rng):
    L = K.layers
    x = K.Input((STEPS, 4), name="x")
    h0 = K.Input((4,), name="h0")
    y = K.Input((STEPS, 3), name="y")
    m = L.Masking(0.0)(x)
    a = L.LSTM(3)(L.Dense(4)(L.LSTM(5, return_sequences=True)(m)))
    b = L.GRU(4, return_sequences=True, name="gru_init")(m, initial_state=[h0])
    extra = {"zero_output_for_mask": True} if is_keras3(K) else {}
    c = L.SimpleRNN(3, return_sequences=True, **extra)(L.Masking(-1.0)(y))
    inputs = [padded_floats(rng, 4), floats(rng, MASK_BATCH, 4),
              padded_floats(rng, 3, value=-1.0)]
    return K.Model([x, h0, y], [a, b, c]), inputs


@case("""Concatenate merges masks: two Embedding(mask_zero) inputs with different padding
      concatenated on features (Keras 3 keeps a step if any input keeps it, tf-keras only if
      all do) and a masked with an unmasked sequence, each feeding an LSTM(seq). Keras 3
      records the mask merge as op nodes (ZerosLike, LogicalOr, ...), also in its .h5.""",
      extra_formats=("h5",))
def mask_concat(K, rng):
    L = K.layers
    a = K.Input((STEPS,), dtype="int32", name="a")
    b = K.Input((STEPS,), dtype="int32", name="b")
    c = K.Input((STEPS, 2), name="c")
    ea, eb = L.Embedding(10, 3, mask_zero=True)(a), L.Embedding(10, 2, mask_zero=True)(b)
    both = L.LSTM(4, return_sequences=True)(L.Concatenate()([ea, eb]))
    mixed = L.LSTM(3, return_sequences=True)(L.Concatenate()([ea, c]))
    ids_b = padded_tokens(rng, 10)[::-1].copy()
    return K.Model([a, b, c], [both, mixed]), [padded_tokens(rng, 10), ids_b,
                                                floats(rng, MASK_BATCH, STEPS, 2)]


@case("""Bidirectional in every merge mode: LSTM(seq) concat, GRU(seq) sum, SimpleRNN mul,
      LSTM ave, GRU(seq) merge_mode=None (two outputs), LSTM(return_state) giving
      [out, h_f, c_f, h_b, c_b], LSTM with initial_state split in halves from four Inputs,
      and a GRU forward with an explicit SimpleRNN backward_layer. Input order: x, h_f, c_f,
      h_b, c_b.""")
def bidirectional(K, rng):
    L = K.layers
    B = L.Bidirectional
    x = K.Input((STEPS, 4), name="x")
    states = [K.Input((3,), name=n) for n in ("h_f", "c_f", "h_b", "c_b")]
    outs = [B(L.LSTM(4, return_sequences=True))(x),
            B(L.GRU(3, return_sequences=True), merge_mode="sum")(x),
            B(L.SimpleRNN(3), merge_mode="mul")(x),
            B(L.LSTM(3), merge_mode="ave")(x)]
    outs += B(L.GRU(3, return_sequences=True), merge_mode=None)(x)
    outs += B(L.LSTM(3, return_state=True), name="bidi_state")(x)
    outs.append(B(L.LSTM(3), name="bidi_init")(x, initial_state=states))
    outs.append(B(L.GRU(3, return_sequences=True),
                  backward_layer=L.SimpleRNN(3, return_sequences=True, go_backwards=True),
                  name="bidi_mixed")(x))
    inputs = [floats(rng, BATCH, STEPS, 4)] + [floats(rng, BATCH, 3) for _ in states]
    return K.Model([x, *states], outs), inputs


@case("""Masked bidirectional encoder: Embedding(mask_zero) -> Bidirectional(LSTM, seq) ->
      GRU -> Dense, plus Bidirectional(GRU, seq, return_state, concat) and
      Bidirectional(SimpleRNN, merge_mode=None) on the same masked embedding. Padded rows as
      in mask_embedding.""", extra_formats=("h5",))
def bidirectional_masked(K, rng):
    L = K.layers
    B = L.Bidirectional
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    seq = B(L.LSTM(4, return_sequences=True), name="bi_lstm")(e)
    head = L.Dense(2, name="head")(L.GRU(3, name="gru")(seq))
    outs = [head, *B(L.GRU(3, return_sequences=True, return_state=True), name="bi_gru")(e)]
    outs += B(L.SimpleRNN(2), merge_mode=None, name="bi_srnn")(e)
    return K.Model(ids, outs), [padded_tokens(rng, 20)]


@case("""A streamable masked stack (for Model.step tests): Embedding(mask_zero) -> LSTM(seq) ->
      GRU(seq) -> SimpleRNN(seq) -> TimeDistributed(Dense), a last-step LSTM on the GRU
      sequence, and Masking -> GRU(reset_after=False, seq) on a float input. Padded rows as in
      mask_embedding. Input order: ids, x.""")
def stream_masked(K, rng):
    L = K.layers
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    x = K.Input((STEPS, 3), name="x")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    g = L.GRU(4, return_sequences=True)(L.LSTM(5, return_sequences=True)(e))
    per_step = L.TimeDistributed(L.Dense(2))(L.SimpleRNN(3, return_sequences=True)(g))
    last = L.LSTM(3)(g)
    f = L.GRU(3, reset_after=False, return_sequences=True)(L.Masking(0.0)(x))
    return K.Model([ids, x], [per_step, last, f]), [padded_tokens(rng, 20),
                                                    padded_floats(rng, 3)]


@case("""Stateful Sequential (fixed batch 2): LSTM(stateful, seq) -> GRU(stateful) -> Dense.
      Calls: predict, predict (states carried over), reset, predict, then a 4-sample
      predict with batch_size 2 (states carried per sample index across the two batches).""")
def stateful(K, rng):
    L = K.layers
    if is_keras3(K):
        first = K.Input(batch_shape=(2, None, 3))
    else:
        first = K.Input(batch_shape=(2, None, 3))
    model = K.Sequential([
        first,
        L.LSTM(4, stateful=True, return_sequences=True),
        L.GRU(3, stateful=True),
        L.Dense(2),
    ])
    x1, x2 = floats(rng, 2, 5, 3), floats(rng, 2, 3, 3)
    x4 = floats(rng, 4, 4, 3)
    calls = Calls([("predict", None, 2), ("predict", [x2], 2), ("reset",),
                   ("predict", None, 2), ("predict", [x4], 2)])
    return model, [x1], calls


@case("""Stateful functional GRU whose initial_state comes from an Input (fixed batch 2):
      Keras 3 uses the given initial_state on every call; tf-keras only while the stored
      state is zero (fresh or reset). Calls: predict, predict, reset, predict.""")
def stateful_initial_state(K, rng):
    L = K.layers
    x = K.Input(batch_shape=(2, None, 3), name="x")
    h0 = K.Input(batch_shape=(2, 4), name="h0")
    y = L.GRU(4, stateful=True, return_sequences=True, name="gru")(x, initial_state=[h0])
    model = K.Model([x, h0], L.Dense(2)(y))
    calls = Calls([("predict", None, 2), ("predict", None, 2), ("reset",),
                   ("predict", None, 2)])
    return model, [floats(rng, 2, 4, 3), floats(rng, 2, 4)], calls


# --------------------------------------------------------------------------
# Convolutions, pooling and reshaping around RNNs (CRNN), TimeDistributed
# CNNs (LRCN), ConvLSTM
# --------------------------------------------------------------------------

@case("""CRNN captcha reader (8x12x1 images, height x width): Conv2D(same, relu) ->
      BatchNormalization -> MaxPooling2D(2) -> Conv2D(same) -> BatchNormalization -> ReLU ->
      MaxPooling2D((2, 1)) -> Permute((2, 1, 3)) (width becomes time) -> Reshape((6, 12)) ->
      Dense(relu) -> Dropout -> Bidirectional(LSTM, seq) -> Bidirectional(GRU, seq) ->
      Dense(softmax over 5 classes, the last one CTC's blank).""")
def crnn_captcha(K, rng):
    L = K.layers
    x = K.Input((8, 12, 1), name="image")
    c = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    c = L.MaxPooling2D(2, name="pool1")(L.BatchNormalization(name="bn1")(c))
    c = L.Conv2D(6, (3, 3), padding="same", name="conv2")(c)
    c = L.ReLU(name="relu2")(L.BatchNormalization(name="bn2")(c))
    c = L.MaxPooling2D((2, 1), name="pool2")(c)                      # (2, 6, 6)
    c = L.Reshape((6, 12), name="to_seq")(L.Permute((2, 1, 3), name="width_first")(c))
    c = L.Dropout(0.2)(L.Dense(8, activation="relu", name="dense1")(c))
    s = L.Bidirectional(L.LSTM(6, return_sequences=True), name="bi_lstm")(c)
    s = L.Bidirectional(L.GRU(5, return_sequences=True), name="bi_gru")(s)
    y = L.Dense(5, activation="softmax", name="ctc_softmax")(s)
    return K.Model(x, y), [floats(rng, BATCH, 8, 12, 1)]


@case("""Conv2D options around a GRU (7x9x3 input): strides 2 with same padding (odd sizes),
      dilation_rate 2, groups 3 (valid), use_bias=False with tanh; SeparableConv2D
      (depth_multiplier 2, strides 2, same); DepthwiseConv2D (depth_multiplier 2, dilation 2);
      Conv2DTranspose (strides 2, same), Conv2DTranspose (strides (2, 3), valid,
      output_padding (1, 2)), Conv2DTranspose (dilation 2); the strided map's rows read
      by a GRU.""")
def conv2d_options(K, rng):
    L = K.layers
    x = K.Input((7, 9, 3), name="x")
    branches = [
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="strided")(x),
        L.Conv2D(4, (3, 2), dilation_rate=2, padding="same", name="dilated")(x),
        L.Conv2D(6, 3, groups=3, name="grouped")(x),
        L.Conv2D(3, 2, use_bias=False, activation="tanh", name="no_bias")(x),
        L.SeparableConv2D(5, 3, depth_multiplier=2, strides=2, padding="same",
                          name="separable")(x),
        L.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, name="depthwise")(x),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", name="tconv_same")(x),
        L.Conv2DTranspose(2, (3, 2), strides=(2, 3), output_padding=(1, 2),
                          name="tconv_valid")(x),
        L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", name="tconv_dilated")(x),
    ]
    h, w, c = branches[0].shape[1:]
    gru = L.GRU(3, name="gru")(L.Reshape((h, w * c))(branches[0]))
    return K.Model(x, branches + [gru]), [floats(rng, BATCH, 7, 9, 3)]


@case("""1-D convolutions around LSTMs (11 steps, 4 features): SeparableConv1D (causal in
      tf-keras, same in Keras 3; depth_multiplier 2), DepthwiseConv1D (strides 2), Conv1D
      groups 2, Conv1DTranspose (strides 2, same) and (strides 3, valid, output_padding 1),
      ZeroPadding1D((1, 2)), Cropping1D((2, 1)), UpSampling1D(2); the separable and grouped
      sequences concatenated into an LSTM.""")
def conv1d_options(K, rng):
    L = K.layers
    x = K.Input((11, 4), name="x")
    sep_pad = "same" if is_keras3(K) else "causal"
    seqs = [
        L.SeparableConv1D(5, 3, depth_multiplier=2, padding=sep_pad, name="separable")(x),
        L.DepthwiseConv1D(3, strides=2, depth_multiplier=1, name="depthwise")(x),
        L.Conv1D(4, 3, groups=2, padding="same", name="grouped")(x),
        L.Conv1DTranspose(3, 3, strides=2, padding="same", name="tconv_same")(x),
        L.Conv1DTranspose(3, 2, strides=3, output_padding=1, name="tconv_valid")(x),
        L.ZeroPadding1D((1, 2), name="zpad")(x),
        L.Cropping1D((2, 1), name="crop")(x),
        L.UpSampling1D(2, name="upsample")(x),
    ]
    lstm = L.LSTM(3, name="lstm")(L.Concatenate()([seqs[0], seqs[2]]))
    return K.Model(x, seqs + [lstm]), [floats(rng, BATCH, 11, 4)]


@case("""2-D pooling and reshaping (7x8x3 input; the "same" average pool read by a SimpleRNN, the
      keepdims global average by a GRU): MaxPooling2D(2, same),
      MaxPooling2D((3, 2), strides 1, valid), AveragePooling2D(3, strides 2, same; edge
      windows average the real cells only), AveragePooling2D((2, 2), valid), ZeroPadding2D(((1,
      0), (2, 1))), Cropping2D(((1, 2), (0, 1))), UpSampling2D((2, 1)) nearest and (2, 3)
      bilinear, SpatialDropout2D, BatchNormalization(axis=2), GlobalMaxPooling2D and
      GlobalAveragePooling2D (keepdims=True and False).""")
def pool2d_reshape(K, rng):
    L = K.layers
    x = K.Input((7, 8, 3), name="x")
    maps = [
        L.MaxPooling2D(2, padding="same", name="max_same")(x),
        L.MaxPooling2D((3, 2), strides=1, name="max_valid")(x),
        L.AveragePooling2D(3, strides=2, padding="same", name="avg_same")(x),
        L.AveragePooling2D((2, 2), name="avg_valid")(x),
        L.ZeroPadding2D(((1, 0), (2, 1)), name="zpad")(x),
        L.Cropping2D(((1, 2), (0, 1)), name="crop")(x),
        L.UpSampling2D((2, 1), name="up_nearest")(x),
        L.UpSampling2D((2, 3), interpolation="bilinear", name="up_bilinear")(x),
        L.BatchNormalization(axis=2, name="bn_axis2")(L.SpatialDropout2D(0.3)(x)),
    ]
    h, w, c = maps[2].shape[1:]
    outs = maps + [L.SimpleRNN(3, name="rnn")(L.Reshape((h, w * c))(maps[2]))]
    g = L.GlobalAveragePooling2D(keepdims=True, name="gap_keep")(x)
    outs.append(L.GRU(2, name="gru_gap")(L.Reshape((1, 3))(g)))
    outs.append(L.GlobalMaxPooling2D(name="gmp")(x))
    outs.append(L.GlobalAveragePooling2D(name="gap")(x))
    outs.append(L.GlobalMaxPooling2D(keepdims=True, name="gmp_keep")(x))
    return K.Model(x, outs), [floats(rng, 2, 7, 8, 3)]


@case("""3-D convolutions and pooling over short clips (5 frames of 6x6x2; the strided map read
      by an LSTM over frames): Conv3D(same, relu), Conv3D((2, 3, 3), strides (1, 2, 2)),
      Conv3DTranspose(strides (1, 2, 2), same), MaxPooling3D((1, 2, 2)),
      AveragePooling3D(2, same), ZeroPadding3D(1), Cropping3D(((0, 1), (1, 1), (2, 0))),
      UpSampling3D((1, 2, 1)), SpatialDropout3D, GlobalMaxPooling3D, GlobalAveragePooling3D
      (keepdims).""")
def conv3d_video(K, rng):
    L = K.layers
    x = K.Input((5, 6, 6, 2), name="clip")
    maps = [
        L.Conv3D(3, 3, padding="same", activation="relu", name="conv")(x),
        L.Conv3D(2, (2, 3, 3), strides=(1, 2, 2), name="strided")(x),
        L.Conv3DTranspose(2, (1, 3, 3), strides=(1, 2, 2), padding="same", name="tconv")(x),
        L.MaxPooling3D((1, 2, 2), name="max")(x),
        L.AveragePooling3D(2, padding="same", name="avg")(x),
        L.ZeroPadding3D(1, name="zpad")(x),
        L.Cropping3D(((0, 1), (1, 1), (2, 0)), name="crop")(x),
        L.UpSampling3D((1, 2, 1), name="up")(L.SpatialDropout3D(0.2)(x)),
    ]
    t, h, w, c = maps[1].shape[1:]
    outs = maps + [L.LSTM(3, name="lstm")(L.Reshape((t, h * w * c))(maps[1]))]
    outs.append(L.GlobalMaxPooling3D(name="gmp")(x))
    outs.append(L.GlobalAveragePooling3D(keepdims=True, name="gap_keep")(x))
    return K.Model(x, outs), [floats(rng, 2, 5, 6, 6, 2)]


@case("""channels_first everywhere it exists (recorded through XLA: TensorFlow has no CPU
      kernels for them), 6x7 maps with 2 channels: Conv2D(strides 2, same), Conv2D(groups 2),
      SeparableConv2D, DepthwiseConv2D, Conv2DTranspose(strides 2), MaxPooling2D(same),
      AveragePooling2D, ZeroPadding2D, Cropping2D, UpSampling2D (nearest, bilinear),
      GlobalAveragePooling2D(keepdims), BatchNormalization(axis=1), Flatten; Conv1D, pooling 1-D
      and Conv3D on channels_first inputs; the strided map read by a GRU, the 1-D and 3-D maps
      by LSTMs. No map has as many columns as filters: Keras 3's TensorFlow ops.add then adds
      a channels_first bias along the last axis instead (its bias_add shortcut).""", jit=True)
def channels_first(K, rng):
    L = K.layers
    cf = {"data_format": "channels_first"}
    x = K.Input((2, 6, 7), name="x")
    maps = [
        L.Conv2D(5, 3, strides=2, padding="same", name="conv", **cf)(x),
        L.Conv2D(4, 3, groups=2, name="grouped", **cf)(x),
        L.SeparableConv2D(3, 3, depth_multiplier=2, padding="same", name="separable", **cf)(x),
        L.DepthwiseConv2D(2, depth_multiplier=2, name="depthwise", **cf)(x),
        L.Conv2DTranspose(3, 3, strides=2, name="tconv", **cf)(x),
        L.MaxPooling2D(2, padding="same", name="max", **cf)(x),
        L.AveragePooling2D(2, strides=1, name="avg", **cf)(x),
        L.ZeroPadding2D((1, 2), name="zpad", **cf)(x),
        L.Cropping2D(((1, 0), (1, 2)), name="crop", **cf)(x),
        L.UpSampling2D(2, name="up", **cf)(x),
        L.UpSampling2D(2, interpolation="bilinear", name="up_bilinear", **cf)(x),
        L.GlobalAveragePooling2D(keepdims=True, name="gap_keep", **cf)(x),
        L.BatchNormalization(axis=1, name="bn_axis1")(x),
    ]
    c, h, w = maps[0].shape[1:]
    outs = maps + [L.GRU(3, name="gru")(L.Reshape((h, w * c))(L.Permute((2, 3, 1))(maps[0])))]
    outs.append(L.Flatten(name="flatten", **cf)(maps[0]))
    s = K.Input((3, 9), name="s")                                    # (channels, steps)
    c1 = L.Conv1D(4, 3, padding="same", name="conv1d", **cf)(s)
    p1 = L.MaxPooling1D(2, name="pool1d", **cf)(c1)
    outs.append(L.LSTM(3, name="lstm_1d")(L.Permute((2, 1))(p1)))
    outs.append(L.GlobalAveragePooling1D(name="gap1d", **cf)(c1))
    v = K.Input((2, 3, 4, 4), name="v")
    c3 = L.Conv3D(2, 2, padding="same", name="conv3d", **cf)(v)
    outs.append(L.LSTM(3, name="lstm_3d")(L.Reshape((3, 32))(L.Permute((2, 3, 4, 1))(c3))))
    inputs = [floats(rng, 2, 2, 6, 7), floats(rng, 2, 3, 9), floats(rng, 2, 2, 3, 4, 4)]
    return K.Model([x, s, v], outs), inputs


@case("""ConvLSTM2D forecaster (4 frames of 6x6x1): ConvLSTM2D(4, 3, same, seq) ->
      BatchNormalization -> ConvLSTM2D(4, 3, same, seq) -> BatchNormalization -> Conv3D(1, 3,
      same, sigmoid), the next frames. Default activations (Keras 3: recurrent sigmoid;
      tf-keras: hard_sigmoid, its own formula).""", extra_formats=("h5",))
def convlstm2d_forecaster(K, rng):
    L = K.layers
    x = K.Input((4, 6, 6, 1), name="frames")
    h = L.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="convlstm_1")(x)
    h = L.BatchNormalization(name="bn_1")(h)
    h = L.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="convlstm_2")(h)
    h = L.BatchNormalization(name="bn_2")(h)
    y = L.Conv3D(1, 3, padding="same", activation="sigmoid", name="next_frames")(h)
    return K.Model(x, y), [floats(rng, BATCH, 4, 6, 6, 1)]


@case("""ConvLSTM options: ConvLSTM1D (valid, strides 2, return_state, go_backwards with
      sequences), ConvLSTM1D(dilation 2, same, use_bias=False, relu / hard_sigmoid);
      ConvLSTM2D (kernel (3, 2), strides (2, 1), same, initial_state [h0, c0] from Inputs,
      softsign / sigmoid), ConvLSTM2D(go_backwards, return_state); ConvLSTM3D (2x2x2 kernel,
      valid, seq). Input order: s (5 steps of 9x2), v (4 frames of 5x6x2), h0, c0, c (3 clips
      of 3x4x4x1).""")
def convlstm_options(K, rng):
    L = K.layers
    s = K.Input((5, 9, 2), name="s")
    v = K.Input((4, 5, 6, 2), name="v")
    h0 = K.Input((3, 6, 3), name="h0")
    c0 = K.Input((3, 6, 3), name="c0")
    c = K.Input((3, 3, 4, 4, 1), name="c")
    outs = L.ConvLSTM1D(3, 3, strides=2, return_state=True, go_backwards=True,
                        return_sequences=True, name="cl1d_state")(s)
    outs = list(outs)
    outs.append(L.ConvLSTM1D(2, 3, dilation_rate=2, padding="same", use_bias=False,
                             activation="relu", recurrent_activation="hard_sigmoid",
                             name="cl1d_dilated")(s))
    outs.append(L.ConvLSTM2D(3, (3, 2), strides=(2, 1), padding="same", activation="softsign",
                             recurrent_activation="sigmoid", return_sequences=True,
                             name="cl2d_init")(v, initial_state=[h0, c0]))
    outs += list(L.ConvLSTM2D(2, 3, go_backwards=True, return_state=True,
                              name="cl2d_back")(v))
    outs.append(L.ConvLSTM3D(2, 2, return_sequences=True, name="cl3d")(c))
    inputs = [floats(rng, BATCH, 5, 9, 2), floats(rng, BATCH, 4, 5, 6, 2),
              floats(rng, BATCH, 3, 6, 3), floats(rng, BATCH, 3, 6, 3),
              floats(rng, BATCH, 3, 3, 4, 4, 1)]
    return K.Model([s, v, h0, c0, c], outs), inputs


@case("""ConvLSTM masks per pixel: Masking on (batch, 6 steps, 4x5, 2) frames whose whole
      steps are zero in padded rows (post-, pre-, mid-padded, fully padded, unpadded) and
      whose single pixels are zero in places (masked per pixel: those pixels keep their
      states while the others update) -> ConvLSTM2D(same, seq) -> ConvLSTM2D(same) last
      output.""")
def convlstm_masked(K, rng):
    L = K.layers
    x = K.Input((STEPS - 1, 4, 5, 2), name="frames")
    m = L.Masking(0.0)(x)
    h = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, name="cl_seq")(m)
    y = L.ConvLSTM2D(2, 3, padding="same", name="cl_last")(h)
    frames = floats(rng, MASK_BATCH, STEPS - 1, 4, 5, 2)
    frames[0, -2:] = 0
    frames[1, :3] = 0
    frames[2, 2:4] = 0
    frames[3] = 0
    frames[4, 1, 2, 3] = 0
    frames[4, 3, 0, :2] = 0
    frames[0, 0, 1, 1] = 0
    return K.Model(x, [h, y]), [frames]


@case("""channels_first ConvLSTM2D (recorded through XLA): (batch, 4 frames, 2 channels, 5x6),
      return_sequences and return_state, and a channels_first ConvLSTM1D with
      initial_state.""", jit=True)
def convlstm_channels_first(K, rng):
    L = K.layers
    cf = {"data_format": "channels_first"}
    v = K.Input((4, 2, 5, 6), name="v")
    s = K.Input((5, 2, 7), name="s")
    h0 = K.Input((3, 7), name="h0")
    c0 = K.Input((3, 7), name="c0")
    outs = list(L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, return_state=True,
                             name="cl2d", **cf)(v))
    outs.append(L.ConvLSTM1D(3, 3, padding="same", name="cl1d", **cf)(s, initial_state=[h0, c0]))
    inputs = [floats(rng, BATCH, 4, 2, 5, 6), floats(rng, BATCH, 5, 2, 7),
              floats(rng, BATCH, 3, 7), floats(rng, BATCH, 3, 7)]
    return K.Model([v, s, h0, c0], outs), inputs


@case("""Stateful ConvLSTM2D (fixed batch 2, frames 4x4x1) -> Flatten -> Dense. Calls:
      predict, predict (states carried over), reset, predict.""")
def convlstm_stateful(K, rng):
    L = K.layers
    model = K.Sequential([
        K.Input(batch_shape=(2, None, 4, 4, 1)),
        L.ConvLSTM2D(2, 3, padding="same", stateful=True),
        L.Flatten(),
        L.Dense(2),
    ])
    x1, x2 = floats(rng, 2, 3, 4, 4, 1), floats(rng, 2, 2, 4, 4, 1)
    calls = Calls([("predict", None, 2), ("predict", [x2], 2), ("reset",),
                   ("predict", None, 2)])
    return model, [x1], calls


@case("""LRCN video classifier (4 frames of 6x6x1): TimeDistributed(Conv2D(relu)) ->
      TimeDistributed(MaxPooling2D) -> TimeDistributed(Flatten) -> LSTM, and
      TimeDistributed(nested Sequential CNN: Conv2D(same) -> BatchNormalization -> ReLU ->
      GlobalAveragePooling2D) -> GRU; both summaries concatenated -> Dense(softmax).""",
      extra_formats=("h5",))
def lrcn_video(K, rng):
    L = K.layers
    TD = L.TimeDistributed
    x = K.Input((4, 6, 6, 1), name="clip")
    t = TD(L.Conv2D(4, 3, activation="relu"), name="td_conv")(x)
    t = TD(L.Flatten(), name="td_flatten")(TD(L.MaxPooling2D(2), name="td_pool")(t))
    a = L.LSTM(5, name="lstm")(t)
    cnn = K.Sequential([K.Input((6, 6, 1)), L.Conv2D(3, 3, padding="same"),
                        L.BatchNormalization(), L.ReLU(), L.GlobalAveragePooling2D()],
                       name="frame_cnn")
    b = L.GRU(4, name="gru")(TD(cnn, name="td_cnn")(x))
    y = L.Dense(3, activation="softmax", name="classes")(L.Concatenate()([a, b]))
    return K.Model(x, y), [floats(rng, BATCH, 4, 6, 6, 1)]


@case("""TimeDistributed over every kind of layer: Conv1D, SeparableConv1D, Conv2DTranspose,
      DepthwiseConv2D, AveragePooling2D, UpSampling2D, Cropping2D, BatchNormalization,
      GlobalMaxPooling1D, LSTM and Bidirectional(GRU) over the inner axis, Dense(3-D inner),
      each per timestep of (batch, 3 steps, ...) inputs; a hierarchical text encoder
      TimeDistributed(Embedding(mask_zero)) -> TimeDistributed(LSTM) -> LSTM (tf-keras hands
      the words' mask to the inner LSTM and a (batch, sentences) mask on; Keras 3 drops the
      inner mask), and Masking -> TimeDistributed(Dense) -> GRU (the mask passes through).
      Input order: w (3 steps of 5x2), img (3 steps of 4x5x2), ids (3 sentences of 4 words),
      f (7 steps of 3).""")
def td_layers(K, rng):
    L = K.layers
    TD = L.TimeDistributed
    w = K.Input((3, 5, 2), name="w")
    img = K.Input((3, 4, 5, 2), name="img")
    ids = K.Input((3, 4), dtype="int32", name="ids")
    f = K.Input((STEPS, 3), name="f")
    outs = [TD(L.Conv1D(3, 2), name="td_conv1d")(w),
            TD(L.SeparableConv1D(2, 2, padding="same"), name="td_sep1d")(w),
            TD(L.GlobalMaxPooling1D(), name="td_gmp")(w),
            TD(L.LSTM(3), name="td_lstm")(w),
            TD(L.Bidirectional(L.GRU(2, return_sequences=True)), name="td_bigru")(w),
            TD(L.Dense(2), name="td_dense")(w),
            TD(L.Conv2DTranspose(2, 2, strides=2), name="td_tconv")(img),
            TD(L.DepthwiseConv2D(2), name="td_depthwise")(img),
            TD(L.AveragePooling2D(2, padding="same"), name="td_avgpool")(img),
            TD(L.UpSampling2D(2, interpolation="bilinear"), name="td_up")(img),
            TD(L.Cropping2D((1, 1)), name="td_crop")(img),
            TD(L.BatchNormalization(), name="td_bn")(img)]
    words = TD(L.Embedding(10, 3, mask_zero=True), name="td_embed")(ids)
    sentences = TD(L.LSTM(3), name="td_words")(words)
    outs.append(L.LSTM(2, return_sequences=True, name="doc_lstm")(sentences))
    outs.append(L.GRU(3, return_sequences=True, name="gru_masked")(
        TD(L.Dense(2), name="td_dense_masked")(L.Masking(0.0)(f))))
    tok = tokens(rng, 10, MASK_BATCH, 3, 4)
    tok[0, :, 2:] = 0
    tok[1, 1, :] = 0
    tok[2, 2, :1] = 0
    inputs = [floats(rng, MASK_BATCH, 3, 5, 2), floats(rng, MASK_BATCH, 3, 4, 5, 2), tok,
              padded_floats(rng, 3)]
    return K.Model([w, img, ids, f], outs), inputs


@case("""Live-only (no committed fixture; the fixtures' size budget): the remaining convolution
      options, channels_first where it exists (through XLA): Conv3D(dilation 2, groups 2),
      SeparableConv2D(dilation 2), DepthwiseConv1D(same, dilation 2), SeparableConv1D,
      DepthwiseConv1D, Conv1DTranspose(dilation 2: no CPU kernel without XLA),
      Conv3DTranspose, MaxPooling3D, AveragePooling1D/3D, GlobalMaxPooling3D, ZeroPadding3D,
      Cropping3D, UpSampling3D and ConvLSTM3D, all channels_first but the first three; an
      LSTM reads the 1-D maps.""", jit=True, live_only=True)
def conv_more_options(K, rng):
    L = K.layers
    cf = {"data_format": "channels_first"}
    v = K.Input((4, 4, 5, 2), name="v")                  # channels_last clip
    i = K.Input((6, 7, 2), name="i")
    s = K.Input((2, 9), name="s")                        # channels_first sequence
    w = K.Input((2, 3, 4, 5), name="w")                  # channels_first volume
    c = K.Input((3, 2, 3, 4, 4), name="c")               # (time, channels, 3-D frame)
    outs = [L.Conv3D(4, 2, dilation_rate=2, groups=2, padding="same", name="conv3d")(v),
            L.SeparableConv2D(3, 2, dilation_rate=2, name="sep2d_dilated")(i),
            L.DepthwiseConv1D(3, padding="same", dilation_rate=2, name="dw1d_dilated")(
                L.Permute((2, 1))(s)),
            L.SeparableConv1D(3, 2, name="sep1d", **cf)(s),
            L.DepthwiseConv1D(2, depth_multiplier=2, name="dw1d", **cf)(s),
            L.Conv1DTranspose(2, 3, dilation_rate=2, name="tconv1d", **cf)(s),
            L.Conv3DTranspose(2, 2, strides=(1, 2, 1), name="tconv3d", **cf)(w),
            L.MaxPooling3D((1, 2, 2), name="max3d", **cf)(w),
            L.AveragePooling1D(2, padding="same", name="avg1d", **cf)(s),
            L.AveragePooling3D(2, padding="same", name="avg3d", **cf)(w),
            L.GlobalMaxPooling3D(name="gmp3d", **cf)(w),
            L.ZeroPadding3D(((0, 1), (1, 0), (2, 1)), name="zpad3d", **cf)(w),
            L.Cropping3D(((1, 1), (0, 1), (1, 2)), name="crop3d", **cf)(w),
            L.UpSampling3D((2, 1, 2), name="up3d", **cf)(w),
            L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="cl3d", **cf)(c)]
    outs.append(L.LSTM(3, name="lstm")(L.Permute((2, 1))(outs[3])))
    inputs = [floats(rng, 2, 4, 4, 5, 2), floats(rng, 2, 6, 7, 2), floats(rng, 2, 2, 9),
              floats(rng, 2, 2, 3, 4, 5), floats(rng, 2, 3, 2, 3, 4, 4)]
    return K.Model([v, i, s, w, c], outs), inputs


# Attention and preprocessing around RNNs (strings included)
# --------------------------------------------------------------------------

def _string_input(K, shape, name):
    """A string Input: Keras 3 spells the dtype "string", tf-keras tf.string."""
    if is_keras3(K):
        return K.Input(shape=shape, dtype="string", name=name)
    import tensorflow as tf
    return K.Input(shape=shape, dtype=tf.string, name=name)


# what TextVectorization layers adapt on: punctuation, capitals, accents, Greek, Cyrillic,
# Turkish dotted and dotless I, emoji, a combining accent, an apostrophe and a hyphen
TEXT_CORPUS = [
    "The cat sat on the mat.", "A dog ran far, far away!", "the cat and the dog",
    "Café au lait — très bien", "ÜBER cool: Über alles", "Δέλτα και ΑΛΦΑ άλφα",
    "Привет мир, ПРИВЕТ", "İstanbul ve IŞIK ışık", "emoji 😀 party 👍🏽 😀",
    "e\u0301cole école", "don't stop-me now", "cat cat dog mat",
]
# what the models are run on: known and unknown words, capitals, punctuation stuck to words,
# Unicode case pairs (TensorFlow lowercases ASCII letters only), NBSP and U+2003 (not
# whitespace to tf.strings.split), an empty and a blank text, a long text (truncated)
TEXT_INPUTS = [
    "the CAT sat!!", "unknown words here, Café", "", "ÜBER über Über δέλτα ΔΈΛΤΑ Δέλτα",
    "istanbul İSTANBUL IŞIK ışık İstanbul", "😀😀 party\u00a0time 👍🏽 emoji\u2003😀",
    "école e\u0301cole ÉCOLE", " \t ", "a dog ran far far away and the cat sat on the mat",
]


def text_inputs(shape_1=False):
    x = np.array(TEXT_INPUTS)
    return x[:, None] if shape_1 else x


@case("""Dense attention on recurrent encoders (Embedding(mask_zero) -> LSTM(seq) as query,
      GRU(seq) as value, both masked; padded rows as in mask_embedding): Attention dot,
      use_scale with a separate key [q, v, k], score_mode concat with and without scale
      (dropout 0.3, an inference no-op), use_causal_mask, return_attention_scores;
      AdditiveAttention with and without scale, causal, with scores; Attention of the masked
      query on an unmasked 5-step LSTM value (only the query mask applies). All concatenated
      -> GlobalAveragePooling1D (masked) -> Dense. Input order: ids, x.""")
def dense_attention(K, rng):
    L = K.layers
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    x = K.Input((5, 3), name="x")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    q = L.LSTM(4, return_sequences=True, name="query_lstm")(e)
    v = L.GRU(4, return_sequences=True, name="value_gru")(e)
    k = L.Dense(4, name="key_dense")(v)
    u = L.LSTM(4, return_sequences=True, name="unmasked_lstm")(x)
    att = [L.Attention(name="att_dot")([q, v]),
           L.Attention(use_scale=True, name="att_scale_key")([q, v, k]),
           L.Attention(score_mode="concat", dropout=0.3, name="att_concat")([q, v]),
           L.Attention(score_mode="concat", use_scale=True, name="att_concat_scale")([q, v]),
           L.Attention(name="att_causal")([q, v], use_causal_mask=True)]
    scored, weights = L.Attention(use_scale=True, name="att_scores")(
        [q, v], return_attention_scores=True)
    add = [L.AdditiveAttention(name="add_scale")([q, v]),
           L.AdditiveAttention(use_scale=False, name="add_noscale")([q, v, k]),
           L.AdditiveAttention(name="add_causal")([q, v], use_causal_mask=True)]
    add_scored, add_weights = L.AdditiveAttention(name="add_scores")(
        [q, v], return_attention_scores=True)
    cross = L.Attention(use_scale=True, name="att_unmasked_value")([q, u])
    both = L.Concatenate(name="all_attention")(att + [scored] + add + [add_scored, cross])
    head = L.Dense(3, name="head")(L.GlobalAveragePooling1D()(both))
    return K.Model([ids, x], [head, weights, add_weights, att[4]]), \
        [padded_tokens(rng, 20), floats(rng, MASK_BATCH, 5, 3)]


@case("""A small Transformer block on a bidirectional encoder: Embedding(mask_zero) ->
      Bidirectional(LSTM, seq) -> MultiHeadAttention self-attention (mha(x, x), masks from the
      Embedding) + Add + LayerNormalization -> GlobalAveragePooling1D -> Dense. Then a chain of
      variants, each attending over the previous one's output (so each sees the query mask;
      Keras 3 clears the masks of an MHA's input tensors for later readers): value_dim with
      output_shape=6 and return_attention_scores (Keras 3's softmax path: fully padded
      queries get zero weights), use_causal_mask with use_bias=False, dropout=0.1 (Keras 3's
      softmax path again), cross-attention to an unmasked GRU value with a separate key and an
      attention_mask Input -> GRU, and output_shape (2, 3). Padded rows as in
      mask_embedding. Input order: ids, mem, attn_mask.""")
def mha_block(K, rng):
    L = K.layers
    MHA = L.MultiHeadAttention
    ids = K.Input((STEPS,), dtype="int32", name="ids")
    mem = K.Input((5, 3), name="mem")
    allowed = K.Input((STEPS, 5), dtype="bool", name="attn_mask")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    h = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi_lstm")(e)
    a = MHA(num_heads=2, key_dim=3, name="mha_self")(h, h)
    block = L.LayerNormalization(name="block_norm")(L.Add(name="residual")([h, a]))
    head = L.Dense(2, name="head")(L.GlobalAveragePooling1D(name="pool")(block))
    scored, scores = MHA(num_heads=3, key_dim=2, value_dim=4, output_shape=6,
                         name="mha_scores")(block, block, return_attention_scores=True)
    causal = MHA(num_heads=2, key_dim=2, use_bias=False, name="mha_causal")(
        scored, scored, use_causal_mask=True)
    dropped = MHA(num_heads=2, key_dim=2, dropout=0.1, name="mha_dropout")(causal, causal)
    v = L.GRU(4, return_sequences=True, name="mem_gru")(mem)
    key = L.Dense(3, name="mem_key")(mem)
    cross = MHA(num_heads=2, key_dim=3, name="mha_cross")(dropped, v, key=key,
                                                          attention_mask=allowed)
    summary = L.GRU(3, name="summary_gru")(cross)
    shaped = MHA(num_heads=2, key_dim=2, output_shape=(2, 3), name="mha_out_shape")(cross, v)
    mask = rng.random((MASK_BATCH, STEPS, 5)) > 0.3
    mask[:, :, 0] = True
    mask[2, 1] = False                       # one query row that may attend to nothing
    return K.Model([ids, mem, allowed], [head, scores, summary, shaped]), \
        [padded_tokens(rng, 20), floats(rng, MASK_BATCH, 5, 3), mask]


@case("""MultiHeadAttention over 4-D inputs with attention_axes: LSTM(seq) on 6 steps ->
      Reshape((2, 3, 4)) -> MHA attention_axes=(2,) (attends within each row), (1, 2) (one
      softmax over all six positions, with return_attention_scores), (1,) (within each
      column) and, Keras 3 only, -2 (the same axis as (2,) for this rank) -> Reshape((6, .))
      -> GRU. Also in .keras from tf-keras, which names the projections _query_dense...""",
      extra_formats=("keras",))
def mha_axes(K, rng):
    L = K.layers
    x = K.Input((6, 3), name="x")
    s = L.LSTM(4, return_sequences=True)(x)
    grid = L.Reshape((2, 3, 4), name="grid")(s)
    rows = L.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=(2,),
                                name="mha_rows")(grid, grid)
    joint, scores = L.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=(1, 2),
                                         name="mha_joint")(grid, grid,
                                                           return_attention_scores=True)
    cols = L.MultiHeadAttention(num_heads=1, key_dim=2, value_dim=3, attention_axes=(1,),
                                name="mha_cols")(grid, grid)
    parts = [rows, joint, cols]
    if is_keras3(K):          # tf-keras does not normalise negative attention_axes
        parts.append(L.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=-2,
                                          name="mha_neg_axis")(grid, grid))
    flat = L.Reshape((6, 4 * len(parts)), name="flat")(L.Concatenate()(parts))
    return K.Model(x, [L.GRU(3)(flat), scores]), [floats(rng, BATCH, 6, 3)]


@case("""Luong attention seq2seq from Dot + softmax + Dot: masked encoder LSTM (return
      sequences and state), decoder LSTM started from the encoder state, scores Dot(axes=
      [2, 2]), softmax, context Dot(axes=[2, 1]), Concatenate -> Dense(tanh) ->
      TimeDistributed(Dense softmax). Also Dot(axes=-1, normalize=True) (cosine similarity;
      the fully padded row's zero vectors), Dot(axes=1) on the 2-D states, and a memory-network
      Dot(axes=(-1, 1)) after Permute((2, 1)). Input order: src, tgt.""")
def luong_seq2seq(K, rng):
    L = K.layers
    src = K.Input((STEPS,), dtype="int32", name="src")
    tgt = K.Input((5,), dtype="int32", name="tgt")
    enc, h, c = L.LSTM(5, return_sequences=True, return_state=True, name="encoder")(
        L.Embedding(20, 4, mask_zero=True)(src))
    dec = L.LSTM(5, return_sequences=True, name="decoder")(
        L.Embedding(20, 4, mask_zero=True)(tgt), initial_state=[h, c])
    scores = L.Dot(axes=[2, 2], name="scores")([dec, enc])
    align = L.Activation("softmax", name="align")(scores)
    context = L.Dot(axes=[2, 1], name="context")([align, enc])
    mixed = L.Dense(5, activation="tanh", name="attn_mix")(
        L.Concatenate(name="context_dec")([context, dec]))
    probs = L.TimeDistributed(L.Dense(6, activation="softmax"), name="probs")(mixed)
    cosine = L.Dot(axes=-1, normalize=True, name="cosine")([dec, enc])
    states = L.Dot(axes=1, name="state_dot")([h, c])
    memory = L.Dot(axes=(-1, 1), name="memory")([L.Permute((2, 1), name="perm")(enc), enc])
    tgt_ids = padded_tokens(rng, 20)[:, :5].copy()
    tgt_ids[:, 0] = np.maximum(tgt_ids[:, 0], 1)
    return K.Model([src, tgt], [probs, align, cosine, states, memory]), \
        [padded_tokens(rng, 20), tgt_ids]


@case("""The text classifier: raw strings -> TextVectorization (adapted: vocabulary in the
      .keras assets; standardize lower_and_strip_punctuation, whitespace split,
      output_sequence_length 8) -> Embedding(mask_zero) -> GRU -> Dense(softmax). Texts with
      capitals, punctuation, unknown words, accents, Greek, Turkish I, emoji, NBSP, an empty
      and a blank text. Keras 3 takes (B,) strings, tf-keras (B, 1). tf-keras cannot write an
      adapted vocabulary to .h5, so both write .keras.""", extra_formats=("keras",),
      lossy_formats=("h5", "json", "tf-checkpoint"))
def text_gru(K, rng):
    L = K.layers
    text = _string_input(K, () if is_keras3(K) else (1,), "text")
    tv = L.TextVectorization(max_tokens=40, output_sequence_length=8, name="vectorize")
    tv.adapt(TEXT_CORPUS)
    e = L.Embedding(40, 4, mask_zero=True)(tv(text))
    out = L.Dense(3, activation="softmax")(L.GRU(4)(e))
    return K.Model(text, out), [text_inputs(shape_1=not is_keras3(K))]


@case("""TextVectorization options, each feeding an RNN or a Dense (one string input: (B,) in
      Keras 3, whose symbolic shapes of bag outputs on (B, 1) are wrong, (B, 1) in tf-keras):
      multi_hot; count with ngrams=2 and standardize="lower"; tf_idf (adapted: idf weights in
      the weights, OOV slot the mean) with pad_to_max_tokens; split="character" with
      standardize="strip_punctuation" and output_sequence_length 12 -> Embedding(mask) ->
      LSTM; standardize=None without output_sequence_length (padded to the longest text) ->
      Embedding(mask) -> GRU; ngrams=(1, 3) in int mode -> Embedding(mask) -> SimpleRNN.
      Vocabularies from adapt (assets), so both writers write .keras.""",
      extra_formats=("keras",),
      lossy_formats=("h5", "json", "tf-checkpoint"))
def text_modes(K, rng):
    L = K.layers
    text = _string_input(K, () if is_keras3(K) else (1,), "text")
    TV = L.TextVectorization

    def adapted(layer):
        layer.adapt(TEXT_CORPUS)
        return layer(text)
    multi = adapted(TV(max_tokens=30, output_mode="multi_hot", name="tv_multi_hot"))
    count = adapted(TV(max_tokens=50, output_mode="count", ngrams=2, standardize="lower",
                       name="tv_count_bigrams"))
    tfidf = adapted(TV(max_tokens=40, output_mode="tf_idf", pad_to_max_tokens=True,
                       name="tv_tf_idf"))
    chars = adapted(TV(max_tokens=60, split="character", standardize="strip_punctuation",
                       output_sequence_length=12, name="tv_chars"))
    raw = adapted(TV(max_tokens=60, standardize=None, name="tv_raw"))
    grams = adapted(TV(max_tokens=80, ngrams=(1, 3), output_sequence_length=10,
                       name="tv_trigrams"))
    dense = L.Dense(3, name="bag_dense")(L.Concatenate(name="bags")([multi, count, tfidf]))
    c = L.LSTM(3, name="char_lstm")(L.Embedding(60, 3, mask_zero=True)(chars))
    r = L.GRU(3, name="raw_gru")(L.Embedding(60, 3, mask_zero=True)(raw))
    g = L.SimpleRNN(3, name="gram_rnn")(L.Embedding(80, 3, mask_zero=True)(grams))
    out = L.Concatenate(name="all")([dense, c, r, g])
    return K.Model(text, [out, multi, count, tfidf, chars, raw]), \
        [text_inputs(shape_1=not is_keras3(K))]


@case("""Vocabularies given to the constructor (in the config, so tf-keras can write .h5):
      TextVectorization(vocabulary=...) -> Embedding(mask) -> GRU, TextVectorization tf_idf with
      idf_weights; StringLookup(mask_token="") on pre-split tokens (B, T) -> Embedding(mask) ->
      LSTM; StringLookup num_oov_indices=0 (every token known), one_hot on (B, 1), multi_hot,
      count, tf_idf; IntegerLookup(mask_token=0) on ids -> Embedding(mask) -> GRU and
      IntegerLookup multi_hot. Exact matches: 'Café' and 'café' are different tokens. Input
      order: text (B, 1), doc ((B,) in Keras 3), tokens, word, ids.""", extra_formats=("h5",))
def lookup_vocabularies(K, rng):
    L = K.layers
    text = _string_input(K, (1,), "text")
    doc = _string_input(K, () if is_keras3(K) else (1,), "doc")
    tokens = _string_input(K, (STEPS,), "tokens")
    word = _string_input(K, (1,), "word")
    ids = K.Input((STEPS,), dtype="int64", name="ids")
    vocab = ["the", "cat", "dog", "sat", "café", "Über", "δέλτα", "😀", "far", "away"]
    tv = L.TextVectorization(vocabulary=vocab, output_sequence_length=6, name="tv_given")(text)
    tfidf = L.TextVectorization(vocabulary=vocab[:6], output_mode="tf_idf",
                                idf_weights=[0.5, 1.0, 1.5, 2.0, 0.25, 0.75],
                                name="tv_given_tf_idf")(doc)
    words = ["cat", "dog", "Café", "café", "ÜBER", "😀", "δέλτα"]
    sl = L.StringLookup(vocabulary=words, mask_token="", name="sl_mask")(tokens)
    known = L.StringLookup(vocabulary=words + ["zzz"], num_oov_indices=0,
                           name="sl_no_oov")(word)
    one_hot = L.StringLookup(vocabulary=words, output_mode="one_hot", name="sl_one_hot")(word)
    multi = L.StringLookup(vocabulary=words, output_mode="multi_hot", name="sl_multi_hot")(tokens)
    count = L.StringLookup(vocabulary=words, output_mode="count", oov_token="[OOV]",
                           name="sl_count")(tokens)
    sl_tfidf = L.StringLookup(vocabulary=words, output_mode="tf_idf",
                              idf_weights=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                              name="sl_tf_idf")(tokens)
    il = L.IntegerLookup(vocabulary=[3, 5, 7, 11, 13, 17], mask_token=0, name="il_mask")(ids)
    il_multi = L.IntegerLookup(vocabulary=[3, 5, 7, 11], output_mode="multi_hot",
                               name="il_multi_hot")(ids)
    g = L.GRU(3, name="tv_gru")(L.Embedding(12, 3, mask_zero=True)(tv))
    s = L.LSTM(3, name="sl_lstm")(L.Embedding(9, 3, mask_zero=True)(sl))
    i = L.GRU(3, name="il_gru")(L.Embedding(8, 3, mask_zero=True)(il))
    bags = L.Dense(4, name="bags_dense")(L.Concatenate(name="bags")(
        [tfidf, one_hot, multi, count, sl_tfidf, il_multi]))
    out = L.Concatenate(name="all")([g, s, i, bags])
    pool = np.array(words + ["CAT", "unknown", "Dog"])
    tok = pool[rng.integers(0, len(pool), (len(TEXT_INPUTS), STEPS))]
    tok[0, -3:] = ""                           # padding ('' is the mask token)
    tok[3, :] = ""
    word_in = np.array(words + ["zzz", "cat"])[:len(TEXT_INPUTS), None]
    int_pool = np.array([0, 3, 5, 7, 11, 13, 17, 4, 99])
    id_in = int_pool[rng.integers(0, len(int_pool), (len(TEXT_INPUTS), STEPS))].astype("int64")
    id_in[1, :4] = 0
    return K.Model([text, doc, tokens, word, ids], [out, known, one_hot, tfidf, sl_tfidf]), \
        [text_inputs(shape_1=True), text_inputs(shape_1=not is_keras3(K)), tok, word_in, id_in]


@case("""Adapted lookups (vocabularies in the .keras assets): StringLookup (mask_token '',
      oov_token '[OOV]') on tokens -> Embedding(mask) -> GRU, StringLookup tf_idf (idf in the
      weights), IntegerLookup -> Embedding -> LSTM and IntegerLookup(mask_token=0) count.
      Input order: tokens, ids.""", extra_formats=("keras",),
      lossy_formats=("h5", "json", "tf-checkpoint"))
def lookup_adapted(K, rng):
    L = K.layers
    tokens = _string_input(K, (STEPS,), "tokens")
    ids = K.Input((STEPS,), dtype="int64", name="ids")
    corpus = np.array([w for t in TEXT_CORPUS for w in t.split()][:STEPS * 6]).reshape(6, STEPS)
    sl = L.StringLookup(mask_token="", oov_token="[OOV]", name="sl_adapted")
    sl.adapt(corpus)
    tf_idf = L.StringLookup(output_mode="tf_idf", name="sl_adapted_tf_idf")
    tf_idf.adapt(corpus)
    int_corpus = rng.integers(1, 12, (6, STEPS)).astype("int64")
    il = L.IntegerLookup(name="il_adapted")
    il.adapt(int_corpus)
    il_count = L.IntegerLookup(mask_token=0, output_mode="count", name="il_adapted_count")
    il_count.adapt(int_corpus)
    g = L.GRU(3, name="sl_gru")(L.Embedding(sl.vocabulary_size(), 3, mask_zero=True)(sl(tokens)))
    i = L.LSTM(3, name="il_lstm")(L.Embedding(il.vocabulary_size(), 3)(il(ids)))
    bags = L.Dense(3, name="bags_dense")(L.Concatenate()([tf_idf(tokens), il_count(ids)]))
    pool = np.array(list(corpus.ravel()) + ["unknown", "CAT", ""])
    tok = pool[rng.integers(0, len(pool), (5, STEPS))]
    tok[1, 4:] = ""
    id_in = rng.integers(0, 15, (5, STEPS)).astype("int64")
    return K.Model([tokens, ids], [L.Concatenate()([g, i, bags])]), [tok, id_in]


@case("""Numeric preprocessing in front of RNNs: Normalization adapted (mean, variance, count
      in the weights) -> LSTM; Normalization with mean/variance in the config -> GRU;
      Normalization(axis=None, invert=True) adapted; Normalization(axis=(1, 2)) adapted;
      Rescaling(scale, offset) -> SimpleRNN; Discretization(bin_boundaries; values on the
      boundaries) -> Embedding -> GRU, Discretization adapted (num_bins) count;
      CategoryEncoding one_hot on (B, 1), multi_hot and count on (B, T) -> Dense. Input order:
      x, v, cats, cat.""")
def numeric_preprocessing(K, rng):
    L = K.layers
    x = K.Input((STEPS, 3), name="x")
    vals = K.Input((STEPS,), name="v")
    cats = K.Input((STEPS,), dtype="int32", name="cats")
    cat = K.Input((1,), dtype="int32", name="cat")
    sample = floats(rng, 20, STEPS, 3, scale=2.0) + np.array([1.0, -2.0, 0.5], "float32")
    norm = L.Normalization(name="norm_adapted")
    norm.adapt(sample)
    given = L.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0], name="norm_given")
    inv = L.Normalization(axis=None, invert=True, name="norm_invert")
    inv.adapt(sample)
    grid = L.Normalization(axis=(1, 2), name="norm_axes")
    grid.adapt(sample)
    a = L.LSTM(3, name="norm_lstm")(norm(x))
    b = L.GRU(3, name="given_gru")(given(x))
    c = L.SimpleRNN(3, name="rescale_rnn")(L.Rescaling(0.25, offset=-0.5, name="rescale")(
        L.Add()([inv(x), grid(x)])))
    bins = L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5], name="bins")(vals)
    d = L.GRU(3, name="bins_gru")(L.Embedding(4, 3)(bins))
    adapted_bins = L.Discretization(num_bins=4, output_mode="count", name="bins_adapted")
    adapted_bins.adapt(floats(rng, 40, STEPS))
    one_hot = L.CategoryEncoding(num_tokens=6, output_mode="one_hot", name="ce_one_hot")(cat)
    multi = L.CategoryEncoding(num_tokens=6, output_mode="multi_hot", name="ce_multi_hot")(cats)
    count = L.CategoryEncoding(num_tokens=6, output_mode="count", name="ce_count")(cats)
    bags = L.Dense(3, name="bags_dense")(L.Concatenate()(
        [adapted_bins(vals), one_hot, multi, count]))
    v = floats(rng, BATCH, STEPS)
    v[0, :4] = [-0.5, 0.0, 0.5, 0.25]                  # on the boundaries: the upper bin
    return K.Model([x, vals, cats, cat], [L.Concatenate()([a, b, c, d, bags]), bins]), \
        [floats(rng, BATCH, STEPS, 3, scale=2.0), v,
         rng.integers(0, 6, (BATCH, STEPS)).astype("int32"),
         rng.integers(0, 6, (BATCH, 1)).astype("int32")]


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Format:
    """One way a writer stores a model, and how that writer reads it back."""
    kind: str  # "keras" (zip), "h5" (full legacy HDF5) or "json" (+ weights)
    name: str
    spec: dict  # the load spec written to case.json
    save: Callable  # save(model, folder)
    load: Callable  # load(K, folder) -> model


def _save_full(filename):
    return lambda model, folder: model.save(str(folder / filename))


def _load_full(filename):
    return lambda K, folder: K.models.load_model(str(folder / filename), compile=False)


def _save_json_weights(weights_file):
    def save(model, folder):
        model.save_weights(str(folder / weights_file))
        (folder / "model.json").write_text(model.to_json())
    return save


def _load_json_weights(weights_file):
    def load(K, folder):
        model = K.models.model_from_json((folder / "model.json").read_text())
        model.load_weights(str(folder / weights_file))
        return model
    return load


def _full(kind, filename):
    return Format(kind, filename, {"path": filename},
                  _save_full(filename), _load_full(filename))


def _json(weights_file, kind="json"):
    return Format(kind, f"model.json+{weights_file}",
                  {"json": "model.json", "weights": weights_file},
                  _save_json_weights(weights_file), _load_json_weights(weights_file))


def _saved_model(dirname):
    """A TF SavedModel directory, untraced (traces cost 0.2-2 MB and nothing here reads
    them); tools/make_tf_fixtures.py writes traced ones and older TensorFlow's."""
    return Format("savedmodel", dirname, {"path": dirname},
                  lambda model, folder: model.save(str(folder / dirname), save_traces=False),
                  _load_full(dirname))


# Per writer, native format first: the first saved format is the primary
# load spec. Keras 3.15.1's public model.save() has no weights_format option
# (only the private saving_lib.save_model does), so no npz-weights .keras.
# tf-keras also writes TF SavedModel directories and TF-format checkpoints
# (save_weights without .h5); they are not in the committed fixtures here
# (fixtures/tf/ has them, from several TensorFlow versions) but the live tests
# save every builder in them.
FORMATS = {
    "keras3": (_full("keras", "model.keras"), _full("h5", "model.h5"),
               _json("model.weights.h5")),
    "tf_keras": (_full("h5", "model.h5"), _full("keras", "model.keras"),
                 _json("model_weights.h5"), _saved_model("saved_model"),
                 _json("ckpt/weights", "tf-checkpoint")),
}


def case_formats(name, writer, all_formats=False):
    """The formats case `name` is written in for the committed fixtures.

    The writer's native format (listed first in FORMATS) plus the kinds the
    case asks for in extra_formats ("keras", "h5", "json", "savedmodel",
    "tf-checkpoint"), or all of them if all_formats. Each HDF5
    group or dataset costs about 1 KB however small the model, so the full
    matrix for every case would take about 5.5 MB.
    """
    native, *others = FORMATS[writer]
    extra = CASES[name].extra_formats
    return (native, *[f for f in others if all_formats or f.kind in extra])


def _error_text(exc):
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"


def layer_outputs(K, model, inputs, jit=False):
    """Per-layer outputs of `model` on `inputs` as {"layer/<name>/<j>": array}.

    Returns (arrays, skipped) where skipped names the layers that are called
    more than once in the model (shared layers).
    """
    per_layer, skipped = probe_layers(K, model, inputs, jit_compile=jit)
    return {f"layer/{name}/{j}": y for name, ys in per_layer.items()
            for j, y in enumerate(ys)}, skipped


def _try_formats(K, model, inputs, outputs, formats, folder, reload=True, batch_size=None,
                 jit=False):
    """Save `model` in each format and (if `reload`) reload each file with the same Keras."""
    specs, skipped, reload_failed = [], {}, {}
    for fmt in formats:
        try:
            fmt.save(model, folder)
        except Exception as exc:  # a writer that cannot save this model
            for part in (fmt.spec.get("path"), fmt.spec.get("json"), fmt.spec.get("weights")):
                if part and (folder / part).exists():    # what the failed save left behind
                    (folder / part).unlink()
            skipped[fmt.name] = _error_text(exc)
            print(f"  WARNING: {K.__name__} cannot save {fmt.name}: {skipped[fmt.name]}")
            continue
        specs.append(fmt.spec)
        if not reload:
            continue
        try:
            again = fmt.load(K, folder)
            if jit:
                again.compile(jit_compile=True)
            reloaded = _predict(again, inputs, batch_size)
        except Exception as exc:  # a known loader limitation; keep the file
            reload_failed[fmt.name] = _error_text(exc)
            print(f"  WARNING: {K.__name__} cannot reload {fmt.name}: "
                  f"{reload_failed[fmt.name]}")
            continue
        for j, (want, got) in enumerate(zip(outputs, reloaded)):
            same_nan = np.array_equal(np.isnan(want), np.isnan(got))
            err = float(np.nanmax(np.abs(want - got))) if want.size else 0.0
            if not same_nan or err > RELOAD_TOL:
                # Keras's own round trip is lossy (tf.keras 2.12 and 2.15 on a checkpoint of a
                # MultiHeadAttention/GRU model): the file is kept, the recorded outputs are the
                # in-memory model's, and case.json says so
                reload_failed[fmt.name] = (
                    f"{K.__name__} {_keras_version(K)} reloads it with output {j} "
                    + ("NaNs in other places" if not same_nan else f"differing by {err:.3g}"))
                print(f"  WARNING: {reload_failed[fmt.name]} ({fmt.name})")
                break
    return specs, skipped, reload_failed


def _keras_version(K):
    """K.__version__, or TensorFlow's for tf.keras modules that have none (2.15)."""
    v = getattr(K, "__version__", None)
    if v:
        return v
    import tensorflow as tf
    return tf.__version__


def _reference(K):
    import tensorflow as tf
    label = "Keras" if is_keras3(K) else "tf_keras"
    return (f"{label} {K.__version__} (TensorFlow {tf.__version__} backend, CPU) "
            "model.predict on the in-memory model that was saved; per-layer "
            "outputs from sub-models Model(model.inputs, layer outputs)")


def save_case(info, writer, out_dir, formats=None, reload=True):
    """Write one case folder: model files, io.npz and case.json.

    `info` comes from build(); files go directly into `out_dir` (created if
    needed); `formats` defaults to every format of the writer (FORMATS) but the
    case's lossy_formats;
    `reload=False` skips reloading each file with Keras (the live tests do).
    Returns the case.json content as a dict.
    """
    K = keras_module(writer)
    if formats is None:
        lossy = getattr(CASES.get(info["name"]), "lossy_formats", ())
        formats = [f for f in FORMATS[writer] if f.kind not in lossy]
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    model, inputs = info["model"], info["inputs"]
    calls = info.get("calls") or [("predict", None, None)]

    arrays = {f"in/{i}": x for i, x in enumerate(inputs)}
    call_names, k, outputs = [], 0, None
    for call in calls:
        call_names.append(call[0])
        if call[0] == "reset":
            reset_states(model)
            continue
        _, call_inputs, batch_size = call
        if call_inputs is not None:
            arrays.update({f"call{k}/in/{i}": x for i, x in enumerate(call_inputs)})
        got = _predict(model, inputs if call_inputs is None else call_inputs, batch_size)
        arrays.update({f"call{k}/out/{j}": y for j, y in enumerate(got)})
        outputs = got if outputs is None else outputs
        k += 1
    reset_states(model)
    layers_skipped = []
    if len(calls) == 1:
        per_layer, layers_skipped = layer_outputs(K, model, inputs, info.get("jit", False))
        arrays.update(per_layer)
    first_inputs = calls[0][1] if calls[0][1] is not None else inputs

    specs, skipped_formats, reload_failed = _try_formats(
        K, model, first_inputs, outputs, formats, folder, reload, calls[0][2],
        info.get("jit", False))
    if not specs:
        raise RuntimeError(f"{info['name']}: {writer} could not save any format")
    np.savez_compressed(folder / "io.npz", **arrays)

    case_json = {
        "load": specs[0],
        "also_load": specs[1:],
        "calls": call_names,
        "tol": info.get("tol", TOL),
        "keras": K.__version__,
        "writer": writer,
        "reference": _reference(K),
        "note": info["note"],
    }
    for key, value in (("skipped_formats", skipped_formats),
                       ("reload_failed", reload_failed),
                       ("layers_skipped", layers_skipped)):
        if value:
            case_json[key] = value
    (folder / "case.json").write_text(json.dumps(case_json, indent=1) + "\n")
    return case_json


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _folder_size(folder):
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _print_summary(results):
    """One table per writer: what each case folder holds, and its size."""
    for writer in ALL_WRITERS:
        rows = [r for r in results if r["writer"] == writer]
        if not rows:
            continue
        header = ["case"] + [f.name for f in FORMATS[writer]] + ["layers", "KB"]
        table = []
        for r in rows:
            cj = r["case_json"]
            cells = [r["name"]]
            for fmt in FORMATS[writer]:
                if fmt not in r["formats"]:
                    cells.append("-")
                elif fmt.name in cj.get("skipped_formats", {}):
                    cells.append("NOT SAVED")
                elif fmt.name in cj.get("reload_failed", {}):
                    cells.append("saved, reload FAILED")
                else:
                    cells.append("ok")
            with np.load(r["folder"] / "io.npz") as npz:
                layers = {k.split("/")[1] for k in npz.files if k.startswith("layer/")}
            cells += [str(len(layers)), f"{_folder_size(r['folder']) / 1024:.0f}"]
            table.append(cells)
        widths = [max(len(row[i]) for row in [header] + table) for i in range(len(header))]
        print(f"\n== writer {writer} ==  (ok: saved and reloaded; -: not written)")
        for row in [header] + table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--out", default="fixtures", help="output directory")
    parser.add_argument("--all-formats", action="store_true",
                        help="write every format for every case (about 5.5 MB)")
    args = parser.parse_args(argv)

    committed = [n for n in CASES if not CASES[n].live_only]
    names = args.only.split(",") if args.only else committed
    unknown = [n for n in names if n not in committed]
    if unknown:
        parser.error(f"unknown or live-only case(s) {unknown}; known: {', '.join(committed)}")

    warnings.filterwarnings("ignore")
    for logger in ("absl", "tensorflow"):  # legacy-HDF5 and retracing notices
        logging.getLogger(logger).setLevel(logging.ERROR)
    out = Path(args.out)
    if not args.only:  # drop folders of cases that no longer exist
        current = {f"{n}__{w}" for n in committed for w in CASES[n].writers}
        for folder in out.glob("*__*"):
            if folder.is_dir() and folder.name not in current:
                shutil.rmtree(folder)
    results = []
    for name in names:
        for writer in CASES[name].writers:
            print(f"{name} / {writer}")
            folder = out / f"{name}__{writer}"
            shutil.rmtree(folder, ignore_errors=True)
            formats = case_formats(name, writer, args.all_formats)
            case_json = save_case(build(name, writer), writer, folder, formats)
            results.append({"name": name, "writer": writer, "formats": formats,
                            "case_json": case_json, "folder": folder})
    _print_summary(results)
    total = sum(_folder_size(d) for d in out.iterdir() if d.is_dir())
    print(f"\n{len(results)} case folders; fixtures total {total / 1024:.0f} KB in {out}/")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
