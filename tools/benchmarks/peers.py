"""The peers, timed per config in a worker subprocess on the same file and inputs: this engine,
the reference cells in float32, Keras 3 on TensorFlow (predict, call, tf.function), onnxruntime
on tf2onnx, the Keras 3 NumPy backend; and the per-step matrix products alone."""

import importlib.util
import json
import os
import platform
import statistics
import time

import numpy as np

from . import models, reference
from .configurations import model_key
from .timing import blas_info, err, log, new_results, time_round_robin

MAIN_PEERS = ("engine", "numpy-loop", "keras.predict", "keras.call", "tf.function", "onnxruntime")
KNP_PEERS = ("keras-numpy", "keras-numpy.predict")
ALL_PEERS = MAIN_PEERS + KNP_PEERS
TF_PEERS = ("keras.predict", "keras.call", "tf.function", "onnxruntime")
SHORT = {"numpy-loop": "np-loop", "keras.predict": "k.predict", "keras.call": "k.call",
         "tf.function": "tf.fn", "onnxruntime": "ort", "keras-numpy": "knp.call",
         "keras-numpy.predict": "knp.predict"}
LEGEND = ("np-loop = plain float32 NumPy loop (kerasrnn_infer.cells); k.predict / k.call = "
          "Keras 3 on TensorFlow model.predict / model(x); tf.fn = tf.function(model(x)); ort = "
          "onnxruntime on tf2onnx; knp.call / knp.predict = Keras 3 NumPy backend model(x) / "
          "model.predict")


def _time_configs(spec, results, peer_funcs, label=""):
    """For each config: ``peer_funcs(c, x)`` -> {peer: callable}, timed round-robin; returns
    {"peer/config id": output}."""
    outputs = {}
    threads = spec["threads"]
    with np.load(os.path.join(spec["dir"], models.INPUTS)) as inputs:
        for c in spec["configs"]:
            x = inputs[c["id"]]
            log(f"  [{threads} thread{'s' if threads != '1' else ''}] {c['id']}{label}")
            times = time_round_robin(peer_funcs(c, x), spec, c["id"], results, outputs)
            if "engine" in times:
                others = "  ".join(f"{p} {statistics.median(t) * 1e3:.2f}"
                                   for p, t in times.items() if p != "engine")
                log(f"      engine {statistics.median(times['engine']) * 1e3:.2f} ms   {others}")
    return outputs


def _keras_model(keras, cache, path):
    if path not in cache:
        cache[path] = keras.saving.load_model(path, compile=False)
    return cache[path]


def _setup_tensorflow(threads, results):
    try:
        import tensorflow as tf
    except Exception as e:
        return None, f"tensorflow not importable ({err(e)})"
    if threads == "1":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    try:
        import keras
    except Exception as e:
        return None, f"keras not importable ({err(e)})"
    if keras.backend.backend() != "tensorflow":
        return None, f"keras backend is {keras.backend.backend()!r}, not tensorflow"
    results["info"]["tensorflow"] = tf.__version__
    results["info"]["keras"] = keras.__version__
    return (tf, keras), None


def _onnx_session(tf, keras_model, features, threads, cache, key):
    """tf2onnx conversion of the model (cached per model file) and an onnxruntime session."""
    if key not in cache:
        try:
            import onnxruntime as ort
            import tf2onnx
            spec = (tf.TensorSpec((None, None, features), tf.float32, name="x"),)
            fn = tf.function(lambda x: keras_model(x, training=False), input_signature=spec)
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
            so = ort.SessionOptions()
            if threads == "1":
                so.intra_op_num_threads = 1
                so.inter_op_num_threads = 1
            sess = ort.InferenceSession(proto.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
            cache[key] = (sess, None)
        except Exception as e:
            cache[key] = (None, f"conversion/session failed: {err(e)}")
    return cache[key]


def run_main_worker(spec):
    """engine + numpy-loop + TensorFlow/Keras peers + onnxruntime, per config, same inputs."""
    threads, peers = spec["threads"], set(spec["peers"])
    results = new_results(python=platform.python_version(), numpy=np.__version__,
                          threads=threads)
    results["info"]["blas"] = blas_info()

    import kerasrnn_infer as kri
    results["info"]["kerasrnn_infer"] = kri.__version__

    tfk = None
    if peers & set(TF_PEERS):
        tfk, why = _setup_tensorflow(threads, results)
        if why:
            for p in TF_PEERS:
                results["unavailable"][p] = why
    ort_why = None
    if tfk and "onnxruntime" in peers:
        try:
            import onnxruntime
            import tf2onnx
            results["info"]["onnxruntime"] = onnxruntime.__version__
            results["info"]["tf2onnx"] = tf2onnx.__version__
        except Exception as e:
            ort_why = f"not installed ({err(e)}); pip install onnxruntime tf2onnx"
            results["unavailable"]["onnxruntime"] = ort_why

    engines, kmodels, onnx_cache = {}, {}, {}

    def peer_funcs(c, x):
        mk, cid = model_key(c), c["id"]
        path = models.model_path(spec["dir"], c)
        funcs = {}
        if "engine" in peers:
            try:
                if mk not in engines:
                    engines[mk] = kri.load_model(path)
                engine = engines[mk]
                funcs["engine"] = lambda: engine.predict(x)
            except Exception as e:
                results["errors"].setdefault("engine", {})[cid] = f"load failed: {err(e)}"
        if "numpy-loop" in peers:
            tree = models.build(c)[1]
            funcs["numpy-loop"] = lambda: reference.output(c, tree, x, "float32")
        if tfk:
            tf, keras = tfk
            try:
                km = _keras_model(keras, kmodels, path)
                if "keras.predict" in peers:
                    funcs["keras.predict"] = lambda: km.predict(x, verbose=0, batch_size=len(x))
                if "keras.call" in peers:
                    funcs["keras.call"] = lambda: km(x, training=False).numpy()
                if "tf.function" in peers:
                    tfn = tf.function(lambda t: km(t, training=False), jit_compile=False,
                                      input_signature=(tf.TensorSpec(x.shape, tf.float32),))
                    funcs["tf.function"] = lambda: tfn(x).numpy()
                if "onnxruntime" in peers and not ort_why:
                    sess, why = _onnx_session(tf, km, c["features"], threads, onnx_cache, mk)
                    if sess is None:
                        results["errors"].setdefault("onnxruntime", {})[cid] = why
                    else:
                        name = sess.get_inputs()[0].name
                        funcs["onnxruntime"] = lambda: sess.run(None, {name: x})[0]
            except Exception as e:
                for p in TF_PEERS:
                    results["errors"].setdefault(p, {})[cid] = f"keras load failed: {err(e)}"
        return funcs

    outputs = _time_configs(spec, results, peer_funcs)
    if threads == "1" and "onnxruntime" in peers and tfk and not ort_why:
        results["products"] = measure_product_floor(spec["configs"])
    return results, outputs


def run_keras_numpy_worker(spec):
    """Keras 3 on the NumPy backend (KERAS_BACKEND=numpy is set by the parent)."""
    results = new_results()
    missing = [m for m in ("scipy", "jax", "ml_dtypes") if importlib.util.find_spec(m) is None]
    try:
        import keras
        assert keras.backend.backend() == "numpy", f"backend is {keras.backend.backend()}"
        results["info"]["keras_numpy"] = keras.__version__
    except Exception as e:
        why = f"Keras NumPy backend not importable ({err(e)})"
        if missing:
            why += f"; missing packages: {', '.join(missing)}"
        for p in KNP_PEERS:
            results["unavailable"][p] = why
        return results, {}
    kmodels = {}

    def peer_funcs(c, x):
        try:
            km = _keras_model(keras, kmodels, models.model_path(spec["dir"], c))
        except Exception as e:
            for p in KNP_PEERS:
                results["errors"].setdefault(p, {})[c["id"]] = f"load failed: {err(e)}"
            return {}
        return {"keras-numpy": lambda: np.asarray(km(x, training=False)),
                "keras-numpy.predict": lambda: km.predict(x, verbose=0, batch_size=len(x))}

    return results, _time_configs(spec, results, peer_funcs, label=" keras-numpy")


def worker_main(kind, spec_path):
    """A worker subprocess (``bench.py --_worker KIND SPEC``): results beside ``spec["out"]``."""
    with open(spec_path) as f:
        spec = json.load(f)
    if kind == "conv":
        from .conv import run_conv_worker
        results, outputs = run_conv_worker(spec)
    else:
        results, outputs = (run_main_worker if kind == "main" else run_keras_numpy_worker)(spec)
    np.savez(spec["out"] + ".npz", **outputs)
    with open(spec["out"] + ".json", "w") as f:
        json.dump(results, f)


def _step_products(c):
    """Shapes (rows, K) of the weight matrices one timestep multiplies, as this engine lays
    them out (feature-major: (rows x K) @ (K x batch)), and the number of directions."""
    u, f = c["units"], c["features"]
    k = u + f + 1
    shapes = {"lstm": [(4 * u, k)], "bilstm": [(4 * u, k)], "simple_rnn": [(u, k)],
              "gru": [(3 * u, k), (u, f + 1)]}[c["layer"]]
    return shapes, 2 if c["layer"] == "bilstm" else 1


def measure_product_floor(configs):
    """Per config with batch >= 32: the time of its per-step matrix products alone (all steps,
    all directions), in NumPy (this machine's BLAS) as the engine orients them (feature-major,
    ``W.T @ X``) and as the row layout would (``X @ W``), and in onnxruntime (MLAS); one
    thread."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except Exception as e:
        return {"unavailable": f"onnxruntime/onnx not importable ({err(e)})"}
    out = {}
    rng = np.random.default_rng(0)
    for c in configs:
        if c["batch"] < 32:
            continue
        shapes, dirs = _step_products(c)
        n = c["steps"] * dirs
        total = {"numpy": 0.0, "numpy_rows": 0.0, "onnxruntime": 0.0}
        for rows, k in shapes:
            w = rng.normal(0, k ** -0.5, (rows, k)).astype("float32")
            x = rng.normal(0, 1, (k, c["batch"])).astype("float32")
            y = np.empty((rows, c["batch"]), "float32")
            w_rows, x_rows = np.ascontiguousarray(w.T), np.ascontiguousarray(x.T)
            y_rows = np.empty((c["batch"], rows), "float32")
            graph = helper.make_graph(
                [helper.make_node("MatMul", ["W", "X"], ["Y"])], "step",
                [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
                [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(y.shape))],
                [numpy_helper.from_array(w, "W")])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = 8
            so = ort.SessionOptions()
            so.intra_op_num_threads = so.inter_op_num_threads = 1
            sess = ort.InferenceSession(model.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
            feed = {"X": x}
            funcs = {"numpy": lambda: np.matmul(w, x, y),
                     "numpy_rows": lambda: np.matmul(x_rows, w_rows, y_rows),
                     "onnxruntime": lambda: sess.run(None, feed)}
            for name, fn in funcs.items():
                fn()
                reps = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    for _ in range(10):
                        fn()
                    reps.append((time.perf_counter() - t0) / 10)
                total[name] += statistics.median(reps) * n
        out[c["id"]] = total
        log(f"  products of {c['id']}: NumPy {total['numpy'] * 1e3:.1f} ms, "
            f"onnxruntime {total['onnxruntime'] * 1e3:.1f} ms")
    return out
