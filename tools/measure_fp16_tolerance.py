"""Measure how closely mixed-precision (``mixed_float16``) Keras models can be matched, to pick
``verify``'s default tolerance for float16 compute (testing.compare.default_tolerance).

Run from the project root (needs TensorFlow, tf-keras and Keras 3)::

    python tools/measure_fp16_tolerance.py [--seeds 3]

For a few small recurrent models built under the ``mixed_float16`` policy, with the random
weights of the fixtures (tools/make_fixtures.py), per layer and per model output:

- ``engine``: kerasrnn_infer against Keras running the float16 model;
- ``keras``: Keras's float16 model against the same model (same weights) under ``float32``,
  i.e. how far float16 compute is from the float32 answer in Keras itself.

Each row prints the max abs error and ``need``: the smallest ``t`` with
``|ours - keras| <= t + t * |keras|`` everywhere (the pass rule with atol = rtol = t).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import kerasrnn_infer as kri  # noqa: E402
from kerasrnn_infer.testing.keras_ref import probe_layers, predict as kpredict  # noqa: E402
import make_fixtures as mf  # noqa: E402


def models(K):
    L = K.layers

    def stack():
        x = K.Input((20, 6))
        s = L.LSTM(32, return_sequences=True)(x)
        s = L.GRU(24, return_sequences=True)(s)
        s = L.SimpleRNN(16)(s)
        s = L.Dense(8, activation="relu")(s)
        y = L.Dense(3, activation="softmax", dtype="float32")(s)
        return K.Model(x, y), lambda rng, b: [mf.floats(rng, b, 20, 6)]

    def text():
        x = K.Input((30,), dtype="int32")
        e = L.Embedding(50, 16)(x)
        s = L.Bidirectional(L.LSTM(24, return_sequences=True))(e)
        s = L.GRU(16, reset_after=False)(s) if not mf.is_keras3(K) else L.GRU(16)(s)
        y = L.Dense(1, activation="sigmoid", dtype="float32")(s)
        return K.Model(x, y), lambda rng, b: [mf.tokens(rng, 50, b, 30)]

    def conv_all16():
        x = K.Input((40, 4))
        c = L.Conv1D(16, 3, padding="same", activation="relu")(x)
        s = L.LSTM(16, return_sequences=True)(c)
        y = L.TimeDistributed(L.Dense(2))(s)          # float16 output too
        return K.Model(x, y), lambda rng, b: [mf.floats(rng, b, 40, 4)]

    def long():
        x = K.Input((200, 8))
        s = L.LSTM(64, return_sequences=True)(x)
        s = L.GRU(64)(s)
        y = L.Dense(4, dtype="float32")(s)
        return K.Model(x, y), lambda rng, b: [mf.floats(rng, b, 200, 8)]

    return {"stack": stack, "text": text, "conv_all16": conv_all16, "long": long}


def need(got, want):
    g = np.asarray(got, np.float64)
    w = np.asarray(want, np.float64)
    d = np.abs(g - w)
    return float(d.max()), float((d / (1 + np.abs(w))).max())


def measure(writer, name, seed, rows):
    K = mf.keras_module(writer)
    mixed = K.mixed_precision
    K.backend.clear_session()
    mixed.set_global_policy("mixed_float16")
    rng = np.random.default_rng(seed)
    model, make_inputs = models(K)[name]()
    mf.randomize_weights(model, rng)
    xs = make_inputs(rng, 6)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.keras" if mf.is_keras3(K) else "m.h5")
        model.save(path)
        ours = kri.load_model(path)
        k16_layers, _ = probe_layers(K, model, xs, strict=False)
        k16_out = kpredict(model, xs)
        cfg = model.to_json()
        weights = model.get_weights()
        mixed.set_global_policy("float32")
        K.backend.clear_session()
        cfg32 = cfg.replace('"mixed_float16"', '"float32"')
        m32 = K.models.model_from_json(cfg32)
        m32.set_weights(weights)
        k32_layers, _ = probe_layers(K, m32, xs, strict=False)
        our_layers = ours.layer_outputs(xs[0])
        our_out = ours.predict(xs[0])
    for l in model.layers:
        if l.name not in k16_layers or l.__class__.__name__ == "InputLayer":
            continue
        w16 = k16_layers[l.name][0]
        e_abs, e_need = need(np.asarray(our_layers[l.name] if not isinstance(
            our_layers[l.name], list) else our_layers[l.name][0]), w16)
        k_abs, k_need = need(w16, k32_layers[l.name][0])
        rows.append((writer, name, seed, l.name, str(w16.dtype), e_abs, e_need, k_abs, k_need))
    e_abs, e_need = need(our_out, k16_out[0])
    rows.append((writer, name, seed, "(output)", str(k16_out[0].dtype), e_abs, e_need,
                 np.nan, np.nan))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--models", default="stack,text,conv_all16,long")
    args = ap.parse_args()
    rows = []
    for writer in ("keras3", "tf_keras"):
        for name in args.models.split(","):
            for seed in range(args.seeds):
                measure(writer, name, seed, rows)
    print(f"{'writer':<9} {'model':<11} {'s':>1} {'layer':<22} {'dtype':<8} "
          f"{'engine abs':>10} {'need':>9} {'keras16/32':>10} {'need':>9}")
    for r in rows:
        print(f"{r[0]:<9} {r[1]:<11} {r[2]:>1} {r[3]:<22} {r[4]:<8} {r[5]:>10.3g} {r[6]:>9.3g} "
              f"{r[7]:>10.3g} {r[8]:>9.3g}")
    eng = max(r[6] for r in rows)
    ker = max(r[8] for r in rows if np.isfinite(r[8]))
    print(f"\nworst need: engine vs Keras float16 {eng:.3g}; Keras float16 vs float32 {ker:.3g}")


if __name__ == "__main__":
    main()
