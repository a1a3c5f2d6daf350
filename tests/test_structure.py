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


# ----- custom layers get every weight the file holds for them ------------------------------------
def _scale(config, weights):
    (w,) = weights
    return lambda x, mask=None: x * w


def _td_custom_k3(tmp_path):
    from _build import k3_layer, sequential, write_keras_zip
    layers = [k3_layer("InputLayer", "inp", batch_shape=[None, 3, 4], dtype="float32"),
              {"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
               "name": "td", "config": {"name": "td", "layer": {
                   "module": None, "class_name": "Scale", "registered_name": "t>Scale",
                   "config": {"name": "scale"}}}}]
    w = np.arange(1, 5, dtype=np.float32)
    return write_keras_zip(tmp_path / "td_custom.keras", sequential(layers),
                           {"layers/time_distributed/layer": [w]}), w


def test_a_custom_layer_inside_time_distributed_gets_its_weights_keras3(tmp_path):
    """Was a raw TypeError (no len() of None) and, once past it, no weights at all."""
    path, w = _td_custom_k3(tmp_path)
    model = kri.load_model(path, custom_objects={"Scale": _scale})
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), x * w)


def test_a_custom_layer_inside_time_distributed_gets_its_weights_legacy(tmp_path):
    from hostile_files import write_legacy_h5
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3, 4],
                                                "dtype": "float32", "name": "inp"}},
        {"class_name": "TimeDistributed", "config": {"name": "td", "layer": {
            "class_name": "Scale", "config": {"name": "scale"}}}}]}}
    w = np.arange(1, 5, dtype=np.float32)
    path = write_legacy_h5(tmp_path / "td_custom.h5", cfg, {"td": [("td/w:0", w)]})
    seen = {}

    def scale(config, weights):
        seen["paths"] = weights.paths
        return _scale(config, weights)
    model = kri.load_model(path, custom_objects={"Scale": scale})
    x = np.ones((2, 3, 4), np.float32)
    np.testing.assert_array_equal(model.predict(x), x * w)
    assert seen["paths"] == ["td/w:0"]


def _attention(config, weights):
    """The Keras 3 layer of test_live_custom_layer_with_sublayers: own w (features,), then
    the sublayers by attribute name: av (kernel), zq (kernel, bias)."""
    w, av, zq_k, zq_b = weights

    def call(x, mask=None):
        return (x @ zq_k + zq_b) * w[..., :1] + x @ av
    return call


def test_a_keras3_custom_layer_with_sublayers_gets_all_its_weights(tmp_path):
    """Sublayers' variables sit in groups below the layer's (layers/att/zq/vars): all of them
    reach the factory, own vars first, then the groups in name order (was: none, silently)."""
    from _build import k3_layer, sequential, write_keras_zip
    rng = np.random.default_rng(1)
    w, av, zq_k, zq_b = (rng.normal(size=s).astype(np.float32)
                         for s in [(5,), (5, 4), (5, 4), (4,)])
    cfg = sequential([k3_layer("InputLayer", "inp", batch_shape=[None, 3, 5], dtype="float32"),
                      k3_layer("Att", "att", module=None)])
    path = write_keras_zip(tmp_path / "att.keras", cfg, {
        "layers/att": [w], "layers/att/zq": [zq_k, zq_b], "layers/att/av": [av]})
    seen = {}

    def attention(config, weights):
        seen["paths"] = weights.paths
        return _attention(config, weights)
    model = kri.load_model(path, custom_objects={"Att": attention})
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), (x @ zq_k + zq_b) * w[0] + x @ av, rtol=1e-6)
    assert seen["paths"] == ["vars/0", "av/vars/0", "zq/vars/0", "zq/vars/1"]


@pytest.mark.live
@pytest.mark.skipif(not __import__("conftest").have_tensorflow(),
                    reason="TensorFlow is not installed")
def test_live_custom_layer_with_sublayers(tmp_path):
    """The order documented in layers/custom.py is the one real Keras 3 writes."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    class Att(keras.layers.Layer):
        def __init__(self, units=4, **kw):
            super().__init__(**kw)
            self.units = units
            self.zq = keras.layers.Dense(units, name="zq")
            self.av = keras.layers.Dense(units, use_bias=False, name="av")

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="w", initializer="random_normal")
            self.zq.build(shape)
            self.av.build(shape)

        def call(self, x):
            return self.zq(x) * self.w[..., :1] + self.av(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    m = keras.Sequential([keras.Input((3, 5)), Att(4, name="att")])
    rng = np.random.default_rng(2)
    m.layers[0].zq.bias.assign(rng.normal(size=4).astype("float32"))
    path = str(tmp_path / "att.keras")
    m.save(path)
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    want = np.asarray(m.predict(x, verbose=0))
    got = kri.load_model(path, custom_objects={"Att": _attention}).predict(x)
    np.testing.assert_allclose(got, want, atol=1e-5)
