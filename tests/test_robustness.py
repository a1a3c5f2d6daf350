"""Hostile files, bad inputs and concurrency: never a crash, a hang, foreign code or a raw
exception from NumPy, h5py or zipfile."""

import io
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import kerasrnn_infer as kri
from _build import simple_rnn_model, write_keras_zip
from _cases import as_list, inputs, load, read_case
from conftest import FIXTURES, ROOT, have_tensorflow, run_in_threads

FUZZ_CASES = int(os.environ.get("KRI_FUZZ_CASES", "1500"))


def test_fuzzed_files_load_or_raise_our_error_quickly():
    """Truncation, byte flips, zeroed blocks, random data and structural zip/HDF5/JSON edits
    of real fixture files, each read by the forked reader and in-process, which must end
    alike; the harness runs in a subprocess so a crash or hang fails here."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz_files.py"),
                        "--cases", str(FUZZ_CASES), "--seed", "11", "--paired"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{FUZZ_CASES} passed, 0 failed" in r.stdout


def test_hdf5_links_are_not_followed(tmp_path):
    src = os.path.join(FIXTURES, "rnn_basic__tf_keras", "model.h5")
    for kind in ("soft", "external"):
        p = tmp_path / f"{kind}.h5"
        p.write_bytes(open(src, "rb").read())
        with h5py.File(p, "r+") as f:
            g = f["model_weights"]["lstm"]["lstm"]["lstm_cell"]
            del g["kernel:0"]
            g["kernel:0"] = (h5py.SoftLink("/model_weights/gru/gru/gru_cell/kernel:0")
                             if kind == "soft" else h5py.ExternalLink("/etc/passwd", "/x"))
        with pytest.raises(kri.ModelFileError, match=f"{kind}.h5: .*is a link"):
            kri.load_model(p)


def test_zip_bomb_is_refused(tmp_path):
    cfg, tree = simple_rnn_model()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}' +
                   " " * (200 << 20))
    path = tmp_path / "bomb.keras"
    path.write_bytes(bomb.getvalue())
    assert path.stat().st_size < 1 << 20
    with pytest.raises(kri.ModelFileError, match="bomb.keras: archive member config.json"):
        kri.load_model(path)


def test_absurd_declared_shape_is_refused(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    data = zipfile.ZipFile(path).read("model.weights.h5")
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        del f["layers/simple_rnn/cell/vars/0"]
        f["layers/simple_rnn/cell/vars"].create_dataset("0", shape=(1 << 20, 1 << 12),
                                                         dtype="f8")   # 32 GB, nothing stored
    write_keras_zip(tmp_path / "big.keras", cfg, tree, {"model.weights.h5": buf.getvalue()})
    with pytest.raises(kri.ModelFileError, match="declares .* bytes"):
        kri.load_model(tmp_path / "big.keras")


def _model(case="rnn_basic__keras3"):
    d = os.path.join(FIXTURES, case)
    spec, io_ = read_case(d)
    return load(d, spec["load"]), io_


def test_numeric_dtypes_are_cast_as_keras_casts_them():
    model, io_ = _model()
    x = io_["in/0"]
    want = as_list(model.predict(x))
    for got in (model.predict(x.astype(np.float64)), model.predict(x.tolist())):
        for g, w in zip(as_list(got), want):
            np.testing.assert_array_equal(g, w)
    ints = as_list(model.predict((x * 4).astype(np.int16)))
    assert ints[0].dtype == np.float32


def test_nan_and_inf_propagate():
    model, io_ = _model()
    x = io_["in/0"].copy()
    x[0, 2, 1] = np.nan
    x[1, 3, 0] = np.inf
    outs = as_list(model.predict(x))
    assert np.isnan(outs[0][0, 2:]).all() and not np.isnan(outs[0][2]).any()


def test_empty_batch_gives_empty_outputs():
    for case in ("rnn_basic__keras3", "graph_multi_io__tf_keras", "bidirectional_masked__keras3",
                 "embedding_td_repeat__keras3"):
        model, io_ = _model(case)
        xs = as_list(inputs(io_))
        full = as_list(model.predict(xs if len(xs) > 1 else xs[0]))
        empty = as_list(model.predict([x[:0] for x in xs] if len(xs) > 1 else xs[0][:0]))
        assert [e.shape for e in empty] == [(0,) + f.shape[1:] for f in full]


def test_bad_inputs_name_the_input_and_expected_shape():
    model, io_ = _model("graph_multi_io__keras3")
    seq, ids = io_["in/0"], io_["in/1"]
    with pytest.raises(kri.InputError, match=r"input 'seq' expects shape \(None, 7, 4\)"):
        model.predict([seq[:, :, :3], ids])
    with pytest.raises(kri.InputError, match="expects 2 inputs"):
        model.predict([seq])
    with pytest.raises(kri.InputError, match="different batch sizes"):
        model.predict([seq, ids[:1]])
    with pytest.raises(kri.InputError, match="missing \\['ids'\\]"):
        model.predict({"seq": seq})
    with pytest.raises(kri.InputError, match="token id 99 is outside the vocabulary"):
        model.predict([seq, np.full_like(ids, 99)])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32,
                                   np.uint64])
@pytest.mark.parametrize("bad", [-1, -128, 99, 2 ** 31 + 5])
def test_out_of_vocabulary_ids_are_refused_in_every_integer_width(dtype, bad):
    # Embedding looks ids up in one pass (ids narrower than 8 bytes seen unsigned): a
    # negative id must be refused as surely as a too large one, never wrap around
    model, io_ = _model("graph_multi_io__keras3")
    seq, ids = io_["in/0"], io_["in/1"]
    info = np.iinfo(dtype)
    if not info.min <= bad <= info.max:
        pytest.skip(f"{bad} is not a {np.dtype(dtype).name}")
    good = model.predict([seq, ids.astype(dtype)])
    np.testing.assert_array_equal(as_list(good)[0], as_list(model.predict([seq, ids]))[0])
    wrong = ids.astype(dtype)
    wrong[0, 0] = bad
    # the model's input is int32: larger ids arrive cast to it (as in Keras), still refused
    shown = bad if bad < 2 ** 31 else bad - 2 ** 32
    with pytest.raises(kri.InputError, match=f"token id {shown} is outside the vocabulary"):
        model.predict([seq, wrong])


def test_read_only_and_strided_inputs_give_the_same_numbers():
    # one sample's time-major view is used in place (no copy) when it is contiguous: a
    # read-only or a strided input must give the numbers of a fresh copy
    model, io_ = _model("bidirectional_masked__keras3")
    x = np.ascontiguousarray(io_["in/0"])
    expected = [as_list(model.predict(x[i:i + 1].copy()))[0] for i in range(len(x))]
    ro = x.copy()
    ro.flags.writeable = False
    for i in range(len(x)):
        np.testing.assert_array_equal(as_list(model.predict(ro[i:i + 1]))[0], expected[i])
    wide = np.repeat(x, 2, axis=0)[::2]                      # every other row: strided
    np.testing.assert_array_equal(as_list(model.predict(wide))[0],
                                  np.concatenate(expected))


def test_many_threads_give_serial_results_bit_for_bit():
    model, io_ = _model("bidirectional_masked__keras3")
    x = io_["in/0"]
    rng = np.random.default_rng(0)
    batches = [x[rng.permutation(len(x))[:rng.integers(1, len(x) + 1)]] for _ in range(16)]
    serial = [as_list(model.predict(b)) for b in batches]
    errors = []

    def worker(seed):
        order = np.random.default_rng(seed).integers(0, len(batches), 200)
        for k in order:
            got = as_list(model.predict(batches[k]))
            if not all(np.array_equal(g, s) for g, s in zip(got, serial[k])):
                errors.append(k)

    run_in_threads(worker, 8)
    assert not errors


@pytest.mark.parametrize("case", ["bidirectional_masked__keras3", "return_state_initial_state__tf_keras",
                                  "rnn_cells__keras3", "stream_masked__keras3"])
def test_buffers_reused_between_calls_carry_nothing_over(case):
    """Small per-call buffers are kept per thread for the next call: a call's result must not
    depend on the calls before it, whatever their batch size or data."""
    model, io_ = _model(case)
    xs = as_list(inputs(io_))
    run = lambda arrays: as_list(model.predict(arrays if len(arrays) > 1 else arrays[0]))
    first = run(xs)
    rng = np.random.default_rng(3)
    for n in (1, len(xs[0]), 2, len(xs[0])):
        other = [rng.permutation(x)[:n] if x.dtype.kind == "f" else x[:n] for x in xs]
        run(other)
        again = run(xs)
        assert all(np.array_equal(a, b) for a, b in zip(again, first))
    fresh, _ = _model(case)
    assert all(np.array_equal(a, b) for a, b in zip(as_list(fresh.predict(
        xs if len(xs) > 1 else xs[0])), first))


@pytest.mark.parametrize("case", ["rnn_basic__keras3", "rnn_cells__tf_keras",
                                  "bidirectional__keras3"])
def test_new_weights_take_effect_after_buffers_were_kept(case):
    """Kept buffers refer to weights: set_weights / load_weights must not leave a thread
    computing with the old ones."""
    model, io_ = _model(case)
    xs = as_list(inputs(io_))
    x1 = [x[:1] for x in xs]
    run = lambda m, arrays: as_list(m.predict(arrays if len(arrays) > 1 else arrays[0]))
    before = run(model, x1)                       # frames for batch 1 are kept now
    fresh, _ = _model(case)
    for m in (model, fresh):
        for layer in m.layers:
            w = layer.get_weights()
            if w:
                layer.set_weights([a * a.dtype.type(0.75) for a in w])
    want = run(fresh, x1)
    got = run(model, x1)
    assert not all(np.array_equal(a, b) for a, b in zip(before, want))
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_numpy_global_state_is_untouched():
    before = np.geterr()
    model, io_ = _model("mask_embedding__keras3")     # its masked mean divides 0 by 0
    model.predict(io_["in/0"])
    assert np.geterr() == before


LAMBDA_SRC = r"""
import os, sys
flag = sys.argv[1]
out = sys.argv[2]
os.environ["KERAS_BACKEND"] = "tensorflow"
writer = sys.argv[3]
if writer == "keras3":
    import keras as K
else:
    import tf_keras as K

def side_effect(x):
    open(flag, "w").write("ran")
    return x * 2.0

x = K.Input((3, 2))
y = K.layers.Lambda(side_effect)(K.layers.LSTM(2, return_sequences=True)(x))
K.Model(x, y).save(out)
"""


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("writer,name", [("keras3", "m.keras"), ("keras3", "m.h5"),
                                         ("tf_keras", "m.h5"), ("tf_keras", "m.keras")])
def test_lambda_models_are_refused_without_running_their_code(tmp_path, writer, name):
    flag, out = tmp_path / "flag", tmp_path / name
    script = tmp_path / "make.py"
    script.write_text(LAMBDA_SRC)
    r = subprocess.run([sys.executable, str(script), str(flag), str(out), writer],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if not out.exists():
        pytest.skip(f"{writer} could not save {name}: {r.stderr[-300:]}")
    flag.unlink(missing_ok=True)           # Keras ran the function while building the model
    with pytest.raises(kri.UnsafeModelError, match="is a Lambda.*custom_objects"):
        kri.load_model(out)
    assert not flag.exists(), "the Lambda's code ran"
