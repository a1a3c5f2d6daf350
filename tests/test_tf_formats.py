"""TensorFlow formats read without TensorFlow: SavedModel directories, TF checkpoints and their
parts (protobuf wire format, CRC-32C, the TensorBundle index), tf-op layers. Parity with Keras
is checked on the fixtures (tests/test_fixtures.py reads fixtures/tf/); here: what must be
refused, and why, in both reading modes, and the pieces one by one."""

import json
import os
import re
import shutil

import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer.formats import crc32c, protobuf
from kerasrnn_infer.formats.protobuf import parse
from _tfbuild import (bundle_entry, copy_case, f_bytes, f_varint, index_entries,
                      rewrite_index, table, varint)
from conftest import FIXTURES

TF = os.path.join(FIXTURES, "tf")
NESTED = os.path.join(TF, "graph_nested__tf2.21")         # saved_model/, ckpt/, model.json
REFUSED = os.path.join(TF, "_refused")
MODES = ("fork", "no-fork")
TIME_LIMIT = 3.0


def _json_model(d=NESTED):
    with open(os.path.join(d, "model.json")) as f:
        return kri.model_from_json(f.read())


def _kernel_key(index_path):
    keys = [k for k in index_entries(index_path) if b"kernel" in k and b"recurrent" not in k]
    return sorted(keys)[0]


def _x():
    return np.ones((2, 7, 4), np.float32)


# ----- hostile and refused directories, in both reading modes ---------------------------------
def _ckpt_copy(tmp):
    d = copy_case(os.path.join(NESTED, "ckpt"), os.path.join(tmp, "ckpt"))
    return d, os.path.join(d, "weights")


def _load_ckpt(prefix):
    return lambda: _json_model().load_weights(prefix).predict(_x())


def compressed_block(tmp):
    d, p = _ckpt_copy(tmp)
    rewrite_index(p + ".index", lambda e: None, compression=1)
    return _load_ckpt(p), kri.ModelFileError, r"weights\.index: the data block is compressed " \
                                              r"\(Snappy\); TensorFlow writes"


def block_checksum(tmp):
    d, p = _ckpt_copy(tmp)
    rewrite_index(p + ".index", lambda e: None, good_crc=False)
    return _load_ckpt(p), kri.ModelFileError, r"the data block is corrupt \(CRC-32C mismatch\)"


def sliced_variable(tmp):
    d, p = _ckpt_copy(tmp)
    key = _kernel_key(p + ".index")

    def change(e):
        e[key] += f_bytes(7, f_bytes(1, f_varint(1, 0)))
    rewrite_index(p + ".index", change)
    return _load_ckpt(p), kri.ModelFileError, r"is partitioned \(saved in 1 slices\); " \
                                              r"partitioned variables are not supported"


def tensor_checksum(tmp):
    d, p = _ckpt_copy(tmp)
    data = bytearray(open(p + ".data-00000-of-00001", "rb").read())
    data[len(data) // 2] ^= 0x10
    open(p + ".data-00000-of-00001", "wb").write(bytes(data))
    return _load_ckpt(p), kri.ModelFileError, r"is corrupt \(CRC-32C mismatch"


def truncated_shard(tmp):
    d, p = _ckpt_copy(tmp)
    data = open(p + ".data-00000-of-00001", "rb").read()
    open(p + ".data-00000-of-00001", "wb").write(data[:len(data) // 3])
    return _load_ckpt(p), kri.ModelFileError, r"lies outside its data shard of \d+ bytes"


def many_shards(tmp):
    d, p = _ckpt_copy(tmp)

    def change(e):
        e[b""] = f_varint(1, 5000)
    rewrite_index(p + ".index", change)
    return _load_ckpt(p), kri.ModelFileError, r"declares 5000 data shards; supported: 1 to 1024"


def name_based_checkpoint(tmp):
    d, p = _ckpt_copy(tmp)
    rewrite_index(p + ".index", lambda e: e.pop(b"_CHECKPOINTABLE_OBJECT_GRAPH"))
    return _load_ckpt(p), kri.ModelFileError, r"no _CHECKPOINTABLE_OBJECT_GRAPH entry; it is a " \
                                              r"name-based"


def prefix_compression_bomb(tmp):
    d, p = _ckpt_copy(tmp)
    raw = varint(0) + varint(60000) + varint(0) + b"a" * 60000
    for n in range(2000):                   # each key: the previous one plus one byte
        raw += varint(60000 + n) + varint(1) + varint(0) + b"b"
    raw += (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    with open(p + ".index", "wb") as f:
        f.write(table([(b"a", b"")], raw_data_block=raw))
    return _load_ckpt(p), kri.ModelFileError, r"keys expand beyond the bounds of an index"


def unsorted_keys(tmp):
    d, p = _ckpt_copy(tmp)
    raw = b"".join(varint(0) + varint(1) + varint(0) + k for k in (b"b", b"a"))
    raw += (0).to_bytes(4, "little") + (5).to_bytes(4, "little") + (2).to_bytes(4, "little")
    with open(p + ".index", "wb") as f:
        f.write(table([(b"b", b"")], raw_data_block=raw))
    return _load_ckpt(p), kri.ModelFileError, r"keys are not sorted and unique"


def not_an_index(tmp):
    d, p = _ckpt_copy(tmp)
    open(p + ".index", "wb").write(b"\x00" * 100)
    return _load_ckpt(p), kri.ModelFileError, r"not a TensorFlow checkpoint index \(no table " \
                                              r"magic number"


def overlapping_tensors(tmp):
    """Every variable's entry claims the same bytes (the whole shard): reading stops once
    more than the shard has been claimed."""
    d, p = _ckpt_copy(tmp)
    size = os.path.getsize(p + ".data-00000-of-00001")
    from kerasrnn_infer.formats import crc32c as c
    data = open(p + ".data-00000-of-00001", "rb").read()
    crc = c.mask(c.value(data[:size // 4 * 4]))

    def change(e):
        for k in list(e):
            if k.endswith(b"VARIABLE_VALUE"):
                e[k] = bundle_entry(1, (size // 4,), size // 4 * 4, 0, 0, crc)
    rewrite_index(p + ".index", change)
    return _load_ckpt(p), kri.ModelFileError, r"its tensors claim more bytes than their data " \
                                              r"shard holds"


def _sm_copy(tmp, name="sm"):
    return copy_case(os.path.join(NESTED, "saved_model"), os.path.join(tmp, name))


def symlinked_index(tmp):
    d = _sm_copy(tmp)
    idx = os.path.join(d, "variables", "variables.index")
    outside = os.path.join(tmp, "outside.index")
    shutil.move(idx, outside)
    os.symlink(outside, idx)
    return lambda: kri.load_model(d), kri.ModelFileError, \
        r"variables\.index: is a symbolic link; links inside a model directory are not followed"


def symlinked_variables_dir(tmp):
    d = _sm_copy(tmp)
    outside = os.path.join(tmp, "outside_variables")
    shutil.move(os.path.join(d, "variables"), outside)
    os.symlink(outside, os.path.join(d, "variables"))
    return lambda: kri.load_model(d), kri.ModelFileError, r"variables: is a symbolic link"


def fifo_metadata(tmp):
    d = _sm_copy(tmp)
    os.remove(os.path.join(d, "keras_metadata.pb"))
    os.mkfifo(os.path.join(d, "keras_metadata.pb"))
    return lambda: kri.load_model(d), kri.ModelFileError, \
        r"keras_metadata\.pb: is not a regular file \(a pipe or device\)"


def metadata_varint_too_long(tmp):
    d = _sm_copy(tmp)
    open(os.path.join(d, "keras_metadata.pb"), "wb").write(b"\x0a" + b"\xff" * 11)
    return lambda: kri.load_model(d), kri.ModelFileError, r"a varint is longer than 10 bytes"


def metadata_length_past_end(tmp):
    d = _sm_copy(tmp)
    open(os.path.join(d, "keras_metadata.pb"), "wb").write(b"\x0a" + varint(1 << 40) + b"x")
    return lambda: kri.load_model(d), kri.ModelFileError, \
        r"field 1 declares 1099511627776 bytes, more than the 1 left"


def no_variables(tmp):
    d = _sm_copy(tmp)
    shutil.rmtree(os.path.join(d, "variables"))
    return lambda: kri.load_model(d), kri.ModelFileError, r"has no variables/ directory"


def text_saved_model(tmp):
    d = os.path.join(tmp, "pbtxt")
    os.makedirs(d)
    open(os.path.join(d, "saved_model.pbtxt"), "w").write("saved_model_schema_version: 1\n")
    return lambda: kri.load_model(d), kri.ModelFileError, r"text-format saved_model\.pbtxt"


def subclassed_model(tmp):
    return lambda: kri.load_model(os.path.join(REFUSED, "subclassed_saved_model")), \
        kri.UnsupportedError, (r"is a subclassed Keras model \(class 'Forecaster'\): its call\(\) "
                               r"is Python code, .* Its layers: encoder \(SimpleRNN\), head "
                               r"\(Dense\)")


def bare_tf_module(tmp):
    return lambda: kri.load_model(os.path.join(REFUSED, "bare_tf_module")), \
        kri.ModelFileError, r"holds a TensorFlow graph without Keras metadata"


def checkpoint_as_model(tmp):
    return lambda: kri.load_model(os.path.join(NESTED, "ckpt", "weights")), \
        kri.ModelFileError, r"holds weights only \(tf-checkpoint\)"


def unrelated_directory(tmp):
    d = os.path.join(tmp, "unrelated")
    os.makedirs(d)
    open(os.path.join(d, "notes.txt"), "w").write("x")
    return lambda: kri.load_model(d), kri.ModelFileError, \
        r"neither a TensorFlow SavedModel .* it holds: notes\.txt"


def checkpoint_state_names_missing(tmp):
    d, p = _ckpt_copy(tmp)
    open(os.path.join(d, "checkpoint"), "w").write('model_checkpoint_path: "gone"\n')
    return lambda: _json_model().load_weights(d), kri.ModelFileError, r"gone\.index: no such file"


def checkpoint_state_absolute_path(tmp):
    """A checkpoint file records the training machine's absolute path: the prefix is looked
    up by its last component in this directory, nothing outside it is read."""
    d, p = _ckpt_copy(tmp)
    open(os.path.join(d, "checkpoint"), "w").write(
        'model_checkpoint_path: "/home/someone/run/ckpt/weights"\n'
        'all_model_checkpoint_paths: "/home/someone/run/ckpt/weights"\n')
    return lambda: _json_model().load_weights(d).predict(_x()), None, ""


HOSTILE = {f.__name__: f for f in (
    compressed_block, block_checksum, sliced_variable, tensor_checksum, truncated_shard,
    many_shards, name_based_checkpoint, prefix_compression_bomb, unsorted_keys, not_an_index,
    overlapping_tensors,
    symlinked_index, symlinked_variables_dir, fifo_metadata, metadata_varint_too_long,
    metadata_length_past_end, no_variables, text_saved_model, subclassed_model,
    bare_tf_module, checkpoint_as_model, unrelated_directory, checkpoint_state_names_missing,
    checkpoint_state_absolute_path)}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_tf_directory_is_refused_alike_in_both_modes(name, tmp_path, monkeypatch):
    import time
    run, error, match = HOSTILE[name](str(tmp_path))
    seen = []
    for mode in MODES:
        if mode == "no-fork":
            monkeypatch.setenv("KERASRNN_INFER_NO_FORK", "1")
        else:
            monkeypatch.delenv("KERASRNN_INFER_NO_FORK", raising=False)
        t0 = time.perf_counter()
        try:
            run()
            err = None
        except Exception as e:  # noqa: BLE001 - judged below
            err = e
        dt = time.perf_counter() - t0
        assert dt < TIME_LIMIT, f"{name} ({mode}) took {dt:.1f} s"
        if error is None:
            assert err is None, f"{name} ({mode}) should load and run: {err!r}"
            continue
        assert isinstance(err, error), f"{name} ({mode}): {type(err).__name__}: {err}"
        assert re.search(match, str(err)), f"{name} ({mode}): {err}"
        seen.append((type(err), str(err)))
    if seen:
        assert seen[0] == seen[1], f"the two modes disagree: {seen}"


TF_FUZZ_CASES = int(os.environ.get("KRI_TF_FUZZ_CASES", "1200"))


def test_fuzzed_tf_directories_load_or_raise_our_error_quickly():
    """Mutated SavedModels and checkpoints (raw bytes of every member, and index entries, the
    object graph and the Keras metadata JSON re-encoded with valid checksums so that their
    parsers are reached), each read by the forked reader and in-process, which must end
    alike; in a subprocess, so that a crash or a hang fails here."""
    import subprocess
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz_files.py"),
                        "--formats", "tf", "--cases", str(TF_FUZZ_CASES), "--seed", "5",
                        "--paired"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{TF_FUZZ_CASES} passed, 0 failed" in r.stdout, r.stdout[-2000:]


# ----- what loads -----------------------------------------------------------------------------
def test_the_same_weights_from_every_tf_form():
    """One model's SavedModel, its copy with the metadata inside saved_model.pb, its
    save_weights checkpoint (by prefix, by its .index file, by its directory) give the same
    weights, bit for bit, in the same order."""
    ref = kri.load_model(os.path.join(NESTED, "saved_model"))
    want = ref.get_weights()
    forms = [kri.load_model(os.path.join(NESTED, "saved_model_legacy_metadata")),
             _json_model().load_weights(os.path.join(NESTED, "ckpt", "weights")),
             _json_model().load_weights(os.path.join(NESTED, "ckpt", "weights.index")),
             _json_model().load_weights(os.path.join(NESTED, "ckpt")),
             _json_model().load_weights(os.path.join(NESTED, "saved_model"))]
    for m in forms:
        got = m.get_weights()
        assert len(got) == len(want) == 14
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
    assert ref.format == "saved-model" and ref.keras_version == "2.21.0"


def test_traced_savedmodel_keys_are_resolved_through_the_object_graph():
    """In a traced SavedModel the LSTM's kernel is stored as variables/<i>: only the object
    graph says it is layer-2's cell kernel."""
    d = os.path.join(TF, "traced_small__tf2.21", "saved_model_traced")
    keys = index_entries(os.path.join(d, "variables", "variables.index"))
    assert any(re.match(rb"variables/\d+/\.ATTRIBUTES", k) for k in keys)
    assert not any(b"cell" in k for k in keys)
    m = kri.load_model(d)
    assert [w.shape for w in m.get_layer("lstm").get_weights()] == [(3, 12), (3, 12), (12,)]


def test_model_checkpoint_directory_loads_the_latest_and_ignores_the_optimizer():
    d = os.path.join(TF, "fit_checkpoint__tf2.21")
    names = os.listdir(os.path.join(d, "checkpoints"))
    assert "checkpoint" in names and any(n.startswith("cp-01") for n in names)
    keys = index_entries(os.path.join(d, "checkpoints", "cp-02.ckpt.index"))
    assert any(k.startswith(b"optimizer/") for k in keys)
    latest = _json_model(d).load_weights(os.path.join(d, "checkpoints"))
    first = _json_model(d).load_weights(os.path.join(d, "checkpoints", "cp-01.ckpt"))
    assert latest.get_weights()[0].shape == first.get_weights()[0].shape
    assert not np.array_equal(latest.get_weights()[0], first.get_weights()[0])


def test_info_describes_a_savedmodel(capsys):
    from kerasrnn_infer.cli import main
    assert main(["info", os.path.join(NESTED, "saved_model")]) == 0
    out = capsys.readouterr().out
    assert "format:   saved-model" in out and "keras:    2.21.0" in out
    assert re.search(r"inner_seq\s+Sequential", out)


# ----- pieces ---------------------------------------------------------------------------------
def test_crc32c_known_values_and_the_lane_form():
    assert crc32c.value(b"123456789") == 0xE3069283
    assert crc32c.value(b"6789", crc32c.value(b"12345")) == 0xE3069283
    assert crc32c.unmask(crc32c.mask(0xE3069283)) == 0xE3069283
    rng = np.random.default_rng(0)
    for n in (4095, 4096, 4097, 70001, 1 << 20):
        data = rng.bytes(n)
        assert crc32c.value(data) == crc32c._raw_small(data, 0xFFFFFFFF) ^ 0xFFFFFFFF, n


def test_protobuf_bounds():
    where = "x.pb"
    with pytest.raises(kri.ModelFileError, match="longer than 10 bytes"):
        protobuf.read_varint(b"\xff" * 11, 0, 11, where)
    with pytest.raises(kri.ModelFileError, match="does not fit 64 bits"):
        protobuf.read_varint(b"\xff" * 9 + b"\x7f", 0, 10, where)
    with pytest.raises(kri.ModelFileError, match="runs past the end"):
        protobuf.read_varint(b"\xff\xff", 0, 2, where)
    assert protobuf.read_varint(varint(2 ** 64 - 1), 0, 10, where) == (2 ** 64 - 1, 10)
    with pytest.raises(kri.ModelFileError, match="wire type 3"):
        list(protobuf.fields(b"\x0b", 0, 1, where))
    with pytest.raises(kri.ModelFileError, match="invalid field number 0"):
        list(protobuf.fields(b"\x00\x00", 0, 2, where))
    nested: dict = {}
    nested[1] = ("inner", nested)               # a recursive schema: only the depth bounds it
    msg = b""
    for _ in range(40):
        msg = f_bytes(1, msg)
    with pytest.raises(kri.ModelFileError, match="nest deeper than 32"):
        parse(msg, nested, where)
    assert parse(f_varint(1, 2 ** 64 - 5), {1: ("v", "int")}, where) == {"v": -5}
    assert parse(f_bytes(2, varint(3) + varint(300)), {2: ("v[]", "int")}, where) == \
        {"v": [3, 300]}


def test_bundle_entry_shape_must_match_size(tmp_path):
    d, p = _ckpt_copy(str(tmp_path))
    key = _kernel_key(p + ".index")

    def change(e):
        e[key] = bundle_entry(1, (1 << 30, 1 << 30), 16)
    rewrite_index(p + ".index", change)
    with pytest.raises(kri.ModelFileError, match=r"declares shape \(1073741824, 1073741824\)"):
        _json_model().load_weights(p)


# ----- tf-op layers ---------------------------------------------------------------------------
def _tfop_config(function, kwargs, cls="TFOpLambda"):
    return json.dumps({"class_name": "Functional", "config": {
        "name": "m", "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 3, 2], "dtype": "float32", "name": "x"}},
            {"class_name": cls, "name": "op", "config": {"name": "op", "function": function,
                                                         "dtype": "float32",
                                                         "trainable": True},
             "inbound_nodes": [["x", 0, 0, kwargs]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["op", 0, 0]]}})


def test_tf_op_layers_hold_no_code_and_other_symbols_are_refused_by_name():
    x = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    m = kri.model_from_json(_tfop_config("math.reduce_max", {"axis": 1}))
    np.testing.assert_array_equal(m.predict(x), [[4.0, 5.0]])
    m = kri.model_from_json(_tfop_config("__operators__.getitem", {"slice_spec": [
        {"start": None, "stop": None, "step": None}, -1]}, "SlicingOpLambda"))
    np.testing.assert_array_equal(m.predict(x), [[4.0, 5.0]])
    with pytest.raises(kri.UnsupportedError, match=r"TensorFlow symbol tf\.math\.bessel_i0 is "
                                                   r"not supported; supported: .*tf\.concat"):
        kri.model_from_json(_tfop_config("math.bessel_i0", {}))
    m = kri.model_from_json(_tfop_config("math.reduce_max", {"axis": 1, "exotic": 2}))
    with pytest.raises(kri.UnsupportedError, match=r"argument\(s\) \['exotic'\] are not "
                                                   r"supported"):
        m.predict(x)
    lam = json.loads(_tfop_config("x", {}))
    lam["config"]["layers"][1]["class_name"] = "Lambda"
    with pytest.raises(kri.UnsafeModelError, match="Lambda"):
        kri.model_from_json(json.dumps(lam))


@pytest.mark.live
def test_verify_runs_tf_keras_on_a_savedmodel_written_by_tensorflow_2_12(capsys):
    """verify loads a SavedModel with tf_keras (Keras 3 cannot) and compares layer by layer."""
    from conftest import have_tensorflow
    if not have_tensorflow():
        pytest.skip("TensorFlow is not installed")
    from kerasrnn_infer.cli import main
    assert main(["verify", os.path.join(TF, "graph_nested__tf2.12", "saved_model")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"PASS: \d+ compared, 0 skipped; .* vs tf_keras 2\.\d+", out), out


@pytest.mark.live
def test_a_keras_model_saved_by_tf_saved_model_save_is_refused_saying_how_to_save_it(tmp_path):
    """tf.saved_model.save(model) keeps the Keras root object but no Keras metadata: the
    error names that case and the saves that work, not a tf.Module."""
    from conftest import have_tensorflow
    if not have_tensorflow():
        pytest.skip("TensorFlow is not installed")
    import tensorflow as tf
    import tf_keras
    model = tf_keras.Sequential([tf_keras.Input((5, 3)), tf_keras.layers.LSTM(2)])
    tf.saved_model.save(model, str(tmp_path / "sm"))
    with pytest.raises(kri.ModelFileError,
                       match=r"root object is a Keras model .*without its Keras metadata.*"
                             r"model\.save\(path\)"):
        kri.load_model(str(tmp_path / "sm"))


# ----- adapted lookup vocabularies: the lookup tables' constants in saved_model.pb ------------
TEXT_SM = [os.path.join(TF, d) for d in sorted(os.listdir(TF))
           if d.startswith(("text_gru__", "lookup_adapted__"))]


def test_adapted_vocabularies_come_from_the_savedmodel_lookup_tables():
    """tf-keras keeps an adapted lookup layer's vocabulary only as the two constants its
    StaticHashTable is initialized from: read, the vocabulary is in token order."""
    assert len(TEXT_SM) == 6
    for d in TEXT_SM:
        model = kri.load_model(os.path.join(d, "saved_model"))
        lookups = [l for l in model.layers if hasattr(l, "set_table")]
        assert lookups and all(l.vocab_size and l.vocab_size > 10 for l in lookups), d
    tv = kri.load_model(os.path.join(TF, "text_gru__tf2.12", "saved_model")).get_layer(
        "vectorize")
    ids = tv.lookup([b"the", b"no-such-token"], "test")
    assert ids.tolist() == [2, 1]          # mask 0, OOV 1, tokens from 2 (most frequent first)


def _int64_run(start, n):
    return np.arange(start, start + n, dtype="<i8").tobytes()


def test_a_lookup_table_with_gaps_in_its_ids_is_refused(tmp_path):
    d = copy_case(os.path.join(TF, "text_gru__tf2.21", "saved_model"), str(tmp_path / "sm"))
    pb = os.path.join(d, "saved_model.pb")
    data = open(pb, "rb").read()
    run = _int64_run(2, 38)
    assert data.count(run) == 1
    bad = run[:16] + (99).to_bytes(8, "little") + run[24:]
    open(pb, "wb").write(data.replace(run, bad))
    with pytest.raises(kri.WeightsError, match=r"lookup table of layer 'vectorize' maps its 38 tokens to ids"):
        kri.load_model(d)


def _table_saved_model(keys: bytes, values: bytes, arg_names=("h", "t_keys", "t_values")):
    """A minimal SavedModel message: object 0 a resource whose _initialize function (object 1)
    binds constants 2 and 3 (graph nodes ck and cv)."""
    ref = lambda nid, name: f_bytes(1, f_varint(1, nid) + f_bytes(2, name.encode()))  # noqa: E731
    objs = [ref(1, "_initialize") + f_bytes(10, b""),
            f_bytes(6, f_bytes(1, b"init_fn")),
            f_bytes(9, f_bytes(1, b"ck")), f_bytes(9, f_bytes(1, b"cv"))]
    concrete = f_bytes(2, f_bytes(1, b"init_fn") + f_bytes(2, f_bytes(2, b"".join(
        varint(i) for i in (0, 2, 3)))))
    graph_obj = b"".join(f_bytes(1, o) for o in objs) + concrete
    sig = f_bytes(1, b"init_fn") + b"".join(f_bytes(2, f_bytes(1, a.encode()))
                                            for a in arg_names)
    library = f_bytes(1, f_bytes(1, sig))

    def const(name, tensor):
        attr = f_bytes(1, b"value") + f_bytes(2, f_bytes(8, tensor))
        return f_bytes(1, f_bytes(1, name) + f_bytes(2, b"Const") + f_bytes(5, attr))
    graph = const(b"ck", keys) + const(b"cv", values) + f_bytes(2, library)
    return f_bytes(2, f_bytes(2, graph) + f_bytes(7, graph_obj))


def _shape(*dims):
    return f_bytes(2, b"".join(f_bytes(2, f_varint(1, d)) for d in dims))


def test_lookup_table_constants_are_bounded_and_checked():
    from kerasrnn_infer.formats.saved_model import read_tables
    strings = f_varint(1, 7) + _shape(2) + f_bytes(8, b"a") + f_bytes(8, b"b")
    ints = f_varint(1, 9) + _shape(2) + f_bytes(4, _int64_run(1, 2))
    t = read_tables(_table_saved_model(strings, ints), "m")
    assert t[0]["values"].tolist() == [1, 2] and t[0]["strings"][0].tolist() == [1, 1]
    # not a keys/values import: ignored (not a lookup table of a Keras layer)
    assert read_tables(_table_saved_model(strings, ints, ("h", "a", "b")), "m") == {}
    huge = f_varint(1, 9) + _shape(1 << 40) + f_bytes(4, _int64_run(1, 2))
    with pytest.raises(kri.ModelFileError, match="vectors of at most"):
        read_tables(_table_saved_model(strings, huge), "m")
    short = f_varint(1, 9) + _shape(3) + f_bytes(4, _int64_run(1, 2))
    with pytest.raises(kri.ModelFileError, match="declares 3 int64 values in 16 bytes"):
        read_tables(_table_saved_model(strings, short), "m")
    three = f_varint(1, 7) + _shape(3) + b"".join(f_bytes(8, c) for c in (b"a", b"b", b"c"))
    with pytest.raises(kri.ModelFileError, match="maps 3 keys to 2"):
        read_tables(_table_saved_model(three, ints), "m")
