"""NumPy's own BLAS, for the compiled kernel's matrix products (imported by ``_numba_impl``
only, and only with the ``jit`` extra).

The compiled whole-sequence loop multiplies ``h U`` at every timestep. Up to a few samples a
hand-written loop does as well as BLAS, from about four samples on BLAS is twice as fast
(measured: tools/benchmarks), and calling it through NumPy would cost a Python call per step.
So the compiled loop calls ``cblas_sgemm`` / ``cblas_dgemm`` of the BLAS that NumPy itself
loaded (no second BLAS library, no SciPy), found here by symbol name:

- NumPy's wheels bundle scipy-openblas with prefixed ILP64 names (``scipy_cblas_sgemm64_``);
  other builds (conda, distribution packages) export ``cblas_sgemm`` or ``cblas_sgemm64_``.
- Symbols are looked up through NumPy's extension module (its handle searches the libraries it
  links) and in the libraries shipped in ``numpy.libs`` / ``numpy/.libs`` / ``numpy/.dylibs``.

Integer arguments are passed as 64-bit values: right for ILP64 builds (the first names
tried) and, where the calling convention gives every integer argument a full 8-byte register
or stack slot (x86-64 on Linux and Windows, arm64 on Linux), for LP64 builds too, whose callee
reads the low half. Apple's arm64 convention packs stack arguments by their size, so on macOS
only ILP64 names are used (Accelerate's ``cblas_sgemm$NEWLAPACK$ILP64``, scipy-openblas's).
Whatever is found is then checked by one real product against NumPy's before it is used; if
none is found, or the check fails, or ``KERASRNN_INFER_JIT_BLAS=0``, the compiled loop uses its
own product (correct everywhere, slower from a few samples on). ``source()`` says which was chosen.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import sys
from typing import Optional, Tuple

import numpy as np

_ILP64 = ("scipy_cblas_{}gemm64_", "cblas_{}gemm64_", "cblas_{}gemm$NEWLAPACK$ILP64")
_LP64 = ("cblas_{}gemm",)
ROW_MAJOR, NO_TRANS = 101, 111


def _libraries():
    """Handles to search: NumPy's core extension module, then its bundled libraries."""
    try:
        from numpy._core import _multiarray_umath as core          # NumPy >= 2
    except ImportError:                                             # pragma: no cover
        from numpy.core import _multiarray_umath as core
    paths = [core.__file__]
    root = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*", "numpy/.libs/*", "numpy/.dylibs/*"):
        paths += sorted(p for p in glob.glob(os.path.join(root, pattern))
                        if "blas" in os.path.basename(p).lower())
    for p in paths:
        try:
            yield p, ctypes.CDLL(p)
        except OSError:
            continue


def _gemm_type(real):
    i = ctypes.c_int64
    return ctypes.CFUNCTYPE(None, i, i, i, i, i, i, real, ctypes.c_void_p, i, ctypes.c_void_p,
                            i, real, ctypes.c_void_p, i)


def _works(addr: int, dtype, real) -> bool:
    """One product through the function at ``addr`` against NumPy's."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5)).astype(dtype)
    b = rng.normal(size=(5, 7)).astype(dtype)
    c = np.full((3, 7), np.nan, dtype)
    fn = _gemm_type(real)(addr)
    fn(ROW_MAJOR, NO_TRANS, NO_TRANS, 3, 7, 5, 1.0, a.ctypes.data, 5, b.ctypes.data, 7, 0.0,
       c.ctypes.data, 7)
    return bool(np.allclose(c, a @ b, rtol=1e-5, atol=1e-5))


def _find() -> Tuple[Optional[int], Optional[int], str]:
    if os.environ.get("KERASRNN_INFER_JIT_BLAS", "1") == "0":
        return None, None, "the kernel's own product (KERASRNN_INFER_JIT_BLAS=0)"
    if platform.machine().lower() not in ("x86_64", "amd64", "arm64", "aarch64"):
        return None, None, f"the kernel's own product (no BLAS calls on {platform.machine()})"
    names = _ILP64 if sys.platform == "darwin" else _ILP64 + _LP64
    for path, lib in _libraries():
        for pattern in names:
            try:
                s = ctypes.cast(getattr(lib, pattern.format("s")), ctypes.c_void_p).value
                d = ctypes.cast(getattr(lib, pattern.format("d")), ctypes.c_void_p).value
            except AttributeError:
                continue
            if s and d and _works(s, np.float32, ctypes.c_float) and \
                    _works(d, np.float64, ctypes.c_double):
                return s, d, f"{pattern.format('s')} of NumPy's BLAS ({os.path.basename(path)})"
    return None, None, "the kernel's own product (NumPy's BLAS not found)"


SGEMM, DGEMM, SOURCE = _find()


def source() -> str:
    """Which product the compiled kernel uses: NumPy's BLAS (which symbol) or its own."""
    return SOURCE
