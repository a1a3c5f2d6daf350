"""The compiled recurrent kernel (kernels/numba_rnn.py, the ``jit`` extra): against the
readable reference cells and the NumPy kernel on random weights (masks, go_backwards, initial
and returned states, sequences, stacks, both dtypes, every compiled activation, the packed
product), the settings that choose it, and models that use it: Keras fixtures, threads,
streaming, stateful layers, pickles. Skipped without numba."""

import itertools
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer import activations as A
from kerasrnn_infer import cells
from kerasrnn_infer.cells import CellSpec, CellWeights
from kerasrnn_infer.kernels import NumpyRecurrent, jit_setting, recurrent_kernel

from _cases import read_case
from conftest import FIXTURES, ROOT, run_in_threads

numba_rnn = pytest.importorskip("kerasrnn_infer.kernels.numba_rnn")
pytest.importorskip("numba")

KINDS = [("simple_rnn", False), ("lstm", False), ("gru", True), ("gru", False)]
COMPILED_ACTS = [(A.relu, A.hard_sigmoid_keras3), (A.softsign, A.hard_sigmoid_keras2),
                 (A.linear, A.sigmoid), (A.relu6, A.tanh)]


def _spec(kind, reset_after, units, dtype, act=A.tanh, ract=A.sigmoid):
    return CellSpec(kind, units, act, None if kind == "simple_rnn" else ract, True,
                    reset_after, np.dtype(dtype))


def _weights(spec, features, rng, scale=0.4):
    shapes = spec.weight_shapes()
    shapes[0] = (features, shapes[0][1])
    return CellWeights.of(spec, [rng.normal(0, scale, s).astype(spec.dtype) for s in shapes])


def _mask(rng, batch, steps):
    m = rng.random((batch, steps)) > 0.3
    m[0] = True
    m[-1, :2] = False                      # leading masked steps
    m[-1, -1] = False                      # and a trailing one
    return m


def _close(got, want, tol):
    np.testing.assert_allclose(got[0], want[0], atol=tol, rtol=0)
    if want[1] is not None:
        np.testing.assert_allclose(got[1], want[1], atol=tol, rtol=0)
    assert len(got[2]) == len(want[2])
    for g, s in zip(got[2], want[2]):
        np.testing.assert_allclose(g, s, atol=tol, rtol=0)


@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_kernel_matches_the_reference(kind, reset_after, batch, dtype):
    rng = np.random.default_rng(hash((kind, reset_after, batch, dtype)) % 2 ** 32)
    spec = _spec(kind, reset_after, 5, dtype)
    w = _weights(spec, 4, rng)
    kernel = recurrent_kernel([spec], [w], jit=True)
    assert kernel.name == "numba"
    x = rng.normal(0, 0.7, (batch, 6, 4)).astype(dtype)
    tol = 2e-6 if dtype == "float32" else 1e-12
    for masked, back, seqs, zero_out, init, prev in itertools.product(
            (False, True), (False, True), (False, True), (False, True), (False, True),
            (False, True)):
        mask = _mask(rng, batch, 6) if masked else None
        states = [rng.normal(0, 0.5, (batch, n)).astype(dtype) for n in spec.state_sizes] \
            if init else [np.zeros((batch, n), dtype) for n in spec.state_sizes]
        prev_out = rng.normal(0, 0.5, (batch, 5)).astype(dtype) if prev else None
        want = cells.run([spec], [w], x, states, mask, back, seqs, zero_out, prev_out)
        got = kernel.run(x, states, mask, back, seqs, zero_out, prev_out)
        _close(got, want, tol)
        assert got[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize("act,ract", COMPILED_ACTS)
@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_compiled_activation_matches_the_reference(act, ract, kind, reset_after, dtype):
    rng = np.random.default_rng(11)
    spec = _spec(kind, reset_after, 6, dtype, act, ract)
    w = _weights(spec, 3, rng)
    kernel = recurrent_kernel([spec], [w], jit=True)
    assert kernel.name == "numba"
    x = rng.normal(0, 1.5, (2, 9, 3)).astype(dtype)     # past relu6's and hard_sigmoid's knees
    mask = _mask(rng, 2, 9)
    want = cells.run([spec], [w], x, None, mask, False, True, False)
    got = kernel.run(x, [np.zeros((2, n), dtype) for n in spec.state_sizes], mask, False, True,
                     False)
    _close(got, want, 2e-6 if dtype == "float32" else 1e-12)


def test_stacked_cells_match_the_reference():
    rng = np.random.default_rng(7)
    specs = [_spec("lstm", False, 4, "float32"), _spec("gru", True, 3, "float32"),
             _spec("simple_rnn", False, 5, "float32")]
    ws = [_weights(specs[0], 4, rng), _weights(specs[1], 4, rng), _weights(specs[2], 3, rng)]
    kernel = recurrent_kernel(specs, ws, jit=True)
    x = rng.normal(0, 0.7, (3, 6, 4)).astype(np.float32)
    init = [rng.normal(0, 0.5, (3, n)).astype(np.float32) for n in (4, 4, 3, 5)]
    for back, mask in itertools.product((False, True), (None, _mask(rng, 3, 6))):
        want = cells.run(specs, ws, x, init, mask, back, True, False)
        _close(kernel.run(x, init, mask, back, True, False), want, 2e-6)


@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("batch", [1, 2, 8, 9, 40, 64])
def test_compiled_path_agrees_with_the_numpy_path_within_1e_6(kind, reset_after, batch):
    """Long sequences, Keras-like weight scales, unsaturated gates: the two paths differ by
    float rounding only, within 1e-6 for LSTM and GRU. SimpleRNN here (120 steps, recurrent
    kernel of spectral radius 1) amplifies every rounding: the NumPy path itself is up to
    1.1e-6 from float64, so no two float32 orders of summation need agree within 1e-6;
    there both paths must be within 2e-6 of float64 and of each other."""
    rng = np.random.default_rng(batch)
    spec = _spec(kind, reset_after, 64, "float32")
    shapes = spec.weight_shapes()
    shapes[0] = (16, shapes[0][1])
    arrays = [rng.normal(0, s[0] ** -0.5 if len(s) == 2 else 0.1, s).astype(np.float32)
              for s in shapes]
    w = CellWeights.of(spec, arrays)
    spec64 = _spec(kind, reset_after, 64, "float64")
    exact = NumpyRecurrent([spec64], [CellWeights.of(spec64, [a.astype("f8") for a in arrays])])
    x = rng.normal(0, 1, (batch, 120, 16)).astype(np.float32)
    mask = _mask(rng, batch, 120)
    init = [np.zeros((batch, 64), np.float32) for _ in spec.state_sizes]
    jit, ref = recurrent_kernel([spec], [w], jit=True), NumpyRecurrent([spec], [w])
    for m in (None, mask):
        got = jit.run(x, init, m, False, True, False)
        want = ref.run(x, init, m, False, True, False)
        truth = exact.run(x.astype("f8"), [s.astype("f8") for s in init], m, False, True,
                          False)[1]
        if kind != "simple_rnn":
            _close(got, want, 1e-6)
        else:
            _close(got, want, 2e-6)
            assert np.abs(got[1] - truth).max() <= 2e-6
            assert np.abs(want[1] - truth).max() <= 2e-6


def test_the_packed_product_matches_float64_at_every_row_count():
    """kernels/_simd.py ``mm``: every row count from 1 to past two microkernel blocks (the
    1-3 row forms that take several panels, full blocks, a last partial block), inner sizes
    from 1, widths that leave a partial last panel; every element of the panels written
    (NaN before; padding columns zero), no row beyond ``m``; panels in reverse order
    (``mm_order``) give the same bits."""
    _simd = pytest.importorskip("kerasrnn_infer.kernels._simd")
    rng = np.random.default_rng(3)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-13)):
        nr = _simd.panel_width(dtype)
        for m in list(range(1, 2 * _simd.MR + 4)) + [64]:
            for k, g in ((1, 1), (5, 33), (17, 96), (64, 256), (3, 200)):
                a = rng.normal(size=(m, k)).astype(dtype)
                u = rng.normal(size=(k, g)).astype(dtype)
                packed = _simd.pack(u, lambda shape, d=dtype: np.empty(shape, d))
                assert packed.shape == (-(-g // nr), k, nr)
                c = np.full((m + 1, packed.shape[0] * nr), np.nan, dtype)
                _simd.mm(a, m, packed, c)
                np.testing.assert_allclose(c[:m, :g], a.astype("f8") @ u.astype("f8"),
                                           atol=tol * k, rtol=0)
                np.testing.assert_array_equal(c[:m, g:], 0)
                assert np.isnan(c[m]).all()
                # panels last first (the recurrent loop's every other step): the same bits
                r = np.full_like(c, np.nan)
                _simd.mm_order(a, m, packed, r, True)
                np.testing.assert_array_equal(r[:m], c[:m])
                assert np.isnan(r[m]).all()


@pytest.mark.parametrize("shape", [(0, 5, 4), (3, 0, 4)])
def test_empty_batches_and_sequences(shape):
    rng = np.random.default_rng(1)
    spec = _spec("lstm", False, 5, "float32")
    w = _weights(spec, 4, rng)
    x = np.zeros(shape, np.float32)
    init = [np.zeros((shape[0], 5), np.float32)] * 2
    got = recurrent_kernel([spec], [w], jit=True).run(x, init, None, False, True, False)
    want = cells.run([spec], [w], x, init, None, False, True, False)
    _close(got, want, 0)
    assert got[1].shape == (shape[0], shape[1], 5)


def test_other_activations_and_dtypes_get_the_numpy_kernel():
    rng = np.random.default_rng(0)
    for spec in (_spec("lstm", False, 3, "float32", A.softmax),
                 _spec("gru", True, 3, "float16")):
        kernel = recurrent_kernel([spec], [_weights(spec, 2, rng)], jit=True)
        assert kernel.name == "numpy", spec


def test_the_setting_chooses_the_kernel(monkeypatch):
    rng = np.random.default_rng(0)
    spec = _spec("lstm", False, 3, "float32")
    w = _weights(spec, 2, rng)
    monkeypatch.delenv("KERASRNN_INFER_JIT", raising=False)
    assert jit_setting() is None
    assert recurrent_kernel([spec], [w]).name == "numba"            # auto, numba installed
    assert recurrent_kernel([spec], [w], jit=False).name == "numpy"
    for value, name in (("0", "numpy"), ("off", "numpy"), ("1", "numba"), ("auto", "numba")):
        monkeypatch.setenv("KERASRNN_INFER_JIT", value)
        assert recurrent_kernel([spec], [w]).name == name, value
    assert recurrent_kernel([spec], [w], jit=False).name == "numpy"  # the argument wins
    monkeypatch.setenv("KERASRNN_INFER_JIT", "fast")
    with pytest.raises(kri.SettingError, match="KERASRNN_INFER_JIT='fast'.*auto, 1, 0"):
        recurrent_kernel([spec], [w])
    with pytest.raises(kri.SettingError, match="KERASRNN_INFER_JIT"):
        kri.load_model(_fixture_file("rnn_basic__keras3"))
    monkeypatch.delenv("KERASRNN_INFER_JIT")
    with pytest.raises(kri.UnsupportedError, match="jit must be True, False or None"):
        recurrent_kernel([spec], [w], jit="yes")


def test_asking_for_the_compiled_kernel_without_numba_names_the_extra(monkeypatch):
    rng = np.random.default_rng(0)
    spec = _spec("gru", True, 3, "float32")
    monkeypatch.setattr(numba_rnn, "available", lambda: False)
    with pytest.raises(kri.UnsupportedError, match=r"LSTM_X.*numba is not installed.*\[jit\]"):
        recurrent_kernel([spec], [_weights(spec, 2, rng)], jit=True, where="layer LSTM_X")
    assert recurrent_kernel([spec], [_weights(spec, 2, rng)]).name == "numpy"   # auto


def _fixture_file(name):
    spec, _ = read_case(os.path.join(FIXTURES, name))
    return os.path.join(FIXTURES, name, spec["load"]["path"])


def _kernels(model):
    out = []

    def walk(layer):
        k = getattr(layer, "kernel", None)
        if k is not None and hasattr(k, "name"):
            out.append(k.name)
        for child in getattr(layer, "layers", None) or []:
            walk(child)
        for attr in ("forward", "backward", "layer"):
            sub = getattr(layer, attr, None)
            if sub is not None and sub is not layer and hasattr(sub, "where"):
                walk(sub)
    walk(model._root)
    return out


def test_predict_from_many_threads_is_bit_identical():
    """A masked Bidirectional text model (Embedding mask_zero), batches of 1 to 8 padded
    rows, 8 threads at once: every answer equals the single-threaded one bit for bit."""
    model = kri.load_model(_fixture_file("bidirectional_masked__keras3"), jit=True)
    assert "numba" in _kernels(model)
    rng = np.random.default_rng(3)
    xs = []
    for k in range(8):
        ids = rng.integers(1, 20, (1 + k, 7)).astype(np.int32)
        for row, n in zip(ids, rng.integers(2, 8, 1 + k)):
            row[n:] = 0                                     # right padding: masked steps
        xs.append(ids)
    want = [model.predict(x) for x in xs]
    errors = []

    def worker(seed):
        try:
            for _ in range(20):
                got = model.predict(xs[seed])
                for g, w in zip(got if isinstance(got, list) else [got],
                                want[seed] if isinstance(want[seed], list) else [want[seed]]):
                    assert np.array_equal(g, w)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    run_in_threads(worker, 8)
    assert not errors, errors[0]


def test_a_pickled_model_keeps_its_kernel_choice():
    model = kri.load_model(_fixture_file("rnn_basic__keras3"), jit=False)
    again = pickle.loads(pickle.dumps(model))
    assert set(_kernels(again)) == {"numpy"}
    assert set(_kernels(pickle.loads(pickle.dumps(kri.load_model(
        _fixture_file("rnn_basic__keras3")))))) == {"numba"}


def test_cached_kernels_load_in_a_fresh_process_and_agree(tmp_path):
    """A second process loads the compiled code from numba's disk cache (no compile) and
    computes the same bits as this one."""
    path = _fixture_file("rnn_basic__keras3")
    model = kri.load_model(path, jit=True)
    x = np.random.default_rng(5).normal(0, 1, (4, 7, model.inputs[0].shape[-1])).astype("f4")
    want = model.predict(x)
    want = want if isinstance(want, list) else [want]
    code = ("import sys, numpy as np, kerasrnn_infer as kri\n"
            "m = kri.load_model(sys.argv[1], jit=True)\n"
            "y = m.predict(np.load(sys.argv[2])); y = y if isinstance(y, list) else [y]\n"
            "np.savez(sys.argv[3], *y)\n")
    tmp = str(tmp_path)
    np.save(os.path.join(tmp, "x.npy"), x)
    out = os.path.join(tmp, "y.npz")
    r = subprocess.run([sys.executable, "-c", code, path, os.path.join(tmp, "x.npy"), out],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT),
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with np.load(out) as z:
        got = [z[f"arr_{k}"] for k in range(len(z.files))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# ----- padding masks, chunks, large batches --------------------------------------------------------
def _padding(rng, batch, steps, left):
    """A padding mask: each sample's unmasked steps one run, at the start (right padding) or
    the end (left padding), lengths unsorted, one sample fully masked and one not at all."""
    lengths = rng.integers(1, steps, batch)
    lengths[0] = steps
    if batch > 2:
        lengths[1] = 0
    t = np.arange(steps)
    return (t >= steps - lengths[:, None]) if left else (t < lengths[:, None])


@pytest.mark.parametrize("masks", [
    ("right", [[1, 1, 0], [1, 0, 0], [0, 0, 0]], 2),
    ("left", [[0, 1, 1], [1, 1, 1], [0, 0, 1]], 2),
    ("none masked", [[1, 1, 1], [1, 1, 1]], 0),
    ("gap", [[1, 0, 1], [1, 1, 1]], 1),
    ("both ends", [[1, 1, 0], [0, 1, 1]], 1),
])
def test_masks_are_classified(masks):
    from kerasrnn_infer.kernels import _numba_impl
    _, m, want = masks
    m = np.array(m, bool)
    mode, counts, order, _ = _numba_impl.classify(m)
    assert mode == want
    if mode == 2:
        lengths = m.sum(1)
        assert list(lengths[order]) == sorted(lengths, reverse=True)
        assert list(counts) == list(m.sum(0))
        for t in range(m.shape[1]):             # the active samples are a sorted prefix
            assert list(m[order, t]) == [True] * counts[t] + [False] * (len(m) - counts[t])


@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("batch", [1, 3, 20])
@pytest.mark.parametrize("left", [False, True])
def test_padding_masks_run_sorted_and_match_the_reference(kind, reset_after, batch, left):
    """Right and left padding (mode 2: samples sorted by length, the masked ones' products
    skipped), at batch sizes below and above a microkernel block of rows, with every option."""
    rng = np.random.default_rng(hash((kind, reset_after, batch, left)) % 2 ** 32)
    spec = _spec(kind, reset_after, 5, "float32")
    w = _weights(spec, 4, rng)
    kernel = recurrent_kernel([spec], [w], jit=True)
    x = rng.normal(0, 0.7, (batch, 9, 4)).astype(np.float32)
    mask = _padding(rng, batch, 9, left)
    for back, seqs, zero_out, init, prev in itertools.product(*[(False, True)] * 5):
        states = [rng.normal(0, 0.5, (batch, n)).astype(np.float32) for n in spec.state_sizes] \
            if init else [np.zeros((batch, n), np.float32) for n in spec.state_sizes]
        prev_out = rng.normal(0, 0.5, (batch, 5)).astype(np.float32) if prev else None
        want = cells.run([spec], [w], x, states, mask, back, seqs, zero_out, prev_out)
        got = kernel.run(x, states, mask, back, seqs, zero_out, prev_out)
        _close(got, want, 2e-6)


def test_stacked_cells_with_a_padding_mask_match_the_reference():
    rng = np.random.default_rng(17)
    specs = [_spec("lstm", False, 4, "float32"), _spec("gru", True, 3, "float32")]
    ws = [_weights(specs[0], 4, rng), _weights(specs[1], 4, rng)]
    kernel = recurrent_kernel(specs, ws, jit=True)
    x = rng.normal(0, 0.7, (6, 8, 4)).astype(np.float32)
    init = [rng.normal(0, 0.5, (6, n)).astype(np.float32) for n in (4, 4, 3)]
    for back, left in itertools.product((False, True), (False, True)):
        mask = _padding(rng, 6, 8, left)
        want = cells.run(specs, ws, x, init, mask, back, True, True)
        _close(kernel.run(x, init, mask, back, True, True), want, 2e-6)


@pytest.mark.parametrize("kind,reset_after", KINDS)
@pytest.mark.parametrize("chunk_values", [1, 40, 1 << 16])
def test_the_input_projection_in_chunks_matches_the_reference(kind, reset_after, chunk_values,
                                                              monkeypatch):
    """Chunks of one timestep, a few, and the whole sequence; forward and backward; a
    padding mask whose masked steps (no projection) fall inside and across chunks."""
    monkeypatch.setattr(numba_rnn, "CHUNK_VALUES", chunk_values)
    rng = np.random.default_rng(chunk_values)
    spec = _spec(kind, reset_after, 4, "float64")
    w = _weights(spec, 3, rng)
    kernel = recurrent_kernel([spec], [w], jit=True)
    x = rng.normal(0, 0.7, (2, 11, 3))
    init = [np.zeros((2, n)) for n in spec.state_sizes]
    for back, mask in itertools.product((False, True), (None, _padding(rng, 2, 11, False),
                                                        _padding(rng, 2, 11, True))):
        want = cells.run([spec], [w], x, init, mask, back, True, False)
        _close(kernel.run(x, init, mask, back, True, False), want, 1e-12)


def test_large_batches_stay_compiled():
    """The compiled kernel runs every batch size (faster than the NumPy kernel at each one
    measured: docs/jit.md); only empty inputs go to the NumPy kernel."""
    rng = np.random.default_rng(9)
    for kind, reset_after in (("lstm", False), ("simple_rnn", False), ("gru", True)):
        spec = _spec(kind, reset_after, 8, "float32")
        w = _weights(spec, 5, rng)
        jit, ref = recurrent_kernel([spec], [w], jit=True), NumpyRecurrent([spec], [w])
        handed = []
        numpy_run = jit.numpy.run
        jit.numpy.run = lambda *a: handed.append(1) or numpy_run(*a)
        x = rng.normal(0, 0.7, (300, 10, 5)).astype(np.float32)
        init = [np.zeros((300, 8), np.float32) for _ in spec.state_sizes]
        for mask in (None, _mask(rng, 300, 10), _padding(rng, 300, 10, False)):
            _close(jit.run(x, init, mask, False, True, False),
                   ref.run(x, init, mask, False, True, False), 1e-6)
        assert not handed
        jit.run(x[:0], [s[:0] for s in init], None, False, True, False)
        assert handed


_OTHER_TARGET = r"""
import json, sys
import numpy as np
from kerasrnn_infer import activations as A
from kerasrnn_infer.cells import CellSpec, CellWeights
from kerasrnn_infer.kernels import NumpyRecurrent, _simd, recurrent_kernel
rng = np.random.default_rng(0)
worst = {"float32": 0.0, "float64": 0.0}
for kind, reset_after in (("lstm", False), ("gru", True), ("gru", False), ("simple_rnn", False)):
    for dt in worst:
        spec = CellSpec(kind, 40, A.tanh, None if kind == "simple_rnn" else A.sigmoid, True,
                        reset_after, np.dtype(dt))
        shapes = spec.weight_shapes()
        shapes[0] = (7, shapes[0][1])
        w = CellWeights.of(spec, [rng.normal(0, 0.3, s).astype(dt) for s in shapes])
        jit, ref = recurrent_kernel([spec], [w], jit=True), NumpyRecurrent([spec], [w])
        assert jit.name == "numba"
        for b in (1, 2, 3, 5, 13):
            x = rng.normal(0, 1, (b, 9, 7)).astype(dt)
            got = jit.run(x, None, None, False, True, False)[1]
            want = ref.run(x, None, None, False, True, False)[1]
            worst[dt] = max(worst[dt], float(np.abs(got - want).max()))
print(json.dumps({"vector_bytes": _simd.VECTOR_BYTES, "mr": _simd.MR, "worst": worst}))
"""


def test_the_microkernel_built_for_avx2_and_sse_cpus_agrees(tmp_path):
    """The shapes this machine does not run natively: numba compiling for an AVX2 CPU (6 rows
    of two 32-byte vectors) and an SSE4.2 one (4 rows of two 16-byte vectors), each in its
    own process and cache, against the NumPy kernel."""
    targets = {"haswell": ("+avx,+avx2,+fma,+sse4.2,+popcnt", 32, 6),
               "nehalem": ("+sse4.2,+popcnt", 16, 4)}
    procs = {}
    for cpu, (features, _, _) in targets.items():
        env = dict(os.environ, PYTHONPATH=ROOT, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features,
                   NUMBA_CACHE_DIR=str(tmp_path / cpu))
        procs[cpu] = subprocess.Popen([sys.executable, "-c", _OTHER_TARGET], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for cpu, proc in procs.items():
        out, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors[-2000:]
        got = json.loads(out.strip().splitlines()[-1])
        assert (got["vector_bytes"], got["mr"]) == targets[cpu][1:]
        assert got["worst"]["float32"] <= 5e-6, got
        assert got["worst"]["float64"] <= 1e-12, got


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("filters, tiled", [(4, False), (5, True), (8, True)])
def test_compiled_conv_lstm_agrees_with_the_numpy_kernel(rank, dtype, filters, tiled,
                                                         monkeypatch):
    """ConvLSTM1D/2D compiled (rows = pixels, windows gathered per step) against the NumPy
    kernel with every option: masks per sample and per pixel, zero_output_for_mask, a
    previous output, initial states, both directions; even kernels ("same": more padding
    after); batch sizes below and above a microkernel block of rows. ``tiled``: windows
    gathered 8 rows at a time (a last partial tile too), as a large map's are; 5 filters make
    gates that do not fill whole panels (the projection copied into padded rows), 8 filters
    gates that do (32 columns: the projection used as it is)."""
    from kerasrnn_infer.kernels import numba_rnn
    from kerasrnn_infer.kernels.numpy_rnn import ConvLSTMRecurrent
    if tiled:
        monkeypatch.setattr(numba_rnn, "WINDOW_TILE_BYTES", 1)     # 8 rows a tile
    rng = np.random.default_rng(rank + len(dtype) + filters)
    k = (4,) if rank == 1 else (2, 3)
    frame = (9, 3) if rank == 1 else (5, 4, 3)
    spec = CellSpec("conv_lstm", filters, A.tanh, A.sigmoid, True, False, np.dtype(dtype),
                    cells.ConvSpec(k, (1,) * rank, "same", (1,) * rank))
    shapes = spec.weight_shapes()
    shapes[0] = shapes[0][:-2] + (3, shapes[0][-1])
    w = CellWeights.of(spec, [rng.normal(0, 0.3, s).astype(dtype) for s in shapes])
    jit = recurrent_kernel([spec], [w], jit=True)
    ref = ConvLSTMRecurrent(spec, w)
    assert jit.name == "numba"
    tol = 1e-6 if dtype == "float32" else 1e-12
    for batch in (1, 3):
        x = rng.normal(0, 0.7, (batch, 6, *frame)).astype(dtype)
        sshape = (batch, *frame[:-1], filters)
        for masked, back, seqs, zero_out, init in itertools.product(
                (None, "steps", "pixels"), *[(False, True)] * 4):
            mask = None
            if masked:
                mask = _mask(rng, batch, 6)
                if masked == "pixels":
                    mask = mask.reshape(batch, 6, *([1] * rank)) & \
                        (rng.random((batch, 6, *frame[:-1])) > 0.3)
            states = [rng.normal(0, 0.5, sshape).astype(dtype) for _ in range(2)] \
                if init else None
            prev = rng.normal(0, 0.5, sshape).astype(dtype) if masked and init else None
            got = jit.run(x, states, mask, back, seqs, zero_out, prev)
            want = ref.run(x, states, mask, back, seqs, zero_out, prev)
            _close(got, want, tol)


# ----- the two halves of a Bidirectional layer in one call -------------------------------------
@pytest.mark.parametrize("kinds", [(("lstm", False), ("lstm", False)), (("gru", True), ("gru", False)),
                                   (("simple_rnn", False), ("lstm", False))])
@pytest.mark.parametrize("batch", [1, 3, 20])
@pytest.mark.parametrize("masking", ["none", "right", "left", "general"])
def test_a_pair_of_cells_in_one_call_matches_each_alone(kinds, batch, masking):
    """run_pair (one compiled call for both halves) gives each half's own results, the same
    bits as running it alone, for every mask kind (padding masks reorder the samples) and
    both directions; cells of different kinds and sizes can pair."""
    rng = np.random.default_rng(hash((kinds, batch, masking)) % 2 ** 32)
    (k1, r1), (k2, r2) = kinds
    s1, s2 = _spec(k1, r1, 5, "float32"), _spec(k2, r2, 7, "float32")
    w1, w2 = _weights(s1, 4, rng), _weights(s2, 4, rng)
    one, two = recurrent_kernel([s1], [w1], jit=True), recurrent_kernel([s2], [w2], jit=True)
    assert one.pairs_with(two)
    x = rng.normal(0, 0.7, (batch, 9, 4)).astype(np.float32)
    mask = {"none": None, "right": _padding(rng, batch, 9, False),
            "left": _padding(rng, batch, 9, True), "general": _mask(rng, batch, 9)}[masking]
    for back1, back2, seqs, zero_out in itertools.product(*[(False, True)] * 4):
        got = one.run_pair(two, x, mask, (back1, zero_out), (back2, not zero_out), seqs)
        alone = (one.run(x, None, mask, back1, seqs, zero_out),
                 two.run(x, None, mask, back2, seqs, not zero_out))
        for g, a in zip(got, alone):
            _close(g, a, 0)
        ref = cells.run([s1], [w1], x, [np.zeros((batch, n), np.float32)
                                        for n in s1.state_sizes], mask, back1, seqs, zero_out)
        _close(got[0], ref, 2e-6)


def test_a_bidirectional_layer_runs_its_halves_in_one_call():
    model = kri.load_model(_fixture_file("bidirectional_masked__keras3"), jit=True)
    layers = [l for l in model.layers if l.class_name == "Bidirectional"]
    assert layers and all(l.paired for l in layers)
    numpy_model = kri.load_model(_fixture_file("bidirectional_masked__keras3"), jit=False)
    assert not any(l.paired for l in numpy_model.layers if l.class_name == "Bidirectional")


# ----- an Embedding layer's rows looked up inside the recurrent kernel -------------------------
def _embedded_calls(monkeypatch):
    """The Embedding -> recurrent pairs that ran as one call: (executor._call_embedded, or
    the direct path's one-frame step: numba_rnn.NumbaRecurrent.direct_ids)
    ``(embedding, layer, whether it ran)`` or ``(None, None, whether it ran)``."""
    from kerasrnn_infer import executor
    ran, real = [], executor._call_embedded
    real_kernel, inside = numba_rnn.NumbaRecurrent._embed_seq, []

    def spy(emb, layer, x):
        inside.append(True)
        try:
            out = real(emb, layer, x)
        finally:
            inside.pop()
        ran.append((emb.name, layer.name, out is not None))
        return out

    def kernel_spy(self, *a):
        out = real_kernel(self, *a)
        if not inside:
            ran.append((None, None, out is not None))
        return out
    monkeypatch.setattr(executor, "_call_embedded", spy)
    monkeypatch.setattr(numba_rnn.NumbaRecurrent, "_embed_seq", kernel_spy)
    return ran


def _unfused(path):
    model = kri.load_model(path, jit=True)
    for layer in model.layers:
        layer.fused_next = None
    return model


EMBEDDED = ["embedding_bilstm_text", "embedding_lstm_tagger", "embedding_gru_unmasked",
            "embedding_bilstm_classifier", "embedding_gru_classifier"]


@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
@pytest.mark.parametrize("case", EMBEDDED)
def test_embedding_rows_looked_up_by_the_kernel_match_keras(case, writer, monkeypatch):
    """Sequential Embedding -> recurrent models (masked Bidirectional, masked LSTM with
    sequences, unmasked GRU backwards): predict runs the pair as one compiled call, gives
    Keras's outputs within 1e-5 and the same bits as the layers one by one."""
    spec, io = read_case(os.path.join(FIXTURES, f"{case}__{writer}"))
    path = _fixture_file(f"{case}__{writer}")
    ran = _embedded_calls(monkeypatch)
    got = kri.load_model(path, jit=True).predict(io["in/0"])
    assert ran and all(done for *_, done in ran), ran
    np.testing.assert_allclose(got, io["call0/out/0"], atol=1e-5, rtol=0)
    ran.clear()
    np.testing.assert_array_equal(_unfused(path).predict(io["in/0"]), got)
    assert not ran


def _ids(rng, batch, steps, pattern, vocab=30):
    ids = rng.integers(1, vocab, (batch, steps))
    if pattern in ("right", "left"):
        ids[~_padding(rng, batch, steps, pattern == "left")] = 0
    elif pattern == "gaps":
        ids[rng.random((batch, steps)) < 0.3] = 0
    return ids


@pytest.mark.parametrize("pattern", ["none", "right", "left", "gaps"])
@pytest.mark.parametrize("batch", [1, 6, 40])
def test_embedded_lookup_gives_the_layers_bits_for_every_mask_and_id_type(pattern, batch,
                                                                          monkeypatch):
    """Every mask kind (no padding, right and left padding with unsorted lengths and a
    fully padded row, gaps), batch sizes, id dtypes (int32 and int64 as given; smaller and
    unsigned ints, bools and floats cast as the Embedding layer casts them; a strided
    view): the same bits as Embedding then the recurrent layer, in every model."""
    rng = np.random.default_rng(batch * 7 + len(pattern))
    for case in EMBEDDED:
        path = _fixture_file(f"{case}__keras3")
        fused, unfused = kri.load_model(path, jit=True), _unfused(path)
        vocab = fused.layers[0].input_dim
        ids = _ids(rng, batch, 7, pattern, vocab)
        wide = np.repeat(ids, 2, axis=1)
        for x in (ids.astype(np.int32), ids, ids.astype(np.int16), ids.astype(np.uint8),
                  ids.astype(np.float32) + 0.5, wide[:, ::2], np.asfortranarray(ids),
                  (ids > 0) if case == "embedding_gru_unmasked" else ids):
            ran = _embedded_calls(monkeypatch)
            got = fused.predict(x)
            assert ran and ran[-1][2], (case, x.dtype)
            np.testing.assert_array_equal(got, unfused.predict(x), err_msg=f"{case} {x.dtype}")
            monkeypatch.undo()


@pytest.mark.parametrize("bad", [-1, 30, 2 ** 31 - 1])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_embedded_lookup_refuses_ids_outside_the_vocabulary_as_the_layer_does(bad, dtype):
    path = _fixture_file("embedding_bilstm_text__keras3")
    ids = np.array([[1, 2, 3, 4, 5, 6, 7], [1, 2, bad, 4, 0, 0, 0]], dtype)
    messages = []
    for model in (kri.load_model(path, jit=True), _unfused(path)):
        with pytest.raises(kri.InputError, match=rf"layer 'embedding' \(Embedding\): token "
                                                 rf"id {bad} is outside the vocabulary "
                                                 rf"\[0, 30\)") as e:
            model.predict(ids)
        messages.append(str(e.value))
    assert messages[0] == messages[1]


def test_embedded_lookup_leaves_layer_outputs_streaming_and_stateless_calls_alone(monkeypatch):
    """Per-layer outputs (the Embedding's own output is wanted) and streaming (states pass
    between calls) run the layers one by one; an empty batch is the layers' own answer."""
    path = _fixture_file("embedding_lstm_tagger__keras3")
    spec, io = read_case(os.path.join(FIXTURES, "embedding_lstm_tagger__keras3"))
    model = kri.load_model(path, jit=True)
    ran = _embedded_calls(monkeypatch)
    outs = model.layer_outputs(io["in/0"])
    assert not ran
    np.testing.assert_allclose(outs["embedding"], io["layer/embedding/0"], atol=1e-6, rtol=0)
    empty = model.predict(np.zeros((0, 7), np.int32))
    assert empty.shape == (0, 3) and ran and not ran[-1][2]


@pytest.mark.parametrize("pattern", ["none", "right", "left", "gaps"])
def test_the_compiled_lookup_is_prepare_of_the_looked_up_rows(pattern):
    """kernels/_numba_impl.py ``embed``: the input, mask mode, mask or counts and sample
    order that ``prepare`` makes of ``table[ids]`` and ``ids != 0``, for int32 and int64
    ids, with and without mask_zero; ``run_ids`` gives ``run``'s bits on them, declines
    other id dtypes, tables, stacked cells and what ``warm_embedded`` did not compile
    (None)."""
    from kerasrnn_infer.kernels import _numba_impl
    rng = np.random.default_rng(len(pattern))
    spec = _spec("lstm", False, 5, "float32")
    kernel = recurrent_kernel([spec], [_weights(spec, 4, rng)], jit=True)
    table = rng.normal(size=(30, 4)).astype(np.float32)
    ids = _ids(rng, 11, 8, pattern)
    for dt in (np.int32, np.int64):                     # what layers/containers.py does
        kernel.warm_embedded(np.float32, dt)
    for x in (ids, ids.astype(np.int32), np.asfortranarray(ids), np.repeat(ids, 2, 1)[:, ::2]):
        for mask_zero in (False, True):
            mask = (x != 0) if mask_zero else None
            bad, _, mode, counts, order, reordered, xt, m = _numba_impl.embed(
                np.ascontiguousarray(x), table, mask_zero)
            want_x, (want_mode, want_m, want_counts), want_order = kernel.prepare(table[x],
                                                                                  mask)
            assert not bad and mode == want_mode
            np.testing.assert_array_equal(xt, want_x)
            if mode == 1:
                np.testing.assert_array_equal(m, want_m)
            if mode == 2:
                np.testing.assert_array_equal(counts, want_counts)
            assert reordered == (want_order is not None)
            if reordered:
                np.testing.assert_array_equal(order, want_order)
            for back, seqs in itertools.product((False, True), repeat=2):
                got = kernel.run_ids(x, table, mask_zero, None, back, seqs, False)
                _close(got, kernel.run(table[x], None, mask, back, seqs, False), 0)
    for x, t in ((ids.astype(np.int16), table), (ids, table.astype(np.float64)),
                 (ids, np.asfortranarray(table)), (ids[:0], table), (ids[0], table)):
        assert kernel.run_ids(x, t, True, None, False, False, False) is None
    specs = [spec, _spec("gru", True, 3, "float32")]
    stacked = recurrent_kernel(specs, [_weights(specs[0], 4, rng), _weights(specs[1], 5, rng)],
                               jit=True)
    assert stacked.run_ids(ids, table, True, None, False, False, False) is None
    spec64 = _spec("lstm", False, 5, "float64")
    cold = recurrent_kernel([spec64], [_weights(spec64, 4, rng)], jit=True)
    compiled = (np.dtype(np.int64), np.dtype(np.float64)) in numba_rnn._EMBED_SEQ
    assert (cold.run_ids(ids, table.astype(np.float64), True, None, False, False, False)
            is None) == (not compiled)


# ----- the compiled Dense layer --------------------------------------------------------------
from kerasrnn_infer.kernels import _simd, numba_dense  # noqa: E402
def _dense_model(units, activation, dtype="float32", use_bias=True, features=6, jit=True):
    from _build import k3_layer, sequential  # noqa: I001
    cfg = sequential([
        k3_layer("InputLayer", "x", batch_shape=[None, None, features], dtype=dtype,
                 sparse=False),
        k3_layer("Dense", "dense", trainable=True, dtype=dtype, units=units,
                 activation=activation, use_bias=use_bias)])
    model = kri.model_from_json(json.dumps(cfg), jit=jit)
    rng = np.random.default_rng(units)
    weights = [rng.normal(0, 0.5, (features, units)).astype(dtype)]
    if use_bias:
        weights.append(rng.normal(0, 0.3, units).astype(dtype))
    model.layers[0].set_weights(weights)
    return model


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "relu", "hard_sigmoid",
                                        "softsign", "relu6", "softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_compiled_dense_layer_matches_the_numpy_one(activation, dtype):
    """Every compiled activation (and softmax), both dtypes, with and without a bias, on 2-D
    and 3-D inputs (and a strided view): within 1e-6 of the NumPy layer (float64: 1e-12); narrow layers
    over many rows (most of each packed panel unused) keep the NumPy layer's bits."""
    rng = np.random.default_rng(len(activation))
    for units, use_bias in ((1, True), (5, False), (40, True)):
        fast = _dense_model(units, activation, dtype, use_bias)
        slow = _dense_model(units, activation, dtype, use_bias, jit=False)
        layer = fast.layers[0]
        assert layer.compiled is not None and slow.layers[0].compiled is None
        tol = 1e-6 if dtype == "float32" else 1e-12
        for x in (rng.normal(0, 2, (1, 3, 6)), rng.normal(0, 2, (7, 4, 6)),
                  rng.normal(0, 2, (5, 8, 12))[:, ::2, ::2]):
            x = x.astype(dtype)
            got, want = fast.predict(x), slow.predict(x)
            assert got.shape == want.shape == x.shape[:2] + (units,)
            np.testing.assert_allclose(got, want, atol=tol, rtol=0)
            d = slow.layers[0]
            direct = layer.call(x[:, 0])                # 2-D, as after a recurrent layer
            np.testing.assert_allclose(direct, d.call(x[:, 0]), atol=tol, rtol=0)
        limit = layer.compiled.max_rows
        padded = -(-units // _simd.panel_width(np.dtype(dtype))) * _simd.panel_width(
            np.dtype(dtype))                                    # the packed panels' columns
        assert (limit == numba_dense.SMALL_ROWS) == (padded - units > padded / 4 or
                                                     activation == "softmax")
        if limit == numba_dense.SMALL_ROWS:                         # then the NumPy layer
            many = rng.normal(0, 2, (3, limit, 6)).astype(dtype)
            np.testing.assert_array_equal(fast.predict(many), slow.predict(many))


def test_dense_layers_without_a_compiled_form_keep_numpy():
    for activation in ("log_softmax", "gelu", "elu", "swish"):
        assert _dense_model(3, activation).layers[0].compiled is None
    assert _dense_model(3, "tanh", "float16").layers[0].compiled is None
    wide = numba_dense.MAX_INPUTS           # wider sums drift from BLAS's: NumPy's layer
    assert _dense_model(3, "tanh", features=wide).layers[0].compiled is not None
    assert _dense_model(3, "tanh", features=wide + 1).layers[0].compiled is None
