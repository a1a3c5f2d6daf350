"""The kerasrnn-infer command line (info, predict, verify, golden, demo) and the testing API
(kerasrnn_infer.testing.assert_matches_keras).

Most tests need no TensorFlow: ``verify --golden`` compares against the fixtures' io.npz
(the golden layout). Tests marked ``live`` run real Keras and are skipped without it."""

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer import cli
from kerasrnn_infer.testing import (assert_matches_keras, compare_with_keras, generate_inputs,
                                    read_golden)
from kerasrnn_infer.testing.compare import compare_arrays

from conftest import FIXTURES, REALWORLD, ROOT, have_tensorflow

live = [pytest.mark.live,
        pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")]

RNN_K3 = os.path.join(FIXTURES, "rnn_basic__keras3")          # stacked SimpleRNN/LSTM/GRU
RNN_TFK = os.path.join(FIXTURES, "rnn_basic__tf_keras")
MULTI = os.path.join(FIXTURES, "graph_multi_io__keras3")       # inputs seq (float), ids (int)
BIDI_M = os.path.join(FIXTURES, "bidirectional_masked__tf_keras")

# Run the CLI with TensorFlow, Keras and tf_keras made unimportable (as on a fresh install).
NO_TF = ("import sys; sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'tf_keras'])); "
         "from kerasrnn_infer.cli import main; rc = main(sys.argv[1:]); "
         "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')"
         " and sys.modules[m] is not None]; assert not bad, bad; sys.exit(rc)")


def run(*args, stdin=None, no_tf=False, cwd=None, timeout=300):
    cmd = [sys.executable, "-c", NO_TF] if no_tf else [sys.executable, "-m", "kerasrnn_infer"]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(cmd + [str(a) for a in args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def io_npz(d):
    return dict(np.load(os.path.join(d, "io.npz")))


def one_line_error(r):
    """The process failed with exit 2 and exactly one 'kerasrnn-infer: error:' line."""
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("kerasrnn-infer: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


# ----- corrupted copies -------------------------------------------------------------------------
def corrupt_keras_zip(src, dst, dataset="layers/gru/cell/vars/1", delta=0.5):
    """Copy a .keras archive, adding ``delta`` to one dataset of its model.weights.h5."""
    with zipfile.ZipFile(src) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        f[dataset][...] = f[dataset][...] + delta
    members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as zout:
        for n, data in members.items():
            zout.writestr(n, data)
    return str(dst)


def corrupt_h5(src, dst, dataset="model_weights/gru/gru/gru_cell/recurrent_kernel:0",
               delta=0.5):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        f[dataset][...] = f[dataset][...] + delta
    return str(dst)


@pytest.fixture
def corrupted_keras(tmp_path):
    """rnn_basic (Keras 3): the GRU 'gru', third of eight recurrent layers, is corrupted."""
    return corrupt_keras_zip(os.path.join(RNN_K3, "model.keras"), tmp_path / "bad.keras")


# ===============================================================================================
# help, import hygiene, usage errors
# ===============================================================================================
def test_help_without_tensorflow():
    r = run("--help", no_tf=True)
    assert r.returncode == 0, r.stderr
    for cmd in ("info", "predict", "verify", "golden", "demo"):
        assert cmd in r.stdout
    for cmd in ("info", "predict", "verify", "golden", "demo"):
        r = run(cmd, "--help", no_tf=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"usage: kerasrnn-infer {cmd}")


def test_help_in_process(capsys):
    for argv in (["--help"], ["verify", "--help"], ["predict", "-h"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0
    assert "--golden" in capsys.readouterr().out


def test_importing_cli_and_testing_never_imports_tensorflow():
    code = ("import sys, kerasrnn_infer.cli, kerasrnn_infer.testing, kerasrnn_infer.arrays_io, "
            "kerasrnn_infer.testing.keras_ref; "
            "kerasrnn_infer.cli.build_parser(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras', 'jax', 'torch')); print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("argv,needle", [
    ([], None),                                              # no subcommand: help, exit 2
    (["frobnicate"], "invalid choice"),
    (["predict", os.path.join(RNN_K3, "model.keras")], "required"),
    (["verify", os.path.join(RNN_K3, "model.keras"), "--atol", "abc"], "invalid float"),
])
def test_usage_errors_exit_2(argv, needle, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    if needle:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("kerasrnn-infer:")


def test_bad_files_give_one_line_errors(tmp_path):
    model = os.path.join(RNN_K3, "model.keras")
    assert "no such file" in one_line_error(run("info", tmp_path / "missing.keras"))
    junk = tmp_path / "junk.h5"
    junk.write_text("not a model at all\n")
    assert "junk.h5" in one_line_error(run("info", junk))
    bad_in = tmp_path / "x.npy"
    np.save(bad_in, np.zeros((2, 3, 9), np.float32))                     # wrong feature size
    msg = one_line_error(run("predict", model, "--input", bad_in))
    assert "expects shape" in msg and "(2, 3, 9)" in msg
    msg = one_line_error(run("verify", model, "--golden", bad_in))        # not an .npz
    assert "golden" in msg
    msg = one_line_error(run("predict", model, "--input", "-", stdin="[[1, 2"))
    assert "JSON" in msg
    msg = one_line_error(run("predict", model, "--input", bad_in, "--batch-size", "0"))
    assert "positive" in msg


def test_debug_shows_traceback(tmp_path):
    r = run("--debug", "info", os.path.join(FIXTURES, "rnn_basic__keras3", "case.json"))
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = run("info", os.path.join(FIXTURES, "rnn_basic__keras3", "case.json"), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


# ===============================================================================================
# info
# ===============================================================================================
def test_info_masked_bidirectional():
    r = run("info", os.path.join(BIDI_M, "model.h5"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "legacy-h5" in out and "2.21.0" in out
    assert "ids" in out and "(None, 7)" in out and "int32" in out
    for needle in ("embedding", "Embedding", "mask_zero", "vocab=20", "bi_gru", "Bidirectional",
                   "return_state", "return_sequences", "(None, 7, 8)", "288", "683"):
        assert needle in out, needle


def test_info_keras3_options(capsys):
    assert cli.main(["info", os.path.join(FIXTURES, "stateful__keras3", "model.keras")]) == 0
    out = capsys.readouterr().out
    assert "keras-zip" in out and "3.15.1" in out and "stateful" in out
    assert "(2, None, 3)" in out                                      # fixed batch, any length
    assert cli.main(["info", os.path.join(FIXTURES, "go_backwards__keras3", "model.keras")]) == 0
    assert "go_backwards" in capsys.readouterr().out


# ===============================================================================================
# predict
# ===============================================================================================
def test_predict_npy_in_npy_out(tmp_path):
    d = os.path.join(FIXTURES, "go_backwards__keras3")
    io_ = io_npz(d)
    n_out = sum(1 for k in io_ if k.startswith("call0/out/"))
    np.save(tmp_path / "x.npy", io_["in/0"])
    ext = ".npy" if n_out == 1 else ".npz"
    r = run("predict", os.path.join(d, "model.keras"), "--input", tmp_path / "x.npy",
            "--output", tmp_path / f"y{ext}")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / f"y{ext}")
    ys = [got] if ext == ".npy" else [got[k] for k in got.files]
    for j, y in enumerate(ys):
        np.testing.assert_allclose(y, io_[f"call0/out/{j}"], atol=1e-5)


def test_predict_npz_multi_input_by_name_and_order(tmp_path):
    io_ = io_npz(MULTI)
    model = os.path.join(MULTI, "model.keras")
    names = [s.name for s in kri.load_model(model).inputs]
    np.savez(tmp_path / "by_name.npz", **{names[1]: io_["in/1"], names[0]: io_["in/0"]})
    np.savez(tmp_path / "by_order.npz", io_["in/0"], io_["in/1"])
    for src in ("by_name.npz", "by_order.npz"):
        out = tmp_path / f"out_{src}"
        r = run("predict", model, "-i", tmp_path / src, "-o", out)
        assert r.returncode == 0, r.stderr
        got = np.load(out)
        assert len(got.files) == sum(1 for k in io_ if k.startswith("call0/out/"))
        for j, k in enumerate(got.files):
            np.testing.assert_allclose(got[k], io_[f"call0/out/{j}"], atol=1e-5)
    # the golden / io.npz layout (in/0, in/1, ...) is accepted too
    assert cli.main(["predict", model, "-i", os.path.join(MULTI, "io.npz"),
                     "-o", str(tmp_path / "o.json")]) == 0


def test_predict_json_file_and_stdin(tmp_path):
    io_ = io_npz(RNN_K3)
    model = os.path.join(RNN_K3, "model.keras")
    x = io_["in/0"]
    (tmp_path / "x.json").write_text(json.dumps(x.tolist()))
    r = run("predict", model, "-i", tmp_path / "x.json", "-o", tmp_path / "y.json")
    assert r.returncode == 0, r.stderr
    from_file = json.loads((tmp_path / "y.json").read_text())
    r = run("predict", model, "-i", "-", stdin=json.dumps({"x": x.tolist()}))
    assert r.returncode == 0, r.stderr
    from_stdin = json.loads(r.stdout)
    spec_names = [s.name for s in kri.load_model(model).outputs]
    for got in (from_file, from_stdin):
        assert list(got) == spec_names
        for j, name in enumerate(spec_names):
            np.testing.assert_allclose(np.array(got[name]), io_[f"call0/out/{j}"], atol=1e-5)


def test_predict_multi_output_layer_keys_and_batch_size(tmp_path):
    io_ = io_npz(BIDI_M)
    np.save(tmp_path / "ids.npy", io_["in/0"])
    r = run("predict", os.path.join(BIDI_M, "model.h5"), "-i", tmp_path / "ids.npy",
            "-o", tmp_path / "y.npz", "--batch-size", "2")
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "y.npz")
    assert got.files == ["head", "bi_gru/0", "bi_gru/1", "bi_gru/2", "bi_srnn/0", "bi_srnn/1"]
    for j, k in enumerate(got.files):
        np.testing.assert_allclose(got[k], io_[f"call0/out/{j}"], atol=1e-5)
    # one output only fits .npy
    msg = one_line_error(run("predict", os.path.join(BIDI_M, "model.h5"),
                             "-i", tmp_path / "ids.npy", "-o", tmp_path / "y.npy"))
    assert ".npz" in msg


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    s = Tty()
    bar = cli._Progress(10, s)
    bar.update(5)
    bar.close()
    assert "5/10" in s.getvalue()
    s = io.StringIO()
    bar = cli._Progress(10, s)
    bar.update(5)
    assert s.getvalue() == ""


def test_chunked_predict_equals_whole(monkeypatch):
    model = kri.load_model(os.path.join(MULTI, "model.keras"))
    io_ = io_npz(MULTI)
    xs = [np.repeat(io_["in/0"], 4, 0), np.repeat(io_["in/1"], 4, 0)]
    """The CLI's batches are predict's: bit-identical to predict(batch_size=5), and within
    float rounding of one whole batch (a row's float32 result may depend on the batch it is
    computed in: BLAS kernels, and the compiled kernel's choices by batch size)."""
    whole = model.predict(xs)
    same = model.predict(xs, batch_size=5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    parts = cli._predict(model, xs, batch_size=5)
    for a, b, w in zip(same, parts, whole):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(b, w, atol=1e-6, rtol=0)


# ===============================================================================================
# generated inputs
# ===============================================================================================
def test_generate_inputs_respects_embeddings_masks_and_fixed_batches():
    m = kri.load_model(os.path.join(FIXTURES, "stream_masked__keras3", "model.keras"))
    ids, x = generate_inputs(m)
    assert ids.shape == (4, 7) and ids.dtype == np.int32 and x.shape == (4, 7, 3)
    emb = m.get_layer("embedding")
    assert emb.mask_zero and ids.min() >= 0 and ids.max() < emb.input_dim
    assert (ids[0] != 0).all()                                 # a full row
    padded = [r for r in ids if (r == 0).any()]
    assert padded and all(r[0] != 0 for r in padded)           # padding only at the end
    for r in padded:
        k = int(np.argmax(r == 0))
        assert (r[k:] == 0).all()
    assert (x[1, -1] == 0).all()                              # Masking(0.0): masked steps
    # unknown time dims -> steps; fixed batch sizes win
    m = kri.load_model(os.path.join(FIXTURES, "stateful__keras3", "model.keras"))
    (x,) = generate_inputs(m, batch=9, steps=5)
    assert x.shape == (2, 5, 3) and x.dtype == np.float32
    # float inputs: N(0, 0.5)
    m = kri.load_model(os.path.join(RNN_K3, "model.keras"))
    (x,) = generate_inputs(m, batch=64)
    assert x.shape == (64, 7, 4) and 0.4 < x.std() < 0.6


@pytest.mark.skipif(not os.path.isdir(REALWORLD), reason="real-world corpus absent")
def test_generate_inputs_float_token_inputs():
    p = os.path.join(REALWORLD, "varun_translit_seq2seq_keras392", "seq2seq_model.h5")
    if not os.path.exists(p):
        pytest.skip("varun_translit_seq2seq_keras392 absent")
    m = kri.load_model(p)
    xs = generate_inputs(m)
    for x in xs:                                  # float32 inputs that feed Embeddings
        assert x.shape == (4, 8) and (x == np.round(x)).all() and x.min() >= 0 and x.max() < 90
    m.predict(xs)


# ===============================================================================================
# verify against golden files (no TensorFlow)
# ===============================================================================================
@pytest.mark.parametrize("case,fname", [("rnn_basic__keras3", "model.keras"),
                                        ("bidirectional_masked__tf_keras", "model.h5"),
                                        ("graph_shared__keras3", "model.keras"),
                                        ("stateful__tf_keras", "model.h5")])
def test_verify_golden_passes(case, fname, capsys):
    d = os.path.join(FIXTURES, case)
    rc = cli.main(["verify", os.path.join(d, fname), "--golden", os.path.join(d, "io.npz")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "max abs err" in out and "PASS" in out and "FAIL" not in out


def test_verify_golden_subprocess_without_tensorflow_and_json():
    r = run("verify", os.path.join(BIDI_M, "model.h5"), "--golden",
            os.path.join(BIDI_M, "io.npz"), "--json", no_tf=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["passed"] and rep["first_divergence"] is None
    names = [row["name"] for row in rep["rows"] if row["kind"] == "layer"]
    assert names == ["ids", "embedding", "bi_lstm", "gru", "head", "bi_gru", "bi_srnn"]


def test_verify_without_tensorflow_needs_golden():
    msg = one_line_error(run("verify", os.path.join(RNN_K3, "model.keras"), no_tf=True))
    assert "not installed" in msg and "--golden" in msg


def test_verify_corrupted_keras_zip_names_the_layer(corrupted_keras, capsys):
    rc = cli.main(["verify", corrupted_keras, "--golden", os.path.join(RNN_K3, "io.npz")])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "first divergence: gru\n" in out
    rows = {l.split()[0]: l for l in out.splitlines() if l.split()}
    assert "PASS" in rows["simple_rnn"] and "PASS" in rows["lstm"]
    assert "FAIL" in rows["gru"] and "GRU" in rows["gru"]


def test_verify_corrupted_legacy_h5_subprocess(tmp_path):
    bad = corrupt_h5(os.path.join(RNN_TFK, "model.h5"), tmp_path / "bad.h5")
    r = run("verify", bad, "--golden", os.path.join(RNN_TFK, "io.npz"), no_tf=True)
    assert r.returncode == 1, r.stderr
    assert "first divergence: gru" in r.stdout
    r = run("verify", bad, "--golden", os.path.join(RNN_TFK, "io.npz"), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["first_divergence"] == "gru"


def test_verify_tolerance_options(corrupted_keras):
    # a large enough tolerance accepts the corruption
    r = run("verify", corrupted_keras, "--golden", os.path.join(RNN_K3, "io.npz"),
            "--atol", "100", "--rtol", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    msg = one_line_error(run("verify", corrupted_keras, "--golden",
                             os.path.join(RNN_K3, "io.npz"), "--atol", "-1"))
    assert "--atol" in msg


def test_verify_golden_with_wrong_model_fails(capsys):
    # a golden of another model: layer names and shapes do not fit -> mismatch, not a crash
    rc = cli.main(["verify", os.path.join(FIXTURES, "rnn_no_bias__keras3", "model.keras"),
                   "--golden", os.path.join(RNN_K3, "io.npz")])
    out = capsys.readouterr()
    assert rc in (1, 2), out
    if rc == 2:
        assert out.err.startswith("kerasrnn-infer: error:")


def test_compare_arrays_rules():
    a = np.array([1.0, 2.0, np.nan])
    assert compare_arrays(a, a.copy(), 1e-5, 1e-5)[2]
    abs_err, rel_err, ok, _ = compare_arrays(a + [0, 1e-3, 0], a, 1e-5, 1e-5)
    assert not ok and abs(abs_err - 1e-3) < 1e-12 and abs(rel_err - 5e-4) < 1e-12
    assert not compare_arrays(np.zeros(3), np.zeros(4), 1, 1)[2]
    assert not compare_arrays(np.array([0.0, 1.0]), np.array([np.nan, 1.0]), 1, 1)[2]


# ===============================================================================================
# testing API with golden files
# ===============================================================================================
def test_assert_matches_keras_golden_passes_and_fails(corrupted_keras):
    golden = os.path.join(RNN_K3, "io.npz")
    report = assert_matches_keras(os.path.join(RNN_K3, "model.keras"), golden=golden)
    assert report.passed and report.max_abs_err < 1e-5
    with pytest.raises(AssertionError) as e:
        assert_matches_keras(corrupted_keras, golden=golden)
    msg = str(e.value)
    assert "first divergence: gru" in msg
    assert "max abs err" in msg and "max rel err" in msg and "FAIL" in msg
    # a tolerance large enough passes; the report is returned
    assert assert_matches_keras(corrupted_keras, golden=golden, atol=100).passed


def test_compare_with_keras_golden_and_explicit_inputs_conflict():
    with pytest.raises(ValueError):
        compare_with_keras(os.path.join(RNN_K3, "model.keras"),
                           golden=os.path.join(RNN_K3, "io.npz"),
                           inputs=io_npz(RNN_K3)["in/0"])


# ===============================================================================================
# demo
# ===============================================================================================
def test_demo_subprocess_without_tensorflow():
    r = run("demo", no_tf=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "FAIL" not in r.stdout
    assert "max abs error" in r.stdout


def test_demo_data_is_small_and_golden():
    data = os.path.join(ROOT, "kerasrnn_infer", "data")
    assert os.path.getsize(os.path.join(data, "demo.keras")) < 200_000
    ref = read_golden(os.path.join(data, "demo_io.npz"))
    assert ref.inputs and ref.outputs and ref.layers


def test_pyproject_declares_script_and_package_data():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert 'kerasrnn-infer = "kerasrnn_infer.cli:main"' in text
    assert "data/*.keras" in text and "data/*.npz" in text


# ===============================================================================================
# live: real Keras
# ===============================================================================================
LIVE_FIXTURES = [("rnn_basic__keras3", "model.keras"),
                 ("embedding_td_repeat__tf_keras", "model.h5"),
                 ("graph_nested__keras3", "model.keras"), ("stateful__tf_keras", "model.h5")]


@pytest.mark.parametrize("case,fname", LIVE_FIXTURES, ids=[c for c, _ in LIVE_FIXTURES])
@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_verify_fixture(case, fname, capsys):
    rc = cli.main(["verify", os.path.join(FIXTURES, case, fname)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASS" in out and ("against Keras" in out or "against tf_keras" in out)


LIVE_REALWORLD = ["deepak_stacked_gru_keras3150", "gingerk_simplernn_ts"]


@pytest.mark.parametrize("case", LIVE_REALWORLD)
@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_verify_realworld(case, capsys):
    d = os.path.join(REALWORLD, case)
    if not os.path.isfile(os.path.join(d, "case.json")):
        pytest.skip(f"{case} absent from {REALWORLD}")
    spec = json.load(open(os.path.join(d, "case.json")))
    rc = cli.main(["verify", os.path.join(d, spec["load"]["path"])])
    out = capsys.readouterr().out
    assert rc == 0, out


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_verify_subprocess_exit_code():
    r = run("verify", os.path.join(FIXTURES, "rnn_no_bias__keras3", "model.keras"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    assert "oneDNN" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_golden_then_verify_without_tensorflow(tmp_path, capsys):
    model = os.path.join(FIXTURES, "mask_embedding__keras3", "model.keras")
    golden = tmp_path / "golden.npz"
    assert cli.main(["golden", model, "--out", str(golden), "--batch", "3", "--steps", "5"]) == 0
    assert "wrote" in capsys.readouterr().out
    z = np.load(golden)
    assert z["in/0"].shape == (3, 7) and "call0/out/0" in z.files        # time fixed at 7
    assert any(k.startswith("layer/embedding/") for k in z.files)
    r = run("verify", model, "--golden", golden, no_tf=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # ... and the corrupted copy diverges from it at the layer that was changed
    bad = corrupt_keras_zip(model, tmp_path / "bad.keras", "layers/lstm/cell/vars/1")
    r = run("verify", bad, "--golden", golden, no_tf=True)
    assert r.returncode == 1 and "first divergence: lstm" in r.stdout


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_golden_with_input_file(tmp_path):
    io_ = io_npz(MULTI)
    np.savez(tmp_path / "x.npz", ids=io_["in/1"], seq=io_["in/0"])   # by name, any order
    golden = tmp_path / "g.npz"
    assert cli.main(["golden", os.path.join(MULTI, "model.keras"), "-i", str(tmp_path / "x.npz"),
                     "--out", str(golden)]) == 0
    z = np.load(golden)
    np.testing.assert_array_equal(z["in/1"], io_["in/1"])
    np.testing.assert_allclose(z["call0/out/0"], io_["call0/out/0"], atol=1e-6)


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_assert_matches_keras(tmp_path):
    d = os.path.join(FIXTURES, "rnn_no_bias__tf_keras")      # SimpleRNN -> LSTM -> GRU -> ...
    report = assert_matches_keras(os.path.join(d, "model.h5"))
    assert report.passed and "tf_keras" in report.reference
    # the corrupted copy against Keras's outputs of the original: AssertionError with the table
    bad = corrupt_h5(os.path.join(d, "model.h5"), tmp_path / "bad.h5")
    with pytest.raises(AssertionError) as e:
        assert_matches_keras(bad, golden=os.path.join(d, "io.npz"))
    msg = str(e.value)
    assert "first divergence: gru" in msg and "FAIL" in msg and "max abs err" in msg


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_assert_matches_keras_catches_a_wrong_numpy_layer():
    """A (deliberately wrong) NumPy implementation supplied through custom_objects differs
    from real Keras, and the table names it."""
    def bad_pooling(config, weights):
        return lambda x, mask=None: x.mean(axis=1) + 0.01       # ignores the mask, and more
    model = os.path.join(FIXTURES, "mask_embedding__keras3", "model.keras")
    with pytest.raises(AssertionError) as e:
        assert_matches_keras(model, custom_objects={"GlobalAveragePooling1D": bad_pooling})
    msg = str(e.value)
    assert "FAIL" in msg and "first divergence: global_average_pooling1d" in msg


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_keras_cannot_load_old_file(capsys):
    d = os.path.join(REALWORLD, "dl4j_simple_lstm_keras122_tf")
    if not os.path.isdir(d):
        pytest.skip("Keras 1 real-world file absent")
    model = os.path.join(d, "simple_lstm_tf_keras_1_model.h5")
    assert cli.main(["verify", model]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasrnn-infer: error: no installed Keras can load") and \
        err.count("\n") == 1
    assert "written by Keras 1." in err and f"kerasrnn-infer golden {model} --out" in err and \
        f"kerasrnn-infer verify {model} --golden golden.npz" in err
    assert cli.main(["verify", model, "--golden", os.path.join(d, "io.npz")]) == 0
