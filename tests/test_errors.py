"""Wrong or unsupported files and inputs raise kerasrnn_infer's own errors, naming the file,
the layer and the value."""

import json

import numpy as np
import pytest

import kerasrnn_infer as kri
from _build import k3_layer, simple_rnn_model, write_keras_zip


def reference_simple_rnn(x, w):
    W, U, b = w
    h = np.zeros((x.shape[0], U.shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + b + h @ U)
    return h


def test_hand_written_keras3_file_runs(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    model = kri.load_model(path)
    x = np.random.default_rng(1).normal(0, 0.5, (2, 4, 2)).astype("float32")
    want = reference_simple_rnn(x.astype(np.float64), tree["layers/simple_rnn/cell"])
    np.testing.assert_allclose(model.predict(x), want, atol=1e-6)
    assert [s.name for s in model.inputs] == ["input"]
    assert model.get_layer("rnn").get_weights()[1].shape == (3, 3)


def test_missing_file():
    with pytest.raises(kri.ModelFileError, match="nope.keras: no such file"):
        kri.load_model("nope.keras")


def test_random_bytes(tmp_path):
    p = tmp_path / "junk.h5"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(kri.ModelFileError, match="junk.h5: not a Keras model file"):
        kri.load_model(p)


def test_truncated_archive(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    data = open(path, "rb").read()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(kri.KerasRnnInferError, match="cut.keras"):
        kri.load_model(tmp_path / "cut.keras")


def test_archive_without_config(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree, {"config.json": None})
    with pytest.raises(kri.ModelFileError, match="m.keras: .keras archive has no config.json"):
        kri.load_model(path)


def test_invalid_json_config(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree, {"config.json": "{not json"})
    with pytest.raises(kri.ModelFileError, match="config.json is not valid JSON"):
        kri.load_model(path)


def test_unknown_layer_class_lists_supported(tmp_path):
    cfg, tree = simple_rnn_model()
    cfg["config"]["layers"].append(k3_layer("LocallyConnected1D", "local", filters=2))
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    with pytest.raises(kri.UnsupportedError) as e:
        kri.load_model(path)
    msg = str(e.value)
    assert "'local'" in msg and "'LocallyConnected1D'" in msg and "LSTM" in msg and \
        "m.keras" in msg


def test_lambda_layer_is_refused(tmp_path):
    cfg, tree = simple_rnn_model()
    cfg["config"]["layers"].append(k3_layer("Lambda", "lam", function={
        "class_name": "__lambda__", "config": {"code": "ZZZZ"}}))
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    with pytest.raises(kri.UnsafeModelError, match="'lam' is a Lambda.*custom_objects"):
        kri.load_model(path)


def test_unsupported_activation_names_option(tmp_path):
    cfg, tree = simple_rnn_model(activation="my_act")
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    with pytest.raises(kri.UnsupportedError, match="'rnn'.*activation 'my_act' is not supported"):
        kri.load_model(path)


def test_wrong_weight_shape(tmp_path):
    cfg, tree = simple_rnn_model()
    tree["layers/simple_rnn/cell"][1] = np.zeros((4, 3), "float32")
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    with pytest.raises(kri.WeightsError,
                       match=r"'rnn' \(SimpleRNN\): weight 'recurrent_kernel' has shape \(4, 3\)"):
        kri.load_model(path)


def test_missing_weights(tmp_path):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, {"layers/other/cell": [np.zeros(1)]})
    with pytest.raises(kri.WeightsError, match="no weights for layer 'rnn'"):
        kri.load_model(path)


def test_wrong_input_shape_names_input(tmp_path):
    cfg, tree = simple_rnn_model(features=2)
    model = kri.load_model(write_keras_zip(tmp_path / "m.keras", cfg, tree))
    with pytest.raises(kri.InputError, match=r"input 'input' expects shape \(None, None, 2\), "
                                             r"received \(1, 4, 5\)"):
        model.predict(np.zeros((1, 4, 5), "float32"))
    with pytest.raises(kri.InputError, match="expects 1 inputs"):
        model.predict([np.zeros((1, 4, 2)), np.zeros((1, 4, 2))])
    with pytest.raises(kri.InputError, match="dtype <U1"):
        model.predict(np.array([[["a", "b"]]]))


def test_weights_only_file_to_load_model(tmp_path):
    import h5py
    p = tmp_path / "w.h5"
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
        f.attrs["keras_version"] = b"2.4.0"
        f.create_group("dense").attrs["weight_names"] = np.array([], dtype="S1")
    with pytest.raises(kri.ModelFileError, match="weights only.*model_from_json"):
        kri.load_model(p)


def test_model_from_json_rejects_garbage():
    with pytest.raises(kri.ConfigError, match="not valid JSON"):
        kri.model_from_json("{")
    with pytest.raises(kri.UnsupportedError, match="model class 'MyModel'"):
        kri.model_from_json(json.dumps({"class_name": "MyModel", "config": {}}))


def test_every_error_is_a_kerasrnninfer_error():
    for cls in (kri.ModelFileError, kri.ConfigError, kri.UnsupportedError, kri.UnsafeModelError,
                kri.WeightsError, kri.InputError):
        assert issubclass(cls, kri.KerasRnnInferError)


def test_an_einsum_op_is_bounded_by_the_products_it_would_take():
    """keras.ops.einsum in a config: an equation whose labels multiply past the bound (here
    a 2000^3 contraction of three small inputs) is refused before any work; a bad equation
    is a ConfigError."""
    from kerasrnn_infer.layers.ops import OPS
    einsum = OPS["Einsum"]
    v = np.ones((1, 2000), np.float32)
    with pytest.raises(kri.InputError, match="products, more than"):
        einsum({"subscripts": "ai,aj,ak->"}, [v, v, v])
    with pytest.raises(kri.ConfigError, match="einsum equation"):
        einsum({"subscripts": "ab;import os"}, [v])
    np.testing.assert_allclose(einsum({"subscripts": "ai,ai->a"}, [v, v]), [2000.0])
