"""Read a model file in a forked child process, so that a corrupt or hostile file can neither
hang nor crash the caller.

libhdf5 can loop forever (or crash) on corrupted metadata, and no Python-level timeout can stop
C code. On platforms with ``fork`` the reader runs in a child; the parent waits with a deadline
that grows with the file size, kills the child when it passes, and receives the result as JSON
through a pipe. Arrays stored plainly in the file come back as FileRegions that the parent
reads itself (plain reads cannot hang); others through a shared anonymous mapping made before
the fork (a pipe moves 10 MB in tens of milliseconds here), copied out before it is unmapped,
or when they do not fit it, after the JSON in the pipe. Nothing is unpickled. Elsewhere the file is read
in-process.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import select
import signal
import threading
import time
from typing import Callable

import numpy as np

from .errors import KerasRnnInferError, ModelFileError, UnsafeModelError

_FORK_LOCK = threading.Lock()     # one fork at a time: no child inherits our own lock held
_ERROR_TYPES = {cls.__name__: cls for cls in (KerasRnnInferError, ModelFileError,
                                               UnsafeModelError)}


def _deadline(size: int) -> float:
    """20 s plus a second per 20 MB of file, or KERASRNN_INFER_READ_TIMEOUT seconds."""
    try:
        return float(os.environ["KERASRNN_INFER_READ_TIMEOUT"])
    except (KeyError, ValueError):
        return 20.0 + size / 20e6


def _shared_size(size: int) -> int:
    """Bytes of the shared mapping for a file of ``size`` bytes: room for the weights of
    typical files (untouched pages cost no memory); larger results go through the pipe."""
    return max(64 << 20, 4 * size)


class FileRegion:
    """An array the parent reads itself: ``dtype`` values of ``shape`` stored raw at byte
    ``offset`` of the file (a contiguous, unfiltered HDF5 dataset). Plain file reads cannot
    hang, and this spares the child copying the bytes to the parent."""

    __slots__ = ("offset", "dtype", "shape")

    def __init__(self, offset: int, dtype: str, shape):
        self.offset, self.dtype, self.shape = int(offset), dtype, [int(n) for n in shape]


def _encode(obj, arrays: list):
    """JSON-able structure with arrays replaced by references into ``arrays``."""
    if isinstance(obj, FileRegion):
        return {"__region__": [obj.offset, obj.dtype, obj.shape]}
    if isinstance(obj, np.ndarray):
        arrays.append(np.ascontiguousarray(obj))
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, set):
        return {"__set__": [_encode(v, arrays) for v in obj]}
    return obj


def _decode(obj, arrays: list, read_region: Callable):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__region__" in obj:
            return read_region(*obj["__region__"])
        if "__set__" in obj:
            return {_decode(v, arrays, read_region) for v in obj["__set__"]}
        return {k: _decode(v, arrays, read_region) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_decode(v, arrays, read_region) for v in obj]
    return obj


def _write_all(fd, data: bytes):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _child(fn, path, fd, shared, seconds: float):
    try:
        # Die on our own if the parent goes away or the deadline passes, even inside C code:
        # SIGALRM's default action ends the process without returning to Python.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(seconds) + 2)
        piped = []
        try:
            result = fn(path, True)
            arrays: list = []
            body = _encode(result, arrays)
            places, offset = [], 0
            for a in arrays:
                if shared is not None and offset + a.nbytes <= len(shared):
                    np.frombuffer(shared, np.uint8, a.nbytes, offset)[:] = \
                        a.reshape(-1).view(np.uint8)
                    places.append(offset)
                    offset += -(-a.nbytes // 64) * 64
                else:
                    places.append(None)
                    piped.append(a)
            header = {"ok": True, "body": body,
                      "arrays": [[a.dtype.str, list(a.shape), at]
                                 for a, at in zip(arrays, places)]}
        except KerasRnnInferError as e:
            header = {"ok": False, "type": type(e).__name__, "message": str(e)}
        except Exception as e:  # noqa: BLE001 - reported to the parent as a file error
            header = {"ok": False, "type": "ModelFileError",
                      "message": f"{path}: cannot be read: {type(e).__name__}: {e}"}
        raw = json.dumps(header).encode()
        _write_all(fd, len(raw).to_bytes(8, "little") + raw)
        for a in piped:
            _write_all(fd, a.tobytes())
        os.close(fd)
    finally:
        os._exit(0)


def _read_exact(fd, n: int, deadline: float, path: str) -> bytes:
    chunks, got = [], 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise ModelFileError(f"{path}: the reader stopped unexpectedly (the HDF5 library "
                                 f"crashed on this file); the file is corrupt")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_isolated(fn: Callable, path: str, size: int, read_region: Callable):
    """``fn(path, regions)`` run in a forked child; ``size`` is the file's (it sets the
    deadline). ``fn`` returns dicts, lists, sets, scalars and NumPy arrays, and FileRegions
    when ``regions`` is true (only in the child: the parent reads them with
    ``read_region(offset, dtype, shape)``). Set ``KERASRNN_INFER_NO_FORK=1`` to read
    in-process instead."""
    if not hasattr(os, "fork") or os.environ.get("KERASRNN_INFER_NO_FORK") == "1":
        return fn(path, False)
    try:
        shared = mmap.mmap(-1, _shared_size(size))
    except (OSError, ValueError, OverflowError):
        shared = None               # the pipe carries everything
    # The child never runs the cyclic garbage collector: it would finalize the parent's
    # objects in a process where their libraries' threads are gone (TensorFlow's crash there).
    with _FORK_LOCK:
        r, w = os.pipe()
        collecting, pid = gc.isenabled(), -1
        gc.disable()
        try:
            pid = os.fork()
        except OSError as e:
            os.close(r)
            os.close(w)
            if shared is not None:
                shared.close()
            raise ModelFileError(f"{path}: cannot start the reader process ({e}); set "
                                 f"KERASRNN_INFER_NO_FORK=1 to read in-process") from None
        finally:
            if collecting and pid != 0:
                gc.enable()
    seconds = _deadline(size)
    if pid == 0:
        os.close(r)
        _child(fn, path, w, shared, seconds)
    os.close(w)
    deadline = time.monotonic() + seconds
    try:
        size = int.from_bytes(_read_exact(r, 8, deadline, path), "little")
        header = json.loads(_read_exact(r, size, deadline, path))
        if not header["ok"]:
            raise _ERROR_TYPES.get(header["type"], ModelFileError)(header["message"])
        arrays = []
        for dtype, shape, at in header["arrays"]:
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            if at is None:
                data = np.frombuffer(_read_exact(r, count * dt.itemsize, deadline, path), dt)
            else:       # copied out: the mapping is shared with any later forked child
                data = np.frombuffer(shared, dt, count, at).copy()
            arrays.append(data.reshape(shape))
        return _decode(header["body"], arrays, read_region)
    except TimeoutError:
        raise ModelFileError(f"{path}: reading did not finish within {seconds:.0f} s "
                             f"(the HDF5 library loops on this file); the file is corrupt "
                             f"or hostile") from None
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, MemoryError) as e:
        # the child's answer is checked like any input: it parsed an untrusted file
        raise ModelFileError(f"{path}: the reader returned a malformed result "
                             f"({type(e).__name__}: {e}); the file is corrupt or hostile") from None
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        if shared is not None:
            shared.close()
