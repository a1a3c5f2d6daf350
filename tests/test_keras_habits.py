"""What a Keras user (and an onnxruntime user) reaches for (issue 18): Keras's model and layer
attributes, its predict keywords and progress, its exceptions, choosing outputs, and the
parity API taking a loaded Model or a JSON + weights pair. Shapes and numbers are checked
against what Keras recorded in the fixtures."""

import inspect
import json
import os
import re
import sys

import numpy as np
import pytest

import kerasrnn_infer as kri
from _cases import as_list, check_model, inputs, read_case
from conftest import FIXTURES, have_tensorflow

live = [pytest.mark.live,
        pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")]

MULTI = os.path.join(FIXTURES, "graph_multi_io__keras3")      # inputs seq, ids; 3 outputs
NESTED_SEQ = os.path.join(FIXTURES, "graph_nested_sequential__tf_keras")   # json + weights
RNN = os.path.join(FIXTURES, "rnn_basic__keras3")


def _load(d):
    spec, io = read_case(d)
    return kri.load_model(os.path.join(d, spec["load"]["path"])), spec, io


# ----- exceptions Keras users catch ---------------------------------------------------------
def test_get_layer_errors_are_value_errors_naming_the_layers():
    model, _, _ = _load(MULTI)
    with pytest.raises(ValueError) as e:
        model.get_layer("nope")
    assert isinstance(e.value, kri.ArgumentError) and isinstance(e.value, kri.KerasRnnInferError)
    assert "'nope'" in str(e.value) and "concatenate" in str(e.value)
    with pytest.raises(ValueError, match="out of range"):
        model.get_layer(index=len(model.layers))
    with pytest.raises(ValueError, match="name or an index"):
        model.get_layer()
    assert model.get_layer(index=-1) is model.layers[-1]
    assert model.get_layer("gru").name == "gru"


def test_bad_inputs_are_value_errors_as_in_keras():
    model, _, _ = _load(RNN)
    with pytest.raises(ValueError) as e:
        model.predict(np.zeros((2, 7, 5), np.float32))          # 5 features, expects 4
    assert isinstance(e.value, kri.InputError) and "(None, 7, 4)" in str(e.value)


# ----- Keras's attributes -------------------------------------------------------------------
def test_model_shapes_and_names_follow_keras_conventions():
    model, _, io = _load(MULTI)
    assert model.input_names == ["seq", "ids"]
    assert model.input_shape == [(None, 7, 4), (None, 7)]             # several: a list
    assert model.input_shape == [(None,) + io[f"in/{i}"].shape[1:] for i in range(2)]
    assert model.output_shape == [(None,) + io[f"call0/out/{j}"].shape[1:] for j in range(3)]
    single, _, io1 = _load(RNN)
    assert single.input_shape == (None, 7, 4)                         # one: a tuple
    assert isinstance(single.output_shape, list) and len(single.output_shape) == 5
    assert single.output_shape[0] == (None,) + io1["call0/out/0"].shape[1:]


def test_layer_shapes_match_the_outputs_keras_recorded():
    model, _, io = _load(MULTI)
    recorded = {}
    for k, v in io.items():
        if k.startswith("layer/"):
            _, name, j = k.split("/")
            recorded.setdefault(name, {})[int(j)] = (None,) + v.shape[1:]
    for name, outs in recorded.items():
        got = model.get_layer(name).output_shape
        want = [outs[j] for j in sorted(outs)]
        assert got == (want[0] if len(want) == 1 else want), name
    # inputs: the tensors each layer reads, in Keras's conventions
    assert model.get_layer("concatenate").input_shape == [recorded["lstm"][0],
                                                          recorded["srnn"][0]]
    assert model.get_layer("embedding").input_shape == (None, 7)
    seq, _, _ = _load(os.path.join(FIXTURES, "rnn_no_bias__keras3"))
    first, second = seq.layers[0], seq.layers[1]
    assert second.input_shape == first.output_shape


def test_to_json_round_trips_through_model_from_json():
    for d in (MULTI, NESTED_SEQ):
        model, spec, io = _load(d)
        text = model.to_json()
        obj = json.loads(text)
        assert obj["class_name"] in ("Functional", "Sequential", "Model")
        assert obj["keras_version"] == model.keras_version
        again = kri.model_from_json(text)
        again.load_weights(os.path.join(d, spec["load"]["path"]))
        assert again.keras_version == model.keras_version
        for a, b in zip(as_list(model.predict(inputs(io))), as_list(again.predict(inputs(io)))):
            np.testing.assert_array_equal(a, b)
        assert json.loads(model.to_json(indent=2)) == obj


def test_predict_on_batch_and_call_are_predict():
    model, _, io = _load(MULTI)
    x = inputs(io)
    for a, b, c in zip(model.predict(x), model.predict_on_batch(x), model(x, training=False)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_layer_get_config_and_weights():
    model, _, _ = _load(MULTI)
    lstm = model.get_layer("lstm")
    cfg = lstm.get_config()
    assert cfg["units"] == 5 and cfg["name"] == "lstm"
    cfg["units"] = 99                                       # a copy: the layer is unchanged
    assert lstm.get_config()["units"] == 5
    ws = lstm.weights
    assert [w.name for w in ws] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.path for w in ws] == ["lstm/kernel", "lstm/recurrent_kernel", "lstm/bias"]
    for w, a in zip(ws, lstm.get_weights()):
        assert w.shape == a.shape and w.dtype == a.dtype and w.trainable
        np.testing.assert_array_equal(w.numpy(), a)
        np.testing.assert_array_equal(np.asarray(w), a)
    assert len(model.weights) == len(model.get_weights())
    assert sum(int(np.prod(w.shape)) for w in model.weights) == model.count_params()
    bn_model = kri.load_model(os.path.join(FIXTURES, "normalization__keras3", "model.keras"))
    bn = [l for l in bn_model.layers if l.class_name == "BatchNormalization"][0]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]


def test_predict_verbose_shows_progress_per_batch(capsys):
    model, _, io = _load(RNN)
    x = np.repeat(io["in/0"], 3, axis=0)                    # 9 samples
    model.predict(x, batch_size=2, verbose=1)                # 5 batches
    err = capsys.readouterr().err
    assert err.count("\r") == 5 and "5/5" in err and err.endswith("\n")
    model.predict(x, batch_size=2, verbose=2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("5/5") and "\r" not in err
    model.predict(x, verbose=0)
    model.predict(x)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="verbose"):
        model.predict(x, verbose="loud")


def test_keras_only_predict_keywords():
    model, _, io = _load(RNN)
    x = io["in/0"]
    base = model.predict(x)
    got = model.predict(x, max_queue_size=4, workers=2, use_multiprocessing=True)
    for a, b in zip(base, got):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(kri.ArgumentError, match="steps=3 .* arrays"):
        model.predict(x, steps=3)
    with pytest.raises(kri.ArgumentError, match="callbacks"):
        model.predict(x, callbacks=[object()])
    with pytest.raises(ValueError, match="mask"):
        model(x, mask=np.ones((3, 7), bool))


def test_load_model_safe_mode_is_accepted_and_code_never_runs(tmp_path):
    from _build import k3_layer, simple_rnn_model, write_keras_zip
    path = os.path.join(RNN, "model.keras")
    for mode in (True, False):
        assert kri.load_model(path, safe_mode=mode).count_params() > 0
    with pytest.raises(kri.ArgumentError, match="safe_mode"):
        kri.load_model(path, safe_mode="no")
    cfg, tree = simple_rnn_model()
    cfg["config"]["layers"].append(k3_layer("Lambda", "lam", function={
        "class_name": "__lambda__", "config": {"code": "ZZZZ"}}))
    lam = write_keras_zip(tmp_path / "lam.keras", cfg, tree)
    with pytest.raises(kri.UnsafeModelError):
        kri.load_model(lam, safe_mode=False)


def test_repr_counts_in_english():
    one, _, _ = _load(RNN)
    two, _, _ = _load(MULTI)
    assert ", 1 input," in repr(one) and ", 2 inputs," in repr(two)
    assert "1 inputs" not in repr(one)


def test_stateful_batches_that_are_multiples_run_in_chunks_as_keras():
    """README: a multiple of the fixed batch size runs chunk by chunk (states passing on), as
    Keras's predict(x, batch_size=fixed) recorded in the fixture (call 3: 4 samples, batch
    2); other sizes are refused."""
    model, spec, io = _load(os.path.join(FIXTURES, "stateful__keras3"))
    check_model(model, spec, io)
    model.reset_states()
    x4 = io["call3/in/0"]
    whole = model.predict(x4)
    model.reset_states()
    parts = np.concatenate([model.predict(x4[:2]), model.predict(x4[2:])])
    np.testing.assert_array_equal(whole, parts)
    with pytest.raises(kri.InputError, match="not a multiple"):
        model.predict(x4[:3])


# ----- choosing outputs (onnxruntime's run(output_names)) -----------------------------------
def test_predict_chosen_outputs_runs_only_what_they_need(monkeypatch):
    model, _, io = _load(MULTI)
    x = inputs(io)
    names = model.output_names                      # ['y_steps', 'z_head', 'lstm/2']
    calls = []
    for l in model.layers:
        real = l.run                 # what the executor calls (TimeDistributed has no call path)

        def spy(*a, _real=real, _name=l.name, **k):
            calls.append(_name)
            return _real(*a, **k)
        monkeypatch.setattr(l, "run", spy)
    full = model.predict(x)
    assert "y_steps" in calls
    calls.clear()
    z = model.predict(x, outputs="z_head")
    np.testing.assert_array_equal(z, full[1])
    assert "y_steps" not in calls and "z_head" in calls and "gru" in calls
    calls.clear()
    got = model.predict(x, outputs=["lstm/2", 0])
    assert isinstance(got, list) and len(got) == 2
    np.testing.assert_array_equal(got[0], full[2])
    np.testing.assert_array_equal(got[1], full[0])
    assert "concatenate" not in calls and "z_head" not in calls
    one = model.predict(x, outputs=[1])
    assert isinstance(one, list) and len(one) == 1
    np.testing.assert_array_equal(one[0], full[1])
    with pytest.raises(kri.ArgumentError) as e:
        model.predict(x, outputs=["z_head", "nope"])
    assert all(n in str(e.value) for n in names)
    with pytest.raises(ValueError):
        model.predict(x, outputs=[])


# ----- docstrings ---------------------------------------------------------------------------
def test_every_public_method_and_property_has_a_docstring():
    from kerasrnn_infer.layers.base import Layer, Weight
    from kerasrnn_infer import testing
    missing = []
    for cls in (kri.Model, Layer, Weight):
        for name, obj in inspect.getmembers(cls):
            if name.startswith("_") or name in ("call",):
                continue
            target = obj.fget if isinstance(obj, property) else obj
            if callable(target) or isinstance(obj, property):
                if not (inspect.getdoc(target) or "").strip():
                    missing.append(f"{cls.__name__}.{name}")
    for fn in (kri.load_model, kri.model_from_json, testing.assert_matches_keras,
               testing.compare_with_keras, testing.record_golden, testing.default_tolerance):
        if not (fn.__doc__ or "").strip():
            missing.append(fn.__name__)
    assert not missing, missing


# ----- custom_objects: a Keras layer class is not a factory ----------------------------------
def test_a_keras_layer_class_as_factory_explains_the_contract(tmp_path):
    from test_structure import _td_custom_k3
    path, _ = _td_custom_k3(tmp_path)
    base = type("Layer", (), {"__module__": "keras.src.layers.layer"})
    keras_like = type("Scale", (base,), {"__module__": "my_training_code"})
    with pytest.raises(kri.UnsupportedError) as e:
        kri.load_model(path, custom_objects={"Scale": keras_like})
    msg = str(e.value)
    assert "Keras layer class my_training_code.Scale" in msg
    assert "factory(config, weights)" in msg and "layer(inputs, mask=None)" in msg
    assert "keras_custom_objects" in msg
    with pytest.raises(kri.ConfigError, match="not a NumPy factory"):
        kri.load_model(path, custom_objects={"Scale": 3})


def test_an_unknown_custom_class_says_how_to_supply_it_briefly(tmp_path):
    from test_structure import _td_custom_k3
    path, _ = _td_custom_k3(tmp_path)
    with pytest.raises(kri.UnsupportedError) as e:
        kri.load_model(path)
    msg = str(e.value)
    assert "'Scale'" in msg and "custom_objects=" in msg and "--custom" in msg
    assert "supported_layers()" in msg and "Bidirectional" not in msg and len(msg) < 700


# ----- the parity API takes what a user holds -------------------------------------------------
def test_assert_matches_keras_takes_a_model_a_path_or_json_and_weights():
    from kerasrnn_infer.testing import assert_matches_keras
    d = NESTED_SEQ
    golden = os.path.join(d, "io.npz")
    arch, weights = os.path.join(d, "model.json"), os.path.join(d, "model_weights.h5")
    reports = [assert_matches_keras(kri.load_model(os.path.join(d, "model.h5")), golden=golden),
               assert_matches_keras(os.path.join(d, "model.h5"), golden=golden),
               assert_matches_keras((arch, weights), golden=golden),
               assert_matches_keras((open(arch).read(), weights), golden=golden)]
    for r in reports:
        assert r.passed and r.atol == 1e-5 and r.tolerance == "default for float32 compute"
    assert reports[2].model == f"{arch} + {weights}"
    with pytest.raises(kri.ArgumentError):
        assert_matches_keras((arch, weights, weights), golden=golden)


def test_default_tolerance_follows_the_compute_dtype():
    from kerasrnn_infer.testing import compare_with_keras, default_tolerance
    f16 = os.path.join(FIXTURES, "mixed_float16__keras3")
    m16 = kri.load_model(os.path.join(f16, "model.keras"))
    assert default_tolerance(m16)[:2] == (2e-3, 2e-3)
    assert default_tolerance(kri.load_model(os.path.join(RNN, "model.keras")))[:2] == (1e-5, 1e-5)
    assert default_tolerance(kri.load_model(os.path.join(
        FIXTURES, "float64__keras3", "model.keras")))[2] == "default for float64 compute"
    golden = os.path.join(f16, "io.npz")
    report = compare_with_keras(m16, golden=golden)
    assert report.passed, report.text()
    assert "atol=0.002, rtol=0.002 (default for float16 compute" in report.text()
    assert 0.01 < report.worst_bound <= 1          # float16 differences are real, and fit
    assert not compare_with_keras(m16, golden=golden, atol=1e-5, rtol=1e-5).passed
    one = compare_with_keras(m16, golden=golden, atol=1e-5)      # the other from the default
    assert one.atol == 1e-5 and one.rtol == 2e-3 and one.tolerance.startswith("given; ")


def test_worst_bound_column_is_the_pass_rule():
    from kerasrnn_infer.testing.compare import _compare
    want = np.array([0.0, 1.0, 100.0])
    got = want + np.array([5e-6, 1.5e-5, 5e-4])
    a, r, b, ok, _ = _compare(got, want, 1e-5, 1e-5)
    # bounds: 1e-5, 2e-5, 1.01e-3 -> fractions 0.5, 0.75, 0.495
    assert ok and abs(b - 0.75) < 1e-9 and r > 1e-5          # rel err above rtol, yet a pass
    a, r, b, ok, _ = _compare(got * [1, 1, 1] + [0, 1e-5, 0], want, 1e-5, 1e-5)
    assert not ok and b > 1
    assert _compare(want + 1e-9, want, 0, 0)[2] == float("inf")
    assert _compare(want, want, 0, 0)[2] == 0


def test_a_model_from_bytes_has_no_file_for_live_keras():
    from kerasrnn_infer.testing import compare_with_keras
    model = kri.load_model(open(os.path.join(RNN, "model.keras"), "rb").read())
    with pytest.raises(kri.ReferenceUnavailable, match="bytes"):
        compare_with_keras(model)
    assert compare_with_keras(model, golden=os.path.join(RNN, "io.npz")).passed


def test_a_golden_of_another_model_does_not_fit(tmp_path):
    from kerasrnn_infer.testing import compare_with_keras
    from kerasrnn_infer.testing.golden import read_golden, write_golden
    other = os.path.join(FIXTURES, "rnn_no_bias__keras3", "model.keras")
    golden = os.path.join(RNN, "io.npz")
    with pytest.raises(kri.InputError) as e:
        compare_with_keras(other, golden=golden)
    assert "does not fit" in str(e.value) and golden in str(e.value) and other in str(e.value)
    ref = read_golden(golden)                       # the right structure, recorded names differ
    ref.meta = {"model": ["elsewhere.keras"], "output_names": ["a", "b", "c", "d", "e"]}
    write_golden(str(tmp_path / "g.npz"), ref)
    with pytest.raises(kri.InputError, match=r"elsewhere\.keras"):
        compare_with_keras(os.path.join(RNN, "model.keras"), golden=str(tmp_path / "g.npz"))
    ref.meta = {"output_names": kri.load_model(os.path.join(RNN, "model.keras")).output_names}
    write_golden(str(tmp_path / "ok.npz"), ref)
    assert compare_with_keras(os.path.join(RNN, "model.keras"),
                              golden=str(tmp_path / "ok.npz")).passed


# ----- live: real Keras ---------------------------------------------------------------------
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_assert_matches_keras_on_a_model_and_on_json_and_weights(writer):
    from kerasrnn_infer.testing import assert_matches_keras
    d = os.path.join(FIXTURES, f"graph_nested_sequential__{writer}")
    weights = "model.weights.h5" if writer == "keras3" else "model_weights.h5"
    pair = (os.path.join(d, "model.json"), os.path.join(d, weights))
    r = assert_matches_keras(pair)
    assert r.passed and ("tf_keras" in r.reference) == (writer == "tf_keras")
    model = kri.model_from_json(open(pair[0]).read()).load_weights(pair[1])
    assert assert_matches_keras(model).passed
    if writer == "tf_keras":                        # Keras reads our to_json back
        import tf_keras
        km = tf_keras.models.model_from_json(model.to_json())
        assert [l.name for l in km.layers] == [l.name for l in model.layers]


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_live_mixed_float16_passes_verify_at_its_default_tolerance(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(FIXTURES), "tools"))
    import make_fixtures as mf
    from kerasrnn_infer.testing import assert_matches_keras, compare_with_keras
    info = mf.build("mixed_float16", "keras3", seed=7)
    path = str(tmp_path / "m.keras")
    info["model"].save(path)
    r = assert_matches_keras(path)
    assert r.atol == 2e-3 and r.worst_bound > 0.01
    assert not compare_with_keras(path, atol=1e-5, rtol=1e-5).passed


# ----- the command line covers what the API covers -------------------------------------------
from kerasrnn_infer import cli  # noqa: E402

TF_DIR = os.path.join(FIXTURES, "tf")
CUSTOM_SM = os.path.join(TF_DIR, "custom_attention__tf2.21")      # AttentionLayer (custom)
NESTED_TF = os.path.join(TF_DIR, "graph_nested__tf2.21")          # model.json + ckpt/weights
NESTED_K3 = os.path.join(FIXTURES, "graph_nested_sequential__keras3")
CUSTOM_PY = os.path.join(os.path.dirname(__file__), "custom_layers.py")


def _outputs(path):
    with np.load(path) as z:
        return [z[k] for k in z.files]


def _wants(io_):
    return [io_[f"call0/out/{j}"] for j in range(sum(k.startswith("call0/out/") for k in io_))]


def _close(got, want, tol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert float(np.max(np.abs(g.astype(np.float64) - w))) <= tol


def test_cli_custom_layers_from_a_python_file(tmp_path, capsys):
    sm = os.path.join(CUSTOM_SM, "saved_model")
    with pytest.raises(kri.UnsupportedError) as e:
        cli_run(["info", sm])
    msg = str(e.value)
    assert "AttentionLayer" in msg and "--custom" in msg and len(msg) < 700
    assert cli.main(["info", sm, "--custom", CUSTOM_PY]) == 0
    assert "AttentionLayer" in capsys.readouterr().out
    out = str(tmp_path / "y.npz")
    assert cli.main(["predict", sm, "--custom", CUSTOM_PY, "-i",
                     os.path.join(CUSTOM_SM, "io.npz"), "-o", out]) == 0
    _close(_outputs(out), _wants(dict(np.load(os.path.join(CUSTOM_SM, "io.npz")))))
    # a named attribute, a module path, and what goes wrong said plainly
    assert cli.main(["info", sm, "--custom", CUSTOM_PY + ":CUSTOM_OBJECTS"]) == 0
    for spec, pattern in ((CUSTOM_PY + ":NOPE", r"has no NOPE \(dicts there: CUSTOM_OBJECTS"),
                          (str(tmp_path / "none.py"), "no such file"),
                          ("no_such_module_xyz", "cannot import no_such_module_xyz")):
        with pytest.raises(kri.UsageError, match=pattern):
            cli_run(["info", sm, "--custom", spec])
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(kri.UsageError, match=r"running .*broken.py failed: RuntimeError: boom"):
        cli_run(["info", sm, "--custom", str(broken)])


def cli_run(argv):
    """cli's work without its error printing: the exception a user would see as one line."""
    args = cli.build_parser().parse_args(argv)
    import io as _io
    return args.func(args, _io.StringIO())


def test_cli_help_says_custom_code_is_the_users_own(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--custom" in text and "runs that code" in text and "never run code" in text
    assert "--architecture" in text


def test_cli_weights_only_files_with_architecture(tmp_path, capsys):
    # a Keras 3 .weights.h5, and a TF checkpoint prefix
    for d, weights in ((NESTED_K3, "model.weights.h5"), (NESTED_TF, "ckpt/weights")):
        arch = os.path.join(d, "model.json")
        with pytest.raises(kri.ModelFileError, match="--architecture"):
            cli_run(["info", os.path.join(d, weights)])
        assert cli.main(["info", os.path.join(d, weights), "--architecture", arch]) == 0
        text = capsys.readouterr().out
        assert "architecture JSON +" in text and "total params" in text
        out = str(tmp_path / "y.npz")
        assert cli.main(["predict", os.path.join(d, weights), "--architecture", arch,
                         "-i", os.path.join(d, "io.npz"), "-o", out]) == 0
        _close(_outputs(out), _wants(dict(np.load(os.path.join(d, "io.npz")))))
        capsys.readouterr()
        assert cli.main(["verify", os.path.join(d, weights), "--architecture", arch,
                         "--golden", os.path.join(d, "io.npz")]) == 0
        assert capsys.readouterr().out.splitlines()[-1].startswith("PASS")
    with pytest.raises(kri.UsageError, match="--architecture .*no such file"):
        cli_run(["info", os.path.join(NESTED_K3, "model.weights.h5"), "--architecture",
                 str(tmp_path / "missing.json")])


def test_only_a_model_json_is_taken_for_an_architecture(tmp_path):
    """A file starting with '[' or '{' is not a model JSON unless it is one."""
    for name, text in (("pyproject.toml", "[build-system]\nrequires = []\n"),
                       ("list.json", "[1, 2, 3]"), ("obj.json", '{"a": 1}')):
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(kri.ModelFileError) as e:
            kri.load_model(str(p))
        assert "not a Keras model file" in str(e.value) and "architecture" not in str(e.value)
    with pytest.raises(kri.ModelFileError, match=r"architecture JSON .*--architecture"):
        kri.load_model(os.path.join(NESTED_K3, "model.json"))


def test_batch_size_is_one_spelling_everywhere(tmp_path, capsys):
    model = os.path.join(RNN, "model.keras")
    golden = str(tmp_path / "g.npz")
    for flag in ("--batch-size", "--batch"):        # --batch: the old spelling, kept
        args = cli.build_parser().parse_args(["verify", model, flag, "3"])
        assert args.batch_size == 3
        args = cli.build_parser().parse_args(["golden", model, "--out", golden, flag, "3"])
        assert args.batch_size == 3
        args = cli.build_parser().parse_args(["predict", model, "-i", "x.npy", flag, "3"])
        assert args.batch_size == 3
    with pytest.raises(kri.UsageError, match="--batch-size 0"):
        cli_run(["verify", model, "--batch-size", "0", "--golden", golden])


def test_json_outputs_print_float32_values_as_float32(capsys):
    from kerasrnn_infer.arrays_io import json_value
    y = np.array([[0.1, 1 / 3, 1e-8, -2.5]], np.float32)
    text = json.dumps(json_value(y))
    assert text == "[[0.1, 0.33333334, 1e-08, -2.5]]"
    np.testing.assert_array_equal(np.asarray(json.loads(text), np.float32), y)
    assert json_value(np.array([0.1])) == [0.1] and json_value(np.array([3])) == [3]
    model = os.path.join(RNN, "model.keras")
    x = os.path.join(RNN, "io.npz")
    assert cli.main(["predict", model, "-i", x]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\d\.\d{12,}", out)          # no 17-digit doubles
    got = [np.asarray(v, np.float32) for v in json.loads(out).values()]
    _close(got, _wants(dict(np.load(x))))


def test_golden_without_tensorflow_says_to_run_it_where_tensorflow_is(monkeypatch, tmp_path):
    from kerasrnn_infer.testing import keras_ref
    monkeypatch.setattr(keras_ref, "have_keras", lambda: False)
    with pytest.raises(kri.ReferenceUnavailable) as e:
        cli_run(["golden", os.path.join(RNN, "model.keras"), "--out", str(tmp_path / "g.npz")])
    msg = str(e.value)
    assert "where TensorFlow is installed" in msg and "--golden" not in msg
    with pytest.raises(kri.ReferenceUnavailable) as e:
        cli_run(["verify", os.path.join(RNN, "model.keras")])
    assert "--golden golden.npz" in str(e.value)


def test_nested_outputs_come_back_nested_as_keras_predicts_them():
    """Model(x, {"zseq": ..., "alast": ..., "states": [h, [h, c]]}): predict gives that dict
    (keys in the model's order, the lists inside it), its leaves Keras's outputs; the flat
    order (output_names, the recorded outputs) is Keras's: dict keys sorted."""
    for writer in ("keras3", "tf_keras"):
        d = os.path.join(FIXTURES, f"graph_dict_outputs__{writer}")
        spec, io = read_case(d)
        model = kri.load_model(os.path.join(d, spec["load"]["path"]))
        x = inputs(io)
        for y in (model.predict(x), model(x), model.predict(x, batch_size=2)):
            assert isinstance(y, dict) and list(y) == ["zseq", "alast", "states"], type(y)
            h_gru, lstm = y["states"]
            assert isinstance(lstm, list) and len(lstm) == 2
            flat = [y["alast"], h_gru, lstm[0], lstm[1], y["zseq"]]
            for j, got in enumerate(flat):
                np.testing.assert_allclose(got, io[f"call0/out/{j}"], atol=1e-5, rtol=0)
        assert model.output_names[0] == "head" and model.output_names[-1] == "lstm"
        picked = model.predict(x, outputs=["lstm", "head"])      # a selection stays flat
        np.testing.assert_allclose(picked[0], io["call0/out/4"], atol=1e-5, rtol=0)


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_keras3_h5_op_nodes_are_ops_whatever_their_class(tmp_path):
    """A Keras 3 .h5 drops its op nodes' module: an ``ops.average`` node (class Average, the
    name of a merge layer) and ``ops.softmax`` (class Softmax) run as the ops they are."""
    import keras
    from keras import ops
    x = keras.Input((5, 3))
    h = keras.layers.LSTM(4, return_sequences=True)(x)
    model = keras.Model(x, [ops.average(h, axis=1), ops.softmax(h, axis=1), ops.relu(h)])
    rng = np.random.default_rng(3)
    for w in model.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    path = str(tmp_path / "ops.h5")
    model.save(path)
    xs = rng.normal(0, 1, (2, 5, 3)).astype("float32")
    got = kri.load_model(path).predict(xs)
    for g, want in zip(got, model(xs)):
        np.testing.assert_allclose(g, np.asarray(want), atol=1e-5, rtol=0)
