"""The parity harness shared by ``kerasrnn-infer verify`` / ``golden`` and
:func:`kerasrnn_infer.testing.assert_matches_keras`.

- inputs: read from ``.npy`` / ``.npz`` / ``.json`` files or generated from the model's input
  specs (:func:`generate_inputs`);
- references: Keras's outputs, final and per layer, either recorded in a golden ``.npz``
  (same key layout as the fixtures' ``io.npz``: ``in/i``, ``call0/out/j``,
  ``layer/<name>/<j>``) or computed live by real Keras (:func:`keras_reference`, which imports
  TensorFlow lazily, only when called);
- comparison: :func:`compare` runs our model on the same inputs and builds a :class:`Report`
  with one row per layer (in model order) and per model output.

Nothing here imports TensorFlow or Keras at import time.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._util import as_list
from .errors import InputError, ReferenceUnavailable

DEFAULT_BATCH = 4
DEFAULT_STEPS = 8





# ======================================================================================
# Inputs
# ======================================================================================
def _embedding_consumers(model) -> Dict[int, Tuple[str, Any]]:
    """For each model input index, what it feeds directly: ("embedding", layer) or
    ("masking", layer), inside nested models too."""
    out: Dict[int, Tuple[str, Any]] = {}
    for i in range(len(model.inputs)):
        for layer in model._input_consumers(i):
            if layer.class_name == "Embedding":
                out[i] = ("embedding", layer)
                break
            if layer.class_name == "Masking" and i not in out:
                out[i] = ("masking", layer)
    return out


def generate_inputs(model, batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                    seed: int = 0) -> List[np.ndarray]:
    """Valid random inputs for ``model``, one array per input in model order.

    Floats ~ N(0, 0.5). Inputs feeding an Embedding get token ids inside its vocabulary; with
    ``mask_zero`` some rows end in padding zeros (every row keeps at least one token). Inputs
    feeding a Masking layer get some rows whose last steps equal its ``mask_value``. A fixed
    batch size in the specs wins over ``batch`` (default 4); unknown dimensions other than the
    batch are set to ``steps`` (default 8)."""
    rng = np.random.default_rng(seed)
    specs = model.inputs
    fixed = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
    if len(fixed) > 1:
        raise InputError(f"cannot generate inputs: the inputs have different fixed batch sizes "
                         f"{sorted(fixed)}; pass inputs from a file")
    b = fixed.pop() if fixed else (batch or DEFAULT_BATCH)
    feeds = _embedding_consumers(model)
    out = []
    for i, spec in enumerate(specs):
        if spec.shape is None:
            raise InputError(f"cannot generate inputs: input {spec.name!r} has no recorded shape; "
                             f"pass inputs from a file (--input)")
        shape = (b,) + tuple(steps if d is None else d for d in spec.shape[1:])
        dtype = np.dtype(spec.dtype)
        kind, layer = feeds.get(i, (None, None))
        if kind == "embedding" or dtype.kind in "iub":
            vocab = int(getattr(layer, "input_dim", 0) or 10)
            mask_zero = bool(getattr(layer, "mask_zero", False))
            lo = 1 if mask_zero and vocab > 1 else 0
            x = rng.integers(lo, max(vocab, lo + 1), size=shape)
            if mask_zero and len(shape) >= 2 and shape[1] > 1:
                t = shape[1]
                for r in range(1, b, 2):                 # odd rows: padded at the end
                    keep = int(rng.integers(max(1, t // 3), t))
                    x[r, keep:] = 0
            if dtype.kind == "b":
                x = x % 2
            out.append(x.astype(dtype))
            continue
        x = rng.normal(0.0, 0.5, size=shape)
        if kind == "masking" and len(shape) >= 3 and shape[1] > 1:
            t = shape[1]
            for r in range(1, b, 2):
                keep = int(rng.integers(max(1, t // 3), t))
                x[r, keep:] = layer.mask_value
        out.append(x.astype(dtype if dtype.kind == "f" else np.float32))
    return out


def _from_json_value(value, model, source) -> List[np.ndarray]:
    specs = model.inputs
    names = [s.name for s in specs]
    if isinstance(value, dict) and set(value) == {"inputs"}:
        value = value["inputs"]
    try:
        if isinstance(value, dict):
            return arrays_in_model_order({k: np.asarray(v) for k, v in value.items()},
                                         model, source)
        if isinstance(value, list):
            if len(specs) > 1:
                if len(value) != len(specs):
                    raise InputError(f"{source}: the model has {len(specs)} inputs ({names}); "
                                     f"give a list of {len(specs)} arrays or an object by name")
                return [np.asarray(v) for v in value]
            return [np.asarray(value)]
    except ValueError as e:          # ragged nested lists
        raise InputError(f"{source}: the arrays are not rectangular: {e}") from None
    raise InputError(f"{source}: expected a JSON array (one input), a list of arrays or an "
                     f"object mapping input names {names} to arrays")


def arrays_in_model_order(arrays: Dict[str, np.ndarray], model, source="inputs"):
    """Arrays keyed by input name, ``in/<i>``, ``arr_<i>`` or (count permitting) file order."""
    specs = model.inputs
    names = [s.name for s in specs]
    keys = list(arrays)
    if all(n in arrays for n in names):
        extra = [k for k in keys if k not in names]
        if extra and not all(k.startswith(("call", "layer/", "in/", "meta/")) for k in extra):
            raise InputError(f"{source}: arrays {extra} are not model inputs ({names})")
        return [arrays[n] for n in names]
    for prefix in ("in/", "arr_"):
        if all(f"{prefix}{i}" in arrays for i in range(len(specs))):
            n = sum(1 for k in keys if k.startswith(prefix))
            if n != len(specs):
                raise InputError(f"{source}: {n} arrays {prefix}0..{prefix}{n - 1}, but the "
                                 f"model has {len(specs)} inputs ({', '.join(names)})")
            return [arrays[f"{prefix}{i}"] for i in range(len(specs))]
    if len(keys) == len(specs) and not any(k.startswith(("call", "layer/")) for k in keys):
        return [arrays[k] for k in keys]
    raise InputError(f"{source}: cannot match arrays {keys[:10]} to the model inputs {names}; "
                     f"name them after the inputs (or in/0, in/1, ...)")


def read_inputs(path: str, model, stdin=None) -> List[np.ndarray]:
    """Inputs for ``model`` from ``.npy``, ``.npz``, ``.json`` or ``-`` (JSON on stdin)."""
    if path == "-":
        text = (stdin or sys.stdin).read()
        try:
            value = json.loads(text)
        except ValueError as e:
            raise InputError(f"<stdin>: not valid JSON: {e}") from None
        return _from_json_value(value, model, "<stdin>")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".json":
            with open(path) as f:
                value = json.load(f)
            return _from_json_value(value, model, path)
        if ext == ".npy":
            arr = np.load(path, allow_pickle=False)
            if len(model.inputs) != 1:
                raise InputError(f"{path}: one array, but the model has {len(model.inputs)} "
                                 f"inputs ({', '.join(s.name for s in model.inputs)}); use an "
                                 f".npz with one array per input")
            return [arr]
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return arrays_in_model_order(arrays, model, path)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    raise InputError(f"{path}: unknown input file type {ext!r}; use .npy, .npz, .json or - "
                     f"(JSON on stdin)")


def coerce_inputs(x, model) -> List[np.ndarray]:
    """User inputs (array, list, dict, or a file path) as a list in model order."""
    if isinstance(x, (str, os.PathLike)):
        return read_inputs(os.fspath(x), model)
    if isinstance(x, dict):
        return arrays_in_model_order({k: np.asarray(v) for k, v in x.items()}, model)
    if isinstance(x, (list, tuple)) and len(model.inputs) > 1:
        return [np.asarray(v) for v in x]
    return [np.asarray(x)]


def output_keys(model) -> List[str]:
    """Names for the model outputs (``Model.output_names``)."""
    return list(model.output_names)


# ======================================================================================
# Golden files
# ======================================================================================
@dataclass
class Reference:
    """Keras's numbers for one set of inputs."""
    inputs: List[np.ndarray]
    outputs: List[np.ndarray]
    layers: Dict[str, List[np.ndarray]] = field(default_factory=dict)
    skipped: List[str] = field(default_factory=list)      # layers Keras could not probe
    source: str = ""


def write_golden(path: str, ref: Reference) -> None:
    arrays = {f"in/{i}": np.asarray(x) for i, x in enumerate(ref.inputs)}
    arrays.update({f"call0/out/{j}": np.asarray(y) for j, y in enumerate(ref.outputs)})
    for name, outs in ref.layers.items():
        arrays.update({f"layer/{name}/{j}": np.asarray(y) for j, y in enumerate(outs)})
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_golden(path: str) -> Reference:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such golden file")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a golden .npz file: {e}") from None
    if not hasattr(z, "files"):
        raise InputError(f"{path}: holds one array, not a golden .npz (keys in/i, call0/out/j, "
                         f"layer/<name>/<j>); record one with 'kerasrnn-infer golden'")
    with z:
        arrays = {k: z[k] for k in z.files}
    n_in = sum(1 for k in arrays if k.startswith("in/"))
    n_out = sum(1 for k in arrays if k.startswith("call0/out/"))
    if n_out == 0:
        raise InputError(f"{path}: holds no reference outputs (call0/out/0, ...); record one "
                         f"with 'kerasrnn-infer golden MODEL --out FILE'")
    try:
        inputs = [arrays[f"in/{i}"] for i in range(n_in)]
        outputs = [arrays[f"call0/out/{j}"] for j in range(n_out)]
    except KeyError as e:
        raise InputError(f"{path}: array {e} is missing (keys must be numbered from 0)") from None
    layers: Dict[str, Dict[int, np.ndarray]] = {}
    for k, v in arrays.items():
        if k.startswith("layer/"):
            name, j = k[len("layer/"):].rsplit("/", 1)
            layers.setdefault(name, {})[int(j)] = v
    return Reference(inputs, outputs,
                     {n: [d[j] for j in sorted(d)] for n, d in layers.items()}, [], path)


# ======================================================================================
# Real Keras (lazy TensorFlow import)
# ======================================================================================
def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings
    warnings.filterwarnings("ignore", module=r"(keras|tf_keras|tensorflow|absl)(\.|$)")
    for name in ("absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _QuietStderr:
    """Silence file descriptor 2 while TensorFlow's native libraries load (they print oneDNN
    and CUDA notices there, whatever TF_CPP_MIN_LOG_LEVEL says). Python exceptions still
    propagate; KERASRNN_INFER_TF_LOGS=1 keeps the notices."""

    def __enter__(self):
        self.saved = None
        if os.environ.get("KERASRNN_INFER_TF_LOGS"):
            return self
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


def have_keras() -> bool:
    import importlib.util
    return any(importlib.util.find_spec(m) is not None for m in ("keras", "tf_keras"))


def _is_zip(path):
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def load_keras(path: str, custom_objects=None, keras_version: Optional[str] = None):
    """Load ``path`` with real Keras: Keras 3 ``keras.saving.load_model`` for ``.keras`` zips,
    tf_keras first then Keras 3 for legacy HDF5. Returns ``(module, model)``."""
    import importlib
    if not have_keras():
        raise ReferenceUnavailable("TensorFlow/Keras is not installed; verify needs it to run "
                                   "Keras (pip install tensorflow tf-keras), or pass --golden "
                                   "FILE recorded with 'kerasrnn-infer golden'")
    _quiet_tf()
    is_zip = _is_zip(path)
    # .keras zips: Keras 3 (tf_keras as a fallback for its own zips); HDF5: tf_keras, then Keras 3
    order = ["keras", "tf_keras"] if is_zip else ["tf_keras", "keras"]
    errors = []
    tmpdir = None
    try:
        for modname in order:
            try:
                with _QuietStderr():
                    K = importlib.import_module(modname)
            except Exception as e:  # not installed or broken install
                errors.append(f"{modname}: cannot import ({type(e).__name__}: {e})")
                continue
            want_ext = ".keras" if is_zip else ".h5"
            p = path
            if not path.lower().endswith((want_ext, ".hdf5") if not is_zip else (want_ext,)):
                if tmpdir is None:
                    tmpdir = tempfile.mkdtemp(prefix="kri-verify-")
                p = os.path.join(tmpdir, "model" + want_ext)
                shutil.copyfile(path, p)
            try:
                if modname == "keras":
                    m = K.saving.load_model(p, compile=False, custom_objects=custom_objects)
                else:
                    m = K.models.load_model(p, compile=False, custom_objects=custom_objects)
                return K, m
            except Exception as e:
                msg = " ".join(str(e).split())[:300]
                errors.append(f"{modname} {getattr(K, '__version__', '?')}: "
                              f"{type(e).__name__}: {msg}")
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    raise ReferenceUnavailable(f"Keras cannot load {path}: " + "; ".join(errors))


def _is_keras3(K):
    return K.__name__ == "keras"


def _flatten(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flatten(item)]
    if isinstance(x, dict):
        return [leaf for item in x.values() for leaf in _flatten(item)]
    return [x]


def _graph_node_keys(K, model):
    if _is_keras3(K):
        graph = model._functional if K.__name__ == "keras" and \
            isinstance(model, K.Sequential) else model
        return graph._nodes
    return model._network_nodes


def _node_key(K, layer, i):
    if _is_keras3(K):
        from keras.src.ops.function import make_node_key
        return make_node_key(layer, i)
    from tf_keras.src.engine.functional import _make_node_key
    return _make_node_key(layer.name, i)


def _layer_tensors(K, model, layer):
    """Symbolic outputs of ``layer`` in ``model``, or None if it is called there more than
    once (shared layers) or Keras does not expose them."""
    try:
        keys = _graph_node_keys(K, model)
        nodes = [n for i, n in enumerate(layer._inbound_nodes) if _node_key(K, layer, i) in keys]
    except Exception:
        nodes = list(getattr(layer, "_inbound_nodes", []))
    if len(nodes) != 1:
        return None
    return _flatten(nodes[0].outputs)


def _reset(model):
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def _keras_predict(model, inputs, batch_size):
    _reset(model)
    x = inputs[0] if len(inputs) == 1 else list(inputs)
    return [np.asarray(y) for y in _flatten(model.predict(x, batch_size=batch_size, verbose=0))]


def keras_reference(path: str, inputs: Sequence[np.ndarray], custom_objects=None,
                    keras_version: Optional[str] = None, per_layer: bool = True) -> Reference:
    """Run real Keras on ``inputs``: final outputs and per-layer outputs (sub-models
    ``Model(model.inputs, layer outputs)``; layers called more than once are skipped)."""
    K, km = load_keras(path, custom_objects, keras_version)
    inputs = [np.asarray(x) for x in inputs]
    fixed = None
    for layer in km.layers:
        if getattr(layer, "stateful", False):
            fixed = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else None
            break
    label = f"{'Keras' if _is_keras3(K) else 'tf_keras'} {K.__version__}"
    try:
        outputs = _keras_predict(km, inputs, fixed)
    except Exception as e:
        raise ReferenceUnavailable(f"Keras ({label}) cannot run {path} on these inputs: "
                                   f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
    layers: Dict[str, List[np.ndarray]] = {}
    skipped: List[str] = []
    if per_layer:
        tensors, slots = [], []
        for layer in km.layers:
            outs = _layer_tensors(K, km, layer)
            if outs is None:
                skipped.append(layer.name)
                continue
            tensors.append(outs)
            slots.append(layer.name)
        try:
            probe = K.Model(km.inputs, [t for ts in tensors for t in ts])
            flat = _keras_predict(probe, inputs, fixed)
            k = 0
            for name, ts in zip(slots, tensors):
                layers[name] = flat[k:k + len(ts)]
                k += len(ts)
        except Exception:   # one probe per layer, skipping those Keras cannot build
            for name, ts in zip(slots, tensors):
                try:
                    layers[name] = _keras_predict(K.Model(km.inputs, ts), inputs, fixed)
                except Exception:
                    skipped.append(name)
    return Reference(inputs, outputs, layers, skipped, label)


# ======================================================================================
# Comparison
# ======================================================================================
@dataclass
class Row:
    name: str
    class_name: str
    shape: str
    abs_err: Optional[float]
    rel_err: Optional[float]
    status: str                 # PASS, FAIL or SKIP
    note: str = ""
    kind: str = "layer"         # "layer" or "output"


@dataclass
class Report:
    rows: List[Row]
    atol: float
    rtol: float
    reference: str = ""
    model: str = ""

    @property
    def passed(self) -> bool:
        return all(r.status != "FAIL" for r in self.rows)

    @property
    def first_divergence(self) -> Optional[str]:
        for kind in ("layer", "output"):
            for r in self.rows:
                if r.kind == kind and r.status == "FAIL":
                    return r.name
        return None

    @property
    def max_abs_err(self) -> float:
        vals = [r.abs_err for r in self.rows if r.abs_err is not None and np.isfinite(r.abs_err)]
        return max(vals) if vals else 0.0

    def table(self) -> str:
        head = ("layer", "class", "output shape", "max abs err", "max rel err", "result")
        body = []
        for r in self.rows:
            body.append((r.name, r.class_name, r.shape, _fmt(r.abs_err), _fmt(r.rel_err),
                         r.status + (f" ({r.note})" if r.note else "")))
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        rule = "  ".join("-" * w for w in widths)
        lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip(), rule]
        split = False
        for r, cells in zip(self.rows, body):
            if r.kind == "output" and not split:
                lines.append(rule)
                split = True
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        return "\n".join(lines)

    def summary(self) -> str:
        n_fail = sum(r.status == "FAIL" for r in self.rows)
        n_pass = sum(r.status == "PASS" for r in self.rows)
        n_skip = sum(r.status == "SKIP" for r in self.rows)
        tol = f"atol={self.atol:g}, rtol={self.rtol:g}"
        if self.passed:
            return (f"PASS: {n_pass} compared, {n_skip} skipped; max abs err "
                    f"{self.max_abs_err:.3g} ({tol}) vs {self.reference}")
        return (f"FAIL: {n_fail} of {n_pass + n_fail} differ ({tol}) vs {self.reference}; "
                f"first divergence: {self.first_divergence}")

    def text(self) -> str:
        return f"{self.table()}\n{self.summary()}"

    def to_dict(self) -> dict:
        return {"passed": self.passed, "first_divergence": self.first_divergence,
                "atol": self.atol, "rtol": self.rtol, "reference": self.reference,
                "model": self.model, "max_abs_err": self.max_abs_err,
                "rows": [r.__dict__ for r in self.rows]}


def _fmt(v):
    if v is None:
        return "-"
    if not np.isfinite(v):
        return str(v)
    return f"{v:.3g}" if v else "0"


def _shape_text(shapes):
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if len(shapes) == 1:
        return str(shapes[0])
    return "[" + ", ".join(str(s) for s in shapes) + "]"


def compare_arrays(got, want, atol, rtol) -> Tuple[Optional[float], Optional[float], bool, str]:
    """(max abs err, max rel err, ok, note). Relative error is taken over elements with
    ``|want| > atol``; a pass means ``|got - want| <= atol + rtol * |want|`` everywhere and
    the same NaN pattern."""
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return None, None, False, f"shape {got.shape}, Keras gives {want.shape}"
    if got.dtype.kind not in "fiub" or want.dtype.kind not in "fiub":
        return None, None, False, f"non-numeric output ({got.dtype} vs {want.dtype})"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if not np.array_equal(nan_g, nan_w):
        return float("nan"), float("nan"), False, "NaN pattern differs"
    ok_mask = ~nan_w
    if not ok_mask.any():
        return 0.0, 0.0, True, ""
    d = np.abs(g[ok_mask] - w[ok_mask])
    aw = np.abs(w[ok_mask])
    with np.errstate(invalid="ignore", over="ignore"):
        inf_eq = (g[ok_mask] == w[ok_mask])
        d = np.where(inf_eq, 0.0, d)
        abs_err = float(d.max()) if d.size else 0.0
        big = aw > atol
        rel_err = float((d[big] / aw[big]).max()) if big.any() else 0.0
        ok = bool(np.all(d <= atol + rtol * aw))
    return abs_err, rel_err, ok, ""


def _compare_lists(gots, wants, atol, rtol):
    if len(gots) != len(wants):
        return None, None, False, f"{len(gots)} outputs, Keras gives {len(wants)}"
    worst_a, worst_r, ok_all, notes = 0.0, 0.0, True, []
    for j, (g, w) in enumerate(zip(gots, wants)):
        a, r, ok, note = compare_arrays(g, w, atol, rtol)
        if note:
            notes.append(note if len(wants) == 1 else f"output {j}: {note}")
        ok_all &= ok
        if a is None:
            worst_a = worst_r = None
        elif worst_a is not None:
            worst_a = max(worst_a, a) if np.isfinite(a) else a
            worst_r = max(worst_r, r) if np.isfinite(r) else r
    return worst_a, worst_r, ok_all, "; ".join(notes)


def compare(model, ref: Reference, atol: float = 1e-5, rtol: float = 1e-5,
            inputs: Optional[Sequence[np.ndarray]] = None, check_layers: bool = True) -> Report:
    """Run ``model`` on ``ref.inputs`` (or ``inputs``) and compare with the reference: one row
    per top-level layer (model order) that the reference has, then one per model output."""
    xs = list(ref.inputs if inputs is None else inputs)
    if not xs:
        raise InputError(f"{ref.source or 'reference'}: holds no inputs (in/0, ...)")
    feed = xs if len(xs) > 1 else xs[0]
    model.reset_states()
    fixed = None
    if model.stateful and xs[0].ndim:
        fixed = model.inputs[0].shape[0] if model.inputs[0].shape else None
    got_out = as_list(model.predict(feed, batch_size=fixed))
    rows: List[Row] = []
    if check_layers:
        model.reset_states()
        got_layers = model.layer_outputs(feed) if ref.layers else {}
        model.reset_states()
        ours = {l.name: l for l in model.layers}
        for l in model.layers:
            if l.name not in ref.layers:
                note = "called more than once, not probed" \
                    if l.name in ref.skipped else "no reference"
                rows.append(Row(l.name, l.class_name, "", None, None, "SKIP", note))
                continue
            want = ref.layers[l.name]
            if l.name not in got_layers:
                rows.append(Row(l.name, l.class_name, _shape_text([w.shape for w in want]),
                                None, None, "FAIL", "no output from kerasrnn_infer"))
                continue
            a, r, ok, note = _compare_lists(as_list(got_layers[l.name]), want, atol, rtol)
            rows.append(Row(l.name, l.class_name, _shape_text([w.shape for w in want]), a, r,
                            "PASS" if ok else "FAIL", note))
        for name in ref.layers:
            if name not in ours:
                rows.append(Row(name, "?", _shape_text([w.shape for w in ref.layers[name]]),
                                None, None, "FAIL", "the model has no layer of this name"))
    keys = output_keys(model)
    n = max(len(got_out), len(ref.outputs))
    for j in range(n):
        label = f"output {j}" + (f" ({keys[j]})" if j < len(keys) else "")
        if j >= len(got_out) or j >= len(ref.outputs):
            rows.append(Row(label, "", "", None, None, "FAIL",
                            f"kerasrnn_infer gives {len(got_out)} outputs, Keras "
                            f"{len(ref.outputs)}", "output"))
            continue
        a, r, ok, note = compare_arrays(got_out[j], ref.outputs[j], atol, rtol)
        rows.append(Row(label, "", _shape_text([np.shape(ref.outputs[j])]), a, r,
                        "PASS" if ok else "FAIL", note, "output"))
    return Report(rows, atol, rtol, ref.source, "")
