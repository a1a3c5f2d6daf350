"""Old and odd files without TensorFlow: CuDNN layouts (round trip from real tf-keras
fixtures), Keras 1 configs and per-gate weights, Keras 3 layout variants, version overrides."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

import kerasrnn_infer as kri
from _build import k3_layer, sequential, write_keras_zip
from _cases import check_model, read_case
from conftest import FIXTURES


def _to_cudnn(kind, arrays, rng):
    """The inverse of the CuDNN -> Keras conversion tf-keras applies when loading."""
    kernel, rec, bias = arrays
    gates = 4 if kind == "LSTM" else 3
    ck = np.concatenate([k.T.reshape(k.shape) for k in np.split(kernel, gates, -1)], -1)
    cr = np.concatenate([k.T for k in np.split(rec, gates, -1)], -1)
    if kind == "LSTM":
        rec_half = rng.uniform(-0.3, 0.3, bias.shape).astype(bias.dtype)
        cb = np.concatenate([bias - rec_half, rec_half])
    else:
        cb = bias.reshape(-1)
    return [ck, cr, cb]


@pytest.mark.parametrize("layer,kind", [("lstm", "LSTM"), ("gru", "GRU")])
def test_cudnn_layout_round_trip(tmp_path, layer, kind):
    src = os.path.join(FIXTURES, "rnn_basic__tf_keras")
    spec, io = read_case(src)
    path = tmp_path / "cudnn.h5"
    shutil.copy(os.path.join(src, "model.h5"), path)
    rng = np.random.default_rng(0)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for entry in cfg["config"]["layers"]:
            if entry["name"] == layer:
                entry["class_name"] = f"CuDNN{kind}"
                for key in ("activation", "recurrent_activation", "reset_after", "use_bias",
                            "implementation", "dropout", "recurrent_dropout", "unroll"):
                    entry["config"].pop(key, None)
        f.attrs["model_config"] = json.dumps(cfg)
        g = f["model_weights"][layer]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        arrays = [g[n][()] for n in names]
        cudnn = _to_cudnn(kind, arrays, rng)
        assert cudnn[2].shape[0] == 2 * arrays[2].size // (1 if kind == "LSTM" else 2)
        for n, a in zip(names, cudnn):
            del g[n]
            g.create_dataset(n, data=a)
    model = kri.load_model(path)
    assert model.get_layer(layer).class_name == kind
    check_model(model, spec, io)


def test_cudnn_gru_weights_refuse_reset_after_false(tmp_path):
    src = os.path.join(FIXTURES, "rnn_basic__tf_keras")
    path = tmp_path / "bad.h5"
    shutil.copy(os.path.join(src, "model.h5"), path)
    with h5py.File(path, "r+") as f:
        g = f["model_weights"]["gru_ra_false"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        bias = g[names[2]][()]
        del g[names[2]]
        g.create_dataset(names[2], data=np.concatenate([bias, bias]))
    with pytest.raises(kri.WeightsError, match="'gru_ra_false'.*CuDNNGRU weights are not "
                                               "compatible with GRU\\(reset_after=False\\)"):
        kri.load_model(path)


def _keras1_lstm_file(path, x_features=3, units=4, seed=0):
    """A Keras 1.2 Sequential LSTM -> Dense file: bare-list config, Keras 1 keys, per-gate
    weights stored i, c, f, o, keras_version on the file root only."""
    rng = np.random.default_rng(seed)
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "LSTM", "config": {
            "name": "lstm_1", "output_dim": units, "input_dim": x_features,
            "batch_input_shape": [None, None, x_features], "input_dtype": "float32",
            "activation": "tanh", "inner_activation": "hard_sigmoid", "init": "glorot_uniform",
            "inner_init": "orthogonal", "forget_bias_init": "one", "consume_less": "cpu",
            "dropout_W": 0.2, "dropout_U": 0.0, "return_sequences": False,
            "go_backwards": False, "stateful": False, "unroll": False, "trainable": True}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 2, "init":
                                           "glorot_uniform", "activation": "linear",
                                           "bias": True, "trainable": True}}]}
    gates = {}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps(cfg).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"lstm_1", b"dense_1"])
        g = mw.create_group("lstm_1")
        names = []
        for gate in "icfo":
            for kind, shape in (("W", (x_features, units)), ("U", (units, units)),
                                ("b", (units,))):
                arr = rng.normal(0, 0.5, shape).astype("float32")
                gates[kind + gate] = arr.astype(np.float64)
                names.append(f"lstm_1_{kind}_{gate}")
                g.create_dataset(names[-1], data=arr)
        g.attrs["weight_names"] = np.array([n.encode() for n in names])
        d = mw.create_group("dense_1")
        dw = rng.normal(0, 0.5, (units, 2)).astype("float32")
        db = rng.normal(0, 0.5, 2).astype("float32")
        d.create_dataset("dense_1_W:0", data=dw)
        d.create_dataset("dense_1_b:0", data=db)
        d.attrs["weight_names"] = np.array([b"dense_1_W:0", b"dense_1_b:0"])
    return gates, dw.astype(np.float64), db.astype(np.float64)


def _keras1_reference(x, gates, dw, db):
    def hs(v):
        return np.clip(0.2 * v + 0.5, 0, 1)
    h = np.zeros((x.shape[0], gates["Ui"].shape[0]))
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = hs(xt @ gates["Wi"] + h @ gates["Ui"] + gates["bi"])
        f = hs(xt @ gates["Wf"] + h @ gates["Uf"] + gates["bf"])
        g = np.tanh(xt @ gates["Wc"] + h @ gates["Uc"] + gates["bc"])
        o = hs(xt @ gates["Wo"] + h @ gates["Uo"] + gates["bo"])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h @ dw + db


def test_keras1_sequential_with_per_gate_weights(tmp_path):
    gates, dw, db = _keras1_lstm_file(tmp_path / "k1.h5")
    model = kri.load_model(tmp_path / "k1.h5")
    assert model.keras_version == "1.2.2"
    x = np.random.default_rng(1).normal(0, 1.0, (3, 6, 3)).astype("float32")
    want = _keras1_reference(x.astype(np.float64), gates, dw, db)
    np.testing.assert_allclose(model.predict(x), want, atol=2e-6)
    # Keras 3's hard_sigmoid gives other numbers: the override is honoured
    other = kri.load_model(tmp_path / "k1.h5", keras_version="3").predict(x)
    assert np.abs(other - want).max() > 1e-3


def test_version_override_changes_hard_sigmoid_on_real_tf_keras_file():
    d = os.path.join(FIXTURES, "dropouts__tf_keras")
    spec, io = read_case(d)
    path = os.path.join(d, spec["load"]["path"])
    check_model(kri.load_model(path), spec, io)
    wrong = kri.load_model(path, keras_version="3").predict(io["in/0"])
    assert np.abs(wrong - io["call0/out/0"]).max() > 1e-4


@pytest.mark.parametrize("prefix,attrs", [("layers/", True), ("_layer_checkpoint_dependencies/",
                                                                False), ("", False)])
def test_keras3_layout_variants(tmp_path, prefix, attrs):
    """Keras 3.0-3.15 and tf-keras 2.13 place layer groups differently; all load."""
    cfg = sequential([
        k3_layer("InputLayer", "inp", batch_shape=[None, None, 2]),
        k3_layer("GRU", "g", units=3, reset_after=True, return_sequences=False),
        k3_layer("Dense", "d", units=1)])
    rng = np.random.default_rng(0)
    tree = {f"{prefix}gru/cell": [rng.normal(size=(2, 9)).astype("f4"),
                                  rng.normal(size=(3, 9)).astype("f4"),
                                  rng.normal(size=(2, 9)).astype("f4")],
            f"{prefix}dense": [rng.normal(size=(3, 1)).astype("f4"),
                               rng.normal(size=(1,)).astype("f4")]}
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    model = kri.load_model(path)
    x = rng.normal(size=(2, 4, 2)).astype("f4")
    base = tmp_path / "ref.keras"
    ref = kri.load_model(write_keras_zip(base, cfg, {k.replace(prefix, "layers/", 1)
                                                     if prefix else "layers/" + k: v
                                                     for k, v in tree.items()}))
    np.testing.assert_array_equal(model.predict(x), ref.predict(x))
    assert np.abs(model.predict(x)).max() > 0


def test_keras1_merge_of_sequential_branches_is_refused():
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Merge", "config": {"name": "merge_1", "mode": "concat", "layers": [
            {"class_name": "Sequential", "config": []}]}}]}
    with pytest.raises(kri.UnsupportedError, match="'merge_1' is a Keras 1 Merge of Sequential"):
        kri.model_from_json(json.dumps(cfg))


# ----- convolution kernels of older writers ---------------------------------------------------
def _flip(k):
    """Theano's kernel of a TensorFlow one: every spatial axis reversed (Keras
    conv_utils.convert_kernel)."""
    return k[(slice(None, None, -1),) * (k.ndim - 2)]


@pytest.mark.parametrize("case,flipped", [
    ("crnn_captcha__tf_keras", {"conv1": 1, "conv2": 1}),
    ("convlstm2d_forecaster__tf_keras", {"convlstm_1": 2, "convlstm_2": 2, "next_frames": 1}),
])
def test_theano_kernels_are_flipped_back(tmp_path, case, flipped):
    """A real tf-keras file rewritten as a Theano-backend Keras 2 file (kernels flipped, and
    ConvLSTM2D's recurrent kernels too): it must still give tf-keras's outputs."""
    src = os.path.join(FIXTURES, case)
    spec, io = read_case(src)
    path = tmp_path / "theano.h5"
    shutil.copy(os.path.join(src, "model.h5"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "theano"
        mw = f["model_weights"]
        mw.attrs["backend"] = "theano"
        for layer, n in flipped.items():
            g = mw[layer]
            names = [x.decode() if isinstance(x, bytes) else x for x in g.attrs["weight_names"]]
            for name in names[:n]:
                k = g[name][()]
                del g[name]
                g.create_dataset(name, data=_flip(k))
    check_model(kri.load_model(path), spec, io)
    plain = kri.load_model(os.path.join(src, "model.h5")).predict(io["in/0"])
    assert np.abs(kri.load_model(path).predict(io["in/0"]) - plain).max() < 1e-6


def _write_keras1(path, layers, weights, backend):
    """A Keras 1.2 Sequential (bare-list config, keras_version on the file root only)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["backend"] = backend.encode()
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                              "config": layers}).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([l["config"]["name"].encode() for l in layers])
        for l in layers:
            name = l["config"]["name"]
            g = mw.create_group(name)
            arrays = weights.get(name, [])
            names = [f"{name}_{i}" for i in range(len(arrays))]
            for n, a in zip(names, arrays):
                g.create_dataset(n, data=a)
            g.attrs["weight_names"] = np.array([n.encode() for n in names])


def test_keras1_theano_convolution2d_th_ordering(tmp_path):
    """Keras 1 Convolution2D(dim_ordering="th", nb_row/nb_col, subsample, border_mode) with
    its kernel stored (filters, channels, rows, cols) and flipped by Theano, then
    MaxPooling2D(th) and Flatten: the cross-correlation of today's kernel."""
    from kerasrnn_infer.cells import convolve
    rng = np.random.default_rng(3)
    kernel = rng.normal(0, 0.5, (3, 2, 2, 4)).astype("float32")      # today: (r, c, in, f)
    bias = rng.normal(0, 0.5, 4).astype("float32")
    stored = _flip(kernel).transpose(3, 2, 0, 1)                    # th layout, flipped
    layers = [
        {"class_name": "Convolution2D", "config": {
            "name": "conv", "nb_filter": 4, "nb_row": 3, "nb_col": 2, "dim_ordering": "th",
            "border_mode": "same", "subsample": [2, 1], "activation": "linear", "bias": True,
            "batch_input_shape": [None, 2, 5, 6], "input_dtype": "float32",
            "trainable": True}},
        {"class_name": "MaxPooling2D", "config": {
            "name": "pool", "pool_size": [1, 2], "strides": [1, 2], "border_mode": "valid",
            "dim_ordering": "th", "trainable": True}},
        {"class_name": "Flatten", "config": {"name": "flat", "trainable": True}}]
    _write_keras1(tmp_path / "k1.h5", layers, {"conv": [stored, bias]}, "theano")
    model = kri.load_model(tmp_path / "k1.h5")
    x = rng.normal(0, 1, (2, 2, 5, 6)).astype("float32")
    y = convolve(x.transpose(0, 2, 3, 1).astype(np.float64), kernel, (2, 1), "same", (1, 1)) \
        + bias                                                       # (2, 3, 6, 4)
    y = y.reshape(2, 3, 3, 2, 4).max(axis=3).transpose(0, 3, 1, 2)  # th pool, (2, 4, 3, 3)
    np.testing.assert_allclose(model.predict(x), y.reshape(2, -1), atol=2e-6)


def test_keras1_convlstm2d_per_gate_weights(tmp_path):
    """Keras 1 ConvLSTM2D: W, U, b per gate in the order i, c, f, o, Keras 1 option names
    (nb_filter, nb_row, nb_col, inner_activation, dim_ordering="tf")."""
    from kerasrnn_infer import activations as A
    from kerasrnn_infer import cells
    rng = np.random.default_rng(4)
    f, cin = 2, 3
    gates = {g: [rng.normal(0, 0.4, (3, 3, cin, f)), rng.normal(0, 0.4, (3, 3, f, f)),
                 rng.normal(0, 0.4, (f,))] for g in "icfo"}
    stored = [a.astype("float32") for g in "icfo" for a in gates[g]]
    layers = [{"class_name": "ConvLSTM2D", "config": {
        "name": "clstm", "nb_filter": f, "nb_row": 3, "nb_col": 3, "dim_ordering": "tf",
        "border_mode": "same", "subsample": [1, 1], "activation": "tanh",
        "inner_activation": "hard_sigmoid", "return_sequences": True, "go_backwards": False,
        "stateful": False, "batch_input_shape": [None, None, 4, 5, cin],
        "input_dtype": "float32", "trainable": True}}]
    _write_keras1(tmp_path / "k1.h5", layers, {"clstm": stored}, "tensorflow")
    model = kri.load_model(tmp_path / "k1.h5")
    x = rng.normal(0, 1, (2, 3, 4, 5, cin)).astype("float32")
    spec = cells.CellSpec("conv_lstm", f, A.tanh, A.hard_sigmoid_keras2, True, False,
                          np.dtype(np.float64), cells.ConvSpec((3, 3), (1, 1), "same", (1, 1)))
    w = cells.CellWeights(*[np.concatenate([gates[g][j] for g in "ifco"], -1)
                            for j in range(3)])
    want = cells.run([spec], [w], x.astype(np.float64), None, None, False, True)[1]
    np.testing.assert_allclose(model.predict(x), want, atol=2e-6)
