"""Models that travel: pickles and bytes (bit-identical in another process), batch scoring on
a real Dask cluster and a real Ray cluster, and the command line streaming inputs larger than
its memory."""

import importlib.util
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import kerasrnn_infer as kri
from _cases import as_list, inputs, load, read_case
from conftest import FIXTURES, ROOT

CASES = ["rnn_basic__keras3", "graph_multi_io__tf_keras", "mask_embedding__keras3",
         "bidirectional__tf_keras", "graph_nested__keras3"]


def _fixture(case):
    d = os.path.join(FIXTURES, case)
    spec, io_ = read_case(d)
    return load(d, spec["load"]), io_


def _same(a, b):
    a, b = as_list(a), as_list(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y, equal_nan=True)


# ----- pickles and bytes -------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_a_pickled_model_predicts_bit_identically_in_another_process(case, tmp_path):
    model, io_ = _fixture(case)
    x = inputs(io_)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.savez(tmp_path / "x.npz", *as_list(x))
    code = ("import pickle, sys, numpy as np\n"
            "m = pickle.loads(open(sys.argv[1], 'rb').read())\n"
            "z = np.load(sys.argv[2]); xs = [z[f'arr_{i}'] for i in range(len(z.files))]\n"
            "y = m.predict(xs if len(xs) > 1 else xs[0])\n"
            "ys = y if isinstance(y, list) else [y]\n"
            "np.savez(sys.argv[3], *ys)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.pkl"),
                        str(tmp_path / "x.npz"), str(tmp_path / "y.npz")],
                       capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    z = np.load(tmp_path / "y.npz")
    _same([z[f"arr_{i}"] for i in range(len(z.files))], model.predict(x))


def test_the_pickle_carries_the_states_of_stateful_layers():
    model, io_ = _fixture("stateful__keras3")
    x1, x2 = io_["in/0"], io_["call1/in/0"]
    model.predict(x1)                                  # states now hold x1's ends
    travelled = pickle.loads(pickle.dumps(model))
    _same(travelled.predict(x2), model.predict(x2))    # both continue from there
    travelled.reset_states()
    model.reset_states()
    _same(travelled.predict(x2), model.predict(x2))


def test_to_bytes_loads_back_from_bytes_and_file_objects():
    model, io_ = _fixture("graph_nested_sequential__tf_keras")
    data = model.to_bytes()
    x = inputs(io_)
    for source in (data, bytearray(data), io.BytesIO(data)):
        _same(kri.load_model(source).predict(x), model.predict(x))


def test_to_bytes_is_the_same_for_the_same_model():
    """No timestamps: the bytes key caches (a worker loads a model once)."""
    model, _ = _fixture("rnn_basic__keras3")
    data = model.to_bytes()
    assert data == model.to_bytes() == kri.load_model(data).to_bytes()


def test_bytes_are_read_as_safely_as_files():
    model, _ = _fixture("rnn_basic__keras3")
    data = bytearray(model.to_bytes())
    for k in range(len(data) // 2, len(data) // 2 + 64):
        data[k] ^= 0xFF                                 # damaged in the middle
    with pytest.raises(kri.ModelFileError, match="<bytes>: "):
        kri.load_model(bytes(data))
    with pytest.raises(kri.ModelFileError, match=r"<file object>: .*binary mode"):
        kri.load_model(io.StringIO("PK"))


def _scale(config, weights):
    (w,) = weights
    return lambda x, mask=None: x * w


def test_custom_layers_travel_by_reference_and_a_lambda_factory_is_refused(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from test_structure import _td_custom_k3
    path, w = _td_custom_k3(tmp_path)
    model = kri.load_model(path, custom_objects={"Scale": _scale})
    x = np.ones((2, 3, 4), np.float32)
    _same(pickle.loads(pickle.dumps(model)).predict(x), model.predict(x))
    bad = kri.load_model(path, custom_objects={"Scale": lambda c, w: _scale(c, w)})
    with pytest.raises(kri.UnsupportedError, match=r"factory for 'Scale' .* cannot be pickled"):
        pickle.dumps(bad)


# ----- Dask and Ray ------------------------------------------------------------------------------
def _have(*mods):
    return all(importlib.util.find_spec(m) is not None for m in mods)


@pytest.fixture(scope="module")
def dask_client():
    if not _have("dask", "distributed", "pandas"):
        pytest.skip("dask[distributed] is not installed")
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def _multi_io_rows(n, seed=0):
    """Inputs for graph_multi_io (seq (n, 7, 4) floats, ids (n, 7) tokens, padded rows)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 10, (n, 7)).astype(np.int32)
    ids[::3, 4:] = 0
    return [rng.normal(0, 0.5, (n, 7, 4)).astype(np.float32), ids]


def test_dask_arrays_score_on_a_cluster_bit_identically(dask_client):
    import dask
    import dask.array as da
    from kerasrnn_infer.dask import predict_array
    model, _ = _fixture("graph_multi_io__tf_keras")
    xs = _multi_io_rows(200)
    want = as_list(model.predict(xs, batch_size=32))
    for chunks in (17, 64, 200):
        ys = predict_array(model, [da.from_array(a, chunks=(chunks,) + a.shape[1:])
                                   for a in xs], batch_size=32)
        got = dask.compute(*ys)
        _same(list(got), want)
    named = predict_array(model, {"ids": da.from_array(xs[1], chunks=50),
                                  "seq": da.from_array(xs[0], chunks=50)}, batch_size=32)
    _same(list(dask.compute(*named)), want)
    # the model travelled once per worker, whatever the number of tasks
    loads = dask_client.run(lambda: __import__("kerasrnn_infer._scoring").
                            _scoring.LOADS[0])
    assert all(v <= 1 for v in loads.values()) and sum(loads.values()) >= 1, loads


def test_dask_dataframes_score_partition_by_partition(dask_client):
    import dask.dataframe as dd
    import pandas as pd
    model, _ = _fixture("rnn_no_bias__keras3")               # Sequential, (None, 7, 4) -> (3,)
    x = np.random.default_rng(1).normal(0, 0.5, (90, 7, 4)).astype(np.float32)
    flat = pd.DataFrame(x.reshape(90, -1), columns=[f"v{i}" for i in range(28)])
    ddf = dd.from_pandas(flat, npartitions=4)
    from kerasrnn_infer.dask import predict_dataframe
    got = predict_dataframe(model, ddf, batch_size=8).compute()
    parts = [x[i:j] for i, j in _partition_bounds(ddf)]
    want = np.concatenate([model.predict(p, batch_size=8) for p in parts])
    name = model.output_names[0]
    assert list(got.columns) == [f"{name}[{k}]" for k in range(3)]
    np.testing.assert_array_equal(got.to_numpy(), want)
    # one column of per-row arrays
    import dask
    frame = pd.DataFrame({"window": list(x)})
    with dask.config.set({"dataframe.convert-string": False}):
        ddf2 = dd.from_pandas(frame, npartitions=3)
        got2 = predict_dataframe(model, ddf2, columns={model.inputs[0].name: "window"},
                                 batch_size=8).compute()
    parts = [x[i:j] for i, j in _partition_bounds(ddf2)]
    np.testing.assert_array_equal(
        got2.to_numpy(), np.concatenate([model.predict(p, batch_size=8) for p in parts]))


def _partition_bounds(ddf):
    sizes = ddf.map_partitions(len).compute().tolist()
    starts = np.cumsum([0] + sizes)
    return list(zip(starts[:-1], starts[1:]))


@pytest.fixture(scope="module")
def ray_cluster():
    if not _have("ray", "pandas", "pyarrow"):
        pytest.skip("ray[data] is not installed")
    import ray
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def test_ray_data_scores_with_a_model_loaded_once_per_actor(ray_cluster):
    ray = ray_cluster
    from kerasrnn_infer.ray import Predictor
    model, _ = _fixture("graph_multi_io__tf_keras")
    seq, ids = _multi_io_rows(96, seed=2)
    ds = ray.data.from_items([{"seq": s, "ids": i, "row": k}
                              for k, (s, i) in enumerate(zip(seq, ids))])
    out = ds.map_batches(Predictor, fn_constructor_kwargs={"model": model.to_bytes(),
                                                           "keep": ["row"], "batch_size": 16},
                         compute=ray.data.ActorPoolStrategy(size=2), batch_size=16,
                         batch_format="numpy", num_cpus=1).take_all()
    out.sort(key=lambda r: r["row"])
    rows = np.array([r["row"] for r in out])
    for name, want in zip(model.output_names, as_list(model.predict([seq, ids]))):
        got = np.stack([r[name] for r in out])
        np.testing.assert_allclose(got, want[rows], atol=1e-6)


# ----- the command line on big inputs ------------------------------------------------------------
def test_predict_streams_a_npy_larger_than_its_memory(tmp_path):
    """A 320 MB input through a process allowed 120 MB more data than it starts with (file
    mappings are not data; whole arrays in memory would be)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux")
    from _build import simple_rnn_model, write_keras_zip
    cfg, tree = simple_rnn_model(units=3, features=2)
    model_path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    n, steps = 1_000_000, 40
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                  shape=(n, steps, 2))
    rng = np.random.default_rng(0)
    for i in range(0, n, 250_000):
        x[i:i + 250_000] = rng.normal(0, 0.5, (250_000, steps, 2))
    x.flush()
    assert os.path.getsize(tmp_path / "x.npy") > 300 << 20
    code = ("import resource, sys\n"
            "from kerasrnn_infer.cli import main\n"
            "soft, hard = resource.getrlimit(resource.RLIMIT_DATA)\n"
            "used = int([l for l in open('/proc/self/status') if l.startswith('VmData')][0]"
            ".split()[1]) * 1024\n"
            "resource.setrlimit(resource.RLIMIT_DATA, (used + (120 << 20), hard))\n"
            "sys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "predict", model_path, "-i",
                        str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                        "--batch-size", "8192"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert y.shape == (n, 3)
    model = kri.load_model(model_path)
    for i in (0, 8192 * 40, n - n % 8192):                # batch starts, and the last batch
        j = min(i + 8192, n)
        np.testing.assert_array_equal(y[i:j], model.predict(np.asarray(x[i:j])))
    # and the same command with the whole array in memory would not fit that limit
    r = subprocess.run([sys.executable, "-c", code.replace(
        "sys.exit(main(sys.argv[1:]))", "import numpy as np; np.load(sys.argv[3])"),
        "predict", model_path, str(tmp_path / "x.npy")], capture_output=True, text=True,
        timeout=120)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def test_importing_the_package_imports_no_optional_engine():
    code = ("import sys, kerasrnn_infer, kerasrnn_infer.dask, kerasrnn_infer.ray\n"
            "print(sorted(m for m in ('dask', 'distributed', 'ray', 'pandas', 'threadpoolctl')"
            " if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
