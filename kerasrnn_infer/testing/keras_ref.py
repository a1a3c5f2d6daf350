"""Real Keras as the reference: loading a file with Keras, running it, probing its layers.

The only module of kerasrnn_infer that uses TensorFlow/Keras, and only inside functions:
importing it imports neither. ``tools/make_fixtures.py`` uses the same probing helpers
(:func:`node_key`, :func:`graph_node_keys`, :func:`layer_output_tensors`, :func:`probe_layers`,
:func:`predict`, :func:`reset_states`), so the fixtures and ``verify`` see Keras the same way.

``K`` below is the Keras module in use: ``keras`` (Keras 3) or ``tf_keras`` (Keras 2).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ReferenceUnavailable
from .golden import Reference

__all__ = ["flatten", "graph_node_keys", "have_keras", "is_keras3", "keras_reference",
           "layer_output_tensors", "load_keras", "load_keras_origin", "node_key", "predict",
           "probe_layers", "reset_states"]


def _unavailable(message: str, kind: str, custom: bool = False) -> ReferenceUnavailable:
    """A ReferenceUnavailable with ``kind`` ("missing": no Keras installed, "load": no
    installed Keras loads the file, "run": Keras cannot run it) and ``custom`` (Keras failed
    on a class it does not know), so that callers add the advice that fits them."""
    e = ReferenceUnavailable(message)
    e.kind, e.custom = kind, custom          # type: ignore[attr-defined]
    return e


#: what Keras says about a class it does not know (tf_keras "Unknown layer: 'X'. Please
#: ensure you are using a custom_object_scope", Keras 3 "Could not locate class 'X'")
_UNKNOWN_CLASS = ("unknown layer", "could not locate class", "custom_object")


# ----- quiet TensorFlow ---------------------------------------------------------------------
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


# ----- loading ------------------------------------------------------------------------------
def have_keras() -> bool:
    import importlib.util
    return any(importlib.util.find_spec(m) is not None for m in ("keras", "tf_keras"))


def _is_zip(path):
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _import_keras(modname: str, errors: List[str]):
    """``keras`` or ``tf_keras`` imported quietly, or None with the reason added to
    ``errors`` (not installed, or a broken install)."""
    import importlib
    try:
        with _QuietStderr():
            return importlib.import_module(modname)
    except Exception as e:  # noqa: BLE001 - any failure means this Keras is unavailable
        errors.append(f"{modname}: cannot import ({type(e).__name__}: {e})")
        return None


def load_keras(path: str, custom_objects=None, keras_version: Optional[str] = None):
    """Load ``path`` with real Keras: Keras 3 ``keras.saving.load_model`` for ``.keras`` zips,
    tf_keras first then Keras 3 for legacy HDF5, tf_keras for SavedModel directories (Keras 3
    cannot load them as models). ``custom_objects``: a dict, or a function of the Keras module
    returning one. Returns ``(module, model)``; raises
    :class:`ReferenceUnavailable` when no Keras is installed or none can load the file."""
    if not have_keras():
        raise _unavailable("TensorFlow/Keras is not installed, so there is no real Keras to run "
                           "(pip install tensorflow tf-keras)", "missing")
    _quiet_tf()
    is_dir = os.path.isdir(path)
    is_zip = not is_dir and _is_zip(path)
    # .keras zips: Keras 3 (tf_keras as a fallback for its own zips); HDF5: tf_keras, then
    # Keras 3; SavedModel directories: tf_keras
    order = ["tf_keras"] if is_dir else ["keras", "tf_keras"] if is_zip else ["tf_keras", "keras"]
    errors: List[str] = []
    tmpdir = None
    try:
        for modname in order:
            K = _import_keras(modname, errors)
            if K is None:
                continue
            want_ext = ".keras" if is_zip else ".h5"
            p = path
            if not is_dir and not path.lower().endswith((want_ext, ".hdf5") if not is_zip
                                                        else (want_ext,)):
                if tmpdir is None:
                    tmpdir = tempfile.mkdtemp(prefix="kri-verify-")
                p = os.path.join(tmpdir, "model" + want_ext)
                shutil.copyfile(path, p)
            try:
                if modname == "keras":
                    m = K.saving.load_model(p, compile=False,
                                            custom_objects=_for_module(custom_objects, K))
                else:
                    m = K.models.load_model(p, compile=False,
                                            custom_objects=_for_module(custom_objects, K))
                return K, m
            except Exception as e:
                msg = " ".join(str(e).split())[:300]
                errors.append(f"{modname} {getattr(K, '__version__', '?')}: "
                              f"{type(e).__name__}: {msg}")
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    raise _cannot_load(path, keras_version, errors)


def _cannot_load(label: str, keras_version: Optional[str], errors: List[str]):
    written = f" (written by Keras {keras_version})" if keras_version else ""
    custom = any(k in e.lower() for e in errors for k in _UNKNOWN_CLASS)
    errors = [e.split(" Full config:")[0][:240] for e in errors]    # Keras 3 echoes the config
    return _unavailable(f"no installed Keras can load {label}{written}: " + "; ".join(errors),
                        "load", custom)


def _for_module(custom_objects, K):
    """Keras's custom objects for the Keras module ``K``: a dict, or a function of the module
    (``keras`` or ``tf_keras``) returning one, so one definition can serve both."""
    return custom_objects(K) if callable(custom_objects) else custom_objects


def _h5_suffix(path: str) -> str:
    """The file name ending Keras needs to read the weights file ``path``: ``.weights.h5``
    for a Keras 3 weights tree, ``.h5`` for a legacy save_weights file."""
    try:
        import h5py
        with h5py.File(path, "r") as f:
            return ".h5" if "layer_names" in f.attrs else ".weights.h5"
    except Exception:  # noqa: BLE001 - not HDF5: let Keras say what it is
        return ".h5"


def load_keras_origin(origin: dict, custom_objects=None, keras_version: Optional[str] = None):
    """Load with real Keras the model that ``origin`` names (``Model._origin``): ``{"path":
    file}`` (see :func:`load_keras`) or ``{"json": text}`` (``model_from_json``), either with
    ``"weights": file`` (then ``load_weights``). Returns ``(module, model)``."""
    if "json" not in origin:
        K, m = load_keras(origin["path"], custom_objects, keras_version)
        if origin.get("weights"):
            _load_weights(K, m, origin["weights"], origin["path"], keras_version)
        return K, m
    if not have_keras():
        load_keras("", custom_objects, keras_version)           # raises "missing"
    _quiet_tf()
    text = origin["json"]
    label = origin.get("label") or "the architecture JSON"
    keras3 = '"registered_name"' in text or '"__keras_tensor__"' in text or \
        str(keras_version or "").startswith("3")
    errors: List[str] = []
    for modname in (["keras", "tf_keras"] if keras3 else ["tf_keras", "keras"]):
        K = _import_keras(modname, errors)
        if K is None:
            continue
        try:
            m = K.models.model_from_json(text,
                                         custom_objects=_for_module(custom_objects, K))
            if origin.get("weights"):
                _load_weights(K, m, origin["weights"], label, keras_version)
            return K, m
        except ReferenceUnavailable as e:
            errors.append(f"{modname} {getattr(K, '__version__', '?')}: {e}")
        except Exception as e:
            msg = " ".join(str(e).split())[:300]
            errors.append(f"{modname} {getattr(K, '__version__', '?')}: "
                          f"{type(e).__name__}: {msg}")
    raise _cannot_load(label, keras_version, errors)


def _load_weights(K, m, weights: str, label: str, keras_version: Optional[str]) -> None:
    tmpdir = tempfile.mkdtemp(prefix="kri-verify-")
    try:
        p = os.path.join(tmpdir, "weights" + _h5_suffix(weights))
        shutil.copyfile(weights, p)
        try:
            m.load_weights(p)
        except Exception as e:
            msg = " ".join(str(e).split())[:300]
            raise _unavailable(f"{K.__name__} {getattr(K, '__version__', '?')} cannot load the "
                               f"weights {weights} into {label}: {type(e).__name__}: {msg}",
                               "load") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# ----- probing ------------------------------------------------------------------------------
def is_keras3(K) -> bool:
    return K.__name__ == "keras"


def flatten(x) -> list:
    """The leaves of nested lists, tuples and dicts, in Keras's order (``tree.flatten``,
    ``tf.nest.flatten``: a dict's values by sorted key), the order of ``model.outputs``."""
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in flatten(item)]
    if isinstance(x, dict):
        return [leaf for k in sorted(x, key=str) for leaf in flatten(x[k])]
    return [x]


def graph_node_keys(K, model):
    """Keys of the call nodes that make up ``model``'s own graph."""
    if is_keras3(K):
        graph = model._functional if isinstance(model, K.Sequential) else model
        return graph._nodes
    return model._network_nodes


def node_key(K, layer, node_index):
    """The key of ``layer``'s call number ``node_index`` in :func:`graph_node_keys`."""
    if is_keras3(K):
        from keras.src.ops.function import make_node_key
        return make_node_key(layer, node_index)
    # tf-keras and tf.keras 2.x (keras 2.12-2.15, whose engine lives elsewhere) share the rule
    # of engine/functional.py _make_node_key
    return f"{layer.name}_ib-{node_index}"


def layer_output_tensors(K, model, layer):
    """Symbolic outputs of ``layer`` in ``model`` (flat), or None if ``model`` calls it more
    than once (shared layers)."""
    keys = graph_node_keys(K, model)
    nodes = [node for i, node in enumerate(layer._inbound_nodes)
             if node_key(K, layer, i) in keys]
    if len(nodes) != 1:
        return None
    return flatten(nodes[0].outputs)


def _layer_output_tensors_lenient(K, model, layer):
    """:func:`layer_output_tensors`, falling back to the layer's own call nodes where Keras
    does not expose the model's node keys."""
    try:
        return layer_output_tensors(K, model, layer)
    except Exception:
        nodes = list(getattr(layer, "_inbound_nodes", []))
        return flatten(nodes[0].outputs) if len(nodes) == 1 else None


def reset_states(model) -> None:
    """Zero the states of stateful layers (Keras 3 models have no ``reset_states``)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def predict(model, inputs: Sequence[np.ndarray], batch_size=None) -> List[np.ndarray]:
    """``model.predict`` on the list ``inputs``, always returning a flat list of arrays.
    States of stateful layers carry over from earlier calls (see :func:`reset_states`)."""
    inputs = [_string_tensor(x) for x in inputs]
    x = inputs[0] if len(inputs) == 1 else list(inputs)
    return [_text_array(np.asarray(y))
            for y in flatten(model.predict(x, batch_size=batch_size, verbose=0))]


def _string_tensor(x):
    """String arrays as a ``tf.string`` tensor: Keras 3's ``predict`` refuses NumPy ``str``
    arrays ("Invalid dtype: str..."), tf-keras takes both."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
        import tensorflow as tf
        return tf.constant(x)
    return x


def _text_array(y: np.ndarray) -> np.ndarray:
    """TensorFlow's string outputs (object arrays of UTF-8 bytes) as NumPy ``str`` arrays,
    which ``.npz`` files hold without pickling."""
    if y.dtype.kind == "O" or y.dtype.kind == "S":
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else str(b),
                            otypes=[str])(y) if y.size else y.astype(str)
    return y


def probe_layers(K, model, inputs: Sequence[np.ndarray], batch_size=None,
                 strict: bool = True, jit_compile: bool = False
                 ) -> Tuple[Dict[str, List[np.ndarray]], List[str]]:
    """Outputs of each top-level layer of ``model`` on ``inputs``, from the sub-model
    ``Model(model.inputs, layer outputs)`` run from reset states: ``({layer name: [arrays]},
    skipped)``, where ``skipped`` names the layers called more than once (shared layers).
    ``jit_compile``: run the sub-model through XLA (what TensorFlow needs on CPU for
    channels_first convolutions; the maths is the same).

    ``strict=False`` (``verify``): where Keras cannot build or run the joint sub-model, one
    sub-model per layer, adding the layers that fail to ``skipped``."""
    tensors, slots, skipped = [], [], []
    for layer in model.layers:
        outs = (layer_output_tensors(K, model, layer) if strict
                else _layer_output_tensors_lenient(K, model, layer))
        if outs is None:
            skipped.append(layer.name)
            continue
        tensors.append(outs)
        slots.append(layer.name)

    def run(outs):
        probe = K.Model(model.inputs, outs)
        if jit_compile:
            probe.compile(jit_compile=True)
        reset_states(probe)
        return predict(probe, inputs, batch_size)

    layers: Dict[str, List[np.ndarray]] = {}
    try:
        flat = run([t for ts in tensors for t in ts])
    except Exception:
        if strict:
            raise
        for name, ts in zip(slots, tensors):     # one probe per layer, skipping failures
            try:
                layers[name] = run(ts)
            except Exception:
                skipped.append(name)
        return layers, skipped
    k = 0
    for name, ts in zip(slots, tensors):
        layers[name] = flat[k:k + len(ts)]
        k += len(ts)
    return layers, skipped


# ----- the reference ------------------------------------------------------------------------
def keras_reference(path, inputs: Sequence[np.ndarray], custom_objects=None,
                    keras_version: Optional[str] = None, per_layer: bool = True) -> Reference:
    """Run real Keras on ``inputs``: final outputs and per-layer outputs (sub-models
    ``Model(model.inputs, layer outputs)``; layers called more than once are skipped).
    ``path``: a model file, or an origin dict (:func:`load_keras_origin`)."""
    origin = path if isinstance(path, dict) else {"path": path}
    K, km = load_keras_origin(origin, custom_objects, keras_version)
    path = origin.get("label") or origin.get("path")
    inputs = [np.asarray(x) for x in inputs]
    fixed = None
    for layer in km.layers:
        if getattr(layer, "stateful", False):
            fixed = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else None
            break
    label = f"{'Keras' if is_keras3(K) else 'tf_keras'} {K.__version__}"
    try:
        reset_states(km)
        outputs = predict(km, inputs, fixed)
    except Exception as e:
        raise _unavailable(f"Keras ({label}) cannot run {path} on these inputs: "
                           f"{type(e).__name__}: {' '.join(str(e).split())[:300]}",
                           "run") from None
    layers: Dict[str, List[np.ndarray]] = {}
    skipped: List[str] = []
    if per_layer:
        layers, skipped = probe_layers(K, km, inputs, fixed, strict=False)
    return Reference(inputs, outputs, layers, skipped, label)
