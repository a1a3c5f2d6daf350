"""The compiled kernel's matrix product (imported, and numba with it, only with the ``jit``
extra): ``C = A P`` for a weight matrix ``P`` packed once, when the layer is made, into
column panels, each multiplied by a register-blocked microkernel written as LLVM vector code.

Why its own product: the products of a recurrent step are small (``h U``: a few rows of ``h``
against the whole of ``U``), and NumPy's BLAS has two costs there that a fixed weight matrix
does not need. It repacks ``U`` on every call, and it may not know the CPU: NumPy 2.4's
OpenBLAS runs its AVX2 kernels on AMD Zen 5 (AVX-512): at the shapes of a step's products it
reached 51-107 GFLOP/s on one core of this machine where this microkernel reached 178-224
(tools/bench.py --jit, the products table of docs/jit.md).

Layout: ``P`` (panels, K, NR) holds columns ``[q NR, (q + 1) NR)`` of the K x G matrix in
panel ``q``, rows contiguous, the last panel padded with zeros; so the product writes whole
panels, and ``C`` must be at least ``panels NR`` wide. ``NR`` is two vectors of the target's
width (``VECTOR_BYTES``: 64 with AVX-512, 32 with AVX2, else 16), and a microkernel keeps
``MR`` rows by ``NR`` columns of ``C`` in registers while it runs over K: per step of K two
vector loads of the panel, then per row one broadcast of ``A[r, k]`` and two fused
multiply-adds. Results are the same bits on every call (a fixed order of operations); they
differ from NumPy's BLAS by float rounding only (fused multiply-adds, another order).

The vector code is built with llvmlite (``numba.extending.intrinsic``), in the same module
as the numba code that calls it, so numba's disk cache keeps it; the cache is keyed by the
CPU, as is ``VECTOR_BYTES`` (from the CPU numba compiles for: ``NUMBA_CPU_FEATURES`` when set,
else the host's).
"""

import os
import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


def _target_features() -> set:
    env = os.environ.get("NUMBA_CPU_FEATURES")
    if env:
        return {f[1:] for f in env.split(",") if f.startswith("+")}
    import llvmlite.binding as llvm
    return {k for k, v in llvm.get_host_cpu_features().items() if v}


def _shape():
    feats = _target_features()
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
    if "avx512f" in feats:
        return 64, 8        # 32 zmm registers: 8 rows x 2 vectors of C, 2 of P, 1 broadcast
    if x86 and "avx2" in feats and "fma" in feats:
        return 32, 6        # 16 ymm registers: 6 x 2 of C (measured 116 GFLOP/s, 8 rows: 68)
    if x86:
        return 16, 4        # 16 xmm registers
    return 16, 8            # aarch64 and others: 32 vector registers


VECTOR_BYTES, MR = _shape()


def describe() -> str:
    return (f"own packed microkernel: {MR} rows x {2 * VECTOR_BYTES // 4} float32 columns "
            f"({VECTOR_BYTES}-byte vectors, fused multiply-add)")


def panel_width(dtype) -> int:
    """NR, the columns of one panel: two vectors of ``dtype``."""
    return 2 * VECTOR_BYTES // np.dtype(dtype).itemsize


def pack(M, out_of) -> np.ndarray:
    """``M`` (K, G) as panels (ceil(G / NR), K, NR), zero padded; ``out_of(shape)`` makes the
    (aligned) array."""
    K, G = M.shape
    nr = panel_width(M.dtype)
    n = -(-G // nr)
    P = out_of((n, K, nr))
    P[...] = 0
    for q in range(n):
        cols = M[:, q * nr:(q + 1) * nr]
        P[q, :, :cols.shape[1]] = cols
    return P


def _microkernel(mr, pn):
    """The intrinsic computing ``mr`` rows of ``pn`` consecutive panels of C:
    ``C[r, :pn NR] = sum_k A[r, k] P[k, :pn NR]`` for r < mr (A rows ``lda`` apart, C rows
    ``ldc`` apart, panels ``K NR`` values apart; all addresses). Few rows take several panels,
    so that enough independent sums are in flight to hide the multiply-add latency (one row
    of one panel: two chains of K dependent multiply-adds)."""
    @intrinsic
    def kernel(typingctx, a, lda, p, k_len, c, ldc, marker):
        sig = types.none(a, lda, p, k_len, c, ldc, marker)
        f32 = marker == types.float32

        def codegen(context, builder, signature, args):
            a, lda, p, k_len, c, ldc, _ = args
            fty = ir.FloatType() if f32 else ir.DoubleType()
            w = VECTOR_BYTES // (4 if f32 else 8)
            i32, i64 = ir.IntType(32), ir.IntType(64)
            vty = ir.VectorType(fty, w)
            fptr, vptr = fty.as_pointer(), vty.as_pointer()
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty] * 3),
                f"llvm.fma.v{w}f{32 if f32 else 64}")
            a, p, c = (builder.inttoptr(v, fptr) for v in (a, p, c))
            nv = 2 * pn                                         # vectors per row
            accs = [cgutils.alloca_once_value(builder, ir.Constant(vty, None))
                    for _ in range(mr * nv)]
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, w), [0] * w)
            rows = [builder.gep(a, [builder.mul(lda, ir.Constant(i64, r))]) for r in range(mr)]
            panels = [builder.gep(p, [builder.mul(k_len, ir.Constant(i64, q * 2 * w))])
                      for q in range(pn)]
            with cgutils.for_range(builder, k_len) as loop:
                k = loop.index
                vs = []
                for q in range(pn):
                    prow = builder.gep(panels[q], [builder.mul(k, ir.Constant(i64, 2 * w))])
                    for h in range(2):
                        ptr = builder.gep(prow, [ir.Constant(i64, h * w)])
                        vs.append(builder.load(builder.bitcast(ptr, vptr), align=4))
                for r in range(mr):
                    s = builder.load(builder.gep(rows[r], [k]))
                    bv = builder.shuffle_vector(
                        builder.insert_element(undef, s, ir.Constant(i32, 0)), undef, splat)
                    for j, v in enumerate(vs):
                        acc = accs[r * nv + j]
                        builder.store(builder.call(fma, [bv, v, builder.load(acc)]), acc)
            for r in range(mr):
                crow = builder.gep(c, [builder.mul(ldc, ir.Constant(i64, r))])
                for j in range(nv):
                    dst = builder.bitcast(builder.gep(crow, [ir.Constant(i64, j * w)]), vptr)
                    builder.store(builder.load(accs[r * nv + j]), dst, align=4)
            return context.get_dummy_value()
        return sig, codegen
    return kernel


_K1, _K2, _K3, _K4, _K5, _K6, _K7, _K8 = [_microkernel(m, 1) for m in range(1, 9)]
_K1x2, _K1x4, _K2x2, _K3x2 = (_microkernel(1, 2), _microkernel(1, 4), _microkernel(2, 2),
                              _microkernel(3, 2))
_jit = njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_inline = njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")


@_inline
def _rows(n, a, lda, p, k_len, c, ldc, marker):
    """``min(n, MR)`` rows of one panel."""
    if n >= MR:
        n = MR
    if n == 8:
        _K8(a, lda, p, k_len, c, ldc, marker)
    elif n == 7:
        _K7(a, lda, p, k_len, c, ldc, marker)
    elif n == 6:
        _K6(a, lda, p, k_len, c, ldc, marker)
    elif n == 5:
        _K5(a, lda, p, k_len, c, ldc, marker)
    elif n == 4:
        _K4(a, lda, p, k_len, c, ldc, marker)
    elif n == 3:
        _K3(a, lda, p, k_len, c, ldc, marker)
    elif n == 2:
        _K2(a, lda, p, k_len, c, ldc, marker)
    else:
        _K1(a, lda, p, k_len, c, ldc, marker)


@_inline
def _group(m, width, a0, lda, pq, k_len, cq, ldc, marker):
    """Rows ``m`` (1-3) of ``width`` (1, 2 or 4) consecutive panels."""
    if width == 4:
        _K1x4(a0, lda, pq, k_len, cq, ldc, marker)
    elif width == 2:
        if m == 1:
            _K1x2(a0, lda, pq, k_len, cq, ldc, marker)
        elif m == 2:
            _K2x2(a0, lda, pq, k_len, cq, ldc, marker)
        else:
            _K3x2(a0, lda, pq, k_len, cq, ldc, marker)
    else:
        _rows(m, a0, lda, pq, k_len, cq, ldc, marker)


@_jit
def _few(m, a0, lda, p0, n_panels, k_len, nr, size, c0, ldc, marker, reverse):
    """C = A P for 1-3 rows: several panels per microkernel call (4 for one row, 2 for two
    or three), the groups in reverse order when ``reverse``."""
    big = 4 if m == 1 else 2
    n_big = n_panels // big
    left = n_panels - n_big * big
    n_two = left // 2 if big == 4 else 0
    n_one = left - 2 * n_two
    total = n_big + n_two + n_one
    step = k_len * nr * size
    for s in range(total):
        g = total - 1 - s if reverse else s
        if g < n_big:
            q, width = g * big, big
        elif g < n_big + n_two:
            q, width = n_big * big + (g - n_big) * 2, 2
        else:
            q, width = n_big * big + n_two * 2 + (g - n_big - n_two), 1
        _group(m, width, a0, lda, p0 + q * step, k_len, c0 + q * nr * size, ldc, marker)


@_jit
def mm(A, m, P, C):
    """``C[:m, :panels NR] = A[:m] P``: ``A`` any C-contiguous array whose first ``m``
    rows of K = ``P.shape[1]`` values start at its first element; ``C`` likewise, rows
    ``C.shape[-1]`` apart (at least panels NR). Panel by panel, ``MR`` rows at a time, so that
    a panel stays in cache for all the rows; a last 1-3 rows take several panels at a time."""
    mm_order(A, m, P, C, False)


@_jit
def mm_order(A, m, P, C, reverse):
    """``mm``, its panels taken last first when ``reverse``. Each column's sum is the same
    either way (same bits); what changes is which panels are still in cache at the start of
    the next product with ``P``: a recurrent loop alternating the order every step starts
    each product on the panels the previous one ended with (a 64 x 256 float32 kernel is
    64 KB, twice this CPU class's L1 data cache: in one order every step streams all of it
    from L2)."""
    n_panels, k_len, nr = P.shape
    size = P.itemsize
    ldc = C.shape[-1]
    marker = P.dtype.type(0)
    a0, c0, p0 = A.ctypes.data, C.ctypes.data, P.ctypes.data
    rest = m % MR if m % MR < 4 else 0
    full = m - rest
    for s in range(n_panels):
        q = n_panels - 1 - s if reverse else s
        pq = p0 + q * k_len * nr * size
        i = 0
        while i < full:
            _rows(full - i, a0 + i * k_len * size, k_len, pq, k_len,
                  c0 + (i * ldc + q * nr) * size, ldc, marker)
            i += MR
    if rest:
        _few(rest, a0 + full * k_len * size, k_len, p0, n_panels, k_len, nr, size,
             c0 + full * ldc * size, ldc, marker, reverse)
