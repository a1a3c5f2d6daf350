"""Generate the TensorFlow-format fixtures in ``fixtures/tf/`` with real, older TensorFlow.

Run from the project root (any Python 3.9-3.11 with numpy)::

    python tools/make_tf_fixtures.py [--only CASE[,CASE]] [--writers tf2.12,tf2.15]
                                     [--venvs DIR] [--out fixtures/tf]

(``--only _refused`` rewrites only ``fixtures/tf/_refused/``; a case is rewritten for the
writers its PLAN entry names.)

Each writer is one TensorFlow release in its own virtual environment, created on first use
under ``--venvs`` (default ``.venv-tf<version>`` in the project root, git-ignored) with pip:

- ``tf2.12``: tensorflow-cpu 2.12 (tf.keras = keras 2.12): SavedModels (traced and
  untraced), TF checkpoints (``save_weights`` without ``.h5``, and a ``ModelCheckpoint``
  directory written during ``fit``), Keras-2 ``.keras`` zips (``save_format="keras_v3"``),
  legacy ``.h5``; tf2.15 and tf2.21 also a ``tf.train.Checkpoint(model=..., optimizer=...)``;
- ``tf2.13``: tensorflow-cpu 2.13: Keras-2 ``.keras`` zips (its default ``.keras`` format);
- ``tf2.15``: tensorflow-cpu 2.15 (keras 2.15): as tf2.12, its ``.keras`` with the plain
  counter;
- ``tf2.21``: tensorflow-cpu 2.21 with tf-keras 2.21: as tf2.15, plus a SavedModel whose Keras
  metadata is moved into ``saved_model.pb`` (the layout of tf.keras < 2.5, which no TensorFlow
  that runs on Python 3.11 writes: synthesized from a real SavedModel, and checked by loading
  it with tf-keras), a subclassed SavedModel and a bare ``tf.Module`` SavedModel (refused:
  ``fixtures/tf/_refused/``).

The parent process runs this file again inside each writer's environment (``--worker``),
which builds the recurrent models with the builders of ``tools/make_fixtures.py`` (masking,
Bidirectional, seq2seq with states, stateful, nested models) plus the cases below (a custom
layer, tf-op layers, a small traced model, a model trained with a ModelCheckpoint), fills
them with random weights, records Keras's outputs, saves every format the case asks for and
reloads each with the same TensorFlow. Case folders ``<out>/<case>__<writer>/`` hold the
files, ``io.npz`` (``in/i``, ``call<k>/out/j``, ``layer/<name>/<j>``) and ``case.json``
(load specs: ``{"path": "saved_model"}`` for a directory, ``{"json": "model.json",
"weights": "ckpt/weights"}`` for a checkpoint prefix or ``"weights": "checkpoints"`` for a
ModelCheckpoint directory), exactly as ``tests/test_fixtures.py`` reads every fixture.

Traced SavedModels hold every traced function (0.2-2 MB even for tiny models), so they are
written for one small model per writer only; the other cases use ``save_traces=False``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOOLS = str(ROOT / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

WRITERS = {
    "tf2.12": ["tensorflow-cpu==2.12.*"],
    "tf2.13": ["tensorflow-cpu==2.13.*"],
    "tf2.15": ["tensorflow-cpu==2.15.*"],
    "tf2.21": ["tensorflow-cpu==2.21.*", "tf-keras==2.21.*"],
}
SEED = 4321
TOL = 1e-5

# case -> {writer: formats}; formats: "sm" (SavedModel, save_traces=False), "sm_traced",
# "ckpt" (save_weights prefix + model.json), "keras" (.keras zip), "h5", "ckpt_dir"
# (ModelCheckpoint during fit), "sm_legacy" (metadata inside saved_model.pb), "tf_train"
# (tf.train.Checkpoint(model=model, optimizer=...).save(): the model one level down)
_THREE = ("tf2.12", "tf2.15", "tf2.21")
PLAN = {
    "mask_masking": {w: ("sm", "ckpt") for w in _THREE},
    "bidirectional_masked": {w: ("sm", "ckpt") for w in _THREE},
    "return_state_initial_state": {"tf2.12": ("sm", "ckpt", "keras"), "tf2.13": ("keras",),
                                   "tf2.15": ("sm", "ckpt"), "tf2.21": ("sm", "ckpt")},
    "stateful": {w: ("sm", "ckpt") for w in _THREE},
    "graph_nested": {"tf2.12": ("sm", "ckpt", "keras"), "tf2.13": ("keras",),
                     "tf2.15": ("sm", "ckpt"), "tf2.21": ("sm", "ckpt", "sm_legacy")},
    "graph_nested_sequential": {"tf2.12": ("ckpt",), "tf2.15": ("ckpt", "tf_train"),
                                "tf2.21": ("ckpt", "tf_train")},
    "custom_attention": {w: ("sm", "ckpt") for w in _THREE},
    "tf_ops": {"tf2.12": ("h5", "keras", "sm", "ckpt"), "tf2.13": ("keras",),
               "tf2.15": ("sm", "ckpt"), "tf2.21": ("h5", "keras", "sm", "ckpt")},
    "tf_ops_ellipsis": {w: ("h5", "sm") for w in ("tf2.12", "tf2.21")},
    "traced_small": {w: ("sm_traced",) for w in _THREE},
    "fit_checkpoint": {w: ("ckpt_dir",) for w in _THREE},
    # adapted vocabularies: kept only as the lookup tables' constants in saved_model.pb
    "text_gru": {w: ("sm",) for w in _THREE},
    "lookup_adapted": {w: ("sm",) for w in _THREE},
    # MultiHeadAttention tracked as _query_dense... (private attributes) in checkpoints
    "mha_block": {w: ("ckpt",) for w in _THREE},
    "mha_axes": {w: ("ckpt",) for w in _THREE},
    # attention and preprocessing configs of older tf.keras (2.21 is covered by the live tests)
    "dense_attention": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "luong_seq2seq": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "lookup_vocabularies": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    # convolutional front ends and ConvLSTM of older tf.keras (their configs and object graphs)
    "crnn_captcha": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "conv2d_options": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "convlstm_options": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "td_layers": {w: ("ckpt",) for w in ("tf2.12", "tf2.15")},
    "_refused": {"tf2.21": ()},        # SavedModels that must be refused (write_refused)
}
# appended to the case's note
NOTE_SUFFIX = {
    "mha_block": " As a TF checkpoint with model.json: tf.keras tracks the projections as "
                 "_query_dense, _key_dense...; tf.keras 2.12 and 2.15 reload this checkpoint "
                 "into model_from_json with other outputs (see reload_failed); the recorded "
                 "outputs are the in-memory model's.",
}
NOTES = {
    "text_gru": "The text classifier (adapted TextVectorization -> Embedding(mask_zero) -> GRU "
                "-> Dense) as a SavedModel: tf.keras keeps the adapted vocabulary only as the "
                "constants its lookup table is initialized from, in saved_model.pb.",
    "lookup_adapted": "Adapted StringLookup, IntegerLookup and tf_idf lookups as a SavedModel: "
                      "vocabularies from the lookup tables' constants in saved_model.pb, "
                      "tf_idf weights from the variables.",
    "custom_attention": "A custom layer (AttentionLayer: softmax over time of tanh(x W + b), "
                        "weights named kernel and bias) after a Bidirectional LSTM; loaded "
                        "with custom_objects (tests/custom_layers.py).",
    "tf_ops": "tf-op layers of a tf.keras functional model on LSTM/GRU outputs: slicing "
              "x[:, -1, :] and x[:, ::2, 1:4], reduce_mean/sum/max, concat, x * 2.0 + 1.0, "
              "1.0 - x (a constant first argument), relu, sigmoid, tanh, expand_dims, "
              "transpose, reshape, squeeze, softmax, square, abs, maximum, multiply and add of "
              "two tensors, stack.",
    "tf_ops_ellipsis": "A tf-op slice with an ellipsis and a new axis (x[..., 1], "
                       "x[:, None, 2:4]) after an LSTM.",
    "traced_small": "A small Sequential model saved as a traced SavedModel (the default "
                    "save_traces=True), whose RNN cell variables are stored under "
                    "variables/<i>: Masking -> SimpleRNN(seq) -> Dense (tf2.12, tf2.15), "
                    "LSTM -> Dense (tf2.21; 0.6 MB, most of it traced functions).",
    "fit_checkpoint": "A seq2seq-with-states model trained for two epochs (Adam) with "
                      "ModelCheckpoint(save_weights_only=True, 'cp-{epoch:02d}.ckpt'): the "
                      "directory holds both epochs' checkpoints with optimizer slots; its "
                      "'checkpoint' file names cp-02, whose weights the recorded outputs "
                      "come from.",
}


# --------------------------------------------------------------------------------------------
# Parent: environments and workers
# --------------------------------------------------------------------------------------------
def ensure_venv(writer: str, venvs: Path) -> Path:
    """The Python of ``writer``'s virtual environment, created and filled on first use."""
    folder = venvs / f".venv-{writer}"
    python = folder / "bin" / "python"
    stamp = folder / ".kri-installed"
    if stamp.exists():
        return python
    print(f"creating {folder} ({' '.join(WRITERS[writer])})", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *WRITERS[writer]], check=True)
    stamp.write_text(" ".join(WRITERS[writer]) + "\n")
    return python


def parent(args) -> int:
    writers = args.writers.split(",") if args.writers else list(WRITERS)
    unknown = [w for w in writers if w not in WRITERS]
    if unknown:
        raise SystemExit(f"unknown writer(s) {unknown}; known: {', '.join(WRITERS)}")
    only = args.only.split(",") if args.only else list(PLAN)
    bad = [c for c in only if c not in PLAN]
    if bad:
        raise SystemExit(f"unknown case(s) {bad}; known: {', '.join(PLAN)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    venvs = Path(args.venvs) if args.venvs else ROOT
    for writer in writers:
        cases = [c for c in only if writer in PLAN[c] and c != "_refused"]
        extra = writer == "tf2.21" and "_refused" in only
        if not cases and not extra:
            continue
        python = ensure_venv(writer, venvs)
        cmd = [str(python), __file__, "--worker", writer, "--out", str(out),
               "--only", ",".join(cases)]
        if extra:
            cmd.append("--refused")
        print(f"== {writer}: {', '.join(cases)}", flush=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1",
                   PYTHONHASHSEED="0")
        subprocess.run(cmd, check=True, env=env, cwd=str(ROOT))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"\nfixtures total {total / 1024:.0f} KB in {out}/")
    return 0


# --------------------------------------------------------------------------------------------
# Worker: inside one TensorFlow
# --------------------------------------------------------------------------------------------
def _keras(writer):
    import tensorflow as tf
    if writer == "tf2.21":
        import tf_keras as K
        version = K.__version__
    else:
        K = tf.keras
        import keras
        version = keras.__version__
    return tf, K, version


def _custom_layer(K, tf):
    class AttentionLayer(K.layers.Layer):
        """e = tanh(x W + b); a = softmax over time; sum over time of a * x."""

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), 1))
            self.bias = self.add_weight(name="bias", shape=(1,))
            super().build(input_shape)

        def call(self, x):
            e = tf.tanh(tf.matmul(x, self.kernel) + self.bias)
            a = tf.nn.softmax(e, axis=1)
            return tf.reduce_sum(a * x, axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], input_shape[-1])

    return AttentionLayer


def _builders(mf, K, tf, writer):
    """This file's own cases: name -> builder(K, rng) -> (model, inputs[, calls])."""
    L = K.layers
    STEPS, BATCH = mf.STEPS, mf.BATCH
    floats = mf.floats
    Attention = _custom_layer(K, tf)

    def custom_attention(K, rng):
        x = K.Input((STEPS, 4), name="x")
        s = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi_lstm")(x)
        a = Attention(name="attention")(s)
        return K.Model(x, L.Dense(2, name="head")(a)), [floats(rng, BATCH, STEPS, 4)]

    def tf_ops(K, rng):
        x = K.Input((STEPS, 4), name="x")
        seq = L.LSTM(5, return_sequences=True, name="lstm")(x)
        last = seq[:, -1, :]
        mean = tf.reduce_mean(seq, axis=1)
        peak = tf.reduce_max(seq, axis=1, keepdims=True)
        both = tf.concat([last, mean], axis=-1)
        scaled = both * 2.0 + 1.0
        act = tf.nn.relu(scaled - 1.5)
        rev = 1.0 - tf.math.sigmoid(act)
        steps = tf.expand_dims(rev, 1)
        every = seq[:, ::2, 1:4]
        g = L.GRU(3, return_sequences=True, name="gru")(tf.transpose(
            tf.transpose(seq, [0, 2, 1]), [0, 2, 1]))
        flat = tf.reshape(g, (-1, STEPS * 3))
        energy = tf.reduce_sum(tf.square(seq), axis=-1)
        one = tf.squeeze(peak, axis=1)
        mixed = tf.maximum(tf.abs(one), tf.tanh(mean)) + one * mean
        soft = tf.nn.softmax(energy, axis=-1)
        pair = tf.stack([last, mean], axis=1)
        head = L.Dense(2, name="head")(tf.concat([mixed, flat], axis=-1))
        return K.Model(x, [steps, every, head, soft, pair]), [floats(rng, BATCH, STEPS, 4)]

    def tf_ops_ellipsis(K, rng):
        x = K.Input((STEPS, 4), name="x")
        seq = L.LSTM(4, return_sequences=True, name="lstm")(x)
        return K.Model(x, [seq[..., 1], seq[:, None, 2:4]]), [floats(rng, BATCH, STEPS, 4)]

    def traced_small(K, rng):
        if writer == "tf2.21":      # each traced layer adds its functions: no Masking here
            layers = [L.LSTM(3, name="lstm")]
        else:
            layers = [L.Masking(0.0), L.SimpleRNN(3, return_sequences=True, name="srnn")]
        model = K.Sequential([K.Input((5, 3)), *layers, L.Dense(2, name="dense")])
        return model, [mf.padded_floats(rng, 3, steps=5)]

    def fit_checkpoint(K, rng):
        return mf.CASES["return_state_initial_state"](K, rng)

    return {"custom_attention": custom_attention, "tf_ops": tf_ops,
            "tf_ops_ellipsis": tf_ops_ellipsis, "traced_small": traced_small,
            "fit_checkpoint": fit_checkpoint}, {"AttentionLayer": Attention}


def _formats(mf, K, writer, kinds, custom):
    """make_fixtures.Format objects for the format kinds of this case."""
    F = mf.Format
    load_kw = {"compile": False, "custom_objects": custom} if custom else {"compile": False}

    def sm(name, traces):
        return F("sm", name, {"path": name},
                 lambda m, f: m.save(str(f / name), save_traces=traces),
                 lambda K_, f: K.models.load_model(str(f / name), **load_kw))

    def ckpt(m, f):
        m.save_weights(str(f / "ckpt" / "weights"))
        (f / "model.json").write_text(m.to_json())

    def ckpt_load(K_, f):
        m = K.models.model_from_json((f / "model.json").read_text(),
                                     custom_objects=custom or None)
        m.load_weights(str(f / "ckpt" / "weights"))
        return m

    def tf_train(m, f):
        import tensorflow as tf
        tf.train.Checkpoint(model=m, optimizer=K.optimizers.Adam()).save(
            str(f / "train_ckpt" / "ckpt"))
        (f / "model.json").write_text(m.to_json())

    def tf_train_load(K_, f):
        import tensorflow as tf
        m = K.models.model_from_json((f / "model.json").read_text())
        tf.train.Checkpoint(model=m).restore(
            tf.train.latest_checkpoint(str(f / "train_ckpt"))).expect_partial()
        return m

    def keras_zip(m, f):
        kw = {"save_format": "keras_v3"} if writer == "tf2.12" else {}
        m.save(str(f / "model.keras"), **kw)

    table = {
        "sm": sm("saved_model", False),
        "sm_traced": sm("saved_model_traced", True),
        "ckpt": F("ckpt", "model.json+ckpt/weights", {"json": "model.json",
                                                      "weights": "ckpt/weights"},
                  ckpt, ckpt_load),
        "tf_train": F("tf_train", "model.json+train_ckpt", {"json": "model.json",
                                                           "weights": "train_ckpt"},
                      tf_train, tf_train_load),
        "keras": F("keras", "model.keras", {"path": "model.keras"}, keras_zip,
                   lambda K_, f: K.models.load_model(str(f / "model.keras"), **load_kw)),
        "h5": F("h5", "model.h5", {"path": "model.h5"},
                lambda m, f: m.save(str(f / "model.h5")),
                lambda K_, f: K.models.load_model(str(f / "model.h5"), **load_kw)),
    }
    return [table[k] for k in kinds if k in table]


def _fit_with_checkpoints(mf, K, model, inputs, folder):
    """Two epochs of Adam with a ModelCheckpoint writing TF checkpoints into checkpoints/."""
    outs = mf._predict(model, inputs)
    model.compile(optimizer=K.optimizers.Adam(1e-3), loss="mse")
    targets = [np.zeros_like(o) for o in outs]
    cb = K.callbacks.ModelCheckpoint(str(folder / "checkpoints" / "cp-{epoch:02d}.ckpt"),
                                     save_weights_only=True)
    model.fit(inputs, targets, epochs=2, batch_size=len(inputs[0]), verbose=0, callbacks=[cb])
    (folder / "model.json").write_text(model.to_json())
    names = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert "checkpoint" in names and any(n.startswith("cp-02") for n in names), names


def _move_metadata(src: Path, dst: Path):
    """Copy SavedModel ``src`` to ``dst`` with keras_metadata.pb's node metadata moved into
    saved_model.pb's user objects (where tf.keras < 2.5 kept it); the number moved."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2
    shutil.copytree(src, dst)
    meta = saved_metadata_pb2.SavedMetadata()
    meta.ParseFromString((dst / "keras_metadata.pb").read_bytes())
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((dst / "saved_model.pb").read_bytes())
    nodes = sm.meta_graphs[0].object_graph_def.nodes
    moved = 0
    for n in meta.nodes:
        obj = nodes[n.node_id]
        assert obj.HasField("user_object"), n.node_path
        assert obj.user_object.identifier == n.identifier, (n.node_path, n.identifier)
        obj.user_object.metadata = n.metadata
        moved += 1
    (dst / "saved_model.pb").write_bytes(sm.SerializeToString())
    (dst / "keras_metadata.pb").unlink()
    return moved


def _reference(tf, version, writer):
    label = "tf-keras" if writer == "tf2.21" else "tf.keras"
    return (f"{label} {version} (TensorFlow {tf.__version__}, CPU) model.predict on the "
            f"in-memory model that was saved; per-layer outputs from sub-models "
            f"Model(model.inputs, layer outputs)")


def save_tf_case(mf, tf, K, version, writer, name, builder, kinds, custom, folder: Path):
    K.backend.clear_session()
    rng = np.random.default_rng(SEED)
    model, inputs, *calls = builder(K, rng)
    mf.randomize_weights(model, rng)
    calls = calls[0] if calls else [("predict", None, None)]
    folder.mkdir(parents=True, exist_ok=True)
    if "ckpt_dir" in kinds:
        _fit_with_checkpoints(mf, K, model, inputs, folder)
    arrays = {f"in/{i}": x for i, x in enumerate(inputs)}
    call_names, k, outputs = [], 0, None
    for call in calls:
        call_names.append(call[0])
        if call[0] == "reset":
            mf.reset_states(model)
            continue
        _, call_inputs, batch_size = call
        if call_inputs is not None:
            arrays.update({f"call{k}/in/{i}": x for i, x in enumerate(call_inputs)})
        got = mf._predict(model, inputs if call_inputs is None else call_inputs, batch_size)
        arrays.update({f"call{k}/out/{j}": y for j, y in enumerate(got)})
        outputs = got if outputs is None else outputs
        k += 1
    mf.reset_states(model)
    layers_skipped = []
    if len(calls) == 1:
        per_layer, layers_skipped = mf.layer_outputs(K, model, inputs)
        arrays.update(per_layer)
    first = calls[0][1] if calls[0][1] is not None else inputs
    specs, skipped, failed = mf._try_formats(K, model, first, outputs,
                                              _formats(mf, K, writer, kinds, custom), folder,
                                              True, calls[0][2])
    if "ckpt_dir" in kinds:
        specs.append({"json": "model.json", "weights": "checkpoints"})
        reloaded = K.models.model_from_json((folder / "model.json").read_text())
        latest = tf.train.latest_checkpoint(str(folder / "checkpoints"))
        reloaded.load_weights(latest)
        for want, got in zip(outputs, mf._predict(reloaded, first)):
            assert np.max(np.abs(want - got)) <= mf.RELOAD_TOL
    if "sm_legacy" in kinds:
        n = _move_metadata(folder / "saved_model", folder / "saved_model_legacy_metadata")
        got = mf._predict(K.models.load_model(str(folder / "saved_model_legacy_metadata"),
                                              compile=False), first)
        for want, g in zip(outputs, got):
            assert np.max(np.abs(want - g)) <= mf.RELOAD_TOL
        specs.append({"path": "saved_model_legacy_metadata"})
        print(f"  moved the metadata of {n} objects into saved_model.pb; tf-keras loads it")
    if not specs:
        raise RuntimeError(f"{name}: {writer} could not save any format")
    np.savez_compressed(folder / "io.npz", **arrays)
    note = (NOTES.get(name) or mf.CASES[name].note) + NOTE_SUFFIX.get(name, "")
    case_json = {"load": specs[0], "also_load": specs[1:], "calls": call_names, "tol": TOL,
                 "keras": version, "tensorflow": tf.__version__, "writer": writer,
                 "reference": _reference(tf, version, writer), "note": note}
    if custom:
        case_json["custom_layers"] = True
    if "sm_legacy" in kinds:
        case_json["synthesized"] = ("saved_model_legacy_metadata/ is saved_model/ with the "
                                    "metadata of keras_metadata.pb moved into saved_model.pb "
                                    "(tf.keras < 2.5 layout) by this tool; tf-keras loads "
                                    "it and gives the recorded outputs")
    for key, value in (("skipped_formats", skipped), ("reload_failed", failed),
                       ("layers_skipped", layers_skipped)):
        if value:
            case_json[key] = value
    # a format Keras itself reloads with other outputs is kept (the recorded outputs are the
    # in-memory model's, which kerasrnn_infer must give); one it cannot save or load is not
    errors = {k: v for k, v in failed.items() if " reloads it with output " not in v}
    if errors or skipped:
        raise RuntimeError(f"{name} / {writer}: {skipped or errors}")
    (folder / "case.json").write_text(json.dumps(case_json, indent=1) + "\n")
    return case_json


def write_refused(mf, tf, K, out: Path):
    """Files that must be refused: a subclassed model and a bare tf.Module SavedModel."""
    L = K.layers
    base = out / "_refused"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)

    class Forecaster(K.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = L.SimpleRNN(2, name="encoder")
            self.head = L.Dense(1, name="head")

        def call(self, x):
            return self.head(self.encoder(x))

        def get_config(self):
            return {"name": self.name}

    m = Forecaster()
    m(np.zeros((1, 3, 2), np.float32))
    # untraced (traces would add 0.2 MB): the refusal does not depend on them
    m.save(str(base / "subclassed_saved_model"), save_traces=False)

    class Scale(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.ones(3, np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            return x * self.w

    tf.saved_model.save(Scale(), str(base / "bare_tf_module"))
    (base / "README.md").write_text(
        "Written by tools/make_tf_fixtures.py (tf-keras 2.21): SavedModels kerasrnn_infer "
        "must refuse, checked by tests/test_tf_formats.py. subclassed_saved_model/: a "
        "subclassed keras.Model (layers encoder: SimpleRNN, head: Dense); bare_tf_module/: "
        "tf.saved_model.save of a tf.Module (no Keras metadata).\n")


def worker(args) -> int:
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import make_fixtures as mf
    writer = args.worker
    tf, K, version = _keras(writer)
    own, custom = _builders(mf, K, tf, writer)
    out = Path(args.out)
    for name in [c for c in args.only.split(",") if c]:
        kinds = PLAN[name][writer]
        builder = own.get(name) or mf.CASES[name]
        folder = out / f"{name}__{writer}"
        shutil.rmtree(folder, ignore_errors=True)
        print(f"{name} / {writer}: {', '.join(kinds)}", flush=True)
        save_tf_case(mf, tf, K, version, writer, name, builder, kinds,
                     custom if name == "custom_attention" else None, folder)
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"  {size / 1024:.0f} KB", flush=True)
    if args.refused:
        write_refused(mf, tf, K, out)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--writers", help=f"comma-separated writers ({', '.join(WRITERS)})")
    ap.add_argument("--venvs", help="folder for the .venv-<writer> environments")
    ap.add_argument("--out", default=str(ROOT / "fixtures" / "tf"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--refused", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    return worker(args) if args.worker else parent(args)


if __name__ == "__main__":
    sys.exit(main())
