"""``tools/bench.py --jit``: the compiled kernel (the ``jit`` extra) beside the NumPy path,
onnxruntime (a hand-built fused ONNX LSTM/GRU/RNN graph, and tf2onnx's graph), tf.function and
Keras predict, over batch 1, 8, 32 and 256 for LSTM, GRU, SimpleRNN, a masked Bi-LSTM text
model and a stacked GRU; then, per path, the first call of a fresh process (import, load,
first predict) and its peak memory; and the study behind the kernel's choices: compiled
against NumPy kernel by batch size, and the compiled loops' own product against NumPy's.

Everything times in one worker process with one BLAS thread (TensorFlow and onnxruntime set
to one thread too), round-robin over the peers (each round in a shuffled order), medians. Model files are written by hand
(tests/_build.py's writer, Keras 3 layout) and loaded by every peer; outputs are compared
with the engine's NumPy path (max abs difference, reported per row).
"""

import json
import os
import statistics
import sys
import tempfile
import time
import zlib

import numpy as np

from . import ROOT, onnx_fused
from .timing import blas_info, err, log, new_results, run_code, time_round_robin
from _build import k3_layer, sequential, write_keras_zip

PEERS = ("engine", "engine+jit", "ort-fused", "ort-tf2onnx", "tf.function", "keras.predict")
SHAPES = {1: (50, 16, 64), 8: (100, 32, 128), 32: (100, 64, 128), 256: (50, 64, 256)}
MODELS = ("lstm", "gru", "simple_rnn", "bilstm_text", "stacked_gru")
VOCAB, EMBED = 1000, 32
CLASSES = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def grid(models=MODELS, batches=(1, 8, 32, 256)):
    out = []
    for m in models:
        for b in batches:
            steps, features, units = SHAPES[b]
            if m == "bilstm_text":
                features, units = EMBED, units // 2
            out.append({"id": f"{m}_b{b}_t{steps}_u{units}", "model": m, "batch": b,
                        "steps": steps, "features": features, "units": units})
    return out


# ----- the files -----------------------------------------------------------------------------
def _rnn(kind, name, units, return_sequences=False, go_backwards=False):
    extra = {"reset_after": True} if kind == "gru" else {}
    if kind != "simple_rnn":
        extra["recurrent_activation"] = "sigmoid"
    return k3_layer(CLASSES[kind], name, trainable=True, dtype="float32", units=units,
                    activation="tanh", use_bias=True, return_sequences=return_sequences,
                    return_state=False, go_backwards=go_backwards, stateful=False,
                    unroll=False, **extra)


def _cell_weights(rng, kind, features, units):
    g = GATES[kind] * units
    bias_shape = (2, g) if kind == "gru" else (g,)
    bias = rng.uniform(-0.1, 0.1, bias_shape)
    if kind == "lstm":
        bias[units:2 * units] += 1.0
    return [rng.normal(0, features ** -0.5, (features, g)).astype(np.float32),
            rng.normal(0, units ** -0.5, (units, g)).astype(np.float32),
            bias.astype(np.float32)]


def build(c):
    """(config, weights tree, onnx builder) of config ``c``'s model."""
    rng = np.random.default_rng(zlib.crc32(c["id"].encode()))
    m, f, u = c["model"], c["features"], c["units"]
    float_in = k3_layer("InputLayer", "input", batch_shape=[None, None, f], dtype="float32",
                        sparse=False)
    if m in CLASSES:
        w = _cell_weights(rng, m, f, u)
        config = sequential([float_in, _rnn(m, m, u)])
        tree = {f"layers/{m}/cell": w, f"layers/{m}": []}
        return config, tree, lambda: onnx_fused.sequence_model(m, [(u, [tuple(w)], True)], f)
    if m == "stacked_gru":
        w1, w2 = _cell_weights(rng, "gru", f, u), _cell_weights(rng, "gru", u, u)
        config = sequential([float_in, _rnn("gru", "gru", u, return_sequences=True),
                             _rnn("gru", "gru_1", u)])
        tree = {"layers/gru/cell": w1, "layers/gru": [], "layers/gru_1/cell": w2,
                "layers/gru_1": []}
        return config, tree, lambda: onnx_fused.sequence_model(
            "gru", [(u, [tuple(w1)], True), (u, [tuple(w2)], True)], f)
    # bilstm_text: Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense(1, sigmoid)
    emb = rng.normal(0, 0.5, (VOCAB, EMBED)).astype(np.float32)
    fw, bw = _cell_weights(rng, "lstm", EMBED, u), _cell_weights(rng, "lstm", EMBED, u)
    dk = rng.normal(0, (2 * u) ** -0.5, (2 * u, 1)).astype(np.float32)
    db = np.array([0.05], np.float32)
    config = sequential([
        k3_layer("InputLayer", "tokens", batch_shape=[None, None], dtype="int32", sparse=False),
        k3_layer("Embedding", "embedding", trainable=True, dtype="float32", input_dim=VOCAB,
                 output_dim=EMBED, mask_zero=True),
        k3_layer("Bidirectional", "bidirectional", trainable=True, dtype="float32",
                 merge_mode="concat", layer=_rnn("lstm", "forward_lstm", u),
                 backward_layer=_rnn("lstm", "backward_lstm", u, go_backwards=True)),
        k3_layer("Dense", "dense", trainable=True, dtype="float32", units=1,
                 activation="sigmoid", use_bias=True)])
    tree = {"layers/embedding": [emb], "layers/bidirectional/forward_layer/cell": fw,
            "layers/bidirectional/backward_layer/cell": bw, "layers/bidirectional": [],
            "layers/dense": [dk, db]}
    return config, tree, lambda: onnx_fused.text_model(emb, [tuple(fw), tuple(bw)], u, dk, db)


def inputs(c):
    rng = np.random.default_rng(zlib.crc32(("x" + c["id"]).encode()))
    b, t = c["batch"], c["steps"]
    if c["model"] != "bilstm_text":
        return rng.normal(0, 1, (b, t, c["features"])).astype(np.float32)
    ids = rng.integers(1, VOCAB, (b, t)).astype(np.int32)
    for row, n in zip(ids, rng.integers(t // 3, t + 1, b)):
        row[n:] = 0                                     # right padding: masked steps
    return ids


def write(workdir, configs):
    for c in configs:
        config, tree, _ = build(c)
        write_keras_zip(os.path.join(workdir, c["id"] + ".keras"), config, tree)


# ----- timing (in the worker) ----------------------------------------------------------------
def _tf(results):
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras
        results["info"].update(tensorflow=tf.__version__, keras=keras.__version__)
        return tf, keras
    except Exception as e:
        for p in ("ort-tf2onnx", "tf.function", "keras.predict"):
            results["unavailable"][p] = f"tensorflow/keras not importable ({err(e)})"
        return None


def worker(spec):
    import kerasrnn_infer as kri
    from kerasrnn_infer.kernels import numba_rnn
    results = new_results(numpy=np.__version__, kerasrnn_infer=kri.__version__)
    results["info"]["blas"] = blas_info()
    peers = set(spec["peers"])
    jit_ok = numba_rnn.available()
    if jit_ok:
        import numba
        results["info"]["numba"] = numba.__version__
        results["info"]["jit_product"] = numba_rnn.product()
        for k in ("CHUNK_VALUES",):
            results["info"][k] = getattr(numba_rnn, k)
    else:
        results["unavailable"]["engine+jit"] = "numba not installed: pip install '.[jit]'"
    try:
        import onnxruntime
        results["info"]["onnxruntime"] = onnxruntime.__version__
    except ImportError as e:
        onnxruntime = None
        for p in ("ort-fused", "ort-tf2onnx"):
            results["unavailable"][p] = f"onnxruntime not installed ({err(e)})"
    tfk = _tf(results) if peers & {"ort-tf2onnx", "tf.function", "keras.predict"} else None
    outputs, diffs = {}, {}
    for c in spec["configs"]:
        path = os.path.join(spec["dir"], c["id"] + ".keras")
        x = inputs(c)
        funcs = {}
        base = kri.load_model(path, jit=False)
        funcs["engine"] = lambda m=base: m.predict(x)
        if jit_ok and "engine+jit" in peers:
            jm = kri.load_model(path, jit=True)
            funcs["engine+jit"] = lambda m=jm: m.predict(x)
        if onnxruntime is not None and "ort-fused" in peers:
            try:
                sess = onnx_fused.session(build(c)[2]())
                feed = {"x": x.astype(np.int64) if x.dtype.kind == "i" else x}
                funcs["ort-fused"] = lambda s=sess, f=feed: s.run(None, f)[0]
            except Exception as e:
                results["errors"].setdefault("ort-fused", {})[c["id"]] = err(e)
        if tfk is not None:
            tf, keras = tfk
            try:
                km = keras.saving.load_model(path, compile=False)
                sig = (tf.TensorSpec((None, None) + x.shape[2:], tf.as_dtype(x.dtype)),)
                fn = tf.function(lambda t, km=km: km(t, training=False), input_signature=sig)
                if "tf.function" in peers:
                    funcs["tf.function"] = lambda fn=fn: fn(x).numpy()
                if "keras.predict" in peers:
                    funcs["keras.predict"] = lambda km=km: km.predict(x, verbose=0,
                                                                      batch_size=len(x))
                if "ort-tf2onnx" in peers and onnxruntime is not None:
                    import tf2onnx
                    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
                    s2 = onnx_fused.session(proto)
                    name = s2.get_inputs()[0].name
                    funcs["ort-tf2onnx"] = lambda s=s2, n=name: s.run(None, {n: x})[0]
            except Exception as e:
                for p in ("ort-tf2onnx", "tf.function", "keras.predict"):
                    if p in peers:
                        results["errors"].setdefault(p, {})[c["id"]] = err(e)
        log(f"  {c['id']}")
        times = time_round_robin(funcs, spec, c["id"], results, outputs)
        ref = outputs.get(f"engine/{c['id']}")
        for p in times:
            got = outputs.get(f"{p}/{c['id']}")
            if ref is not None and got is not None and got.shape == ref.shape:
                diffs.setdefault(p, {})[c["id"]] = float(np.max(np.abs(got - ref)))
        log("      " + "  ".join(f"{p} {statistics.median(t) * 1e3:.3f}"
                                 for p, t in times.items()))
        if c["batch"] == 1:
            results.setdefault("cold", {})[c["id"]] = cold_calls(
                {p: f for p, f in funcs.items() if p in ("engine+jit", "ort-fused")})
    results["diffs"] = diffs
    if spec.get("crossover") and jit_ok:
        results["crossover"] = crossover(spec)
    return results


SWEEP_BYTES = 64 << 20


def cold_calls(funcs, reps=41):
    """Batch 1 with cold caches (ms, medians): each call right after reading and writing
    ``SWEEP_BYTES`` of other memory, as a service's request finds the machine after other
    work; beside the same call warm (right after itself)."""
    sweep = np.ones(SWEEP_BYTES // 8)
    out = {}
    for name, fn in funcs.items():
        cold, warm = [], []
        for _ in range(reps):
            sweep += 1.0
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            fn()
            cold.append(t1 - t0)
            warm.append(time.perf_counter() - t1)
        out[name] = {"cold": statistics.median(cold), "warm": statistics.median(warm)}
    return out


def crossover(spec):
    """The choices behind the compiled kernel, timed round-robin (ms): per batch size (128
    units, 100 steps, 32 features) the compiled kernel against the NumPy kernel (the
    compiled one runs every batch size); and the compiled loops' own product
    (kernels/_simd.py) against NumPy's matmul, at the shapes of one timestep's products
    (GFLOP/s)."""
    from kerasrnn_infer import activations as A
    from kerasrnn_infer.cells import CellSpec, CellWeights
    from kerasrnn_infer.kernels import NumpyRecurrent, _simd, numba_rnn
    from kerasrnn_infer.kernels.numba_rnn import _aligned
    out = {"forms": {}, "products": {}}
    rng = np.random.default_rng(0)
    for kind in ("lstm", "gru", "simple_rnn"):
        ract = None if kind == "simple_rnn" else A.sigmoid
        cspec = CellSpec(kind, 128, A.tanh, ract, True, kind == "gru", np.dtype("f4"))
        w = CellWeights.of(cspec, _cell_weights(rng, kind, 32, 128))
        jit, ref = numba_rnn.NumbaRecurrent([cspec], [w]), NumpyRecurrent([cspec], [w])
        for b in (1, 2, 4, 8, 16, 32, 64, 256):
            x = rng.normal(0, 1, (b, 100, 32)).astype(np.float32)
            init = [np.zeros((b, 128), np.float32)] * len(cspec.state_sizes)
            funcs = {"compiled": lambda x=x, init=init, k=jit: k.run(x, init, None, False,
                                                                     False, False)[0],
                     "numpy": lambda x=x, init=init, k=ref: k.run(x, init, None, False, False,
                                                                  False)[0]}
            times = time_round_robin(funcs, dict(spec, budget=0.3), f"{kind}{b}",
                                     new_results(), {})
            out["forms"][f"{kind}_b{b}"] = {k: statistics.median(v)
                                            for k, v in times.items()}
            log(f"  crossover {kind} b{b}: " + "  ".join(
                f"{k} {v * 1e3:.3f}" for k, v in out["forms"][f"{kind}_b{b}"].items()))
    out["conv_lstm"] = _conv_lstm_crossover(spec, rng)
    for m, k, g in ((1, 64, 256), (8, 128, 512), (32, 128, 512), (256, 256, 1024),
                    (5000, 32, 512)):
        a = rng.normal(0, 1, (m, k)).astype(np.float32)
        u = rng.normal(0, 1, (k, g)).astype(np.float32)
        packed = _simd.pack(u, lambda shape: _aligned(np.empty(shape, np.float32), np.float32))
        c = np.empty((m, packed.shape[0] * packed.shape[2]), np.float32)
        _simd.mm(a, m, packed, c)
        funcs = {"own": lambda a=a, m=m, p=packed, c=c: _simd.mm(a, m, p, c),
                 "numpy": lambda a=a, u=u: a @ u}
        times = time_round_robin(funcs, dict(spec, budget=0.3), f"mm{m}", new_results(), {})
        key = f"{m}x{k} @ {k}x{g}"
        out["products"][key] = {n: 2 * m * k * g / statistics.median(v) / 1e9
                                for n, v in times.items()}
        log(f"  product {key}: " + "  ".join(f"{n} {v:.0f} GFLOP/s"
                                             for n, v in out["products"][key].items()))
    return out


CONV_LSTM_SHAPES = (  # batch, steps, frame (*spatial, channels), filters, kernel
    (1, 10, (16, 16, 1), 16, (3, 3)), (8, 10, (16, 16, 1), 16, (3, 3)),
    (4, 10, (40, 40, 1), 40, (3, 3)), (1, 20, (64, 8), 32, (5,)))


def _conv_lstm_crossover(spec, rng):
    """ConvLSTM2D/1D layers' kernels alone (ms): compiled against NumPy, float32, "same"."""
    from kerasrnn_infer import activations as A
    from kerasrnn_infer import cells
    from kerasrnn_infer.kernels import recurrent_kernel
    out = {}
    for b, steps, frame, filters, kernel in CONV_LSTM_SHAPES:
        rank = len(kernel)
        cspec = cells.CellSpec("conv_lstm", filters, A.tanh, A.sigmoid, True, False,
                               np.dtype("f4"), cells.ConvSpec(kernel, (1,) * rank, "same",
                                                              (1,) * rank))
        shapes = cspec.weight_shapes()
        shapes[0] = shapes[0][:-2] + (frame[-1], shapes[0][-1])
        w = cells.CellWeights.of(cspec, [rng.normal(0, 0.2, s).astype(np.float32)
                                         for s in shapes])
        x = rng.normal(0, 1, (b, steps, *frame)).astype(np.float32)
        kernels = {"compiled": recurrent_kernel([cspec], [w], jit=True),
                   "numpy": recurrent_kernel([cspec], [w], jit=False)}
        funcs = {k: lambda kern=kern, x=x: kern.run(x, None, None, False, True, False)[1]
                 for k, kern in kernels.items()}
        key = f"b{b}, {steps} steps, {'x'.join(map(str, frame[:-1]))} map, {filters} filters, " \
              f"kernel {'x'.join(map(str, kernel))}"
        times = time_round_robin(funcs, dict(spec, budget=0.3), key, new_results(), {})
        out[key] = {k: statistics.median(v) for k, v in times.items()}
        log(f"  conv_lstm {key}: " + "  ".join(f"{k} {v * 1e3:.3f}"
                                               for k, v in out[key].items()))
    return out


# ----- first call and memory (fresh processes) -----------------------------------------------
FIRST_CALL = r"""
import json, os, sys, time
t0 = time.perf_counter()
kind, path, xpath = sys.argv[1:4]
import numpy as np
x = np.load(xpath)
if kind.startswith("engine"):
    import kerasrnn_infer as kri
    t1 = time.perf_counter()
    m = kri.load_model(path, jit=kind != "engine")
    t2 = time.perf_counter()
    m.predict(x)
elif kind == "ort-fused":
    import onnxruntime as ort
    t1 = time.perf_counter()
    so = ort.SessionOptions(); so.intra_op_num_threads = so.inter_op_num_threads = 1
    s = ort.InferenceSession(open(path, "rb").read(), so, providers=["CPUExecutionProvider"])
    t2 = time.perf_counter()
    s.run(None, {"x": x.astype(np.int64) if x.dtype.kind == "i" else x})
else:
    import keras
    t1 = time.perf_counter()
    m = keras.saving.load_model(path, compile=False)
    t2 = time.perf_counter()
    m.predict(x, verbose=0)
t3 = time.perf_counter()
with open("/proc/self/status") as f:
    peak = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] / 1024
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "predict": t3 - t2, "total": t3 - t0,
                  "peak_mb": peak}))
"""


def first_calls(args, workdir, c):
    """Fresh processes on config ``c``: the NumPy path, the compiled path with an empty numba
    cache (it compiles) and then with that cache (it loads), onnxruntime's fused graph,
    Keras."""
    path = os.path.join(workdir, c["id"] + ".keras")
    xpath = os.path.join(workdir, c["id"] + ".npy")
    np.save(xpath, inputs(c))
    onnx_path = os.path.join(workdir, c["id"] + ".onnx")
    try:
        with open(onnx_path, "wb") as f:
            f.write(build(c)[2]().SerializeToString())
    except Exception as e:
        log(f"  (no onnx file: {err(e)})")
    cache = tempfile.mkdtemp(prefix="kri_numba_cache_", dir=workdir)
    runs = [("engine", path, {}), ("engine+jit (no cache)", path, {"NUMBA_CACHE_DIR": cache}),
            ("engine+jit (cached)", path, {"NUMBA_CACHE_DIR": cache}),
            ("ort-fused", onnx_path, {}), ("keras.predict", path, {})]
    out = {}
    one = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    for label, p, env in runs:
        kind = label.split(" ")[0]
        r, why = run_code(args, FIRST_CALL.replace("sys.argv[1:4]", repr([kind, p, xpath])),
                          extra_env=dict(one, **env), timeout=900)
        out[label] = json.loads(r.stdout.strip().splitlines()[-1]) if r else {"error": why}
        log(f"  first call {label}: {out[label]}")
    return out


# ----- report --------------------------------------------------------------------------------
def _ms(t):
    return "-" if t is None else f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.2f}" \
        if t < 1 else f"{t * 1e3:.0f}"


def report(res, configs, first, elapsed, loads):
    times, diffs, info = res["times"], res.get("diffs", {}), res["info"]
    med = {p: {k: statistics.median(v) for k, v in d.items()} for p, d in times.items()}
    lines = ["## The compiled kernel (`pip install kerasrnn-infer[jit]`) against onnxruntime",
             "",
             f"`python tools/bench.py --jit`, one BLAS thread (TensorFlow and onnxruntime one "
             f"thread too), medians of round-robin calls (each round in a shuffled order), "
             f"milliseconds per `predict`. "
             f"Ratios are engine time / onnxruntime fused-op time (below 1.0: faster than "
             f"onnxruntime). numba {info.get('numba', '-')}, onnxruntime "
             f"{info.get('onnxruntime', '-')}, TensorFlow {info.get('tensorflow', '-')}, "
             f"NumPy {info.get('numpy')}; compiled product: {info.get('jit_product', '-')}; "
             f"load average {loads[0]:.1f} before, {loads[1]:.1f} after; {elapsed:.0f} s.", "",
             "| model | batch | steps | units | engine | engine+jit | ort fused | ort tf2onnx "
             "| tf.function | keras.predict | engine/ort | jit/ort | jit max diff |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    worst = {}
    for c in configs:
        cid = c["id"]
        row = {p: med.get(p, {}).get(cid) for p in PEERS}
        ort = row["ort-fused"]
        r_eng = row["engine"] / ort if ort and row["engine"] else None
        r_jit = row["engine+jit"] / ort if ort and row["engine+jit"] else None
        if r_jit is not None:
            worst[c["batch"]] = max(worst.get(c["batch"], 0), r_jit)
        d = diffs.get("engine+jit", {}).get(cid)
        lines.append(f"| {c['model']} | {c['batch']} | {c['steps']} | {c['units']} | "
                     + " | ".join(_ms(row[p]) for p in PEERS)
                     + f" | {'-' if r_eng is None else f'{r_eng:.2f}'}"
                     + f" | {'-' if r_jit is None else f'{r_jit:.2f}'}"
                     + f" | {'-' if d is None else f'{d:.1e}'} |")
    lines += ["", "Worst engine+jit / ort-fused per batch size: "
              + ", ".join(f"batch {b}: {v:.2f}" for b, v in sorted(worst.items())), ""]
    other = {p: max(diffs.get(p, {}).values(), default=None) for p in PEERS[2:]}
    lines.append("Largest difference from the engine's NumPy path: "
                 + ", ".join(f"{p} {v:.1e}" for p, v in other.items() if v is not None)
                 + ". Unavailable: " + (", ".join(f"{p} ({w})" for p, w in
                                                  res["unavailable"].items()) or "none") + ".")
    cold = res.get("cold")
    if cold:
        lines += ["", f"Batch 1 with cold caches (ms): each call right after a "
                  f"{SWEEP_BYTES >> 20} MB sweep of other memory, and the same call again "
                  f"(warm):", "", "| case | jit cold | jit warm | ort fused cold | "
                  "ort fused warm | cold jit / ort |", "|---|---|---|---|---|---|"]
        for cid, v in cold.items():
            j, o = v.get("engine+jit"), v.get("ort-fused")
            ratio = f"{j['cold'] / o['cold']:.2f}" if j and o else "-"
            lines.append(f"| {cid} | {_ms(j and j['cold'])} | {_ms(j and j['warm'])} | "
                         f"{_ms(o and o['cold'])} | {_ms(o and o['warm'])} | {ratio} |")
    if first:
        lines += ["", "First call of a fresh process on the batch-1 LSTM (import, load, first "
                  "predict; seconds) and its peak memory (VmHWM):", "",
                  "| path | import | load | first predict | total | peak MB |",
                  "|---|---|---|---|---|---|"]
        for label, r in first.items():
            if "error" in r:
                lines.append(f"| {label} | {r['error']} | | | | |")
            else:
                lines.append(f"| {label} | {r['import']:.2f} | {r['load']:.2f} | "
                             f"{r['predict']:.3f} | {r['total']:.2f} | {r['peak_mb']:.0f} |")
    cross = res.get("crossover")
    if cross:
        lines += ["", "Crossover (128 units, 100 steps, 32 features, ms): the compiled kernel "
                  "and the NumPy kernel, by batch size:", "",
                  "| case | compiled | numpy |", "|---|---|---|"]
        for k, v in cross["forms"].items():
            lines.append(f"| {k} | {_ms(v.get('compiled'))} | {_ms(v.get('numpy'))} |")
        lines += ["", "ConvLSTM layers' kernels alone (ms; float32, \"same\" padding): "
                  "compiled and NumPy:", "", "| case | compiled | numpy | compiled / numpy |",
                  "|---|---|---|---|"]
        for k, v in cross.get("conv_lstm", {}).items():
            lines.append(f"| {k} | {_ms(v['compiled'])} | {_ms(v['numpy'])} | "
                         f"{v['compiled'] / v['numpy']:.2f} |")
        lines += ["", "Products (GFLOP/s, one thread): the compiled loops' own (weights packed "
                  "once, kernels/_simd.py) and NumPy's matmul, at the shapes of one step's "
                  "products (rows of h or x, by the weights):", "",
                  "| product | own | numpy |", "|---|---|---|"]
        for k, v in cross["products"].items():
            lines.append(f"| {k} | {v['own']:.0f} | {v['numpy']:.0f} |")
    return "\n".join(lines)


def main(args):
    from .timing import run_worker
    t0 = time.perf_counter()
    loads = [os.getloadavg()[0]]
    configs = grid()
    if args.only:
        configs = [c for c in configs if any(k in c["id"] for k in args.only.split(","))]
    peers = args.peers.split(",") if args.peers else list(PEERS)
    with tempfile.TemporaryDirectory(prefix="kri_bench_jit_") as workdir:
        write(workdir, configs)
        spec = {"dir": workdir, "configs": configs, "peers": peers,
                "budget": args.budget or 0.6, "min_reps": args.min_reps,
                "max_reps": args.max_reps, "crossover": not args.only}
        res, outs = run_worker(args, "jit", "1", spec, workdir)
        if res is None:
            print(f"worker failed: {outs}", file=sys.stderr)
            return 1
        first = None
        if not args.no_process_costs:
            c1 = [c for c in grid(("lstm",), (1,))][0]
            write(workdir, [c1])
            first = first_calls(args, workdir, c1)
    loads.append(os.getloadavg()[0])
    text = report(res, configs, first, time.perf_counter() - t0, loads)
    print("\n" + text)
    if args.write_docs:
        path = os.path.join(ROOT, "docs", "jit.md")
        with open(path, "w") as f:
            f.write("# Benchmarks: the compiled kernel\n\n" + text + "\n")
        print(f"\nwrote {path}")
    bad = [c["id"] for c in configs
           if res.get("diffs", {}).get("engine+jit", {}).get(c["id"], 0) > 1e-5]
    if bad:
        print(f"engine+jit differs from the NumPy path by more than 1e-5 on {bad}")
    return 1 if bad else 0


def worker_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    results = worker(spec)
    np.savez(spec["out"] + ".npz")
    with open(spec["out"] + ".json", "w") as f:
        json.dump(results, f)
