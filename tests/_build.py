"""Write small Keras-format files by hand (no TensorFlow) for error and layout tests."""

import io
import json
import zipfile

import h5py
import numpy as np


def k3_layer(cls, name, module="keras.layers", **config):
    config.setdefault("name", name)
    return {"module": module, "class_name": cls, "config": config, "registered_name": None,
            "name": name}


def sequential(layers, name="seq"):
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": name, "layers": layers}, "registered_name": None}


def simple_rnn_model(units=3, features=2, activation="tanh"):
    """Sequential(Input(None, features), SimpleRNN(units)) config and its weights tree."""
    cfg = sequential([
        k3_layer("InputLayer", "input", batch_shape=[None, None, features], dtype="float32"),
        k3_layer("SimpleRNN", "rnn", units=units, activation=activation, use_bias=True,
                 return_sequences=False),
    ])
    rng = np.random.default_rng(0)
    w = [rng.normal(0, 0.5, (features, units)).astype("float32"),
         rng.normal(0, 0.5, (units, units)).astype("float32"),
         rng.uniform(-0.5, 0.5, units).astype("float32")]
    return cfg, {"layers/simple_rnn/cell": w}


def weights_h5_bytes(tree):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, arrays in tree.items():
            g = f.require_group(path + "/vars")
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=a)
    return buf.getvalue()


def write_keras_zip(path, config, tree, members=None, version="3.15.1"):
    members = dict(members or {})
    members.setdefault("metadata.json", json.dumps({"keras_version": version}))
    members.setdefault("config.json", json.dumps(config))
    members.setdefault("model.weights.h5", weights_h5_bytes(tree))
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if data is not None:
                zf.writestr(name, data)
    return str(path)
