"""Run a case folder (model file(s), case.json, io.npz) through the public API.

The layout is shared by this project's fixtures/ and ../shared/realworld/:
case.json ``load`` ({"path"} or {"json", "weights"}) plus optional ``also_load`` (more files of
the same model), ``calls`` ("predict" / "reset"), ``tol``; io.npz ``in/i``, ``call<k>/in/i``,
``call<k>/out/j`` and per-layer ``layer/<name>/<j>``.
"""

import json
import os

import numpy as np

import kerasrnn_infer as kri
from kerasrnn_infer._util import as_list  # noqa: F401  (tests import it from here)




def read_case(d):
    with open(os.path.join(d, "case.json")) as f:
        spec = json.load(f)
    io = dict(np.load(os.path.join(d, "io.npz"), allow_pickle=False))
    return spec, io


def load(d, load_spec, custom_objects=None, jit=None):
    kw = {"custom_objects": custom_objects} if custom_objects else {}
    kw["jit"] = jit
    if "path" in load_spec:
        return kri.load_model(os.path.join(d, load_spec["path"]), **kw)
    with open(os.path.join(d, load_spec["json"])) as f:
        model = kri.model_from_json(f.read(), **kw)
    return model.load_weights(os.path.join(d, load_spec["weights"]))


def max_abs_err(got, want):
    if np.asarray(want).dtype.kind == "U":       # string inputs, as passed through
        assert np.array_equal(np.asarray(got), want), "strings differ from Keras's"
        return 0.0
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape}, Keras gives {want.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN pattern differs from Keras"
    ok = ~np.isnan(want)
    return float(np.max(np.abs(got[ok] - want[ok]))) if ok.any() else 0.0


def inputs(io, prefix="in/"):
    n = sum(1 for k in io if k.startswith(prefix))
    xs = [io[f"{prefix}{i}"] for i in range(n)]
    return xs if n > 1 else (xs[0] if xs else None)


def check_model(model, spec, io, check_layers=True):
    """Assert every recorded output (and layer output) matches; return the worst error."""
    tol = spec.get("tol", 1e-5)
    feed = inputs(io)
    worst, k = 0.0, 0
    for call in spec.get("calls", ["predict"]):
        if call == "reset":
            model.reset_states()
            continue
        x = inputs(io, f"call{k}/in/") if f"call{k}/in/0" in io else feed
        got = as_list(model._flat(model.predict(x)))       # nested outputs: Keras's order
        n_out = sum(1 for key in io if key.startswith(f"call{k}/out/"))
        assert len(got) == n_out, f"call {k}: {len(got)} outputs, Keras gives {n_out}"
        for j in range(n_out):
            want = io[f"call{k}/out/{j}"]
            e = max_abs_err(got[j], want)
            assert e <= tol, f"call {k} output {j}: max abs err {e:.3g} > {tol}"
            assert np.asarray(got[j]).dtype == want.dtype, \
                f"call {k} output {j}: dtype {np.asarray(got[j]).dtype}, Keras gives {want.dtype}"
            worst = max(worst, e)
        k += 1
    if check_layers and "reset" not in spec.get("calls", []) and len(spec.get("calls", [1])) == 1:
        want = {}
        for key in io:
            if key.startswith("layer/"):
                _, name, j = key.rsplit("/", 2)
                want.setdefault(name, {})[int(j)] = io[key]
        if want:
            got = model.layer_outputs(feed)
            for name, outs in want.items():
                assert name in got, f"layer {name} missing from layer_outputs"
                g = as_list(got[name])
                for j, w in outs.items():
                    e = max_abs_err(g[j], w)
                    assert e <= tol, f"layer {name} output {j}: max abs err {e:.3g} > {tol}"
    return worst
