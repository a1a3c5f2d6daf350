"""Stateful models: states carry over between predict calls, reset_states zeroes them, and a
batch that does not fit the fixed batch size is refused."""

import os

import numpy as np
import pytest

import kerasrnn_infer as kri
from _cases import load, read_case
from conftest import FIXTURES

pytestmark = pytest.mark.usefixtures("each_kernel")     # NumPy and compiled kernels


@pytest.fixture(params=["stateful__keras3", "stateful__tf_keras"])
def model_and_io(request):
    d = os.path.join(FIXTURES, request.param)
    spec, io = read_case(d)
    return load(d, spec["load"]), io


def test_states_carry_over_and_reset(model_and_io):
    model, io = model_and_io
    x = io["in/0"]
    first = model.predict(x)
    second = model.predict(x)
    assert np.abs(first - second).max() > 1e-3, "the second call must start from the first's states"
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)


def test_batch_not_fitting_fixed_size_is_refused(model_and_io):
    model, io = model_and_io
    with pytest.raises(kri.InputError, match="stateful with batch size 2; received 3 samples"):
        model.predict(np.zeros((3, 4, 3), np.float32))


def test_stateless_model_is_unaffected_by_reset():
    d = os.path.join(FIXTURES, "rnn_basic__keras3")
    spec, io = read_case(d)
    model = load(d, spec["load"])
    a = model.predict(io["in/0"])
    model.reset_states()
    b = model.predict(io["in/0"])
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
