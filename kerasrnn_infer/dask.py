"""Batch scoring on Dask (``pip install kerasrnn-infer[dask]``): arrays of sequences and
dataframes, chunk by chunk, on any Dask scheduler (a ``dask.distributed`` cluster included).

    import dask.array as da
    import kerasrnn_infer as kri
    from kerasrnn_infer.dask import predict_array

    model = kri.load_model("model.keras")
    x = da.from_zarr("windows.zarr")          # (n, 50, 8), chunked along the batch axis
    y = predict_array(model, x)               # a dask array (a list of them: several outputs)
    y.to_zarr("scores.zarr")

The model travels to each worker once, as bytes (``Model.to_bytes()``), and is loaded there
once, whatever the number of tasks. Chunks are realigned along the batch axis to multiples of
``batch_size`` (and made whole along the other axes), and each is scored in batches of
``batch_size`` rows, so the results are bit-identical to ``model.predict(x,
batch_size=batch_size)``, whatever the chunking. Each task limits BLAS to ``blas_threads``
threads (default 1: one task per core, as Dask's workers run them).

Dask is imported when these functions are called, never by ``import kerasrnn_infer``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ._scoring import (DEFAULT_BATCH, ModelRef, aligned_chunks, blas_threads,
                       check_batch_size, predict_batches)
from ._util import as_list
from .errors import InputError

__all__ = ["predict_array", "predict_dataframe"]


def _model_task(model):
    """The model as one dask graph key that every task depends on: sent to a worker once."""
    import dask
    ref = model if isinstance(model, ModelRef) else ModelRef(model)
    return dask.delayed(ref, pure=True, name=f"kerasrnn-infer-model-{ref.key[:16]}")


def _score_block(*args, n_inputs, batch_size, threads):
    ref, blocks = args[-1], args[:n_inputs]
    with blas_threads(threads):
        return tuple(predict_batches(ref.get(), [np.asarray(b) for b in blocks], batch_size))


def _pick(outs, j):
    return outs[j]


def predict_array(model, x, batch_size: int = DEFAULT_BATCH, blas_threads: Optional[int] = 1
                  ) -> Union[Any, List[Any]]:
    """Score dask array(s) ``x`` (one array, a list in model input order, or a dict by input
    name) with ``model``: a dask array per model output (a list for several), chunked like
    the batch axis of the realigned inputs."""
    import dask.array as da
    batch_size = check_batch_size(batch_size)
    specs = model.inputs
    if isinstance(x, dict):
        names = [s.name for s in specs]
        if sorted(x, key=str) != sorted(names):
            raise InputError(f"predict_array: inputs by name must be exactly {names}; "
                             f"received {sorted(x, key=str)}")
        xs = [x[n] for n in names]
    else:
        xs = as_list(x) if len(specs) > 1 else [x]
    if len(xs) != len(specs):
        raise InputError(f"predict_array: the model has {len(specs)} inputs, received "
                         f"{len(xs)} arrays")
    xs = [da.asarray(a) for a in xs]
    n = xs[0].shape[0]
    if any(a.shape[0] != n for a in xs):
        raise InputError(f"predict_array: inputs have different batch sizes "
                         f"{[a.shape[0] for a in xs]}")
    rows = aligned_chunks(n, xs[0].chunks[0], batch_size)
    xs = [a.rechunk({0: rows, **{k: -1 for k in range(1, a.ndim)}}) for a in xs]
    # output shapes from the model on one sample of zeros (no data is computed)
    probe = [np.zeros((1,) + tuple(a.shape[1:]), s.dtype) for a, s in zip(xs, specs)]
    shapes = [o.shape[1:] for o in predict_batches(model, probe, 1)]
    dtypes = [o.dtype for o in predict_batches(model, probe, 1)]
    pairs: List[Any] = []
    letters = iter("abcdefghjklmnopqrstuvwxyz")           # one per non-batch axis ("i": batch)
    for a in xs:
        pairs += [a, "i" + "".join(next(letters) for _ in range(a.ndim - 1))]
    pairs += [_model_task(model), None]
    outs = da.blockwise(_score_block, "i", *pairs, n_inputs=len(xs), batch_size=batch_size,
                        threads=blas_threads, dtype=object, meta=np.empty((0,), object),
                        concatenate=True, adjust_chunks={"i": rows})
    result = []
    for j, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        chunks = (rows,) + tuple((d,) for d in shape)
        result.append(outs.map_blocks(_pick, j, dtype=dtype, chunks=chunks,
                                      new_axis=list(range(1, 1 + len(shape))),
                                      meta=np.empty((0,) * (1 + len(shape)), dtype)))
    return result[0] if len(result) == 1 else result


def _partition(df, ref, columns: Dict[str, Any], shapes: Dict[str, Sequence[int]],
               dtypes: Dict[str, Any], batch_size: int, threads, names: List[str]):
    import pandas as pd
    model = ref.get()
    xs = []
    for spec in model.inputs:
        cols = columns[spec.name]
        if isinstance(cols, str):                      # one column of per-row arrays
            cells = list(df[cols])
            if cells and isinstance(cells[0], str):
                raise InputError(f"predict_dataframe: column {cols!r} holds text, not arrays "
                                 f"(dask turns object columns into strings unless "
                                 f"dask.config.set({{'dataframe.convert-string': False}}))")
            arr = np.stack([np.asarray(v) for v in cells]) if cells else \
                np.zeros((0,) + tuple(shapes[spec.name]))
        else:                                          # one column per value, row-major
            arr = df[list(cols)].to_numpy()
            arr = arr.reshape((len(df),) + tuple(shapes[spec.name]))
        xs.append(arr.astype(dtypes[spec.name], copy=False))
    with blas_threads(threads):
        outs = predict_batches(model, xs, batch_size) if len(df) else []
    data = {}
    for name, y in zip(model.output_names, outs):
        flat = y.reshape(len(df), -1)
        if flat.shape[1] == 1:
            data[name] = flat[:, 0]
        else:
            for k in range(flat.shape[1]):
                data[f"{name}[{k}]"] = flat[:, k]
    return pd.DataFrame(data, index=df.index, columns=names)


def predict_dataframe(model, df, columns: Optional[Dict[str, Any]] = None,
                      batch_size: int = DEFAULT_BATCH, blas_threads: Optional[int] = 1):
    """Score a dask DataFrame partition by partition: a dask DataFrame with the same index and
    one column per output value (``name`` for one value per row, else ``name[k]`` over the
    flattened output, names from ``model.output_names``).

    ``columns`` maps each model input name to the column holding one array (or list) per
    row, or to the list of columns holding a row's values (row-major, reshaped to the input's
    shape without the batch axis). Default: a one-input model takes every column.
    Partitions are scored in batches of ``batch_size`` rows counted from each partition's
    first row: bit-identical to ``model.predict`` of each partition with that batch size."""
    batch_size = check_batch_size(batch_size)
    specs = model.inputs
    if columns is None:
        if len(specs) != 1:
            raise InputError(f"predict_dataframe: the model has {len(specs)} inputs; say which "
                             f"columns feed which with columns={{input name: column(s)}}")
        columns = {specs[0].name: list(df.columns)}
    missing = [s.name for s in specs if s.name not in columns]
    if missing:
        raise InputError(f"predict_dataframe: no columns given for inputs {missing}")
    shapes, dtypes = {}, {}
    for s in specs:
        cols = columns[s.name]
        inner = tuple(d for d in (s.shape or (None,))[1:])
        if not isinstance(cols, str) and (None in inner or not inner):
            inner = (len(cols),) if None in inner or not inner else inner
        if not isinstance(cols, str) and int(np.prod(inner)) != len(cols):
            raise InputError(f"predict_dataframe: input {s.name!r} has shape {s.shape}; "
                             f"{len(cols)} columns cannot fill one row of it")
        shapes[s.name], dtypes[s.name] = inner, s.dtype
    probe = [np.zeros((1,) + tuple(d if d is not None else 1 for d in shapes[s.name]), s.dtype)
             for s in specs]
    outs = predict_batches(model, probe, 1)
    names: List[str] = []
    meta: Dict[str, Any] = {}
    for name, y in zip(model.output_names, outs):
        width = int(np.prod(y.shape[1:]))
        cols = [name] if width == 1 else [f"{name}[{k}]" for k in range(width)]
        names += cols
        meta.update({c: y.dtype for c in cols})
    import pandas as pd
    empty = pd.DataFrame({c: np.empty(0, meta[c]) for c in names}, columns=names)
    return df.map_partitions(_partition, _model_task(model), columns, shapes, dtypes,
                             batch_size, blas_threads, names, meta=empty)
