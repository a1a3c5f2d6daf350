"""Crafted hostile model files, one builder per class of attack (issue: hostile files, round 2).

Each builder writes a small file into a folder and returns a ``Case``: how to load it, the
error class it must end in and a pattern its message must match. ``tests/test_hostile.py``
runs every case in both reading modes (forked reader and ``KERASRNN_INFER_NO_FORK=1``) and
checks the error, its message, that both modes agree, and the time taken. Run by hand:

    python tests/hostile_files.py            # prints one line per case, both modes
"""

import io
import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import kerasrnn_infer as kri  # noqa: E402
from _build import k3_layer, sequential, weights_h5_bytes, write_keras_zip  # noqa: E402


@dataclass
class Case:
    path: str
    error: type
    match: str
    json_text: Optional[str] = None        # weights-only file: model_from_json then load_weights
    feed: Optional[Callable] = None        # predict on this input instead of ones
    run: Optional[Callable] = None         # a custom action instead of load + predict


BUILDERS: Dict[str, Callable[[str], Case]] = {}


def case(fn):
    BUILDERS[fn.__name__] = fn
    return fn


# ----- helpers ---------------------------------------------------------------------------------
SECRET = b"TOP-SECRET-BYTES" * 4          # 64 bytes: 16 float32 values


def _secret_file(d):
    p = os.path.join(d, "secret.bin")
    with open(p, "wb") as f:
        f.write(SECRET)
    return p


def _tf_dense_config(units=4, features=4, name="dense"):
    """A tf-keras Sequential(InputLayer, Dense) model_config."""
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, features],
                                                "dtype": "float32", "name": "inp"}},
        {"class_name": "Dense", "config": {"name": name, "units": units, "use_bias": True,
                                           "activation": "linear", "dtype": "float32"}}]}}


def write_legacy_h5(path, config, layers, keras_version="2.21.0", dataset_kw=None):
    """A legacy full-model HDF5 file: ``layers`` maps a layer name to [(weight name, array)].
    ``dataset_kw`` maps a weight name to extra ``create_dataset`` arguments (and ``data=None``
    to leave the data unwritten)."""
    dataset_kw = dataset_kw or {}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        if config is not None:
            f.attrs["model_config"] = config if isinstance(config, (str, np.ndarray, np.void,
                                                                     int)) \
                else json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in layers]
        g.attrs["keras_version"] = keras_version
        g.attrs["backend"] = "tensorflow"
        for lname, weights in layers.items():
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for wname, arr in weights:
                kw = dict(dataset_kw.get(wname, {}))
                if "external" in kw or kw.pop("empty", False):
                    lg.create_dataset(wname, shape=arr.shape, dtype=arr.dtype, **kw)
                else:
                    lg.create_dataset(wname, data=arr, **kw)
    return str(path)


def _dense_weights(units=4, features=4):
    rng = np.random.default_rng(0)
    return {"dense": [("dense/kernel:0", rng.normal(0, .5, (features, units)).astype("f4")),
                      ("dense/bias:0", rng.normal(0, .5, units).astype("f4"))]}


def _k3_dense_model():
    cfg = sequential([k3_layer("InputLayer", "inp", batch_shape=[None, 4], dtype="float32"),
                      k3_layer("Dense", "dense", units=4, activation="linear", use_bias=True)])
    rng = np.random.default_rng(0)
    tree = {"layers/dense": [rng.normal(0, .5, (4, 4)).astype("f4"),
                             rng.normal(0, .5, 4).astype("f4")]}
    return cfg, tree


def _h5_bytes(build):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def _keras_zip_with_weights(path, cfg, weights_h5, compression=zipfile.ZIP_STORED):
    return _zip(path, {"metadata.json": json.dumps({"keras_version": "3.15.1"}),
                       "config.json": json.dumps(cfg), "model.weights.h5": weights_h5},
                compression)


def _external_kernel_tree(f, target):
    g = f.create_group("layers/dense/vars")
    g.create_dataset("0", shape=(4, 4), dtype="f4", external=[(target, 0, 64)])
    g.create_dataset("1", data=np.zeros(4, "f4"))


# ----- 1. reading outside the file -------------------------------------------------------------
@case
def external_storage_h5_absolute(d):
    target = _secret_file(d)
    p = write_legacy_h5(os.path.join(d, "ext_abs.h5"), _tf_dense_config(), _dense_weights(),
                        dataset_kw={"dense/kernel:0": {"external": [(target, 0, 64)]}})
    return Case(p, kri.ModelFileError, r"ext_abs\.h5: .*dense/kernel:0.* external storage")


@case
def external_storage_h5_relative(d):
    _secret_file(d)
    p = write_legacy_h5(os.path.join(d, "ext_rel.h5"), _tf_dense_config(), _dense_weights(),
                        dataset_kw={"dense/kernel:0": {"external": [("secret.bin", 0, 64)]}})
    return Case(p, kri.ModelFileError, r"ext_rel\.h5: .* external storage")


@case
def external_storage_keras_stored(d):
    target = _secret_file(d)
    cfg, _ = _k3_dense_model()
    p = _keras_zip_with_weights(os.path.join(d, "ext_stored.keras"), cfg,
                                _h5_bytes(lambda f: _external_kernel_tree(f, target)))
    return Case(p, kri.ModelFileError, r"ext_stored\.keras: .*layers/dense/vars/0.* external")


@case
def external_storage_keras_deflated(d):
    _secret_file(d)
    cfg, _ = _k3_dense_model()
    p = _keras_zip_with_weights(os.path.join(d, "ext_deflated.keras"), cfg,
                                _h5_bytes(lambda f: _external_kernel_tree(f, "secret.bin")),
                                zipfile.ZIP_DEFLATED)
    return Case(p, kri.ModelFileError, r"ext_deflated\.keras: .* external storage")


@case
def external_storage_weights_only(d):
    target = _secret_file(d)
    p = write_legacy_h5(os.path.join(d, "ext_weights.h5"), None, _dense_weights(),
                        dataset_kw={"dense/kernel:0": {"external": [(target, 0, 64)]}})
    return Case(p, kri.ModelFileError, r"ext_weights\.h5: .* external storage",
                json_text=json.dumps(_tf_dense_config()))


@case
def virtual_dataset(d):
    src = os.path.join(d, "vds_source.h5")
    with h5py.File(src, "w") as f:
        f["data"] = np.frombuffer(SECRET, "f4").reshape(4, 4)

    def build(f):
        layout = h5py.VirtualLayout(shape=(4, 4), dtype="f4")
        layout[:] = h5py.VirtualSource(src, "data", shape=(4, 4))
        g = f.create_group("layers/dense/vars")
        g.create_virtual_dataset("0", layout)
        g.create_dataset("1", data=np.zeros(4, "f4"))
    cfg, _ = _k3_dense_model()
    p = _keras_zip_with_weights(os.path.join(d, "vds.keras"), cfg, _h5_bytes(build))
    return Case(p, kri.ModelFileError, r"vds\.keras: .*layers/dense/vars/0.* virtual dataset")


@case
def unknown_filter_plugin(d):
    """A chunk written raw under a filter libhdf5 would look for as a plugin (a shared
    library loaded from HDF5_PLUGIN_PATH: code from outside the file)."""
    def build(f):
        g = f.create_group("layers/dense/vars")
        ds = g.create_dataset("0", shape=(4, 4), chunks=(4, 4), dtype="f4",
                              compression=32_123, allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0), SECRET)
        g.create_dataset("1", data=np.zeros(4, "f4"))
    cfg, _ = _k3_dense_model()
    p = _keras_zip_with_weights(os.path.join(d, "filter.keras"), cfg, _h5_bytes(build))
    return Case(p, kri.ModelFileError, r"filter\.keras: .*layers/dense/vars/0.* filter 32123")


@case
def external_link(d):
    def build(f):
        g = f.create_group("layers/dense/vars")
        g["0"] = h5py.ExternalLink(os.path.join(d, "other.h5"), "/x")
        g.create_dataset("1", data=np.zeros(4, "f4"))
    cfg, _ = _k3_dense_model()
    p = _keras_zip_with_weights(os.path.join(d, "extlink.keras"), cfg, _h5_bytes(build))
    return Case(p, kri.ModelFileError, r"extlink\.keras: .*is a link; links are not followed")


@case
def external_link_inside_a_path(d):
    """Legacy weight names hold '/': a link part-way along the path is refused too."""
    p = write_legacy_h5(os.path.join(d, "midlink.h5"), _tf_dense_config(), {})
    other = os.path.join(d, "other_weights.h5")
    with h5py.File(other, "w") as f:
        f["kernel:0"] = np.frombuffer(SECRET, "f4").reshape(4, 4)
        f["bias:0"] = np.zeros(4, "f4")
    with h5py.File(p, "r+") as f:
        g = f["model_weights"]
        g.attrs["layer_names"] = [b"dense"]
        lg = g.create_group("dense")
        lg.attrs["weight_names"] = [b"evil/kernel:0", b"evil/bias:0"]
        lg["evil"] = h5py.ExternalLink(other, "/")
    return Case(p, kri.ModelFileError, r"midlink\.h5: /model_weights/dense/evil is a link; "
                                       r"links are not followed")


@case
def hard_link_cycle(d):
    """Groups that contain their own ancestors: a walk that follows them never ends."""
    cfg, tree = _k3_dense_model()

    def build(f):
        for path, arrays in tree.items():
            g = f.require_group(path + "/vars")
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=a)
        f["layers/dense/loop_a"] = f["layers"]
        f["layers/dense/loop_b"] = f["layers"]
    p = _keras_zip_with_weights(os.path.join(d, "cycle.keras"), cfg, _h5_bytes(build))
    return Case(p, kri.ModelFileError, r"cycle\.keras: .*layers/dense/loop_a.* cycle")


# ----- 2, 3. time: nesting and graph size ------------------------------------------------------
@case
def nested_sequentials(d):
    """32 Sequentials inside one another (2 KB): loads quickly (was exponential)."""
    inner = sequential([k3_layer("InputLayer", "i0", batch_shape=[None, 4], dtype="float32"),
                        k3_layer("Dense", "dense", units=4, activation="linear")], name="s0")
    for k in range(1, 32):
        inner = sequential([k3_layer("InputLayer", f"i{k}", batch_shape=[None, 4],
                                     dtype="float32"), inner], name=f"s{k}")
    path = "/".join(["layers/sequential"] * 31) + "/layers/dense"
    rng = np.random.default_rng(0)
    p = write_keras_zip(os.path.join(d, "nested.keras"), inner,
                        {path: [rng.normal(size=(4, 4)).astype("f4"), np.zeros(4, "f4")]})
    return Case(p, None, "")


@case
def too_deeply_nested_models(d):
    """40 TimeDistributed inside one another: within the JSON depth bound, beyond nesting."""
    inner = k3_layer("Dense", "dense", units=4, activation="linear")
    for k in range(40):
        inner = {"class_name": "TimeDistributed", "config": {"name": f"td{k}", "layer": inner}}
    p = write_keras_zip(os.path.join(d, "deep_models.keras"), sequential([inner]), {})
    return Case(p, kri.ConfigError, r"deep_models\.keras: layer 'td\d+' \(TimeDistributed\): "
                                    r"models and wrappers nest more than 32 deep")


@case
def too_deeply_nested_json(d):
    inner = k3_layer("Dense", "dense", units=4, activation="linear")
    for k in range(80):
        inner = sequential([inner], name=f"s{k}")
    p = write_keras_zip(os.path.join(d, "deep_models_json.keras"), inner, {})
    return Case(p, kri.ModelFileError, r"deep_models_json\.keras: config\.json nests deeper "
                                       r"than 128 levels")


def _reversed_chain(n):
    layers = [{"class_name": "InputLayer", "name": "in", "config": {
        "name": "in", "batch_input_shape": [None, 3], "dtype": "float32"}, "inbound_nodes": []}]
    prev = "in"
    for k in range(n):
        layers.append({"class_name": "Activation", "name": f"a{k}", "config": {
            "name": f"a{k}", "activation": "linear"}, "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = f"a{k}"
    layers = layers[:1] + layers[1:][::-1]
    return {"class_name": "Functional", "config": {
        "name": "chain", "layers": layers, "input_layers": [["in", 0, 0]],
        "output_layers": [[prev, 0, 0]]}}


@case
def reversed_graph_4000_layers(d):
    p = write_legacy_h5(os.path.join(d, "reversed.h5"), _reversed_chain(4000), {})
    return Case(p, None, "")


@case
def too_many_layers(d):
    p = write_legacy_h5(os.path.join(d, "huge_graph.h5"), _reversed_chain(60_000), {})
    return Case(p, kri.ConfigError, r"huge_graph\.h5: .*at least \d+ layers, more than the 50000")


# ----- 5. raw exceptions from the reader ----------------------------------------------------
@case
def model_config_not_a_string(d):
    p = write_legacy_h5(os.path.join(d, "cfg_int.h5"), np.arange(5), _dense_weights())
    return Case(p, kri.ModelFileError, r"cfg_int\.h5: model_config must be text, but holds an array of int64")


@case
def model_config_not_utf8(d):
    p = write_legacy_h5(os.path.join(d, "cfg_bytes.h5"), np.void(b"\xff\xfe{"), _dense_weights())
    return Case(p, kri.ModelFileError, r"cfg_bytes\.h5: model_config")


@case
def layer_names_not_strings(d):
    p = write_legacy_h5(os.path.join(d, "names.h5"), _tf_dense_config(), _dense_weights())
    with h5py.File(p, "r+") as f:
        f["model_weights"].attrs["layer_names"] = np.arange(3)
    return Case(p, kri.ModelFileError, r"names\.h5: .*layer_names")


@case
def weight_names_surrogates(d):
    p = write_legacy_h5(os.path.join(d, "surrogate.h5"), _tf_dense_config(), _dense_weights())
    with h5py.File(p, "r+") as f:
        f["model_weights/dense"].attrs["weight_names"] = [b"\xed\xa0\x80kernel"]
    return Case(p, kri.ModelFileError, r"surrogate\.h5: ")


# ----- 6. memory from a small zip --------------------------------------------------------------
@case
def config_of_empty_objects(d):
    """57 MB of `{}` deflated to about 60 KB."""
    text = "[" + "{}," * 19_000_000 + "{}]"
    p = _zip(os.path.join(d, "objects.keras"), {
        "metadata.json": "{}", "config.json": text,
        "model.weights.h5": weights_h5_bytes({})}, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(p) < 200_000
    return Case(p, kri.ModelFileError, r"objects\.keras: config\.json holds more than")


@case
def deeply_nested_json(d):
    text = "[" * 100_000 + "]" * 100_000
    p = _zip(os.path.join(d, "deep_json.keras"), {
        "metadata.json": "{}", "config.json": text, "model.weights.h5": weights_h5_bytes({})})
    return Case(p, kri.ModelFileError, r"deep_json\.keras: config\.json nests deeper than")


@case
def deeply_nested_json_text(d):
    text = '{"class_name": "Sequential", "config": ' + "[" * 50_000 + "]" * 50_000 + "}"
    return Case("", kri.ConfigError, r"<json>: .*nests deeper than",
                run=lambda: kri.model_from_json(text))


# ----- 7. config values -------------------------------------------------------------------------
def _bad_option(d, fname, layer_cls, options, pattern, error=None, extra_layers=(), tree=None,
                batch_shape=(None, 4), dtype="float32"):
    layers = [k3_layer("InputLayer", "inp", batch_shape=list(batch_shape), dtype=dtype)]
    layers += list(extra_layers)
    if layer_cls:
        layers.append(k3_layer(layer_cls, "bad", **options))
    p = write_keras_zip(os.path.join(d, fname), sequential(layers), tree or {})
    return Case(p, error or kri.ConfigError, pattern)


@case
def relu_max_value_string(d):
    return _bad_option(d, "relu.keras", "ReLU", {"max_value": "six"},
                       r"relu\.keras: layer 'bad' \(ReLU\): max_value='six' must be a finite number")


@case
def leaky_relu_slope_list(d):
    return _bad_option(d, "leaky.keras", "LeakyReLU", {"negative_slope": [1]},
                       r"leaky\.keras: layer 'bad' \(LeakyReLU\): negative_slope=\[1\]")


@case
def masking_value_object(d):
    return _bad_option(d, "masking.keras", "Masking", {"mask_value": {}},
                       r"masking\.keras: layer 'bad' \(Masking\): mask_value=\{\}")


@case
def batchnorm_epsilon_string(d):
    return _bad_option(d, "bn.keras", "BatchNormalization", {"epsilon": "tiny"},
                       r"bn\.keras: layer 'bad' \(BatchNormalization\): epsilon='tiny'")


@case
def layernorm_epsilon_nan(d):
    return _bad_option(d, "ln.keras", "LayerNormalization", {"epsilon": float("nan")},
                       r"ln\.keras: layer 'bad' \(LayerNormalization\): epsilon=nan")


@case
def conv1d_groups_string(d):
    return _bad_option(d, "conv.keras", "Conv1D", {"filters": 4, "kernel_size": 1,
                                                   "groups": "two"},
                       r"conv\.keras: layer 'bad' \(Conv1D\): groups='two' must be an integer",
                       batch_shape=(None, 5, 4))


@case
def boolean_option_as_string(d):
    return _bad_option(d, "boolstr.keras", "SimpleRNN", {"units": 3,
                                                         "return_sequences": "false"},
                       r"boolstr\.keras: layer 'bad' \(SimpleRNN\): return_sequences='false' "
                       r"must be true or false", batch_shape=(None, 5, 4))


@case
def units_huge(d):
    return _bad_option(d, "units.keras", "Dense", {"units": 10 ** 12},
                       r"units\.keras: layer 'bad' \(Dense\): units=1000000000000 .*at most")


@case
def repeat_vector_huge(d):
    return _bad_option(d, "repeat.keras", "RepeatVector", {"n": 10 ** 10},
                       r"repeat\.keras: layer 'bad' \(RepeatVector\): n=10000000000 .*at most")


@case
def input_dtype_subarray(d):
    return _bad_option(d, "dtype.keras", None, {},
                       r"dtype\.keras: layer 'inp' \(InputLayer\): .*dtype '\(1000000000000,\)f4'",
                       error=kri.UnsupportedError, dtype="(1000000000000,)f4")


@case
def input_shape_huge(d):
    return _bad_option(d, "shape.keras", "Dense", {"units": 4},
                       r"shape\.keras: layer 'inp' \(InputLayer\): .*batch shape",
                       batch_shape=(None, 10 ** 15))


@case
def numpy_constant_huge_dtype(d):
    """A Keras 3 ``__numpy__`` call argument whose dtype is a 8 GB sub-array."""
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "name": "inp",
         "config": {"name": "inp", "batch_shape": [None, 4], "dtype": "float32"},
         "inbound_nodes": []},
        {"module": "keras.src.ops.numpy", "class_name": "Add", "name": "add",
         "config": {"name": "add"}, "inbound_nodes": [{"args": [
             {"class_name": "__keras_tensor__", "config": {"shape": [None, 4],
                                                            "dtype": "float32",
                                                            "keras_history": ["inp", 0, 0]}},
             {"class_name": "__numpy__", "config": {"value": [1.0],
                                                    "dtype": "(1000000000,)f8"}}],
             "kwargs": {}}]}]
    cfg = {"module": "keras", "class_name": "Functional", "config": {
        "name": "f", "layers": layers, "input_layers": [["inp", 0, 0]],
        "output_layers": [["add", 0, 0]]}}
    p = write_keras_zip(os.path.join(d, "numpy_const.keras"), cfg, {})
    return Case(p, kri.ConfigError, r"numpy_const\.keras: .*'\(1000000000,\)f8'")


# ----- 8. raw exceptions at predict, from JSON and paths --------------------------------------
@case
def output_index_out_of_range(d):
    cfg = _reversed_chain(2)
    cfg["config"]["output_layers"] = [["a1", 0, 5]]
    p = write_legacy_h5(os.path.join(d, "out_index.h5"), cfg, {})
    return Case(p, kri.ConfigError, r"out_index\.h5: .*output 5 of call 0 of layer 'a1', which has 1 output")


@case
def time_distributed_sequential(d):
    inner = sequential([k3_layer("Dense", "dense", units=2, activation="tanh")], name="inner")
    layers = [k3_layer("InputLayer", "inp", batch_shape=[None, 3, 4], dtype="float32"),
              {"module": "keras.layers", "class_name": "TimeDistributed",
               "config": {"name": "td", "layer": inner}, "registered_name": None,
               "name": "td"}]
    rng = np.random.default_rng(0)
    tree = {"layers/time_distributed/layer/layers/dense": [
        rng.normal(size=(4, 2)).astype("f4"), rng.normal(size=2).astype("f4")]}
    p = write_keras_zip(os.path.join(d, "td_seq.keras"), sequential(layers), tree)
    return Case(p, None, "")


@case
def ragged_input(d):
    cfg, tree = _k3_dense_model()
    p = write_keras_zip(os.path.join(d, "ragged.keras"), cfg, tree)
    return Case(p, kri.InputError, r"input 'inp'.* ragged|inhomogeneous",
                feed=lambda: [[1.0, 2.0, 3.0, 4.0], [1.0]])


@case
def dict_input_mixed_keys(d):
    cfg, tree = _k3_dense_model()
    p = write_keras_zip(os.path.join(d, "mixed_keys.keras"), cfg, tree)
    return Case(p, kri.InputError, r"inputs by name must be exactly \['inp'\]",
                feed=lambda: {0: np.ones((1, 4)), "x": np.ones((1, 4))})


@case
def path_with_nul(d):
    return Case("", kri.ModelFileError, r"NUL", run=lambda: kri.load_model("model\0.keras"))


@case
def bytes_path(d):
    cfg, tree = _k3_dense_model()
    p = write_keras_zip(os.path.join(d, "bytes_path.keras"), cfg, tree)
    return Case("", None, "", run=lambda: kri.load_model(os.fsencode(p)).predict(np.ones((1, 4))))


@case
def fifo_inside_external_storage(d):
    fifo = os.path.join(d, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    p = write_legacy_h5(os.path.join(d, "ext_fifo.h5"), _tf_dense_config(), _dense_weights(),
                        dataset_kw={"dense/kernel:0": {"external": [(fifo, 0, 64)]}})
    return Case(p, kri.ModelFileError, r"ext_fifo\.h5: .* external storage")


# ----- running ---------------------------------------------------------------------------------
def attempt(c: Case):
    """(error or None, seconds)."""
    t0 = time.perf_counter()
    try:
        if c.run is not None:
            c.run()
        else:
            if c.json_text is not None:
                model = kri.model_from_json(c.json_text).load_weights(c.path)
            else:
                model = kri.load_model(c.path)
            if c.feed is not None:
                model.predict(c.feed())
            else:
                feeds = [np.ones(tuple(2 if s is None else s for s in spec.shape), spec.dtype)
                         for spec in model.inputs]
                model.predict(feeds if len(feeds) > 1 else feeds[0])
        err = None
    except Exception as e:   # noqa: BLE001 - the caller judges the exception
        err = e
    return err, time.perf_counter() - t0


def main():
    import tempfile
    d = tempfile.mkdtemp(prefix="kri-hostile-")
    for name, build in BUILDERS.items():
        c = build(d)
        for mode in ("fork", "no-fork"):
            if mode == "no-fork":
                os.environ["KERASRNN_INFER_NO_FORK"] = "1"
            else:
                os.environ.pop("KERASRNN_INFER_NO_FORK", None)
            err, dt = attempt(c)
            print(f"{name:34s} {mode:8s} {dt:6.2f}s {type(err).__name__ if err else 'ok'}: "
                  f"{str(err)[:160] if err else ''}", flush=True)


if __name__ == "__main__":
    main()
