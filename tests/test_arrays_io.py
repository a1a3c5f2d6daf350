"""Arrays in and out (kerasrnn_infer.arrays_io): how .npz members, JSON objects and dicts meet
the model's inputs, for ``kerasrnn-infer predict`` and ``assert_matches_keras(inputs=...)``.

The rule: by name when any key is an input name (then exactly the input names, as
``Model.predict(dict)``), else by position (``in/<i>``, ``arr_<i>``), else a one-input
model's one array; golden extras (``call*``, ``layer/*``, ``meta/*``,
``target/*``) are ignored. Keys that are partly input names used to be taken in file order:
on a decoder with several same-shaped state inputs, one state was fed to another and the run
exited 0 with wrong outputs. No TensorFlow needed."""

import io
import json
import os

import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer import cli
from kerasrnn_infer.arrays_io import (arrays_in_model_order, coerce_inputs, read_inputs,
                                      write_outputs)
from kerasrnn_infer.testing import assert_matches_keras, compare_with_keras

from conftest import FIXTURES

STATES = os.path.join(FIXTURES, "return_state_initial_state__keras3")   # x, h0, c0, g0, s0
MULTI = os.path.join(FIXTURES, "graph_multi_io__keras3")                 # seq, ids
RNN = os.path.join(FIXTURES, "rnn_basic__keras3")                        # one input


def load(d):
    return kri.load_model(os.path.join(d, "model.keras"))


def io_npz(d):
    with np.load(os.path.join(d, "io.npz")) as z:
        return {k: z[k] for k in z.files}


def inputs_of(d):
    io_ = io_npz(d)
    return [io_[f"in/{i}"] for i in range(sum(k.startswith("in/") for k in io_))]


def outputs_of(d):
    io_ = io_npz(d)
    return [io_[f"call0/out/{j}"] for j in range(sum(k.startswith("call0/out/") for k in io_))]


def same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def golden_without_inputs(d, path):
    """The fixture's io.npz without its inputs: a reference that takes inputs from the caller."""
    np.savez(path, **{k: v for k, v in io_npz(d).items() if not k.startswith("in/")})
    return str(path)


@pytest.fixture(scope="module")
def states():
    m = load(STATES)
    assert [s.name for s in m.inputs] == ["x", "h0", "c0", "g0", "s0"]
    return m


def partly_named(xs):
    """The five inputs under keys of which four are input names; h0's array is under an old
    name, in the slot where file order would feed c0's array to h0 (same shape, (3, 5))."""
    x, h0, c0, g0, s0 = xs
    assert h0.shape == c0.shape
    return {"x": x, "c0": c0, "h0_old": h0, "g0": g0, "s0": s0}


# ----- by name ----------------------------------------------------------------------------------
def test_all_input_names_in_any_order_are_matched_by_name(states, tmp_path):
    xs = inputs_of(STATES)
    names = [s.name for s in states.inputs]
    shuffled = {n: xs[names.index(n)] for n in ["s0", "c0", "x", "g0", "h0"]}
    same(arrays_in_model_order(shuffled, states), xs)
    same(coerce_inputs(shuffled, states), xs)
    np.savez(tmp_path / "by_name.npz", **shuffled)
    same(read_inputs(str(tmp_path / "by_name.npz"), states), xs)
    (tmp_path / "by_name.json").write_text(json.dumps({k: v.tolist()
                                                        for k, v in shuffled.items()}))
    same(read_inputs(str(tmp_path / "by_name.json"), states), xs)
    # the command line gives Keras's outputs ...
    assert cli.main(["predict", os.path.join(STATES, "model.keras"), "-i",
                     str(tmp_path / "by_name.npz"), "-o", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as y:
        same([y[k] for k in states.output_names], [np.asarray(o) for o in states.predict(xs)])
        for got, want in zip([y[k] for k in states.output_names], outputs_of(STATES)):
            np.testing.assert_allclose(got, want, atol=1e-5)
    # ... and so does the testing API, inputs by name against a golden without inputs
    golden = golden_without_inputs(STATES, tmp_path / "golden.npz")
    assert assert_matches_keras(os.path.join(STATES, "model.keras"), inputs=shuffled,
                                golden=golden).passed


def test_partly_named_keys_are_refused_with_expected_and_received_names(states, tmp_path):
    """Failed before the fix: the arrays were taken in file order, c0's state went to h0 and
    h0's to c0, and predict exited 0 with wrong outputs."""
    given = partly_named(inputs_of(STATES))
    with pytest.raises(kri.InputError) as e:
        arrays_in_model_order(given, states, "x.npz")
    msg = str(e.value)
    assert msg.startswith("x.npz: ")
    assert "['x', 'h0', 'c0', 'g0', 's0']" in msg                 # expected, in model order
    assert "['x', 'c0', 'h0_old', 'g0', 's0']" in msg             # received, as given
    assert "missing ['h0']" in msg and "unknown ['h0_old']" in msg
    with pytest.raises(kri.InputError, match="h0_old"):
        coerce_inputs(given, states)
    # the command line: one line, exit 2, nothing written
    np.savez(tmp_path / "x.npz", **given)
    rc = cli.main(["predict", os.path.join(STATES, "model.keras"), "-i", str(tmp_path / "x.npz"),
                   "-o", str(tmp_path / "y.npz")])
    assert rc == 2 and not (tmp_path / "y.npz").exists()
    stdin = json.dumps({k: v.tolist() for k, v in given.items()})
    with pytest.raises(kri.InputError, match=r"<stdin>: .*missing \['h0'\]"):
        read_inputs("-", states, stdin=io.StringIO(stdin))
    # the testing API refuses too (it used to compare on the swapped states)
    golden = golden_without_inputs(STATES, tmp_path / "golden.npz")
    with pytest.raises(kri.InputError, match="h0_old"):
        compare_with_keras(os.path.join(STATES, "model.keras"), inputs=given, golden=golden)
    # two inputs, one named
    m = load(MULTI)
    seq, ids = inputs_of(MULTI)
    with pytest.raises(kri.InputError, match=r"\['seq', 'ids'\].*\['seq', 'input_2'\]"):
        arrays_in_model_order({"seq": seq, "input_2": ids}, m)


def test_partly_named_keys_are_refused_on_the_command_line(tmp_path, capsys):
    given = partly_named(inputs_of(STATES))
    np.savez(tmp_path / "x.npz", **given)
    assert cli.main(["predict", os.path.join(STATES, "model.keras"),
                     "-i", str(tmp_path / "x.npz")]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasrnn-infer: error: ")
    assert "['x', 'h0', 'c0', 'g0', 's0']" in lines[0] and "h0_old" in lines[0]


# ----- by position ------------------------------------------------------------------------------
def test_in_i_and_arr_i_are_positional(states, tmp_path):
    xs = inputs_of(STATES)
    # the golden / fixture layout, with its outputs and per-layer arrays ignored
    same(read_inputs(os.path.join(STATES, "io.npz"), states), xs)
    # what np.savez(path, a, b, ...) writes
    np.savez(tmp_path / "pos.npz", *xs)
    with np.load(tmp_path / "pos.npz") as z:
        assert z.files == [f"arr_{i}" for i in range(5)]
    same(read_inputs(str(tmp_path / "pos.npz"), states), xs)
    # by number, whatever the stored order
    same(arrays_in_model_order({f"in/{i}": xs[i] for i in (3, 1, 4, 0, 2)}, states), xs)
    same(arrays_in_model_order({f"arr_{i}": xs[i] for i in (4, 3, 2, 1, 0)}, states), xs)
    same(coerce_inputs({f"in/{i}": x for i, x in enumerate(xs)}, states), xs)
    # a golden file that also names its inputs: by name
    named = {n: x for n, x in zip(["x", "h0", "c0", "g0", "s0"], xs)}
    same(arrays_in_model_order({**{f"in/{i}": x for i, x in enumerate(xs)}, **named}, states),
         xs)


def test_single_array_for_a_single_input_model(tmp_path):
    m = load(RNN)
    (x,) = inputs_of(RNN)
    name = m.inputs[0].name
    for key in (name, "arr_0", "in/0", "anything"):
        np.savez(tmp_path / "one.npz", **{key: x})
        same(read_inputs(str(tmp_path / "one.npz"), m), [x])
    np.save(tmp_path / "one.npy", x)
    same(read_inputs(str(tmp_path / "one.npy"), m), [x])
    same(coerce_inputs(x, m), [x])
    same(coerce_inputs({"anything": x}, m), [x])


def test_unnamed_keys_of_several_inputs_are_refused(tmp_path):
    """No key is an input name and none is positional: a one-input model takes its one array,
    but several inputs are never matched by stored order (``np.savez(path, in_seq=a,
    in_ids=b)`` for inputs seq and ids would be a silent guess)."""
    m = load(MULTI)
    seq, ids = inputs_of(MULTI)
    np.savez(tmp_path / "x.npz", in_seq=seq, in_ids=ids)
    with pytest.raises(kri.InputError, match=r"cannot match arrays \['in_seq', 'in_ids'\] to the "
                                             r"model inputs \['seq', 'ids'\]"):
        read_inputs(str(tmp_path / "x.npz"), m)


def test_golden_extras_are_ignored(states):
    xs = inputs_of(STATES)
    named = dict(zip(["x", "h0", "c0", "g0", "s0"], xs))
    extras = {"call0/out/0": np.zeros(1), "call1/in/0": np.zeros(1), "layer/lstm/0": np.zeros(1),
              "meta/note": np.zeros(1), "target/0": np.zeros(1)}
    same(arrays_in_model_order({**extras, **named}, states), xs)
    same(arrays_in_model_order({**extras, **{f"in/{i}": x for i, x in enumerate(xs)}}, states),
         xs)
    same(arrays_in_model_order({**extras, **{f"arr_{i}": x for i, x in enumerate(xs)}}, states),
         xs)


# ----- wrong counts -----------------------------------------------------------------------------
def test_wrong_counts_are_refused(states, tmp_path):
    xs = inputs_of(STATES)
    names = ["x", "h0", "c0", "g0", "s0"]
    cases = {
        "four of five names": ({n: x for n, x in zip(names[:4], xs)}, r"missing \['s0'\]"),
        "five names and one more": ({**dict(zip(names, xs)), "s1": xs[4]},
                                    r"unknown \['s1'\]"),
        "arr_0..arr_3": ({f"arr_{i}": x for i, x in enumerate(xs[:4])}, "5 inputs"),
        "in/0..in/5": ({f"in/{i}": x for i, x in enumerate(xs + [xs[0]])}, "5 inputs"),
        "in/1..in/5": ({f"in/{i + 1}": x for i, x in enumerate(xs)}, "5 inputs"),
        "four unnamed": ({f"a{i}": x for i, x in enumerate(xs[:4])}, "cannot match"),
        "six unnamed": ({f"a{i}": x for i, x in enumerate(xs + [xs[0]])}, "cannot match"),
        "only golden extras": ({"call0/out/0": xs[0], "layer/x/0": xs[0]}, "cannot match"),
    }
    for label, (arrays, needle) in cases.items():
        with pytest.raises(kri.InputError, match=needle):
            arrays_in_model_order(arrays, states)
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(kri.InputError, match="bad.npz"):
            read_inputs(str(tmp_path / "bad.npz"), states)
    np.save(tmp_path / "one.npy", xs[0])
    with pytest.raises(kri.InputError, match="5 inputs"):
        read_inputs(str(tmp_path / "one.npy"), states)
    (tmp_path / "list.json").write_text(json.dumps([x.tolist() for x in xs[:3]]))
    with pytest.raises(kri.InputError, match="5 inputs"):
        read_inputs(str(tmp_path / "list.json"), states)


# ----- outputs ----------------------------------------------------------------------------------
def test_write_outputs_keyed_by_output_names(tmp_path):
    m = load(MULTI)
    ys = m.predict(inputs_of(MULTI))
    write_outputs(m, ys, str(tmp_path / "y.npz"), None)
    with np.load(tmp_path / "y.npz") as z:
        assert z.files == m.output_names == ["y_steps", "z_head", "lstm/2"]
        same([z[k] for k in z.files], ys)
    out = io.StringIO()
    write_outputs(m, ys, None, out)
    got = json.loads(out.getvalue())
    assert list(got) == m.output_names
    np.testing.assert_allclose(np.asarray(got["z_head"], np.float32), ys[1])
    with pytest.raises(kri.UsageError, match=r"3 outputs \(y_steps, z_head, lstm/2\)"):
        write_outputs(m, ys, str(tmp_path / "y.npy"), None)
    with pytest.raises(kri.UsageError, match="unknown output file type"):
        write_outputs(m, ys, str(tmp_path / "y.csv"), None)
