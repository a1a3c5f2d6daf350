"""Every kernel against the readable reference (kerasrnn_infer.cells) on random weights, in
every layout and product form it uses: masks, go_backwards, initial states, sequences,
stacked cells, float32 and float64, the activations the fast paths treat specially."""

import importlib.util
import itertools

import numpy as np
import pytest

from kerasrnn_infer import activations as A
from kerasrnn_infer import cells
from kerasrnn_infer.cells import CellSpec, CellWeights
from kerasrnn_infer.kernels import LayoutPolicy, layout_policy, recurrent_kernel
from kerasrnn_infer.kernels import numpy_rnn

POLICIES = {"rows": LayoutPolicy.forced(columns=False),
            "columns": LayoutPolicy.forced(columns=True),
            "folded": LayoutPolicy.forced(columns=False, fold=True),
            "default": LayoutPolicy()}
KINDS = [("simple_rnn", False), ("lstm", False), ("gru", True), ("gru", False)]


def _spec(kind, reset_after, units, dtype, act=A.tanh, ract=A.sigmoid, use_bias=True):
    return CellSpec(kind, units, act, None if kind == "simple_rnn" else ract, use_bias,
                    reset_after, np.dtype(dtype))


def _weights(spec, features, rng):
    shapes = spec.weight_shapes()
    shapes[0] = (features, shapes[0][1])
    arrays = [rng.normal(0, 0.4, s).astype(spec.dtype) for s in shapes]
    return CellWeights.of(spec, arrays)


def _mask(rng, batch, steps):
    m = rng.random((batch, steps)) > 0.3
    m[0] = True
    m[-1, :2] = False                      # leading masked steps
    return m


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("batch", [1, 3, 20])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_matches_the_reference(policy, kind, reset_after, batch, dtype):
    rng = np.random.default_rng(hash((kind, reset_after, batch, dtype)) % 2 ** 32)
    spec = _spec(kind, reset_after, 5, dtype)
    w = _weights(spec, 4, rng)
    kernel = recurrent_kernel([spec], [w], jit=False)
    x = rng.normal(0, 0.7, (batch, 6, 4)).astype(dtype)
    tol = 2e-6 if dtype == "float32" else 1e-12
    for masked, back, seqs, zero_out, init in itertools.product(
            (False, True), (False, True), (False, True), (False, True), (False, True)):
        mask = _mask(rng, batch, 6) if masked else None
        states = [rng.normal(0, 0.5, (batch, n)).astype(dtype) for n in spec.state_sizes] \
            if init else [np.zeros((batch, n), dtype) for n in spec.state_sizes]
        want = cells.run([spec], [w], x, states, mask, back, seqs, zero_out)
        with layout_policy(POLICIES[policy]):
            got = kernel.run(x, states, mask, back, seqs, zero_out)
        np.testing.assert_allclose(got[0], want[0], atol=tol, rtol=0)
        if seqs:
            np.testing.assert_allclose(got[1], want[1], atol=tol, rtol=0)
        for g, s in zip(got[2], want[2]):
            np.testing.assert_allclose(g, s, atol=tol, rtol=0)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_stacked_cells_match_the_reference(policy):
    rng = np.random.default_rng(7)
    specs = [_spec("lstm", False, 4, "float32"), _spec("gru", True, 3, "float32"),
             _spec("simple_rnn", False, 5, "float32")]
    ws = [_weights(specs[0], 4, rng), _weights(specs[1], 4, rng), _weights(specs[2], 3, rng)]
    kernel = recurrent_kernel(specs, ws, jit=False)
    x = rng.normal(0, 0.7, (3, 6, 4)).astype(np.float32)
    mask = _mask(rng, 3, 6)
    init = [rng.normal(0, 0.5, (3, n)).astype(np.float32) for n in (4, 4, 3, 5)]
    want = cells.run(specs, ws, x, init, mask, False, True, False)
    with layout_policy(POLICIES[policy]):
        got = kernel.run(x, init, mask, False, True, False)
    np.testing.assert_allclose(got[1], want[1], atol=2e-6)
    for g, s in zip(got[2], want[2]):
        np.testing.assert_allclose(g, s, atol=2e-6)


@pytest.mark.parametrize("act,ract", [(A.relu, A.hard_sigmoid_keras3),
                                      (A.softsign, A.softmax), (A.linear, A.hard_sigmoid_keras2)])
@pytest.mark.parametrize("kind,reset_after", KINDS)
def test_unfused_activations_match_the_reference(act, ract, kind, reset_after):
    """The fused sigmoid/tanh path aside, any activation pair (softmax acts per gate)."""
    rng = np.random.default_rng(3)
    spec = _spec(kind, reset_after, 4, "float64", act, ract)
    w = _weights(spec, 3, rng)
    x = rng.normal(0, 0.5, (5, 7, 3))
    want = cells.run([spec], [w], x, None, None, False, True, False)
    for policy in POLICIES.values():
        with layout_policy(policy):
            got = recurrent_kernel([spec], [w], jit=False).run(x, [np.zeros((5, n)) for n in
                                                        spec.state_sizes], None, False, True,
                                                    False)
        np.testing.assert_allclose(got[1], want[1], atol=1e-12)


def test_the_policy_chooses_the_layout():
    """Forcing a policy really changes the frames the kernel builds (a test of the seam)."""
    rng = np.random.default_rng(0)
    spec = _spec("lstm", False, 3, "float32")
    kernel = recurrent_kernel([spec], [_weights(spec, 2, rng)], jit=False)
    x = np.zeros((4, 2, 2), np.float32)
    seen = {}
    for name in ("rows", "columns"):
        with layout_policy(POLICIES[name]):
            kernel.run(x, [np.zeros((4, 3), np.float32)] * 2, None, False, False, False)
            seen[name] = numpy_rnn._frame_for(kernel.cell, 4).cols
    assert seen == {"rows": False, "columns": True}


# ----- ConvLSTM: the fast kernel (input convolution hoisted, im2col recurrent product) against
# cells.conv_lstm_step (plain sums over kernel offsets) -----------------------------------------
CONV_CASES = [  # kernel, strides, padding, dilation, frame (*spatial, channels)
    ((3,), (1,), "same", (1,), (7, 2)),
    ((3,), (2,), "valid", (1,), (9, 3)),
    ((2,), (1,), "same", (2,), (6, 2)),
    ((3, 2), (1, 1), "same", (1, 1), (4, 5, 2)),
    ((3, 3), (2, 1), "valid", (1, 1), (7, 5, 1)),
    ((2, 2), (1, 1), "same", (2, 2), (5, 4, 2)),
    ((2, 2, 2), (1, 1, 1), "same", (1, 1, 1), (3, 4, 3, 1)),
]


def _conv_spec(conv, dtype, act=A.tanh, ract=A.sigmoid, use_bias=True, filters=3):
    k, s, p, d, _ = conv
    return CellSpec("conv_lstm", filters, act, ract, use_bias, False, np.dtype(dtype),
                    cells.ConvSpec(k, s, p, d))


def _conv_weights(spec, channels, rng):
    shapes = spec.weight_shapes()
    shapes[0] = shapes[0][:-2] + (channels, shapes[0][-1])
    return CellWeights.of(spec, [rng.normal(0, 0.3, s).astype(spec.dtype) for s in shapes])


def _jit_param(request):
    """Both ConvLSTM kernels: NumPy, and compiled (the jit extra; ConvLSTM1D and 2D)."""
    if request.param and importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed (the jit extra)")
    return request.param


@pytest.fixture(params=[False, True], ids=["numpy", "compiled"])
def jit(request):
    return _jit_param(request)


@pytest.mark.parametrize("conv", CONV_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}"
                                                   for c in CONV_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_lstm_kernel_matches_the_reference(conv, dtype, jit):
    rng = np.random.default_rng(sum(map(ord, repr(conv))) + len(dtype))
    spec = _conv_spec(conv, dtype)
    frame = conv[4]
    w = _conv_weights(spec, frame[-1], rng)
    kernel = recurrent_kernel([spec], [w], jit=jit)
    assert kernel.name == ("numba" if jit and len(conv[0]) <= 2 else "numpy")
    batch, steps = 3, 4
    x = rng.normal(0, 0.7, (batch, steps, *frame)).astype(dtype)
    shapes = spec.state_shapes(frame)
    tol = 3e-6 if dtype == "float32" else 1e-12
    pixel = shapes[0][:-1] == frame[:-1]          # per-pixel masks need unchanged spatial axes
    for masked, back, seqs, init in itertools.product(
            (False, "steps", "pixels") if pixel else (False, "steps"), (False, True),
            (False, True), (False, True)):
        mask = None
        if masked:
            mask = _mask(rng, batch, steps)
            if masked == "pixels":
                mask = mask.reshape(batch, steps, *([1] * len(frame[:-1]))) & \
                    (rng.random((batch, steps, *frame[:-1])) > 0.3)
        states = [rng.normal(0, 0.5, (batch, *s)).astype(dtype) if init else
                  np.zeros((batch, *s), dtype) for s in shapes]
        want = cells.run([spec], [w], x, states, mask, back, seqs, False)
        got = kernel.run(x, states, mask, back, seqs, False)
        np.testing.assert_allclose(got[0], want[0], atol=tol, rtol=0)
        if seqs:
            np.testing.assert_allclose(got[1], want[1], atol=tol, rtol=0)
        for g, s in zip(got[2], want[2]):
            np.testing.assert_allclose(g, s, atol=tol, rtol=0)


@pytest.mark.parametrize("act,ract,use_bias", [(A.relu, A.hard_sigmoid_keras3, True),
                                               (A.softsign, A.softmax, False),
                                               (A.linear, A.hard_sigmoid_keras2, True)])
def test_conv_lstm_unfused_activations_match_the_reference(act, ract, use_bias, jit):
    rng = np.random.default_rng(11)
    conv = CONV_CASES[3]
    spec = _conv_spec(conv, "float64", act, ract, use_bias)
    w = _conv_weights(spec, 2, rng)
    x = rng.normal(0, 0.5, (2, 5, *conv[4]))
    zeros = [np.zeros((2, *s)) for s in spec.state_shapes(conv[4])]
    want = cells.run([spec], [w], x, zeros, None, False, True, False)
    kernel = recurrent_kernel([spec], [w], jit=jit)
    assert kernel.name == ("numba" if jit and ract is not A.softmax else "numpy")
    got = kernel.run(x, zeros, None, False, True, False)
    np.testing.assert_allclose(got[1], want[1], atol=1e-12)


def test_reference_convolution_is_tensorflows():
    """cells.convolve against a hand-computed case: "same" with stride 2 on an even length
    pads one element after (TensorFlow's rule), none before."""
    x = np.arange(1.0, 7.0).reshape(1, 6, 1)             # 1..6
    k = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1)
    y = cells.convolve(x, k, (2,), "same", (1,))[0, :, 0]
    # windows [1 2 3], [3 4 5], [5 6 0]
    np.testing.assert_array_equal(y, [321.0, 543.0, 65.0])
