"""The convolutional rows (``bench.py --conv``): a CRNN captcha reader, an LRCN video
classifier and a ConvLSTM2D forecaster, each written by Keras 3 in the worker, then timed on
the same file and inputs in this engine, Keras 3 on TensorFlow (predict, call, tf.function)
and onnxruntime (tf2onnx of that tf.function); the engine's output must match Keras's
``model(x)`` to 1e-5.

The models are the public examples' shapes: the CRNN is keras.io's "OCR model for reading
Captchas" (200x50 grey images, width first: Conv2D(32)-pool-Conv2D(64)-pool, Reshape, Dense,
Bidirectional LSTM(128) then LSTM(64), a softmax over 20 classes); the LRCN is a
TimeDistributed CNN (two Conv2D/MaxPooling2D blocks, Flatten) over 16 frames of 64x64x3 into
an LSTM(64); the ConvLSTM2D forecaster is keras.io's "Next-frame prediction" scaled to this
2-core machine (10 frames of 32x32x1, two ConvLSTM2D(16, 3x3) with BatchNormalization, a
Conv3D head).
"""

import os
import platform
import statistics
import zlib

import numpy as np

from .timing import blas_info, err, log, new_results, time_round_robin

PEERS = ("engine", "keras.predict", "keras.call", "tf.function", "onnxruntime")


def cfg(model, batch, label):
    return {"id": f"{model}_b{batch}", "model": model, "batch": batch, "label": label}


CONFIGS = [
    cfg("crnn", 1, "CRNN captcha reader, batch 1, 200x50x1"),
    cfg("crnn", 32, "CRNN captcha reader, batch 32, 200x50x1"),
    cfg("lrcn", 4, "LRCN, batch 4, 16 frames of 64x64x3"),
    cfg("convlstm", 4, "ConvLSTM2D forecaster, batch 4, 10 frames of 32x32x1"),
]

INPUT_SHAPES = {"crnn": (200, 50, 1), "lrcn": (16, 64, 64, 3), "convlstm": (10, 32, 32, 1)}


def build(keras, name):
    """The Keras 3 model ``name`` with seeded random weights (biases and BatchNormalization
    statistics nonzero)."""
    L = keras.layers
    keras.utils.set_random_seed(7)
    x = keras.Input(INPUT_SHAPES[name])
    if name == "crnn":
        h = L.Conv2D(32, 3, activation="relu", padding="same")(x)
        h = L.MaxPooling2D(2)(h)
        h = L.Conv2D(64, 3, activation="relu", padding="same")(h)
        h = L.MaxPooling2D(2)(h)                                    # (50, 12, 64)
        h = L.Reshape((50, 12 * 64))(h)
        h = L.Dropout(0.2)(L.Dense(64, activation="relu")(h))
        h = L.Bidirectional(L.LSTM(128, return_sequences=True))(h)
        h = L.Bidirectional(L.LSTM(64, return_sequences=True))(h)
        y = L.Dense(20, activation="softmax")(h)
    elif name == "lrcn":
        TD = L.TimeDistributed
        h = TD(L.Conv2D(16, 3, activation="relu"))(x)
        h = TD(L.MaxPooling2D(2))(h)
        h = TD(L.Conv2D(32, 3, activation="relu"))(h)
        h = TD(L.MaxPooling2D(2))(h)
        h = TD(L.Flatten())(h)
        y = L.Dense(10, activation="softmax")(L.LSTM(64)(h))
    else:
        h = L.ConvLSTM2D(16, 3, padding="same", return_sequences=True)(x)
        h = L.BatchNormalization()(h)
        h = L.ConvLSTM2D(16, 3, padding="same", return_sequences=True)(h)
        h = L.BatchNormalization()(h)
        y = L.Conv3D(1, 3, padding="same", activation="sigmoid")(h)
    model = keras.Model(x, y)
    rng = np.random.default_rng(11)
    for w in model.weights:
        kind = w.path.split("/")[-1]
        shape = tuple(w.shape)
        if kind in ("bias", "beta", "moving_mean"):
            v = rng.uniform(-0.2, 0.2, shape)
        elif kind in ("gamma", "moving_variance"):
            v = rng.uniform(0.8, 1.2, shape)
        else:
            v = rng.normal(0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape)
        w.assign(v.astype("float32"))
    return model


def inputs(c):
    rng = np.random.default_rng(zlib.crc32(c["id"].encode()))
    return rng.uniform(0, 1, (c["batch"], *INPUT_SHAPES[c["model"]])).astype("float32")


def run_conv_worker(spec):
    """All peers on every config; returns (results, outputs) as the other workers do."""
    threads, peers = spec["threads"], set(spec["peers"])
    results = new_results(python=platform.python_version(), numpy=np.__version__,
                          threads=threads)
    results["info"]["blas"] = blas_info()
    import kerasrnn_infer as kri
    import tensorflow as tf
    if threads == "1":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    results["info"].update(kerasrnn_infer=kri.__version__, tensorflow=tf.__version__,
                           keras=keras.__version__)
    try:
        import onnxruntime as ort
        import tf2onnx
        results["info"].update(onnxruntime=ort.__version__, tf2onnx=tf2onnx.__version__)
    except Exception as e:
        ort = None
        results["unavailable"]["onnxruntime"] = f"not installed ({err(e)})"
    models, engines, sessions = {}, {}, {}
    outputs = {}
    for c in spec["configs"]:
        name = c["model"]
        if name not in models:
            models[name] = km = build(keras, name)
            path = os.path.join(spec["dir"], f"{name}.keras")
            km.save(path)
            engines[name] = kri.load_model(path)
            if ort is not None and "onnxruntime" in peers:
                sig = (tf.TensorSpec((None, *INPUT_SHAPES[name]), tf.float32, name="x"),)
                fn = tf.function(lambda t, km=km: km(t, training=False), input_signature=sig)
                try:
                    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
                    so = ort.SessionOptions()
                    if threads == "1":
                        so.intra_op_num_threads = so.inter_op_num_threads = 1
                    sessions[name] = ort.InferenceSession(proto.SerializeToString(), so,
                                                          providers=["CPUExecutionProvider"])
                except Exception as e:
                    results["errors"].setdefault("onnxruntime", {})[c["id"]] = err(e)
        x = inputs(c)
        outputs[f"keras/{c['id']}"] = np.asarray(models[name](x, training=False))
        funcs = _peer_funcs(tf, models[name], engines[name], sessions.get(name), x, peers)
        log(f"  [{threads} thread{'s' if threads != '1' else ''}] {c['id']}")
        times = time_round_robin(funcs, spec, c["id"], results, outputs)
        log("      " + "  ".join(f"{p} {statistics.median(t) * 1e3:.2f} ms"
                                 for p, t in times.items()))
    return results, outputs


def _peer_funcs(tf, km, engine, sess, x, peers):
    """{peer: callable} on inputs ``x``."""
    funcs = {"engine": lambda: engine.predict(x)}
    if "keras.predict" in peers:
        funcs["keras.predict"] = lambda: km.predict(x, verbose=0, batch_size=len(x))
    if "keras.call" in peers:
        funcs["keras.call"] = lambda: km(x, training=False).numpy()
    if "tf.function" in peers:
        tfn = tf.function(lambda t: km(t, training=False),
                          input_signature=(tf.TensorSpec(x.shape, tf.float32),))
        funcs["tf.function"] = lambda: tfn(x).numpy()
    if sess is not None:
        iname = sess.get_inputs()[0].name
        funcs["onnxruntime"] = lambda: sess.run(None, {iname: x})[0]
    return funcs


def report(configs, results, outputs, threads):
    """(markdown table, ok): median times, ratios to the engine, the engine's error."""
    head = ["", "this engine", "Keras `predict`", "Keras `model(x)`", "`tf.function`",
            "onnxruntime", "max abs err"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    ok = True
    for c in configs:
        cid = c["id"]
        t = {p: statistics.median(v[cid]) for p, v in results["times"].items() if cid in v}
        eng = outputs.get(f"engine/{cid}")
        want = outputs.get(f"keras/{cid}")
        e = float(np.max(np.abs(eng - want))) if eng is not None and want is not None else None
        ok = ok and e is not None and e <= 1e-5
        lines.append("| " + " | ".join([c["label"]] + [_cell(p, t, results, cid)
                                                       for p in PEERS] +
                                        ["-" if e is None else f"{e:.1e}"]) + " |")
    note = (f"{threads} BLAS/TF/onnxruntime thread(s); median of round-robin repeats; "
            f"(Nx) = peer time / engine time, so >1x means the engine is faster.")
    return "\n".join(lines) + "\n\n" + note, ok


def _cell(p, t, results, cid):
    """A peer's median time, and its ratio to the engine's."""
    if p not in t:
        why = results["unavailable"].get(p) or results["errors"].get(p, {}).get(cid)
        return "n/a" if why else "-"
    ms = t[p] * 1e3
    txt = f"{ms:.3g} ms" if ms < 1000 else f"{ms / 1e3:.3g} s"
    if p != "engine" and "engine" in t:
        txt += f" ({t[p] / t['engine']:.2g}x)"
    return txt
