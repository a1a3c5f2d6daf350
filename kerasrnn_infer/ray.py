"""Batch scoring on Ray Data (``pip install kerasrnn-infer[ray]``): a callable class for
``Dataset.map_batches``, which loads the model once per actor.

    import ray
    from kerasrnn_infer.ray import Predictor

    ds = ray.data.read_parquet("windows/")                 # a column "x" of (50, 8) windows
    scores = ds.map_batches(Predictor, fn_constructor_kwargs={"model": "model.keras"},
                            concurrency=2, batch_size=256, batch_format="numpy")

``model`` is a path, the bytes of ``Model.to_bytes()`` or a loaded Model (sent as its bytes).
Each batch (a dict of NumPy arrays by column) is scored in batches of ``batch_size`` rows:
bit-identical to ``model.predict(rows, batch_size=batch_size)`` of the rows of that Ray batch
(give ``map_batches`` the same batch size, so Ray's batches are those batches). The result
holds the batch's other columns (``keep``) and one column per output, named by
``model.output_names``. BLAS is limited to ``blas_threads`` threads per actor (default 1).

Ray is imported by Ray itself, never by ``import kerasrnn_infer``.
"""

from __future__ import annotations

import io
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._scoring import DEFAULT_BATCH, blas_threads, check_batch_size, predict_batches
from .errors import InputError

__all__ = ["Predictor"]


class Predictor:
    """``Predictor(model, columns=None, batch_size=256, blas_threads=1, keep=(),
    custom_objects=None)``: ``columns`` maps model input names to the batch's columns
    (default: the columns named after the inputs)."""

    def __init__(self, model: Any, columns: Optional[Dict[str, str]] = None,
                 batch_size: int = DEFAULT_BATCH, blas_threads: Optional[int] = 1,
                 keep: Sequence[str] = (), custom_objects=None):
        from .model import Model, load_model
        if isinstance(model, Model):
            custom_objects = custom_objects or dict(model._ctx.custom_objects)
            model = model.to_bytes()
        if isinstance(model, (bytes, bytearray)):
            model = io.BytesIO(bytes(model))
        self.model = load_model(model, custom_objects=custom_objects)
        names = [s.name for s in self.model.inputs]
        self.columns = dict(columns) if columns is not None else {n: n for n in names}
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise InputError(f"Predictor: no column given for model inputs {missing}")
        self.batch_size = check_batch_size(batch_size)
        self.threads = blas_threads
        self.keep = list(keep)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        xs: List[np.ndarray] = []
        for spec in self.model.inputs:
            col = self.columns[spec.name]
            if col not in batch:
                raise InputError(f"Predictor: the batch has no column {col!r} (for model "
                                 f"input {spec.name!r}); columns: {sorted(batch)}")
            v = batch[col]
            if isinstance(v, np.ndarray) and v.dtype == object:
                v = np.stack([np.asarray(r) for r in v]) if len(v) else v
            xs.append(np.asarray(v))
        with blas_threads(self.threads):
            outs = predict_batches(self.model, xs, self.batch_size)
        result = {k: batch[k] for k in self.keep}
        result.update(zip(self.model.output_names, outs))
        return result
