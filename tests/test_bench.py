"""tools/bench.py: --quick runs (without TensorFlow) and its float64 self-check passes; its
models agree with the reference cells for every layer kind; its report keeps the layout of
docs/benchmarks.md."""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

import kerasrnn_infer as kri
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchmarks import configurations, models, peers, reference, report  # noqa: E402


def test_bench_quick_smoke():
    cmd = [sys.executable, os.path.join(ROOT, "tools", "bench.py"), "--quick", "--configs", "1",
           "--threads", "1", "--budget", "0.05"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "self-check: PASSED" in r.stdout, r.stdout[-3000:]
    assert "lstm_b1_t50_f16_u64" in r.stdout


def test_models_match_reference(tmp_path):
    configs = [configurations.cfg(layer, 3, 7, 5, 4)
               for layer in ("lstm", "gru", "simple_rnn", "bilstm")]
    trees, inputs = models.write_files(str(tmp_path), configs)
    refs = reference.references(configs, trees, inputs)
    for c in configs:
        y = kri.load_model(models.model_path(str(tmp_path), c)).predict(inputs[c["id"]])
        assert y.shape == refs[c["id"]].shape
        assert np.abs(y - refs[c["id"]]).max() < reference.TOL, c["id"]


def _made_up_run(configs, rng):
    """A full run's results as a worker returns them: every peer, slower than the engine but
    onnxruntime, the same outputs up to 1e-7."""
    times, outputs = {}, {}
    for c in configs:
        y = rng.normal(size=(c["batch"], c["units"] * (2 if c["layer"] == "bilstm" else 1)))
        for k, p in enumerate(peers.ALL_PEERS):
            times.setdefault(p, {})[c["id"]] = [1e-3 * (0.5 if p == "onnxruntime" else k + 1)] * 3
            outputs[f"{p}/{c['id']}"] = y + 1e-7 * k
    info = {"numpy": np.__version__, "blas": {"numpy_blas": "openblas", "threadpools": []}}
    products = {c["id"]: {"numpy": 1e-3, "numpy_rows": 1e-3, "onnxruntime": 1e-3}
                for c in configs}
    return {"results": {"info": info, "times": times, "errors": {}, "unavailable": {},
                        "products": products}, "outputs": outputs}


def test_report_keeps_the_docs_layout():
    configs = configurations.FULL_CONFIGS
    run = _made_up_run(configs, np.random.default_rng(0))
    runs = {"1": run, "default": run}
    refs = {c["id"]: runs["1"]["outputs"][f"engine/{c['id']}"] for c in configs}
    proc = {"import": {"import numpy, h5py": (0.1, None), "import kerasrnn_infer": (0.12, None)},
            "load": {"file_mb": 10.2, "engine": ({"first": 0.05, "warm": 0.02}, None),
                     "keras": (None, "no keras")},
            "memory": {"kerasrnn_infer": (40.0, None)}}
    args = argparse.Namespace(import_reps=5, quick=False, unset_openblas_env=False,
                              keras_numpy_python=sys.executable)
    out, ok = report.build_report(args, configs, list(peers.ALL_PEERS), runs, refs, proc,
                                  {"OPENBLAS_CORETYPE": None}, 60.0, ((0, 0, 0), (0, 0, 0)))
    assert ok
    assert "self-check: PASSED" in out["stdout"]
    heading = lambda text: re.sub(r"\d+(\.\d+)?", "N", text)
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), encoding="utf-8") as f:
        committed = [heading(ln) for ln in f.read().splitlines() if ln.startswith("#")]
    assert [heading(ln) for ln in out["docs"].splitlines() if ln.startswith("#")] == committed


def test_conv_report_rows_and_self_check():
    """bench.py --conv's table: one row per config, ratios to the engine, and a failed
    self-check when the engine's output is off by more than 1e-5."""
    from benchmarks import conv
    configs = conv.CONFIGS[:2]
    results = {"times": {"engine": {c["id"]: [0.01] * 3 for c in configs},
                         "tf.function": {c["id"]: [0.02] * 3 for c in configs}},
               "errors": {}, "unavailable": {"onnxruntime": "not installed"}}
    y = np.zeros((1, 3), np.float32)
    outputs = {f"{p}/{c['id']}": y for c in configs for p in ("engine", "keras")}
    table, ok = conv.report(configs, results, outputs, "1")
    assert ok and table.count("\n| CRNN") == 2 and "20 ms (2x)" in table and "n/a" in table
    outputs[f"engine/{configs[1]['id']}"] = y + 1e-4
    assert not conv.report(configs, results, outputs, "1")[1]
