"""Attention around RNNs beyond the fixtures: older config spellings and refusals (no
TensorFlow needed), Keras 3 MultiHeadAttention clearing its inputs' masks, custom attention
layers with sublayers, Dot's L2 normalization per writer, and streaming of preprocessing in
front of an RNN (live tests run real Keras 3 and tf-keras)."""

import json
import os
import shutil
import zipfile

import h5py
import numpy as np
import pytest

import kerasrnn_infer as kri

from _cases import as_list, inputs, read_case
from conftest import FIXTURES, have_tensorflow

live = [pytest.mark.live,
        pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")]


def _edit_h5_config(src, dst, edit):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)
    return str(dst)


def _edit_keras_config(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(data)
                edit(cfg)
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    return str(dst)


def _layer(cfg, name):
    return next(l for l in cfg["config"]["layers"] if l["config"]["name"] == name)


def test_older_causal_config_spelling_is_a_causal_mask(tmp_path):
    """tf.keras up to 2.9 kept Attention(causal=True) in the config, not as a call argument."""
    d = os.path.join(FIXTURES, "dense_attention__tf_keras")
    spec, io_ = read_case(d)

    def edit(cfg):
        layer = _layer(cfg, "att_causal")
        layer["config"]["causal"] = True
        for entry in layer["inbound_nodes"][0]:
            entry[3].pop("use_causal_mask")
    path = _edit_h5_config(os.path.join(d, "model.h5"), tmp_path / "m.h5", edit)
    got = kri.load_model(path).layer_outputs(inputs(io_))["att_causal"]
    np.testing.assert_allclose(got, io_["layer/att_causal/0"], atol=1e-5)

    def uncausal(cfg):
        for entry in _layer(cfg, "att_causal")["inbound_nodes"][0]:
            entry[3].pop("use_causal_mask")
    plain = _edit_h5_config(os.path.join(d, "model.h5"), tmp_path / "p.h5", uncausal)
    other = kri.load_model(plain).layer_outputs(inputs(io_))["att_causal"]
    assert np.abs(other - io_["layer/att_causal/0"]).max() > 1e-3      # the test can fail


@pytest.mark.parametrize("key,value", [("use_gate", True), ("sliding_window", 2),
                                       ("attention_axes", [-2])])
def test_multi_head_attention_options_refused_by_name(tmp_path, key, value):
    d = os.path.join(FIXTURES, "mha_axes__tf_keras")         # tf-keras: negative axes refused

    def edit(cfg):
        _layer(cfg, "mha_rows")["config"][key] = value
    path = _edit_h5_config(os.path.join(d, "model.h5"), tmp_path / "m.h5", edit)
    with pytest.raises(kri.UnsupportedError, match=rf"'mha_rows' \(MultiHeadAttention\): "
                                                   rf"{key}="):
        kri.load_model(path)


def test_keras3_negative_attention_axes_count_from_the_projected_rank():
    d = os.path.join(FIXTURES, "mha_axes__keras3")
    spec, io_ = read_case(d)
    got = kri.load_model(os.path.join(d, "model.keras")).layer_outputs(inputs(io_))
    np.testing.assert_allclose(got["mha_neg_axis"], io_["layer/mha_neg_axis/0"], atol=1e-5)
    np.testing.assert_allclose(got["mha_rows"], io_["layer/mha_rows/0"], atol=1e-5)


def test_mha_weights_load_whatever_order_a_legacy_file_lists_them(tmp_path):
    """Legacy weights are matched by name (query/key/value/attention_output, kernel/bias)."""
    d = os.path.join(FIXTURES, "mha_block__tf_keras")
    spec, io_ = read_case(d)
    path = str(tmp_path / "m.h5")
    shutil.copy(os.path.join(d, "model.h5"), path)
    with h5py.File(path, "r+") as f:
        g = f["model_weights/mha_cross"]
        g.attrs["weight_names"] = sorted(g.attrs["weight_names"], reverse=True)
    np.testing.assert_allclose(kri.load_model(path).predict(inputs(io_))[2],
                               io_["call0/out/2"], atol=1e-5)


def test_keras3_two_positional_tensors_only_where_the_layer_takes_them(tmp_path):
    d = os.path.join(FIXTURES, "luong_seq2seq__keras3")

    def edit(cfg):                          # Dot called as dot(a, b) instead of dot([a, b])
        node = _layer(cfg, "scores")["inbound_nodes"][0]
        node["args"] = node["args"][0]
    path = _edit_keras_config(os.path.join(d, "model.keras"), tmp_path / "m.keras", edit)
    with pytest.raises(kri.UnsupportedError, match="2 positional call arguments; supported: "
                                                   "one"):
        kri.load_model(path)


def test_normalization_in_front_of_an_rnn_streams(tmp_path):
    """Normalization along features works step by step: step() equals predict()."""
    from _build import k3_layer, sequential, write_keras_zip
    rng = np.random.default_rng(3)
    cfg = sequential([
        k3_layer("InputLayer", "x", batch_shape=[None, None, 2], dtype="float32"),
        k3_layer("Normalization", "norm", axis=[-1], mean=[0.5, -1.0], variance=[4.0, 0.25],
                 invert=False),
        k3_layer("SimpleRNN", "rnn", units=3, activation="tanh", use_bias=True,
                 return_sequences=True)])
    w = [rng.normal(0, 0.5, s).astype("float32") for s in [(2, 3), (3, 3), (3,)]]
    model = kri.load_model(write_keras_zip(tmp_path / "m.keras", cfg,
                                           {"layers/simple_rnn/cell": w}))
    x = rng.normal(0, 1, (2, 6, 2)).astype("float32")
    whole = model.predict(x)
    h = np.zeros((2, 3), np.float32)
    z = (x - np.array([0.5, -1.0], np.float32)) / np.sqrt(np.array([4.0, 0.25], np.float32))
    for t in range(6):
        h = np.tanh(z[:, t] @ w[0] + h @ w[1] + w[2])
        np.testing.assert_allclose(whole[:, t], h, atol=1e-6)
    a, state = model.step(x[:, :4])
    b, _ = model.step(x[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([a, b], 1), whole, atol=1e-6)


# ----- live: Keras 3 MultiHeadAttention clears the masks of its inputs -----------------------------
def _mha_variants(L, h, u):
    """Several readers of one masked sequence h (and an unmasked u): which of them still see
    h's mask in Keras 3 depends on the order Keras runs them."""
    M = L.MultiHeadAttention
    return [
        lambda: [M(2, 2, name="self_a")(h, h), M(2, 2, name="self_b")(h, h),
                 M(2, 2, name="cross_hu")(h, u)],
        lambda: [M(2, 2, name="cross_hu")(h, u), M(2, 2, name="self_a")(h, h)],
        lambda: [M(2, 2, name="self_a")(h, h), M(2, 2, name="kw")(query=h, value=h)],
        lambda: [M(2, 2, name="uh")(u, h), L.GRU(3, name="gru_after")(h)],
        lambda: [L.GRU(3, name="gru_first")(h), M(2, 2, name="self_a")(h, h),
                 L.Add(name="res")([h, M(2, 2, name="self_b")(h, h)])],
    ]


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("variant", range(5))
def test_keras3_mha_clears_its_inputs_masks_for_later_readers(variant, tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras as K
    L = K.layers
    K.backend.clear_session()
    ids = K.Input((6,), dtype="int32", name="ids")
    h = L.LSTM(4, return_sequences=True, name="h")(L.Embedding(12, 4, mask_zero=True)(ids))
    u = L.LSTM(4, return_sequences=True, name="u")(L.Embedding(12, 4)(ids))
    outs = _mha_variants(L, h, u)[variant]()
    model = K.Model(ids, outs)
    rng = np.random.default_rng(variant)
    for w in model.weights:
        w.assign(rng.normal(0, 0.5, tuple(w.shape)).astype("float32"))
    x = rng.integers(1, 12, (4, 6)).astype("int32")
    x[1, 3:] = 0
    x[2, :] = 0
    want = [np.asarray(y) for y in as_list(model.predict(x, verbose=0))]
    model.save(tmp_path / "m.keras")
    got = as_list(kri.load_model(str(tmp_path / "m.keras")).predict(x))
    for j, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, atol=1e-5, err_msg=f"output {j}")


# ----- live: custom attention layers holding sublayers ------------------------------------------
def _bahdanau(K, registered):
    L = K.layers

    @registered
    class Bahdanau(L.Layer):
        """score = v . tanh(W1 h_t + W2 h_last); context = sum_t softmax(score) h_t."""

        def __init__(self, units=4, **kw):
            super().__init__(**kw)
            self.units = units
            self.w1 = L.Dense(units, name="w1")
            self.w2 = L.Dense(units, use_bias=False, name="w2")
            self.v = L.Dense(1, name="v")

        def build(self, shape):
            self.w1.build(shape)
            self.w2.build((shape[0], shape[-1]))
            self.v.build((shape[0], shape[1], self.units))
            self.temperature = self.add_weight(name="temperature", shape=(),
                                               initializer="ones")

        def call(self, h):
            score = self.v(K.activations.tanh(self.w1(h) + self.w2(h[:, -1:, :])))
            a = K.activations.softmax(score / self.temperature, axis=1)
            return K.ops.sum(a * h, axis=1) if hasattr(K, "ops") else \
                K.backend.sum(a * h, axis=1)

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return Bahdanau


def _numpy_bahdanau(config, weights):
    """By name: the layer's own 'temperature', then each sublayer's kernel (and bias), from
    whichever writer's layout the paths name (Keras 3 'w1/vars/0', tf-keras h5
    'bahdanau/w1/kernel:0')."""
    by = {}
    for arr, path in zip(weights, weights.paths):
        parts = path.replace(":0", "").split("/")
        owner = next((p for p in parts if p in ("w1", "w2", "v")), "own")
        by.setdefault(owner, []).append((path, arr))
    for k in by:                                 # kernel before bias (vars/0 before vars/1)
        by[k].sort(key=lambda pa: (("bias" in pa[0]) or pa[0].endswith("vars/1"), pa[0]))
    (temp,) = [a for _, a in by["own"]]
    w1k, w1b = [a for _, a in by["w1"]]
    (w2k,) = [a for _, a in by["w2"]]
    vk, vb = [a for _, a in by["v"]]

    def call(h, mask=None):
        score = np.tanh(h @ w1k + w1b + h[:, -1:, :] @ w2k) @ vk + vb
        score = score / temp
        a = np.exp(score - score.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        return (a * h).sum(axis=1)
    return call


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
def test_custom_attention_with_sublayers_gets_all_its_weights(writer, tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if writer == "keras3":
        import keras as K
        register = K.saving.register_keras_serializable(package="t15")
    else:
        import tf_keras as K
        register = K.utils.register_keras_serializable(package="t15")
    K.backend.clear_session()
    Att = _bahdanau(K, register)
    x_in = K.Input((5, 3), name="x")
    h = K.layers.LSTM(4, return_sequences=True, name="enc")(x_in)
    model = K.Model(x_in, K.layers.Dense(2, name="head")(Att(4, name="att")(h)))
    rng = np.random.default_rng(11)
    for w in model.weights:
        w.assign(rng.normal(0, 0.6, tuple(w.shape)).astype("float32") + (
            1.0 if "temperature" in w.name else 0.0))
    x = rng.normal(0, 1, (3, 5, 3)).astype("float32")
    want = np.asarray(model.predict(x, verbose=0))
    # tf-keras cannot write this layer to .h5 (its sublayers' weight names collide)
    for name in ("m.keras", "m.h5") if writer == "keras3" else ("m.keras",):
        model.save(str(tmp_path / name))
        got = kri.load_model(str(tmp_path / name),
                             custom_objects={"Bahdanau": _numpy_bahdanau}).predict(x)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)


# ----- live: Dot(normalize=True) near zero norms, per writer ---------------------------------------
@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_dot_normalize_tiny_norms_per_writer(tmp_path):
    """Keras 3 caps 1/norm at 1e7, tf-keras floors the squared norm at 1e-12: a vector of
    squared norm 5e-13 is a unit vector in Keras 3 and shorter in tf-keras."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tf_keras
    x = np.array([[3e-7, 4e-7, 5e-7], [1.0, 2.0, -2.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]], np.float32)
    results = {}
    for K, path in ((keras, "m.keras"), (tf_keras, "m.h5")):
        a, b = K.Input((3,)), K.Input((3,))
        m = K.Model([a, b], K.layers.Dot(axes=1, normalize=True)([a, b]))
        want = np.asarray(m.predict([x, y], verbose=0))
        m.save(str(tmp_path / path))
        got = kri.load_model(str(tmp_path / path)).predict([x, y])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        results[path] = want
    assert abs(results["m.keras"][0, 0] - results["m.h5"][0, 0]) > 0.1


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
def test_category_encoding_count_weights_live(writer, tmp_path):
    """CategoryEncoding(count) with count_weights from a second input, into a GRU's state."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    K = __import__("keras" if writer == "keras3" else "tf_keras")
    L = K.layers
    ids, wts = K.Input((5,), dtype="int32", name="ids"), K.Input((5,), name="w")
    bag = L.CategoryEncoding(num_tokens=4, output_mode="count", name="bag")(ids,
                                                                            count_weights=wts)
    seq = K.Input((3, 2), name="seq")
    out = L.GRU(4, name="gru")(seq, initial_state=[L.Dense(4, name="to_state")(bag)])
    model = K.Model([ids, wts, seq], [out, bag])
    rng = np.random.default_rng(4)
    x = [rng.integers(0, 4, (3, 5)).astype("int32"), rng.normal(0, 1, (3, 5)).astype("float32"),
         rng.normal(0, 1, (3, 3, 2)).astype("float32")]
    want = [np.asarray(y) for y in model.predict(x, verbose=0)]
    path = str(tmp_path / ("m.keras" if writer == "keras3" else "m.h5"))
    model.save(path)
    got = kri.load_model(path).predict(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)
