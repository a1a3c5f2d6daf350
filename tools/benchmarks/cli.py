"""The command line of tools/bench.py: options, and one run from the files to the report."""

import argparse
import json
import os
import sys
import tempfile
import time

from . import models, process, reference, report
from .configurations import MEMORY_CONFIG, select
from .peers import ALL_PEERS, KNP_PEERS, MAIN_PEERS, worker_main
from .timing import OPENBLAS_ENV, new_results, run_worker


def parser(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
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
    ap.add_argument("--jit", action="store_true",
                    help="the compiled kernel's grid instead (batch 1/8/32/256; engine, "
                         "engine+jit, onnxruntime fused op and tf2onnx, tf.function, "
                         "keras.predict; first call, peak memory, crossover); with "
                         "--write-docs writes docs/jit.md")
    ap.add_argument("--conv", action="store_true",
                    help="the convolutional rows instead (CRNN, LRCN, ConvLSTM2D; needs "
                         "TensorFlow; onnxruntime and tf2onnx for that peer)")
    ap.add_argument("--write-docs", action="store_true",
                    help="write docs/benchmarks.md (with --conv: docs/benchmarks_conv.md)")
    ap.add_argument("--json", default=None, help="also dump all numbers to this JSON file")
    ap.add_argument("--worker-timeout", type=int, default=1500)
    ap.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    return ap


def _run_thread_setting(args, th, spec, peers, workdir):
    """The main worker and (if asked) the Keras NumPy-backend worker, merged."""
    main_peers = [p for p in peers if p in MAIN_PEERS]
    res, outs = run_worker(args, "main", th, dict(spec, peers=main_peers), workdir)
    if res is None:
        why, outs = outs, {}
        print(f"main worker failed: {why}", file=sys.stderr, flush=True)
        res = new_results()
        res["unavailable"] = {p: why for p in main_peers}
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
    return {"results": res, "outputs": outs}


def main(doc):
    ap = parser(doc)
    args = ap.parse_args()
    if args._worker:
        if args._worker[0] == "jit":
            from . import jit
            return jit.worker_main(args._worker[1])
        return worker_main(*args._worker)
    if args.jit:
        from . import jit
        return jit.main(args)

    if args.conv:
        return conv_main(args)
    t_start = time.perf_counter()
    configs = select(args.quick, args.only, args.configs)
    peers = (args.peers.split(",") if args.peers else
             ["engine", "numpy-loop"] if args.quick else list(ALL_PEERS))
    unknown = set(peers) - set(ALL_PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}")
    if "engine" not in peers:
        peers.insert(0, "engine")
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 0.6)
    thread_settings = ["1", "default"] if args.threads == "both" else [args.threads]
    costs = not args.quick and not args.no_process_costs

    say = lambda s: print(s, file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    say(f"kerasrnn_infer benchmark ({'quick' if args.quick else 'full'}): {len(configs)} configs, "
        f"threads {thread_settings}, peers {','.join(peers)}")
    env_note = {v: os.environ.get(v) for v in OPENBLAS_ENV}
    say("OpenBLAS env: " + ", ".join(f"{k}={v!r}" for k, v in env_note.items())
        + (" (unset in subprocesses)" if args.unset_openblas_env else ""))

    with tempfile.TemporaryDirectory(prefix="kri_bench_") as workdir:
        # Model files and inputs: written once, shared by every peer and thread setting.
        trees, inputs = models.write_files(workdir, configs + ([MEMORY_CONFIG] if costs else []))
        if costs:
            process.write_load_model(workdir)
        refs = reference.references(configs, trees, inputs)
        spec = {"dir": workdir, "configs": configs, "budget": budget, "min_reps": args.min_reps,
                "max_reps": args.max_reps}
        runs = {}
        for th in thread_settings:
            say(f"\n== BLAS threads: {th} ==")
            runs[th] = _run_thread_setting(args, th, spec, peers, workdir)
        proc = None
        if costs:
            say("\n== process costs ==")
            proc = process.measure(args, workdir)

    loads = (load_before, os.getloadavg())
    rep, ok = report.build_report(args, configs, peers, runs, refs, proc, env_note,
                                  time.perf_counter() - t_start, loads)
    print("\n" + rep["stdout"])
    if args.write_docs:
        print(f"\nwrote {report.write_docs(rep['docs'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configs": configs, "runs": {k: v["results"] for k, v in runs.items()},
                       "analysis": rep["analysis"], "process": proc}, f, indent=1, default=str)
    return 0 if ok else 1


def conv_main(args):
    """``--conv``: the CRNN / LRCN / ConvLSTM2D rows, one worker per thread setting."""
    from . import conv
    configs = conv.CONFIGS
    if args.only:
        configs = [c for c in configs if any(k in c["id"] for k in args.only.split(","))]
    budget = args.budget if args.budget is not None else 2.0
    settings = ["1", "default"] if args.threads == "both" else [args.threads]
    peers = args.peers.split(",") if args.peers else list(conv.PEERS)
    out, ok = [], True
    with tempfile.TemporaryDirectory(prefix="kri_bench_conv_") as workdir:
        spec = {"dir": workdir, "configs": configs, "budget": budget, "peers": peers,
                "min_reps": args.min_reps, "max_reps": args.max_reps}
        for th in settings:
            print(f"\n== threads: {th} ==", file=sys.stderr, flush=True)
            res, outs = run_worker(args, "conv", th, spec, workdir)
            if res is None:
                print(f"conv worker failed: {outs}", file=sys.stderr)
                return 1
            table, good = conv.report(configs, res, outs, th)
            ok = ok and good
            info = res["info"]
            out.append(f"### {th} thread{'s' if th != '1' else ''}\n\n{table}\n\nVersions: "
                       + ", ".join(f"{k} {v}" for k, v in info.items()
                                   if k not in ("blas", "threads")))
    text = "\n\n".join(out)
    print("\n" + text)
    if args.write_docs:
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "docs", "benchmarks_conv.md")
        with open(path, "w") as f:
            f.write("# Benchmarks: convolutional models (`python tools/bench.py --conv "
                    "--write-docs`)\n\n" + conv.__doc__.strip() + "\n\n" + text + "\n")
        print(f"\nwrote {path}")
    print(f"\nself-check (engine vs Keras, 1e-5): {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1
