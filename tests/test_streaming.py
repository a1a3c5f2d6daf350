"""Streaming (Model.step): any chunking of a sequence gives the whole sequence's outputs."""

import os

import numpy as np
import pytest

import kerasrnn_infer as kri
from _cases import as_list, inputs, load, read_case
from conftest import FIXTURES, run_in_threads

pytestmark = pytest.mark.usefixtures("each_kernel")     # NumPy and compiled kernels

STREAMABLE = ["rnn_basic__keras3", "rnn_basic__tf_keras", "rnn_cells__keras3",
              "rnn_no_bias__tf_keras", "dropouts__keras3", "float64__keras3",
              "activations__tf_keras", "graph_multi_io__keras3", "graph_nested__tf_keras",
              "stream_masked__keras3", "stream_masked__tf_keras",
              # ConvLSTM (per-pixel masks) and an LRCN (TimeDistributed CNN -> LSTM)
              "convlstm_masked__keras3", "convlstm_masked__tf_keras",
              "lrcn_video__keras3", "lrcn_video__tf_keras"]


def _chunks(rng, total):
    cuts = sorted(set(rng.integers(1, total, size=rng.integers(0, total)).tolist()))
    return list(zip([0] + cuts, cuts + [total]))


def _stream(model, xs, bounds, seq_len):
    state, outs = None, []
    for a, b in bounds:
        chunk = [x[:, a:b] if x.ndim >= 2 and x.shape[1] == seq_len else x
                 for x in xs]
        y, state = model.step(chunk if len(chunk) > 1 else chunk[0], state)
        outs.append(as_list(model._flat(y)))      # nested outputs: Keras's flat order
    return outs


def _compare(model, xs, outs, whole, seq_len):
    for j, w in enumerate(whole):
        if w.ndim >= 3 and w.shape[1] == seq_len:      # sequences, of any frame rank
            got = np.concatenate([o[j] for o in outs], axis=1)
        else:
            got = outs[-1][j]
        np.testing.assert_allclose(got, w, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", STREAMABLE)
def test_random_chunkings_equal_whole_sequence(case):
    d = os.path.join(FIXTURES, case)
    spec, io = read_case(d)
    model = load(d, spec["load"])
    x = inputs(io)
    xs = as_list(x)
    seq_len = xs[0].shape[1]
    whole = as_list(model._flat(model.predict(x)))
    rng = np.random.default_rng(7)
    for _ in range(5):
        _compare(model, xs, _stream(model, xs, _chunks(rng, seq_len), seq_len), whole, seq_len)


def test_streams_from_many_threads_do_not_interfere():
    d = os.path.join(FIXTURES, "rnn_basic__keras3")
    spec, io = read_case(d)
    model = load(d, spec["load"])
    x = io["in/0"]
    whole = as_list(model._flat(model.predict(x)))
    errors = []

    def worker(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(10):
                _compare(model, [x], _stream(model, [x], _chunks(rng, x.shape[1]),
                                             x.shape[1]), whole, x.shape[1])
        except Exception as e:  # reported below
            errors.append(e)

    run_in_threads(worker, 6)
    assert not errors, errors[0]


@pytest.mark.parametrize("case,layer", [("go_backwards__keras3", "go_backwards"),
                                        ("embedding_td_repeat__keras3", "RepeatVector"),
                                        ("conv_pool__tf_keras", "Conv1D")])
def test_whole_sequence_models_refuse_to_stream(case, layer):
    d = os.path.join(FIXTURES, case)
    spec, io = read_case(d)
    model = load(d, spec["load"])
    x = inputs(io)
    with pytest.raises(kri.UnsupportedError, match=f"{layer}.*cannot be streamed|"
                                                   f"cannot be streamed.*{layer}"):
        model.step(x)


def test_state_from_another_model_is_refused():
    d = os.path.join(FIXTURES, "rnn_basic__keras3")
    spec, io = read_case(d)
    a, b = load(d, spec["load"]), load(d, spec["load"])
    _, state = a.step(io["in/0"][:, :2])
    with pytest.raises(kri.InputError, match="same model"):
        b.step(io["in/0"][:, 2:], state)
    with pytest.raises(kri.InputError, match="batch size"):
        a.step(io["in/0"][:1, 2:], state)
