"""The ways a file's bytes reach the model: read in a forked child and handed over (arrays
left in place in the file are read by the parent), or read in-process. Every way gives the
same weights, and damage on any of them is our error."""

import os
import zipfile

import numpy as np
import pytest

import kerasrnn_infer as kri
from _build import simple_rnn_model, write_keras_zip
from conftest import FIXTURES

CASES = ["rnn_basic__keras3", "rnn_basic__tf_keras", "rnn_cells__keras3", "rnn_cells__tf_keras",
         "float64_mixed__keras3", "bidirectional__tf_keras", "rnn_no_bias__keras3"]


def _model_file(case):
    d = os.path.join(FIXTURES, case)
    if not os.path.isdir(d):
        pytest.skip(f"no fixture {case}")
    names = sorted(n for n in os.listdir(d) if n.endswith((".keras", ".h5")))
    return os.path.join(d, names[0])


def _weights(model):
    return [w for layer in model.layers for w in layer.get_weights()]


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert len(wa) == len(wb) and wa
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("case", CASES)
def test_forked_and_in_process_reads_agree(case, monkeypatch):
    path = _model_file(case)
    forked = kri.load_model(path)
    monkeypatch.setenv("KERASRNN_INFER_NO_FORK", "1")
    _same_weights(forked, kri.load_model(path))


def test_deflated_archive_reads_like_a_stored_one(tmp_path):
    src = _model_file("rnn_basic__keras3")
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(src) as zin, \
            zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    assert zipfile.ZipFile(deflated).getinfo("model.weights.h5").compress_type == \
        zipfile.ZIP_DEFLATED
    model = kri.load_model(deflated)
    _same_weights(kri.load_model(src), model)
    # arrays that crossed over in shared memory were copied out: a later forked process
    # cannot write to this model's weights
    import mmap
    for layer in model.layers:
        for w in getattr(layer, "_weights", []):
            while isinstance(w, np.ndarray) and w.base is not None:
                w = w.base
            assert not isinstance(w, mmap.mmap)


def _stored_member_span(path, name="model.weights.h5"):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
        assert info.compress_type == zipfile.ZIP_STORED
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            head = f.read(30)
        start = info.header_offset + 30 + int.from_bytes(head[26:28], "little") + \
            int.from_bytes(head[28:30], "little")
        return start, info.file_size


@pytest.mark.parametrize("no_fork", ["0", "1"])
def test_damaged_weight_bytes_in_an_archive_are_caught_by_the_checksum(tmp_path, monkeypatch,
                                                                       no_fork):
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "m.keras", cfg, tree)
    start, size = _stored_member_span(path)
    data = bytearray(open(path, "rb").read())
    data[start + size - 1] ^= 0xFF          # the last byte of the HDF5 image
    with open(path, "wb") as f:
        f.write(bytes(data))
    monkeypatch.setenv("KERASRNN_INFER_NO_FORK", no_fork)
    with pytest.raises(kri.ModelFileError, match="m.keras: .*model.weights.h5"):
        kri.load_model(path)


def test_truncated_hdf5_file_is_our_error(tmp_path):
    src = _model_file("rnn_basic__tf_keras")
    data = open(src, "rb").read()
    path = tmp_path / "cut.h5"
    path.write_bytes(data[:len(data) - 64])
    with pytest.raises(kri.ModelFileError, match="cut.h5"):
        kri.load_model(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    with pytest.raises(kri.ModelFileError, match="model.keras: is not a regular file"):
        kri.load_model(fifo)


@pytest.mark.parametrize("case", ["rnn_basic__keras3", "rnn_basic__tf_keras"])
def test_child_hands_contiguous_arrays_over_as_file_regions(case):
    """The forked reader leaves plain arrays in the file for the parent to read, and the
    parent reads exactly the bytes HDF5 reads."""
    from kerasrnn_infer import formats
    from kerasrnn_infer.formats import isolate, keras3, legacy_h5, safe_io
    path = _model_file(case)
    reader = keras3.read_zip if path.endswith(".keras") else legacy_h5.read_h5
    fd = safe_io.open_model(path)
    try:
        plain = formats._to_plain(reader(fd, path, True))
        arrays = []
        body = isolate._encode(plain, arrays)
        assert "__region__" in repr(body)
        decoded = isolate._decode(body, arrays, lambda *region: safe_io.read_region(
            fd, path, *region))
        direct = formats._to_plain(reader(fd, path, False))
    finally:
        os.close(fd)
    flat = lambda w: [a for v in (w.get("groups") or w.get("weights")).values() for a in v]
    got, want = flat(decoded["weights"]), flat(direct["weights"])
    assert len(got) == len(want) and got
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="reads in-process here")
def test_the_reader_child_never_finalizes_the_parents_objects(tmp_path, monkeypatch):
    """A forked child that collected garbage would run the parent's finalizers in a process
    whose library threads are gone (TensorFlow's segfaulted there)."""
    import gc
    from kerasrnn_infer.formats import keras3
    log = tmp_path / "finalized"

    class Finalized:
        def __del__(self):
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

    read = keras3.read_zip

    def reader_that_allocates(fd, path, regions=False):
        gc.set_threshold(1)                       # in the child: collect at every allocation
        junk = [[] for _ in range(1000)]
        del junk
        return read(fd, path, regions)

    monkeypatch.setattr(keras3, "read_zip", reader_that_allocates)
    threshold = gc.get_threshold()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            a, b = Finalized(), Finalized()
            a.other, b.other = b, a               # cyclic garbage: only the collector frees it
        del a, b
        gc.enable()                               # as in any program; few allocations to the fork
        kri.load_model(_model_file("rnn_basic__keras3"))
    finally:
        gc.enable()
        gc.set_threshold(*threshold)
        gc.collect()
    pids = set(log.read_text().split())
    assert pids == {str(os.getpid())}             # the parent finalized them, only the parent


def test_a_file_replaced_while_loading_is_read_whole_from_one_version(tmp_path, monkeypatch):
    """The child and the parent read through one descriptor: a file swapped by rename in
    between (a redeploy) still loads as the version that was opened, never a mix."""
    from kerasrnn_infer.formats import keras3
    cfg, tree = simple_rnn_model()
    a = write_keras_zip(tmp_path / "a.keras", cfg, tree)
    tree_b = {k: [w * 0.5 + 0.25 for w in v] for k, v in tree.items()}
    b = write_keras_zip(tmp_path / "b.keras", cfg, tree_b)
    path = str(tmp_path / "model.keras")
    os.replace(a, path)
    read = keras3.read_zip

    def reader_then_redeploy(fd, p, regions=False):
        source = read(fd, p, regions)
        os.replace(b, path)                     # the swap lands between child and parent
        return source

    monkeypatch.setattr(keras3, "read_zip", reader_then_redeploy)
    swapped = kri.load_model(path)
    monkeypatch.undo()
    assert os.path.exists(path) and not os.path.exists(b)
    expected_a = [np.asarray(w, np.float32) for w in tree["layers/simple_rnn/cell"]]
    got = swapped.get_layer("rnn").get_weights()
    for g, w in zip(got, expected_a):
        np.testing.assert_array_equal(g, w)


def test_a_failed_fork_is_our_error_and_leaks_nothing(monkeypatch):
    path = _model_file("rnn_basic__keras3")

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    monkeypatch.setattr(os, "fork", no_fork)
    for _ in range(5):
        with pytest.raises(kri.ModelFileError, match="cannot start the reader process"):
            kri.load_model(path)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="reads in-process here")
@pytest.mark.parametrize("answer", [{"__array__": 7}, {"__region__": [0, "no-such-dtype", [2]]},
                                    {"__region__": [1 << 40, "<f4", [4]]}, {"__set__": 3}])
def test_a_malformed_answer_from_the_reader_is_our_error(answer, monkeypatch):
    """The child parsed an untrusted file: what it sends back is checked like any input."""
    from kerasrnn_infer.formats import isolate
    monkeypatch.setattr(isolate, "_encode", lambda obj, arrays: answer)
    with pytest.raises(kri.ModelFileError, match="rnn_basic"):
        kri.load_model(_model_file("rnn_basic__keras3"))


def test_a_scalar_dataset_keeps_its_shape_in_both_modes(tmp_path, monkeypatch):
    """A 0-d weight crosses from the reader as 0-d (not (1,)), so both modes refuse it alike."""
    cfg, tree = simple_rnn_model()
    tree["layers/simple_rnn/cell"][0] = np.float32(3.0)
    stored = write_keras_zip(tmp_path / "stored.keras", cfg, tree)
    path = tmp_path / "scalar.keras"          # deflated: arrays cross in shared memory
    with zipfile.ZipFile(stored) as zin, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    messages = []
    for mode in ("0", "1"):
        monkeypatch.setenv("KERASRNN_INFER_NO_FORK", mode)
        with pytest.raises(kri.WeightsError, match=r"weight 'kernel' has shape \(\), expected") \
                as e:
            kri.load_model(path)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
