#!/usr/bin/env python
"""Benchmark kerasrnn_infer against TensorFlow/Keras 3, the Keras 3 NumPy backend and onnxruntime.

How to run (from the repository root)::

    python tools/bench.py --quick                 # < 2 min, no TensorFlow needed: this engine
                                                  # alone + float64 NumPy self-check
    python tools/bench.py --quick --configs 1 --threads 1   # tiny smoke run (used by CI)
    python tools/bench.py                         # full grid, all installed peers (~10-15 min)
    python tools/bench.py --write-docs            # ... and write docs/benchmarks.md
    python tools/bench.py --keras-numpy-python /path/to/python   # interpreter for the
                                                  # Keras-NumPy-backend peer (needs scipy + jax)
    python tools/bench.py --unset-openblas-env    # drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in
                                                  # the measuring subprocesses

The Keras NumPy backend imports scipy and jax. If the interpreter lacks them, that peer is
reported unavailable with the missing packages. One way to measure it without touching the main
environment is an overlay venv that sees the main site-packages::

    python -m venv /tmp/knp && echo "$(python -c 'import site; print(site.getsitepackages()[0])')" \
        > /tmp/knp/lib/python3.11/site-packages/main.pth && /tmp/knp/bin/pip install scipy jax
    python tools/bench.py --keras-numpy-python /tmp/knp/bin/python

What it does
------------
* Models are written **by hand** (no Keras needed): a Keras 3 ``.keras`` zip with
  ``config.json``, ``metadata.json`` and ``model.weights.h5`` in the Keras 3 layout, one
  ``Sequential(InputLayer, <RNN>)`` per (layer, features, units) with seeded random weights.
  Keras 3 loads these files too, so every peer runs the very same file on the very same inputs.
* The grid covers LSTM, GRU, SimpleRNN and Bidirectional(LSTM), batch 1-256, 10-400 steps,
  32-512 units, float32, last-step output (``return_sequences=False``).
* Each BLAS thread setting (``1`` and the library ``default``) runs in its own subprocess of this
  script, with ``OMP/OPENBLAS/MKL_NUM_THREADS`` set before NumPy is imported. In the 1-thread run
  TensorFlow uses ``set_intra_op_parallelism_threads(1)`` / ``inter_op(1)`` and onnxruntime
  ``intra_op_num_threads=1``.
* Peers (each reported "unavailable: <reason>" if it cannot run; the run never stops for it):
  - ``engine``        kerasrnn_infer ``load_model(path).predict(x)``
  - ``numpy-loop``    a plain float32 NumPy loop of the cell equations written in this file
  - ``keras.predict`` Keras 3 / TF ``model.predict(x, verbose=0, batch_size=len(x))``
  - ``keras.call``    Keras 3 / TF ``model(x, training=False)``
  - ``tf.function``   ``tf.function(model(x, training=False), jit_compile=False)``, warmed up
  - ``onnxruntime``   tf2onnx conversion of that tf.function, run by onnxruntime (CPU)
  - ``keras-numpy``   Keras 3 with ``KERAS_BACKEND=numpy`` in a separate subprocess
    (``model(x)``; its ``predict`` is timed too). It needs scipy and jax.
* Timings are medians over repeats (round-robin across peers, after warm-up calls); the number of
  repeats adapts to a per-measurement time budget (``--budget``). Ratios are peer time / engine
  time, so ">1x" means the engine is faster.
* Correctness: every output is compared with Keras's ``model(x)`` (max abs diff, must be <= 1e-5)
  and the engine with a float64 NumPy reference of the Keras cell equations (the self-check).
* Full mode also measures import time (fresh interpreters, median of 5), load time of a ~10 MB
  LSTM file, and peak RSS (``ru_maxrss``) of a process that loads a small model and predicts.

Exit status: 0 unless the engine failed or disagreed with the float64 reference / Keras by more
than 1e-5 (unavailable peers never fail the run).
"""

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-5
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MAIN_PEERS = ("engine", "numpy-loop", "keras.predict", "keras.call", "tf.function", "onnxruntime")
KNP_PEERS = ("keras-numpy", "keras-numpy.predict")
ALL_PEERS = MAIN_PEERS + KNP_PEERS
TF_PEERS = ("keras.predict", "keras.call", "tf.function", "onnxruntime")
SHORT = {"numpy-loop": "np-loop", "keras.predict": "k.predict", "keras.call": "k.call",
         "tf.function": "tf.fn", "onnxruntime": "ort", "keras-numpy": "knp.call",
         "keras-numpy.predict": "knp.predict"}
LEGEND = ("np-loop = plain float32 NumPy loop (this file); k.predict / k.call = Keras 3 on "
          "TensorFlow model.predict / model(x); tf.fn = tf.function(model(x)); ort = onnxruntime on "
          "tf2onnx; knp.call / knp.predict = Keras 3 NumPy backend model(x) / model.predict")


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------

def cfg(layer, batch, steps, features, units):
    return {"id": f"{layer}_b{batch}_t{steps}_f{features}_u{units}", "layer": layer,
            "batch": batch, "steps": steps, "features": features, "units": units}


# Full run: a handful of (batch, steps, units) points per layer type.
FULL_CONFIGS = [
    cfg("lstm", 1, 50, 16, 64),        # required: LSTM batch 1, 50 steps, 16 features, 64 units
    cfg("lstm", 1, 400, 32, 128),
    cfg("lstm", 8, 100, 32, 128),
    cfg("lstm", 32, 100, 64, 128),
    cfg("lstm", 32, 50, 64, 512),
    cfg("lstm", 256, 100, 64, 256),    # required: LSTM batch 256, 256 units
    cfg("gru", 1, 50, 16, 64),
    cfg("gru", 32, 100, 64, 256),
    cfg("gru", 256, 50, 64, 256),
    cfg("simple_rnn", 1, 400, 16, 32),
    cfg("simple_rnn", 32, 200, 64, 256),
    cfg("simple_rnn", 256, 10, 32, 512),
    cfg("bilstm", 1, 50, 16, 64),
    cfg("bilstm", 32, 100, 64, 128),
    cfg("bilstm", 256, 50, 64, 256),
]

# Quick run: this engine alone (no TensorFlow), small configs.
QUICK_CONFIGS = [
    cfg("lstm", 1, 50, 16, 64),
    cfg("gru", 8, 100, 32, 128),
    cfg("simple_rnn", 32, 50, 32, 64),
    cfg("bilstm", 1, 50, 16, 64),
    cfg("lstm", 256, 50, 64, 256),
]

LOAD_MODEL = {"layer": "lstm", "features": 64, "units": 768}   # 4*768*(64+768+1) floats = 10.2 MB
MEMORY_CONFIG = FULL_CONFIGS[0]


def model_key(c):
    return f"{c['layer']}_f{c['features']}_u{c['units']}"


# --------------------------------------------------------------------------------------------
# Hand-written Keras 3 .keras files (no Keras needed)
# --------------------------------------------------------------------------------------------

KERAS_CLASS = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def _rnn_config(kind, name, units, go_backwards=False):
    config = {"name": name, "trainable": True, "dtype": "float32", "units": units,
              "activation": "tanh", "use_bias": True, "return_sequences": False,
              "return_state": False, "go_backwards": go_backwards, "stateful": False,
              "unroll": False}
    if kind != "simple_rnn":
        config["recurrent_activation"] = "sigmoid"
    if kind == "gru":
        config["reset_after"] = True
    return {"module": "keras.layers", "class_name": KERAS_CLASS[kind], "config": config,
            "registered_name": None}


def _cell_weights(rng, kind, features, units):
    """Kernel, recurrent kernel, bias in Keras's layout (gate order i,f,c,o / z,r,h)."""
    g = GATES[kind]
    kernel = rng.normal(0.0, features ** -0.5, (features, g * units))
    recurrent = rng.normal(0.0, units ** -0.5, (units, g * units))
    if kind == "gru":
        bias = rng.uniform(-0.1, 0.1, (2, g * units))          # reset_after=True: (2, 3u)
    else:
        bias = rng.uniform(-0.1, 0.1, g * units)
        if kind == "lstm":
            bias[units:2 * units] += 1.0                       # unit_forget_bias
    return [a.astype("float32") for a in (kernel, recurrent, bias)]


def build_model(kind, features, units, seed):
    """Return (config dict, {h5 group path: [arrays]}) for Sequential(Input, <kind>)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    inp = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
           "config": {"batch_shape": [None, None, features], "dtype": "float32",
                      "sparse": False, "name": "input"}}
    if kind == "bilstm":
        fwd = _rnn_config("lstm", "forward_lstm", units)
        bwd = _rnn_config("lstm", "backward_lstm", units, go_backwards=True)
        layer = {"module": "keras.layers", "class_name": "Bidirectional", "registered_name": None,
                 "config": {"name": "bidirectional", "trainable": True, "dtype": "float32",
                            "merge_mode": "concat", "layer": fwd, "backward_layer": bwd}}
        tree = {"layers/bidirectional/forward_layer/cell": _cell_weights(rng, "lstm", features, units),
                "layers/bidirectional/backward_layer/cell": _cell_weights(rng, "lstm", features, units),
                "layers/bidirectional": []}
    else:
        layer = _rnn_config(kind, kind, units)
        tree = {f"layers/{kind}/cell": _cell_weights(rng, kind, features, units),
                f"layers/{kind}": []}
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "sequential", "trainable": True, "dtype": "float32",
                         "layers": [inp, layer]}}
    return config, tree


def write_keras_file(path, config, tree):
    """A Keras 3 .keras zip: metadata.json, config.json, model.weights.h5 (vars/0, vars/1, ...)."""
    import h5py
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.require_group("vars")
        for group, arrays in sorted(tree.items()):
            g = f.require_group(group + "/vars")
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=a)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1",
                                                 "date_saved": "2026-01-01@00:00:00"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())


def weights_of(tree):
    """[(kernel, recurrent, bias)] for the single layer, or [fwd, bwd] for Bidirectional."""
    cells = [k for k in sorted(tree) if k.endswith("/cell")]
    if len(cells) == 2:   # Bidirectional: forward first (sorted() puts "backward_layer" first)
        cells = sorted(cells, key=lambda k: "backward" in k)
    return [tree[k] for k in cells]


def make_inputs(c):
    import numpy as np
    rng = np.random.default_rng(zlib.crc32(c["id"].encode()))
    return rng.normal(0.0, 1.0, (c["batch"], c["steps"], c["features"])).astype("float32")


# --------------------------------------------------------------------------------------------
# Reference implementation of the Keras cell equations (KERAS_FACTS B1), any float dtype
# --------------------------------------------------------------------------------------------

def _sigmoid(x):
    import numpy as np
    return 1.0 / (1.0 + np.exp(-x))


def reference_rnn(kind, weights, x, dtype="float64", go_backwards=False):
    """Last output of a Keras LSTM / GRU(reset_after=True) / SimpleRNN, zero initial state."""
    import numpy as np
    kernel, recurrent, bias = (np.asarray(w, dtype) for w in weights)
    x = np.asarray(x, dtype)
    if go_backwards:
        x = x[:, ::-1]
    batch, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((batch, u), dtype)
    c = np.zeros((batch, u), dtype)
    if kind == "gru":
        xw = x @ kernel + bias[0]                       # all steps at once: (batch, steps, 3u)
    else:
        xw = x @ kernel + bias
    for t in range(steps):
        if kind == "lstm":
            z = xw[:, t] + h @ recurrent
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif kind == "gru":
            xz, xr, xh = (xw[:, t, k * u:(k + 1) * u] for k in range(3))
            rec = h @ recurrent + bias[1]
            z = _sigmoid(xz + rec[:, :u])
            r = _sigmoid(xr + rec[:, u:2 * u])
            hh = np.tanh(xh + r * rec[:, 2 * u:])
            h = z * h + (1.0 - z) * hh
        else:
            h = np.tanh(xw[:, t] + h @ recurrent)
    return h


def reference_model(layer, cell_weights, x, dtype="float64"):
    import numpy as np
    if layer == "bilstm":
        fwd = reference_rnn("lstm", cell_weights[0], x, dtype)
        bwd = reference_rnn("lstm", cell_weights[1], x, dtype, go_backwards=True)
        return np.concatenate([fwd, bwd], axis=-1)
    return reference_rnn(layer, cell_weights[0], x, dtype)


# --------------------------------------------------------------------------------------------
# Worker side (runs in a subprocess with the thread environment already set)
# --------------------------------------------------------------------------------------------

def _err(e):
    msg = f"{type(e).__name__}: {e}".strip()
    return msg.splitlines()[0][:300] if msg else type(e).__name__


def blas_info():
    """BLAS as NumPy was built with it, and (threadpoolctl) the library/kernel actually loaded."""
    import numpy as np
    info = {}
    try:
        cfgd = np.show_config(mode="dicts")
        blas = cfgd.get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception as e:                                    # old NumPy: no mode="dicts"
        info["numpy_blas"] = f"unknown ({_err(e)})"
    try:
        from threadpoolctl import threadpool_info
        np.ones((64, 64)) @ np.ones((64, 64))
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads",
                                                      "architecture", "threading_layer")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def time_round_robin(funcs, budget, min_reps, max_reps, log):
    """funcs: {name: callable returning output}. Warm up each (1-2 calls), then time them in
    round-robin until each has its repeat count. Returns ({name: [seconds]}, {name: output},
    {name: error})."""
    times, outputs, errors, reps = {}, {}, {}, {}
    for name, fn in list(funcs.items()):
        try:
            t0 = time.perf_counter()
            outputs[name] = fn()                       # warm-up 1 (traces / builds / caches)
            est = time.perf_counter() - t0
            if est < budget:                           # warm-up 2, unless one call is costly
                t1 = time.perf_counter()
                fn()
                est = min(est, time.perf_counter() - t1)
            reps[name] = max(min_reps, min(max_reps, int(budget / max(est, 1e-6))))
            times[name] = []
        except Exception as e:
            errors[name] = _err(e)
            log(f"      {name}: FAILED {errors[name]}")
    pending = dict(reps)
    while pending:
        for name in list(pending):
            t0 = time.perf_counter()
            funcs[name]()
            times[name].append(time.perf_counter() - t0)
            pending[name] -= 1
            if not pending[name]:
                del pending[name]
    return times, outputs, errors


def _setup_tensorflow(threads, results):
    try:
        import tensorflow as tf
    except Exception as e:
        return None, f"tensorflow not importable ({_err(e)})"
    if threads == "1":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    try:
        import keras
    except Exception as e:
        return None, f"keras not importable ({_err(e)})"
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
            cache[key] = (None, f"conversion/session failed: {_err(e)}")
    return cache[key]


def run_main_worker(spec):
    """engine + numpy-loop + TensorFlow/Keras peers + onnxruntime, per config, same inputs."""
    import numpy as np
    log = lambda s: print(s, flush=True)
    threads, peers = spec["threads"], set(spec["peers"])
    results = {"info": {"python": platform.python_version(), "numpy": np.__version__,
                        "threads": threads}, "times": {}, "errors": {}, "unavailable": {}}
    outputs = {}
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
            ort_why = f"not installed ({_err(e)}); pip install onnxruntime tf2onnx"
            results["unavailable"]["onnxruntime"] = ort_why

    engines, kmodels, onnx_cache = {}, {}, {}
    for c in spec["configs"]:
        mk, cid = model_key(c), c["id"]
        path = os.path.join(spec["dir"], mk + ".keras")
        x = np.load(os.path.join(spec["dir"], "inputs.npz"))[cid]
        log(f"  [{threads} thread{'s' if threads != '1' else ''}] {cid}")
        funcs = {}
        if "engine" in peers:
            try:
                engines.setdefault(mk, kri.load_model(path))
                m = engines[mk]
                funcs["engine"] = lambda m=m: m.predict(x)
            except Exception as e:
                results["errors"].setdefault("engine", {})[cid] = f"load failed: {_err(e)}"
        if "numpy-loop" in peers:
            cw = weights_of(load_weight_tree(os.path.join(spec["dir"], mk + ".keras")))
            funcs["numpy-loop"] = lambda cw=cw: reference_model(c["layer"], cw, x, "float32")
        if tfk:
            tf, keras = tfk
            try:
                if mk not in kmodels:
                    kmodels[mk] = keras.saving.load_model(path, compile=False)
                km = kmodels[mk]
                if "keras.predict" in peers:
                    funcs["keras.predict"] = lambda km=km: km.predict(x, verbose=0,
                                                                      batch_size=len(x))
                if "keras.call" in peers:
                    funcs["keras.call"] = lambda km=km: km(x, training=False).numpy()
                if "tf.function" in peers:
                    tfn = tf.function(lambda t, km=km: km(t, training=False), jit_compile=False,
                                      input_signature=(tf.TensorSpec(x.shape, tf.float32),))
                    funcs["tf.function"] = lambda tfn=tfn: tfn(x).numpy()
                if "onnxruntime" in peers and not ort_why:
                    sess, why = _onnx_session(tf, km, c["features"], threads, onnx_cache, mk)
                    if sess is None:
                        results["errors"].setdefault("onnxruntime", {})[cid] = why
                    else:
                        name = sess.get_inputs()[0].name
                        funcs["onnxruntime"] = lambda s=sess, n=name: s.run(None, {n: x})[0]
            except Exception as e:
                for p in TF_PEERS:
                    results["errors"].setdefault(p, {})[cid] = f"keras load failed: {_err(e)}"
        times = time_and_record(funcs, spec, cid, results, outputs, log)
        if "engine" in times:
            med = statistics.median(times["engine"])
            others = "  ".join(f"{p} {statistics.median(t) * 1e3:.2f}"
                               for p, t in times.items() if p != "engine")
            log(f"      engine {med * 1e3:.2f} ms   {others}")
    if threads == "1" and "onnxruntime" in peers and tfk and not ort_why:
        results["products"] = measure_product_floor(spec["configs"], log)
    return results, outputs


def _step_products(c):
    """Shapes (rows, K) of the weight matrices one timestep multiplies, as this engine lays
    them out (feature-major: (rows x K) @ (K x batch)), and the number of directions."""
    u, f = c["units"], c["features"]
    k = u + f + 1
    shapes = {"lstm": [(4 * u, k)], "bilstm": [(4 * u, k)], "simple_rnn": [(u, k)],
              "gru": [(3 * u, k), (u, f + 1)]}[c["layer"]]
    return shapes, 2 if c["layer"] == "bilstm" else 1


def measure_product_floor(configs, log):
    """Per config with batch >= 32: the time of its per-step matrix products alone (all steps,
    all directions), in NumPy (this machine's BLAS) as the engine orients them (feature-major,
    ``W.T @ X``) and as the row layout would (``X @ W``), and in onnxruntime (MLAS); one
    thread."""
    import numpy as np
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except Exception as e:
        return {"unavailable": f"onnxruntime/onnx not importable ({_err(e)})"}
    out = {}
    rng = np.random.default_rng(0)
    for c in configs:
        if c["batch"] < 32:
            continue
        shapes, dirs = _step_products(c)
        t_np = t_rows = t_ort = 0.0
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
                     "rows": lambda: np.matmul(x_rows, w_rows, y_rows),
                     "ort": lambda: sess.run(None, feed)}
            best = {}
            for name, fn in funcs.items():
                fn()
                reps = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    for _ in range(10):
                        fn()
                    reps.append((time.perf_counter() - t0) / 10)
                best[name] = statistics.median(reps)
            n = c["steps"] * dirs
            t_np += best["numpy"] * n
            t_rows += best["rows"] * n
            t_ort += best["ort"] * n
        out[c["id"]] = {"numpy": t_np, "numpy_rows": t_rows, "onnxruntime": t_ort}
        log(f"  products of {c['id']}: NumPy {t_np * 1e3:.1f} ms, onnxruntime {t_ort * 1e3:.1f} ms")
    return out


def time_and_record(funcs, spec, cid, results, outputs, log):
    """Time `funcs` round-robin for config `cid`; store times, errors and outputs."""
    import numpy as np
    times, outs, errors = time_round_robin(funcs, spec["budget"], spec["min_reps"],
                                           spec["max_reps"], log)
    for p, t in times.items():
        results["times"].setdefault(p, {})[cid] = t
    for p, e in errors.items():
        results["errors"].setdefault(p, {})[cid] = e
    for p, y in outs.items():
        outputs[f"{p}/{cid}"] = np.asarray(y)
    return times


def run_keras_numpy_worker(spec):
    """Keras 3 on the NumPy backend (KERAS_BACKEND=numpy is set by the parent)."""
    import importlib.util
    import numpy as np
    log = lambda s: print(s, flush=True)
    results = {"info": {}, "times": {}, "errors": {}, "unavailable": {}}
    outputs = {}
    missing = [m for m in ("scipy", "jax", "ml_dtypes") if importlib.util.find_spec(m) is None]
    try:
        import keras
        assert keras.backend.backend() == "numpy", f"backend is {keras.backend.backend()}"
        results["info"]["keras_numpy"] = keras.__version__
    except Exception as e:
        why = f"Keras NumPy backend not importable ({_err(e)})"
        if missing:
            why += f"; missing packages: {', '.join(missing)}"
        for p in KNP_PEERS:
            results["unavailable"][p] = why
        return results, outputs
    models = {}
    for c in spec["configs"]:
        mk, cid = model_key(c), c["id"]
        x = np.load(os.path.join(spec["dir"], "inputs.npz"))[cid]
        log(f"  [{spec['threads']} thread{'s' if spec['threads'] != '1' else ''}] "
            f"{cid} keras-numpy")
        funcs = {}
        try:
            if mk not in models:
                models[mk] = keras.saving.load_model(os.path.join(spec["dir"], mk + ".keras"),
                                                     compile=False)
            km = models[mk]
            funcs["keras-numpy"] = lambda km=km: np.asarray(km(x, training=False))
            funcs["keras-numpy.predict"] = lambda km=km: km.predict(x, verbose=0,
                                                                    batch_size=len(x))
        except Exception as e:
            for p in KNP_PEERS:
                results["errors"].setdefault(p, {})[cid] = f"load failed: {_err(e)}"
        time_and_record(funcs, spec, cid, results, outputs, log)
    return results, outputs


def load_weight_tree(path):
    """{group: [arrays]} of a .keras file written by write_keras_file (for the numpy loop)."""
    import h5py
    import numpy as np
    tree = {}
    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.endswith("/cell/vars"):
                tree[name[:-len("/vars")]] = [np.asarray(obj[str(i)]) for i in range(len(obj))]
        f.visititems(visit)
    return tree


def worker_main(kind, spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    import numpy as np
    fn = run_main_worker if kind == "main" else run_keras_numpy_worker
    results, outputs = fn(spec)
    np.savez(spec["out"] + ".npz", **outputs)
    with open(spec["out"] + ".json", "w") as f:
        json.dump(results, f)


# --------------------------------------------------------------------------------------------
# Parent side: orchestrate subprocesses, tables, targets, docs
# --------------------------------------------------------------------------------------------

def child_env(args, threads=None, extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if getattr(args, "pycache", None):
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = args.pycache
    if args.unset_openblas_env:
        for v in OPENBLAS_ENV:
            env.pop(v, None)
    if threads is not None:
        for v in THREAD_VARS:
            env.pop(v, None)
        if threads == "1":
            env.update({v: "1" for v in THREAD_VARS})
    env.update(extra or {})
    return env


def run_worker(args, kind, threads, spec, workdir, python=None, extra_env=None):
    """Run one worker subprocess; returns (results, outputs) or (None, reason)."""
    import numpy as np
    out = os.path.join(workdir, f"{kind}_{threads}")
    spec = dict(spec, threads=threads, out=out)
    spec_path = out + "_spec.json"
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    log_path = out + ".log"
    cmd = [python or sys.executable, os.path.abspath(__file__), "--_worker", kind, spec_path]
    try:
        with open(log_path, "w") as logf:
            r = subprocess.run(cmd, env=child_env(args, threads, extra_env), stdout=sys.stderr,
                               stderr=logf, timeout=args.worker_timeout)
    except subprocess.TimeoutExpired:
        return None, f"worker timed out after {args.worker_timeout} s"
    except OSError as e:
        return None, f"could not start {cmd[0]}: {e}"
    if r.returncode != 0:
        with open(log_path) as f:
            tail = [ln for ln in f.read().strip().splitlines() if ln.strip()][-3:]
        return None, f"worker exited {r.returncode}: " + " | ".join(tail)[-400:]
    with open(out + ".json") as f:
        results = json.load(f)
    with np.load(out + ".npz") as z:
        outputs = {k: z[k] for k in z.files}
    return results, outputs


def timed_subprocess(args, code, python=None, extra_env=None, reps=5):
    """Median wall time of `python -c code` in fresh interpreters, or an error string. One
    untimed run first writes the bytecode caches, as an installed package has them."""
    times = []
    _run_code(args, code, python, extra_env, timeout=300)
    for _ in range(reps):
        t0 = time.perf_counter()
        r, why = _run_code(args, code, python, extra_env, timeout=300)
        times.append(time.perf_counter() - t0)
        if why:
            return None, why
    return statistics.median(times), None


def subprocess_json(args, code, python=None, extra_env=None):
    """Run `python -c code`; (the JSON on its last stdout line, None) or (None, reason)."""
    r, why = _run_code(args, code, python, extra_env, timeout=600)
    if why:
        return None, why
    try:
        return json.loads(r.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, f"unexpected output {r.stdout[-200:]!r}"


def _run_code(args, code, python, extra_env, timeout):
    try:
        r = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True,
                           env=child_env(args, extra=extra_env), timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    except OSError as e:
        return None, f"could not start {python or sys.executable}: {e}"
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["?"])[-1][:300]
    return r, None


LOAD_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import kerasrnn_infer as kri
t1 = time.perf_counter()
kri.load_model(sys.argv[1])
t2 = time.perf_counter()
warm = []
for _ in range(5):
    t = time.perf_counter(); kri.load_model(sys.argv[1]); warm.append(time.perf_counter() - t)
warm.sort()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": warm[2]}))
"""

KERAS_LOAD_CODE = r"""
import json, sys, time
import keras
keras.saving.load_model(sys.argv[1], compile=False)
warm = []
for _ in range(3):
    t = time.perf_counter(); keras.saving.load_model(sys.argv[1], compile=False)
    warm.append(time.perf_counter() - t)
warm.sort()
print(json.dumps({"warm": warm[1]}))
"""

# Peak resident set of this process in MB. VmHWM (per address space, reset by exec) rather than
# ru_maxrss: on Linux ru_maxrss survives fork+exec, so a child of a big parent reports the parent's
# high-water mark.
PEAK_RSS_CODE = r"""
import json, resource
try:
    with open("/proc/self/status") as f:
        peak = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] / 1024
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(peak))
"""

MEMORY_CODE = {
    "numpy + h5py (import only)": "import numpy, h5py",
    "kerasrnn_infer": "import numpy as np, kerasrnn_infer as kri\n"
                      "m = kri.load_model(MODEL); m.predict(np.load(INPUTS)[CID])",
    "TensorFlow / Keras 3": "import numpy as np, keras\n"
                            "m = keras.saving.load_model(MODEL, compile=False)\n"
                            "m(np.load(INPUTS)[CID]); m.predict(np.load(INPUTS)[CID], verbose=0)",
}


def measure_process_costs(args, workdir):
    """Import times, model load time and peak RSS, each in fresh subprocesses."""
    res = {"import": {}, "load": {}, "memory": {}}
    knp = {"KERAS_BACKEND": "numpy"}
    # bytecode as an installed package has it (pip compiles at install), kept out of the repo
    # even where PYTHONDONTWRITEBYTECODE is set
    args.pycache = os.path.join(workdir, "pycache")
    imports = [("python -c pass", "pass", None, None),
               ("import numpy, h5py", "import numpy, h5py", None, None),
               ("import kerasrnn_infer", "import kerasrnn_infer", None, None),
               ("import kerasrnn_infer, h5py", "import kerasrnn_infer, h5py", None, None),
               ("import tensorflow", "import tensorflow", None, None),
               ("import keras (TF backend)", "import keras", None, None),
               ("import keras (NumPy backend)", "import keras", args.keras_numpy_python, knp)]
    for label, code, py, env in imports:
        print(f"  import time: {label}", file=sys.stderr, flush=True)
        res["import"][label] = timed_subprocess(args, code, py, env, reps=args.import_reps)

    path = os.path.join(workdir, "load_model.keras")
    res["load"]["file_mb"] = os.path.getsize(path) / 1e6
    print("  load time", file=sys.stderr, flush=True)
    res["load"]["engine"] = subprocess_json(args, LOAD_CODE.replace("sys.argv[1]", repr(path)))
    res["load"]["keras"] = subprocess_json(args, KERAS_LOAD_CODE.replace("sys.argv[1]", repr(path)))

    c = MEMORY_CONFIG
    prelude = (f"MODEL = {os.path.join(workdir, model_key(c) + '.keras')!r}\n"
               f"INPUTS = {os.path.join(workdir, 'inputs.npz')!r}\nCID = {c['id']!r}\n")
    tail = "\n" + PEAK_RSS_CODE
    for label, code in MEMORY_CODE.items():
        print(f"  peak memory: {label}", file=sys.stderr, flush=True)
        res["memory"][label] = subprocess_json(args, prelude + code + tail)
    print("  peak memory: Keras 3 NumPy backend", file=sys.stderr, flush=True)
    res["memory"]["Keras 3 NumPy backend"] = subprocess_json(
        args, prelude + MEMORY_CODE["TensorFlow / Keras 3"] + tail, args.keras_numpy_python, knp)
    return res


# ---- formatting ----

def md_table(headers, rows):
    cells = [[str(h) for h in headers]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"
    return "\n".join([fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [fmt(r) for r in cells[1:]])


def fms(t):
    return "-" if t is None else (f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.1f}" if t < 1 else f"{t * 1e3:.0f}")


def fratio(r):
    return "-" if r is None else (f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x")


def fdiff(d):
    return "-" if d is None else f"{d:.1e}"


def analyse(run, configs, refs):
    """Medians, ratios and diffs for one thread setting."""
    import numpy as np
    res, outs = run["results"], run["outputs"]
    med = {p: {cid: statistics.median(t) for cid, t in d.items()} for p, d in res["times"].items()}
    rows = {}
    for c in configs:
        cid = c["id"]
        base = outs.get(f"keras.call/{cid}")
        if base is None:
            base = outs.get(f"keras.predict/{cid}")
        e = med.get("engine", {}).get(cid)
        row = {"median": {p: med[p].get(cid) for p in med}, "ratio": {}, "diff": {}}
        for p in med:
            t = med[p].get(cid)
            row["ratio"][p] = t / e if (t is not None and e) else None
        for p in ALL_PEERS:
            y = outs.get(f"{p}/{cid}")
            if y is not None and base is not None:
                row["diff"][p] = float(np.abs(y.astype("float64") - base).max())
        y = outs.get(f"engine/{cid}")
        row["ref_diff"] = float(np.abs(y - refs[cid]).max()) if y is not None else None
        rows[cid] = row
    return rows


def peer_status(run, peer, configs):
    res = run["results"]
    if peer in res["unavailable"]:
        return f"unavailable: {res['unavailable'][peer]}"
    errs = res["errors"].get(peer, {})
    if errs:
        first = next(iter(errs.items()))
        return f"failed on {len(errs)}/{len(configs)} configs (e.g. {first[0]}: {first[1]})"
    return None


def evaluate_targets(rows, configs, proc, quick):
    """[(target, measured, status)] with status 'met' / 'NOT met' / 'not measured'."""
    out = []

    def check(name, pairs, ok, fmt=fratio):
        """pairs: [(label, value or None)]"""
        vals = [(lbl, v) for lbl, v in pairs if v is not None]
        if not vals:
            out.append((name, "no data (peer unavailable or not run)", "not measured"))
            return
        bad = [lbl for lbl, v in vals if not ok(v)]
        measured = ", ".join(f"{lbl}: {fmt(v)}" for lbl, v in vals)
        out.append((name, measured, "NOT met" if bad else "met"))

    b1 = [c for c in configs if c["batch"] == 1]
    big = [c for c in configs if c["batch"] >= 32 and c["units"] >= 128]
    top = [c for c in configs if c["batch"] >= 256 and c["units"] == 256]
    r = lambda c, p: rows[c["id"]]["ratio"].get(p)
    short = lambda c: c["id"].replace("_f", " f").replace("_b", " b").replace("_t", " t").replace("_u", " u")
    if not quick:
        check("batch 1: >= 50x faster than keras.predict", [(short(c), r(c, "keras.predict")) for c in b1], lambda v: v >= 50)
        check("batch 1: >= 5x faster than tf.function", [(short(c), r(c, "tf.function")) for c in b1], lambda v: v >= 5)
        check("batch 1: >= 20x faster than Keras NumPy backend (model(x))", [(short(c), r(c, "keras-numpy")) for c in b1], lambda v: v >= 20)
        check("batch 1: within 4x of onnxruntime (ratio ort/engine >= 0.25)", [(short(c), r(c, "onnxruntime")) for c in b1], lambda v: v >= 0.25)
        check("batch >= 32, units >= 128: at least as fast as tf.function", [(short(c), r(c, "tf.function")) for c in big], lambda v: v >= 1.0)
        check("batch >= 32, units >= 128: at least as fast as onnxruntime", [(short(c), r(c, "onnxruntime")) for c in big], lambda v: v >= 1.0)
        check("batch 256, 256 units: within 1.1x of onnxruntime (ort/engine >= 0.909)", [(short(c), r(c, "onnxruntime")) for c in top], lambda v: v >= 1 / 1.1)
    if proc:
        imp = proc["import"]
        k, n = imp.get("import kerasrnn_infer", (None,))[0], imp.get("import numpy, h5py", (None,))[0]
        check("import kerasrnn_infer adds <= 0.1 s over import numpy, h5py",
              [("delta", None if k is None or n is None else k - n)], lambda v: v <= 0.1,
              lambda v: f"{v * 1e3:+.0f} ms")
        eng = proc["load"].get("engine", (None,))[0]
        check(f"load a {proc['load']['file_mb']:.1f} MB model in <= 50 ms",
              [("median of 5 warm loads", eng and eng["warm"])],
              lambda v: v <= 0.05, lambda v: f"{v * 1e3:.1f} ms")
        mem = proc["memory"].get("kerasrnn_infer", (None,))[0]
        check("process with a small model loaded stays < 80 MB resident", [("peak RSS", mem)],
              lambda v: v < 80, lambda v: f"{v:.1f} MB")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="this engine alone on a few small configs (no TensorFlow), < 2 min")
    ap.add_argument("--configs", type=int, default=None, help="only the first N configs")
    ap.add_argument("--only", default=None, help="comma-separated substrings of config ids to run")
    ap.add_argument("--threads", choices=("1", "default", "both"), default="both",
                    help="BLAS thread settings to run (default: both)")
    ap.add_argument("--peers", default=None,
                    help=f"comma-separated subset of {','.join(ALL_PEERS)} (default: all; "
                         f"--quick: engine,numpy-loop)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per (config, peer) (default 0.6, quick 0.3)")
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--max-reps", type=int, default=25)
    ap.add_argument("--import-reps", type=int, default=5)
    ap.add_argument("--keras-numpy-python", default=sys.executable,
                    help="interpreter for the Keras NumPy-backend peer (needs keras, scipy, jax)")
    ap.add_argument("--unset-openblas-env", action="store_true",
                    help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the subprocesses")
    ap.add_argument("--no-process-costs", action="store_true",
                    help="skip import time / load time / peak memory (full mode)")
    ap.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md")
    ap.add_argument("--json", default=None, help="also dump all numbers to this JSON file")
    ap.add_argument("--worker-timeout", type=int, default=1500)
    ap.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._worker:
        return worker_main(*args._worker)

    import numpy as np
    t_start = time.perf_counter()
    configs = QUICK_CONFIGS if args.quick else FULL_CONFIGS
    if args.only:
        keys = args.only.split(",")
        configs = [c for c in configs if any(k in c["id"] for k in keys)]
    if args.configs:
        configs = configs[:args.configs]
    peers = (args.peers.split(",") if args.peers else
             ["engine", "numpy-loop"] if args.quick else list(ALL_PEERS))
    unknown = set(peers) - set(ALL_PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}")
    if "engine" not in peers:
        peers.insert(0, "engine")
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 0.6)
    thread_settings = ["1", "default"] if args.threads == "both" else [args.threads]

    say = lambda s: print(s, file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    say(f"kerasrnn_infer benchmark ({'quick' if args.quick else 'full'}): {len(configs)} configs, "
        f"threads {thread_settings}, peers {','.join(peers)}")
    env_note = {v: os.environ.get(v) for v in OPENBLAS_ENV}
    say("OpenBLAS env: " + ", ".join(f"{k}={v!r}" for k, v in env_note.items())
        + (" (unset in subprocesses)" if args.unset_openblas_env else ""))

    with tempfile.TemporaryDirectory(prefix="kri_bench_") as workdir:
        # Model files and inputs: written once, shared by every peer and thread setting.
        trees, inputs = {}, {}
        for c in configs:
            mk = model_key(c)
            if mk not in trees:
                config, tree = build_model(c["layer"], c["features"], c["units"],
                                           seed=zlib.crc32(mk.encode()))
                write_keras_file(os.path.join(workdir, mk + ".keras"), config, tree)
                trees[mk] = tree
            inputs[c["id"]] = make_inputs(c)
        if not args.quick and not args.no_process_costs:
            mem_c = MEMORY_CONFIG
            if model_key(mem_c) not in trees:
                config, tree = build_model(mem_c["layer"], mem_c["features"], mem_c["units"],
                                           seed=zlib.crc32(model_key(mem_c).encode()))
                write_keras_file(os.path.join(workdir, model_key(mem_c) + ".keras"), config, tree)
            inputs.setdefault(mem_c["id"], make_inputs(mem_c))
            config, tree = build_model(LOAD_MODEL["layer"], LOAD_MODEL["features"],
                                       LOAD_MODEL["units"], seed=1)
            write_keras_file(os.path.join(workdir, "load_model.keras"), config, tree)
        np.savez(os.path.join(workdir, "inputs.npz"), **inputs)

        # Float64 reference outputs (the self-check).
        refs = {c["id"]: reference_model(c["layer"], weights_of(trees[model_key(c)]),
                                         inputs[c["id"]]) for c in configs}

        spec = {"dir": workdir, "configs": configs, "budget": budget, "min_reps": args.min_reps,
                "max_reps": args.max_reps}
        runs = {}
        for th in thread_settings:
            say(f"\n== BLAS threads: {th} ==")
            main_peers = [p for p in peers if p in MAIN_PEERS]
            res, outs = run_worker(args, "main", th, dict(spec, peers=main_peers), workdir)
            if res is None:
                say(f"main worker failed: {outs}")
                res = {"info": {}, "times": {}, "errors": {},
                       "unavailable": {p: outs for p in main_peers}}
                outs = {}
            if any(p in peers for p in KNP_PEERS):
                kres, kouts = run_worker(args, "keras-numpy", th, dict(spec, peers=list(KNP_PEERS)),
                                         workdir, python=args.keras_numpy_python,
                                         extra_env={"KERAS_BACKEND": "numpy"})
                if kres is None:
                    res["unavailable"].update({p: kouts for p in KNP_PEERS})
                else:
                    for key in ("times", "errors", "unavailable"):
                        res[key].update(kres[key])
                    res["info"].update(kres["info"])
                    outs.update(kouts)
            runs[th] = {"results": res, "outputs": outs}

        proc = None
        if not args.quick and not args.no_process_costs:
            say("\n== process costs ==")
            proc = measure_process_costs(args, workdir)

    loads = (load_before, os.getloadavg())
    report, ok = build_report(args, configs, peers, runs, refs, proc, env_note,
                              time.perf_counter() - t_start, loads)
    print("\n" + report["stdout"])
    if args.write_docs:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(report["docs"])
        print(f"\nwrote {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configs": configs, "runs": {k: v["results"] for k, v in runs.items()},
                       "analysis": report["analysis"], "process": proc}, f, indent=1, default=str)
    return 0 if ok else 1


def machine_info(runs):
    info = {"cpu": "unknown", "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for run in runs.values():
        for k, v in run["results"]["info"].items():
            if k not in ("threads", "blas"):
                info.setdefault(k, v)
    return info


def build_report(args, configs, peers, runs, refs, proc, env_note, elapsed, loads):
    mach = machine_info(runs)
    lines, docs = [], []
    ok = True
    analysis = {}
    shown_peers = [p for p in ALL_PEERS if p in peers and p != "engine"]
    target_rows = None
    slow_notes = []

    for th, run in runs.items():
        rows = analyse(run, configs, refs)
        analysis[th] = rows
        title = f"BLAS threads: {th}" + (" (TF intra/inter-op 1, onnxruntime intra-op 1)"
                                          if th == "1" else " (library defaults)")
        ms_rows, ratio_rows = [], []
        for c in configs:
            row = rows[c["id"]]
            e = row["median"].get("engine")
            sps = c["batch"] * c["steps"] / e if e else None
            ms_rows.append([c["id"], fms(e), "-" if sps is None else f"{sps:,.0f}"]
                           + [fms(row["median"].get(p)) for p in shown_peers])
            diffs = [v for p, v in row["diff"].items() if p != "engine"]
            ratio_rows.append([c["id"]] + [fratio(row["ratio"].get(p)) for p in shown_peers]
                              + [fdiff(row["diff"].get("engine")),
                                 fdiff(max(diffs) if diffs else None), fdiff(row["ref_diff"])])
            for d in [row["diff"].get("engine"), row["ref_diff"]]:
                if d is not None and d > TOL:
                    ok = False
            if e is None:
                ok = False
            faster = [f"{p} {fratio(row['ratio'][p])}" for p in ("tf.function", "onnxruntime",
                                                                  "keras.call", "numpy-loop")
                      if row["ratio"].get(p) is not None and row["ratio"][p] < 1.0]
            if faster and th == "1":
                slow_notes.append(f"- `{c['id']}`: engine {fms(e)} ms; faster peers (peer/engine): "
                                  + ", ".join(faster))
        t_ms = md_table(["config", "engine", "sample-steps/s"] + [SHORT[p] for p in shown_peers],
                        ms_rows)
        t_ratio = md_table(["config"] + [SHORT[p] for p in shown_peers]
                           + ["engine Δ", "max peer Δ", "engine Δ f64 ref"], ratio_rows)
        status = [f"- {p}: {s}" for p in shown_peers + ["engine"]
                  if (s := peer_status(run, p, configs))]
        blas = run["results"]["info"].get("blas", {})
        block = [f"### {title}", "", "Median time per call (ms):", "", t_ms, "",
                 "Ratios peer time / engine time (>1x: engine faster); Δ = max abs difference "
                 "from Keras model(x) (engine Δ f64 ref: from the float64 NumPy reference):", "",
                 t_ratio, ""]
        if shown_peers:
            block += [LEGEND + ".", ""]
        if status:
            block += ["Peers not (fully) measured:", ""] + status + [""]
        if blas:
            block += [f"BLAS in this run: {format_blas(blas)}", ""]
        lines += block
        docs += block
        if th == "1" or target_rows is None:
            target_rows = (th, rows)

    worst_ref = max((r["ref_diff"] for rows in analysis.values() for r in rows.values()
                     if r["ref_diff"] is not None), default=None)
    worst_keras = max((r["diff"].get("engine") for rows in analysis.values() for r in rows.values()
                       if r["diff"].get("engine") is not None), default=None)
    check = (f"self-check: {'PASSED' if ok else 'FAILED'} (max |engine - float64 reference| = "
             f"{fdiff(worst_ref)}" + (f", max |engine - Keras| = {fdiff(worst_keras)}"
                                      if worst_keras is not None else "")
             + f"; tolerance {TOL:g})")

    proc_block = []
    if proc:
        imp = proc["import"]
        proc_block += ["### Import time (fresh interpreter, median of "
                       f"{args.import_reps}, includes ~interpreter start-up)", "",
                       md_table(["command", "seconds"],
                                [[k, f"{v[0]:.3f}" if v[0] is not None else f"unavailable: {v[1]}"]
                                 for k, v in imp.items()]), ""]
        ld = proc["load"]
        eng, keras_ld = ld["engine"], ld["keras"]
        proc_block += [f"### Model load time ({ld['file_mb']:.1f} MB LSTM .keras file, "
                       f"{LOAD_MODEL['features']} features, {LOAD_MODEL['units']} units)", "",
                       md_table(["loader", "ms"], [
                           ["kri.load_model, median of 5 in a warm process",
                            f"{eng[0]['warm'] * 1e3:.1f}" if eng[0] else f"failed: {eng[1]}"],
                           ["kri.load_model, first load in the process (lazy h5py import)",
                            f"{eng[0]['first'] * 1e3:.1f}" if eng[0] else "-"],
                           ["keras.saving.load_model (TF backend), median of 3",
                            f"{keras_ld[0]['warm'] * 1e3:.1f}" if keras_ld[0]
                            else f"unavailable: {keras_ld[1]}"]]), ""]
        proc_block += [f"### Peak memory (peak RSS = VmHWM of a fresh process; load `{model_key(MEMORY_CONFIG)}` and predict "
                       f"on `{MEMORY_CONFIG['id']}`)", "",
                       md_table(["process", "MB"],
                                [[k, f"{v[0]:.1f}" if v[0] is not None else f"unavailable: {v[1]}"]
                                 for k, v in proc["memory"].items()]), ""]
    lines += proc_block
    docs += proc_block

    targets = evaluate_targets(target_rows[1], configs, proc, args.quick) if target_rows else []
    if targets:
        tb = [f"### Targets (ratios from the {target_rows[0]}-thread run)", "",
              md_table(["target", "measured", "status"], targets), ""]
        lines += tb
        docs += tb
    if slow_notes:
        sb = ["### Where the engine is slower than a peer (1 BLAS thread)", ""] + slow_notes + [""]
        lines += sb
        docs += sb
    products = runs.get("1", {}).get("results", {}).get("products")
    if products and "unavailable" not in products:
        rows1 = analysis.get("1", {})
        prow = []
        for c in configs:
            p = products.get(c["id"])
            med = rows1.get(c["id"], {}).get("median", {})
            if p and med.get("engine") and med.get("onnxruntime"):
                prow.append([c["id"], fms(med["engine"]), fms(med["onnxruntime"]),
                             fms(p["numpy"]), fms(p.get("numpy_rows")), fms(p["onnxruntime"]),
                             fratio(p["numpy"] / p["onnxruntime"])])
        if prow:
            pb = ["### The matrix products alone (1 BLAS thread)", "",
                  "Each timestep's products as this engine lays them out (`Wc.T @ [h; x; 1]`, "
                  "all steps and directions), timed alone with NumPy's BLAS and with "
                  "onnxruntime's MLAS (a MatMul node): at these batch sizes they are most of "
                  "either engine's time, so their ratio bounds what NumPy can reach. 'rows' is "
                  "NumPy on the same products oriented `X @ Wc` (the batch-1 layout), which is "
                  "why larger batches use the feature-major one.", "",
                  md_table(["config", "engine (ms)", "ort (ms)", "products: NumPy (ms)",
                            "NumPy, rows (ms)", "products: ort (ms)", "NumPy / ort"], prow), ""]
            lines += pb
            docs += pb
    busy = max(loads[0][1], loads[1][0]) > 0.5 * (os.cpu_count() or 1)
    warn = []
    if busy:
        warn = [f"**Note: the machine was busy** (load average {loads[0][1]:.2f} (5 min) at start, "
                f"{loads[1][0]:.2f} at end, on {os.cpu_count()} cores): other processes competed "
                "for the CPU, so times are noisy, and the default-thread run (BLAS threads that "
                "spin while waiting for a busy core) is hit hardest.", ""]
    lines += warn + [check, f"total time {elapsed:.0f} s"]

    knp_note = []
    if args.keras_numpy_python != sys.executable:
        knp_note = [f"The Keras NumPy-backend peer ran with `{args.keras_numpy_python}` "
                    "(`--keras-numpy-python`): the backend imports scipy and jax.", ""]
    header = ["# Benchmarks", "",
              "Generated by `python tools/bench.py --write-docs` "
              f"({time.strftime('%Y-%m-%d %H:%M')}, run took {elapsed / 60:.1f} min). "
              "Every peer runs the same hand-written Keras 3 `.keras` file on the same float32 "
              "inputs; `Sequential(Input(None, features), <layer>(units))`, last-step output. "
              "Times are medians over repeats after warm-up. Ratios are peer time / engine time "
              "(above 1x the engine is faster). Δ = max abs difference from Keras `model(x)`.",
              "", "## Machine", "",
              md_table(["", ""], [["CPU", mach["cpu"]], ["cores", mach["cores"]],
                                  ["platform", mach["platform"]], ["Python", mach["python"]],
                                  ["load average (1/5/15 min) at start / end",
                                   " / ".join(", ".join(f"{v:.2f}" for v in ld) for ld in loads)]]
                       + [[k, mach[k]] for k in ("numpy", "kerasrnn_infer", "tensorflow", "keras",
                                                  "keras_numpy", "onnxruntime", "tf2onnx")
                          if k in mach]
                       + [[f"BLAS ({th} thread setting)",
                           format_blas(r["results"]["info"].get("blas", {}))]
                          for th, r in runs.items()]
                       + [[k, f"{v!r}" + (" (unset for the benchmark)" if args.unset_openblas_env
                                          and v is not None else "")]
                          for k, v in env_note.items()]),
              ""] + warn + knp_note + ["## Results", ""]
    docs = header + docs + ["## Correctness", "", check, "",
                            "## Command lines", "", "```sh", "python tools/bench.py --quick",
                            "python tools/bench.py --write-docs"
                            + (" --unset-openblas-env" if args.unset_openblas_env else "")
                            + (f" --keras-numpy-python {args.keras_numpy_python}"
                               if args.keras_numpy_python != sys.executable else ""),
                            "```", ""]
    intro = [f"machine: {mach['cpu']}, {mach['cores']} cores, Python {mach['python']}, "
             f"numpy {mach.get('numpy')}, TF {mach.get('tensorflow', '-')}, "
             f"keras {mach.get('keras', '-')}; load average at start {loads[0][0]:.2f}, "
             f"at end {loads[1][0]:.2f}", ""]
    return {"stdout": "\n".join(intro + lines), "docs": "\n".join(docs), "analysis": analysis}, ok


def format_blas(blas):
    if not blas:
        return "-"
    pools = blas.get("threadpools")
    if isinstance(pools, list):
        p = "; ".join(f"{x.get('internal_api')} {x.get('version')} kernel={x.get('architecture')} "
                      f"threads={x.get('num_threads')}" for x in pools)
    else:
        p = pools
    return f"numpy built with {blas.get('numpy_blas')}; loaded: {p}"


if __name__ == "__main__":
    sys.exit(main())
