"""Batch scoring shared by the Dask and Ray helpers and the command line: rows in fixed
batches, BLAS threads per worker, models that travel once.

Numbers: a row's result depends on the size of the batch it is computed in (BLAS picks its
kernels by matrix shape), so every scorer here computes in batches of exactly ``batch_size``
rows counted from the first row of the data, as ``Model.predict(x, batch_size=batch_size)``
does; the results are bit-identical to it, whatever the chunking.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ._util import as_list
from .errors import InputError

DEFAULT_BATCH = 256
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size <= 0:
        raise InputError(f"batch_size={batch_size!r} must be a positive integer")
    return int(batch_size)


@contextlib.contextmanager
def blas_threads(n: Optional[int]) -> Iterator[None]:
    """BLAS threads limited to ``n`` while scoring (None: left as they are). Uses
    threadpoolctl when installed (the dask and ray extras install it); otherwise BLAS keeps
    what its environment variables set when it started (``OPENBLAS_NUM_THREADS`` etc.)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def predict_batches(model, xs: List[np.ndarray], batch_size: int) -> List[np.ndarray]:
    """``model.predict(xs, batch_size=batch_size)`` as a list of outputs."""
    out = model._flat(model.predict(xs if len(xs) > 1 else xs[0], batch_size=batch_size))
    return [np.asarray(y) for y in as_list(out)]


_CACHE: Dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


class ModelRef:
    """A model that travels to workers as bytes (``Model.to_bytes()``) and is loaded once per
    worker process, however many tasks use it there. Pickles as the bytes and the custom
    layers' factories (by reference)."""

    def __init__(self, model):
        self.data = model.to_bytes()
        self.custom_objects = dict(model._ctx.custom_objects)
        self.keras_version = model.keras_version
        self.key = hashlib.sha256(self.data).hexdigest() + "/" + str(self.keras_version)

    def __getstate__(self):
        return {"data": self.data, "custom_objects": self.custom_objects,
                "keras_version": self.keras_version, "key": self.key}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def get(self):
        """The model, loaded in this process on first use."""
        model = _CACHE.get(self.key)
        if model is None:
            with _CACHE_LOCK:
                model = _CACHE.get(self.key)
                if model is None:
                    from .model import load_model
                    model = load_model(io.BytesIO(self.data),
                                       custom_objects=self.custom_objects,
                                       keras_version=self.keras_version)
                    _CACHE[self.key] = model
                    LOADS[0] += 1
        return model


LOADS = [0]      # models loaded in this process through ModelRef (tests count them)


def aligned_chunks(n: int, chunks: Sequence[int], batch_size: int) -> tuple:
    """Chunk sizes along the batch axis for ``n`` rows, each a multiple of ``batch_size``
    (but the last), close to the given ``chunks``: scoring chunk by chunk in batches of
    ``batch_size`` then computes exactly the batches ``predict(batch_size=...)`` computes."""
    target = max(batch_size, (max(chunks) // batch_size) * batch_size if chunks else batch_size)
    out, left = [], n
    while left > 0:
        out.append(min(target, left))
        left -= out[-1]
    return tuple(out) if out else (0,)


def worker_env(threads: int = 1) -> Dict[str, str]:
    """Environment for worker processes: ``threads`` BLAS threads each (set before NumPy is
    imported there), so that workers do not oversubscribe the cores."""
    return {k: str(threads) for k in BLAS_ENV}


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
