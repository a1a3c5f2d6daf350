"""The defects found while giving each concern one home (issue: one home per concern): each
test here failed before its fix."""

import os

import numpy as np
import pytest

import kerasrnn_infer as kri
from _cases import as_list, inputs, read_case
from conftest import FIXTURES


def _fixture(case, name=None):
    d = os.path.join(FIXTURES, case)
    spec, io = read_case(d)
    return kri.load_model(os.path.join(d, name or spec["load"]["path"])), io


@pytest.mark.parametrize("case", ["return_state_initial_state__keras3",
                                  "return_state_initial_state__tf_keras",
                                  "graph_multi_io__keras3", "bidirectional__tf_keras"])
def test_output_names_are_unique_and_name_the_tensor_layer_outputs_gives(case):
    model, io = _fixture(case)
    names = model.output_names
    assert len(set(names)) == len(names), names
    assert [s.name for s in model.outputs] == names
    x = inputs(io)
    outs = as_list(model.predict(x))
    per_layer = model.layer_outputs(x)
    for name, y in zip(names, outs):
        layer, _, j = name.partition("/")
        got = per_layer[layer]
        got = as_list(got)[int(j)] if j else got
        np.testing.assert_array_equal(got, y)


def test_output_names_of_a_seq2seq_encoder():
    model, _ = _fixture("return_state_initial_state__keras3")
    assert model.output_names[:4] == ["lstm_enc/0", "lstm_enc/1", "lstm_enc/2", "lstm_dec"]
