"""Timing: round-robin medians (each round in a shuffled order) inside a worker, and the subprocesses that measure, each started
with its BLAS thread environment (set before NumPy is imported)."""

import json
import os
import random
import subprocess
import sys
import time
import zlib

import numpy as np

from . import ROOT

ENTRY = os.path.join(ROOT, "tools", "bench.py")     # a worker is `bench.py --_worker KIND SPEC`
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def err(e):
    msg = f"{type(e).__name__}: {e}".strip()
    return msg.splitlines()[0][:300] if msg else type(e).__name__


def log(s):
    print(s, flush=True)


def new_results(**info):
    return {"info": info, "times": {}, "errors": {}, "unavailable": {}}


def blas_info():
    """BLAS as NumPy was built with it, and (threadpoolctl) the library/kernel actually loaded."""
    info = {}
    try:
        cfgd = np.show_config(mode="dicts")
        blas = cfgd.get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception as e:                                    # old NumPy: no mode="dicts"
        info["numpy_blas"] = f"unknown ({err(e)})"
    try:
        from threadpoolctl import threadpool_info
        np.ones((64, 64)) @ np.ones((64, 64))
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads",
                                                      "architecture", "threading_layer")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def time_round_robin(funcs, spec, cid, results, outputs):
    """Time ``funcs`` ({peer: callable returning its output}) for config ``cid``: warm up each
    (1-2 calls), then call them in rounds until each has its repeat count (from spec's
    budget), every round in a new order (shuffled, seeded by ``cid``): what ran just before
    a call changes its time (caches, branch predictors: measured at batch 1, the compiled
    Bi-LSTM text model took 0.71x to 1.53x onnxruntime's time as the fixed order of the
    calls between them changed), so no peer always follows the same one. Times,
    errors and first outputs go to ``results`` and ``outputs``; returns the times."""
    times, reps = {}, {}
    for name, fn in list(funcs.items()):
        try:
            t0 = time.perf_counter()
            y = fn()                                     # warm-up 1 (traces / builds / caches)
            est = time.perf_counter() - t0
            outputs[f"{name}/{cid}"] = np.asarray(y)
            if est < spec["budget"]:                     # warm-up 2, unless one call is costly
                t1 = time.perf_counter()
                fn()
                est = min(est, time.perf_counter() - t1)
            reps[name] = max(spec["min_reps"],
                             min(spec["max_reps"], int(spec["budget"] / max(est, 1e-6))))
            times[name] = results["times"].setdefault(name, {})[cid] = []
        except Exception as e:
            results["errors"].setdefault(name, {})[cid] = err(e)
            log(f"      {name}: FAILED {err(e)}")
    pending = dict(reps)
    order = random.Random(zlib.crc32(cid.encode()))
    while pending:
        names = list(pending)
        order.shuffle(names)
        for name in names:
            t0 = time.perf_counter()
            funcs[name]()
            times[name].append(time.perf_counter() - t0)
            pending[name] -= 1
            if not pending[name]:
                del pending[name]
    return times


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
    out = os.path.join(workdir, f"{kind}_{threads}")
    spec = dict(spec, threads=threads, out=out)
    spec_path = out + "_spec.json"
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    log_path = out + ".log"
    cmd = [python or sys.executable, ENTRY, "--_worker", kind, spec_path]
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


def run_code(args, code, python=None, extra_env=None, timeout=600):
    """``python -c code`` in a fresh interpreter: (completed process, None) or (None, reason)."""
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
