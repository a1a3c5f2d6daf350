"""Parity checks for your CI: does kerasrnn_infer give Keras's numbers for *your* model?

    from kerasrnn_infer.testing import assert_matches_keras

    def test_my_model_runs_without_tensorflow():
        assert_matches_keras("model.keras", golden="tests/model_golden.npz")

With TensorFlow installed, ``assert_matches_keras(path)`` runs the real Keras model live on the
same inputs; without it, pass a golden file recorded once with
``kerasrnn-infer golden model.keras --out model_golden.npz`` (where TensorFlow is installed).
The model is a file path, a ``(architecture JSON, weights file)`` pair, or a ``Model`` this
library loaded (real Keras reads the file(s) it came from). Importing this package never
imports TensorFlow or Keras.

The parts: :mod:`.inputs` (generated inputs), :mod:`.golden` (golden files), :mod:`.keras_ref`
(real Keras, imported lazily), :mod:`.compare` (the per-layer report). The command line's
``verify`` and ``golden`` run :func:`compare_model_with_keras` and :func:`record_model_golden`,
the functions behind :func:`compare_with_keras` and :func:`record_golden`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ..arrays_io import coerce_inputs
from ..errors import ArgumentError, ReferenceUnavailable
from ..model import Model, load_model, model_from_json
from .compare import Report, compare, default_tolerance
from .golden import Reference, check_fits, read_golden, write_golden
from .inputs import DEFAULT_STEPS, generate_inputs
from .keras_ref import keras_reference

__all__ = ["assert_matches_keras", "compare_with_keras", "default_tolerance", "Report",
           "ReferenceUnavailable", "generate_inputs", "read_golden", "record_golden"]

#: what the functions below take as the model: a file, (architecture JSON, weights), a Model
ModelLike = Union[str, "os.PathLike[str]", Tuple[Any, Any], Model]


class GoldenHoldsInputs(ValueError):
    """Inputs were passed together with a golden file that holds its own."""


def _inputs(model, inputs, batch, steps, seed) -> List[np.ndarray]:
    return (generate_inputs(model, batch, steps, seed) if inputs is None
            else coerce_inputs(inputs, model))


def resolve_model(model: ModelLike, custom_objects=None, keras_version=None
                  ) -> Tuple[Model, str]:
    """``(Model, label)`` for a file path, an ``(architecture JSON, weights file)`` pair (the
    JSON as a path or as text) or a ``Model`` (returned as it is)."""
    if isinstance(model, Model):
        o = model._origin
        label = o.get("label") or o.get("path") or f"model {model.name!r}"
        return model, label
    if isinstance(model, (tuple, list)):
        if len(model) != 2:
            raise ArgumentError(f"expected a model file, an (architecture JSON, weights file) "
                                f"pair or a Model; received a sequence of {len(model)}")
        arch, weights = model
        arch_s = os.fspath(arch) if isinstance(arch, os.PathLike) else arch
        if isinstance(arch_s, str) and not arch_s.lstrip().startswith(("{", "[")):
            with open(arch_s, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            label = f"{arch_s} + {os.fspath(weights)}"
            cli = f"{os.fspath(weights)} --architecture {arch_s}"
        else:
            text = arch_s if isinstance(arch_s, str) else bytes(arch_s).decode("utf-8")
            label = f"<json> + {os.fspath(weights)}"
            cli = f"{os.fspath(weights)} --architecture ARCHITECTURE.json"
        m = model_from_json(text, custom_objects=custom_objects, keras_version=keras_version)
        m.load_weights(weights)
        m._origin.update(label=label, cli=cli)
        return m, label
    path = os.fspath(model)
    return load_model(path, custom_objects=custom_objects, keras_version=keras_version), path


def _fill_tolerance(model, atol, rtol) -> Tuple[float, float, str]:
    d_atol, d_rtol, why = default_tolerance(model)
    if atol is None and rtol is None:
        return d_atol, d_rtol, why
    return (d_atol if atol is None else atol), (d_rtol if rtol is None else rtol), \
        ("given" if atol is not None and rtol is not None else "given; the other " + why)


def _live_reference(model, label, xs, keras_custom_objects, purpose: str) -> Reference:
    """Keras's numbers for ``xs``, or ReferenceUnavailable saying what to do instead."""
    origin = dict(model._origin)
    if not origin.get("path") and not origin.get("json"):
        raise ReferenceUnavailable(f"{label}: loaded from bytes or a file object, so there is "
                                   f"no file real Keras could read; pass the model's file "
                                   f"path (or golden=)")
    origin.setdefault("label", label)
    try:
        return keras_reference(origin, xs, keras_custom_objects, model.keras_version)
    except ReferenceUnavailable as e:
        raise ReferenceUnavailable(f"{e}{_advice(e, label, model, purpose)}") from None


def _advice(e, label, model, purpose: str) -> str:
    kind, custom = getattr(e, "kind", ""), getattr(e, "custom", False)
    label = model._origin.get("cli") or label          # as the command line names it
    if purpose == "golden":
        if kind == "missing":
            return ("; 'golden' records real Keras's outputs, so run it where TensorFlow is "
                    "installed")
        tail = ("Keras needs the custom layers' classes: keras_custom_objects= in Python, "
                "KERAS_CUSTOM_OBJECTS in the --custom module (or --keras-custom) on the "
                "command line" if custom else
                f"run 'golden' where a Keras that reads files written by Keras "
                f"{model.keras_version} is installed")
        return f". {tail}"
    golden = (f"record a golden file where a Keras that reads it is installed "
              f"('kerasrnn-infer golden {label} --out golden.npz'), then compare with it "
              f"without live Keras ('kerasrnn-infer verify {label} --golden golden.npz', or "
              f"golden= in Python)")
    if kind == "missing":
        return f"; to check without TensorFlow, {golden} (option --golden)"
    if custom:
        return (". Keras needs the custom layers' classes: keras_custom_objects= in Python, "
                "KERAS_CUSTOM_OBJECTS in the --custom module (or --keras-custom) on the "
                f"command line; or {golden}")
    if kind == "load":
        return f". {golden[0].upper()}{golden[1:]}"
    return ""


def compare_model_with_keras(model, model_path=None, inputs=None, golden=None,
                             atol: Optional[float] = None, rtol: Optional[float] = None,
                             keras_custom_objects: Optional[Dict[str, Any]] = None,
                             batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                             seed: int = 0) -> Report:
    """:func:`compare_with_keras` for a model already loaded by this library (real Keras
    reads the file(s) it was loaded from; ``model_path`` names it in messages). Raises
    :class:`GoldenHoldsInputs` (a ``ValueError``) when ``inputs`` are passed with a golden
    file that holds its own, and :class:`InputError` when the golden file does not fit the
    model."""
    label = os.fspath(model_path) if model_path is not None else resolve_model(model)[1]
    atol, rtol, why = _fill_tolerance(model, atol, rtol)
    if golden is not None:
        golden = os.fspath(golden)
        ref = read_golden(golden)
        check_fits(model, ref, label)
        xs = None
        if inputs is not None:
            if ref.inputs:
                raise GoldenHoldsInputs(f"{golden}: the golden file holds its own inputs; do "
                                        f"not pass inputs as well")
            xs = coerce_inputs(inputs, model)
        report = compare(model, ref, atol, rtol, inputs=xs)
    else:
        xs = _inputs(model, inputs, batch, steps, seed)
        ref = _live_reference(model, label, xs, keras_custom_objects, "verify")
        report = compare(model, ref, atol, rtol)
    report.model = label
    report.tolerance = why
    return report


def record_model_golden(model, model_path, out, inputs=None,
                        keras_custom_objects: Optional[Dict[str, Any]] = None,
                        batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                        seed: int = 0) -> Reference:
    """:func:`record_golden` for a model already loaded by this library; our model gives the
    input specs of generated inputs, and its input and output names go in the file
    (``meta/*``)."""
    label = os.fspath(model_path) if model_path is not None else resolve_model(model)[1]
    xs = _inputs(model, inputs, batch, steps, seed)
    ref = _live_reference(model, label, xs, keras_custom_objects, "golden")
    ref.meta = {"model": [os.path.basename(label)], "input_names": list(model.input_names),
                "output_names": list(model.output_names)}
    write_golden(os.fspath(out), ref)
    return ref


def compare_with_keras(model: ModelLike, inputs=None, golden=None,
                       atol: Optional[float] = None, rtol: Optional[float] = None,
                       custom_objects: Optional[Dict[str, Callable]] = None,
                       keras_custom_objects: Optional[Dict[str, Any]] = None,
                       keras_version: Optional[str] = None, batch: Optional[int] = None,
                       steps: int = DEFAULT_STEPS, seed: int = 0) -> Report:
    """Compare kerasrnn_infer with Keras on ``model`` and return the :class:`Report`
    (per-layer table, ``passed``, ``first_divergence``) without raising on a mismatch.

    ``model``: a model file, an ``(architecture JSON, weights file)`` pair (``model_from_json``
    then ``load_weights``; the JSON as a path or text), or a ``Model`` loaded by this library
    (real Keras reads the file(s) it was loaded from; with ``golden`` no file is needed).
    ``golden``: an ``.npz`` recorded by ``kerasrnn-infer golden`` (or a fixture's ``io.npz``);
    its inputs are used, and a golden file of another model is refused naming both. Otherwise
    real Keras runs live (needs TensorFlow) on ``inputs`` (array, list in input order, dict by
    input name, or a ``.npy``/``.npz``/``.json`` path), generated from the model's input specs
    when None. ``atol``/``rtol``: None picks them from the model's compute dtype
    (:func:`default_tolerance`: 1e-5 for float32, 2e-3 for float16 / mixed_float16).
    ``custom_objects`` go to our loader (NumPy factories), ``keras_custom_objects`` to
    Keras's (the Keras layer classes, as ``keras.models.load_model(custom_objects=...)``)."""
    m, label = resolve_model(model, custom_objects, keras_version)
    return compare_model_with_keras(m, label, inputs=inputs, golden=golden, atol=atol,
                                    rtol=rtol, keras_custom_objects=keras_custom_objects,
                                    batch=batch, steps=steps, seed=seed)


def assert_matches_keras(model: ModelLike, inputs=None, golden=None,
                         atol: Optional[float] = None, rtol: Optional[float] = None,
                         custom_objects: Optional[Dict[str, Callable]] = None,
                         **kwargs) -> Report:
    """Assert that kerasrnn_infer's outputs, final and per layer, match Keras's within
    ``|ours - keras| <= atol + rtol * |keras|``.

    ``model``: a file path, an ``(architecture JSON, weights file)`` pair or a loaded
    ``Model``. Raises ``AssertionError`` whose message holds the tolerance, the per-layer table
    (layer, class, output shape, max abs error, max rel error, worst error as a fraction of
    the bound, PASS/FAIL) and names the first layer that diverges. Returns the :class:`Report`
    when everything matches. See :func:`compare_with_keras` for the arguments; without
    TensorFlow, pass ``golden``."""
    report = compare_with_keras(model, inputs=inputs, golden=golden, atol=atol,
                                rtol=rtol, custom_objects=custom_objects, **kwargs)
    if not report.passed:
        raise AssertionError(
            f"kerasrnn_infer differs from Keras on {report.model}; first divergence: "
            f"{report.first_divergence}\n{report.text()}")
    return report


def record_golden(model: ModelLike, out, inputs=None, keras_custom_objects=None,
                  batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                  seed: int = 0, custom_objects=None) -> Reference:
    """Run real Keras (needs TensorFlow) and write its inputs and outputs, final and per
    layer, to the ``.npz`` ``out`` (keys ``in/i``, ``call0/out/j``, ``layer/<name>/<j>``,
    ``meta/*``). ``model`` as for :func:`compare_with_keras`."""
    m, label = resolve_model(model, custom_objects)
    return record_model_golden(m, label, out, inputs=inputs,
                               keras_custom_objects=keras_custom_objects, batch=batch,
                               steps=steps, seed=seed)
