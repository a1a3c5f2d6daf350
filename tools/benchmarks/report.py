"""The report: medians, ratios and differences per thread setting, targets, and the Markdown
printed at the end of a run and written to docs/benchmarks.md by --write-docs."""

import os
import platform
import statistics
import sys
import time

import numpy as np

from . import ROOT
from .configurations import LOAD_MODEL, MEMORY_CONFIG, model_key
from .peers import ALL_PEERS, LEGEND, SHORT
from .reference import TOL

DOCS = os.path.join(ROOT, "docs", "benchmarks.md")

# (target, which configs, peer, least ratio peer/engine), from the 1-thread run
PEER_TARGETS = [
    ("batch 1: >= 50x faster than keras.predict", "b1", "keras.predict", 50),
    ("batch 1: >= 5x faster than tf.function", "b1", "tf.function", 5),
    ("batch 1: >= 20x faster than Keras NumPy backend (model(x))", "b1", "keras-numpy", 20),
    ("batch 1: within 4x of onnxruntime (ratio ort/engine >= 0.25)", "b1", "onnxruntime", 0.25),
    ("batch >= 32, units >= 128: at least as fast as tf.function", "big", "tf.function", 1.0),
    ("batch >= 32, units >= 128: at least as fast as onnxruntime", "big", "onnxruntime", 1.0),
    ("batch 256, 256 units: within 1.1x of onnxruntime (ort/engine >= 0.909)", "top",
     "onnxruntime", 1 / 1.1),
]
CONFIG_SETS = {"b1": lambda c: c["batch"] == 1,
               "big": lambda c: c["batch"] >= 32 and c["units"] >= 128,
               "top": lambda c: c["batch"] >= 256 and c["units"] == 256}


def md_table(headers, rows):
    cells = [[str(h) for h in headers]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"
    return "\n".join([fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [fmt(r) for r in cells[1:]])


def fms(t):
    if t is None:
        return "-"
    return f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.1f}" if t < 1 else f"{t * 1e3:.0f}"


def fratio(r):
    if r is None:
        return "-"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def fdiff(d):
    return "-" if d is None else f"{d:.1e}"


def _value_or_why(result, fmt, word="unavailable"):
    """A (value, reason) pair of a subprocess measurement, formatted."""
    return fmt(result[0]) if result[0] is not None else f"{word}: {result[1]}"


def analyse(run, configs, refs):
    """Medians, ratios and diffs for one thread setting."""
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


def self_check(analysis):
    """(passed, the "self-check: ..." line): the engine ran on every config and agrees with the
    float64 reference and with Keras to TOL."""
    rows = [r for by_config in analysis.values() for r in by_config.values()]
    ref = [r["ref_diff"] for r in rows if r["ref_diff"] is not None]
    keras = [r["diff"]["engine"] for r in rows if r["diff"].get("engine") is not None]
    ok = all(r["median"].get("engine") is not None for r in rows) and \
        not any(d > TOL for d in ref + keras)
    line = (f"self-check: {'PASSED' if ok else 'FAILED'} (max |engine - float64 reference| = "
            f"{fdiff(max(ref, default=None))}"
            + (f", max |engine - Keras| = {fdiff(max(keras))}" if keras else "")
            + f"; tolerance {TOL:g})")
    return ok, line


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

    short = lambda c: " ".join(c["id"].rsplit("_", 4))       # lstm_b1_t50_... -> lstm b1 t50 ...
    if not quick:
        for name, which, peer, least in PEER_TARGETS:
            check(name, [(short(c), rows[c["id"]]["ratio"].get(peer))
                         for c in configs if CONFIG_SETS[which](c)], lambda v: v >= least)
    if proc:
        imp = proc["import"]
        k = imp.get("import kerasrnn_infer", (None,))[0]
        n = imp.get("import numpy, h5py", (None,))[0]
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


def _thread_block(th, run, rows, configs, shown_peers):
    """The Markdown of one thread setting, and (1 thread) the configs where a peer is faster."""
    title = f"BLAS threads: {th}" + (" (TF intra/inter-op 1, onnxruntime intra-op 1)"
                                      if th == "1" else " (library defaults)")
    ms_rows, ratio_rows, slow_notes = [], [], []
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
    return block, slow_notes


def _process_block(proc, import_reps):
    ms = lambda v: f"{v * 1e3:.1f}"
    ld = proc["load"]
    eng, keras_ld = ld["engine"], ld["keras"]
    return [
        "### Import time (fresh interpreter, median of "
        f"{import_reps}, includes ~interpreter start-up)", "",
        md_table(["command", "seconds"],
                 [[k, _value_or_why(v, lambda s: f"{s:.3f}")] for k, v in proc["import"].items()]),
        "",
        f"### Model load time ({ld['file_mb']:.1f} MB LSTM .keras file, "
        f"{LOAD_MODEL['features']} features, {LOAD_MODEL['units']} units)", "",
        md_table(["loader", "ms"], [
            ["kri.load_model, median of 5 in a warm process",
             _value_or_why(eng, lambda r: ms(r["warm"]), "failed")],
            ["kri.load_model, first load in the process (lazy h5py import)",
             ms(eng[0]["first"]) if eng[0] else "-"],
            ["keras.saving.load_model (TF backend), median of 3",
             _value_or_why(keras_ld, lambda r: ms(r["warm"]))]]), "",
        f"### Peak memory (peak RSS = VmHWM of a fresh process; load `{model_key(MEMORY_CONFIG)}` "
        f"and predict on `{MEMORY_CONFIG['id']}`)", "",
        md_table(["process", "MB"],
                 [[k, _value_or_why(v, lambda mb: f"{mb:.1f}")]
                  for k, v in proc["memory"].items()]),
        ""]


def _products_block(products, rows1, configs):
    prow = []
    for c in configs:
        p = products.get(c["id"])
        med = rows1.get(c["id"], {}).get("median", {})
        if p and med.get("engine") and med.get("onnxruntime"):
            prow.append([c["id"], fms(med["engine"]), fms(med["onnxruntime"]),
                         fms(p["numpy"]), fms(p.get("numpy_rows")), fms(p["onnxruntime"]),
                         fratio(p["numpy"] / p["onnxruntime"])])
    if not prow:
        return []
    return ["### The matrix products alone (1 BLAS thread)", "",
            "Each timestep's products as this engine lays them out (`Wc.T @ [h; x; 1]`, "
            "all steps and directions), timed alone with NumPy's BLAS and with "
            "onnxruntime's MLAS (a MatMul node): at these batch sizes they are most of "
            "either engine's time, so their ratio bounds what NumPy can reach. 'rows' is "
            "NumPy on the same products oriented `X @ Wc` (the batch-1 layout), which is "
            "why larger batches use the feature-major one.", "",
            md_table(["config", "engine (ms)", "ort (ms)", "products: NumPy (ms)",
                      "NumPy, rows (ms)", "products: ort (ms)", "NumPy / ort"], prow), ""]


def build_report(args, configs, peers, runs, refs, proc, env_note, elapsed, loads):
    """({"stdout", "docs", "analysis"}, passed): what the run prints and what --write-docs
    writes share the body."""
    mach = machine_info(runs)
    shown_peers = [p for p in ALL_PEERS if p in peers and p != "engine"]
    body, slow_notes, analysis = [], [], {}
    for th, run in runs.items():
        analysis[th] = analyse(run, configs, refs)
        block, slow = _thread_block(th, run, analysis[th], configs, shown_peers)
        body += block
        slow_notes += slow
    ok, check = self_check(analysis)
    if proc:
        body += _process_block(proc, args.import_reps)
    target_th = "1" if "1" in runs else next(iter(runs), None)
    targets = evaluate_targets(analysis[target_th], configs, proc, args.quick) if target_th else []
    if targets:
        body += [f"### Targets (ratios from the {target_th}-thread run)", "",
                 md_table(["target", "measured", "status"], targets), ""]
    if slow_notes:
        body += ["### Where the engine is slower than a peer (1 BLAS thread)", ""]
        body += slow_notes + [""]
    products = runs.get("1", {}).get("results", {}).get("products")
    if products and "unavailable" not in products:
        body += _products_block(products, analysis.get("1", {}), configs)

    busy = max(loads[0][1], loads[1][0]) > 0.5 * (os.cpu_count() or 1)
    warn = []
    if busy:
        warn = [f"**Note: the machine was busy** (load average {loads[0][1]:.2f} (5 min) at start, "
                f"{loads[1][0]:.2f} at end, on {os.cpu_count()} cores): other processes competed "
                "for the CPU, so times are noisy, and the default-thread run (BLAS threads that "
                "spin while waiting for a busy core) is hit hardest.", ""]
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
    docs = header + body + ["## Correctness", "", check, "",
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
    stdout = intro + body + warn + [check, f"total time {elapsed:.0f} s"]
    return {"stdout": "\n".join(stdout), "docs": "\n".join(docs), "analysis": analysis}, ok


def write_docs(text):
    os.makedirs(os.path.dirname(DOCS), exist_ok=True)
    with open(DOCS, "w") as f:
        f.write(text)
    return DOCS
