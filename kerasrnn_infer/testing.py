"""Parity checks for your CI: does kerasrnn_infer give Keras's numbers for *your* model?

    from kerasrnn_infer.testing import assert_matches_keras

    def test_my_model_runs_without_tensorflow():
        assert_matches_keras("model.keras", golden="tests/model_golden.npz")

With TensorFlow installed, ``assert_matches_keras(path)`` runs the real Keras model live on the
same inputs; without it, pass a golden file recorded once with
``kerasrnn-infer golden model.keras --out model_golden.npz`` (where TensorFlow is installed).
Importing this module never imports TensorFlow or Keras.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

from . import _verify
from ._verify import Report, ReferenceUnavailable, generate_inputs, read_golden
from .model import load_model

__all__ = ["assert_matches_keras", "compare_with_keras", "Report", "ReferenceUnavailable",
           "generate_inputs", "record_golden"]


def compare_with_keras(model_path, inputs=None, golden=None, atol: float = 1e-5,
                       rtol: float = 1e-5, custom_objects: Optional[Dict[str, Callable]] = None,
                       keras_custom_objects: Optional[Dict[str, Any]] = None,
                       keras_version: Optional[str] = None, batch: Optional[int] = None,
                       steps: int = _verify.DEFAULT_STEPS, seed: int = 0) -> Report:
    """Compare kerasrnn_infer with Keras on ``model_path`` and return the :class:`Report`
    (per-layer table, ``passed``, ``first_divergence``) without raising on a mismatch.

    ``golden``: an ``.npz`` recorded by ``kerasrnn-infer golden`` (or a fixture's ``io.npz``);
    its inputs are used. Otherwise real Keras runs live (needs TensorFlow) on ``inputs``
    (array, list in input order, dict by input name, or a ``.npy``/``.npz``/``.json`` path),
    generated from the model's input specs when None. ``custom_objects`` go to our loader
    (NumPy factories), ``keras_custom_objects`` to Keras's."""
    model = load_model(os.fspath(model_path), custom_objects=custom_objects,
                       keras_version=keras_version)
    if golden is not None:
        ref = read_golden(os.fspath(golden))
        xs = None
        if inputs is not None:
            if ref.inputs:
                raise ValueError(f"{golden}: the golden file holds its own inputs; do not pass "
                                 f"inputs as well")
            xs = _verify.coerce_inputs(inputs, model)
        report = _verify.compare(model, ref, atol, rtol, inputs=xs)
    else:
        xs = (generate_inputs(model, batch, steps, seed) if inputs is None
              else _verify.coerce_inputs(inputs, model))
        ref = _verify.keras_reference(os.fspath(model_path), xs, keras_custom_objects,
                                      model.keras_version)
        report = _verify.compare(model, ref, atol, rtol)
    report.model = os.fspath(model_path)
    return report


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
                  batch: Optional[int] = None, steps: int = _verify.DEFAULT_STEPS,
                  seed: int = 0, custom_objects=None) -> _verify.Reference:
    """Run real Keras (needs TensorFlow) and write its inputs and outputs, final and per
    layer, to the ``.npz`` ``out`` (keys ``in/i``, ``call0/out/j``, ``layer/<name>/<j>``)."""
    model = load_model(os.fspath(model_path), custom_objects=custom_objects)
    xs = (generate_inputs(model, batch, steps, seed) if inputs is None
          else _verify.coerce_inputs(inputs, model))
    ref = _verify.keras_reference(os.fspath(model_path), xs, keras_custom_objects,
                                  model.keras_version)
    _verify.write_golden(os.fspath(out), ref)
    return ref
