"""The direct path of a plain ``predict`` (executor.direct_plan / chain_plan / run_direct):
which models take it, that it gives the general path's bits (and so Keras's: the fixtures'
own tests hold those), where it steps aside, and that it keeps the general path's errors,
warnings and weights."""

import os
import warnings

import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer import executor
from kerasrnn_infer.kernels import numba_rnn

from _build import k3_layer, sequential, write_keras_zip
from _cases import read_case
from conftest import FIXTURES

JITS = [False, True] if numba_rnn.available() else [False]
SEQUENTIAL = ["dropouts", "embedding_bilstm_text", "embedding_gru_unmasked",
              "embedding_lstm_tagger", "float64", "float64_mixed", "mixed_float16",
              "rnn_no_bias", "embedding_bilstm_classifier", "embedding_gru_classifier",
              "bigru_float_head", "embedding_td_repeat", "normalization",
              "graph_nested_sequential"]
#: compiled, every step is a kernel's one frame (numba_rnn / numba_dense ``direct*``)
ONE_FRAME = {"embedding_bilstm_classifier": "direct_ids", "embedding_gru_classifier":
             "direct_ids", "bigru_float_head": "direct_pair", "dropouts": "direct"}


def _spy(monkeypatch):
    """The results of run_direct, as they are returned (None: it stepped aside)."""
    seen, real = [], executor.run_direct

    def spy(plan, x):
        out = real(plan, x)
        seen.append(out is not None)
        return out
    import kerasrnn_infer.model as model_module
    monkeypatch.setattr(model_module, "run_direct", spy)
    return seen


def _general(model, x):
    """predict by the general path (a batch size of the whole input: one run, as predict)."""
    return model.predict(x, batch_size=len(x))


@pytest.mark.parametrize("jit", JITS)
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
@pytest.mark.parametrize("case", SEQUENTIAL)
def test_a_plain_predict_takes_the_direct_path_with_the_general_paths_bits(case, writer, jit,
                                                                          monkeypatch):
    d = os.path.join(FIXTURES, f"{case}__{writer}")
    spec, io = read_case(d)
    model = kri.load_model(os.path.join(d, spec["load"]["path"]), jit=jit)
    seen = _spy(monkeypatch)
    x = io["in/0"]
    got = model.predict(x)
    assert seen == [True]
    if jit and case in ONE_FRAME:
        names = [fn.__qualname__ for _, fn in model._root.direct_path[:-1]]
        assert names[0].endswith(f".{ONE_FRAME[case]}.<locals>.step"), names
        assert all(n.endswith(".<locals>.step") for n in names), names
    want = _general(model, x)
    assert seen == [True] and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, io["call0/out/0"], atol=spec.get("tol", 1e-5), rtol=0)


def _rnn(cls, name, units, **extra):
    if cls != "SimpleRNN":
        extra.setdefault("recurrent_activation", "sigmoid")
    return k3_layer(cls, name, trainable=True, dtype="float32", units=units,
                    activation="tanh", use_bias=True, return_state=False,
                    go_backwards=False, stateful=False, unroll=False, **extra)


def _chain(features=5):
    """Input(None, features) -> LSTM(6, sequences) -> Dropout -> GRU(4) -> Dense(3,
    softmax), as layer configs with seeded weights."""
    rng = np.random.default_rng(3)
    layers = [
        k3_layer("InputLayer", "input", batch_shape=[None, None, features], dtype="float32",
                 sparse=False),
        _rnn("LSTM", "lstm", 6, return_sequences=True),
        k3_layer("Dropout", "dropout", rate=0.5, trainable=True, dtype="float32"),
        _rnn("GRU", "gru", 4, return_sequences=False, reset_after=True),
        k3_layer("Dense", "dense", units=3, activation="softmax", use_bias=True,
                 trainable=True, dtype="float32")]

    def w(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)
    tree = {"layers/lstm/cell": [w(features, 24), w(6, 24), w(24)], "layers/lstm": [],
            "layers/gru/cell": [w(6, 12), w(4, 12), w(2, 12)], "layers/gru": [],
            "layers/dropout": [], "layers/dense": [w(4, 3), w(3)]}
    return layers, tree


def _functional(layers):
    """The Keras 3 Functional config of a chain of layer configs (the first an InputLayer)."""
    out, prev = [], None
    for entry in layers:
        entry = dict(entry)
        if prev is None:
            entry["inbound_nodes"] = []
        else:
            entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [None, None, None], "dtype": "float32",
                "keras_history": [prev, 0, 0]}}], "kwargs": {}}]
        out.append(entry)
        prev = entry["name"]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "chain", "trainable": True, "layers": out,
                       "input_layers": [layers[0]["name"], 0, 0],
                       "output_layers": [prev, 0, 0]}, "registered_name": "Functional"}


def _chain_model(tmp_path, jit):
    layers, tree = _chain()
    return kri.load_model(write_keras_zip(tmp_path / "s.keras", sequential(layers), tree),
                          jit=jit)


def _x(rng, batch=3, steps=7, features=5):
    return rng.normal(0, 1, (batch, steps, features)).astype(np.float32)


@pytest.mark.parametrize("jit", JITS)
def test_a_functional_chain_takes_the_direct_path_as_the_same_sequential(tmp_path, jit,
                                                                         monkeypatch):
    layers, tree = _chain()
    seq = kri.load_model(write_keras_zip(tmp_path / "s.keras", sequential(layers), tree),
                         jit=jit)
    fun = kri.load_model(write_keras_zip(tmp_path / "f.keras", _functional(layers), tree),
                         jit=jit)
    assert [type(l).__name__ for l, _ in fun._root.direct_path[:-1]] == ["RNN", "RNN", "Dense"]
    x = _x(np.random.default_rng(0))
    seen = _spy(monkeypatch)
    got = fun.predict(x)
    assert seen == [True]
    np.testing.assert_array_equal(got, _general(fun, x))
    np.testing.assert_array_equal(got, seq.predict(x))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_graphs_that_are_not_chains_keep_the_general_path():
    for case in ("graph_multi_io", "mask_masking", "graph_nested", "bidirectional_masked"):
        d = os.path.join(FIXTURES, f"{case}__keras3")
        spec, _ = read_case(d)
        model = kri.load_model(os.path.join(d, spec["load"]["path"]))
        assert model._root.direct_path is None, case


@pytest.mark.parametrize("jit", JITS)
def test_the_direct_path_steps_aside_for_what_the_general_path_checks(tmp_path, jit,
                                                                      monkeypatch):
    """Another dtype (cast by the general path), options predict handles (batch size,
    verbose, outputs), an empty batch, a wrong shape (the general path's error)."""
    model = _chain_model(tmp_path, jit)
    x = _x(np.random.default_rng(1))
    want = model.predict(x)
    seen = _spy(monkeypatch)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), want)
    np.testing.assert_array_equal(model.predict(x, verbose=0), want)
    assert seen == [True]                   # verbose=0 is plain; float64 was not
    seen.clear()
    np.testing.assert_array_equal(model.predict(x, batch_size=2)[:2],
                                  model.predict(x[:2], batch_size=99))
    assert model.predict(x, outputs="dense").shape == (3, 3)
    assert seen == []
    assert model.predict(x[:0]).shape == (0, 3)
    with pytest.raises(kri.InputError, match=r"expects shape \(None, None, 5\)") as direct:
        model.predict(x[:, :, :4])
    with pytest.raises(kri.InputError, match=r"expects shape \(None, None, 5\)") as general:
        model.predict(x[:, :, :4], batch_size=3)
    assert str(direct.value) == str(general.value)


def test_the_numpy_path_stays_silent_on_overflowing_values(tmp_path):
    """NaN and Inf propagate silently, as in Keras: the NumPy kernels' steps run under
    np.errstate (the plan is not quiet); the compiled ones raise no warning."""
    layers, tree = _chain()
    path = write_keras_zip(tmp_path / "s.keras", sequential(layers), tree)
    x = _x(np.random.default_rng(2)) * 1e30
    x[0, 0, 0] = np.nan
    for jit in JITS:
        model = kri.load_model(path, jit=jit)
        assert model._root.direct_path[-1] == (None, jit)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = model.predict(x)
        assert np.isnan(got[0]).all() and np.isfinite(got[1:]).all()


@pytest.mark.parametrize("jit", JITS)
def test_a_failure_inside_a_direct_step_names_the_layer(tmp_path, jit, monkeypatch):
    model = _chain_model(tmp_path, jit)
    gru = model.get_layer("gru")

    def broken(*a, **k):
        raise ValueError("boom")
    if jit:                                     # the compiled call of the one-frame step
        monkeypatch.setattr(gru.kernel.cells[0], "call", broken)
    else:
        monkeypatch.setattr(gru.kernel, "run", broken)
    with pytest.raises(kri.InternalError, match=r"layer 'gru' \(GRU\).*shapes \[\(3, 7, 6\)\]"
                                                r".*ValueError: boom"):
        model.predict(_x(np.random.default_rng(0)))


@pytest.mark.parametrize("jit", JITS)
def test_new_weights_reach_the_direct_path(tmp_path, jit, monkeypatch):
    """New kernels (layer.set_weights): the one-frame steps made for the old ones hand the
    call to the layers' general steps; load_weights makes the path again."""
    layers, tree = _chain()
    model = _chain_model(tmp_path, jit)
    x = _x(np.random.default_rng(4))
    before = model.predict(x)
    seen = _spy(monkeypatch)
    for name in ("lstm", "dense"):
        layer = model.get_layer(name)
        layer.set_weights([w * 0.5 for w in layer.get_weights()])
        after = model.predict(x)
        assert not np.allclose(after, before)
        np.testing.assert_array_equal(after, _general(model, x))
        before = after
    other = {k: [w * 0.7 for w in v] for k, v in tree.items()}
    model.load_weights(write_keras_zip(tmp_path / "other.keras", sequential(layers), other))
    after = model.predict(x)
    assert seen == [True] * 3 and not np.allclose(after, before)
    np.testing.assert_array_equal(after, _general(model, x))
    for layer, step in model._root.direct_path[:-1]:
        if jit:                                 # made for the kernels it now has
            assert step.__closure__ and any(c.cell_contents is getattr(
                layer, "compiled", getattr(layer, "kernel", None)) for c in step.__closure__)


def test_stateful_models_keep_the_general_path(monkeypatch):
    d = os.path.join(FIXTURES, "stateful__keras3")
    spec, io = read_case(d)
    model = kri.load_model(os.path.join(d, spec["load"]["path"]))
    seen = _spy(monkeypatch)
    model.predict(io["in/0"])
    assert seen == []


def test_an_out_of_range_id_is_the_embedding_layers_error_on_the_direct_path(tmp_path,
                                                                           monkeypatch):
    d = os.path.join(FIXTURES, "embedding_gru_unmasked__keras3")
    spec, io = read_case(d)
    for jit in JITS:
        model = kri.load_model(os.path.join(d, spec["load"]["path"]), jit=jit)
        ids = np.array(io["in/0"])
        ids[0, 1] = 10 ** 6
        with pytest.raises(kri.InputError, match=r"layer 'embedding' \(Embedding\): token id "
                                                 r"1000000 is outside the vocabulary"):
            model.predict(ids)
        ids = ids.astype(np.float32)
        ids[0, 1] = np.nan                       # cast to int32 without a NumPy warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(kri.InputError, match="outside the vocabulary"):
                model.predict(ids)
