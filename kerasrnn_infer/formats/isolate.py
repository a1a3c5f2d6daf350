"""Read a model file in a forked child process, so that a corrupt or hostile file can neither
hang nor crash the caller.

libhdf5 can loop forever (or crash) on corrupted metadata, and no Python-level timeout can stop
C code. On platforms with ``fork`` the reader runs in a child; the parent waits with a deadline
that grows with the file size, kills the child when it passes, and receives the result as JSON
through a pipe. Arrays stored plainly in the file come back as FileRegions that the parent
reads itself (plain reads cannot hang); others through a shared anonymous mapping made before
the fork (a pipe moves 10 MB in tens of milliseconds here), copied out before it is unmapped,
or when they do not fit it, after the JSON in the pipe. Nothing is unpickled. Elsewhere the
file is read in-process.
"""

from __future__ import annotations

import gc
import json
import math
import mmap
import os
import select
import signal
import time
from typing import Callable, List, Optional, Tuple

import numpy as np

from .. import errors
from .._locks import ForkSafeLock
from ..errors import KerasRnnInferError, ModelFileError, SettingError

_ERROR_TYPES = {name: getattr(errors, name) for name in errors.__all__}   # the typed errors only
TIMEOUT_VARIABLE = "KERASRNN_INFER_READ_TIMEOUT"
MAX_TIMEOUT = 7 * 86400.0          # a week: beyond it the setting is surely a mistake


_FORK_LOCK = ForkSafeLock()     # one fork at a time: no child inherits our own lock held


def read_timeout(size: int) -> Tuple[float, bool]:
    """(seconds, whether the user set them): 20 s plus a second per 20 MB of file, or
    KERASRNN_INFER_READ_TIMEOUT seconds (a positive finite number up to a week)."""
    raw = os.environ.get(TIMEOUT_VARIABLE)
    if raw is None or not raw.strip():
        return 20.0 + size / 20e6, False
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_TIMEOUT):    # also refuses nan and inf
        raise SettingError(f"{TIMEOUT_VARIABLE}={raw!r} is not a valid read timeout: expected "
                           f"a number of seconds greater than 0 and at most {MAX_TIMEOUT:.0f} "
                           f"(a week); unset it for the default (20 s plus 1 s per 20 MB)")
    return value, True


def reading_failed(path: str, e: BaseException) -> KerasRnnInferError:
    """The typed error for an unexpected exception while reading ``path``: the same in the
    forked reader and in-process, so that both modes report a file alike."""
    if isinstance(e, KerasRnnInferError):
        return e
    if isinstance(e, MemoryError):
        return ModelFileError(f"{path}: reading it needs more memory than a model file of its "
                              f"size may use; the file is corrupt or hostile")
    if isinstance(e, RecursionError):
        return ModelFileError(f"{path}: its structure nests too deeply to be read; the file is "
                              f"corrupt or hostile")
    return ModelFileError(f"{path}: cannot be read: {type(e).__name__}: {e}")


def _memory_allowance(size: int) -> int:
    """Bytes of address space the reader child may add to what it inherits: 1 GiB plus three
    times what the file may declare (see _files._Budget), so that damaged metadata making
    libhdf5 allocate without end costs a MemoryError, not the machine."""
    return (1 << 30) + 3 * max(64 << 20, 50 * size)


def _limit_memory(size: int) -> None:
    try:
        import resource
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + _memory_allowance(size)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or limit < soft:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError, AttributeError):
        pass          # not Linux: the deadline still bounds the reader


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
        # (np.ascontiguousarray would make a 0-d array 1-d)
        arrays.append(obj if obj.flags.c_contiguous else obj.copy(order="C"))
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


def _child(fn, path, fd, shared, seconds: float, size: int):
    try:
        # Die on our own if the parent goes away or the deadline passes, even inside C code:
        # SIGALRM's default action ends the process without returning to Python.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(seconds) + 2)
        _limit_memory(size)
        piped = []
        try:
            result = fn(path, True)
            arrays: list = []
            body = _encode(result, arrays)
            places: List[Optional[int]] = []
            offset = 0
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
            raw = json.dumps(header).encode()
        except Exception as e:  # noqa: BLE001 - reported to the parent as a typed error
            piped = []
            err = reading_failed(path, e)
            raw = json.dumps({"ok": False, "type": type(err).__name__,
                              "message": str(err)}).encode()
        _write_all(fd, len(raw).to_bytes(8, "little") + raw)
        for a in piped:
            _write_all(fd, a.tobytes())
        os.close(fd)
    finally:
        os._exit(0)


class _ReaderDied(Exception):
    """The reader child closed the pipe before answering."""


def _read_exact(fd, n: int, deadline: float) -> bytes:
    chunks, got = [], 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise _ReaderDied
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _death(path: str, pid: int) -> ModelFileError:
    """Why the reader child ended without an answer, from its exit status."""
    status = None
    try:
        for _ in range(200):                    # it closed the pipe: it is ending
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == getattr(signal, "SIGALRM", None):
            cause = "it ran past its deadline inside the HDF5 library"
        elif sig == signal.SIGKILL:
            cause = "it was killed (by the system, perhaps for memory)"
        else:
            cause = f"it was ended by {name} (the HDF5 library crashed on this file)"
    elif status is not None and os.WIFEXITED(status):
        cause = f"it exited with status {os.WEXITSTATUS(status)} without answering"
    else:
        cause = "it ended without answering"
    return ModelFileError(f"{path}: the reader process stopped unexpectedly: {cause}; the file "
                          f"is corrupt or hostile")


def read_isolated(fn: Callable, path: str, size: int, read_region: Callable):
    """``fn(path, regions)`` run in a forked child; ``size`` is the file's (it sets the
    deadline). ``fn`` returns dicts, lists, sets, scalars and NumPy arrays, and FileRegions
    when ``regions`` is true (only in the child: the parent reads them with
    ``read_region(offset, dtype, shape)``). Set ``KERASRNN_INFER_NO_FORK=1`` to read
    in-process instead."""
    seconds, chosen = read_timeout(size)
    if not hasattr(os, "fork") or os.environ.get("KERASRNN_INFER_NO_FORK") == "1":
        try:
            return fn(path, False)
        except Exception as e:  # noqa: BLE001 - the same typed errors as the forked reader
            raise reading_failed(path, e) from None
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
            if pid == 0:           # the child never returns from here
                try:
                    os.close(r)
                    _child(fn, path, w, shared, seconds, size)
                finally:
                    os._exit(1)
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
    os.close(w)
    deadline = time.monotonic() + seconds
    reaped = False
    try:
        n = int.from_bytes(_read_exact(r, 8, deadline), "little")
        header = json.loads(_read_exact(r, n, deadline))
        if not header["ok"]:
            raise _ERROR_TYPES.get(header["type"], ModelFileError)(header["message"])
        arrays = []
        for dtype, shape, at in header["arrays"]:
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            if at is None or shared is None:
                data = np.frombuffer(_read_exact(r, count * dt.itemsize, deadline), dt)
            else:       # copied out: the mapping is shared with any later forked child
                data = np.frombuffer(shared, dt, count, at).copy()
            arrays.append(data.reshape(shape))
        return _decode(header["body"], arrays, read_region)
    except TimeoutError:
        setting = (f"{TIMEOUT_VARIABLE}={os.environ.get(TIMEOUT_VARIABLE)!r}" if chosen else
                   f"the default for a file of {size} bytes; {TIMEOUT_VARIABLE} sets it")
        raise ModelFileError(f"{path}: reading did not finish within {seconds:g} s ({setting}); "
                             f"the HDF5 library can loop on damaged metadata, so the file is "
                             f"likely corrupt or hostile") from None
    except _ReaderDied:
        os.close(r)
        r = -1
        reaped = True
        raise _death(path, pid) from None
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, MemoryError) as e:
        # the child's answer is checked like any input: it parsed an untrusted file
        raise ModelFileError(f"{path}: the reader returned a malformed result "
                             f"({type(e).__name__}: {e}); the file is corrupt or hostile") from None
    finally:
        if r >= 0:
            os.close(r)
        if not reaped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        if shared is not None:
            shared.close()
