"""Scaling out: the same sequences scored by one process, a Dask LocalCluster of process
workers, Ray Data actors and TensorFlow ``predict``, in one run.

    python tools/bench_scale.py [--rows 200000] [--workers 2] [--skip tf,ray,dask]
                                [--write-docs]

Prints rows per second, the ratio to one process, and each worker's peak memory (VmHWM); with
``--write-docs`` writes the table to docs/scaling.md (the README quotes it). Every worker and
the single process run one BLAS thread. Inputs are one float32 .npy on local disk, read by
each worker itself (a memory map), so no engine ships the data through its scheduler.
Needs the dask and ray extras (and TensorFlow for the TF row).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

STEPS, FEATURES, UNITS, BATCH = 50, 16, 64, 256


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_files(workdir: str, rows: int):
    from _build import write_keras_zip
    from benchmarks.models import build_model
    cfg, tree = build_model("lstm", FEATURES, UNITS, 7)
    model_path = write_keras_zip(os.path.join(workdir, "lstm.keras"), cfg, tree)
    x_path = os.path.join(workdir, "x.npy")
    x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32,
                                  shape=(rows, STEPS, FEATURES))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 20000):
        x[i:i + 20000] = rng.normal(0, 1, (min(20000, rows - i), STEPS, FEATURES))
    x.flush()
    return model_path, x_path


def one_process(model_path, x_path):
    import kerasrnn_infer as kri
    model = kri.load_model(model_path)
    x = np.load(x_path, mmap_mode="r")
    t0 = time.perf_counter()
    y = [model.predict(np.asarray(x[i:i + 8192]), batch_size=BATCH)
         for i in range(0, len(x), 8192)]
    dt = time.perf_counter() - t0
    return np.concatenate(y), dt, [peak_rss_mb()]


def _rows(path, i, j):
    return np.asarray(np.load(path, mmap_mode="r")[i:j])


def with_dask(model_path, x_path, workers):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    import kerasrnn_infer as kri
    from kerasrnn_infer.dask import predict_array
    model = kri.load_model(model_path)
    n = np.load(x_path, mmap_mode="r").shape[0]
    step = 8192
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        parts = [da.from_delayed(dask.delayed(_rows)(x_path, i, min(i + step, n)),
                                 shape=(min(i + step, n) - i, STEPS, FEATURES),
                                 dtype=np.float32) for i in range(0, n, step)]
        x = da.concatenate(parts)
        t0 = time.perf_counter()
        y = predict_array(model, x, batch_size=BATCH).compute()
        dt = time.perf_counter() - t0
        rss = list(client.run(peak_rss_mb).values())
    finally:
        client.close()
        cluster.close()
    return y, dt, rss


def with_ray(model_path, x_path, workers):
    import ray
    from kerasrnn_infer.ray import Predictor

    class Measured(Predictor):
        def __call__(self, batch):
            out = super().__call__(batch)
            out["rss"] = np.full(len(out[self.model.output_names[0]]), peak_rss_mb())
            out["row"] = batch["row"]
            return out

    ray.init(num_cpus=workers + 2, include_dashboard=False, log_to_driver=False,
             configure_logging=False,
             runtime_env={"env_vars": {v: "1" for v in ("OMP_NUM_THREADS",
                                                        "OPENBLAS_NUM_THREADS")}})
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        n = np.load(x_path, mmap_mode="r").shape[0]
        ds = ray.data.range(n, override_num_blocks=max(workers * 8, n // 8192)).map_batches(
            lambda b: {"row": b["id"], "data": np.load(x_path, mmap_mode="r")[b["id"]]},
            batch_size=8192, batch_format="numpy")
        t0 = time.perf_counter()
        out = ds.map_batches(Measured, fn_constructor_kwargs={"model": model_path,
                                                              "columns": {"input": "data"}},
                             compute=ray.data.ActorPoolStrategy(size=workers),
                             batch_size=BATCH, batch_format="numpy", num_cpus=1).to_pandas()
        dt = time.perf_counter() - t0
    finally:
        ray.shutdown()
    out = out.sort_values("row")
    name = [c for c in out.columns if c not in ("rss", "row")][0]
    y = np.stack(out[name].to_numpy())
    return y, dt, sorted(set(np.round(out["rss"].to_numpy(), 1)))[-workers:]


def with_tf(model_path, x_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = keras.saving.load_model(model_path, compile=False)
    x = np.load(x_path, mmap_mode="r")
    t0 = time.perf_counter()
    y = [np.asarray(model.predict(np.asarray(x[i:i + 8192]), batch_size=BATCH, verbose=0))
         for i in range(0, len(x), 8192)]
    dt = time.perf_counter() - t0
    return np.concatenate(y), dt, [peak_rss_mb()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated: tf, dask, ray")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    workdir = tempfile.mkdtemp(prefix="kri-scale-")
    model_path, x_path = make_files(workdir, args.rows)
    runs = [("one process (kerasrnn_infer)", lambda: one_process(model_path, x_path))]
    if "dask" not in skip:
        runs.append((f"Dask LocalCluster, {args.workers} process workers",
                     lambda: with_dask(model_path, x_path, args.workers)))
    if "ray" not in skip:
        runs.append((f"Ray Data, {args.workers} actors",
                     lambda: with_ray(model_path, x_path, args.workers)))
    if "tf" not in skip:
        runs.append(("TensorFlow predict, one process", lambda: with_tf(model_path, x_path)))
    rows, base, ref = [], None, None
    for label, fn in runs:
        y, dt, rss = fn()
        if ref is None:
            ref, base = y, dt
        err = float(np.max(np.abs(y.astype(np.float64) - ref)))
        same = "bit-identical" if np.array_equal(y, ref) else f"max diff {err:.1e}"
        rows.append((label, f"{args.rows / dt:,.0f}", f"{base / dt:.2f}x",
                     ", ".join(f"{r:.0f}" for r in rss), same))
        print(f"{label}: {args.rows / dt:,.0f} rows/s ({base / dt:.2f}x), peak MB {rss}, "
              f"{same}", flush=True)
    head = ("engine", "rows/s", "vs one process", "peak memory per process (MB)",
            "outputs vs one process")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        with open(os.path.join(ROOT, "docs", "scaling.md"), "w") as f:
            f.write(f"# Scaling out\n\n`python tools/bench_scale.py --rows {args.rows} "
                    f"--workers {args.workers} --write-docs`: {args.rows:,} sequences of "
                    f"{STEPS} steps x {FEATURES} features, LSTM({UNITS}) (Keras 3 file), "
                    f"batch {BATCH}, one BLAS thread per process, {os.cpu_count()} cores.\n\n"
                    f"{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
