"""Parity checks for your CI: does kerasrnn_infer give Keras's numbers for *your* model?

    from kerasrnn_infer.testing import assert_matches_keras

    def test_my_model_runs_without_tensorflow():
        assert_matches_keras("model.keras", golden="tests/model_golden.npz")

With TensorFlow installed, ``assert_matches_keras(path)`` runs the real Keras model live on the
same inputs; without it, pass a golden file recorded once with
``kerasrnn-infer golden model.keras --out model_golden.npz`` (where TensorFlow is installed).
Importing this package never imports TensorFlow or Keras.

The parts: :mod:`.inputs` (generated inputs), :mod:`.golden` (golden files), :mod:`.keras_ref`
(real Keras, imported lazily), :mod:`.compare` (the per-layer report). The command line's
``verify`` and ``golden`` run :func:`compare_model_with_keras` and :func:`record_model_golden`,
the functions behind :func:`compare_with_keras` and :func:`record_golden`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..arrays_io import coerce_inputs
from ..errors import ReferenceUnavailable
from ..model import load_model
from .compare import Report, compare
from .golden import Reference, read_golden, write_golden
from .inputs import DEFAULT_STEPS, generate_inputs
from .keras_ref import keras_reference

__all__ = ["assert_matches_keras", "compare_with_keras", "Report", "ReferenceUnavailable",
           "generate_inputs", "record_golden"]


class GoldenHoldsInputs(ValueError):
    """Inputs were passed together with a golden file that holds its own."""


def _inputs(model, inputs, batch, steps, seed) -> List[np.ndarray]:
    return (generate_inputs(model, batch, steps, seed) if inputs is None
            else coerce_inputs(inputs, model))


def compare_model_with_keras(model, model_path, inputs=None, golden=None, atol: float = 1e-5,
                             rtol: float = 1e-5,
                             keras_custom_objects: Optional[Dict[str, Any]] = None,
                             batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                             seed: int = 0) -> Report:
    """:func:`compare_with_keras` for a model already loaded (by this library) from
    ``model_path``. Raises :class:`GoldenHoldsInputs` (a ``ValueError``) when ``inputs`` are
    passed with a golden file that holds its own."""
    model_path = os.fspath(model_path)
    if golden is not None:
        golden = os.fspath(golden)
        ref = read_golden(golden)
        xs = None
        if inputs is not None:
            if ref.inputs:
                raise GoldenHoldsInputs(f"{golden}: the golden file holds its own inputs; do "
                                        f"not pass inputs as well")
            xs = coerce_inputs(inputs, model)
        report = compare(model, ref, atol, rtol, inputs=xs)
    else:
        xs = _inputs(model, inputs, batch, steps, seed)
        ref = keras_reference(model_path, xs, keras_custom_objects, model.keras_version)
        report = compare(model, ref, atol, rtol)
    report.model = model_path
    return report


def record_model_golden(model, model_path, out, inputs=None,
                        keras_custom_objects: Optional[Dict[str, Any]] = None,
                        batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                        seed: int = 0) -> Reference:
    """:func:`record_golden` for a model already loaded (by this library) from
    ``model_path``; our model gives the input specs of generated inputs."""
    xs = _inputs(model, inputs, batch, steps, seed)
    ref = keras_reference(os.fspath(model_path), xs, keras_custom_objects, model.keras_version)
    write_golden(os.fspath(out), ref)
    return ref


def compare_with_keras(model_path, inputs=None, golden=None, atol: float = 1e-5,
                       rtol: float = 1e-5, custom_objects: Optional[Dict[str, Callable]] = None,
                       keras_custom_objects: Optional[Dict[str, Any]] = None,
                       keras_version: Optional[str] = None, batch: Optional[int] = None,
                       steps: int = DEFAULT_STEPS, seed: int = 0) -> Report:
    """Compare kerasrnn_infer with Keras on ``model_path`` and return the :class:`Report`
    (per-layer table, ``passed``, ``first_divergence``) without raising on a mismatch.

    ``golden``: an ``.npz`` recorded by ``kerasrnn-infer golden`` (or a fixture's ``io.npz``);
    its inputs are used. Otherwise real Keras runs live (needs TensorFlow) on ``inputs``
    (array, list in input order, dict by input name, or a ``.npy``/``.npz``/``.json`` path),
    generated from the model's input specs when None. ``custom_objects`` go to our loader
    (NumPy factories), ``keras_custom_objects`` to Keras's."""
    model = load_model(os.fspath(model_path), custom_objects=custom_objects,
                       keras_version=keras_version)
    return compare_model_with_keras(model, model_path, inputs=inputs, golden=golden, atol=atol,
                                    rtol=rtol, keras_custom_objects=keras_custom_objects,
                                    batch=batch, steps=steps, seed=seed)


def assert_matches_keras(model_path, inputs=None, golden=None, atol: float = 1e-5,
                         rtol: float = 1e-5, custom_objects: Optional[Dict[str, Callable]] = None,
                         **kwargs) -> Report:
    """Assert that kerasrnn_infer's outputs, final and per layer, match Keras's within
    ``|ours - keras| <= atol + rtol * |keras|``.

    Raises ``AssertionError`` whose message holds the per-layer table (layer, class, output
    shape, max abs error, max rel error, PASS/FAIL) and names the first layer that diverges.
    Returns the :class:`Report` when everything matches. See :func:`compare_with_keras` for the
    arguments; without TensorFlow, pass ``golden``."""
    report = compare_with_keras(model_path, inputs=inputs, golden=golden, atol=atol,
                                rtol=rtol, custom_objects=custom_objects, **kwargs)
    if not report.passed:
        raise AssertionError(
            f"kerasrnn_infer differs from Keras on {report.model}; first divergence: "
            f"{report.first_divergence}\n{report.text()}")
    return report


def record_golden(model_path, out, inputs=None, keras_custom_objects=None,
                  batch: Optional[int] = None, steps: int = DEFAULT_STEPS,
                  seed: int = 0, custom_objects=None) -> Reference:
    """Run real Keras (needs TensorFlow) and write its inputs and outputs, final and per
    layer, to the ``.npz`` ``out`` (keys ``in/i``, ``call0/out/j``, ``layer/<name>/<j>``)."""
    model = load_model(os.fspath(model_path), custom_objects=custom_objects)
    return record_model_golden(model, model_path, out, inputs=inputs,
                               keras_custom_objects=keras_custom_objects, batch=batch,
                               steps=steps, seed=seed)
